// Small helpers shared by the benchmarks that drive a real server over HTTP.

export async function call(base: string, token: string, method: string, p: string, body?: Buffer | object): Promise<unknown> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (Buffer.isBuffer(body)) headers["content-type"] = "application/octet-stream";
  else if (body) headers["content-type"] = "application/json";
  const payload = Buffer.isBuffer(body) ? new Uint8Array(body) : body ? JSON.stringify(body) : undefined;
  const res = await fetch(new URL(p, base), { method, headers, body: payload });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: HTTP ${res.status}: ${text}`);
  return JSON.parse(text) as unknown;
}

// The server logs JSON lines (pino); an unexpected answer shows up as an error line there.
export function serverErrors(output: string): string {
  const seen = new Map<string, number>();
  for (const line of output.split("\n")) {
    let msg = line.trim();
    if (!msg) continue;
    try {
      const j = JSON.parse(msg) as { msg?: string; code?: string; err?: { type?: string; message?: string } };
      msg = [j.msg, j.code, j.err?.type, j.err?.message].filter(Boolean).join(": ");
    } catch {
      // not a JSON log line: keep it as it is
    }
    seen.set(msg, (seen.get(msg) ?? 0) + 1);
  }
  return [...seen].map(([m, n]) => `${n}× \`${m.slice(0, 200)}\``).join("; ");
}
