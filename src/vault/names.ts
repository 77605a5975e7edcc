import { ClawkeepError } from "../errors.js";

// Agent names are DNS-label-like; secret names are environment-variable names, so a secret can be
// injected into a process as-is.
export const AGENT_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

export function checkAgent(agent: string): string {
  if (!AGENT_RE.test(agent)) throw new ClawkeepError("invalid_name", "agent must match [a-z0-9][a-z0-9-]{0,62}");
  return agent;
}

export function checkName(name: string): string {
  if (!NAME_RE.test(name)) throw new ClawkeepError("invalid_name", "secret name must match [A-Za-z_][A-Za-z0-9_]{0,127}");
  return name;
}

export function parseVersion(v: unknown): number {
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 1) return v;
  if (typeof v === "string" && /^[1-9][0-9]{0,14}$/.test(v)) return Number(v);
  throw new ClawkeepError("invalid_version", "version must be a positive integer");
}
