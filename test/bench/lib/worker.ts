// Runs a server module in a worker thread so the load generator and the server do not share an
// event loop (the machine has 2 cores: one for each). The module's default export starts the
// server and returns its port and a close function.
import { Worker } from 'node:worker_threads';

export interface ServerInWorker {
  port: number;
  /** What the server module chose to report besides its port (e.g. a credential for the load). */
  info: unknown;
  close(): Promise<void>;
}

/** `moduleUrl` default-exports `(arg) => Promise<{ port, close }>`. */
export async function startInWorker(moduleUrl: URL, arg: unknown = null): Promise<ServerInWorker> {
  const worker = new Worker(new URL('./worker-entry.ts', import.meta.url), { workerData: { moduleUrl: moduleUrl.href, arg } });
  const { port, info } = await new Promise<{ port: number; info: unknown }>((resolve, reject) => {
    worker.once('message', (m: { port?: number; info?: unknown; error?: string }) => (m.port ? resolve({ port: m.port, info: m.info }) : reject(new Error(m.error))));
    worker.once('error', reject);
  });
  return {
    port,
    info,
    close: async () => {
      worker.postMessage('close');
      await new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    },
  };
}
