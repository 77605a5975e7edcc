// Row types of the meta store. Portable column types only (text, integer), so the same queries
// run on SQLite and PostgreSQL. Timestamps are ISO-8601 UTC strings; booleans are 0/1.
// Nothing here holds a plaintext secret: values live in the blob store as ciphertext, DEKs only
// wrapped, tokens only as SHA-256 hashes.

export interface UsersTable {
  id: string;
  name: string;
  is_admin: number;
  created_at: string;
  /** HMAC under the row purpose key over (id, name, is_admin): formats §16. */
  mac: string;
}

export interface TokensTable {
  id: string;
  user_id: string;
  token_hash: string;
  mac: string;
  name: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

export interface UserEpochsTable {
  user_id: string;
  epoch: number;
  wrapped_dek: string;
  key_id: string;
  state: "active" | "retired" | "destroyed";
  seal_count: number;
  created_at: string;
  retired_at: string | null;
  destroyed_at: string | null;
}

export interface SecretVersionsTable {
  user_id: string;
  agent: string;
  name: string;
  version: number;
  epoch: number | null;
  blob_id: string | null;
  sha256: string | null;
  size: number | null;
  deleted: number;
  created_at: string;
  /** Credential mode (formats §17): 'platform' (epoch DEK only) or 'password' (an inner envelope under the user's credential password). */
  mode: "platform" | "password";
}

export interface AuditEventsTable {
  seq: number;
  time: string;
  user_id: string | null;
  actor: string;
  action: string;
  target: string;
  outcome: string;
  metadata: string;
  prev_hash: string;
  hash: string;
  mac: string;
  key_id: string;
}

export interface AuditHeadTable {
  id: number;
  seq: number;
  hash: string;
  mac: string;
  key_id: string;
}

export interface SingleUseTable {
  scope: string;
  id: string;
  expires_at: string;
}

export interface SecretHeadsTable {
  user_id: string;
  agent: string;
  name: string;
  last_version: number;
}

// Agents registered by a user. The agent secret is kept only as an AES-256-GCM envelope (kind
// 'A', AAD binding user, agent id and generation) under the agent-secret purpose key: the
// server needs the secret itself to check handshake HMACs, so a hash would not do.
export interface AgentsTable {
  id: string;
  user_id: string;
  name: string;
  status: "active" | "disabled";
  secret_envelope: string;
  secret_generation: number;
  gateway_url: string | null;
  created_at: string;
  updated_at: string;
}

// Time-limited support access to an agent: an operator's SSH public key the agent installs
// (with OpenSSH's expiry-time) until the grant expires or is revoked.
export interface SupportGrantsTable {
  id: string;
  agent_id: string;
  user_id: string;
  operator: string;
  public_key: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
  /** HMAC under the row purpose key over the grant's immutable fields; destroyed on revocation (formats §16). */
  mac: string;
}

// A user's credential password (seed 001 §3 option B): never stored; only the Argon2id salt and
// parameters, and a verifier that tells a wrong password from a right one (formats §17).
export interface CredentialPasswordsTable {
  user_id: string;
  salt: string;
  memory_kib: number;
  iterations: number;
  parallelism: number;
  verifier: string;
  created_at: string;
}

// Signer identities (issue 14, seed 003): a key pair owned by a user and optionally bound to one
// of the user's agents. The private key is only in key_backups, sealed (formats §19).
export interface IdentitiesTable {
  id: string;
  user_id: string;
  agent_id: string | null;
  curve: "secp256k1" | "ed25519";
  public_key: string;
  address: string;
  label: string | null;
  allow_blind: number;
  status: "active" | "destroyed";
  created_at: string;
  destroyed_at: string | null;
  /** HMAC under the row purpose key over (id, user, agent, curve, public key, address, allow_blind): formats §16. */
  mac: string;
}

// The seed's key_backups: one sealed private key per identity; the row goes when the identity
// is destroyed (the key is erased, not merely marked).
export interface KeyBackupsTable {
  identity_id: string;
  sealed_key: string;
  key_id: string | null;
  format: string;
  created_at: string;
  updated_at: string;
}

// Challenge login (seed 003): a challenge is created pending, resolved by the Telegram webhook
// (or at once in test mode) and consumed by exactly one verify. Only a hash of its secret is kept.
export interface AuthChallengesTable {
  id: string;
  secret_hash: string;
  telegram_user_id: string | null;
  status: "pending" | "resolved" | "consumed";
  created_at: string;
  expires_at: string;
  resolved_at: string | null;
  consumed_at: string | null;
}

/** Which Clawkeep user a Telegram account signs in as. */
export interface TelegramLinksTable {
  telegram_user_id: string;
  user_id: string;
  created_at: string;
}

// Signer policy (issue 14): one policy per identity, MAC'd so a database writer cannot widen it
// (formats §21); the spends that count against its rolling window; freezes of a user or agent
// (subject `user:<id>` or `agent:<id>`), whose `tickets_not_before` outlives the freeze so a
// ticket issued before it never becomes good again; fixed-window rate-limit counters.
export interface IdentityPoliciesTable {
  identity_id: string;
  policy: string;
  updated_at: string;
  mac: string;
}

export interface SignerSpendsTable {
  ticket_id: string;
  identity_id: string;
  /** Native units (wei, lamports) as a decimal string: beyond what a JS number holds exactly. */
  amount: string;
  created_at: string;
}

export interface SignerHoldsTable {
  subject: string;
  user_id: string;
  frozen: number;
  frozen_at: string | null;
  frozen_by: string | null;
  tickets_not_before: string;
  updated_at: string;
}

export interface RateLimitsTable {
  key: string;
  window_start: string;
  hits: number;
}

export interface DB {
  identity_policies: IdentityPoliciesTable;
  signer_spends: SignerSpendsTable;
  signer_holds: SignerHoldsTable;
  rate_limits: RateLimitsTable;
  auth_challenges: AuthChallengesTable;
  telegram_links: TelegramLinksTable;
  identities: IdentitiesTable;
  key_backups: KeyBackupsTable;
  credential_passwords: CredentialPasswordsTable;
  secret_heads: SecretHeadsTable;
  agents: AgentsTable;
  support_grants: SupportGrantsTable;
  single_use: SingleUseTable;
  users: UsersTable;
  tokens: TokensTable;
  user_epochs: UserEpochsTable;
  secret_versions: SecretVersionsTable;
  audit_events: AuditEventsTable;
  audit_head: AuditHeadTable;
}
