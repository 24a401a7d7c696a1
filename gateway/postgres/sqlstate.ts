// A gateway error as a PostgreSQL client reads it: an ErrorResponse with the SQLSTATE a driver
// acts on (42501 for a refusal, 28P01 for a bad token, 3D000 for an unknown connection, 08P01 for
// a broken message) and airlock's sentence and code in the message, as `airlock: … (GW_…)`.
import { notice } from '../../lib/pg-wire.ts';
import type { GatewayErrorCode } from '../errors.ts';

const SQLSTATES: Partial<Record<GatewayErrorCode, string>> = {
  GW_POLICY_DENIED: '42501', // insufficient_privilege
  GW_REVIEW_REQUIRED: '42501',
  GW_REVIEW_PENDING: '42501',
  GW_REVIEW_DENIED: '42501',
  GW_FORBIDDEN: '42501',
  GW_INSPECTION_FAILED: '42501',
  GW_LIMIT_EXCEEDED: '53400', // configuration_limit_exceeded
  GW_TOO_MANY_REQUESTS: '53300', // too_many_connections
  GW_AUTH_REQUIRED: '28P01', // invalid_password
  GW_AUTH_MALFORMED: '28P01',
  GW_TOKEN_INVALID: '28P01',
  GW_TOKEN_EXPIRED: '28P01',
  GW_TOKEN_TOO_LARGE: '28P01',
  GW_API_KEY_INVALID: '28P01',
  GW_INSUFFICIENT_SCOPE: '28000', // invalid_authorization_specification
  GW_ACCESS_REVOKED: '28000',
  GW_PG_TLS_REQUIRED: '28000',
  GW_IDP_UNAVAILABLE: '08004', // sqlserver_rejected_establishment_of_sqlconnection
  GW_CONNECTION_NOT_FOUND: '3D000', // invalid_catalog_name
  GW_PG_PROTOCOL: '08P01', // protocol_violation
  GW_PG_UNSUPPORTED: '0A000', // feature_not_supported
  GW_AGENT_OFFLINE: '08001', // sqlclient_unable_to_establish_sqlconnection
  GW_UPSTREAM_FAILED: '08006', // connection_failure
  GW_SHUTTING_DOWN: '57P01', // admin_shutdown
  GW_RECORDING_FAILED: '58000', // system_error
};

/** The SQLSTATE for a gateway error code; XX000 (internal_error) for the rest. */
export function sqlstateOf(code: GatewayErrorCode): string {
  return SQLSTATES[code] ?? 'XX000';
}

/**
 * An ErrorResponse for `code`: severity ERROR (the statement failed, the session goes on) or
 * FATAL (the connection closes after it). `hint`: what to do, when the message does not say.
 */
export function errorResponse(code: GatewayErrorCode, message: string, severity: 'ERROR' | 'FATAL' = 'ERROR', hint?: string): Buffer {
  return notice('E', { S: severity, V: severity, C: sqlstateOf(code), M: `airlock: ${message} (${code})`, ...(hint === undefined ? {} : { H: hint }) });
}

/** A NoticeResponse from airlock (a statement held for review, …). */
export function noticeResponse(message: string): Buffer {
  return notice('N', { S: 'NOTICE', V: 'NOTICE', C: '00000', M: `airlock: ${message}` });
}
