// CLI exit codes (documented in README "Exit codes"). Scripts can rely on them.
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  notFound: 3,
  auth: 4,
  integrity: 5,
  unreachable: 6,
  config: 7,
} as const;

export function exitCodeFor(code: string | undefined): number {
  switch (code) {
    case "bad_request":
    case "invalid_name":
    case "invalid_version":
    case "value_too_large":
    case "payload_too_large":
    case "unsupported_media_type":
    case "credential_password_not_set":
    case "invalid_gateway_url":
    case "payload_invalid":
    case "support_record_invalid":
      return EXIT.usage;
    case "not_found":
    case "agent_not_registered":
    case "gateway_not_set":
    case "identity_destroyed":
    case "support_grant_not_found":
    case "support_grant_ended":
      return EXIT.notFound;
    case "unauthorized":
    case "forbidden":
    case "handshake_malformed":
    case "handshake_non_canonical":
    case "handshake_clock_skew":
    case "handshake_bad_signature":
    case "handshake_replay":
    case "agent_disabled":
    case "credential_password_required":
    case "credential_password_invalid":
    case "blind_signing_refused":
    case "ticket_invalid":
    case "ticket_expired":
    case "ticket_replayed":
    case "ticket_mismatch":
    case "ticket_voided":
    case "policy_denied":
    case "signer_frozen":
    case "fresh_login_required":
    case "challenge_pending":
    case "challenge_expired":
    case "challenge_used":
      return EXIT.auth;
    case "integrity_error":
    case "key_backup_missing":
    case "signer_untrusted":
      return EXIT.integrity;
    case "unavailable":
      return EXIT.unreachable;
    case "config_invalid":
      return EXIT.config;
    default:
      return EXIT.error;
  }
}

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly code?: string,
    /** The API error object's other public fields (e.g. a handshake's server_time). */
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** Erasure cannot be undone, so it runs only with an explicit --yes (no prompt: scripts stay predictable). */
export function requireYes(o: { yes?: boolean }, what: string): void {
  if (!o.yes) throw new CliError(`deleting ${what} erases its data for good; pass --yes to confirm`, EXIT.usage, "bad_request");
}
