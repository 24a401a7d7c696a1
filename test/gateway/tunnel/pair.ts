// Test helpers: a real ws WebSocketServer on 127.0.0.1 port 0 and a real client, with a tunnel
// session on each end; and a raw client that speaks hand-made frames (for protocol violations).
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { TunnelSession, TUNNEL_WS_CLIENT_OPTIONS, TUNNEL_WS_SERVER_OPTIONS, type TunnelSessionOptions } from '../../../gateway/tunnel/session.ts';
import { decodeFrame, encodeHello, type Frame } from '../../../gateway/tunnel/frames.ts';

export type SideOptions = Omit<TunnelSessionOptions, 'role'>;

export interface Pair {
  client: TunnelSession;
  server: TunnelSession;
  /** The server end's raw WebSocket and upgrade request (to pause its socket, say). */
  serverWs: WebSocket;
  serverReq: IncomingMessage;
  close(): Promise<void>;
}

/** A listening WebSocketServer; `accept` receives every connection. */
export async function listenWs(accept: (ws: WebSocket, req: IncomingMessage) => void): Promise<{ url: string; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...TUNNEL_WS_SERVER_OPTIONS });
  wss.on('connection', accept);
  await once(wss, 'listening');
  const { port } = wss.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/tunnel`,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** A client session on a fresh WebSocket (created in the same tick, as TunnelSession requires). */
export function dialSession(url: string, options: SideOptions = {}): TunnelSession {
  return new TunnelSession(new WebSocket(url, TUNNEL_WS_CLIENT_OPTIONS), { role: 'client', ...options });
}

/** A connected client/server session pair, both ready. */
export async function connectPair(clientOptions: SideOptions = {}, serverOptions: SideOptions = {}): Promise<Pair> {
  let accepted: ((value: { server: TunnelSession; ws: WebSocket; req: IncomingMessage }) => void) | undefined;
  const serverSide = new Promise<{ server: TunnelSession; ws: WebSocket; req: IncomingMessage }>((resolve) => { accepted = resolve; });
  const listener = await listenWs((ws, req) => accepted!({ server: new TunnelSession(ws, { role: 'server', ...serverOptions }), ws, req }));
  const client = dialSession(listener.url, clientOptions);
  const { server, ws, req } = await serverSide;
  await Promise.all([client.ready, server.ready]);
  return {
    client,
    server,
    serverWs: ws,
    serverReq: req,
    close: async () => {
      await Promise.all([client.close(), server.close()]);
      await listener.close();
    },
  };
}

export interface RawPeer {
  ws: WebSocket;
  /** Frames received so far, decoded. */
  frames: Frame[];
  /** Resolves with the close code and reason the raw peer saw. */
  closed: Promise<{ code: number; reason: string }>;
  send(frame: Buffer | string): void;
  /** Waits (bounded, 2 s) until a received frame matches. */
  next(match: (frame: Frame) => boolean): Promise<Frame>;
}

/** A hand-driven WebSocket peer that sends whatever bytes a test gives it (the real wire, no session). */
export async function rawPeer(ws: WebSocket): Promise<RawPeer> {
  const frames: Frame[] = [];
  const waiters = new Set<() => void>();
  ws.on('message', (data: Buffer) => {
    frames.push(decodeFrame(Buffer.from(data)));
    for (const w of waiters) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));
  ws.on('error', () => {});
  if (ws.readyState === WebSocket.CONNECTING) await once(ws, 'open');
  return {
    ws,
    frames,
    closed,
    send: (frame) => ws.send(frame),
    next: (match) => new Promise<Frame>((resolve, reject) => {
      const check = () => {
        const found = frames.find(match);
        if (found === undefined) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => { waiters.delete(check); reject(new Error('no matching frame within 2 s')); }, 2000);
      waiters.add(check);
      check();
    }),
  };
}

/** A real server session (its options given) and a raw client connected to it. */
export async function sessionWithRawClient(serverOptions: SideOptions = {}): Promise<{ server: TunnelSession; raw: RawPeer; close(): Promise<void> }> {
  let accepted: ((s: TunnelSession) => void) | undefined;
  const serverSide = new Promise<TunnelSession>((resolve) => { accepted = resolve; });
  const listener = await listenWs((ws) => accepted!(new TunnelSession(ws, { role: 'server', ...serverOptions })));
  const raw = await rawPeer(new WebSocket(listener.url, TUNNEL_WS_CLIENT_OPTIONS));
  const server = await serverSide;
  return {
    server,
    raw,
    close: async () => {
      await server.close();
      raw.ws.terminate();
      await listener.close();
    },
  };
}

/** A valid version-1 HELLO. */
export const HELLO_V1 = encodeHello({ versions: [1], window: 256 * 1024 });
