import { readFileSync } from "node:fs";
import { Command, Option } from "commander";
import { EXIT } from "./exit.js";
import { configureUsageErrors, report } from "./report.js";

// The CLI shell: commands are declared here and their modules imported only when they run, so
// `clawkeep --version` or `secret get` never load the server, zod or the database driver.

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
const program = new Command("clawkeep")
  .version(pkg.version)
  .description("Clawkeep: an encrypted keep for AI-agent fleets")
  .enablePositionalOptions()
  .exitOverride();

const jsonOpt = () => new Option("--json", "print JSON");

program
  .command("serve")
  .description("run the server (embedded default: SQLite + local blob folder + master.key in the data dir)")
  .option("--data-dir <dir>", "data directory (CLAWKEEP_DATA_DIR)")
  .option("--port <port>", "HTTP port (CLAWKEEP_PORT)")
  .option("--bind <addr>", "bind address (CLAWKEEP_BIND)")
  .action(async (o) => (await import("./commands/serve.js")).serve(o));

program
  .command("signerd")
  .description("run the enclave-mode signer: holds the sealing key and the private keys the API never has (SIGNER_MODE=enclave)")
  .option("--dir <dir>", "its own key directory, apart from the API's data dir (SIGNERD_DIR; default ./signerd-data)")
  .option("--listen <addr>", "unix:/path/to.sock or 127.0.0.1:<port> (SIGNERD_LISTEN; default unix:<dir>/signerd.sock)")
  .option("--print-attestation", "print SIGNERD_ATTESTATION_KEY and SIGNERD_MEASUREMENTS for the API's configuration, then exit")
  .action(async (o) => (await import("./commands/signerd.js")).signerd(o));

const user = program.command("user").description("manage users (admin)");
user
  .command("create <name>")
  .description("create a user and print its first API token once")
  .option("--admin", "make the user an administrator")
  .addOption(jsonOpt())
  .action(async (name, o) => (await import("./commands/users.js")).createUser(name, o));

user
  .command("delete <name>")
  .description("erase a user for good: its data keys are destroyed and its blobs, secrets, agents and tokens deleted")
  .option("--yes", "confirm: this cannot be undone")
  .addOption(jsonOpt())
  .action(async (name, o) => (await import("./commands/users.js")).deleteUser(name, o));

const token = program.command("token").description("manage your API tokens");
token
  .command("create")
  .description("create an API token (printed once)")
  .option("--name <name>", "label for the token", "api")
  .option("--ttl <seconds>", "expire after this many seconds")
  .addOption(jsonOpt())
  .action(async (o) => (await import("./commands/users.js")).createToken(o));
token.command("ls").description("list your tokens").addOption(jsonOpt()).action(async (o) => (await import("./commands/users.js")).listTokens(o));
token.command("revoke <id>").description("revoke a token").action(async (id) => (await import("./commands/users.js")).revokeToken(id));

const secret = program.command("secret").description("store and read secrets");
secret
  .command("put <ref> [value...]")
  .usage("[options] <ref>")
  .description("store a new version of AGENT/NAME; the value comes from stdin or --from-file, never argv")
  .option("--from-file <file>", "read the value from this file")
  .option("--allow-empty", "store an empty value (refused otherwise: it is usually an unset variable piped in)")
  .option("--e2ee", "encrypt the value here, end to end (the server stores an envelope it cannot open)")
  .option("--passphrase-file <file>", "with --e2ee: read the passphrase from this 0600 file instead of prompting")
  .option("--password-mode", "password-derived mode: sealed under your credential password too, so the server cannot open it without the password")
  .option("--password-file <file>", "with --password-mode: read the credential password from this 0600 file instead of prompting")
  .addOption(jsonOpt())
  .action(async (ref, extra: string[], o) => (await import("./commands/secrets.js")).put(ref, { ...o, extra }));
secret
  .command("get <ref>")
  .description("write the value of AGENT/NAME to stdout")
  .option("--version <n>", "a specific version")
  .option("--e2ee", "open an end-to-end encrypted value here")
  .option("--passphrase-file <file>", "with --e2ee: read the passphrase from this 0600 file instead of prompting")
  .option("--password-file <file>", "a password-mode value: read the credential password from this 0600 file (otherwise prompted when needed)")
  .addOption(jsonOpt())
  .action(async (ref, o) => (await import("./commands/secrets.js")).get(ref, o));

const credPassword = program.command("credential-password").description("the credential password of the password-derived mode (never stored by the server)");
credPassword
  .command("set")
  .description("set your credential password, once (prompted twice without echo, or --password-file)")
  .option("--password-file <file>", "read the password from this 0600 file instead of prompting")
  .addOption(jsonOpt())
  .action(async (o) => (await import("./commands/credential-password.js")).set(o));
credPassword
  .command("status")
  .description("whether a credential password is set, and its Argon2id parameters")
  .addOption(jsonOpt())
  .action(async (o) => (await import("./commands/credential-password.js")).status(o));
secret
  .command("ls [agent]")
  .description("list secrets (names, versions, dates; never values)")
  .addOption(jsonOpt())
  .action(async (agent, o) => (await import("./commands/secrets.js")).ls(agent, o));
secret
  .command("versions <ref>")
  .description("list the versions of AGENT/NAME")
  .addOption(jsonOpt())
  .action(async (ref, o) => (await import("./commands/secrets.js")).versions(ref, o));
secret
  .command("rm <ref>")
  .description("delete AGENT/NAME (a tombstone version)")
  .addOption(jsonOpt())
  .action(async (ref, o) => (await import("./commands/secrets.js")).rm(ref, o));

program
  .command("login")
  .description("sign in with the challenge login (Telegram): prints the deep link, waits, writes a session token to a 0600 file")
  .option("--token-file <file>", "where to write the session token (default ~/.clawkeep/token)")
  .option("--telegram-user-id <id>", "test mode only (server without TELEGRAM_BOT_TOKEN): resolve at once as this account")
  .option("--poll-seconds <s>", "how often to check whether the challenge is resolved", "2")
  .addOption(jsonOpt())
  .action(async (o) => (await import("./commands/login.js")).login(o));

const identity = program.command("identity").description("signer identities: wallet keys the server keeps sealed and signs with");
identity
  .command("create")
  .description("create an identity: a secp256k1 key (EVM address) or an ed25519 key (Solana address)")
  .requiredOption("--curve <curve>", "secp256k1 | ed25519 (or evm | solana)")
  .option("--label <label>", "a name for it")
  .option("--agent <name>", "bind it to one of your agents")
  .option("--allow-blind-signing", "allow signing bare digests, which cannot be previewed")
  .addOption(jsonOpt())
  .action(async (o) => (await import("./commands/identities.js")).create(o));
identity.command("ls").description("list your identities").addOption(jsonOpt()).action(async (o) => (await import("./commands/identities.js")).ls(o));
identity
  .command("rm <id>")
  .description("destroy an identity: its private key is erased, for good")
  .option("--yes", "confirm: this cannot be undone")
  .addOption(jsonOpt())
  .action(async (id, o) => (await import("./commands/identities.js")).remove(id, o));
identity
  .command("policy <id>")
  .description("show an identity's signing policy, or set it from a JSON file (docs/signer.md, formats §21)")
  .option("--set <file>", "replace the policy with this JSON")
  .option("--clear", "remove the policy")
  .addOption(jsonOpt())
  .action(async (id, o) => (await import("./commands/signer-controls.js")).policy(id, o));

const signerCmd = program.command("signer").description("the signer: freeze switch, sealing-key rotation, mode migration");
signerCmd
  .command("freeze")
  .description("stop all signing for you (or one agent) at once; open tickets become void for good")
  .option("--agent <name>", "freeze only this agent")
  .addOption(jsonOpt())
  .action(async (o) => (await import("./commands/signer-controls.js")).freeze(o));
signerCmd
  .command("unfreeze")
  .description("lift a freeze (needs a session from a `clawkeep login` made after it)")
  .option("--agent <name>", "the agent to unfreeze")
  .addOption(jsonOpt())
  .action(async (o) => (await import("./commands/signer-controls.js")).unfreeze(o));
signerCmd
  .command("reseal")
  .description("operator: seal every signing key again under WORKER_SEALING_KEY (old keys in WORKER_PREVIOUS_SEALING_KEYS); online, resumable")
  .option("--data-dir <dir>", "data directory (CLAWKEEP_DATA_DIR)")
  .addOption(jsonOpt())
  .action(async (o) => (await import("./commands/signer-controls.js")).reseal(o));
signerCmd
  .command("migrate")
  .description("after a signer-mode switch: replace each of your identities whose key this signer cannot open (as the seed's cash init does)")
  .option("--yes", "destroy and replace them (funds at the old addresses stay there)")
  .addOption(jsonOpt())
  .action(async (o) => (await import("./commands/signer-controls.js")).migrate(o));
signerCmd.command("status").description("what is frozen").addOption(jsonOpt()).action(async (o) => (await import("./commands/signer-controls.js")).status(o));

program
  .command("sign")
  .description("sign with an identity: shows the server's decoded preview, then asks (or --yes) before signing")
  .requiredOption("--identity <id>", "identity id (idn_…)")
  .option("--message <text>", "an EIP-191 personal message")
  .option("--typed-data <file>", "EIP-712 typed data, a JSON file")
  .option("--tx <file>", "an unsigned serialized EVM transaction (0x hex), in a file")
  .option("--solana-message <file>", "a compiled Solana transaction message (base64), in a file")
  .option("--digest <hex>", "a bare 32-byte digest (only for identities that allow blind signing)")
  .option("--dry-run", "only ask the identity's policy: print the preview and its verdict, sign nothing")
  .option("--yes", "sign without asking (the preview is still printed to stderr)")
  .addOption(jsonOpt())
  .action(async (o) => (await import("./commands/identities.js")).sign(o));

const agent = program.command("agent").description("register agents; run a command as an agent with its secrets");
agent
  .command("create <name>")
  .description("register an agent and print its id and secret (once)")
  .addOption(jsonOpt())
  .action(async (name, o) => (await import("./commands/agents.js")).create(name, o));
agent.command("ls").description("list your agents").addOption(jsonOpt()).action(async (o) => (await import("./commands/agents.js")).ls(o));
agent
  .command("rotate-secret <name>")
  .description("replace an agent's secret (printed once); its old secret and tokens stop working")
  .addOption(jsonOpt())
  .action(async (name, o) => (await import("./commands/agents.js")).rotateSecret(name, o));
agent
  .command("disable <name>")
  .description("disable an agent: its handshakes and tokens are refused")
  .addOption(jsonOpt())
  .action(async (name, o) => (await import("./commands/agents.js")).disable(name, o));
agent
  .command("delete <name>")
  .description("erase an agent for good: its secrets and blobs are deleted and every data key that sealed them destroyed")
  .option("--yes", "confirm: this cannot be undone")
  .addOption(jsonOpt())
  .action(async (name, o) => (await import("./commands/agents.js")).remove(name, o));
agent
  .command("set-gateway <name> <url>")
  .description("route /v1/agents/<name>/gateway/* to this http(s) URL; the agent's GATEWAY_AUTH_TOKEN secret is its credential")
  .addOption(jsonOpt())
  .action(async (name, url, o) => (await import("./commands/agents.js")).setGateway(name, url, o));
agent
  .command("clear-gateway <name>")
  .description("stop proxying to the agent's gateway")
  .addOption(jsonOpt())
  .action(async (name, o) => (await import("./commands/agents.js")).setGateway(name, null, o));
agent
  .command("health <name>")
  .description("check that the agent's gateway answers")
  .addOption(jsonOpt())
  .action(async (name, o) => (await import("./commands/agents.js")).health(name, o));
agent
  .command("run [cmd...]")
  .description("as the agent (CLAWKEEP_AGENT_ID + CLAWKEEP_AGENT_SECRET[_FILE]): handshake, fetch its secrets, open E2EE ones with ENCRYPTION_SECRET[_FILE], run CMD with them in its environment")
  .option("--only <names...>", "only these secrets")
  .option("--dotenv <file>", "also write the secrets to this file (0600, single-quoted)")
  .option("--reconcile-ssh <file>", "while CMD runs, keep this authorized_keys file in step with the agent's support-access grants and ship support-session records")
  .option("--reconcile-interval <seconds>", "how often --reconcile-ssh runs (at least 1)", "60")
  .option("--spool-dir <dir>", "with --reconcile-ssh: where support-session records are kept until shipped")
  .option("--password-file <file>", "the user's credential password (0600 file), to open password-mode secrets")
  .passThroughOptions()
  .action(async (cmd, o) => (await import("./commands/agent-run.js")).run(cmd, o));
agent
  .command("support-grant <name>")
  .description("grant an operator's SSH key time-limited access to the agent (default 24h, at most 7d)")
  .requiredOption("--public-key-file <file>", "the operator's OpenSSH public key")
  .option("--ttl <duration>", "how long, e.g. 3600, 90m, 24h, 7d", "24h")
  .option("--operator <label>", "who the key belongs to")
  .addOption(jsonOpt())
  .action(async (name, o) => (await import("./commands/support.js")).grant(name, o));
agent
  .command("support-ls <name>")
  .description("list the agent's support-access grants")
  .addOption(jsonOpt())
  .action(async (name, o) => (await import("./commands/support.js")).ls(name, o));
agent
  .command("support-revoke <name> <grant-id>")
  .description("revoke a support-access grant now")
  .addOption(jsonOpt())
  .action(async (name, id, o) => (await import("./commands/support.js")).revoke(name, id, o));
agent
  .command("reconcile-ssh")
  .description("as the agent: write active support keys to authorized_keys (expiry-time, no forwarding, every command recorded), remove revoked or expired ones, ship the session records; other lines are never touched")
  .requiredOption("--authorized-keys <file>", "the authorized_keys file to maintain")
  .option("--spool-dir <dir>", "where the support wrapper and its session records live (default: clawkeep-support next to the file)")
  .addOption(jsonOpt())
  .action(async (o) => (await import("./commands/support.js")).reconcileSsh(o));
agent
  .command("support-log <name>")
  .description("what was run in the agent's support sessions: each command or interactive session, with its exit status")
  .option("--grant <id>", "only this grant's sessions")
  .addOption(jsonOpt())
  .action(async (name, o) => (await import("./commands/support.js")).log(name, o));

program
  .command("migrate")
  .description("apply pending meta-store migrations (serve also does this on start unless CLAWKEEP_MIGRATE=false)")
  .option("--data-dir <dir>", "data directory (CLAWKEEP_DATA_DIR)")
  .option("--dry-run", "list pending migrations without applying them")
  .addOption(jsonOpt())
  .action(async (o) => (await import("./commands/ops.js")).migrate(o));

program
  .command("backup")
  .description("write a consistent export of the meta store (blobs stay where they are unless --with-blobs)")
  .option("--data-dir <dir>", "data directory (CLAWKEEP_DATA_DIR)")
  .requiredOption("--out <file>", "backup file to write (0600)")
  .option("--with-blobs", "include every blob's ciphertext")
  .addOption(jsonOpt())
  .action(async (o) => (await import("./commands/ops.js")).backupCmd(o));

program
  .command("restore")
  .description("restore a backup into an empty deployment (same master key needed to read it)")
  .option("--data-dir <dir>", "data directory (CLAWKEEP_DATA_DIR)")
  .requiredOption("--in <file>", "backup file")
  .addOption(jsonOpt())
  .action(async (o) => (await import("./commands/ops.js")).restoreCmd(o));

const blobsCmd = program.command("blobs").description("blob store maintenance");
blobsCmd
  .command("sweep")
  .description("delete blobs no pointer names (left by crashed or failed writes)")
  .option("--data-dir <dir>", "data directory (CLAWKEEP_DATA_DIR)")
  .option("--grace <seconds>", "keep orphans younger than this (writes may be in flight)", "3600")
  .option("--dry-run", "count without deleting")
  .addOption(jsonOpt())
  .action(async (o) => (await import("./commands/ops.js")).sweep(o));

const audit = program.command("audit").description("the tamper-evident audit log");
audit
  .command("verify")
  .description("verify the audit chain (offline when --data-dir or --checkpoint is given)")
  .option("--data-dir <dir>", "verify this data dir's database directly, without a server")
  .option("--checkpoint <file>", "also prove the log still extends this signed checkpoint")
  .option("--public-key <base64>", "trust checkpoints signed by this key too (e.g. a master key rotated away)")
  .addOption(jsonOpt())
  .action(async (o) => (await import("./commands/audit.js")).verify(o));
audit
  .command("checkpoint")
  .description("sign a checkpoint (size + Merkle root) of the audit log, to keep elsewhere")
  .option("--data-dir <dir>", "data directory (CLAWKEEP_DATA_DIR)")
  .option("--out <file>", "write the checkpoint here instead of stdout")
  .action(async (o) => (await import("./commands/audit.js")).checkpoint(o));
audit
  .command("export")
  .description("write the audit events you may read as JSON lines (--format ecs: ECS field names for a SIEM), resumable")
  .addOption(new Option("--format <format>", "ecs (Elastic Common Schema field names) or jsonl (the API's own)").choices(["ecs", "jsonl"]).default("jsonl"))
  .option("--after <seq>", "start after this event seq (resume where a previous export stopped)")
  .option("--follow", "keep polling for new events until interrupted")
  .action(async (o) => (await import("./commands/audit.js")).exportLog(o));

audit
  .command("schema")
  .description("list the meta store's tables and columns (like \\dt): there is none for message content")
  .option("--data-dir <dir>", "data directory (CLAWKEEP_DATA_DIR); CLAWKEEP_DATABASE_URL picks PostgreSQL")
  .addOption(jsonOpt())
  .action(async (o) => (await import("./commands/audit.js")).schema(o));

const sel = (c: Command) =>
  c.option("--data-dir <dir>", "data directory (CLAWKEEP_DATA_DIR)").option("--user <name>", "one user").option("--all", "every user").addOption(jsonOpt());
const epoch = program.command("epoch").description("per-user data-key epochs: rotation, re-encryption, destruction");
sel(epoch.command("ls").description("list epochs and how many versions each still holds")).action(async (o) => (await import("./commands/epochs.js")).ls(o));
sel(epoch.command("rotate").description("start a new epoch: new writes use a new data key at once")).action(async (o) => (await import("./commands/epochs.js")).rotate(o));
sel(epoch.command("reencrypt").description("move every version still under an older epoch to the current one (resumable)")).action(async (o) =>
  (await import("./commands/epochs.js")).reencrypt(o),
);
sel(epoch.command("destroy").description("destroy every epoch older than --before: its data key and blobs are deleted for good"))
  .requiredOption("--before <epoch>", "destroy epochs numbered below this")
  .option("--force-reencrypt", "re-encrypt what still needs those epochs first, instead of refusing")
  .action(async (o) => (await import("./commands/epochs.js")).destroy(o));

const master = program.command("master").description("the master key");
master
  .command("rotate")
  .description("re-wrap every data key and re-MAC the audit log under CLAWKEEP_MASTER_KEY (old key in CLAWKEEP_PREVIOUS_MASTER_KEYS)")
  .option("--data-dir <dir>", "data directory (CLAWKEEP_DATA_DIR)")
  .addOption(jsonOpt())
  .action(async (o) => (await import("./commands/epochs.js")).masterRotate(o));
master
  .command("new-key")
  .description("write a fresh random master key to a new 0600 file")
  .requiredOption("--out <file>", "file to create")
  .action(async (o) => (await import("./commands/epochs.js")).newMasterKey(o));

// Encrypted agent-state sync (docs/state.md); rclone crypt compatible.
const state = program.command("state").description("encrypted agent-state sync (rclone crypt compatible)");
const stateMod = () => import("./commands/state.js");
const xfer = (c: Command) =>
  c
    .option("--local <dir>", "state directory (OPENCLAW_STATE_DIR)")
    .option("--remote <url>", "file:///path or s3://bucket/prefix (default from S3_BUCKET/S3_PREFIX)")
    .option("--no-delete", "do not propagate deletions")
    .option("--transfers <n>", "concurrent transfers", "4")
    .addOption(jsonOpt());
state
  .command("keys")
  .description("print the keys derived from MASTER_KEY (env or MASTER_KEY_FILE)")
  .option("--obscure", "crypt passwords in rclone's obscured form")
  .addOption(jsonOpt())
  .action(async (o) => (await stateMod()).keys(o));
xfer(state.command("push").description("upload changes of the state dir to the remote")).action(async (o) => (await stateMod()).pushCmd(o));
xfer(state.command("pull").description("restore the state dir from the remote")).action(async (o) => (await stateMod()).pullCmd(o));
xfer(state.command("sync").description("restore if empty, then write back changes continuously"))
  .option("--write-back <seconds>", "upload after this many idle seconds", "5")
  .option("--interval <seconds>", "full pass every this many seconds", "60")
  .action(async (o) => (await import("./commands/state-run.js")).syncCmd(o));
state
  .command("rclone-config")
  .description("write an rclone.conf (S3 + crypt remotes, passwords obscured, mode 0600)")
  .option("--remote <url>", "file:///path or s3://bucket/prefix (default from S3_BUCKET/S3_PREFIX)")
  .option("--output <file>", "where to write it", "rclone.conf")
  .option("--env-auth", "leave S3 credentials out; rclone reads AWS_* from its environment")
  .action(async (o) => (await import("./commands/state-run.js")).rcloneConfigCmd(o));
state
  .command("up")
  .description("seed boot sequence: keys, FUSE mount or sync fallback, run CMD with GATEWAY_AUTH_TOKEN, flush on exit")
  .option("--local <dir>", "state directory (OPENCLAW_STATE_DIR, default /data/openclaw)")
  .option("--remote <url>", "file:///path or s3://bucket/prefix (default from S3_BUCKET/S3_PREFIX)")
  .option("--no-mount", "never try rclone mount; use the sync fallback")
  .option("--write-back <seconds>", "fallback: upload after this many idle seconds", "5")
  .option("--interval <seconds>", "fallback: full pass every this many seconds", "60")
  .argument("<cmd...>", "the command to run (after --)")
  .passThroughOptions()
  .action(async (cmd, o) => (await import("./commands/state-run.js")).upCmd(cmd, o));

// An OpenClaw gateway on encrypted state (docs/openclaw.md).
program
  .command("openclaw")
  .description("OpenClaw gateway helpers")
  .command("up")
  .description("seed 000 boot for an OpenClaw VM: keys, mount or restore, config bootstrap, run the gateway, push until it exits")
  .option("--local <dir>", "state directory (OPENCLAW_STATE_DIR, default /data/openclaw)")
  .option("--remote <url>", "file:///path or s3://bucket/prefix (default from S3_BUCKET/S3_PREFIX)")
  .option("--mount", "try an rclone FUSE mount first (OpenClaw 2026.9 refuses to start on one: docs/openclaw.md)")
  .option("--no-mount", "use the sync fallback (the default)")
  .option("--port <port>", "the gateway's port (bootstrap and readiness probe)", "18789")
  .option("--ready-timeout <seconds>", "how long the gateway may take to answer /health", "120")
  .option("--write-back <seconds>", "fallback: upload after this many idle seconds", "5")
  .option("--interval <seconds>", "fallback: full pass every this many seconds", "60")
  .argument("[cmd...]", "the gateway command (after --; default: openclaw gateway --port PORT)")
  .passThroughOptions()
  .action(async (cmd, o) => (await import("./commands/state-run.js")).openclawUpCmd(cmd, o));

// A closed pipe (`clawkeep audit export | head`) is a normal way for a reader to stop.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(EXIT.ok);
  throw e;
});

configureUsageErrors(program);
try {
  await program.parseAsync(process.argv);
} catch (e) {
  process.exitCode = await report(e);
}
