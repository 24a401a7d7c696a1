// The guard: the stages every data path shares after routing. A data path (HTTP, WebSocket,
// MCP, the PostgreSQL listener in gateway/postgres/) adapts its protocol and describes its message; the
// guard normalises it, inspects it, decides on it, records it, holds it for a review and masks
// it. See DESIGN.md in this folder.
export { decideFor, inspectFor, type GuardDeps } from './decide.ts';
export { recordStep, redactFindings, sessionMeta, type Recording } from './record.ts';
export { reasonText, refuseUnlessAllowed } from './refuse.ts';
export { firstValue, judgeHttp, oversizeOutcome, type HeaderMap, type HttpMessage, type Judged } from './message.ts';
export { charsetOf, hiddenInValue, hiddenText, normaliseBody, readWholeKind, type NormalBody } from './normalise.ts';
export { limitsAfter, limitsBefore, limitsRoom, withLimits, type LimitedStep } from './limits-hook.ts';
export { DEFAULT_MAX_DEPTH, scanJson } from './json.ts';
