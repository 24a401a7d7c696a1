// The reviews' tables: a review bound to one exact request, reviewers' votes (one per reviewer),
// and the record of every webhook delivery. Decisions are single statements guarded by status,
// so under races exactly one decider wins and an approval is never used more than allowed.
import type { Driver, Executor, Row } from './driver.ts';
import { parseJsonObject, parseJsonText, toJsonText } from './json.ts';
import { conflict, first, num, op, optNum, optStr, positiveInt, q, str } from './ops.ts';
import type { PinRecord, ReviewDelivery, ReviewRecord, ReviewStatus, ReviewVote, Store } from './types.ts';

const REVIEW_COLUMNS = 'id, session_id, connection, requester, request_hash, status, created_at, decided_at, decided_by, reason, expires_at, detail, approvals_needed, reviewers, uses_left, valid_until';
const DECISIONS: ReadonlySet<string> = new Set(['approved', 'denied', 'expired']);
const STATUSES: ReadonlySet<string> = new Set(['pending', ...DECISIONS]);

function toReview(r: Row, votes: ReviewVote[]): ReviewRecord {
  const reviewers = parseJsonText(r.reviewers, 'review reviewers');
  return {
    id: str(r.id), sessionId: optStr(r.session_id), connection: str(r.connection), requester: str(r.requester),
    requestHash: str(r.request_hash), status: str(r.status) as ReviewStatus, createdAt: num(r.created_at),
    decidedAt: optNum(r.decided_at), decidedBy: optStr(r.decided_by), reason: optStr(r.reason), expiresAt: num(r.expires_at),
    detail: parseJsonObject(r.detail, 'review detail'), approvalsNeeded: num(r.approvals_needed),
    reviewers: Array.isArray(reviewers) ? reviewers.map(String) : [], usesLeft: num(r.uses_left), validUntil: optNum(r.valid_until), votes,
  };
}

const PIN_COLUMNS = 'connection, tool, approved, approved_by, approved_at, pending, pending_since, first_seen';
function toPin(r: Row): PinRecord {
  return {
    connection: str(r.connection), tool: str(r.tool), approved: optStr(r.approved), approvedBy: optStr(r.approved_by), approvedAt: optNum(r.approved_at),
    pending: optStr(r.pending), pendingSince: optNum(r.pending_since), firstSeen: num(r.first_seen),
  };
}

function toVote(r: Row): ReviewVote {
  return { reviewer: str(r.reviewer), approve: num(r.approve) === 1, reason: optStr(r.reason), at: num(r.at), credential: optStr(r.credential) };
}

function toDelivery(r: Row): ReviewDelivery {
  return {
    reviewId: str(r.review_id), attempt: num(r.attempt), channel: str(r.channel), target: str(r.target), ok: num(r.ok) === 1,
    status: optNum(r.status), error: optStr(r.error), at: num(r.at),
  };
}

export function reviewRepos(driver: Driver, now: () => number): Pick<Store, 'reviews' | 'deliveries' | 'pins'> {
  const db: Executor = driver;

  async function load(ex: Executor, rows: Row[]): Promise<ReviewRecord[]> {
    const out: ReviewRecord[] = [];
    for (const r of rows) {
      const votes = (await ex.query('SELECT reviewer, approve, reason, at, credential FROM review_votes WHERE review_id = ? ORDER BY at, reviewer', [str(r.id)])).map(toVote);
      out.push(toReview(r, votes));
    }
    return out;
  }
  const getIn = async (ex: Executor, id: string) => (await load(ex, await ex.query(`SELECT ${REVIEW_COLUMNS} FROM reviews WHERE id = ?`, [id])))[0] ?? null;

  return {
    reviews: {
      create: (rec) => op(`store review ${q(rec.id)}`, async () => {
        positiveInt(rec.approvalsNeeded ?? 1, 'approvalsNeeded');
        positiveInt(rec.uses ?? 1, 'uses');
        const rows = await db.query(
          `INSERT INTO reviews (${REVIEW_COLUMNS}) VALUES (?, ?, ?, ?, ?, 'pending', ?, NULL, NULL, NULL, ?, ?, ?, ?, ?, NULL) RETURNING ${REVIEW_COLUMNS}`,
          [rec.id, rec.sessionId ?? null, rec.connection, rec.requester, rec.requestHash, now(), rec.expiresAt, toJsonText(rec.detail ?? {}, 'review detail'),
            rec.approvalsNeeded ?? 1, toJsonText([...(rec.reviewers ?? [])], 'review reviewers'), rec.uses ?? 1]);
        return toReview(rows[0]!, []);
      }, () => `review ${q(rec.id)} already exists`),
      get: (id) => op(`read review ${q(id)}`, () => getIn(db, id)),
      decide: async (id, d) => {
        if (!DECISIONS.has(d.status)) throw new TypeError(`a review decision is approved, denied or expired, got ${String(d.status)}`);
        // One statement, guarded by status: under a race exactly one decider changes the row.
        return op(`decide review ${q(id)}`, async () =>
          (await db.run(`UPDATE reviews SET status = ?, decided_at = ?, decided_by = ?, reason = ? WHERE id = ? AND status = 'pending'`,
            [d.status, d.at, d.by, d.reason ?? null, id])) > 0);
      },
      vote: (id, vote, { validityMs }) => op(`record a vote on review ${q(id)}`, () => driver.transaction(async (tx) => {
        const review = await getIn(tx, id);
        if (!review) return null;
        if (review.status !== 'pending') conflict(`review ${q(id)} is already ${review.status}; it cannot be voted on.`);
        // The primary key (review, reviewer) is what makes N approvals N people: a person's second
        // vote, through any credential, is a conflict.
        await tx.run('INSERT INTO review_votes (review_id, reviewer, approve, reason, at, credential) VALUES (?, ?, ?, ?, ?, ?)',
          [id, vote.reviewer, vote.approve ? 1 : 0, vote.reason, vote.at, vote.credential ?? null]);
        const approvals = review.votes.filter((v) => v.approve).length + (vote.approve ? 1 : 0);
        if (!vote.approve) {
          await tx.run(`UPDATE reviews SET status = 'denied', decided_at = ?, decided_by = ?, reason = ? WHERE id = ? AND status = 'pending'`,
            [vote.at, vote.reviewer, vote.reason, id]);
        } else if (approvals >= review.approvalsNeeded) {
          await tx.run(`UPDATE reviews SET status = 'approved', decided_at = ?, decided_by = ?, reason = ?, valid_until = ? WHERE id = ? AND status = 'pending'`,
            [vote.at, vote.reviewer, vote.reason, vote.at + validityMs, id]);
        }
        return getIn(tx, id);
      }), () => `${q(vote.reviewer)} has already voted on review ${q(id)}`),
      consume: (id, at) => op(`use the approval of review ${q(id)}`, async () =>
        (await db.run(`UPDATE reviews SET uses_left = uses_left - 1 WHERE id = ? AND status = 'approved' AND uses_left > 0 AND valid_until > ?`, [id, at])) > 0),
      refund: (id) => op(`give back a use of review ${q(id)}`, async () =>
        (await db.run(`UPDATE reviews SET uses_left = uses_left + 1 WHERE id = ? AND status = 'approved'`, [id])) > 0),
      forRequest: (requestHash, requester, at) => op('look up reviews of a request', async () => load(db, await db.query(
        `SELECT ${REVIEW_COLUMNS} FROM reviews WHERE request_hash = ? AND requester = ?
         AND ((status = 'pending' AND expires_at > ?) OR (status = 'approved' AND uses_left > 0 AND valid_until > ?)) ORDER BY created_at DESC, id`,
        [requestHash, requester, at, at]))),
      forSession: (sessionId) => op(`look up the reviews of session ${q(sessionId)}`, async () =>
        load(db, await db.query(`SELECT ${REVIEW_COLUMNS} FROM reviews WHERE session_id = ? ORDER BY created_at, id`, [sessionId]))),
      listPending: () => op('list pending reviews', async () =>
        load(db, await db.query(`SELECT ${REVIEW_COLUMNS} FROM reviews WHERE status = 'pending' ORDER BY created_at, id`))),
      list: async (filter = {}) => {
        const limit = filter.limit ?? 100;
        positiveInt(limit, 'limit');
        if (limit > 1000) throw new TypeError(`limit must be at most 1000, got ${limit}`);
        if (filter.status !== undefined && !STATUSES.has(filter.status)) throw new TypeError(`unknown review status ${String(filter.status)}`);
        return op('list reviews', async () => load(db, filter.status === undefined
          ? await db.query(`SELECT ${REVIEW_COLUMNS} FROM reviews ORDER BY created_at DESC, id LIMIT ?`, [limit])
          : await db.query(`SELECT ${REVIEW_COLUMNS} FROM reviews WHERE status = ? ORDER BY created_at DESC, id LIMIT ?`, [filter.status, limit])));
      },
    },
    pins: {
      get: (connection, tool) => op(`read the pin of ${q(connection)}/${q(tool)}`, async () => {
        const r = first(await db.query(`SELECT ${PIN_COLUMNS} FROM tool_pins WHERE connection = ? AND tool = ?`, [connection, tool]));
        return r ? toPin(r) : undefined;
      }),
      put: (p) => op(`store the pin of ${q(p.connection)}/${q(p.tool)}`, async () => {
        const values = [p.approved, p.approvedBy, p.approvedAt, p.pending, p.pendingSince];
        const changed = await db.run('UPDATE tool_pins SET approved = ?, approved_by = ?, approved_at = ?, pending = ?, pending_since = ? WHERE connection = ? AND tool = ?', [...values, p.connection, p.tool]);
        if (changed === 0) await db.run(`INSERT INTO tool_pins (${PIN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, [p.connection, p.tool, ...values, p.firstSeen]);
      }, () => `the pin of ${q(p.connection)}/${q(p.tool)} was written by someone else at the same time; list the tools again`),
      list: (connection) => op(`list the pins of ${q(connection)}`, async () =>
        (await db.query(`SELECT ${PIN_COLUMNS} FROM tool_pins WHERE connection = ? ORDER BY tool`, [connection])).map(toPin)),
    },
    deliveries: {
      add: (d) => op(`record a notification of review ${q(d.reviewId)}`, async () => {
        await db.run('INSERT INTO review_deliveries (review_id, attempt, channel, target, ok, status, error, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          [d.reviewId, d.attempt, d.channel, d.target, d.ok ? 1 : 0, d.status, d.error, d.at]);
      }),
      list: (reviewId) => op(`read notifications of review ${q(reviewId)}`, async () =>
        (await db.query('SELECT review_id, attempt, channel, target, ok, status, error, at FROM review_deliveries WHERE review_id = ? ORDER BY at, attempt', [reviewId])).map(toDelivery)),
    },
  };
}
