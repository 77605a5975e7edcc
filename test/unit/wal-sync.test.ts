import { describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createWalSync } from "../../src/store/meta/wal-sync.js";

describe("WAL sync coalescing", () => {
  it("a caller never shares a sync that started before its call; concurrent callers share one", async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "ck-wal-")), "x-wal");
    writeFileSync(file, "x");
    const sync = createWalSync(file);
    const first = sync(); // starts now
    const a = sync(); // must wait for a fresh sync after `first`
    const b = sync(); // shares a's
    expect(a).not.toBe(first);
    expect(b).toBe(a);
    await Promise.all([first, a, b]);
    const c = sync(); // nothing in flight: starts its own
    expect(c).not.toBe(a);
    await c;
  });

  it("reports a failed sync to its callers", async () => {
    const sync = createWalSync("/nonexistent/dir/x-wal");
    await expect(sync()).rejects.toThrow();
  });

  it("close() releases the WAL descriptor (no leak per closed store)", async () => {
    const { readdirSync } = await import("node:fs");
    const fds = () => readdirSync("/proc/self/fd").length;
    const file = path.join(mkdtempSync(path.join(tmpdir(), "ck-wal-")), "y-wal");
    writeFileSync(file, "y");
    const before = fds();
    const sync = createWalSync(file);
    await sync();
    expect(fds()).toBe(before + 1);
    await sync.close();
    expect(fds()).toBe(before);
  });
});
