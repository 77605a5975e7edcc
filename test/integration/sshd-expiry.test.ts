import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { reconcileAuthorizedKeys } from "../../src/agents/ssh-keys.js";
import { prepareSpool } from "../../src/cli/support-spool.js";
import { tempDir } from "../helpers/runtime.js";
import { skipSshd as skip, startSshd, type Sshd } from "../helpers/sshd.js";

// Support access promises that a granted key stops working at expiry even if reconcile never runs
// again: the promise rests on OpenSSH honouring the `expiry-time` option Clawkeep writes. This
// test asks a real sshd: the same file, written by reconcile, lets the key in before its
// expiry-time and keeps it out after, with no further reconcile in between.

if (skip) console.warn("[clawkeep tests] no sshd/ssh: sshd expiry test skipped (apt-get install openssh-server openssh-client; mandatory with CI=true)");

let dir: string;
let sshd: Sshd;

beforeAll(async () => {
  if (skip) return;
  dir = tempDir();
  sshd = await startSshd(dir);
}, 30_000);

afterAll(() => {
  sshd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(skip)("support access against a real sshd", () => {
  it("a reconciled key logs in before its expiry-time and is refused after it, with no reconcile in between", () => {
    const login = (priv: string) => sshd.ssh(priv, [], ["true"]).status;
    const current = sshd.keypair("current");
    const lapsed = sshd.keypair("lapsed");
    const now = Date.now();
    const owner = sshd.keypair("owner");
    const spool = prepareSpool(path.join(dir, "spool"));
    // Reconcile at a moment when both grants were live: the one that has lapsed since was written
    // then, exactly as an agent that has not reconciled again would still have it.
    const earlier = new Date(now - 10 * 60_000);
    const grants = [
      { id: "grt_00000000000000000001", publicKey: current.pub, expiresAt: new Date(now + 60 * 60_000).toISOString() },
      { id: "grt_00000000000000000002", publicKey: lapsed.pub, expiresAt: new Date(now - 2 * 60_000).toISOString() },
    ];
    const { text, added } = reconcileAuthorizedKeys(`# owner's key\n${owner.pub} owner\n`, grants, spool.wrapper, earlier);
    expect(added).toHaveLength(2);
    writeFileSync(sshd.keysFile, text, { mode: 0o600 });

    expect(login(owner.priv), sshd.log()).toBe(0); // lines Clawkeep does not own keep working
    expect(login(current.priv), sshd.log()).toBe(0);
    expect(login(lapsed.priv)).toBe(255); // sshd itself enforces expiry-time
    expect(sshd.log()).toMatch(/Refused by key options/); // the refusal is the expiry-time option, not a missing key
  }, 60_000);
});
