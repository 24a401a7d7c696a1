// The audit API. Auditors and admins see every session; a reviewer sees the sessions of requests
// they are asked to review (gateway/reviews/reviewers.ts); anyone else sees their own (another's
// answers 404, exactly as a missing one). Events come back as stored, hashes included, so the
// auditor's side (`airlock sessions verify`) checks the chain and signatures itself.
//
//   GET /api/v1/sessions?connection=&user=&since=&decision=&limit=   newest first
//   GET /api/v1/sessions/<id>                     the session
//   GET /api/v1/sessions/<id>/events?after=&limit=  a page of events, by seq
//   GET /api/v1/sessions/<id>/checkpoints         the signed checkpoints
//   GET /api/v1/recording-key                     the public keys that sign checkpoints (JWKS; no auth)
import type { Authenticator } from '../authn/authenticate.ts';
import type { Identity } from '../authn/identity.ts';
import { GatewayError } from '../errors.ts';
import { sendJson } from '../http/respond.ts';
import type { Router } from '../http/router.ts';
import type { RecordingKey } from '../recorder/keys.ts';
import type { SessionRecord, Store } from '../store/index.ts';
import { reviewsSession } from '../reviews/reviewers.ts';

export const SESSIONS_PATH = '/api/v1/sessions';
const ID = /^ses_[0-9a-f]{32}$/;

export function sessionView(s: SessionRecord) {
  return { ...s, startedAt: new Date(s.startedAt).toISOString(), endedAt: s.endedAt === null ? null : new Date(s.endedAt).toISOString() };
}

const seesAll = (identity: Identity) => identity.roles.includes('auditor') || identity.roles.includes('admin');

export function sessionRoutes(router: Router, store: Store, authenticator: Authenticator, key: RecordingKey): void {
  router.add('/api/v1/recording-key', { GET: (_req, res) => sendJson(res, 200, { keys: [key.publicJwk] }, { 'cache-control': 'max-age=300' }) });

  const visible = async (identity: Identity, id: string): Promise<SessionRecord> => {
    const session = ID.test(id) ? await store.sessions.get(id) : null;
    if (!session || (!seesAll(identity) && session.subject !== identity.sub && !(await reviewsSession(store, identity, session.id)))) {
      throw new GatewayError('GW_SESSION_NOT_FOUND', `There is no session ${JSON.stringify(id.slice(0, 80))} you may see; list yours with \`airlock sessions list\`.`);
    }
    return session;
  };

  router.addPrefix(SESSIONS_PATH, {
    GET: async (req, res, ctx) => {
      const identity = await authenticator.authenticate(req, ctx.url);
      const rest = ctx.path.slice(SESSIONS_PATH.length).split('/').filter(Boolean);
      const q = ctx.url.searchParams;
      if (rest.length === 0) {
        const user = q.get('user') ?? undefined;
        const subject = seesAll(identity) ? user : identity.sub;
        if (!seesAll(identity) && user !== undefined && user !== identity.sub) {
          throw new GatewayError('GW_FORBIDDEN', 'Only auditors and admins list the sessions of other users.');
        }
        const since = q.get('since');
        const sinceMs = since === null ? undefined : Date.parse(since);
        if (sinceMs !== undefined && Number.isNaN(sinceMs)) throw new GatewayError('GW_BAD_REQUEST', `since=${String(since).slice(0, 40)} is not a date (use ISO 8601, e.g. 2026-11-22T10:00:00Z).`);
        const decision = q.get('decision') ?? undefined;
        if (decision !== undefined && !['allow', 'mask', 'review', 'deny'].includes(decision)) throw new GatewayError('GW_BAD_REQUEST', 'decision must be allow, mask, review or deny.');
        const sessions = await store.sessions.list({
          ...(q.get('connection') ? { connection: q.get('connection')! } : {}), ...(subject ? { subject } : {}),
          ...(sinceMs !== undefined ? { since: sinceMs } : {}), ...(decision ? { decision } : {}), limit: intParam(q.get('limit'), 100, 1000, 'limit'),
        });
        sendJson(res, 200, { sessions: sessions.map(sessionView) });
        return;
      }
      const session = await visible(identity, rest[0]!);
      if (rest.length === 1) return sendJson(res, 200, sessionView(session));
      if (rest.length === 2 && rest[1] === 'events') {
        const events = await store.events.list(session.id, { afterSeq: intParam(q.get('after'), 0, Number.MAX_SAFE_INTEGER, 'after', 0), limit: intParam(q.get('limit'), 1000, 10_000, 'limit') });
        return sendJson(res, 200, { session: session.id, state: session.state, events });
      }
      if (rest.length === 2 && rest[1] === 'checkpoints') return sendJson(res, 200, { session: session.id, checkpoints: await store.checkpoints.list(session.id) });
      throw new GatewayError('GW_NOT_FOUND', `No route for ${ctx.path.slice(0, 200)}.`);
    },
  });
}

function intParam(raw: string | null, fallback: number, max: number, name: string, min = 1): number {
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!/^\d{1,16}$/.test(raw) || n < min || n > max) throw new GatewayError('GW_BAD_REQUEST', `${name} must be an integer from ${min} to ${max}.`);
  return n;
}
