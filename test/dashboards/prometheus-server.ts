import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One sample vector or matrix element as Prometheus' HTTP API returns it. */
export interface PromSeries {
  readonly metric: Record<string, string>;
  readonly value?: [number, string];
  readonly values?: Array<[number, string]>;
}

export interface RunningPrometheus {
  readonly url: string;
  /** Instant query at `time` (Unix seconds, default now); throws with Prometheus' error text when it fails. */
  query(expr: string, time?: number): Promise<PromSeries[]>;
  queryRange(expr: string, start: number, end: number, stepSeconds: number): Promise<PromSeries[]>;
  /** Values of one label over the series matched by `match` (what Grafana's label_values() asks). */
  labelValues(label: string, match: string): Promise<string[]>;
  /** Polls an instant query until `accept` says yes, or throws after `timeoutMs` naming the query. */
  waitFor(expr: string, accept: (series: PromSeries[]) => boolean, timeoutMs?: number): Promise<PromSeries[]>;
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  /** host:port targets of job "llm-user-metrics", scraped every second. */
  readonly targets: readonly string[];
  /** Absolute paths of rule files, evaluated every second. */
  readonly ruleFiles: readonly string[];
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port from a listening socket');
  return address.port;
}

export function prometheusConfig(options: PrometheusOptions): string {
  return JSON.stringify({
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    rule_files: options.ruleFiles,
    scrape_configs: [{ job_name: 'llm-user-metrics', static_configs: [{ targets: options.targets }] }],
  }, null, 2);
}

/**
 * Starts the real `prometheus` binary (Debian package `prometheus`, see scripts/ensure-promtool.sh) on 127.0.0.1, a
 * free port, a temporary config (JSON is YAML) and a temporary data directory, both removed by stop().
 */
export async function startPrometheus(options: PrometheusOptions): Promise<RunningPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'llm-user-metrics-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, prometheusConfig(options));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let log = '';
  let child: ChildProcess;
  try {
    child = spawn('prometheus', [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { log += chunk; });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { log += chunk; });
  const spawnFailed = new Promise<never>((_, reject) => {
    child.once('error', (error) => reject(new Error(
      `could not run prometheus (${error.message}): install the Debian package "prometheus" (scripts/ensure-promtool.sh)`)));
  });

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const api = async (path: string, params: Record<string, string>): Promise<unknown> => {
    const response = await fetch(`${url}${path}`, {
      method: 'POST',
      body: new URLSearchParams(params),
    });
    const body = await response.json() as { status: string; data?: unknown; error?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${path} failed (${response.status}): ${body.error ?? JSON.stringify(body)}`);
    return body.data;
  };
  const query = async (expr: string, time = Date.now() / 1000): Promise<PromSeries[]> => {
    const data = await api('/api/v1/query', { query: expr, time: String(time) }) as { resultType: string; result: unknown };
    if (data.resultType === 'scalar') {
      const [at, value] = data.result as [number, string];
      return [{ metric: {}, value: [at, value] }];
    }
    return data.result as PromSeries[];
  };

  try {
    await Promise.race([spawnFailed, waitUntilReady(url, () => log)]);
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    url,
    query,
    queryRange: async (expr, start, end, stepSeconds) => {
      const data = await api('/api/v1/query_range', { query: expr, start: String(start), end: String(end), step: String(stepSeconds) }) as { result: PromSeries[] };
      return data.result;
    },
    labelValues: async (label, match) => {
      const response = await fetch(`${url}/api/v1/label/${encodeURIComponent(label)}/values?${new URLSearchParams({ 'match[]': match })}`);
      const body = await response.json() as { status: string; data: string[]; error?: string };
      if (body.status !== 'success') throw new Error(`label values of ${label} for ${match} failed: ${body.error}`);
      return body.data;
    },
    waitFor: async (expr, accept, timeoutMs = 20_000) => {
      const deadline = Date.now() + timeoutMs;
      let last: PromSeries[] = [];
      while (Date.now() < deadline) {
        last = await query(expr);
        if (accept(last)) return last;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      throw new Error(`Prometheus never answered ${expr} as expected within ${timeoutMs} ms; last answer: ${JSON.stringify(last)}\n${log}`);
    },
    stop,
  };
}

async function waitUntilReady(url: string, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${url}/-/ready`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`prometheus was not ready within 15 s:\n${log()}`);
}
