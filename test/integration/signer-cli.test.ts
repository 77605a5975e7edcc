import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Transaction, verifyMessage, verifyTypedData, Wallet } from "ethers";
import { tempDir } from "../helpers/runtime.js";
import { BIN, cliUser, runCli, startServer, type ServerProc } from "../helpers/proc.js";

// `clawkeep identity` and `clawkeep sign` against the real `clawkeep serve`, as a user would
// run them: the preview is shown before anything is signed, and without a terminal nothing is
// signed without --yes.

let dir: string;
let server: ServerProc;
let env: Record<string, string>;

beforeAll(async () => {
  dir = tempDir();
  server = await startServer(dir);
  env = await cliUser(server, "signer-user");
});
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const ok = async (args: string[]) => {
  const r = await runCli(args, { env });
  expect(r.code, r.stderr.toString()).toBe(0);
  return r;
};

describe("clawkeep identity and sign", () => {
  it("creates, lists and destroys identities", async () => {
    const evm = JSON.parse((await ok(["identity", "create", "--curve", "evm", "--label", "ops wallet", "--json"])).stdout.toString()) as { id: string; address: string; chain: string };
    expect(evm).toMatchObject({ chain: "evm", address: expect.stringMatching(/^0x[0-9a-fA-F]{40}$/) });
    const sol = JSON.parse((await ok(["identity", "create", "--curve", "solana", "--json"])).stdout.toString()) as { id: string };
    const ls = (await ok(["identity", "ls"])).stdout.toString();
    expect(ls).toContain(evm.id);
    expect(ls).toContain("ops wallet");
    const refused = await runCli(["identity", "rm", sol.id], { env });
    expect(refused.code).toBe(2);
    expect(refused.stderr.toString()).toMatch(/--yes/);
    await ok(["identity", "rm", sol.id, "--yes"]);
    expect((await ok(["identity", "ls"])).stdout.toString()).not.toContain(sol.id);
    const bad = await runCli(["identity", "create", "--curve", "rsa"], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr.toString()).toMatch(/secp256k1/);
  });

  it("sign shows the preview, refuses without --yes off a terminal, and signs a message, typed data and a transaction", async () => {
    const id = JSON.parse((await ok(["identity", "create", "--curve", "secp256k1", "--json"])).stdout.toString()) as { id: string; address: string };
    const noYes = await runCli(["sign", "--identity", id.id, "--message", "hello from the cli"], { env });
    expect(noYes.code).toBe(2);
    expect(noYes.stderr.toString()).toContain('"text": "hello from the cli"');
    expect(noYes.stdout.toString()).toBe("");

    const sig = (await ok(["sign", "--identity", id.id, "--message", "hello from the cli", "--yes"])).stdout.toString().trim();
    expect(verifyMessage("hello from the cli", sig)).toBe(id.address);

    const domain = { name: "Clawkeep test", version: "1", chainId: 10 };
    const types = { Order: [{ name: "amount", type: "uint256" }, { name: "to", type: "address" }] };
    const to = Wallet.createRandom().address;
    const td = path.join(dir, "order.json");
    writeFileSync(td, JSON.stringify({ types, primaryType: "Order", domain, message: { amount: "42", to } }));
    const tdSig = (await ok(["sign", "--identity", id.id, "--typed-data", td, "--yes"])).stdout.toString().trim();
    expect(verifyTypedData(domain, types, { amount: 42n, to }, tdSig)).toBe(id.address);

    const txFile = path.join(dir, "tx.hex");
    writeFileSync(txFile, Transaction.from({ type: 2, chainId: 1, to, value: 10n ** 18n, nonce: 0, gasLimit: 21000, maxFeePerGas: 10n ** 10n, maxPriorityFeePerGas: 10n ** 9n }).unsignedSerialized);
    const r = await ok(["sign", "--identity", id.id, "--tx", txFile, "--yes"]);
    expect(r.stderr.toString()).toContain('"value_eth": "1"');
    expect(Transaction.from(r.stdout.toString().trim()).from).toBe(id.address);

    const blind = await runCli(["sign", "--identity", id.id, "--digest", `0x${"ab".repeat(32)}`, "--yes"], { env });
    expect(blind.code).toBe(4);
    expect(blind.stderr.toString()).toMatch(/blind/);
    const two = await runCli(["sign", "--identity", id.id, "--message", "a", "--digest", "0x00"], { env });
    expect(two.code).toBe(2);
  });
});

describe("clawkeep login", () => {
  it("test mode: signs in at once and writes the session token to a 0600 file, never to stdout", async () => {
    const file = path.join(dir, "session", "token");
    const r = await runCli(["login", "--telegram-user-id", "4711", "--token-file", file], { env: { CLAWKEEP_ADDR: server.url } });
    expect(r.code, r.stderr.toString()).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const token = readFileSync(file, "utf8").trim();
    expect(token).toMatch(/^ck_/);
    expect(r.stdout.toString()).toContain("signed in as tg-4711");
    expect(r.stdout.toString() + r.stderr.toString()).not.toContain(token);
    const ls = await runCli(["identity", "ls", "--json"], { env: { CLAWKEEP_ADDR: server.url, CLAWKEEP_TOKEN_FILE: file } });
    expect(ls.code).toBe(0);
  });

  it("with a bot: prints the deep link, waits until the webhook resolves the challenge, then signs in", async () => {
    const botDir = tempDir();
    const secret = "s".repeat(48);
    const bot = await startServer(botDir, { TELEGRAM_BOT_TOKEN: "42:AAbbCCddEEffGGhhIIjjKKll", TELEGRAM_BOT_USERNAME: "ck_bot_test", TELEGRAM_WEBHOOK_SECRET: secret });
    try {
      const file = path.join(botDir, "tok");
      const p = spawn(process.execPath, [BIN, "login", "--token-file", file, "--poll-seconds", "1"], { env: { ...process.env, CLAWKEEP_ADDR: bot.url } });
      let err = "";
      let out = "";
      p.stderr.on("data", (d: Buffer) => (err += d.toString()));
      p.stdout.on("data", (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((resolve) => p.on("exit", resolve));
      for (let i = 0; i < 100 && !/start=chl_/.test(err); i++) await new Promise((r) => setTimeout(r, 100));
      const id = /start=(chl_[0-9a-f]{32})/.exec(err)![1]!;
      const update = { update_id: 9, message: { message_id: 1, date: 0, chat: { id: 8080, type: "private" }, from: { id: 8080, is_bot: false, first_name: "B" }, text: `/start ${id}` } };
      const hook = await fetch(`${bot.url}/telegram-webhook`, { method: "POST", headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": secret }, body: JSON.stringify(update) });
      expect(await hook.json()).toEqual({ ok: true, resolved: true });
      expect(await exited).toBe(0);
      expect(out).toContain("signed in as tg-8080");
      expect(statSync(file).mode & 0o777).toBe(0o600);
    } finally {
      await bot.stop();
      rmSync(botDir, { recursive: true, force: true });
    }
  });
});

describe("clawkeep identity policy, sign --dry-run, signer freeze and audit export", () => {
  it("sets a policy from a file, explains a denial with --dry-run, and freezes signing until a fresh login", async () => {
    const id = JSON.parse((await ok(["identity", "create", "--curve", "evm", "--json"])).stdout.toString()) as { id: string; address: string };
    const file = path.join(dir, "policy.json");
    writeFileSync(file, JSON.stringify({ allow_messages: false }));
    await ok(["identity", "policy", id.id, "--set", file]);
    expect(JSON.parse((await ok(["identity", "policy", id.id])).stdout.toString())).toEqual({ allow_messages: false });
    const dry = await runCli(["sign", "--identity", id.id, "--message", "hi", "--dry-run"], { env });
    expect(dry.code).toBe(4);
    expect(dry.stdout.toString()).toContain("denied by rule allow_messages");
    await ok(["identity", "policy", id.id, "--clear"]);
    expect((await ok(["sign", "--identity", id.id, "--message", "hi", "--dry-run"])).stdout.toString()).toMatch(/^allowed/);

    expect((await ok(["signer", "freeze"])).stdout.toString()).toContain("signing frozen for you");
    expect((await ok(["signer", "status"])).stdout.toString()).toMatch(/^user:usr_/);
    const frozen = await runCli(["sign", "--identity", id.id, "--message", "hi", "--yes"], { env });
    expect(frozen.code).toBe(4);
    expect(frozen.stderr.toString()).toContain("signer_frozen");
    // An API token is not a fresh login: this user has no Telegram account, so the freeze stays.
    const lift = await runCli(["signer", "unfreeze"], { env });
    expect(lift.code).toBe(4);
    expect(lift.stderr.toString()).toContain("fresh_login_required");
  });

  it("audit export --format ecs writes ECS JSON lines, resumes with --after; the default stays the API's own form", async () => {
    const all = (await ok(["audit", "export", "--format", "ecs"])).stdout.toString().trim().split("\n").map((l) => JSON.parse(l));
    expect(all.length).toBeGreaterThan(3);
    for (const e of all) {
      expect(e).toMatchObject({ ecs: { version: expect.any(String) }, event: { dataset: "clawkeep.audit", action: expect.any(String), sequence: expect.any(Number) }, clawkeep: { format: "clawkeep.audit.ecs/v1" } });
      expect(Date.parse(e["@timestamp"])).not.toBeNaN();
    }
    const seqs = all.map((e) => e.event.sequence as number);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(all.map((e) => e.event.action)).toEqual(expect.arrayContaining(["IdentityCreated", "SignerFrozen", "SignIntentRefused", "SignerUnfreezeRefused"]));
    const mid = seqs[Math.floor(seqs.length / 2)]!;
    const rest = await ok(["audit", "export", "--format", "ecs", "--after", String(mid)]);
    expect(rest.stdout.toString().trim().split("\n").map((l) => JSON.parse(l).event.sequence)).toEqual(seqs.filter((s) => s > mid));
    expect(rest.stderr.toString()).toContain(`--after ${seqs.at(-1)}`);
    const raw = JSON.parse((await ok(["audit", "export"])).stdout.toString().split("\n")[0]!);
    expect(raw).toMatchObject({ seq: seqs[0], hash: all[0].clawkeep.hash });
  });
});
