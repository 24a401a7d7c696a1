// Name-value pairs as the query string and `application/x-www-form-urlencoded` bodies carry them.
// Both are inspected as their decoded parameters (a card written `4111%201111…` or `4111+1111…`
// is only a card once decoded), and both leave re-serialised from the parameters that were
// inspected, so a target cannot decode them another way (`;` as a separator, `%u0041`, a lone
// `%`): whatever it makes of the bytes, they are the bytes of what the guard saw.

/** Parameters grouped by name, every value in order: the form the inspectors and masking see. */
export type Params = Record<string, string[]>;

/**
 * A form body's pairs, decoded strictly: `+` is a space, and a percent-escape that is not valid
 * UTF-8 throws URIError (where URLSearchParams would silently substitute U+FFFD). Empty pieces
 * (`a&&b`) are skipped, as every reader skips them.
 */
export function parseForm(text: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const piece of text.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    const decode = (s: string) => decodeURIComponent(s.replaceAll('+', ' '));
    pairs.push(eq === -1 ? [decode(piece), ''] : [decode(piece.slice(0, eq)), decode(piece.slice(eq + 1))]);
  }
  return pairs;
}

export function groupPairs(pairs: ReadonlyArray<[string, string]>): Params {
  const out: Params = Object.create(null) as Params;
  for (const [k, v] of pairs) (out[k] ??= []).push(v);
  return { ...out };
}

/** The pairs again in their order, each value from the masked parameters (keys masked too: then grouped order). */
export function ungroup(pairs: ReadonlyArray<[string, string]>, masked: Params): Array<[string, string]> {
  const keys = new Set(pairs.map(([k]) => k));
  if (Object.keys(masked).length !== keys.size || Object.keys(masked).some((k) => !keys.has(k))) {
    return Object.entries(masked).flatMap(([k, vs]) => vs.map((v): [string, string] => [k, String(v)]));
  }
  const used = new Map<string, number>();
  return pairs.map(([k]) => {
    const i = used.get(k) ?? 0;
    used.set(k, i + 1);
    return [k, String(masked[k]![i])];
  });
}

/** `a=1&b=x+y`, encoded as URLSearchParams encodes (the form every reader decodes alike), or ''. */
export function serialisePairs(pairs: ReadonlyArray<[string, string]>): string {
  return new URLSearchParams(pairs as Array<[string, string]>).toString();
}
