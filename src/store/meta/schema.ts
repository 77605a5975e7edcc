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

export interface DB {
  secret_heads: SecretHeadsTable;
  single_use: SingleUseTable;
  users: UsersTable;
  tokens: TokensTable;
  user_epochs: UserEpochsTable;
  secret_versions: SecretVersionsTable;
  audit_events: AuditEventsTable;
  audit_head: AuditHeadTable;
}
