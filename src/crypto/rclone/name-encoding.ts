// Text encodings for encrypted name bytes (reference §3.1 step 4, `filename_encoding`):
// base32hex lowercase unpadded (the default), base64url unpadded, and qntm's base32768.
// Decoders are strict about alphabet and length because a name that fails to decode is
// exactly how rclone recognises a foreign/undecryptable entry.
import { RcloneCryptError } from "./errors.js";

export type FilenameEncoding = "base32" | "base64" | "base32768";

export interface NameCodec {
  encode(bytes: Uint8Array): string;
  /** Throws `rclone_bad_name` on anything rclone itself would fail to decode. */
  decode(text: string): Uint8Array;
}

function badName(why: string): RcloneCryptError {
  return new RcloneCryptError("rclone_bad_name", `encrypted name is not valid ${why}`);
}

// MSB-first bit packing shared by base32hex: 5 bits per character, trailing bits zero-filled.
const B32 = "0123456789abcdefghijklmnopqrstuv";
const B32_TEXT = /^[0-9a-vA-V]*$/;

const base32: NameCodec = {
  encode(bytes) {
    let out = "";
    let acc = 0;
    let n = 0;
    for (const b of bytes) {
      acc = ((acc << 8) | b) & 0xffff;
      n += 8;
      while (n >= 5) {
        n -= 5;
        out += B32[(acc >>> n) & 31];
      }
    }
    if (n > 0) out += B32[(acc << (5 - n)) & 31];
    return out;
  },
  decode(text) {
    // rclone upper-cases before decoding, so either case is accepted; it refuses explicit '='.
    // A length of 1, 3 or 6 (mod 8) cannot result from whole bytes.
    const rem = text.length % 8;
    if (!B32_TEXT.test(text) || rem === 1 || rem === 3 || rem === 6) throw badName("base32");
    const out = new Uint8Array(Math.floor((text.length * 5) / 8));
    let acc = 0;
    let n = 0;
    let o = 0;
    for (const ch of text.toLowerCase()) {
      const v = B32.indexOf(ch);
      acc = ((acc << 5) | v) & 0xffff;
      n += 5;
      if (n >= 8) {
        n -= 8;
        out[o++] = (acc >>> n) & 0xff;
      }
    }
    return out;
  },
};

const B64URL = /^[A-Za-z0-9_-]*$/;

const base64: NameCodec = {
  encode: (bytes) => Buffer.from(bytes).toString("base64url"),
  decode(text) {
    // Buffer's decoder silently skips junk, so validate the alphabet and length first.
    if (!B64URL.test(text) || text.length % 4 === 1) throw badName("base64");
    return new Uint8Array(Buffer.from(text, "base64url"));
  },
};

// base32768: each BMP character carries 15 bits; a final character may carry 7 bits. The
// repertoires are runs of 32 code points, listed as first/last pairs (qntm's published
// alphabet, the one rclone's Go library calls SafeEncoding).
const REPERTOIRE_15 =
  "ҠҿԀԟڀڿݠޟ߀ߟကဟႠႿᄀᅟᆀᆟᇠሿበቿዠዿጠጿᎠᏟᐠᙟᚠᛟកសᠠᡟᣀᣟᦀᦟ᧠᧿ᨠᨿᯀᯟᰀᰟᴀᴟ⇠⇿⋀⋟⍀⏟␀␟─❟➀➿⠀⥿⦠⦿⨠⩟⪀⪿⫠⭟ⰀⰟⲀⳟⴀⴟⵀⵟ⺠⻟㇀㇟㐀䶟䷀龿ꀀꑿ꒠꒿ꔀꗿꙀꙟꚠꛟ꜀ꝟꞀꞟꡀꡟ";
const REPERTOIRE_7 = "ƀƟɀʟ";

function expand(pairs: string): number[] {
  const cps: number[] = [];
  for (let i = 0; i < pairs.length; i += 2) {
    const first = pairs.charCodeAt(i);
    const last = pairs.charCodeAt(i + 1);
    for (let c = first; c <= last; c++) cps.push(c);
  }
  return cps;
}

let tables: { enc15: number[]; enc7: number[]; dec: Map<number, { bits: 15 | 7; value: number }> } | undefined;

function b32768Tables(): NonNullable<typeof tables> {
  if (tables === undefined) {
    const enc15 = expand(REPERTOIRE_15);
    const enc7 = expand(REPERTOIRE_7);
    const dec = new Map<number, { bits: 15 | 7; value: number }>();
    enc15.forEach((cp, value) => dec.set(cp, { bits: 15, value }));
    enc7.forEach((cp, value) => dec.set(cp, { bits: 7, value }));
    tables = { enc15, enc7, dec };
  }
  return tables;
}

const base32768: NameCodec = {
  encode(bytes) {
    const { enc15, enc7 } = b32768Tables();
    const cps: number[] = [];
    let acc = 0;
    let n = 0;
    for (const b of bytes) {
      acc = ((acc << 8) | b) & 0x7fffff;
      n += 8;
      if (n >= 15) {
        n -= 15;
        cps.push(enc15[(acc >>> n) & 0x7fff] as number);
      }
    }
    if (n > 0) {
      // Pad the leftover bits with 1s up to the smaller repertoire that can hold them.
      const width = n <= 7 ? 7 : 15;
      const v = ((acc << (width - n)) | ((1 << (width - n)) - 1)) & ((1 << width) - 1);
      cps.push((width === 7 ? enc7[v] : enc15[v]) as number);
    }
    return String.fromCharCode(...cps);
  },
  decode(text) {
    const { dec } = b32768Tables();
    const out: number[] = [];
    let acc = 0;
    let n = 0;
    for (let i = 0; i < text.length; i++) {
      const d = dec.get(text.charCodeAt(i));
      if (d === undefined || (d.bits === 7 && i !== text.length - 1)) throw badName("base32768");
      acc = ((acc << d.bits) | d.value) & 0x3fffff;
      n += d.bits;
      while (n >= 8) {
        n -= 8;
        out.push((acc >>> n) & 0xff);
      }
    }
    // Whatever is left over must be the all-ones padding the encoder adds.
    if (n > 0 && (acc & ((1 << n) - 1)) !== (1 << n) - 1) throw badName("base32768");
    return Uint8Array.from(out);
  },
};

const CODECS: Record<FilenameEncoding, NameCodec> = { base32, base64, base32768 };

export function nameCodec(encoding: FilenameEncoding): NameCodec {
  return CODECS[encoding];
}
