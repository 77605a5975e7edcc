import http from "node:http";
import type { AddressInfo } from "node:net";

// A stand-in for the LLM vendor, which is outside Clawkeep: a small OpenAI-compatible Chat
// Completions server (streaming and not) on a free loopback port. Its replies are deterministic
// (see decide): they show how much of the conversation the gateway still holds. Requests are
// recorded, Authorization header included, so a test can see which provider key reached it.

export interface ModelRequest {
  authorization: string | undefined;
  body: { model?: string; stream?: boolean; messages?: { role: string; content: unknown }[] };
}

export interface ModelServer {
  /** The provider's baseUrl (…/v1). */
  baseUrl: string;
  requests: ModelRequest[];
  stop: () => Promise<void>;
}

/** Text of a message's content, whether a string or a list of parts. */
export function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p: { text?: string }) => (typeof p?.text === "string" ? p.text : "")).join("");
  return "";
}

/** The MSG-… markers the tests send, in the order the user messages hold them (unique). */
export function markers(body: ModelRequest["body"]): string[] {
  const all = (body.messages ?? []).filter((m) => m.role === "user").flatMap((m) => textOf(m.content).match(/MSG-[A-Za-z0-9-]+/g) ?? []);
  return [...new Set(all)];
}

/**
 * What the model does with a request: after a tool result, confirm it; when the newest user
 * message says `REMEMBER: WORD`, call the gateway's `write` tool to put WORD into MEMORY.md
 * (OpenClaw's long-term memory file); otherwise echo the newest marker, every marker the
 * conversation holds and every MEM-… marker of the memory the gateway loaded. The gateway adds its own context messages around the user's, so the
 * reply is built from markers rather than from message positions.
 */
export function decide(body: ModelRequest["body"]): { text: string } | { tool: string; args: Record<string, string> } {
  const msgs = body.messages ?? [];
  const seen = markers(body);
  let at = -1;
  msgs.forEach((m, i) => (m.role === "user" && /MSG-/.test(textOf(m.content)) ? (at = i) : undefined));
  // The gateway may add its own messages after a tool result: any result after the newest
  // user message ends the turn.
  if (msgs.slice(at + 1).some((m) => m.role === "tool")) return { text: `SAVED | seen: ${seen.join(",")}` };
  const said = at >= 0 ? textOf(msgs[at]!.content) : "";
  const remember = /REMEMBER: ([A-Za-z0-9-]+)/.exec(said);
  if (remember) return { tool: "write", args: { path: "MEMORY.md", content: `# Memory\n\n- ${remember[1]}\n` } };
  const current = said.match(/MSG-[A-Za-z0-9-]+/g)?.at(-1) ?? "";
  // MEMORY.md reaches the model inside the gateway's system prompt at the start of a session.
  const mem = [...new Set(msgs.filter((m) => m.role === "system").flatMap((m) => textOf(m.content).match(/MEM-[A-Za-z0-9-]+/g) ?? []))];
  return { text: `ECHO: ${current} | seen: ${seen.join(",")} | memory: ${mem.join(",") || "none"}` };
}

export async function startModelServer(): Promise<ModelServer> {
  const requests: ModelRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = req.url ?? "";
      if (req.method === "GET" && url.endsWith("/models")) {
        res.writeHead(200, { "content-type": "application/json" });
        return res.end(JSON.stringify({ object: "list", data: [{ id: "echo-1", object: "model", owned_by: "test" }] }));
      }
      if (req.method !== "POST" || !url.endsWith("/chat/completions")) {
        res.writeHead(404, { "content-type": "application/json" });
        return res.end(JSON.stringify({ error: { message: `no route ${req.method} ${url}` } }));
      }
      let body: ModelRequest["body"];
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as ModelRequest["body"];
      } catch {
        res.writeHead(400);
        return res.end();
      }
      requests.push({ authorization: req.headers.authorization, body });
      const d = decide(body);
      const text = "text" in d ? d.text : "";
      const call = "tool" in d ? { id: `call_${requests.length}`, type: "function", function: { name: d.tool, arguments: JSON.stringify(d.args) } } : undefined;
      const finish = call ? "tool_calls" : "stop";
      const id = `chatcmpl-${requests.length}`;
      const created = Math.floor(Date.now() / 1000);
      const model = body.model ?? "echo-1";
      const usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };
      if (!body.stream) {
        res.writeHead(200, { "content-type": "application/json" });
        return res.end(JSON.stringify({ id, object: "chat.completion", created, model, choices: [{ index: 0, message: { role: "assistant", content: call ? null : text, ...(call ? { tool_calls: [call] } : {}) }, finish_reason: finish }], usage }));
      }
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      const chunk = (delta: object, finish: string | null, extra: object = {}) =>
        res.write(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`);
      chunk({ role: "assistant", content: "" }, null);
      if (call) chunk({ tool_calls: [{ index: 0, ...call }] }, null);
      else chunk({ content: text }, null);
      chunk({}, finish, { usage });
      res.end("data: [DONE]\n\n");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
