// What a policy decision is about: the request as the data path (or `airlock policy eval`)
// describes it, who sent it, through which connection, and what the inspectors found.
import type { Finding } from '../inspect/types.ts';
import type { Direction, RequestKind } from './schema.ts';

export interface PolicyIdentity {
  readonly sub: string;
  readonly email: string | null;
  readonly name: string | null;
  readonly groups: readonly string[];
  readonly roles: readonly string[];
  readonly via: string;
}

export interface PolicyConnection {
  readonly name: string;
  readonly kind: string;
  readonly tags: readonly string[];
}

/** The request, as CEL sees it under `request`. Absent fields are simply missing (use has()). */
export interface PolicyRequest {
  readonly kind: RequestKind;
  readonly direction: Direction;
  readonly method?: string;
  readonly path?: string;
  readonly tool?: string;
  readonly args?: unknown;
  readonly sql?: string;
  readonly dialect?: string;
  readonly command?: string;
  /** A command given as argv (`["rm", "-rf", "/"]`): inspected as words, instead of `command` as text. */
  readonly argv?: readonly string[];
  readonly body?: unknown;
  readonly text?: string;
  readonly justification?: string;
  /**
   * HTTP headers as they would leave (names lower-case; a repeated header is an array), and the
   * query string's parameters (every value, in order). Inspected like a body, findings under
   * `$headers…` / `$query…` (gateway/inspect/parts.ts), and masked in place.
   */
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
  readonly query?: Readonly<Record<string, readonly string[]>>;
  /** The path's segments on the target, percent-decoded (requests only): `$segments[i]`, masked in place. */
  readonly segments?: readonly string[];
}

export interface EvalContext {
  readonly identity: PolicyIdentity | null;
  readonly connection: PolicyConnection | null;
  readonly request: PolicyRequest;
  readonly findings: readonly Finding[];
  /** Evaluation time, epoch ms. */
  readonly now: number;
  /** The limits' usage for this caller, by limit name (`usage.<name>.used/.remaining/.max` in CEL). Default none. */
  readonly usage?: Readonly<Record<string, { readonly used: number; readonly remaining: number; readonly max: number }>>;
}
