// One table of stable error codes, mapped to HTTP status in one place. docs/errors.md is kept in
// step with this table by a test, so a code can never be added or changed silently.

export const ERROR_CODES = {
  bad_request: { status: 400, description: "The request is malformed (bad JSON, wrong content type, missing field)." },
  invalid_name: { status: 400, description: "An agent or secret name does not match the allowed pattern." },
  invalid_version: { status: 400, description: "A version is not a positive integer." },
  value_too_large: { status: 413, description: "A secret value exceeds the configured maximum size." },
  unsupported_media_type: { status: 415, description: "The request body's content type is not accepted by this route." },
  payload_too_large: { status: 413, description: "The request body exceeds the server's body limit." },
  unauthorized: { status: 401, description: "No bearer token, or the token is malformed, unknown, revoked or expired." },
  forbidden: { status: 403, description: "The token is valid but not allowed to perform this action (admin only)." },
  not_found: { status: 404, description: "The resource does not exist, or belongs to someone else (the two are indistinguishable)." },
  conflict: { status: 409, description: "The resource already exists." },
  integrity_error: {
    status: 500,
    description: "Stored data failed its integrity check (hash or authenticated decryption). No plaintext is returned; an audit event is recorded.",
  },
  handshake_malformed: { status: 400, description: "An agent handshake body is truncated, not JSON, or lacks a field of the right type and pattern." },
  handshake_non_canonical: { status: 400, description: "An agent handshake body parses but is not byte for byte its canonical form (docs/formats.md)." },
  handshake_clock_skew: {
    status: 401,
    description: "An agent handshake timestamp is outside the server's window (stale or in the future); `server_time` in the error gives the server's clock.",
  },
  handshake_bad_signature: { status: 401, description: "An agent handshake signature does not verify, or the agent is unknown (the two are indistinguishable)." },
  handshake_replay: { status: 401, description: "An agent handshake nonce was already used (on any node) within the window." },
  agent_disabled: { status: 403, description: "The agent is disabled: its handshakes and tokens are refused, and no secret can be written for it." },
  agent_not_registered: {
    status: 404,
    description: "The `<agent>` of `<agent>/<NAME>` is not a registered agent of yours: register it first with `clawkeep agent create`.",
  },
  credential_password_required: {
    status: 403,
    description: "The value is in password mode (or password mode was asked for) and no credential password was given (`X-Clawkeep-Credential-Password`). Audited.",
  },
  credential_password_invalid: { status: 403, description: "The credential password given is wrong. Nothing is returned; the attempt is audited." },
  credential_password_not_set: { status: 409, description: "Password mode needs a credential password, and none is set yet (`clawkeep credential-password set`)." },
  invalid_gateway_url: {
    status: 400,
    description: "A gateway URL is not http(s), carries credentials, a query or a fragment, or points at a link-local or metadata address (unless CLAWKEEP_PROXY_ALLOW_LINK_LOCAL).",
  },
  gateway_not_set: { status: 404, description: "The agent exists but has no gateway URL (`clawkeep agent set-gateway`)." },
  gateway_unreachable: { status: 502, description: "The agent's gateway refused the connection, could not be resolved, or failed before answering." },
  gateway_address_refused: { status: 502, description: "The gateway's host resolved, at connect time, to a link-local or metadata address." },
  gateway_timeout: { status: 504, description: "The agent's gateway did not accept the connection or send its response headers in time." },
  too_many_connections: { status: 429, description: "The user already has CLAWKEEP_PROXY_MAX_CONNECTIONS_PER_USER proxied connections open on this node." },
  payload_invalid: { status: 400, description: "A payload to sign is malformed, of an unknown kind, or meant for another curve or signer (the message says which)." },
  blind_signing_refused: {
    status: 403,
    description: "A bare digest was sent to sign: it cannot be previewed, and the identity does not allow blind signing (`allow_blind_signing`). Audited.",
  },
  ticket_invalid: { status: 401, description: "A sign ticket is malformed or its signature does not verify. Audited." },
  ticket_expired: { status: 401, description: "A sign ticket is past its expiry (TICKET_TTL_SECONDS): ask for a new one with sign-intent. Audited." },
  ticket_replayed: { status: 409, description: "A sign ticket was already used, on this node or another. Audited." },
  ticket_mismatch: { status: 403, description: "A sign ticket was issued for another identity, caller or payload than the one sent with it. Audited." },
  identity_destroyed: { status: 410, description: "The identity was destroyed and its key erased: it can no longer sign." },
  sealed_key_incompatible: {
    status: 409,
    description: "The identity's stored key is sealed in a format or under a key this signer cannot open (e.g. an enclave key after a switch to worker mode); see docs/signer.md.",
  },
  key_backup_missing: { status: 500, description: "The identity has no key backup row: its key cannot be recovered." },
  signer_untrusted: {
    status: 502,
    description: "Enclave mode: signerd's attestation is not signed by SIGNERD_ATTESTATION_KEY, or its measurement is not in SIGNERD_MEASUREMENTS. Nothing was signed.",
  },
  policy_denied: {
    status: 403,
    description: "The identity's policy does not allow this payload; the body names the rule (`rule`) and the rolling budget left. `?dry_run=1` on sign-intent explains without refusing. Audited.",
  },
  signer_frozen: { status: 423, description: "Signing is frozen for this user or agent (`POST /v1/signer/freeze`): a fresh login lifts a user's freeze; an agent's is lifted by its user from a fresh login. Audited." },
  ticket_voided: { status: 403, description: "The sign ticket was issued before a freeze of its user or agent: it stays void after the freeze is lifted. Audited." },
  fresh_login_required: { status: 403, description: "Lifting a freeze needs a session from a challenge login made after the freeze (`clawkeep login`), not an API token." },
  rate_limited: { status: 429, description: "Over RATE_LIMIT_PER_USER or RATE_LIMIT_PER_IDENTITY_SIGN in the current RATE_LIMIT_WINDOW_MS window, counted across all nodes; `Retry-After` says when to try again." },
  challenge_pending: { status: 409, description: "The login challenge is not resolved yet: open its deep link in Telegram, tap Start, then verify again." },
  challenge_expired: { status: 410, description: "The login challenge is past CHALLENGE_TTL_SECONDS: start a new login." },
  challenge_used: { status: 409, description: "The login challenge was already turned into a session (on any node): start a new login. Audited." },
  support_grant_not_found: { status: 404, description: "A support-session record names a grant that is not one of this agent's (another agent's or user's grant is indistinguishable from none). Nothing in the batch is written." },
  support_grant_ended: {
    status: 410,
    description: "A support-session record's grant was revoked or expired more than an hour ago: its records are no longer accepted. Nothing in the batch is written; the agent keeps them in its spool's rejected/ folder.",
  },
  support_record_invalid: { status: 400, description: "A support-session batch or record is malformed, of an unknown version or kind, has a field out of range, or holds more than 200 records. Nothing in the batch is written." },
  config_invalid: { status: 500, description: "The configuration is invalid; the message names the variable." },
  unavailable: { status: 503, description: "A storage backend is unavailable." },
  internal: { status: 500, description: "An unexpected error. The detail is only in the server log." },
} as const satisfies Record<string, { status: number; description: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class ClawkeepError extends Error {
  readonly code: ErrorCode;
  readonly status: number;

  /** Extra public fields for the error body (never secrets), e.g. the server's time. */
  readonly details: Record<string, string | number> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, string | number> }) {
    super(message, options);
    this.name = "ClawkeepError";
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.details = options?.details;
  }
}

export const isClawkeepError = (e: unknown): e is ClawkeepError => e instanceof ClawkeepError;
