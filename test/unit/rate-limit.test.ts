import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { migrateToLatest, openSqlite, type MetaStore } from "../../src/store/meta/index.js";
import { createRateLimiter } from "../../src/signer/rate-limit.js";

// The signer's fixed-window counters (formats §21) on a real SQLite meta store, with the clock
// set by hand: nodes share the counters, and their clocks never agree exactly.

const code = (p: Promise<unknown>) => p.then(() => "ok", (e: { code?: string }) => e.code);
const WINDOW = 60_000;
const T0 = Date.UTC(2026, 11, 7, 12, 0, 0);

describe("rate limiter", () => {
  let store: MetaStore;
  beforeEach(async () => {
    store = openSqlite(":memory:");
    await migrateToLatest(store);
    vi.useFakeTimers({ toFake: ["Date"] });
  });
  afterEach(async () => {
    vi.useRealTimers();
    await store.close();
  });

  it("counts to the limit in a window, refuses with retry_after, and starts again in the next window", async () => {
    const rl = createRateLimiter(store.db, WINDOW);
    vi.setSystemTime(T0 + 15_000);
    for (let i = 0; i < 3; i++) expect(await code(rl.hit("user:u1", 3))).toBe("ok");
    const over = await rl.hit("user:u1", 3).catch((e: { code: string; details: { retry_after_seconds: number } }) => e);
    expect(over).toMatchObject({ code: "rate_limited", details: { retry_after_seconds: 45 } });
    expect(await code(rl.hit("user:u2", 3))).toBe("ok");
    vi.setSystemTime(T0 + WINDOW);
    expect(await code(rl.hit("user:u1", 3))).toBe("ok");
  });

  it("a node whose clock lags never moves a window back (which would reset the count)", async () => {
    const rl = createRateLimiter(store.db, WINDOW);
    vi.setSystemTime(T0 + WINDOW + 1_000); // a node already in the next window
    for (let i = 0; i < 2; i++) await rl.hit("user:u1", 2);
    vi.setSystemTime(T0 + WINDOW - 500); // a node half a second behind, still in the old window
    expect(await code(rl.hit("user:u1", 2))).toBe("rate_limited");
    vi.setSystemTime(T0 + WINDOW + 2_000);
    expect(await code(rl.hit("user:u1", 2))).toBe("rate_limited");
  });

  it("hitAll counts every key in one statement and refuses on whichever is over", async () => {
    const rl = createRateLimiter(store.db, WINDOW);
    vi.setSystemTime(T0);
    const both = [
      { key: "user:u1", limit: 5 },
      { key: "sign:u1:idn_a", limit: 2 },
    ];
    expect(await code(rl.hitAll(both))).toBe("ok");
    expect(await code(rl.hitAll(both))).toBe("ok");
    expect(await code(rl.hitAll(both))).toBe("rate_limited");
    // Both counters moved on the refused call too.
    const rows = await store.db.selectFrom("rate_limits").select(["key", "hits"]).orderBy("key").execute();
    expect(rows.map((r) => [r.key, Number(r.hits)])).toEqual([["sign:u1:idn_a", 3], ["user:u1", 3]]);
  });
});
