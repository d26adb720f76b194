// npm run demo: the processor, the example app (examples/demo-app.mjs) and its stand-in provider, on this machine,
// with no key, no network and no Docker; the Users page at http://127.0.0.1:4318/ fills within a minute. Before the
// app starts, two weeks of history for its dozen users is sent straight to the processor, so the charts, the plans
// and the anomaly view (user "mallory" starts calling ten times as often) have something to show.
// Env: PORT (4318), DATA_DIR (./data/demo, emptied at start), PLAN_PRICES_USD (free=0,pro=20,premium=50).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const port = process.env.PORT ?? '4318';
const dataDir = process.env.DATA_DIR ?? `${root}data/demo`;
const children: ChildProcess[] = [];

/** Starts a child and resolves with the first match of `ready` in its output. */
function start(name: string, args: string[], env: Record<string, string>, ready: RegExp): Promise<string> {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      for (const line of text.split('\n')) if (line.trim() !== '') console.log(`[${name}] ${line}`);
      seen += text;
      const match = ready.exec(seen);
      if (match) resolve(match[1] ?? match[0]);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });
}

// The example app's users and plans (examples/demo-app.mjs), for the history.
const USERS: Array<[string, string, number]> = [
  ['alice', 'pro', 6], ['bob', 'premium', 8], ['carol', 'free', 5], ['dave', 'free', 2], ['erin', 'pro', 3], ['frank', 'premium', 4],
  ['grace', 'free', 1], ['heidi', 'pro', 2], ['ivan', 'free', 3], ['judy', 'premium', 1], ['mallory', 'free', 1], ['oscar', 'pro', 2],
];
const FEATURES = ['chat', 'summarize', 'search'];
const MODELS = ['gpt-4o-mini', 'gpt-4o-mini', 'gpt-4o', 'gpt-4.1-nano'];

function attribute(key: string, value: string | number) {
  return { key, value: typeof value === 'number' ? { intValue: String(value) } : { stringValue: value } };
}

/** OTLP/JSON spans of a few calls a day per user (by weight) over the 14 days before today. */
function historySpans(nowMs: number): object[] {
  const spans: object[] = [];
  const today = Math.floor(nowMs / 86_400_000) * 86_400_000;
  let n = 0;
  for (let day = 14; day >= 1; day--) {
    for (const [user, plan, weight] of USERS) {
      for (let call = 0; call < weight * 6 + (day % 3); call++) {
        n++;
        const end = BigInt(today - day * 86_400_000 + ((call * 7919 + day * 104729) % 86_000) * 1000) * 1_000_000n;
        const model = MODELS[n % MODELS.length]!;
        spans.push({
          traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), name: `chat ${model}`, kind: 3,
          startTimeUnixNano: String(end - 900_000_000n), endTimeUnixNano: String(end),
          attributes: [
            attribute('gen_ai.operation.name', 'chat'), attribute('gen_ai.provider.name', 'openai'),
            attribute('gen_ai.request.model', model), attribute('gen_ai.response.model', model),
            attribute('gen_ai.usage.input_tokens', 80 + ((n * 37) % 900)), attribute('gen_ai.usage.output_tokens', 40 + ((n * 53) % 400)),
            attribute('user.id', user), attribute('llm_user_metrics.property.plan', plan),
            attribute('llm_user_metrics.property.feature', FEATURES[n % FEATURES.length]!),
          ],
          status: user === 'dave' && n % 3 === 0 ? { code: 2, message: 'rate limited' } : {},
        });
      }
    }
  }
  return spans;
}

async function sendHistory(processorUrl: string): Promise<number> {
  const spans = historySpans(Date.now());
  for (let start = 0; start < spans.length; start += 1000) {
    const response = await fetch(`${processorUrl}/v1/traces`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 'demo-history' }, spans: spans.slice(start, start + 1000) }] }] }),
    });
    if (!response.ok) throw new Error(`history export answered ${response.status}: ${await response.text()}`);
  }
  return spans.length;
}

function stopAll(code: number): void {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  setTimeout(() => process.exit(code), 1500).unref();
}
process.once('SIGINT', () => stopAll(0));
process.once('SIGTERM', () => stopAll(0));

try {
  rmSync(dataDir, { recursive: true, force: true });
  const provider = await start('stand-in', ['examples/stand-in-provider.mjs'], { HOST: '127.0.0.1', PORT: '0' }, /listening on (http:\/\/\S+)/);
  const processorUrl = await start('processor', ['src/main.ts'], {
    HOST: '127.0.0.1', PORT: port, DATA_DIR: dataDir, PLAN_PRICES_USD: process.env.PLAN_PRICES_USD ?? 'free=0,pro=20,premium=50',
  }, /listening on (http:\/\/[\d.]+:\d+)/);
  console.log(`[demo] sent ${await sendHistory(processorUrl)} calls of history (the 14 days before today)`);
  await start('app', ['--import', 'llm-user-metrics/instrumentation', 'examples/demo-app.mjs'], {
    OPENAI_BASE_URL: provider, OTEL_EXPORTER_OTLP_ENDPOINT: processorUrl, OTEL_SERVICE_NAME: 'llm-demo-app',
    OTEL_BSP_SCHEDULE_DELAY: '1000', DEMO_INTERVAL_MS: '250', DEMO_SPIKE_AFTER_CALLS: '120',
  }, /^/);
  console.log(`\n[demo] open ${processorUrl}/  (the Users page; Ctrl-C stops everything)\n`);
} catch (error) {
  console.error(`[demo] ${(error as Error).message}`);
  stopAll(1);
}
