// rclone's `filename_encryption = obfuscate` mode (reference §3.5): a keyed character rotation,
// not encryption. It exists so we can read and write remotes configured that way; it hides
// nothing from anyone who sees a few names. Works on code points, like rclone works on runes.
import { RcloneCryptError } from "./errors.js";

const ZERO = 0x30;
const UPPER_A = 0x41;
const LOWER_A = 0x61;

function keySum(nameKey: Uint8Array): number {
  let s = 0;
  for (const b of nameKey) s += b;
  return s;
}

function isDigit(cp: number): boolean {
  return cp >= ZERO && cp <= ZERO + 9;
}

// Letters live on one 52-step ring: A–Z then a–z.
function letterIndex(cp: number): number | undefined {
  if (cp >= UPPER_A && cp < UPPER_A + 26) return cp - UPPER_A;
  if (cp >= LOWER_A && cp < LOWER_A + 26) return cp - LOWER_A + 26;
  return undefined;
}

function letterAt(i: number): number {
  return i < 26 ? UPPER_A + i : LOWER_A + i - 26;
}

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

/** Rotate one code point forward (sign = 1) or back (sign = -1); undefined = copy unchanged. */
function rotate(cp: number, dir: number, sign: 1 | -1): number | undefined {
  if (isDigit(cp)) return ZERO + mod(cp - ZERO + sign * ((dir % 9) + 1), 10);
  const li = letterIndex(cp);
  if (li !== undefined) return letterAt(mod(li + sign * ((dir % 25) + 1), 52));
  if (cp >= 0xa0 && cp <= 0xff) return 0xa0 + mod(cp - 0xa0 + sign * ((dir % 95) + 1), 96);
  if (cp >= 0x100) {
    const base = cp - (cp % 256);
    return base + mod(cp - base + sign * ((dir % 127) + 1), 256);
  }
  return undefined;
}

// Surrogates cannot be encoded in UTF-8, so rclone would not produce them as runes.
function isValidScalar(cp: number): boolean {
  return cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
}

const LONE_SURROGATE = /\p{Cs}/u;

export function obfuscateSegment(segment: string, nameKey: Uint8Array): string {
  if (segment === "") return "";
  if (LONE_SURROGATE.test(segment)) {
    // rclone's escape hatch for non-UTF-8 names: mark and keep them verbatim.
    return "!." + segment;
  }
  const cps = Array.from(segment, (c) => c.codePointAt(0) as number);
  const shown = cps.reduce((a, b) => a + b, 0) % 256;
  const dir = shown + keySum(nameKey);
  let out = `${shown}.`;
  for (const cp of cps) {
    if (cp === 0x21) {
      out += "!!";
      continue;
    }
    const r = rotate(cp, dir, 1);
    if (r === undefined) out += String.fromCodePoint(cp);
    else if (!isValidScalar(r)) out += "!" + String.fromCodePoint(cp);
    else out += String.fromCodePoint(r);
  }
  return out;
}

export function deobfuscateSegment(segment: string, nameKey: Uint8Array): string {
  if (segment === "") return "";
  const dot = segment.indexOf(".");
  if (dot < 0) throw new RcloneCryptError("rclone_bad_name", "obfuscated name has no rotation prefix");
  const prefix = segment.slice(0, dot);
  const body = segment.slice(dot + 1);
  if (prefix === "!") return body;
  if (!/^\d{1,10}$/.test(prefix)) throw new RcloneCryptError("rclone_bad_name", "obfuscated name has a bad rotation prefix");
  const dir = Number(prefix) + keySum(nameKey);
  let out = "";
  let quoted = false;
  for (const ch of body) {
    const cp = ch.codePointAt(0) as number;
    if (quoted) {
      out += ch;
      quoted = false;
    } else if (cp === 0x21) {
      quoted = true;
    } else {
      const r = rotate(cp, dir, -1);
      out += r === undefined ? ch : String.fromCodePoint(r);
    }
  }
  return out;
}
