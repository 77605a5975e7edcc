import { createHash } from "node:crypto";
import { getCompiledTransactionMessageDecoder } from "@solana/kit";
import { formatEther, getAddress, isAddress, hashMessage, hashTypedData, keccak256, parseTransaction, decodeFunctionData, erc20Abi, type Hex, type TypedDataDefinition } from "viem";
import { z } from "zod";
import { ClawkeepError } from "../errors.js";
import type { Curve } from "./curves.js";

// What a caller asks an identity to sign, turned into exactly the bytes that get signed and a
// preview a person can read before approving. Decoding uses viem (EVM) and @solana/kit (Solana):
// the preview shows what the chain will see, so it is built from the same bytes the signature
// covers, never from fields the caller describes separately.

export const PayloadSchema = z.discriminatedUnion("kind", [
  // EIP-191 version 0x45 ("personal_sign"): `message` is UTF-8 text, or `message_hex` raw bytes.
  z.strictObject({ kind: z.literal("eip191"), message: z.string().max(65_536).optional(), message_hex: z.string().max(131_074).optional() }),
  z.strictObject({ kind: z.literal("eip712"), typed_data: z.record(z.string(), z.unknown()) }),
  // An unsigned serialized transaction (legacy with an EIP-155 chain id, EIP-2930, EIP-1559).
  z.strictObject({ kind: z.literal("evm_transaction"), transaction: z.string().max(262_146) }),
  // A compiled Solana transaction message (legacy or v0), base64: the bytes a signature covers.
  z.strictObject({ kind: z.literal("solana_message"), message: z.string().max(4_096) }),
  // Blind signing: a bare 32-byte digest (secp256k1) or raw bytes (ed25519), hex.
  z.strictObject({ kind: z.literal("digest"), digest: z.string().max(2_050) }),
]);
export type Payload = z.infer<typeof PayloadSchema>;
export type PayloadKind = Payload["kind"];

export interface Prepared {
  kind: PayloadKind;
  /** secp256k1: the 32-byte digest to sign; ed25519: the message bytes. */
  signingInput: Uint8Array;
  preview: Record<string, unknown>;
  /** SHA-256 over (kind, signing input): what a ticket binds; the same payload always gives the same hash. */
  payloadHash: string;
  /** SHA-256 over the canonical JSON of the preview. */
  previewHash: string;
  blind: boolean;
}

const bad = (msg: string): never => {
  throw new ClawkeepError("payload_invalid", msg);
};

const HEX_RE = /^0x([0-9a-fA-F]{2})*$/;
function hexBytes(s: string, what: string): Buffer {
  if (!HEX_RE.test(s)) bad(`${what} must be 0x-prefixed hex with whole bytes`);
  return Buffer.from(s.slice(2), "hex");
}

/** JSON with sorted keys and bigints as decimal strings: a stable byte form for hashing. */
export function canonicalJson(v: unknown): string {
  if (typeof v === "bigint") return JSON.stringify(v.toString());
  if (v instanceof Uint8Array) return JSON.stringify(`0x${Buffer.from(v).toString("hex")}`);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v && typeof v === "object") {
    const keys = Object.keys(v as object).sort();
    return `{${keys.filter((k) => (v as Record<string, unknown>)[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(v ?? null);
}

const sha256Hex = (...parts: (string | Uint8Array)[]) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
};

const plainText = (b: Buffer): string | undefined => {
  const t = b.toString("utf8");
  // eslint-disable-next-line no-control-regex
  return Buffer.from(t, "utf8").equals(b) && !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(t) ? t : undefined;
};

function eip191(p: Extract<Payload, { kind: "eip191" }>) {
  if ((p.message === undefined) === (p.message_hex === undefined)) bad("eip191 takes exactly one of message and message_hex");
  const raw = p.message !== undefined ? Buffer.from(p.message, "utf8") : hexBytes(p.message_hex!, "message_hex");
  const text = plainText(raw);
  const digest = hexBytes(hashMessage({ raw: new Uint8Array(raw) }), "digest");
  return { digest, preview: { type: "EIP-191 personal message", bytes: raw.length, ...(text !== undefined ? { text } : { hex: `0x${raw.toString("hex")}` }) } };
}

function eip712(p: Extract<Payload, { kind: "eip712" }>) {
  const td = p.typed_data as unknown as TypedDataDefinition;
  if (typeof td.primaryType !== "string" || !td.types || typeof td.types !== "object" || !td.message) bad("typed_data needs types, primaryType, domain and message");
  let digest: Hex;
  try {
    digest = hashTypedData(td);
  } catch (e) {
    return bad(`typed_data does not encode: ${(e as Error).message.split("\n")[0]}`);
  }
  const d = (td.domain ?? {}) as Record<string, unknown>;
  return {
    digest: hexBytes(digest, "digest"),
    preview: {
      type: "EIP-712 typed data",
      primary_type: td.primaryType,
      domain: { name: d.name, version: d.version, chain_id: d.chainId === undefined ? undefined : String(d.chainId), verifying_contract: d.verifyingContract, salt: d.salt },
      message: td.message,
    },
  };
}

function evmTransaction(p: Extract<Payload, { kind: "evm_transaction" }>) {
  const raw = hexBytes(p.transaction, "transaction");
  let tx: ReturnType<typeof parseTransaction>;
  try {
    tx = parseTransaction(`0x${raw.toString("hex")}`);
  } catch (e) {
    return bad(`transaction does not parse: ${(e as Error).message.split("\n")[0]}`);
  }
  if (tx.r !== undefined || tx.s !== undefined || ("v" in tx && tx.v !== undefined && tx.chainId === undefined)) bad("transaction is already signed");
  if (tx.chainId === undefined) bad("transaction has no chain id (EIP-155): it could be replayed on any chain");
  if (tx.type !== "legacy" && tx.type !== "eip2930" && tx.type !== "eip1559") bad(`transaction type ${tx.type} is not supported`);
  const value = tx.value ?? 0n;
  const data = tx.data && tx.data !== "0x" ? tx.data : undefined;
  let call: Record<string, unknown> | undefined;
  if (data) {
    call = { selector: data.slice(0, 10), data_bytes: (data.length - 2) / 2 };
    try {
      const f = decodeFunctionData({ abi: erc20Abi, data });
      const args = (f.args ?? []).map((a) => (typeof a === "string" && isAddress(a) ? getAddress(a) : a));
      call = { ...call, erc20: { function: f.functionName, args } };
    } catch {
      // Not an ERC-20 call: the selector and size are all that can be said without its ABI.
    }
  }
  return {
    digest: hexBytes(keccak256(`0x${raw.toString("hex")}`), "digest"),
    tx,
    preview: {
      type: `EVM transaction (${tx.type})`,
      chain_id: tx.chainId,
      // EIP-55 checksummed, as wallets show addresses.
      to: tx.to ? getAddress(tx.to) : null,
      ...(tx.to ? {} : { contract_creation: true }),
      value_wei: value.toString(),
      value_eth: formatEther(value),
      nonce: tx.nonce ?? 0,
      gas: tx.gas?.toString(),
      gas_price: "gasPrice" in tx ? tx.gasPrice?.toString() : undefined,
      max_fee_per_gas: "maxFeePerGas" in tx ? tx.maxFeePerGas?.toString() : undefined,
      max_priority_fee_per_gas: "maxPriorityFeePerGas" in tx ? tx.maxPriorityFeePerGas?.toString() : undefined,
      call,
    },
  };
}

const SYSTEM_PROGRAM = "11111111111111111111111111111111";

function solanaMessage(p: Extract<Payload, { kind: "solana_message" }>) {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(p.message)) bad("message must be base64");
  const raw = Buffer.from(p.message, "base64");
  let m: ReturnType<ReturnType<typeof getCompiledTransactionMessageDecoder>["decode"]>;
  try {
    const [value, end] = getCompiledTransactionMessageDecoder().read(new Uint8Array(raw), 0);
    if (end !== raw.length) bad("message has trailing bytes");
    m = value;
  } catch (e) {
    if (e instanceof ClawkeepError) throw e;
    return bad("message is not a compiled Solana transaction message");
  }
  if (m.version !== "legacy" && m.version !== 0) return bad(`Solana message version ${String(m.version)} is not supported (legacy and v0 are)`);
  const accounts = m.staticAccounts as string[];
  if (m.header.numSignerAccounts < 1 || accounts.length < 1) bad("message has no fee payer");
  const instructions = (m.instructions ?? []).map((ix) => {
    const program = accounts[ix.programAddressIndex];
    const keys = (ix.accountIndices ?? []).map((i) => accounts[i] ?? `lookup#${i}`);
    const data = ix.data ? Buffer.from(ix.data as Uint8Array) : Buffer.alloc(0);
    const out: Record<string, unknown> = { program: program ?? `lookup#${ix.programAddressIndex}`, accounts: keys, data_bytes: data.length };
    // System Program Transfer (instruction 2): the one transfer every wallet shows decoded.
    if (program === SYSTEM_PROGRAM && data.length === 12 && data.readUInt32LE(0) === 2 && keys.length >= 2) {
      const lamports = data.readBigUInt64LE(4);
      out.transfer = { from: keys[0], to: keys[1], lamports: lamports.toString(), sol: formatLamports(lamports) };
    }
    return out;
  });
  return {
    message: raw,
    feePayer: accounts[0]!,
    preview: {
      type: `Solana transaction message (${m.version})`,
      fee_payer: accounts[0],
      signers: accounts.slice(0, m.header.numSignerAccounts),
      recent_blockhash: "lifetimeToken" in m ? m.lifetimeToken : undefined,
      instructions,
      ...(m.version !== "legacy" && "addressTableLookups" in m && m.addressTableLookups?.length ? { address_table_lookups: m.addressTableLookups.length } : {}),
    },
  };
}

const formatLamports = (l: bigint) => {
  const s = l.toString().padStart(10, "0");
  return `${s.slice(0, -9)}.${s.slice(-9)}`.replace(/\.?0+$/, "") || "0";
};

/** Curve a payload kind needs; `digest` goes to either. */
export function curveFor(kind: PayloadKind): Curve | undefined {
  if (kind === "solana_message") return "ed25519";
  if (kind === "digest") return undefined;
  return "secp256k1";
}

/**
 * Validates a payload for an identity on `curve` with `address`, and returns what gets signed
 * and its preview. Throws payload_invalid for anything malformed or meant for another key.
 */
export function preparePayload(raw: unknown, curve: Curve, address: string): Prepared & { evmTx?: ReturnType<typeof parseTransaction> } {
  const parsed = PayloadSchema.safeParse(raw);
  if (!parsed.success) throw new ClawkeepError("payload_invalid", `payload: ${parsed.error.issues[0]?.message ?? "invalid"} (kind is one of eip191, eip712, evm_transaction, solana_message, digest)`);
  const p = parsed.data;
  const need = curveFor(p.kind);
  if (need && need !== curve) bad(`a ${p.kind} payload needs a ${need} identity; this one is ${curve}`);
  let signingInput: Uint8Array;
  let preview: Record<string, unknown>;
  let evmTx: ReturnType<typeof parseTransaction> | undefined;
  switch (p.kind) {
    case "eip191": {
      const r = eip191(p);
      [signingInput, preview] = [r.digest, r.preview];
      break;
    }
    case "eip712": {
      const r = eip712(p);
      [signingInput, preview] = [r.digest, r.preview];
      break;
    }
    case "evm_transaction": {
      const r = evmTransaction(p);
      [signingInput, preview, evmTx] = [r.digest, r.preview, r.tx];
      break;
    }
    case "solana_message": {
      const r = solanaMessage(p);
      if (r.feePayer !== address && !(r.preview.signers as string[]).includes(address)) bad("this identity is not a signer of the message");
      [signingInput, preview] = [r.message, r.preview];
      break;
    }
    case "digest": {
      signingInput = hexBytes(p.digest, "digest");
      if (curve === "secp256k1" && signingInput.length !== 32) bad("a secp256k1 digest is 32 bytes");
      if (signingInput.length === 0) bad("digest is empty");
      preview = { type: "blind digest", hex: p.digest.toLowerCase(), warning: "what this digest commits to cannot be shown" };
      break;
    }
  }
  const payloadHash = sha256Hex(p.kind, new Uint8Array([0]), signingInput);
  const text = canonicalJson(preview); // also what makes it plain JSON: bigints become strings
  return { kind: p.kind, signingInput, preview: JSON.parse(text) as Record<string, unknown>, payloadHash, previewHash: sha256Hex(text), blind: p.kind === "digest", evmTx };
}
