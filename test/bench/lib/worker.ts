// Runs a server module in a worker thread so the load generator and the server do not share an
// event loop (the machine has 2 cores: one for each). The module's default export starts the
// server and returns its port and a close function.
import { Worker } from 'node:worker_threads';

export interface ServerInWorker {
  port: number;
  /** What the server module chose to report besides its port (e.g. a credential for the load). */
  info: unknown;
  /**
   * CPU time the worker's thread has used so far (user + system), in µs: the server's own cost,
   * whatever else runs on the machine. Work node hands to its thread pool (fs calls) is not in it.
   */
  cpu(): Promise<number>;
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
    cpu: () => new Promise<number>((resolve) => {
      const onMessage = (m: { cpu?: { user: number; system: number } }) => {
        if (m.cpu === undefined) return;
        worker.off('message', onMessage);
        resolve(m.cpu.user + m.cpu.system);
      };
      worker.on('message', onMessage);
      worker.postMessage('cpu');
    }),
    close: async () => {
      worker.postMessage('close');
      await new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    },
  };
}
