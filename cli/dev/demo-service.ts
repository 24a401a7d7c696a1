// The demo internal service of `airlock dev`: a small HTTP JSON API of customer records that
// carry fake card numbers (Luhn-valid test numbers), emails and US SSNs, so masking, policy and
// recording have something realistic to act on. In-memory; nothing here is real data.
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listen, urlOf } from '../../lib/listen.ts';
import { handleDemoMcp } from './demo-mcp.ts';

export interface Customer {
  id: number;
  name: string;
  email: string;
  phone: string;
  ssn: string;
  card: string;
  plan: 'free' | 'team' | 'enterprise';
}

/** The records the service starts with. Card numbers are public test numbers; SSNs are made up. */
export const SEED_CUSTOMERS: readonly Customer[] = Object.freeze([
  { id: 1, name: 'Ada Lovelace', email: 'ada@example.com', phone: '+1 415 555 0101', ssn: '412-67-3390', card: '4111 1111 1111 1111', plan: 'enterprise' },
  { id: 2, name: 'Grace Hopper', email: 'grace.hopper@example.org', phone: '+1 212 555 0199', ssn: '287-45-1936', card: '5555 5555 5555 4444', plan: 'team' },
  { id: 3, name: 'Alan Turing', email: 'alan@example.net', phone: '+44 20 7946 0958', ssn: '655-38-2074', card: '3782 822463 10005', plan: 'free' },
  { id: 4, name: 'Katherine Johnson', email: 'kj@example.com', phone: '+1 757 555 0143', ssn: '536-22-8741', card: '6011 1111 1111 1117', plan: 'team' },
].map((c) => Object.freeze(c as Customer)));

/** Largest request body accepted, in bytes. */
const MAX_BODY = 64 * 1024;
/** Most records kept, so a runaway client cannot grow memory without bound. */
const MAX_RECORDS = 1000;

export interface DemoService {
  readonly url: string;
  close(): Promise<void>;
}

export interface DemoOptions {
  host?: string;
  port?: number;
  /**
   * The bearer token every request but /healthz must carry: the credential only the agent
   * holds, so a caller reaching the service directly is refused. Unset: no check.
   */
  token?: string;
}

export async function startDemoService(options: DemoOptions = {}): Promise<DemoService> {
  const expected = options.token === undefined ? undefined : Buffer.from(`Bearer ${options.token}`);
  const customers = new Map<number, Customer>(SEED_CUSTOMERS.map((c) => [c.id, { ...c }]));
  let nextId = SEED_CUSTOMERS.length + 1;

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => send(res, 500, { error: { code: 'DEMO_INTERNAL', message: (err as Error).message } }));
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { pathname } = new URL(req.url ?? '/', 'http://demo.invalid');
    const method = req.method ?? 'GET';
    if (pathname === '/healthz' && method === 'GET') return send(res, 200, { status: 'ok' });
    if (expected !== undefined) {
      const given = Buffer.from(req.headers.authorization ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return send(res, 401, { error: { code: 'DEMO_UNAUTHORIZED', message: 'the demo service answers only its own credential, which the airlock agent holds; go through the gateway: /proxy/demo/…' } });
      }
    }
    if (pathname === '/mcp') {
      // The demo MCP server (connection demo-mcp): JSON-RPC over Streamable HTTP, stateless.
      if (method !== 'POST') return send(res, 405, { error: { code: 'DEMO_METHOD', message: 'POST JSON-RPC to /mcp' } });
      const body = await readJson(req);
      if (body === undefined) return send(res, 400, { error: { code: 'DEMO_BAD_REQUEST', message: `send a JSON-RPC message of at most ${MAX_BODY} bytes` } });
      return handleDemoMcp(req, res, body, () => [...customers.values()]);
    }
    if (pathname === '/customers' && method === 'GET') return send(res, 200, { customers: [...customers.values()] });
    if (pathname === '/customers' && method === 'POST') {
      const body = await readJson(req);
      if (body === undefined) return send(res, 400, { error: { code: 'DEMO_BAD_REQUEST', message: `send a JSON object of at most ${MAX_BODY} bytes` } });
      if (typeof body.name !== 'string' || typeof body.email !== 'string') {
        return send(res, 400, { error: { code: 'DEMO_BAD_REQUEST', message: 'name and email are required strings' } });
      }
      if (customers.size >= MAX_RECORDS) return send(res, 507, { error: { code: 'DEMO_FULL', message: `the demo keeps at most ${MAX_RECORDS} records; delete some` } });
      const customer: Customer = {
        id: nextId++, name: body.name, email: body.email,
        phone: str(body.phone), ssn: str(body.ssn), card: str(body.card),
        plan: body.plan === 'team' || body.plan === 'enterprise' ? body.plan : 'free',
      };
      customers.set(customer.id, customer);
      return send(res, 201, customer);
    }
    const m = /^\/customers\/(\d{1,9})$/.exec(pathname);
    if (m) {
      const id = Number(m[1]);
      const customer = customers.get(id);
      if (!customer) return send(res, 404, { error: { code: 'DEMO_NOT_FOUND', message: `no customer ${id}` } });
      if (method === 'GET') return send(res, 200, customer);
      if (method === 'DELETE') {
        customers.delete(id);
        res.writeHead(204).end();
        return;
      }
    }
    send(res, 404, { error: { code: 'DEMO_NOT_FOUND', message: `no route for ${method} ${pathname}; try GET /customers` } });
  }

  const address = await listen(server, options.host ?? '127.0.0.1', options.port ?? 0, '--demo-port');
  let closing: Promise<void> | undefined;
  return {
    url: urlOf(address),
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function str(v: unknown): string {
  return typeof v === 'string' ? v.slice(0, 200) : '';
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return undefined;
    chunks.push(chunk);
  }
  try {
    const value: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
