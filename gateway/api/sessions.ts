// The audit API. Auditors and admins see every session; a reviewer sees the sessions of requests
// they are asked to review (gateway/reviews/reviewers.ts); anyone else sees their own (another's
// answers 404, exactly as a missing one). Events come back as stored, hashes included, so the
// auditor's side (`airlock sessions verify`) checks the chain and signatures itself.
//
//   GET  /api/v1/sessions?connection=&user=&since=&until=&decision=&limit=   newest first
//   GET  /api/v1/sessions/<id>                     the session
//   GET  /api/v1/sessions/<id>/events?after=&limit=  a page of events, by seq
//   GET  /api/v1/sessions/<id>/checkpoints         the signed checkpoints
//   POST /api/v1/sessions/<id>/checkpoint          a fresh signed checkpoint of an open session (auditor, admin)
//   GET  /api/v1/ledger?since=&session=            the ledger's chains with their signed heads (auditor, admin)
//   GET  /api/v1/ledger/<chain>/entries?after=&limit=  a page of a chain's entries, by seq (auditor, admin)
//   GET  /api/v1/recording-key                     every recording key, current and retired, with its validity (JWKS; no auth)
import { ACTIONS } from '../policy/schema.ts';
import type { Authenticator } from '../authn/authenticate.ts';
import type { Identity } from '../authn/identity.ts';
import { GatewayError } from '../errors.ts';
import { sendJson } from '../http/respond.ts';
import type { Router } from '../http/router.ts';
import type { RecordingSystem } from '../recorder/index.ts';
import type { SessionRecord, Store } from '../store/index.ts';
import { reviewsSession } from '../reviews/reviewers.ts';
import { dateParam, intParam, isoDate } from './wire.ts';

export const SESSIONS_PATH = '/api/v1/sessions';
const ID = /^ses_[0-9a-f]{32}$/;
export const LEDGER_PATH = '/api/v1/ledger';
const CHAIN = /^[A-Za-z0-9._:-]{1,100}$/;

export function sessionView(s: SessionRecord) {
  return { ...s, startedAt: new Date(s.startedAt).toISOString(), endedAt: isoDate(s.endedAt) };
}

const seesAll = (identity: Identity) => identity.roles.includes('auditor') || identity.roles.includes('admin');

/** Sessions as an identity may list and read them: the API and the web console both go through these. */
export interface SessionAccess {
  /**
   * Sessions `identity` may list, newest first, by the API's query parameters (connection, user,
   * since, until, decision, limit: default 100, at most 1000); a bad one is GW_BAD_REQUEST.
   */
  list(identity: Identity, q: URLSearchParams): Promise<SessionRecord[]>;
  /** The session, or GW_SESSION_NOT_FOUND when there is none `identity` may see. */
  get(identity: Identity, id: string): Promise<SessionRecord>;
}

export function sessionAccess(store: Store): SessionAccess {
  return {
    async list(identity, q) {
      const user = q.get('user') ?? undefined;
      const subject = seesAll(identity) ? user : identity.sub;
      if (!seesAll(identity) && user !== undefined && user !== identity.sub) {
        throw new GatewayError('GW_FORBIDDEN', 'Only auditors and admins list the sessions of other users.');
      }
      const sinceMs = dateParam(q.get('since'), 'since');
      const untilMs = dateParam(q.get('until'), 'until');
      const decision = q.get('decision') ?? undefined;
      if (decision !== undefined && !(ACTIONS as readonly string[]).includes(decision)) throw new GatewayError('GW_BAD_REQUEST', `decision must be one of ${ACTIONS.join(', ')}.`);
      return store.sessions.list({
        ...(q.get('connection') ? { connection: q.get('connection')! } : {}), ...(subject ? { subject } : {}),
        ...(sinceMs !== undefined ? { since: sinceMs } : {}), ...(untilMs !== undefined ? { until: untilMs } : {}), ...(decision ? { decision } : {}), limit: intParam(q.get('limit'), 100, 1000, 'limit'),
      });
    },
    async get(identity, id) {
      const session = ID.test(id) ? await store.sessions.get(id) : null;
      if (!session || (!seesAll(identity) && session.subject !== identity.sub && !(await reviewsSession(store, identity, session.id)))) {
        throw new GatewayError('GW_SESSION_NOT_FOUND', `There is no session ${JSON.stringify(id.slice(0, 80))} you may see; list yours with \`airlock sessions list\`.`);
      }
      return session;
    },
  };
}

export function sessionRoutes(router: Router, store: Store, authenticator: Authenticator, recording: Pick<RecordingSystem, 'keys' | 'recorder'>): void {
  router.add('/api/v1/recording-key', { GET: (_req, res) => sendJson(res, 200, { keys: recording.keys.published }, { 'cache-control': 'max-age=300' }) });

  const auditor = (identity: Identity, what: string) => {
    if (!seesAll(identity)) throw new GatewayError('GW_FORBIDDEN', `Only auditors and admins ${what}.`);
  };

  const access = sessionAccess(store);
  const visible = access.get;

  router.addPrefix(SESSIONS_PATH, {
    GET: async (req, res, ctx) => {
      const identity = await authenticator.authenticate(req, ctx.url);
      const rest = ctx.path.slice(SESSIONS_PATH.length).split('/').filter(Boolean);
      const q = ctx.url.searchParams;
      if (rest.length === 0) {
        sendJson(res, 200, { sessions: (await access.list(identity, q)).map(sessionView) });
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
    // A fresh checkpoint: only the process recording the session holds its head in memory, so
    // only it signs; another replica answers GW_SESSION_ELSEWHERE. An ended session's final
    // checkpoint is its last word: it is returned as it is.
    POST: async (req, res, ctx) => {
      const identity = await authenticator.authenticate(req, ctx.url);
      const rest = ctx.path.slice(SESSIONS_PATH.length).split('/').filter(Boolean);
      if (rest.length !== 2 || rest[1] !== 'checkpoint') throw new GatewayError('GW_NOT_FOUND', `No route for POST ${ctx.path.slice(0, 200)}.`);
      auditor(identity, 'ask for a fresh checkpoint');
      const session = await visible(identity, rest[0]!);
      const fresh = await recording.recorder.checkpointNow(session.id);
      if (fresh) return sendJson(res, 200, { session: session.id, state: 'open', checkpoint: fresh });
      const now = await store.sessions.get(session.id);
      if (now && now.state !== 'open') return sendJson(res, 200, { session: session.id, state: now.state, checkpoint: (await store.checkpoints.list(session.id)).at(-1) ?? null });
      throw new GatewayError('GW_SESSION_ELSEWHERE', `Session ${session.id} is open but recorded by another gateway replica${now?.instance ? ` (${now.instance})` : ''}; only that one can sign its head. Retry (through another replica), or verify it up to its last checkpoint.`);
    },
  });

  router.addPrefix(LEDGER_PATH, {
    GET: async (req, res, ctx) => {
      const identity = await authenticator.authenticate(req, ctx.url);
      auditor(identity, 'read the recording ledger');
      const rest = ctx.path.slice(LEDGER_PATH.length).split('/').filter(Boolean);
      const q = ctx.url.searchParams;
      if (rest.length === 0) {
        const since = dateParam(q.get('since'), 'since');
        const session = q.get('session');
        if (session !== null && !ID.test(session)) throw new GatewayError('GW_BAD_REQUEST', 'session must be a session id (ses_ and 32 hex digits).');
        const chains = await store.ledger.chains({ ...(since !== undefined ? { since } : {}), ...(session !== null ? { session } : {}) });
        return sendJson(res, 200, { chains, heads: await store.ledger.heads(10_000) });
      }
      if (rest.length === 2 && rest[1] === 'entries' && CHAIN.test(rest[0]!)) {
        const entries = await store.ledger.entries(rest[0]!, { afterSeq: intParam(q.get('after'), 0, Number.MAX_SAFE_INTEGER, 'after', 0), limit: intParam(q.get('limit'), 1000, 10_000, 'limit') });
        return sendJson(res, 200, { chain: rest[0], entries });
      }
      throw new GatewayError('GW_NOT_FOUND', `No route for ${ctx.path.slice(0, 200)}.`);
    },
  });
}
