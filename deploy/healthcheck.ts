// The container HEALTHCHECK (deploy/Dockerfile): GET the process's own /healthz on loopback, exit
// 0 on 200, 1 otherwise, within 2 s. The images have no curl or wget; Node's fetch does it.
//
//   node deploy/healthcheck.ts gateway   http://127.0.0.1:$AIRLOCK_SERVER_PORT/healthz (default 8080)
//   node deploy/healthcheck.ts agent     http://127.0.0.1:$AIRLOCK_AGENT_HEALTH_PORT/healthz (default 8082)
const TIMEOUT_MS = 2000;
const which = process.argv[2];
const port = which === 'gateway' ? process.env.AIRLOCK_SERVER_PORT || '8080'
  : which === 'agent' ? process.env.AIRLOCK_AGENT_HEALTH_PORT || '8082'
    : undefined;
if (port === undefined) {
  process.stderr.write('usage: node deploy/healthcheck.ts gateway|agent\n');
  process.exit(2);
}
try {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'error' });
  process.exit(res.status === 200 ? 0 : 1);
} catch (err) {
  process.stderr.write(`healthcheck: ${which} on port ${port}: ${(err as Error).message}\n`);
  process.exit(1);
}
