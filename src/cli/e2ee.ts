import { openE2ee, sealE2ee, serializeE2ee } from "../crypto/e2ee/index.js";
import { CliError, EXIT } from "./exit.js";
import { readPassphrase } from "./passphrase.js";

// E2EE values in the CLI: sealed here before upload, bound to AGENT/NAME (so the server cannot
// move them to another name), and opened here after download. The server sees the envelope only.

type Ref = { agent: string; name: string };

export async function sealValue(ref: Ref, value: Uint8Array, o: { passphraseFile?: string }): Promise<Buffer> {
  const pass = await readPassphrase({ passphraseFile: o.passphraseFile, confirm: true });
  return Buffer.from(serializeE2ee(await sealE2ee(pass, value, { context: `${ref.agent}/${ref.name}` })), "utf8");
}

export async function openValue(ref: Ref, stored: Buffer, o: { passphraseFile?: string }): Promise<Uint8Array> {
  const pass = await readPassphrase({ passphraseFile: o.passphraseFile, confirm: false });
  try {
    return await openE2ee(pass, stored.toString("utf8"), { context: `${ref.agent}/${ref.name}` });
  } catch {
    throw new CliError("the value does not open with this passphrase (or is not an E2EE value)", EXIT.integrity, "integrity_error");
  }
}
