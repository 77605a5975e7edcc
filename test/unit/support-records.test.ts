import { describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { commandText, isRecord, MAX_COMMAND_BYTES, parseRecord } from "../../src/agents/support-records.js";
import { wrapperScript } from "../../src/agents/support-wrapper.js";
import { readSpool } from "../../src/cli/support-spool.js";
import { tempDir } from "../helpers/runtime.js";

// Support-session records v1 against the vector in docs/formats.md §24 (test/vectors/support/),
// and the wrapper that writes them, run directly with sh as sshd would run it: the command is
// recorded byte for byte, run once by the login shell, and never run when it cannot be recorded.

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const V = JSON.parse(readFileSync(new URL("../vectors/support/support-records.json", import.meta.url), "utf8")) as Any;
const GRANT = "grt_0123456789abcdef0123";

function setup() {
  const dir = tempDir("ck-wrapper-");
  const records = path.join(dir, "records");
  mkdirSync(records, { mode: 0o700 });
  const wrapper = path.join(dir, "wrapper");
  writeFileSync(wrapper, wrapperScript(records), { mode: 0o700 });
  const files = () => readdirSync(records).filter((f) => f.endsWith(".json")).sort();
  const read = (f: string) => JSON.parse(readFileSync(path.join(records, f), "utf8")) as Any;
  const run = (command: string | undefined, extra: Record<string, string> = {}) =>
    spawnSync(wrapper, [GRANT], { env: { PATH: process.env.PATH, SHELL: "/bin/sh", SSH_CONNECTION: V.ssh_connection, ...(command === undefined ? {} : { SSH_ORIGINAL_COMMAND: command }), ...extra } });
  return { dir, records, wrapper, files, read, run, done: () => rmSync(dir, { recursive: true, force: true }) };
}

describe("support-session records v1 (vector)", () => {
  it("every spool file of the vector parses, is the request's record, and its file name is <time>-<id>.json", () => {
    const parsed = Object.entries(V.spool_files as Record<string, string>).map(([name, text]) => {
      expect(text.endsWith("\n") && !text.slice(0, -1).includes("\n")).toBe(true);
      const r = parseRecord(JSON.parse(text));
      expect(isRecord(r), name).toBe(true);
      expect(name).toBe(`${(r as Any).time}-${(r as Any).id}.json`);
      return r;
    });
    expect(parsed).toEqual(V.request.records);
    expect(commandText(V.request.records[0].cmd)).toEqual({ command: V.command });
  });

  it.each((V.invalid as { why: string; record: unknown }[]).map((c) => [c.why, c.record] as const))("refuses a record: %s", (_why, record) => {
    expect(isRecord(parseRecord(record))).toBe(false);
  });

  it("the wrapper writes the vector's command record (up to id and time) and an end record, and runs the command once", () => {
    const w = setup();
    try {
      const r = w.run(V.command);
      expect(r.status, r.stderr.toString()).toBe(0);
      expect(r.stdout.toString()).toBe(`it's\n${process.getuid!()}\ncafé\n`);
      const [a, b] = w.files().map(w.read).sort((x, y) => (x.kind === "command" ? -1 : y.kind === "command" ? 1 : 0));
      const want = V.request.records[0];
      expect({ ...a, id: want.id, time: want.time }).toEqual(want);
      expect(Object.keys(a!)).toEqual(Object.keys(want)); // field order as documented
      expect(b).toMatchObject({ kind: "session_end", ref: a!.id, status: 0 });
      for (const f of w.files()) expect(readFileSync(path.join(w.records, f), "utf8")).toMatch(/^\{[^\n]*\}\n$/);
      // A session without a command is a login shell; its start says whether there was a tty.
      const s = w.run(undefined, {});
      expect(s.status).toBe(0);
      expect(w.files().map(w.read).filter((x) => x.kind === "session_start")).toMatchObject([{ tty: false, from: "192.0.2.10" }]);
    } finally {
      w.done();
    }
  });

  it("exit status, a hostile SSH_CONNECTION, a bad grant argument", () => {
    const w = setup();
    try {
      expect(w.run("exit 7").status).toBe(7);
      expect(w.files().map(w.read).find((x) => x.kind === "session_end")?.status).toBe(7);
      rmSync(w.records, { recursive: true });
      mkdirSync(w.records, { mode: 0o700 });
      w.run("true", { SSH_CONNECTION: '1.2.3.4","x":"y 1 2 3' });
      expect(w.files().map(w.read).find((x) => x.kind === "command")?.from).toBe("");
      const bad = spawnSync(w.wrapper, ["grt_$(id)"], { env: { PATH: process.env.PATH, SSH_ORIGINAL_COMMAND: "true" } });
      expect(bad.status).toBe(126);
    } finally {
      w.done();
    }
  });

  it("fails closed: when the record cannot be written, the command is not run", () => {
    const w = setup();
    try {
      const marker = path.join(w.dir, "ran");
      chmodSync(w.records, 0o500);
      if (process.getuid?.() === 0) rmSync(w.records, { recursive: true }); // root writes anywhere: take the folder away instead
      const r = w.run(`touch ${marker}`);
      expect(r.status).toBe(126);
      expect(r.stderr.toString()).toMatch(/cannot be recorded/);
      expect(existsSync(marker)).toBe(false);
    } finally {
      w.done();
    }
  });

  it("a command over 64 KiB is recorded (cut, flagged) but not run", () => {
    const w = setup();
    try {
      const marker = path.join(w.dir, "ran");
      const long = `touch ${marker} #${"x".repeat(MAX_COMMAND_BYTES)}`;
      const r = w.run(long);
      expect(r.status).toBe(126);
      expect(existsSync(marker)).toBe(false);
      const c = w.files().map(w.read).find((x) => x.kind === "command")!;
      expect(c.trunc).toBe(true);
      expect(isRecord(parseRecord(c))).toBe(true);
      expect(Buffer.from(c.cmd, "hex").toString()).toBe(long.slice(0, MAX_COMMAND_BYTES));
    } finally {
      w.done();
    }
  });

  it("concurrent sessions never interleave: 16 at once give 32 whole records, read back in order", async () => {
    const w = setup();
    try {
      await Promise.all(
        Array.from({ length: 16 }, (_, i) => new Promise((resolve) => spawn(w.wrapper, [GRANT], { env: { PATH: process.env.PATH, SHELL: "/bin/sh", SSH_ORIGINAL_COMMAND: `echo ${i}` }, stdio: "ignore" }).on("exit", resolve))),
      );
      const { pending, rejected } = readSpool({ dir: w.dir, wrapper: w.wrapper, records: w.records, rejected: path.join(w.dir, "rejected") });
      expect(rejected).toBe(0);
      expect(pending).toHaveLength(32);
      // Each end comes after its own command.
      const at = new Map(pending.map((p, i) => [p.record.id, i]));
      for (const p of pending) if (p.record.kind === "session_end") expect(at.get(p.record.ref)!).toBeLessThan(at.get(p.record.id)!);
    } finally {
      w.done();
    }
  });
});
