// JSON Merge Patch (RFC 7396): how a partial change to a connection is written. A member of the
// patch replaces the member of the target; `null` removes it (a field with a default then gets
// its default back); objects merge member by member; anything else (arrays included) replaces.
// Used by PATCH /api/v1/connections/<name> and by `airlock connections update`.

/** Deepest patch applied, in levels; deeper is refused (recursion stays bounded on hostile input). */
export const MERGE_PATCH_MAX_DEPTH = 100;

type JsonObject = { [key: string]: unknown };

function isObject(v: unknown): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Applies `patch` to `target` and returns the result; neither argument is modified.
 * Throws RangeError when the patch nests deeper than MERGE_PATCH_MAX_DEPTH.
 */
export function mergePatch(target: unknown, patch: unknown, depth = 1): unknown {
  if (!isObject(patch)) return patch;
  if (depth > MERGE_PATCH_MAX_DEPTH) throw new RangeError(`the patch is nested deeper than ${MERGE_PATCH_MAX_DEPTH} levels`);
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (key === '__proto__') continue; // never reached from parsed JSON, but a merge must not be the way in
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value, depth + 1);
  }
  return result;
}
