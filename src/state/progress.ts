// Transfer feedback: a cli-progress bar (bytes, files, rate, ETA) when stderr is a terminal,
// one plain line per transferred file otherwise, nothing with --json (the summary is the output).
import type { SingleBar } from "cli-progress";

export type ProgressMode = "bar" | "lines" | "quiet";

export interface Progress {
  start(files: number, bytes: number): Promise<void>;
  /** Bytes moved for the current transfers (called often). */
  bytes(n: number): void;
  file(action: string, path: string, size: number): void;
  stop(): void;
}

export function progressMode(json: boolean | undefined): ProgressMode {
  if (json) return "quiet";
  return process.stderr.isTTY ? "bar" : "lines";
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;

export function createProgress(mode: ProgressMode, out: NodeJS.WritableStream = process.stderr): Progress {
  let bar: SingleBar | undefined;
  let files = 0;
  let totalFiles = 0;
  let done = 0;
  return {
    async start(nFiles, nBytes) {
      totalFiles = nFiles;
      if (mode !== "bar" || nFiles === 0) return;
      const { default: cli } = await import("cli-progress");
      bar = new cli.SingleBar(
        {
          stream: out,
          format: "{bar} {percentage}% | {done}/{size} | files {files}/{totalFiles} | {speed} | ETA {eta_formatted}",
          hideCursor: true,
          etaBuffer: 50,
        },
        cli.Presets.shades_classic,
      );
      bar.start(Math.max(nBytes, 1), 0, { files: 0, totalFiles, done: mib(0), size: mib(nBytes), speed: "-" });
    },
    bytes(n) {
      done += n;
      if (bar) {
        const elapsed = (Date.now() - (bar as unknown as { startTime: number }).startTime) / 1000;
        bar.update(done, { done: mib(done), files, speed: elapsed > 0 ? `${mib(done / elapsed)}/s` : "-" });
      }
    },
    file(action, p, size) {
      files++;
      if (bar) bar.update(done, { files });
      else if (mode === "lines") out.write(`${action} ${p} (${size} bytes)\n`);
    },
    stop() {
      bar?.stop();
    },
  };
}

/** Run `fn` over `items` with at most `n` in flight; the first failure stops new work. */
export async function runPool<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: { e: unknown } | undefined;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (e) {
        failed ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(n, items.length)) }, worker));
  if (failed) throw failed.e;
}
