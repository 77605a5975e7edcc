import { inspect } from "node:util";

// A box for secret values: printing, logging or JSON-serialising it shows `[redacted]`, so a
// secret that reaches a log call by mistake does not reach the log. Read it with `.unwrap()`.
export class Redacted<T> {
  readonly #value: T;

  constructor(value: T) {
    this.#value = value;
  }

  unwrap(): T {
    return this.#value;
  }

  toString(): string {
    return "[redacted]";
  }

  toJSON(): string {
    return "[redacted]";
  }

  [inspect.custom](): string {
    return "[redacted]";
  }
}

export const redact = <T>(value: T): Redacted<T> => new Redacted(value);
