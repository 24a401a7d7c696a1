// /mcp/<connection>: an MCP server over Streamable HTTP (the SDK's Server on a node:http
// transport, http-transport.ts), in front of the connection's tool source, with the firewall
// (firewall.ts) on every call.
//
//   authenticate (bearer; 401 with RFC 9728 metadata) ─► Origin allowed? ─► session: any request
//   but initialize must name a session of the same identity (`sub`) on the same connection (else
//   404); its credential becomes the session's, and the connection is re-checked (GW_ACCESS_REVOKED
//   ends the session) │ initialize: connection usable? ─► opens one (source + recording session)
//   ─► the SDK transport handles the JSON-RPC exchange ─► handlers below ─► firewall ─► source
//
// Authority is checked on every request and again on every call inside it (firewall.ts): every
// request is authenticated afresh (an expired or revoked credential gets the 401 challenge; a
// client that re-authenticates as the same `sub` continues the session, under the new token's
// groups), and the connection comes from the registry as it is now, so its current policy decides.
// The standalone GET stream ends at the credential's expiry.
//
// A session ends on DELETE, when idle for mcp.sessionIdle, when its connection is no longer the
// caller's, or when the gateway stops; its upstream session and recording session end with it.
//
// Replicas: a session is also a row in the store (sessions.ts), so a replica that receives a
// session id it does not hold rebuilds the session for the same identity (gateway/cluster/DESIGN.md
// "MCP sessions"); a DELETE or a revocation removes the row, idleness and a gateway stop do not.
//
// What the upstream sends besides answers goes through the firewall of its connection too:
// prompt, resource and template lists and completions (masked, or a JSON-RPC error), the text of
// the JSON-RPC errors it answers (masked, or airlock's sentence instead), its log
// messages and resource updates (masked, or dropped; relayed in the order they came), its
// sampling and elicitation requests to the caller's client (masked, or refused upstream).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema, CompleteRequestSchema, GetPromptRequestSchema, SubscribeRequestSchema, UnsubscribeRequestSchema, ListPromptsRequestSchema, ListResourcesRequestSchema, ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema, McpError, ReadResourceRequestSchema, isInitializeRequest, type ElicitRequestFormParams,
} from '@modelcontextprotocol/sdk/types.js';
import type { Identity } from '../authn/identity.ts';
import type { Connection } from '../connections/registry.ts';
import { GatewayError } from '../errors.ts';
import { readBody } from '../http/respond.ts';
import type { Router } from '../http/router.ts';
import type { AgentOpener } from '../agents/exchange.ts';
import type { Authenticator } from '../authn/authenticate.ts';
import type { ConnectionRegistry } from '../connections/registry.ts';
import { DEFAULT_MAX_DEPTH, scanJson, sessionMeta, type GuardDeps } from '../guard/index.ts';
import type { Logger } from '../../lib/log.ts';
import type { RecordingSession } from '../recorder/recorder.ts';
import type { Store } from '../store/index.ts';
import { parseJson } from '../../lib/json.ts';
import { VERSION } from '../version.ts';
import { AggregateCatalog, type Catalog } from './aggregate.ts';
import { askOverMcp } from './confirm.ts';
import { HttpServerTransport } from './http-transport.ts';
import { initParams, sessionOwnedElsewhere, TOUCH_MS, type StoredSession } from './sessions.ts';
import { Firewall, type Authority } from './firewall.ts';
import type { SourceFactory, ToolSource, UpstreamRelay } from './source.ts';

/** The recording session's connection for /mcp (all connections); not a DNS label, so never a connection's name. */
const AGGREGATE = '*';
/** Largest JSON-RPC body read, in bytes. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;
/** setTimeout's ceiling (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface McpDeps extends GuardDeps {
  readonly logger: Logger;
  readonly authenticator: Authenticator;
  readonly connections: ConnectionRegistry;
  readonly agents: AgentOpener;
  readonly store: Store;
  /** The tool source for each connection kind. */
  readonly sources: Readonly<Partial<Record<Connection['kind'], SourceFactory>>>;
}

/** The caller of a session as last authenticated: each request's fresh identity replaces it. */
interface Caller {
  identity: Identity;
}

interface Session {
  readonly id: string;
  readonly sub: string;
  readonly caller: Caller;
  readonly connection: string;
  readonly transport: HttpServerTransport;
  readonly sources: readonly ToolSource[];
  readonly recording: RecordingSession;
  lastUsed: number;
  /** When this replica last moved the store row's last_used_at (epoch ms). */
  touched: number;
  closing?: Promise<void>;
}

export function mcpRoutes(router: Router, deps: McpDeps): { close(): Promise<void> } {
  const sessions = new Map<string, Session>();
  const cfg = deps.config.mcp;
  const publicOrigin = new URL(deps.config.server.publicUrl ?? `http://localhost:${deps.config.server.port}`).origin;
  const origins = new Set([publicOrigin, ...cfg.allowedOrigins.map((o) => new URL(o).origin)]);

  /** Ends the session here; `forget`: everywhere (the store row goes, so no replica rebuilds it). */
  const end = (s: Session, why: string, forget = false): Promise<void> => {
    s.closing ??= (async () => {
      sessions.delete(s.id);
      if (forget) await deps.store.mcpSessions.remove(s.id).catch((err: unknown) => deps.logger.warn('removing an mcp session from the store failed', { err }));
      await s.transport.close().catch(() => {});
      await Promise.all(s.sources.map((x) => x.close().catch((err: unknown) => deps.logger.warn('closing an mcp upstream failed', { err }))));
      await deps.recording.recorder.end(s.recording, why).catch(() => {});
    })();
    return s.closing;
  };
  // A token holds until exp + auth.clockSkew here, as it does for authenticate: every request on a
  // session is authenticated, so the 401 challenge comes from there; a call held past that is refused.
  const tokenClock = () => Date.now() - deps.config.auth.clockSkew * 1000;
  const sweeper = setInterval(() => {
    const cutoff = Date.now() - cfg.sessionIdle * 1000;
    for (const s of sessions.values()) if (s.lastUsed < cutoff) void end(s, `idle for ${cfg.sessionIdle} s`);
    void deps.store.mcpSessions.sweep(cutoff).catch((err: unknown) => deps.logger.warn('sweeping idle mcp sessions failed', { err }));
  }, Math.min(60_000, cfg.sessionIdle * 250));
  sweeper.unref();

  const handle = async (req: IncomingMessage, res: ServerResponse, ctx: { requestId: string; url: URL }) => {
    const identity = await deps.authenticator.authenticate(req, ctx.url);
    const origin = req.headers.origin;
    if (origin !== undefined && !origins.has(origin)) {
      throw new GatewayError('GW_FORBIDDEN', `Origin ${origin.slice(0, 200)} may not call this MCP endpoint (DNS-rebinding protection); an admin can add it to mcp.allowedOrigins.`);
    }
    const name = /^\/mcp(?:\/([^/?]+))?\/?$/.exec(ctx.url.pathname);
    if (name === null) throw new GatewayError('GW_NOT_FOUND', 'Use /mcp/<connection> (one connection) or /mcp (every connection you may use).');
    const scope = name[1] === undefined ? AGGREGATE : decodeURIComponent(name[1]);
    const offered = req.headers['mcp-session-id'];
    if (typeof offered === 'string') {
      const session = sessions.get(offered) ?? await takeOver(offered, identity, scope, ctx.requestId);
      if (session !== undefined && session.sub !== identity.sub) throw sessionOwnedElsewhere();
      if (!session || session.connection !== scope) return sessionNotFound(res);
      session.caller.identity = identity; // a refreshed token (new exp, groups) decides from now on
      if (scope !== AGGREGATE) recheckOrEnd(session, scope);
      let body: unknown;
      try {
        body = req.method === 'POST' ? parseBody(await readBody(req, MAX_BODY_BYTES)) : undefined;
      } catch (err) {
        // Refused before the SDK read it: the session's recording says so.
        if (err instanceof GatewayError) await deps.recording.recorder.record(session.recording, 'error', { requestId: ctx.requestId, code: err.code, message: err.message });
        throw err;
      }
      session.lastUsed = Date.now();
      if (session.lastUsed - session.touched > Math.min(TOUCH_MS, cfg.sessionIdle * 250)) {
        session.touched = session.lastUsed;
        void deps.store.mcpSessions.touch(session.id, session.lastUsed).catch((err: unknown) => deps.logger.warn('touching an mcp session failed', { err }));
      }
      if (req.method === 'GET') endAtExpiry(identity, res);
      // Gone from the store before the client hears the DELETE answered, so no replica rebuilds it after.
      if (req.method === 'DELETE') await deps.store.mcpSessions.remove(session.id);
      await session.transport.handleRequest(req, res, body);
      return;
    }
    const connection = scope === AGGREGATE ? null : deps.connections.resolve(identity, scope);
    const body = req.method === 'POST' ? parseBody(await readBody(req, MAX_BODY_BYTES)) : undefined;
    if (req.method !== 'POST' || !isInitializeRequest(body)) {
      throw new GatewayError('GW_BAD_REQUEST', 'Start an MCP session with an initialize request (POST without Mcp-Session-Id); other requests name their session in Mcp-Session-Id.');
    }
    const mine = [...sessions.values()].filter((s) => s.sub === identity.sub).sort((a, b) => a.lastUsed - b.lastUsed);
    if (mine.length >= cfg.maxSessionsPerIdentity) await end(mine[0]!, 'the identity opened too many sessions; the oldest was closed', true);
    const init = initParams(body);
    const caller: Caller = { identity };
    const id = randomUUID();
    const opened = connection ? await open(caller, connection, ctx.requestId, body.params, { id }) : await openAggregate(caller, ctx.requestId, body.params, { id });
    try {
      // Before the client learns the id: a session no other replica could find is not handed out.
      const now = Date.now();
      await deps.store.mcpSessions.create({ id, subject: identity.sub, connection: scope, init, recording: opened.recording.id, createdAt: now, lastUsedAt: now });
    } catch (err) {
      await opened.close('the MCP session could not be stored');
      throw err;
    }
    deps.logger.info('mcp session started', { session: id, connection: scope, requestId: ctx.requestId });
    await opened.transport.handleRequest(req, res, body);
  };

  // A session id this replica does not hold: rebuilt from the store for the identity that started
  // it (another replica made it, or made it and died). One rebuild per id and caller at a time (by
  // caller too, so a stranger's refused attempt never fails the owner's request waiting on it).
  const rebuilding = new Map<string, Promise<Session | undefined>>();
  const takeOver = (id: string, identity: Identity, scope: string, requestId: string): Promise<Session | undefined> => {
    const key = JSON.stringify([id, identity.sub, scope]);
    const pending = rebuilding.get(key);
    if (pending) return pending;
    const work = (async () => {
      const stored = await deps.store.mcpSessions.get(id);
      if (!stored) return undefined;
      // The owner check comes before anything is opened: a stolen id opens nothing.
      if (stored.subject !== identity.sub) throw sessionOwnedElsewhere();
      if (stored.connection !== scope || stored.lastUsedAt < Date.now() - cfg.sessionIdle * 1000) return undefined;
      const from: StoredSession = { id, init: JSON.parse(stored.init) as unknown, recording: stored.recording };
      const caller: Caller = { identity };
      const connection = scope === AGGREGATE ? null : deps.connections.resolve(identity, scope);
      if (connection) await open(caller, connection, requestId, from.init, from);
      else await openAggregate(caller, requestId, from.init, from);
      deps.logger.info('mcp session taken over', { session: id, connection: scope, requestId });
      return sessions.get(id);
    })();
    rebuilding.set(key, work);
    return work.finally(() => rebuilding.delete(key));
  };

  /** A session on one connection the caller may no longer use ends: its upstream is theirs no more. */
  const recheckOrEnd = (session: Session, name: string): void => {
    try {
      deps.connections.recheck(session.caller.identity, name, tokenClock());
    } catch (err) {
      if (err instanceof GatewayError && err.code === 'GW_ACCESS_REVOKED') void end(session, 'the caller may no longer use the connection', true);
      throw err;
    }
  };

  /** `init`: the initialize params. */
  const clientOf = (init: unknown) => {
    const info = (init as { clientInfo?: { name?: unknown; version?: unknown } } | undefined)?.clientInfo;
    return typeof info?.name === 'string' ? `${info.name.slice(0, 100)} ${String(info.version ?? '').slice(0, 40)}`.trim() : null;
  };
  const openSource = async (identity: Identity, connection: Connection, relay?: UpstreamRelay): Promise<ToolSource> => {
    const factory = deps.sources[connection.kind];
    if (!factory || (connection.kind === 'http' && connection.openapi === undefined)) {
      throw new GatewayError('GW_BAD_REQUEST', `Connection ${connection.name} (${connection.kind}) has no MCP tools on this gateway${connection.kind === 'http' ? ' (it has no OpenAPI document)' : ''}.`);
    }
    return factory({ connection, identity, openStream: (agent, header) => deps.agents.open(agent, header), agents: deps.agents, logger: deps.logger.child({ connection: connection.name, mcp: true }), ...(relay ? { relay } : {}) });
  };

  /** The firewall's view of the caller and `name` now: the latest identity, re-checked against the registry. */
  const authorityOf = (caller: Caller, name: string): Authority => () => ({ identity: caller.identity, connection: deps.connections.recheck(caller.identity, name, tokenClock()) });

  /** A session on one connection; `init`: the client's initialize params; `from`: its id, and what to restore when another replica started it. */
  const open = async (caller: Caller, connection: Connection, requestId: string, init: unknown, from: StoredSession | { id: string }): Promise<Opened> => {
    const { identity } = caller;
    const recording = await deps.recording.recorder.open(sessionMeta(identity, connection, { mcp: true, client: clientOf(init), ...linkOf(from) }));
    // The upstream's sampling and elicitation requests reach the caller's client only if it said
    // it answers them; its answers go upstream through the firewall (inspected, masked, recorded).
    const wants = (init as { capabilities?: { sampling?: unknown; elicitation?: unknown } } | undefined)?.capabilities ?? {};
    let server: Server | undefined;
    let firewall: Firewall | undefined;
    // The request itself comes from the upstream, so it is inspected as an answer is.
    const relayed = async <P extends object, R extends object>(label: string, params: P, ask: (p: P) => Promise<R>): Promise<R> => {
      const id = randomUUID();
      return firewall!.checkPayload(label, await ask(await firewall!.checkPayload(label, params, id, 'response')), id, 'request');
    };
    const relay: UpstreamRelay = {
      ...(wants.sampling ? { createMessage: (params, signal) => relayed('sampling', params, (p) => server!.createMessage(p, { signal })) } : {}),
      ...(wants.elicitation ? { elicit: (params, signal) => relayed('elicitation', params, (p) => server!.elicitInput(p, { signal })) } : {}),
    } as UpstreamRelay;
    let source: ToolSource;
    try {
      source = await openSource(identity, connection, relay);
    } catch (err) {
      await deps.recording.recorder.record(recording, 'error', { requestId, code: (err as GatewayError).code ?? 'GW_INTERNAL', message: (err as Error).message }).catch(() => {});
      await deps.recording.recorder.end(recording, 'the MCP source could not be opened').catch(() => {});
      throw err;
    }
    firewall = new Firewall({ ...deps, pinMode: cfg.pinMode, descriptions: cfg.descriptions }, authorityOf(caller, connection.name), source, recording);
    const connected = await connect(caller, connection.name, firewall, [{ source, firewall }], recording, from, source);
    server = connected.server;
    return connected;
  };

  /** /mcp: a source and firewall per usable connection with MCP tools; one that fails to open is left out (and logged). */
  const openAggregate = async (caller: Caller, requestId: string, init: unknown, from: StoredSession | { id: string }): Promise<Opened> => {
    const { identity } = caller;
    const recording = await deps.recording.recorder.open({
      connection: AGGREGATE, kind: 'mcp', subject: identity.sub,
      metadata: { mcp: true, aggregate: true, client: clientOf(init), email: identity.email ?? null, via: identity.via, groups: [...identity.groups], ...linkOf(from) },
    });
    const firewalls = new Map<string, Firewall>();
    const sources: Guarded[] = [];
    for (const connection of deps.connections.visibleTo(identity)) {
      if (!deps.sources[connection.kind] || (connection.kind === 'http' && connection.openapi === undefined)) continue;
      try {
        const source = await openSource(identity, connection);
        const firewall = new Firewall({ ...deps, pinMode: cfg.pinMode, descriptions: cfg.descriptions }, authorityOf(caller, connection.name), source, recording);
        sources.push({ source, firewall });
        firewalls.set(connection.name, firewall);
      } catch (err) {
        deps.logger.warn('an mcp connection is left out of /mcp', { connection: connection.name, requestId, err });
      }
    }
    return connect(caller, AGGREGATE, new AggregateCatalog(firewalls, cfg.aggregateToolLimit, deps.logger), sources, recording, from);
  };

  /** The SDK server and transport of a new session; the session is registered once the transport has its id. */
  const connect = async (caller: Caller, scope: string, catalog: Catalog, guarded: Guarded[], recording: RecordingSession, from: StoredSession | { id: string }, single?: ToolSource): Promise<Opened> => {
    const server = buildServer(catalog, single, single ? catalog as Firewall : undefined);
    let session: Session | undefined;
    const sources = guarded.map((g) => g.source);
    const transport = new HttpServerTransport({
      sessionIdGenerator: () => from.id,
      onsessioninitialized: (id) => {
        session = { id, sub: caller.identity.sub, caller, connection: scope, transport, sources, recording, lastUsed: Date.now(), touched: Date.now() };
        sessions.set(id, session);
      },
    });
    const closeAll = async (why: string) => {
      if (session) return end(session, why);
      await transport.close().catch(() => {});
      await Promise.all(sources.map((x) => x.close().catch(() => {})));
      await deps.recording.recorder.end(recording, why).catch(() => {});
    };
    transport.onclose = () => { if (session) void end(session, 'the client closed the session', true); };
    // One chain per session: a notification waits for the decision on the one before it.
    let chain = Promise.resolve();
    for (const { source, firewall } of guarded) {
      source.onNotification?.((n) => {
        chain = chain.then(() => relayNotification(server, transport, firewall, n)).catch((err: unknown) => {
          deps.logger.error('an upstream notification was dropped: checking it failed', { connection: scope, err });
        });
      });
    }
    await server.connect(transport);
    if ('init' in from) {
      try {
        await transport.restore(from.init);
      } catch (err) {
        await closeAll('the MCP session could not be taken over');
        throw new GatewayError('GW_BAD_REQUEST', `The MCP session could not be resumed on this gateway (${(err as Error).message}); start a new session with initialize.`, { cause: err });
      }
    }
    return { transport, server, recording, close: closeAll };
  };

  router.addPrefix('/mcp', { GET: handle, POST: handle, DELETE: handle });
  return {
    close: async () => {
      clearInterval(sweeper);
      await Promise.all([...sessions.values()].map((s) => end(s, 'the gateway stopped')));
    },
  };
}

/** A session's transport and server, before or after its first request. */
interface Opened {
  readonly transport: HttpServerTransport;
  readonly server: Server;
  readonly recording: RecordingSession;
  /** Ends it here (before it is registered too). */
  close(why: string): Promise<void>;
}

/** What a recording session says of the MCP session it belongs to: its id, and the recording it continues (a takeover). */
function linkOf(from: StoredSession | { id: string }): { mcpSession: string; continues?: string } {
  return 'recording' in from ? { mcpSession: from.id, continues: from.recording } : { mcpSession: from.id };
}

type UpstreamNotification = Parameters<Parameters<NonNullable<ToolSource['onNotification']>>[0]>[0];

/** A connection's source with the firewall its calls and notifications go through. */
interface Guarded {
  readonly source: ToolSource;
  readonly firewall: Firewall;
}

/** One upstream notification to the caller, through the firewall: masked, or dropped (and recorded). */
async function relayNotification(server: Server, transport: HttpServerTransport, firewall: Firewall, n: UpstreamNotification): Promise<void> {
  if (n.kind === 'list_changed') { // nothing but its kind: nothing to inspect
    await (n.what === 'tools' ? server.sendToolListChanged() : n.what === 'prompts' ? server.sendPromptListChanged() : server.sendResourceListChanged()).catch(() => {});
  } else if (n.kind === 'resource_updated') {
    const checked = await firewall.checkNotification('resource_updated', { uri: n.uri }, { notification: 'resource_updated' });
    if (checked !== undefined && typeof checked.uri === 'string') await server.sendResourceUpdated({ uri: checked.uri }).catch(() => {});
  } else {
    const params = { level: n.level, data: n.data, ...(n.logger === undefined ? {} : { logger: n.logger }) };
    const checked = await firewall.checkNotification('log', params, { notification: 'log', level: n.level });
    // With the session id, the SDK drops messages below the level this session set (logging/setLevel).
    if (checked !== undefined) await server.sendLoggingMessage({ ...checked, level: n.level as 'info', ...(typeof checked.logger === 'string' ? { logger: checked.logger } : {}) }, transport.sessionId).catch(() => {});
  }
}

/** The SDK server of one session: every handler goes through the firewall (prompts and resources: one connection only). */
function buildServer(catalog: Catalog, source: ToolSource | undefined, firewall: Firewall | undefined): Server {
  const server = new Server({ name: 'airlock', version: VERSION }, {
    capabilities: {
      tools: { listChanged: true }, prompts: { listChanged: true }, logging: {},
      resources: { listChanged: true, ...(source?.subscribe ? { subscribe: true } : {}) },
      ...(source?.complete ? { completions: {} } : {}),
    },
    instructions: 'Tools behind airlock: every call is authenticated, inspected, checked against policy and recorded. A refused call explains why; a call held for review names the review.',
  });
  server.setRequestHandler(ListToolsRequestSchema, async (_req, extra) => ({ tools: await catalog.listTools(extra.signal) }));
  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const token = req.params._meta?.progressToken;
    const justification = (req.params._meta as { justification?: unknown } | undefined)?.justification;
    let ticks = 0;
    let heartbeat: NodeJS.Timeout | undefined;
    const progress = (p: { progress: number; total?: number; message?: string }) => {
      if (token !== undefined) void extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, ...p } }).catch(() => {});
    };
    try {
      return await catalog.callTool(req.params.name, req.params.arguments, typeof justification === 'string' ? justification.slice(0, 2000) : undefined, {
        signal: extra.signal, requestId: String(extra.requestId), onProgress: progress,
        // Policy action confirm: asked on this call's own stream, only of a client that declared form elicitation.
        ...(server.getClientCapabilities()?.elicitation?.form ? { confirm: (question: ElicitRequestFormParams, signal: AbortSignal) => askOverMcp(server, question, extra.requestId, signal) } : {}),
        onHeld: (reviewId) => {
          const message = `Held for human review ${reviewId}; a reviewer decides with \`airlock reviews approve ${reviewId}\`.`;
          progress({ progress: 0, message });
          heartbeat = setInterval(() => progress({ progress: ++ticks, message }), 5000);
          const elicitation = server.getClientCapabilities()?.elicitation;
          if (elicitation) {
            // Tells the user where the call waits; the answer does not matter and is not awaited.
            void server.elicitInput({ mode: 'form', message, requestedSchema: { type: 'object', properties: {} } }, { timeout: 1000 }).catch(() => {});
          }
        },
      });
    } finally {
      clearInterval(heartbeat);
    }
  });
  if (source && firewall) {
    const ctx = (extra: { signal: AbortSignal; requestId: string | number }) => ({ signal: extra.signal, requestId: String(extra.requestId) });
    // A JSON-RPC error the upstream answers carries its text too: through the firewall (checkError).
    const upstream = async <T>(label: string, requestId: string | number, run: () => Promise<T>): Promise<T> => {
      try {
        return await run();
      } catch (err) {
        throw err instanceof McpError ? await firewall.checkError(label, err, String(requestId)) : err;
      }
    };
    if (source.listPrompts) {
      server.setRequestHandler(ListPromptsRequestSchema, async (_r, extra) =>
        firewall.checkPayload('prompts/list', { prompts: await upstream('prompts/list', extra.requestId, () => source.listPrompts!(extra.signal)) }, String(extra.requestId)));
    }
    if (source.getPrompt) {
      server.setRequestHandler(GetPromptRequestSchema, async (req, extra) => {
        const label = `prompt:${req.params.name}`;
        return firewall.checkPayload(label, await upstream(label, extra.requestId, () => source.getPrompt!(req.params.name, req.params.arguments ?? {}, ctx(extra))), String(extra.requestId));
      });
    }
    if (source.listResources) {
      server.setRequestHandler(ListResourcesRequestSchema, async (_r, extra) =>
        firewall.checkPayload('resources/list', { resources: await upstream('resources/list', extra.requestId, () => source.listResources!(extra.signal)) }, String(extra.requestId)));
    }
    if (source.listResourceTemplates) {
      server.setRequestHandler(ListResourceTemplatesRequestSchema, async (_r, extra) =>
        firewall.checkPayload('resources/templates/list', { resourceTemplates: await upstream('resources/templates/list', extra.requestId, () => source.listResourceTemplates!(extra.signal)) }, String(extra.requestId)));
    }
    if (source.complete) {
      server.setRequestHandler(CompleteRequestSchema, async (req, extra) =>
        firewall.checkPayload('completion', await upstream('completion', extra.requestId, () => source.complete!(req.params, ctx(extra))), String(extra.requestId)));
    }
    if (source.subscribe) server.setRequestHandler(SubscribeRequestSchema, async (req, extra) => { await upstream('subscribe', extra.requestId, () => source.subscribe!(req.params.uri, ctx(extra))); return {}; });
    if (source.unsubscribe) server.setRequestHandler(UnsubscribeRequestSchema, async (req, extra) => { await upstream('unsubscribe', extra.requestId, () => source.unsubscribe!(req.params.uri, ctx(extra))); return {}; });
    if (source.readResource) {
      server.setRequestHandler(ReadResourceRequestSchema, async (req, extra) => {
        const label = `resource:${req.params.uri}`;
        return firewall.checkPayload(label, await upstream(label, extra.requestId, () => source.readResource!(req.params.uri, ctx(extra))), String(extra.requestId));
      });
    }
  }
  return server;
}

/**
 * A JSON-RPC body, read as the guard reads JSON (guard/json.ts): nested deeper than the guard
 * inspects, or with one key twice (the SDK, the firewall and an upstream could each take another
 * of its values), it is refused before anything reads it. GW_BAD_REQUEST either way.
 */
function parseBody(raw: Buffer): unknown {
  const text = raw.toString('utf8');
  const scan = scanJson(text, DEFAULT_MAX_DEPTH);
  if (scan.tooDeep) throw new GatewayError('GW_BAD_REQUEST', `The MCP request body is JSON nested deeper than ${DEFAULT_MAX_DEPTH} levels, more than airlock inspects; send flatter arguments.`);
  let body: unknown;
  try {
    body = parseJson(text);
  } catch {
    throw new GatewayError('GW_BAD_REQUEST', 'The MCP request body is not JSON.');
  }
  if (scan.duplicates.length > 0) {
    throw new GatewayError('GW_BAD_REQUEST', `The MCP request body has a key twice (at ${scan.duplicates.slice(0, 3).join(', ')}); readers disagree on which value counts, so it was refused. Send each key once.`);
  }
  return body;
}

/** Ends a long-lived response (the standalone GET stream) when the credential it came with expires; the client reconnects with a fresh one. */
function endAtExpiry(identity: Identity, res: ServerResponse): void {
  if (identity.expiresAt === null) return;
  const timer = setTimeout(() => res.end(), Math.min(Math.max(0, identity.expiresAt - Date.now()), MAX_TIMER_MS));
  timer.unref();
  res.once('close', () => clearTimeout(timer));
}

function sessionNotFound(res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found: it ended, or belongs to someone else; start a new session with initialize.' }, id: null }));
}
