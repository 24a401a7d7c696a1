// Gathers the findings of one inspection and enforces its budgets. Walkers call `enter` for
// every AST node they descend into; past the node or depth budget it throws `InspectLimit`,
// which the entry point turns into an `inspect.limit` finding (fail closed) while keeping
// whatever was found before the limit.
import type { Finding, Severity, Span } from '../types.ts';

/** The SQL finding kinds this inspector emits (all listed in FINDING_KINDS). */
export type SqlKind =
  | 'sql.read' | 'sql.write' | 'sql.write.unbounded' | 'sql.ddl.create' | 'sql.ddl.drop'
  | 'sql.privilege' | 'sql.escape' | 'sql.procedural' | 'sql.server_config' | 'sql.multi_statement'
  | 'sql.obfuscation' | 'sql.transaction' | 'sql.other' | 'sql.unparsed' | 'inspect.limit' | 'inspect.error';

/** One severity per kind, so the same kind never carries two severities. */
export const SEVERITY: Readonly<Record<SqlKind, Severity>> = {
  'sql.read': 'info',
  'sql.write': 'low',
  'sql.write.unbounded': 'high',
  'sql.ddl.create': 'medium',
  'sql.ddl.drop': 'high',
  'sql.privilege': 'critical',
  'sql.escape': 'critical',
  // High: procedural code and dynamic SQL run statements that this inspection cannot see in full.
  'sql.procedural': 'high',
  'sql.server_config': 'high',
  'sql.multi_statement': 'low',
  'sql.obfuscation': 'critical',
  'sql.transaction': 'info',
  'sql.other': 'low',
  'sql.unparsed': 'high',
  'inspect.limit': 'high',
  'inspect.error': 'high',
};

export interface Budget {
  /** Most AST nodes visited over the whole inspection, embedded SQL included. */
  readonly maxNodes: number;
  /** Deepest AST nesting a walker descends into. */
  readonly maxDepth: number;
  /** Most findings kept; past it only the first finding of each new kind is added. */
  readonly maxFindings: number;
  /** Most characters of embedded SQL (bodies, EXECUTE strings) parsed, in UTF-16 code units. */
  readonly maxEmbeddedChars: number;
}

export class InspectLimit extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InspectLimit';
  }
}

export class Collector {
  readonly findings: Finding[] = [];
  readonly #seen = new Set<string>();
  readonly #kinds = new Set<string>();
  readonly #budget: Budget;
  #nodes = 0;
  #embeddedChars = 0;

  constructor(budget: Budget) {
    this.#budget = budget;
  }

  add(kind: SqlKind, detail: string, span?: Span): void {
    const key = `${kind}\u0000${detail}\u0000${span?.start ?? ''}:${span?.end ?? ''}`;
    if (this.#seen.has(key)) return;
    if (this.findings.length >= this.#budget.maxFindings && this.#kinds.has(kind)) return;
    this.#seen.add(key);
    this.#kinds.add(kind);
    this.findings.push({ kind, path: '$', severity: SEVERITY[kind], detail, ...(span ? { span } : {}) });
  }

  has(kind: SqlKind): boolean {
    return this.#kinds.has(kind);
  }

  /** Counts `chars` of embedded SQL about to be parsed; throws InspectLimit past the budget. */
  parse(chars: number): void {
    this.#embeddedChars += chars;
    if (this.#embeddedChars > this.#budget.maxEmbeddedChars) throw new InspectLimit(`more than ${this.#budget.maxEmbeddedChars} characters of embedded SQL`);
  }

  /** Counts one node at `depth`; throws InspectLimit past the budget. */
  enter(depth: number): void {
    if (++this.#nodes > this.#budget.maxNodes) throw new InspectLimit(`the statement has more than ${this.#budget.maxNodes} syntax nodes`);
    if (depth > this.#budget.maxDepth) throw new InspectLimit(`the statement nests deeper than ${this.#budget.maxDepth} levels`);
  }
}

/** An identifier or name made safe for a finding's detail: printable, at most 64 characters. */
export function label(name: unknown): string {
  const s = typeof name === 'string' ? name : String(name ?? '?');
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, '?');
  return clean.length > 64 ? `${clean.slice(0, 61)}...` : clean;
}
