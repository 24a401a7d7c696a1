// The bash grammar, loaded once from WASM (web-tree-sitter + tree-sitter-bash's .wasm build; the
// package's JS entry is a native binding and is never imported). A parse copies the tree into
// plain JS objects (`SNode`) and frees the WASM tree at once, so no WASM memory outlives a call
// and the rules work on ordinary objects. Every parse is bounded: by a deadline checked in
// tree-sitter's progress callback, and by a node count and depth while copying.
import { createRequire } from 'node:module';
import { Language, Parser, type Tree, type TreeCursor } from 'web-tree-sitter';

/** A syntax node copied out of the WASM tree. Offsets are UTF-16 code units into the parsed text. */
export interface SNode {
  readonly type: string;
  readonly start: number;
  readonly end: number;
  readonly named: boolean;
  /** Field name in the parent (`name`, `argument`, `redirect`, `body`, …), or null. */
  readonly field: string | null;
  /** A node tree-sitter inserted to recover from a syntax error. */
  readonly missing: boolean;
  readonly children: SNode[];
  readonly parent: SNode | null;
}

export type ParseOutcome =
  | { readonly ok: true; readonly root: SNode; readonly nodes: number; readonly truncated: boolean }
  | { readonly ok: false; readonly reason: 'timeout' | 'failed'; readonly detail: string };

/** Copying stops descending below this depth (the rest is reported as `inspect.limit`). */
export const MAX_TREE_DEPTH = 256;
/** Copying stops after this many nodes per parse. */
export const MAX_TREE_NODES = 200_000;

interface Loaded {
  parser: Parser;
  module: { HEAPU8?: Uint8Array };
}

let loaded: Loaded | undefined;
let loading: Promise<void> | undefined;

/** Loads web-tree-sitter and the bash grammar once; later calls return the same promise. */
export function loadBash(): Promise<void> {
  if (loading) return loading;
  loading = (async () => {
    // web-tree-sitter keeps one Emscripten module per process; the object passed here becomes it
    // (unless someone initialised it first), which is how `wasmHeapBytes` can read HEAPU8.
    const module: { HEAPU8?: Uint8Array } = {};
    await Parser.init(module);
    const require = createRequire(import.meta.url);
    const language = await Language.load(require.resolve('tree-sitter-bash/tree-sitter-bash.wasm'));
    const parser = new Parser();
    parser.setLanguage(language);
    loaded = { parser, module };
  })();
  // A failed load may be retried by a later call.
  loading.catch(() => { loading = undefined; });
  return loading;
}

/** True once `loadBash` has resolved. */
export function bashLoaded(): boolean {
  return loaded !== undefined;
}

/** Size of the WASM linear memory in bytes (it grows, never shrinks), or undefined if unknown. */
export function wasmHeapBytes(): number | undefined {
  return loaded?.module.HEAPU8?.length;
}

/**
 * Parses `text` as bash. `deadline` is a `performance.now()` value: the parse is cancelled when
 * tree-sitter's progress callback sees it passed. The caller caps the text's length, because
 * the callback is not consulted inside one long token.
 */
export function parseBash(text: string, deadline: number): ParseOutcome {
  if (!loaded) return { ok: false, reason: 'failed', detail: 'the bash grammar is not loaded' };
  const { parser } = loaded;
  const tree = parser.parse(text, null, { progressCallback: () => performance.now() > deadline });
  if (!tree) {
    // A cancelled parse resumes on the next call unless reset.
    parser.reset();
    return { ok: false, reason: 'timeout', detail: 'parsing exceeded the time budget' };
  }
  try {
    return copyTree(tree, deadline);
  } finally {
    tree.delete();
  }
}

/** Parents whose children's field names the rules read; other nodes skip that WASM call. */
const FIELD_PARENTS = new Set(['command', 'redirected_statement', 'function_definition', 'file_redirect', 'expansion', 'heredoc_redirect']);

/** Type names and namedness by type id, filled lazily (each lookup is a WASM call). */
interface TypeTable {
  readonly language: Language;
  readonly names: (string | undefined)[];
  readonly named: (boolean | undefined)[];
}

function copyTree(tree: Tree, deadline: number): ParseOutcome {
  // Only a tree with an error can hold MISSING nodes: skip that call per node otherwise.
  const mayMiss = tree.rootNode.hasError;
  const types: TypeTable = { language: tree.language, names: [], named: [] };
  const cursor = tree.walk();
  try {
    const root = nodeAt(cursor, null, types, mayMiss);
    let current = root;
    let depth = 0;
    let nodes = 1;
    let truncated = false;
    // Iterative pre-order walk: a deeply nested input must not exhaust the JS stack.
    for (;;) {
      if (cursor.gotoFirstChild()) {
        if (depth < MAX_TREE_DEPTH && nodes < MAX_TREE_NODES) {
          depth++;
          current = attach(cursor, current, types, mayMiss);
          nodes++;
          if ((nodes & 1023) === 0 && performance.now() > deadline) return { ok: false, reason: 'timeout', detail: 'reading the syntax tree exceeded the time budget' };
          continue;
        }
        truncated = true;
        cursor.gotoParent();
      }
      // No descent: the next sibling, climbing back up as needed.
      for (;;) {
        if (depth === 0) return { ok: true, root, nodes, truncated };
        const parent = current.parent ?? root;
        if (cursor.gotoNextSibling()) {
          if (nodes >= MAX_TREE_NODES) return { ok: true, root, nodes, truncated: true };
          if ((nodes & 1023) === 0 && performance.now() > deadline) return { ok: false, reason: 'timeout', detail: 'reading the syntax tree exceeded the time budget' };
          current = attach(cursor, parent, types, mayMiss);
          nodes++;
          break;
        }
        cursor.gotoParent();
        depth--;
        current = parent;
      }
    }
  } finally {
    cursor.delete();
  }
}

function attach(cursor: TreeCursor, parent: SNode, types: TypeTable, mayMiss: boolean): SNode {
  const node = nodeAt(cursor, parent, types, mayMiss);
  parent.children.push(node);
  return node;
}

function nodeAt(cursor: TreeCursor, parent: SNode | null, types: TypeTable, mayMiss: boolean): SNode {
  const id = cursor.nodeTypeId;
  let type = types.names[id];
  if (type === undefined) {
    type = types.language.nodeTypeForId(id) ?? 'ERROR';
    types.names[id] = type;
    types.named[id] = type === 'ERROR' || types.language.nodeTypeIsNamed(id);
  }
  return {
    type,
    start: cursor.startIndex,
    end: cursor.endIndex,
    named: types.named[id] ?? true,
    field: parent && FIELD_PARENTS.has(parent.type) ? cursor.currentFieldName : null,
    missing: mayMiss && cursor.nodeIsMissing,
    children: [],
    parent,
  };
}
