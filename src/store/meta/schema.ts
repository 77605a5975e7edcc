// Row types of the meta store. Portable column types only (text, integer), so the same queries
// run on SQLite and PostgreSQL. Timestamps are ISO-8601 UTC strings; booleans are 0/1.
// Nothing here holds a plaintext secret: values live in the blob store as ciphertext, DEKs only
// wrapped, tokens only as SHA-256 hashes.

export interface UsersTable {
  id: string;
  name: string;
  is_admin: number;
  created_at: string;
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
}

export interface DB {
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
