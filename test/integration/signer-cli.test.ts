import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Transaction, verifyMessage, verifyTypedData, Wallet } from "ethers";
import { tempDir } from "../helpers/runtime.js";
import { cliUser, runCli, startServer, type ServerProc } from "../helpers/proc.js";

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
