import { afterEach, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { bearer, createUser, startTestEnv, type TestEnv } from "../helpers/runtime.js";

// Who may read /metrics: by default an admin's token (as Vault keeps sys/metrics behind a
// token), a configured scrape token, or anyone when the operator says so. A user token, a
// wrong scrape token or none at all is refused, and a refusal never shows a metric.

const SCRAPE = randomBytes(32).toString("base64url");
let env: TestEnv | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

const scrape = (e: TestEnv, headers: Record<string, string> = {}) => e.app.inject({ method: "GET", url: "/metrics", headers });

describe("metrics access", () => {
  it("by default: an admin token reads them; a user token is forbidden; no token or a made-up one is unauthorized", async () => {
    env = await startTestEnv();
    const alice = await createUser(env, "alice");
    const admin = await scrape(env, bearer(env.adminToken));
    expect(admin.statusCode).toBe(200);
    expect(admin.body).toContain("clawkeep_http_requests_total");
    for (const [headers, status, code] of [
      [bearer(alice), 403, "forbidden"],
      [{}, 401, "unauthorized"],
      [bearer(SCRAPE), 401, "unauthorized"],
    ] as const) {
      const r = await scrape(env, headers);
      expect(r.statusCode).toBe(status);
      expect(r.json().error.code).toBe(code);
      expect(r.body).not.toContain("clawkeep_");
    }
  });

  it("with CLAWKEEP_METRICS_TOKEN: that token reads them, a near miss does not", async () => {
    env = await startTestEnv({ CLAWKEEP_METRICS_TOKEN: SCRAPE });
    expect((await scrape(env, bearer(SCRAPE))).statusCode).toBe(200);
    expect((await scrape(env, bearer(`${SCRAPE.slice(0, -1)}${SCRAPE.endsWith("A") ? "B" : "A"}`))).statusCode).toBe(401);
    expect((await scrape(env, bearer(SCRAPE.slice(0, -1)))).statusCode).toBe(401);
    expect((await scrape(env, bearer(env.adminToken))).statusCode).toBe(200);
  });

  it("a scrape token shorter than 32 characters is refused at start-up, without echoing it", async () => {
    await expect(startTestEnv({ CLAWKEEP_METRICS_TOKEN: "short-token-value" })).rejects.toMatchObject({
      code: "config_invalid",
      message: expect.not.stringContaining("short-token-value"),
    });
  });

  it("with CLAWKEEP_METRICS_PUBLIC=true: no token needed", async () => {
    env = await startTestEnv({ CLAWKEEP_METRICS_PUBLIC: "true" });
    expect((await scrape(env)).statusCode).toBe(200);
  });
});
