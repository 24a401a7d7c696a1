// Worker side of startInWorker: start the module's server, report the port, report this thread's
// CPU time when asked ('cpu'), close on any other message.
import { parentPort, workerData } from 'node:worker_threads';

const { moduleUrl, arg } = workerData as { moduleUrl: string; arg: unknown };
try {
  const mod = (await import(moduleUrl)) as { default: (arg: unknown) => Promise<{ port: number; info?: unknown; close(): Promise<void> }> };
  const server = await mod.default(arg);
  parentPort!.postMessage({ port: server.port, info: server.info });
  parentPort!.on('message', async (message: unknown) => {
    if (message === 'cpu') {
      parentPort!.postMessage({ cpu: process.threadCpuUsage() });
      return;
    }
    await server.close();
    process.exit(0);
  });
} catch (err) {
  parentPort!.postMessage({ error: (err as Error)?.stack ?? String(err) });
}
