// The compose file's demo service: the internal API `airlock dev` starts (cli/dev/demo-service.ts),
// customer records with fake cards, emails and SSNs, as a process of its own. It answers only
// DEMO_TOKEN, the credential the agent holds: a caller reaching it directly is refused.
//
//   DEMO_TOKEN  the bearer token it accepts (required)
//   DEMO_HOST   the address to bind (default 0.0.0.0: the container's every interface)
//   DEMO_PORT   the port to bind (default 8090)
import { onShutdownSignal } from '../../lib/cli.ts';
import { startDemoService } from '../../cli/dev/demo-service.ts';

const token = process.env.DEMO_TOKEN;
if (!token) {
  process.stderr.write('demo-service: DEMO_TOKEN is not set; set it to the bearer token the agent presents (the same value as the agent\'s credential for connection demo)\n');
  process.exit(2);
}
const demo = await startDemoService({ host: process.env.DEMO_HOST ?? '0.0.0.0', port: Number(process.env.DEMO_PORT ?? 8090), token });
process.stdout.write(`${JSON.stringify({ level: 'info', msg: 'demo service listening', url: demo.url })}\n`);
onShutdownSignal(demo.close);
