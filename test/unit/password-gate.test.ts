import { describe, expect, it } from "vitest";
import { createGate } from "../../src/vault/credential-password.js";

// Argon2id costs 64 MiB per derivation: the gate in front of it keeps at most `concurrency`
// running per node and a bounded number waiting, so a burst of password requests cannot
// exhaust memory (it queues, then is turned away with `unavailable`).

describe("password-derivation gate", () => {
  it("never runs more than `concurrency` at once, and runs every queued task", async () => {
    const run = createGate(2, 100);
    let active = 0;
    let peak = 0;
    const task = async (i: number) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 5));
      active--;
      return i;
    };
    const results = await Promise.all(Array.from({ length: 25 }, (_, i) => run(() => task(i))));
    expect(results).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(peak).toBe(2);
  });

  it("a task that fails frees its slot", async () => {
    const run = createGate(1, 10);
    await expect(run(async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await run(async () => "next")).toBe("next");
  });

  it("beyond the queue bound, requests are refused with `unavailable` instead of piling up", async () => {
    const run = createGate(1, 2);
    let release!: () => void;
    const blocker = new Promise<void>((r) => (release = r));
    const held = [run(() => blocker), run(async () => 1), run(async () => 2)];
    await expect(run(async () => 3)).rejects.toMatchObject({ code: "unavailable" });
    release();
    await Promise.all(held);
  });
});
