/**
 * `docker compose up` cannot run here (no Docker engine), so the files it reads are checked against each other and
 * against the processor's own configuration parser.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config.ts';
import { DATASOURCE_UID } from '../../grafana/dashboards.ts';

const repoFile = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const readYaml = <T>(path: string): T => parse(readFileSync(repoFile(path), 'utf8')) as T;

interface Service {
  profiles?: string[];
  image?: string;
  build?: { context: string; target?: string };
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: string[];
}
const compose = readYaml<{ services: Record<string, Service>; volumes?: Record<string, unknown> }>('docker-compose.yml');
const services = compose.services;
const service = (name: string): Service => {
  const found = services[name];
  assert.ok(found, `docker-compose.yml has a ${name} service`);
  return found;
};
/** A service's environment as `docker compose` would pass it, with `${NAME:-default}` taken from `host`. */
const interpolated = (svc: Service, host: Record<string, string> = {}): Record<string, string> => Object.fromEntries(
  Object.entries(svc.environment ?? {}).map(([name, value]) => [name,
    value.replace(/\$\{(\w+)(?::-([^}]*))?\}/g, (_whole, variable: string, fallback?: string) => host[variable] || (fallback ?? ''))]));
/** `HOST:CONTAINER` or `CONTAINER` -> the container port. */
const containerPorts = (svc: Service) => (svc.ports ?? []).map((mapping) => Number(mapping.split(':').at(-1)));
const mountTarget = (svc: Service, source: string) => svc.volumes?.map((volume) => volume.split(':'))
  .find(([from]) => from === source)?.[1];
const dockerfile = readFileSync(repoFile('Dockerfile'), 'utf8');
/** Dockerfile stages by name, each with its instructions. */
function stages(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(/^(?=FROM )/m).filter((chunk) => chunk.startsWith('FROM '))) {
    const name = /^FROM \S+ AS (\S+)/.exec(part)?.[1];
    if (name) out.set(name, part);
  }
  return out;
}

describe('docker-compose.yml', () => {
  it('runs the processor, the Collector, Prometheus, Grafana, the demo app and its stand-in provider', () => {
    assert.deepEqual(Object.keys(services).filter((name) => services[name]!.profiles === undefined).sort(),
      ['demo-app', 'grafana', 'otel-collector', 'processor', 'prometheus', 'stand-in-provider']);
    assert.match(service('otel-collector').image ?? '', /^otel\/opentelemetry-collector-contrib:/);
    assert.match(service('prometheus').image ?? '', /^prom\/prometheus:/);
    assert.match(service('grafana').image ?? '', /^grafana\/grafana:/);
  });

  it('pins every pulled image to a version (no :latest, no bare name) and builds the rest from the Dockerfile', () => {
    const built = stages(dockerfile);
    for (const [name, svc] of Object.entries(services)) {
      if (svc.build) {
        assert.equal(svc.build.context, '.', `${name} builds from the repo`);
        assert.ok(svc.build.target && built.has(svc.build.target), `${name}'s target ${svc.build.target} is a Dockerfile stage`);
        continue;
      }
      const tag = /^[^:]+:(.+)$/.exec(svc.image ?? '')?.[1];
      assert.ok(tag && tag !== 'latest' && /\d/.test(tag), `${name} pins its image: ${svc.image}`);
    }
    for (const from of dockerfile.matchAll(/^FROM (\S+)/gm)) {
      if (built.has(from[1]!)) continue;
      assert.match(from[1]!, /^node:24\.\d+\.\d+-/, `the Dockerfile pins node 24 exactly: ${from[1]}`);
    }
  });

  it('every bind-mounted path exists in the repo; every named volume is declared', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const volume of svc.volumes ?? []) {
        const [source] = volume.split(':');
        if (source!.startsWith('.') || source!.startsWith('/')) {
          assert.ok(existsSync(repoFile(source!)), `${name} mounts ${source}, which exists`);
        } else {
          assert.ok(compose.volumes && source! in compose.volumes, `${name}'s volume ${source} is declared`);
        }
      }
    }
  });

  it("the processor's environment is valid for src/config.ts, and its port is where Prometheus and the Collector send", () => {
    const processor = service('processor');
    const config = loadConfig(interpolated(processor));
    assert.equal(config.host, '0.0.0.0', 'listens beyond the container');
    assert.deepEqual(containerPorts(processor), [config.port]);
    assert.deepEqual(config.propertyLabels, ['plan', 'feature'], 'the labels the dashboards filter on');
    assert.ok(Object.keys(config.planPricesUsd).length > 0, 'plan prices for the profit panels');

    const prometheus = readYaml<{ scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }>;
      dns_sd_configs?: Array<{ names: string[]; type: string; port: number }> }> }>('prometheus/prometheus.yml');
    const job = prometheus.scrape_configs.find((scrape) => scrape.job_name === 'llm-user-metrics');
    assert.deepEqual(job?.static_configs.flatMap((group) => group.targets), [`processor:${config.port}`]);
    // The replicas profile's processors are scraped in the same job (the dashboards and alerts select on it).
    const replicas = Object.entries(services).filter(([, svc]) => svc.profiles?.includes('replicas') && svc.environment?.LEDGER_URL !== undefined);
    assert.equal(replicas.length, 2);
    assert.deepEqual(job?.dns_sd_configs?.flatMap((sd) => sd.names.map((name) => `${name}:${sd.port}`)).sort(),
      replicas.map(([name, svc]) => `${name}:${loadConfig(interpolated(svc)).port}`).sort());

    const collector = readYaml<{ exporters: Record<string, { endpoint?: string }>; service: { pipelines: Record<string, { receivers: string[]; processors: string[]; exporters: string[] }> } }>('collector/config.yaml');
    const traces = collector.service.pipelines.traces;
    assert.ok(traces, 'the Collector has a traces pipeline');
    assert.deepEqual(traces.receivers, ['otlp']);
    assert.ok(traces.processors.includes('batch'), 'spans are batched');
    assert.equal(traces.exporters.length, 1);
    const exporter = traces.exporters[0]!;
    assert.match(exporter, /^otlphttp(\/|$)/);
    assert.equal(collector.exporters[exporter]?.endpoint, `http://processor:${config.port}`);
  });

  it('INGEST_TOKEN on the host closes ingest: the processor requires it and the Collector sends it', () => {
    const token = 'a-token-from-the-host-0123';
    assert.deepEqual(loadConfig(interpolated(service('processor'), { INGEST_TOKEN: token })).ingestTokens, [token]);
    assert.deepEqual(loadConfig(interpolated(service('processor'))).ingestTokens, [], 'unset: open');
    assert.equal(interpolated(service('otel-collector'), { INGEST_TOKEN: token }).INGEST_TOKEN, token);
    const collector = readYaml<{ exporters: Record<string, { headers?: Record<string, string> }> }>('collector/config.yaml');
    assert.equal(collector.exporters['otlphttp/llm-user-metrics']?.headers?.Authorization, 'Bearer ${env:INGEST_TOKEN}');
  });

  it('the Collector, Prometheus and Grafana read their config where it is mounted', () => {
    const collector = service('otel-collector');
    const configArg = collector.command?.find((arg) => arg.startsWith('--config='))?.slice('--config='.length);
    assert.equal(configArg, mountTarget(collector, './collector/config.yaml'));

    const prometheus = service('prometheus');
    const configFile = prometheus.command?.find((arg) => arg.startsWith('--config.file='))?.slice('--config.file='.length);
    assert.equal(configFile, `${mountTarget(prometheus, './prometheus')}/prometheus.yml`);

    const grafana = service('grafana');
    assert.equal(mountTarget(grafana, './grafana/provisioning'), '/etc/grafana/provisioning');
    const home = grafana.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? '';
    const dashboards = mountTarget(grafana, './grafana/dashboards')!;
    assert.ok(home.startsWith(`${dashboards}/`) && existsSync(repoFile(`grafana/dashboards/${home.slice(dashboards.length + 1)}`)),
      `the home dashboard ${home} is a mounted file`);
    const datasource = readYaml<{ datasources: Array<{ uid: string; url: string }> }>('grafana/provisioning/datasources/prometheus.yml');
    assert.equal(datasource.datasources[0]!.uid, DATASOURCE_UID, 'the uid every panel uses');
    assert.equal(datasource.datasources[0]!.url, `http://prometheus:${containerPorts(prometheus)[0]}`);
  });

  it('the demo app sends to the Collector and calls the stand-in provider, loading our instrumentation first', () => {
    const demo = service('demo-app');
    const env = demo.environment ?? {};
    const collectorHttpPort = readYaml<{ receivers: { otlp: { protocols: { http: { endpoint: string } } } } }>('collector/config.yaml')
      .receivers.otlp.protocols.http.endpoint.split(':').at(-1);
    assert.equal(env.OTEL_EXPORTER_OTLP_ENDPOINT, `http://otel-collector:${collectorHttpPort}`);
    const provider = service('stand-in-provider');
    assert.equal(env.OPENAI_BASE_URL, `http://stand-in-provider:${provider.environment?.PORT}/v1`);
    assert.deepEqual(demo.command?.slice(0, 3), ['node', '--import', 'llm-user-metrics/instrumentation']);
    assert.ok(existsSync(repoFile(demo.command![3]!)), `${demo.command![3]} exists`);
    assert.ok(existsSync(repoFile(provider.command!.at(-1)!)), `${provider.command!.at(-1)} exists`);
    assert.ok(!Object.keys(env).some((name) => /KEY|TOKEN|SECRET|PASSWORD/i.test(name)), 'no credentials in the compose file');
  });

  it("the replicas profile: two processors on one PostgreSQL ledger, each trace routed to one of them", () => {
    const replicas = ['processor-replica-1', 'processor-replica-2'];
    const postgres = service('postgres');
    const database = interpolated(postgres);
    for (const name of replicas) {
      assert.deepEqual(service(name).profiles, ['replicas']);
      const config = loadConfig(interpolated(service(name)));
      const url = new URL(config.ledgerUrl);
      assert.equal(url.hostname, 'postgres', `${name} uses the profile's PostgreSQL`);
      assert.equal(decodeURIComponent(url.username), database.POSTGRES_USER);
      assert.equal(decodeURIComponent(url.password), database.POSTGRES_PASSWORD);
      assert.equal(url.pathname, `/${database.POSTGRES_DB}`);
      assert.ok(service(name).depends_on?.includes('postgres'));
    }
    assert.equal(loadConfig(interpolated(service('processor-replica-1'), { POSTGRES_PASSWORD: 'other-secret' })).ledgerUrl,
      'postgres://llm:other-secret@postgres:5432/usage', 'POSTGRES_PASSWORD on the host reaches both sides');
    assert.equal(interpolated(postgres, { POSTGRES_PASSWORD: 'other-secret' }).POSTGRES_PASSWORD, 'other-secret');

    const balancer = readYaml<{ exporters: Record<string, { routing_key?: string; protocol?: { otlp?: unknown }; resolver?: { static?: { hostnames: string[] } } }>;
      service: { pipelines: { traces: { exporters: string[] } } } }>('collector/replicas.yaml');
    const [exporterName] = balancer.service.pipelines.traces.exporters;
    assert.match(exporterName!, /^loadbalancing/);
    const exporter = balancer.exporters[exporterName!]!;
    assert.equal(exporter.routing_key, 'traceID', 'all spans of a trace reach one replica (ancestor attribution)');
    const front = service('otel-collector-replicas');
    assert.equal(front.command?.find((arg) => arg.startsWith('--config='))?.slice('--config='.length), mountTarget(front, './collector/replicas.yaml'));
    // The balancer speaks OTLP/gRPC to a Collector per replica, which forwards OTLP/HTTP to its processor.
    const sidecar = readYaml<{ receivers: { otlp: { protocols: { grpc: { endpoint: string } } } }; exporters: Record<string, { endpoint: string }> }>('collector/replica-sidecar.yaml');
    const sidecarPort = sidecar.receivers.otlp.protocols.grpc.endpoint.split(':').at(-1);
    const hostnames = exporter.resolver?.static?.hostnames ?? [];
    assert.equal(hostnames.length, replicas.length);
    hostnames.forEach((hostname, index) => {
      const [host, port] = hostname.split(':');
      assert.equal(port, sidecarPort);
      const forwarder = service(host!);
      assert.equal(forwarder.command?.find((arg) => arg.startsWith('--config='))?.slice('--config='.length), mountTarget(forwarder, './collector/replica-sidecar.yaml'));
      const replicaPort = loadConfig(interpolated(service(replicas[index]!))).port;
      assert.equal(interpolated(forwarder).PROCESSOR_ENDPOINT, `http://${replicas[index]}:${replicaPort}`);
    });
    assert.deepEqual(Object.values(sidecar.exporters).map((forward) => forward.endpoint), ['${env:PROCESSOR_ENDPOINT}']);
  });
});

describe('Dockerfile', () => {
  const built = stages(dockerfile);

  it('the default (last) stage is the processor: production dependencies, node src/main.ts on 0.0.0.0', () => {
    const last = [...built.keys()].at(-1);
    assert.equal(last, 'processor');
    const processor = built.get('processor')!;
    assert.match(processor, /npm ci --omit=dev/);
    assert.match(processor, /HOST=0\.0\.0\.0/);
    assert.match(processor, /CMD \["node", "src\/main\.ts"\]/);
    assert.match(processor, /USER node/);
    for (const copied of processor.matchAll(/^COPY (?!--from=)(\S+)/gm)) assert.ok(existsSync(repoFile(copied[1]!)), `${copied[1]} exists`);
  });

  it('the processor image carries the Users page, built in a stage of its own', () => {
    const processor = built.get('processor')!;
    assert.match(processor, /^COPY --from=ui \/app\/dist\/ui \.\/dist\/ui$/m, 'served from <package>/dist/ui (src/receive/ui-route.ts)');
    const ui = built.get('ui')!;
    assert.match(ui, /RUN npm ci\n/);
    assert.match(ui, /RUN npm run build:ui/);
    for (const copied of ui.matchAll(/^COPY (\S+)/gm)) assert.ok(existsSync(repoFile(copied[1]!)), `${copied[1]} exists`);
  });

  it('the demo stage builds the instrumentation the app loads by package name', () => {
    const demo = built.get('demo')!;
    assert.match(demo, /RUN npm ci\n/);
    assert.match(demo, /RUN npm run build/);
    const manifest = JSON.parse(readFileSync(repoFile('package.json'), 'utf8')) as { name: string; scripts: Record<string, string>; exports: Record<string, unknown> };
    assert.equal(manifest.name, 'llm-user-metrics');
    assert.ok(manifest.scripts.build, 'package.json has a build script');
    assert.ok(manifest.exports['./instrumentation'] && manifest.exports['.'], 'the package exports the entries the demo imports');
  });

  it('.dockerignore keeps dependencies, builds and data out of the build context', () => {
    const ignored = readFileSync(repoFile('.dockerignore'), 'utf8').split('\n').map((line) => line.trim());
    for (const path of ['node_modules', 'dist', 'data', '.git']) assert.ok(ignored.includes(path), `${path} is ignored`);
  });
});
