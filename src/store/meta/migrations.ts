import { sql, type Kysely, type Migration, type MigrationProvider } from "kysely";
import type { DB } from "./schema.js";

// Versioned migrations, in code so they ship inside the package. Never edit a released
// migration: add the next one. Kysely records applied ones in `kysely_migration`.

const m0001: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("users")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("name", "text", (c) => c.notNull().unique())
      .addColumn("is_admin", "integer", (c) => c.notNull().defaultTo(0))
      .addColumn("created_at", "text", (c) => c.notNull())
      .execute();
    await db.schema
      .createTable("tokens")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("user_id", "text", (c) => c.notNull().references("users.id"))
      .addColumn("token_hash", "text", (c) => c.notNull().unique())
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .addColumn("expires_at", "text")
      .addColumn("revoked_at", "text")
      .execute();
    await db.schema.createIndex("tokens_user").on("tokens").column("user_id").execute();
    await db.schema
      .createTable("user_epochs")
      .addColumn("user_id", "text", (c) => c.notNull().references("users.id"))
      .addColumn("epoch", "integer", (c) => c.notNull())
      .addColumn("wrapped_dek", "text", (c) => c.notNull())
      .addColumn("key_id", "text", (c) => c.notNull())
      .addColumn("state", "text", (c) => c.notNull().defaultTo("active"))
      .addColumn("seal_count", "integer", (c) => c.notNull().defaultTo(0))
      .addColumn("created_at", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint("user_epochs_pk", ["user_id", "epoch"])
      .execute();
    await db.schema
      .createTable("secret_versions")
      .addColumn("user_id", "text", (c) => c.notNull().references("users.id"))
      .addColumn("agent", "text", (c) => c.notNull())
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("version", "integer", (c) => c.notNull())
      .addColumn("epoch", "integer")
      .addColumn("blob_id", "text")
      .addColumn("sha256", "text")
      .addColumn("size", "integer")
      .addColumn("deleted", "integer", (c) => c.notNull().defaultTo(0))
      .addColumn("created_at", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint("secret_versions_pk", ["user_id", "agent", "name", "version"])
      .execute();
    await db.schema.createIndex("secret_versions_epoch").on("secret_versions").columns(["user_id", "epoch"]).execute();
    await db.schema
      .createTable("audit_events")
      .addColumn("seq", "integer", (c) => c.primaryKey())
      .addColumn("time", "text", (c) => c.notNull())
      .addColumn("user_id", "text")
      .addColumn("actor", "text", (c) => c.notNull())
      .addColumn("action", "text", (c) => c.notNull())
      .addColumn("target", "text", (c) => c.notNull())
      .addColumn("outcome", "text", (c) => c.notNull())
      .addColumn("metadata", "text", (c) => c.notNull())
      .addColumn("prev_hash", "text", (c) => c.notNull())
      .addColumn("hash", "text", (c) => c.notNull())
      .addColumn("mac", "text", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("audit_events_user").on("audit_events").columns(["user_id", "seq"]).execute();
    await db.schema
      .createTable("audit_head")
      .addColumn("id", "integer", (c) => c.primaryKey())
      .addColumn("seq", "integer", (c) => c.notNull())
      .addColumn("hash", "text", (c) => c.notNull())
      .addColumn("mac", "text", (c) => c.notNull())
      .execute();
  },
};

// Single-use records shared by every node (handshake nonces, sign tickets, replay caches):
// the primary key makes a second claim of the same (scope, id) fail on any node.
const m0002: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("single_use")
      .addColumn("scope", "text", (c) => c.notNull())
      .addColumn("id", "text", (c) => c.notNull())
      .addColumn("expires_at", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint("single_use_pk", ["scope", "id"])
      .execute();
    await db.schema.createIndex("single_use_expiry").on("single_use").column("expires_at").execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable("single_use").execute();
  },
};

// Agent registry and support-access grants.
const m0003: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("agents")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("user_id", "text", (c) => c.notNull().references("users.id"))
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("status", "text", (c) => c.notNull().defaultTo("active"))
      .addColumn("secret_envelope", "text", (c) => c.notNull())
      .addColumn("secret_generation", "integer", (c) => c.notNull())
      .addColumn("gateway_url", "text")
      .addColumn("created_at", "text", (c) => c.notNull())
      .addColumn("updated_at", "text", (c) => c.notNull())
      .addUniqueConstraint("agents_user_name", ["user_id", "name"])
      .execute();
    await db.schema
      .createTable("support_grants")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("agent_id", "text", (c) => c.notNull().references("agents.id"))
      .addColumn("user_id", "text", (c) => c.notNull().references("users.id"))
      .addColumn("operator", "text", (c) => c.notNull())
      .addColumn("public_key", "text", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .addColumn("expires_at", "text", (c) => c.notNull())
      .addColumn("revoked_at", "text")
      .execute();
    await db.schema.createIndex("support_grants_agent").on("support_grants").columns(["agent_id", "expires_at"]).execute();
  },
  async down(db: Kysely<unknown>) {
    await db.schema.dropTable("support_grants").execute();
    await db.schema.dropTable("agents").execute();
  },
};

// Epoch lifecycle and master-key rotation: audit MACs record which master key made them (so old
// and new keys coexist while a rotation re-MACs the log), and epochs record when they were
// retired or destroyed.
const m0004: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable("audit_events").addColumn("key_id", "text", (c) => c.notNull().defaultTo("")).execute();
    await db.schema.alterTable("audit_head").addColumn("key_id", "text", (c) => c.notNull().defaultTo("")).execute();
    await db.schema.alterTable("user_epochs").addColumn("retired_at", "text").execute();
    await db.schema.alterTable("user_epochs").addColumn("destroyed_at", "text").execute();
    await db.schema.createIndex("user_epochs_key").on("user_epochs").column("key_id").execute();
    await db.schema.createIndex("audit_events_key").on("audit_events").column("key_id").execute();
  },
};

// Version numbers handed out by one atomic counter per secret, so writers on any number of nodes
// never race for the same number (backfilled from the versions already stored).
const m0005: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("secret_heads")
      .addColumn("user_id", "text", (c) => c.notNull())
      .addColumn("agent", "text", (c) => c.notNull())
      .addColumn("name", "text", (c) => c.notNull())
      .addColumn("last_version", "integer", (c) => c.notNull())
      .addPrimaryKeyConstraint("secret_heads_pk", ["user_id", "agent", "name"])
      .execute();
    await sql`insert into secret_heads (user_id, agent, name, last_version) select user_id, agent, name, max(version) from secret_versions group by user_id, agent, name`.execute(db);
  },
};

// API tokens become keyed: the lookup digest is an HMAC under a master-derived key and each row
// carries a MAC over (token, id, user, expiry). Tokens stored before this migration carry no MAC
// and stop authenticating; issue new ones.
const m0006: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable("tokens").addColumn("mac", "text", (c) => c.notNull().defaultTo("")).execute();
  },
};

// Signer identities and their sealed keys (formats §19).
const m0008: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("identities")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("user_id", "text", (c) => c.notNull().references("users.id"))
      .addColumn("agent_id", "text")
      .addColumn("curve", "text", (c) => c.notNull())
      .addColumn("public_key", "text", (c) => c.notNull())
      .addColumn("address", "text", (c) => c.notNull())
      .addColumn("label", "text")
      .addColumn("allow_blind", "integer", (c) => c.notNull().defaultTo(0))
      .addColumn("status", "text", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .addColumn("destroyed_at", "text")
      .addColumn("mac", "text", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("identities_user").on("identities").columns(["user_id", "created_at"]).execute();
    await db.schema
      .createTable("key_backups")
      .addColumn("identity_id", "text", (c) => c.primaryKey().references("identities.id"))
      .addColumn("sealed_key", "text", (c) => c.notNull())
      .addColumn("key_id", "text")
      .addColumn("format", "text", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .addColumn("updated_at", "text", (c) => c.notNull())
      .execute();
  },
};

// Challenge login: challenges and the Telegram account → user links.
const m0009: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("auth_challenges")
      .addColumn("id", "text", (c) => c.primaryKey())
      .addColumn("secret_hash", "text", (c) => c.notNull())
      .addColumn("telegram_user_id", "text")
      .addColumn("status", "text", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .addColumn("expires_at", "text", (c) => c.notNull())
      .addColumn("resolved_at", "text")
      .addColumn("consumed_at", "text")
      .execute();
    await db.schema
      .createTable("telegram_links")
      .addColumn("telegram_user_id", "text", (c) => c.primaryKey())
      .addColumn("user_id", "text", (c) => c.notNull().references("users.id"))
      .addColumn("created_at", "text", (c) => c.notNull())
      .execute();
  },
};

// Signer policy, spends, freezes and rate-limit counters (schema.ts says what each holds).
const m0010: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable("identity_policies")
      .addColumn("identity_id", "text", (c) => c.primaryKey().references("identities.id"))
      .addColumn("policy", "text", (c) => c.notNull())
      .addColumn("updated_at", "text", (c) => c.notNull())
      .addColumn("mac", "text", (c) => c.notNull())
      .execute();
    await db.schema
      .createTable("signer_spends")
      .addColumn("ticket_id", "text", (c) => c.primaryKey())
      .addColumn("identity_id", "text", (c) => c.notNull().references("identities.id"))
      .addColumn("amount", "text", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .execute();
    await db.schema.createIndex("signer_spends_identity").on("signer_spends").columns(["identity_id", "created_at"]).execute();
    await db.schema
      .createTable("signer_holds")
      .addColumn("subject", "text", (c) => c.primaryKey())
      .addColumn("user_id", "text", (c) => c.notNull().references("users.id"))
      .addColumn("frozen", "integer", (c) => c.notNull())
      .addColumn("frozen_at", "text")
      .addColumn("frozen_by", "text")
      .addColumn("tickets_not_before", "text", (c) => c.notNull())
      .addColumn("updated_at", "text", (c) => c.notNull())
      .execute();
    await db.schema
      .createTable("rate_limits")
      .addColumn("key", "text", (c) => c.primaryKey())
      .addColumn("window_start", "text", (c) => c.notNull())
      .addColumn("hits", "integer", (c) => c.notNull())
      .execute();
  },
};

/** What migrations need from outside the store: keys derived from the master key. */
export interface MigrationContext {
  /** MACs for rows migration 0007 authenticates; absent when no master key is loaded. */
  rowMac?: {
    user(r: { id: string; name: string; is_admin: number }): string;
    grant(r: { id: string; agent_id: string; user_id: string; operator: string; public_key: string; created_at: string; expires_at: string }): string;
  };
}

// Rows a database writer must not be able to forge get a MAC under a master-derived key: the
// admin flag of users and support grants (formats §16). Rows that exist already are MAC'd here,
// once, which is why this migration needs the master key when there are any. Also the
// password-derived credential mode (formats §17): a mode per secret version and the per-user
// Argon2id parameters.
const m0007 = (ctx: MigrationContext): Migration => ({
  async up(db: Kysely<unknown>) {
    const d = db as unknown as Kysely<DB>;
    // Checked before any change: SQLite DDL is not transactional here, so fail before altering.
    const users = await d.selectFrom("users").select(["id", "name", "is_admin"]).execute();
    const grants = await d.selectFrom("support_grants").select(["id", "agent_id", "user_id", "operator", "public_key", "created_at", "expires_at"]).where("revoked_at", "is", null).execute();
    if (users.length + grants.length > 0 && !ctx.rowMac) {
      throw new Error("0007 MACs the existing users and support grants with a key derived from the master key: run it with the master key configured");
    }
    await db.schema.alterTable("users").addColumn("mac", "text", (c) => c.notNull().defaultTo("")).execute();
    await db.schema.alterTable("support_grants").addColumn("mac", "text", (c) => c.notNull().defaultTo("")).execute();
    await db.schema.alterTable("secret_versions").addColumn("mode", "text", (c) => c.notNull().defaultTo("platform")).execute();
    await db.schema
      .createTable("credential_passwords")
      .addColumn("user_id", "text", (c) => c.primaryKey().references("users.id"))
      .addColumn("salt", "text", (c) => c.notNull())
      .addColumn("memory_kib", "integer", (c) => c.notNull())
      .addColumn("iterations", "integer", (c) => c.notNull())
      .addColumn("parallelism", "integer", (c) => c.notNull())
      .addColumn("verifier", "text", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .execute();
    if (!ctx.rowMac) return;
    for (const u of users) await d.updateTable("users").set({ mac: ctx.rowMac.user(u) }).where("id", "=", u.id).execute();
    for (const g of grants) await d.updateTable("support_grants").set({ mac: ctx.rowMac.grant(g) }).where("id", "=", g.id).execute();
  },
});

export const migrations = (ctx: MigrationContext = {}): Record<string, Migration> => ({
  "0001_initial": m0001,
  "0002_single_use": m0002,
  "0003_agents": m0003,
  "0004_epochs": m0004,
  "0005_secret_heads": m0005,
  "0006_keyed_tokens": m0006,
  "0007_row_macs_password_mode": m0007(ctx),
  "0008_signer_identities": m0008,
  "0009_challenge_login": m0009,
  "0010_signer_policy": m0010,
});

/** The migration list (names and order); running 0007 over existing rows needs a context. */
export const MIGRATIONS: Record<string, Migration> = migrations();

export const migrationProvider = (ctx: MigrationContext = {}): MigrationProvider => ({
  getMigrations: async () => migrations(ctx),
});
