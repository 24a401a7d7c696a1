// Telling reviewers that a request waits for them: Slack incoming webhooks (Block Kit), Microsoft
// Teams (an Adaptive Card in a message), or generic JSON. Each webhook gets its own delivery with
// retries and exponential backoff; every attempt is written to the store (review_deliveries), with
// the webhook's origin only — an incoming-webhook URL's path is its secret.
//
// Outbound fetches are careful: a timeout per attempt, redirects refused, the answer body read
// only for the status. A delivery failing never blocks or fails the held request.
import type { Logger } from '../../lib/log.ts';
import type { ReviewRecord, Store } from '../store/index.ts';

export interface Webhook {
  readonly type: 'slack' | 'teams' | 'json';
  readonly url: string;
}

export interface NotifierOptions {
  readonly store: Store;
  readonly logger: Logger;
  readonly webhooks: readonly Webhook[];
  /** Attempts per webhook. Default 5. */
  readonly attempts?: number;
  /** Per-attempt timeout in ms. Default 5000. */
  readonly timeoutMs?: number;
  /** Backoff before attempt n+1 is baseDelayMs·2^(n-1), capped at 60 s. Default 1000. */
  readonly baseDelayMs?: number;
  /** Where reviewers act, e.g. the gateway's public URL. */
  readonly publicUrl: string;
  /** Link messages to the review's page in the web console (console.enabled) rather than its API URL. Default false. */
  readonly console?: boolean;
}

/**
 * The message each kind of webhook receives for a new review. Its button opens the review's page
 * in the web console when `console` (default false), else the review in the API.
 */
export function webhookPayload(type: Webhook['type'], review: ReviewRecord, publicUrl: string, toConsole = false): unknown {
  const summary = reviewSummary(review);
  const base = publicUrl.replace(/\/$/, '');
  const api = `${base}/api/v1/reviews/${review.id}`;
  const link = toConsole ? `${base}/console/reviews/${review.id}` : api;
  const command = `airlock reviews approve ${review.id}`;
  const facts = [
    ['Review', review.id], ['Connection', review.connection], ['Requested by', review.requester],
    ['Request', summary], ['Why', reasonOf(review)], ['Approvals needed', String(review.approvalsNeeded)],
    ['Reviewers', review.reviewers.length ? review.reviewers.join(', ') : 'anyone with the reviewer role'],
    ['Expires', new Date(review.expiresAt).toISOString()],
  ] as const;
  if (type === 'slack') {
    return {
      text: `airlock: ${review.requester} needs a review on ${review.connection} (${review.id})`,
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: 'A request waits for your review' } },
        { type: 'section', fields: facts.map(([k, v]) => ({ type: 'mrkdwn', text: `*${k}*\n${escapeSlack(v)}` })) },
        { type: 'section', text: { type: 'mrkdwn', text: `Decide with \`${command}\` or \`airlock reviews deny ${review.id} --reason …\`` } },
        { type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Open review' }, url: link }] },
      ],
    };
  }
  if (type === 'teams') {
    return {
      type: 'message',
      attachments: [{
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          body: [
            { type: 'TextBlock', size: 'Medium', weight: 'Bolder', text: 'A request waits for your review' },
            { type: 'FactSet', facts: facts.map(([title, value]) => ({ title, value })) },
            { type: 'TextBlock', wrap: true, text: `Decide with \`${command}\`` },
          ],
          actions: [{ type: 'Action.OpenUrl', title: 'Open review', url: link }],
        },
      }],
    };
  }
  return { event: 'review.requested', review: { id: review.id, connection: review.connection, requester: review.requester, request: summary, reason: reasonOf(review), approvalsNeeded: review.approvalsNeeded, reviewers: review.reviewers, expiresAt: review.expiresAt, url: link, api } };
}

export class Notifier {
  readonly #o: Required<NotifierOptions>;

  constructor(options: NotifierOptions) {
    this.#o = { attempts: 5, timeoutMs: 5000, baseDelayMs: 1000, console: false, ...options };
  }

  /** Delivers to every webhook in the background; resolves when all are done (tests await it). */
  notify(review: ReviewRecord): Promise<void> {
    return Promise.all(this.#o.webhooks.map((w) => this.#deliver(w, review))).then(() => {});
  }

  async #deliver(hook: Webhook, review: ReviewRecord): Promise<void> {
    const body = JSON.stringify(webhookPayload(hook.type, review, this.#o.publicUrl, this.#o.console));
    const target = new URL(hook.url).origin;
    for (let attempt = 1; attempt <= this.#o.attempts; attempt++) {
      let status: number | null = null;
      let error: string | null = null;
      try {
        const res = await fetch(hook.url, {
          method: 'POST', body, redirect: 'error', signal: AbortSignal.timeout(this.#o.timeoutMs),
          headers: { 'content-type': 'application/json', 'user-agent': 'airlock-reviews' },
        });
        status = res.status;
        await res.body?.cancel();
        if (!res.ok) error = `HTTP ${res.status}`;
      } catch (err) {
        error = (err as Error).name === 'TimeoutError' ? `no answer within ${this.#o.timeoutMs} ms` : `unreachable (${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message})`;
      }
      await this.#o.store.deliveries.add({ reviewId: review.id, attempt, channel: hook.type, target, ok: error === null, status, error, at: Date.now() })
        .catch((err: unknown) => this.#o.logger.error('recording a review notification failed', { review: review.id, err }));
      if (error === null) return;
      this.#o.logger.warn('review notification failed', { review: review.id, channel: hook.type, target, attempt, error });
      if (attempt < this.#o.attempts) await new Promise((r) => setTimeout(r, Math.min(60_000, this.#o.baseDelayMs * 2 ** (attempt - 1))));
    }
  }
}

/** One line saying what is asked: the method and path, or the tool. */
export function reviewSummary(review: ReviewRecord): string {
  const d = review.detail as { method?: string; path?: string; tool?: string };
  if (d.tool) return `tool ${d.tool}`;
  return `${d.method ?? '?'} ${d.path ?? '?'}`;
}

function reasonOf(review: ReviewRecord): string {
  const reasons = (review.detail as { reasons?: Array<{ reason?: string; message?: string }> }).reasons ?? [];
  return reasons.map((r) => r.message ?? r.reason).filter(Boolean).join('; ') || 'policy';
}

function escapeSlack(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
