// The plain Kubernetes manifests (deploy/kubernetes/) and the Helm chart (deploy/helm/airlock/).
// No cluster and no helm here: `kubectl kustomize` (kubectl from Debian's kubernetes-client in CI,
// .ci/run) renders base and overlay for real; the chart's values are checked against its
// values.schema.json with ajv, its templates' .Values paths against values.yaml, and every
// embedded gateway and agent configuration through the real config loaders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { stringify } from 'yaml';
import { GatewayError } from '../../gateway/errors.ts';
import { AgentError } from '../../agent/errors.ts';
import { documents, loadAs, readYamlFile, ROOT } from './support.ts';

const CHART = 'deploy/helm/airlock';

function kustomize(dir: string): any[] {
  const out = execFileSync('kubectl', ['kustomize', join(ROOT, dir)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return documents(out);
}

function byKind(docs: any[], kind: string): any[] {
  return docs.filter((d) => d.kind === kind);
}

function configOf(docs: any[], name: string, key: string): string {
  const cm = byKind(docs, 'ConfigMap').find((d) => d.metadata.name === name);
  assert.ok(cm, `ConfigMap ${name} rendered`);
  assert.equal(typeof cm.data[key], 'string', `ConfigMap ${name} has ${key}`);
  return cm.data[key];
}

/** Pod-level checks every rendered Deployment must pass: non-root, read-only root, mounts and probes that resolve. */
function checkDeployments(docs: any[]): void {
  const configMaps = new Set(byKind(docs, 'ConfigMap').map((d) => d.metadata.name));
  const claims = new Set(byKind(docs, 'PersistentVolumeClaim').map((d) => d.metadata.name));
  const deployments = byKind(docs, 'Deployment');
  assert.deepEqual(deployments.map((d) => d.metadata.name).sort(), ['airlock-agent', 'airlock-gateway']);
  for (const d of deployments) {
    const pod = d.spec.template.spec;
    assert.equal(pod.securityContext.runAsNonRoot, true, `${d.metadata.name}: runAsNonRoot`);
    assert.deepEqual(d.spec.selector.matchLabels, Object.fromEntries(Object.entries(d.spec.template.metadata.labels).filter(([k]) => k in d.spec.selector.matchLabels)), `${d.metadata.name}: selector matches the pod`);
    const volumes = new Map<string, any>(pod.volumes.map((v: any) => [v.name, v]));
    for (const v of volumes.values()) {
      if (v.configMap) assert.ok(configMaps.has(v.configMap.name), `${d.metadata.name}: ConfigMap ${v.configMap.name} exists`);
      if (v.persistentVolumeClaim) assert.ok(claims.has(v.persistentVolumeClaim.claimName), `${d.metadata.name}: PVC exists`);
    }
    for (const c of pod.containers) {
      assert.equal(c.securityContext.readOnlyRootFilesystem, true, `${c.name}: read-only root filesystem`);
      assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
      for (const m of c.volumeMounts) assert.ok(volumes.has(m.name), `${c.name}: volume ${m.name} is declared`);
      const ports = new Set(c.ports.map((p: any) => p.name));
      for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe].filter(Boolean)) {
        assert.ok(ports.has(probe.httpGet.port), `${c.name}: probe port ${probe.httpGet.port} is a named port`);
      }
      // The --config file the container is started with is the one mounted from the ConfigMap.
      const config = c.args[c.args.indexOf('--config') + 1];
      assert.ok(c.volumeMounts.some((m: any) => m.mountPath === config), `${c.name}: ${config} is mounted`);
    }
  }
}

test('the kustomize base renders the chart defaults: the same gateway and agent configuration, valid for both loaders', () => {
  const docs = kustomize('deploy/kubernetes/base');
  assert.deepEqual(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort(), [
    'ConfigMap/airlock-agent', 'ConfigMap/airlock-gateway', 'Deployment/airlock-agent', 'Deployment/airlock-gateway',
    'HorizontalPodAutoscaler/airlock-gateway', 'PersistentVolumeClaim/airlock-agent', 'PodDisruptionBudget/airlock-gateway',
    'Service/airlock-gateway', 'ServiceAccount/airlock',
  ]);
  const values = readYamlFile(`${CHART}/values.yaml`);
  const gatewayText = configOf(docs, 'airlock-gateway', 'airlock.yaml');
  const agentText = configOf(docs, 'airlock-agent', 'airlock-agent.yaml');
  assert.deepEqual(documents(gatewayText)[0], values.gateway.config, 'the base gateway configuration is the chart\'s default');
  assert.deepEqual(documents(agentText)[0], values.agent.config, 'the base agent configuration is the chart\'s default');
  const gw = loadAs('gateway', gatewayText);
  assert.equal(gw.server.publicUrl, 'https://airlock.example.com');
  assert.equal(gw.server.behindTls, true);
  assert.equal(loadAs('agent', agentText).health.host, '0.0.0.0');
  checkDeployments(docs);
  // Secrets are the operator's: the manifests only refer to them.
  assert.equal(byKind(docs, 'Secret').length, 0);
  const gateway = byKind(docs, 'Deployment').find((d) => d.metadata.name === 'airlock-gateway');
  assert.equal(gateway.spec.replicas, undefined, 'the HPA owns the replica count');
  assert.deepEqual(gateway.spec.strategy.rollingUpdate, { maxUnavailable: 0, maxSurge: 1 });
  const grace = gw.server.shutdownGrace + Number(gateway.spec.template.spec.containers[0].lifecycle.preStop.exec.command[1]);
  assert.ok(gateway.spec.template.spec.terminationGracePeriodSeconds > grace, 'the kubelet waits past the gateway\'s own grace and the preStop sleep');
});

test('the example overlay renders with its namespace, images, scale and configurations, each valid', () => {
  const docs = kustomize('deploy/kubernetes/overlays/example');
  for (const d of docs) assert.equal(d.metadata.namespace, 'airlock', `${d.kind}/${d.metadata.name} in the namespace`);
  const images = byKind(docs, 'Deployment').map((d) => d.spec.template.spec.containers[0].image).sort();
  assert.deepEqual(images, ['ghcr.io/airlock-gateway/airlock-agent:0.1.0', 'ghcr.io/airlock-gateway/airlock-gateway:0.1.0']);
  assert.equal(byKind(docs, 'HorizontalPodAutoscaler')[0].spec.minReplicas, 3);
  const gw = loadAs('gateway', configOf(docs, 'airlock-gateway', 'airlock.yaml'));
  assert.equal(gw.auth.issuer, 'https://sso.corp.example/realms/staff');
  assert.deepEqual(gw.auth.roles.admin, ['platform-admins']);
  const agent = loadAs('agent', configOf(docs, 'airlock-agent', 'airlock-agent.yaml'));
  assert.deepEqual(agent.gateway.urls, ['https://airlock.corp.example']);
  checkDeployments(docs);
});

test('a configuration the gateway would refuse is caught by the same check (the check can fail)', () => {
  assert.throws(() => loadAs('gateway', 'server:\n  prot: 8080\n'), (err: unknown) => err instanceof GatewayError && err.code === 'GW_CONFIG_INVALID' && /server\.prot/.test(err.message));
  assert.throws(() => loadAs('agent', 'health:\n  port: "x"\n'), (err: unknown) => err instanceof AgentError && err.code === 'AGENT_CONFIG_INVALID' && /health\.port/.test(err.message));
});

function chartSchema() {
  const ajv = new Ajv({ allErrors: true, strict: true });
  return ajv.compile(JSON.parse(readFileSync(join(ROOT, CHART, 'values.schema.json'), 'utf8')));
}

test('the chart\'s values.yaml validates against values.schema.json, and the schema refuses what it should', () => {
  const validate = chartSchema();
  const values = readYamlFile(`${CHART}/values.yaml`);
  assert.equal(validate(values), true, JSON.stringify(validate.errors));
  const refused = (mutate: (v: any) => void, keyword: string, path: string) => {
    const v = structuredClone(values);
    mutate(v);
    assert.equal(validate(v), false);
    assert.ok(validate.errors!.some((e) => e.keyword === keyword && e.instancePath === path), `${keyword} at ${path}: ${JSON.stringify(validate.errors)}`);
  };
  refused((v) => { v.gateway.replica = 3; }, 'additionalProperties', '/gateway');
  refused((v) => { v.gateway.replicas = 0; }, 'minimum', '/gateway/replicas');
  refused((v) => { v.agent.name = 'Edge_1'; }, 'pattern', '/agent/name');
  refused((v) => { v.secrets.storeUrl = 'mysql://x'; }, 'pattern', '/secrets/storeUrl');
  refused((v) => { delete v.gateway.config.server.port; }, 'required', '/gateway/config/server');
});

test('the chart\'s embedded configurations are valid gateway and agent configurations', () => {
  const values = readYamlFile(`${CHART}/values.yaml`);
  assert.equal(loadAs('gateway', stringify(values.gateway.config)).recording.keyFile, '/etc/airlock/secrets/recording-key.pem');
  assert.equal(loadAs('agent', stringify(values.agent.config)).dataDir, '/var/lib/airlock-agent/agent');
});

test('every .Values path a template reads exists in values.yaml, and every include is defined', () => {
  const values = readYamlFile(`${CHART}/values.yaml`);
  const dir = join(ROOT, CHART, 'templates');
  const files = readdirSync(dir);
  assert.ok(files.includes('gateway-hpa.yaml') && files.includes('gateway-pdb.yaml') && files.includes('servicemonitor.yaml') && files.includes('secret.yaml'));
  const helpers = readFileSync(join(dir, '_helpers.tpl'), 'utf8');
  const defined = new Set([...helpers.matchAll(/define "([^"]+)"/g)].map((m) => m[1]));
  let paths = 0;
  for (const file of files) {
    const text = readFileSync(join(dir, file), 'utf8');
    for (const m of text.matchAll(/\.Values((?:\.[A-Za-z0-9_]+)+)/g)) {
      let node: any = values;
      for (const key of m[1]!.slice(1).split('.')) {
        assert.ok(node !== null && typeof node === 'object' && key in node, `${file}: .Values${m[1]} is not in values.yaml`);
        node = node[key];
      }
      paths++;
    }
    for (const m of text.matchAll(/include "([^"]+)"/g)) assert.ok(defined.has(m[1]), `${file}: include "${m[1]}" is defined in _helpers.tpl`);
  }
  assert.ok(paths > 50, `the extractor found the templates' value paths (${paths})`);
  const chart = readYamlFile(`${CHART}/Chart.yaml`);
  assert.equal(chart.apiVersion, 'v2');
  assert.equal(chart.appVersion, JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version, 'appVersion is the package version');
  assert.ok(existsSync(join(ROOT, CHART, 'values.schema.json')));
});
