// Tool integrity: every upstream tool definition is fingerprinted, and the fingerprint is pinned
// the first time the tool is seen (mode `first-use`) or only once an admin approves it (mode
// `approval`). A definition whose fingerprint differs from the approved one is hidden until it is
// approved again, because a changed description or schema is how a "rug pull" reaches the model.
// Everything here is pure; the store behind PinStore is the gateway's (SQL) store.
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { GatewayError } from '../errors.ts';
import { canonicalHash } from '../../lib/canonical-json.ts';

export { scanDescription, stripHidden, HIDDEN_UNICODE_KIND, INSTRUCTION_TEXT_KIND, type ScanOptions } from './description.ts';

/** The parts of a tool that change what the model is told or may send; `_meta`, icons and execution hints are left out. */
const FINGERPRINTED = ['name', 'title', 'description', 'inputSchema', 'outputSchema', 'annotations'] as const;

/**
 * SHA-256 (lower-case hex) of the canonical JSON (keys sorted at every level) of the tool's name,
 * title, description, inputSchema, outputSchema and annotations, each only when present. Stable
 * under key order; any other change, including adding annotations, changes it. Compute it over
 * the definition as the upstream sent it, before airlock adds `_justification`.
 */
export function toolFingerprint(tool: Tool): string {
  const parts: Record<string, unknown> = {};
  for (const key of FINGERPRINTED) if (tool[key] !== undefined) parts[key] = tool[key];
  return canonicalHash(parts);
}

/** `first-use`: trust the first definition seen. `approval`: nothing is shown before an admin approves it. */
export type PinMode = 'first-use' | 'approval';
export const PIN_MODES = ['first-use', 'approval'] as const satisfies readonly PinMode[];

/** A tool's pinned definition: the approved fingerprint and the latest unapproved one (store type). */
export type { PinRecord } from '../store/types.ts';
import type { PinRecord } from '../store/types.ts';

/** Where pins live (the gateway's store). */
export interface PinStore {
  get(connection: string, tool: string): Promise<PinRecord | undefined>;
  put(record: PinRecord): Promise<void>;
  list(connection: string): Promise<PinRecord[]>;
}

export type Visibility = 'visible' | 'hidden-new' | 'hidden-changed';

export interface PinDecision {
  readonly visibility: Visibility;
  /** A sentence for logs and `airlock tools list`. */
  readonly reason: string;
  readonly fingerprint: string;
  /** The record to store, or null when the stored one is already current. */
  readonly update: PinRecord | null;
}

export interface PinInput {
  /** The stored record for this connection and tool name, if any. */
  readonly pinned: PinRecord | undefined;
  readonly mode: PinMode;
  readonly connection: string;
  /** The definition as the upstream sent it now. */
  readonly tool: Tool;
  /** Epoch ms. Default Date.now(). */
  readonly now?: number;
}

const short = (fp: string) => fp.slice(0, 12);

/** Whether the tool may be shown now, and what to store. Pure. */
export function decidePin(input: PinInput): PinDecision {
  const { pinned, mode, connection, tool } = input;
  const now = input.now ?? Date.now();
  const fingerprint = toolFingerprint(tool);
  const approveCmd = `approve it with \`airlock tools approve ${connection} ${tool.name}\``;
  const approveNow = (base: PinRecord | undefined): PinRecord => ({
    connection, tool: tool.name, approved: fingerprint, approvedBy: 'first-use', approvedAt: now, pending: null, pendingSince: null, firstSeen: base?.firstSeen ?? now,
  });
  const withPending = (base: PinRecord | undefined): PinRecord | null => (base?.pending === fingerprint ? null : {
    connection, tool: tool.name, approved: base?.approved ?? null, approvedBy: base?.approvedBy ?? null, approvedAt: base?.approvedAt ?? null,
    pending: fingerprint, pendingSince: now, firstSeen: base?.firstSeen ?? now,
  });

  if (pinned === undefined || pinned.approved === null) {
    // A tool never approved: first-use trusts what it sees now; approval waits for an admin.
    if (mode === 'first-use') return { visibility: 'visible', reason: `first seen; pinned at ${short(fingerprint)}`, fingerprint, update: approveNow(pinned) };
    return { visibility: 'hidden-new', reason: `new tool awaiting approval (${short(fingerprint)}); ${approveCmd}`, fingerprint, update: withPending(pinned) };
  }
  if (pinned.approved === fingerprint) {
    const update = pinned.pending === null ? null : { ...pinned, pending: null, pendingSince: null };
    return { visibility: 'visible', reason: `matches the approved definition ${short(fingerprint)}`, fingerprint, update };
  }
  return {
    visibility: 'hidden-changed',
    reason: `definition changed since it was approved (${short(pinned.approved)} → ${short(fingerprint)}); hidden until an admin reviews it; ${approveCmd}`,
    fingerprint,
    update: withPending(pinned),
  };
}

/**
 * The record after an admin approves the pending definition. `fingerprint` is the one the admin
 * saw; if the tool changed again since, the approval is refused (GW_STORE_CONFLICT) rather than
 * approving a definition nobody looked at.
 */
export function approvePin(record: PinRecord, approval: { fingerprint: string; by: string; now?: number }): PinRecord {
  if (record.pending !== approval.fingerprint) {
    throw new GatewayError('GW_STORE_CONFLICT', `The definition of ${record.connection}/${record.tool} awaiting approval is ${record.pending === null ? 'none' : short(record.pending)}, not ${short(approval.fingerprint)}; list the tools again and approve what is shown.`);
  }
  return { ...record, approved: approval.fingerprint, approvedBy: approval.by, approvedAt: approval.now ?? Date.now(), pending: null, pendingSince: null };
}
