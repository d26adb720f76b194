import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

export interface RunningProcessor {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything the processor wrote to stdout and stderr so far. */
  output(): string;
  /** The text of GET /metrics. */
  metrics(): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts the real processor (`node src/main.ts`) as a child process on 127.0.0.1 and a free port, and waits for
 * its "listening on" line. `env` is added to a clean environment (PORT, HOST and USER_METRICS=full are set here). Without a DATA_DIR
 * in `env`, the processor gets a fresh temporary one, removed when it stops, so tests never share a ledger.
 */
export async function startProcessor(env: Record<string, string> = {}): Promise<RunningProcessor> {
  const ownDataDir = env.DATA_DIR === undefined ? mkdtempSync(join(tmpdir(), 'llm-user-metrics-test-')) : undefined;
  const child = spawn(process.execPath, [MAIN], {
    // USER_METRICS=full unless given: most suites check a user's calls per provider and model on the per-user series;
    // the default light set is tested where it is named (test/sinks, test/dashboards).
    env: {
      PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', USER_METRICS: 'full',
      ...(ownDataDir ? { DATA_DIR: ownDataDir } : {}), ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => { log += chunk; });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { log += chunk; });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`processor did not start within 15 s:\n${log}`)), 15_000);
    const onData = () => {
      const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(log);
      if (match) { clearTimeout(timer); resolve(match[1]!); }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`processor exited with ${code}:\n${log}`)); });
  }).catch((error: unknown) => {
    if (ownDataDir) rmSync(ownDataDir, { recursive: true, force: true });
    throw error;
  });
  return {
    url,
    child,
    output: () => log,
    metrics: async () => {
      const response = await fetch(`${url}/metrics`);
      if (!response.ok) throw new Error(`/metrics answered ${response.status}`);
      return response.text();
    },
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill(signal);
        await exited;
      }
      if (ownDataDir) rmSync(ownDataDir, { recursive: true, force: true });
    },
  };
}
