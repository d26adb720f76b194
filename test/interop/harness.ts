/**
 * Runs one interop app (a real instrumentation library, unmodified, in its own install under apps/) as a child
 * process against the provider stand-in, exporting OTLP to the real processor, and reads the processor's /metrics.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startProviderStandIn, type ProviderStandIn } from '../fixtures/provider-stand-in.ts';
import { startProcessor, type RunningProcessor } from '../helpers/processor.ts';

export const APPS = fileURLToPath(new URL('./apps/', import.meta.url));

/** Skips with a reason when the apps were not installed (scripts/install-interop-apps.sh). */
export function appsInstalled(folder: string): boolean {
  return existsSync(`${APPS}${folder}/node_modules/.package-lock.json`);
}

export interface Rig {
  readonly processor: RunningProcessor;
  readonly provider: ProviderStandIn;
  /** Runs `apps/<folder>/<script>` with the urls in its environment; rejects with its output when it fails. */
  run(folder: string, script: string, env?: Record<string, string>): Promise<string>;
  stop(): Promise<void>;
}

export async function startRig(processorEnv: Record<string, string> = {}): Promise<Rig> {
  const provider = await startProviderStandIn();
  // A short ancestor wait keeps the "ancestor never comes" cases quick; LEDGER=off keeps no files behind.
  const processor = await startProcessor({ LEDGER: 'off', ANCESTOR_WAIT_SECONDS: '2', LOG_LEVEL: 'warn', ...processorEnv });
  return {
    processor,
    provider,
    run: (folder, script, env = {}) => runApp(`${APPS}${folder}/${script}`, {
      PROVIDER_URL: provider.url, OTLP_URL: processor.url, ...env,
    }),
    async stop() {
      await processor.stop();
      await provider.close();
    },
  };
}

function runApp(path: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path], {
      cwd: path.slice(0, path.lastIndexOf('/')),
      // No inherited OTEL_* or provider keys: only what the app is given.
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NODE_ENV: 'test', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { output += chunk; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`${path} exited with ${code ?? signal}:\n${output}`));
    });
  });
}

/** Sum of every sample of `name` whose labels include all of `labels` (other labels summed over). */
export function total(text: string, name: string, labels: Record<string, string>): number {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf('}');
    const labelText = `,${line.slice(name.length + 1, close)},`;
    if (wanted.every((pair) => labelText.includes(`,${pair},`))) sum += Number(line.slice(close + 2));
  }
  return sum;
}

/** Polls /metrics until `check` passes (exports and ancestor waits settle asynchronously), or throws its last error. */
export async function eventually(processor: RunningProcessor, check: (metrics: string) => void, timeoutMs = 8000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const metrics = await processor.metrics();
    try {
      check(metrics);
      return metrics;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** gpt-4o-mini list price in USD per token (catalogue): input 0.15, cached input 0.075, output 0.60 per million. */
export const GPT_4O_MINI = { input: 0.15e-6, cacheRead: 0.075e-6, output: 0.6e-6 } as const;

export function near(actual: number, expected: number, what: string): void {
  if (Math.abs(actual - expected) > 1e-9) throw new Error(`${what}: expected ${expected}, got ${actual}`);
}
