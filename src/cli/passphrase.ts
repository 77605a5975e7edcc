import { closeSync, openSync, readFileSync, statSync } from "node:fs";
import tty from "node:tty";
import { CliError, EXIT } from "./exit.js";

// Passphrases come from a file (scripts) or from the terminal with echo off — never from argv
// or an ordinary environment variable a child process would inherit. The prompt talks to
// /dev/tty directly, so stdin stays free to carry the value being stored.

/** Reads a secret file, refusing one that others can read; drops one trailing newline. */
export function readSecretFile(file: string, what: string): string {
  let text: string;
  try {
    if ((statSync(file).mode & 0o077) !== 0) throw new CliError(`${what}: the file must not be readable by group or others (chmod 600)`, EXIT.config, "config_invalid");
    text = readFileSync(file, "utf8");
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`${what}: cannot read the file it names`, EXIT.config, "config_invalid");
  }
  const v = text.replace(/\r?\n$/, "");
  if (!v) throw new CliError(`${what}: the file is empty`, EXIT.config, "config_invalid");
  return v;
}

function promptOnce(label: string, fileFlag: string): Promise<string> {
  let fd: number;
  try {
    fd = openSync("/dev/tty", "r+");
  } catch {
    throw new CliError(`no terminal to prompt on; use ${fileFlag}`, EXIT.usage, "bad_request");
  }
  const input = new tty.ReadStream(fd);
  const output = new tty.WriteStream(fd);
  output.write(label);
  input.setRawMode(true);
  return new Promise<string>((resolve, reject) => {
    let buf = "";
    const done = (err?: CliError) => {
      input.setRawMode(false);
      input.removeAllListeners("data");
      output.write("\n");
      input.destroy();
      try {
        closeSync(fd);
      } catch {
        // already closed with the stream
      }
      if (err) reject(err);
      else resolve(buf);
    };
    input.on("data", (d: Buffer) => {
      for (const ch of d.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return done();
        if (ch === "\u0003" || ch === "\u0004") return done(new CliError("cancelled", EXIT.usage, "bad_request"));
        if (ch === "\u007f" || ch === "\b") buf = [...buf].slice(0, -1).join("");
        else buf += ch;
      }
    });
  });
}

/** A secret from `--<flag> FILE`, or prompted twice (when `confirm`) without echo. */
async function readSecret(file: string | undefined, flag: string, noun: string, label: string, confirm: boolean): Promise<string> {
  if (file) return readSecretFile(file, flag);
  const first = await promptOnce(`${label}: `, flag);
  if (!first) throw new CliError(`the ${noun} is empty`, EXIT.usage, "bad_request");
  if (confirm && (await promptOnce(`Repeat the ${noun}: `, flag)) !== first) throw new CliError(`the ${noun}s differ`, EXIT.usage, "bad_request");
  return first;
}

export const readPassphrase = (o: { passphraseFile?: string; confirm: boolean }) => readSecret(o.passphraseFile, "--passphrase-file", "passphrase", "E2EE passphrase", o.confirm);

/** The credential password (password-derived mode): from --password-file, or prompted without echo. */
export const readPassword = (o: { passwordFile?: string; confirm: boolean }) => readSecret(o.passwordFile, "--password-file", "password", "Credential password", o.confirm);

/** The request header that carries the credential password (base64 of its UTF-8 bytes). */
export const passwordHeader = (password: string): Record<string, string> => ({ "x-clawkeep-credential-password": Buffer.from(password, "utf8").toString("base64") });
