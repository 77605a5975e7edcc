import type { Command } from "commander";
import { CliError, EXIT, exitCodeFor } from "./exit.js";

// How a failed command reaches the user: one line, `clawkeep: <code>: <what is wrong and what to
// do>`, and an exit code from exit.ts. Scripts branch on the code and the exit status; people read
// the rest. No stack trace, no driver dump, no value from argv.

/** `clawkeep: code: message`, without repeating a code the message already starts with. */
export function line(code: string | undefined, message: string): string {
  const text = code && !message.startsWith(`${code}:`) ? `${code}: ${message}` : message;
  return `clawkeep: ${text}\n`;
}

/**
 * Commander's usage errors in the same shape, with a pointer to the command's help instead of
 * the whole help text (which buried the one line that mattered). An unknown `--opt=value` is
 * named without its value: what a newcomer types there is often the secret itself.
 */
export function configureUsageErrors(program: Command): void {
  const visit = (c: Command, path: string[]) => {
    c.showHelpAfterError(`(see \`${["clawkeep", ...path].join(" ")} --help\`)`);
    c.configureOutput({
      outputError: (str, write) => {
        const first = str.replace(/^error: /, "").replace(/unknown option '([^'=]*)=[^']*'/, "unknown option '$1=…' (its value is not shown)");
        write(first.startsWith("(") ? str : line("bad_request", first.trimEnd()));
      },
    });
    for (const sub of c.commands) visit(sub, [...path, sub.name()]);
  };
  visit(program, []);
}

/** Exit code and stderr line for anything a command threw. */
export async function report(e: unknown): Promise<number> {
  const err = e as { code?: string; exitCode?: number; message?: string; name?: string; cause?: unknown };
  if (typeof err.code === "string" && err.code.startsWith("commander.")) {
    // Help and version exit 0; any other commander error is a usage error (already printed).
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (e instanceof CliError) {
    process.stderr.write(line(e.code, e.message));
    return e.exitCode;
  }
  const { describeStorageError } = await import("../store/meta/errors.js");
  const known = err.name === "ClawkeepError" ? e : describeStorageError(e);
  if (known) {
    const ce = known as { code: string; message: string };
    process.stderr.write(line(ce.code, ce.message));
    return exitCodeFor(ce.code);
  }
  process.stderr.write(line("internal", `${err.message ?? String(e)} (an unexpected error; please report it)`));
  return EXIT.error;
}
