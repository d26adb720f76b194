/**
 * Per-call overhead of the instrumentation: CPU time and wall time of a plain chat call against the local provider
 * stand-in (run in a child process, so its CPU is not counted), side by side in one process:
 *   openai 6: uninstrumented | ours | @opentelemetry/instrumentation-openai (skipped with a message if not installed)
 *   openai 7: uninstrumented | ours            (the OpenTelemetry one patches openai < 7 only)
 * Spans go through a BatchSpanProcessor to an exporter that drops them, so export cost is not in the figures.
 * Rounds alternate between setups and the median per setup is reported; differences under ~20 µs are noise here.
 *
 *   node_modules/.bin/node bench/instrumentation.ts [callsPerRound=300] [rounds=7]
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BatchSpanProcessor, TracerProvider, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import { OpenAIInstrumentation } from '../instrumentation/openai/instrumentation.ts';

const require = createRequire(import.meta.url);
const callsPerRound = Number(process.argv[2] ?? 300);
const rounds = Number(process.argv[3] ?? 7);

class DroppingExporter implements SpanExporter {
  export(_spans: ReadableSpan[], done: (result: { code: 0 }) => void) { done({ code: 0 }); }
  shutdown() { return Promise.resolve(); }
}

async function startStandIn(): Promise<{ url: string; stop(): void }> {
  const fixture = new URL('../test/fixtures/provider-stand-in.ts', import.meta.url).href;
  const child = spawn(process.execPath, ['--input-type=module', '-e',
    `const { startProviderStandIn } = await import(${JSON.stringify(fixture)}); const s = await startProviderStandIn(); console.log(s.url);`],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve) => child.stdout.setEncoding('utf8').once('data', (d: string) => resolve(d.trim())));
  return { url, stop: () => child.kill() };
}

interface Setup { name: string; module: any; on(): void; off(): void }

async function measure(module: any, url: string, n: number): Promise<{ cpuUs: number; wallUs: number }> {
  const client = new module.OpenAI({ apiKey: 'sk-bench', baseURL: `${url}/v1`, maxRetries: 0 });
  const body = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi' }] };
  for (let i = 0; i < 20; i++) await client.chat.completions.create(body);
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  for (let i = 0; i < n; i++) await client.chat.completions.create(body, { headers: { 'Helicone-User-Id': `u${i % 50}` } });
  const cpu = process.cpuUsage(cpu0);
  return { cpuUs: (cpu.user + cpu.system) / n, wallUs: ((performance.now() - wall0) * 1000) / n };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  const provider = new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter: new DroppingExporter() })] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
  const standIn = await startStandIn();
  const v6 = require('openai-v6');
  const v7 = require('openai');
  const ours = new OpenAIInstrumentation({ enabled: false });
  ours.setTracerProvider(provider);
  ours.enable();
  const setups: Setup[] = [
    { name: 'openai 6 uninstrumented', module: v6, on: () => {}, off: () => {} },
    { name: 'openai 6 + llm-user-metrics', module: v6, on: () => ours.patch(v6), off: () => ours.unpatch(v6) },
    { name: 'openai 7 uninstrumented', module: v7, on: () => {}, off: () => {} },
    { name: 'openai 7 + llm-user-metrics', module: v7, on: () => ours.patch(v7), off: () => ours.unpatch(v7) },
  ];
  try {
    const { OpenAIInstrumentation: OtelOpenAI } = await import('@opentelemetry/instrumentation-openai' as string);
    const otel = new OtelOpenAI({ enabled: false });
    otel.setTracerProvider(provider);
    otel.enable();
    const definition = [otel.getModuleDefinitions()].flat()[0];
    // openai's `exports` hide package.json; read it beside the resolved entry.
    const version = JSON.parse(readFileSync(join(dirname(require.resolve('openai-v6')), 'package.json'), 'utf8')).version;
    setups.splice(2, 0, { name: 'openai 6 + @opentelemetry/instrumentation-openai', module: v6,
      on: () => definition.patch(v6, version), off: () => definition.unpatch(v6, version) });
  } catch (error) {
    console.log(`@opentelemetry/instrumentation-openai: skipped (${(error as Error).message.split('\n')[0]}); install it to compare`);
  }
  const results = new Map<string, { cpu: number[]; wall: number[] }>(setups.map((s) => [s.name, { cpu: [], wall: [] }]));
  for (let round = 0; round < rounds; round++) {
    for (const setup of setups) {
      setup.on();
      const { cpuUs, wallUs } = await measure(setup.module, standIn.url, callsPerRound);
      setup.off();
      results.get(setup.name)!.cpu.push(cpuUs);
      results.get(setup.name)!.wall.push(wallUs);
    }
  }
  standIn.stop();
  await provider.shutdown();
  const base = (name: string) => name.startsWith('openai 6') ? 'openai 6 uninstrumented' : 'openai 7 uninstrumented';
  console.log(`${callsPerRound} calls x ${rounds} rounds, medians, node ${process.version}`);
  console.log('setup'.padEnd(52), 'CPU µs/call', ' +CPU µs', ' wall µs/call', ' +wall µs');
  for (const [name, r] of results) {
    const cpu = median(r.cpu);
    const wall = median(r.wall);
    const b = results.get(base(name))!;
    console.log(name.padEnd(52), cpu.toFixed(0).padStart(11), (cpu - median(b.cpu)).toFixed(1).padStart(9),
      wall.toFixed(0).padStart(13), (wall - median(b.wall)).toFixed(1).padStart(10));
  }
}

await main();
