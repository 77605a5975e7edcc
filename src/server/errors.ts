import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { ClawkeepError, ERROR_CODES, type ErrorCode } from "../errors.js";

export const sendError = (reply: FastifyReply, code: ErrorCode, message: string, details?: Record<string, string | number>) =>
  reply.status(ERROR_CODES[code].status).send({ error: { ...details, code, message } });

// The single place where errors become HTTP answers. A ClawkeepError carries its own code; a
// framework error is mapped to one of ours; anything else is `internal`, detail in the log only.
export function errorHandler(err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply) {
  if (err instanceof ClawkeepError) {
    if (err.status >= 500) req.log.error({ code: err.code }, err.message);
    if (err.code === "rate_limited" && err.details?.retry_after_seconds !== undefined) reply.header("retry-after", String(err.details.retry_after_seconds));
    return sendError(reply, err.code, err.message, err.details);
  }
  const fe = err as FastifyError;
  switch (fe.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return sendError(reply, "payload_too_large", "request body is too large");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return sendError(reply, "unsupported_media_type", "send application/json or application/octet-stream");
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return sendError(reply, "bad_request", "request body is not valid JSON");
  }
  if (typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
    // Framework 4xx messages describe the request shape, never stored data.
    return sendError(reply, "bad_request", "malformed request");
  }
  req.log.error({ err }, "unhandled error");
  return sendError(reply, "internal", "internal error");
}
