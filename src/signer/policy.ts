import { getAddress, isAddress } from "viem";
import { z } from "zod";
import { ClawkeepError } from "../errors.js";
import type { Curve } from "./curves.js";
import type { Prepared } from "./payloads.js";

// Per-identity signing policy (formats §21): what an agent may sign without asking its user
// again. Rules are checked against the decoded preview, the same facts a person would read, so a
// rule cannot be met by describing a payload one way and signing it another. Anything the
// decoder cannot see through (a bare digest, an instruction of an unknown Solana program, a
// contract call not on the list) is denied as soon as a rule would need to see it.

const DECIMAL = z.string().regex(/^(0|[1-9][0-9]{0,77})$/, "a non-negative integer in native units (wei, lamports) as a decimal string");

export const PolicySchema = z.strictObject({
  /** Every transfer's recipient (and an ERC-20 approval's spender) must be one of these. */
  allowed_recipients: z.array(z.string().min(1).max(64)).max(1000).optional(),
  /** Every contract called, token moved, EIP-712 verifying contract or non-system Solana program must be one of these. */
  allowed_contracts: z.array(z.string().min(1).max(64)).max(1000).optional(),
  /** Largest native value (wei, lamports) one payload may move. */
  max_value_per_tx: DECIMAL.optional(),
  /** Native value all signatures together may move within the last `window_seconds`. */
  rolling_limit: z.strictObject({ max_value: DECIMAL, window_seconds: z.number().int().min(60).max(90 * 86_400) }).optional(),
  /** Off: EIP-191 and EIP-712 messages are refused (they can be permits that move tokens). */
  allow_messages: z.boolean().optional(),
});
export type Policy = z.infer<typeof PolicySchema>;

export const POLICY_RULES = ["allow_messages", "blind", "allowed_contracts", "allowed_recipients", "max_value_per_tx", "rolling_limit"] as const;
export type PolicyRule = (typeof POLICY_RULES)[number];

/** Parses and normalises a policy for an identity on `curve`: addresses checked, EVM ones EIP-55 checksummed. */
export function parsePolicy(raw: unknown, curve: Curve): Policy {
  const r = PolicySchema.safeParse(raw);
  if (!r.success) throw new ClawkeepError("bad_request", `policy: ${r.error.issues[0]?.path.join(".") || "body"}: ${r.error.issues[0]?.message ?? "invalid"}`);
  const norm = (list: string[] | undefined, what: string) => {
    if (!list) return undefined;
    const out = list.map((a) => {
      if (curve === "secp256k1") {
        if (!isAddress(a, { strict: false })) throw new ClawkeepError("bad_request", `policy: ${what}: ${JSON.stringify(a.slice(0, 64))} is not an EVM address`);
        return getAddress(a);
      }
      if (!/^[1-9A-HJ-NP-Za-km-z]{32,44}$/.test(a)) throw new ClawkeepError("bad_request", `policy: ${what}: ${JSON.stringify(a.slice(0, 64))} is not a Solana address`);
      return a;
    });
    return [...new Set(out)].sort();
  };
  const p = r.data;
  return {
    ...(p.allowed_recipients ? { allowed_recipients: norm(p.allowed_recipients, "allowed_recipients") } : {}),
    ...(p.allowed_contracts ? { allowed_contracts: norm(p.allowed_contracts, "allowed_contracts") } : {}),
    ...(p.max_value_per_tx !== undefined ? { max_value_per_tx: p.max_value_per_tx } : {}),
    ...(p.rolling_limit ? { rolling_limit: p.rolling_limit } : {}),
    ...(p.allow_messages !== undefined ? { allow_messages: p.allow_messages } : {}),
  };
}

/** What a payload does, as far as the preview shows it. */
export interface Facts {
  message: boolean;
  /** EIP-712 typed data: it can be a token permit (EIP-2612, Permit2), an approval in all but name. */
  typedData: boolean;
  /** Solana: an unknown program can move the signer's lamports through a CPI the preview cannot show. */
  programCalls: boolean;
  blind: boolean;
  /** Native value moved (wei, lamports). */
  value: bigint;
  recipients: string[];
  contracts: string[];
  /** Contracts called whose effect the decoder cannot read (not an ERC-20 call, an unknown program). */
  undecoded: string[];
  /** Something value-moving the decoder could not read (the message says what). */
  opaque: string | undefined;
}

const SYSTEM_PROGRAM = "11111111111111111111111111111111";
const COMPUTE_BUDGET = "ComputeBudget111111111111111111111111111111";

export function factsOf(p: Pick<Prepared, "kind" | "preview">, address: string): Facts {
  const f: Facts = { message: false, typedData: false, programCalls: false, blind: false, value: 0n, recipients: [], contracts: [], undecoded: [], opaque: undefined };
  const pv = p.preview as Record<string, unknown>;
  switch (p.kind) {
    case "digest":
      f.blind = true;
      break;
    case "eip191":
      f.message = true;
      break;
    case "eip712": {
      f.message = true;
      f.typedData = true;
      const vc = (pv.domain as Record<string, unknown> | undefined)?.verifying_contract;
      if (typeof vc === "string" && isAddress(vc, { strict: false })) f.contracts.push(getAddress(vc));
      break;
    }
    case "evm_transaction": {
      f.value = BigInt(pv.value_wei as string);
      const to = pv.to as string | null;
      const call = pv.call as { erc20?: { function: string; args: unknown[] } } | undefined;
      if (!to) {
        f.opaque = "a contract creation";
      } else if (!call) {
        f.recipients.push(to);
      } else {
        f.contracts.push(to);
        const e = call.erc20;
        if (e?.function === "transfer" || e?.function === "approve") f.recipients.push(String(e.args[0]));
        else if (e?.function === "transferFrom") f.recipients.push(String(e.args[1]));
        else f.undecoded.push(to);
        // A native value sent along with a call goes to the contract.
        if (f.value > 0n) f.recipients.push(to);
      }
      break;
    }
    case "solana_message": {
      for (const ix of pv.instructions as { program: string; data_bytes: number; transfer?: { from: string; to: string; lamports: string } }[]) {
        if (ix.transfer) {
          if (ix.transfer.from === address) f.value += BigInt(ix.transfer.lamports);
          f.recipients.push(ix.transfer.to);
        } else if (ix.program === SYSTEM_PROGRAM) {
          // Other System Program instructions (create account, transfer with seed, ...) can move
          // lamports too, and are not decoded.
          f.opaque ??= "a System Program instruction other than a plain transfer";
        } else if (ix.program !== COMPUTE_BUDGET) {
          f.contracts.push(ix.program);
          f.undecoded.push(ix.program);
          f.programCalls = true;
        }
      }
      break;
    }
  }
  f.recipients = [...new Set(f.recipients)];
  f.contracts = [...new Set(f.contracts)];
  f.undecoded = [...new Set(f.undecoded)];
  return f;
}

export interface Decision {
  allowed: boolean;
  /** The rule that denied, when one did. */
  rule: PolicyRule | undefined;
  reason: string;
  value: string;
  /** The rolling budget, when the policy has one: what is left after this payload if it is allowed. */
  budget: { max_value: string; window_seconds: number; spent: string; left: string } | undefined;
}

const same = (curve: Curve) => (a: string, b: string) => (curve === "secp256k1" ? a.toLowerCase() === b.toLowerCase() : a === b);

/** Checks `facts` against `policy`, given what the identity has already spent in the policy's window. */
export function decide(policy: Policy | undefined, facts: Facts, curve: Curve, spentInWindow: bigint): Decision {
  const value = facts.value.toString();
  const budgetOf = (spent: bigint) =>
    policy?.rolling_limit
      ? { max_value: policy.rolling_limit.max_value, window_seconds: policy.rolling_limit.window_seconds, spent: spent.toString(), left: (BigInt(policy.rolling_limit.max_value) - spent > 0n ? BigInt(policy.rolling_limit.max_value) - spent : 0n).toString() }
      : undefined;
  const deny = (rule: PolicyRule, reason: string): Decision => ({ allowed: false, rule, reason, value, budget: budgetOf(spentInWindow) });
  if (!policy || Object.keys(policy).length === 0) return { allowed: true, rule: undefined, reason: "no policy: every previewable payload is allowed", value, budget: undefined };
  const eq = same(curve);
  const valueRules = policy.allowed_recipients || policy.allowed_contracts || policy.max_value_per_tx !== undefined || policy.rolling_limit;
  if (facts.message && policy.allow_messages === false) return deny("allow_messages", "this identity's policy refuses message signing (EIP-191/EIP-712)");
  if (facts.blind && valueRules) return deny("blind", "a bare digest cannot be checked against this identity's policy");
  if (facts.opaque && valueRules) return deny("blind", `the payload contains ${facts.opaque}, which cannot be checked against this identity's policy`);
  if (facts.typedData && (policy.allowed_recipients || policy.allowed_contracts) && policy.allow_messages !== true) {
    return deny("allow_messages", "typed data can be a token permit, which no recipient or contract list can see into: set allow_messages to true to allow it");
  }
  if (facts.typedData && policy.allowed_contracts && facts.contracts.length === 0) return deny("allowed_contracts", "the typed data names no verifying contract to check against allowed_contracts");
  if (facts.programCalls && (policy.max_value_per_tx !== undefined || policy.rolling_limit)) {
    const off = facts.undecoded.find((c) => !policy.allowed_contracts?.some((a) => eq(a, c)));
    // A program can move the signer's lamports itself; only one the user listed is trusted not to.
    if (off) return deny("allowed_contracts", `program ${off} could move lamports the value limits cannot count: list it in allowed_contracts to trust it`);
  }
  if (policy.allowed_contracts) {
    const off = facts.contracts.find((c) => !policy.allowed_contracts!.some((a) => eq(a, c)));
    if (off) return deny("allowed_contracts", `${off} is not in allowed_contracts`);
  }
  if (policy.allowed_recipients && !policy.allowed_contracts && facts.undecoded.length > 0) {
    // Where such a call sends value cannot be read; listing the contract is the user's say-so.
    return deny("allowed_recipients", `the recipients of a call to ${facts.undecoded[0]} cannot be decoded: list it in allowed_contracts to allow it`);
  }
  if (policy.allowed_recipients) {
    const off = facts.recipients.find((c) => !policy.allowed_recipients!.some((a) => eq(a, c)));
    if (off) return deny("allowed_recipients", `${off} is not in allowed_recipients`);
  }
  if (policy.max_value_per_tx !== undefined && facts.value > BigInt(policy.max_value_per_tx)) {
    return deny("max_value_per_tx", `value ${value} is over max_value_per_tx ${policy.max_value_per_tx}`);
  }
  if (policy.rolling_limit && spentInWindow + facts.value > BigInt(policy.rolling_limit.max_value)) {
    return deny("rolling_limit", `value ${value} plus ${spentInWindow} already spent in the last ${policy.rolling_limit.window_seconds} s is over ${policy.rolling_limit.max_value}`);
  }
  return { allowed: true, rule: undefined, reason: "allowed by the identity's policy", value, budget: budgetOf(spentInWindow + facts.value) };
}
