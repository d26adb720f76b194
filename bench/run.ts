/**
 * The processor's benchmark (`npm run bench`): realistic OTLP batches through the real HTTP server, beside the time
 * to merely decode the same batches in this process; /metrics render time at 10,000 active users; RSS while
 * 1,000,000 distinct user ids arrive. Figures are medians of several rounds, measured side by side in one run: the
 * machines are shared and noisy, so compare ratios rather than absolute numbers.
 *
 *   npm run bench                 the full run (a few minutes)
 *   npm run bench -- --quick      a smoke run with small counts, for checking the benchmark itself still works
 *   npm run bench -- --flood      only the RSS of the flood of distinct user ids
 *   npm run bench -- --metrics    only /metrics at 10,000 users, USER_METRICS=light and full side by side
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeJson } from '../src/decode/json.ts';
import { decodeProtobuf } from '../src/decode/protobuf.ts';
import { ExportTraceServiceRequest } from '../src/decode/otlp-schema.ts';
import { makeBatch, serializeJson, serializeProtobuf } from './fixtures.ts';
import { OtlpClient } from './otlp-client.ts';
import { makeMixedBatch } from './mixed-sources.ts';

const quick = process.argv.includes('--quick');
const floodOnly = process.argv.includes('--flood');
const metricsOnly = process.argv.includes('--metrics');
const ROUNDS = quick ? 2 : 5;
const BATCHES = quick ? 4 : 16;
const SENDS_PER_ROUND = quick ? 8 : 100;
const CONCURRENCY = 4;
const RENDER_USERS = quick ? 1000 : 10_000;
const FLOOD_USERS = quick ? 20_000 : 1_000_000;
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

interface Processor { url: string; child: ChildProcess; stop(): Promise<void> }

/** The real processor in its own process, with a fresh ledger in a temporary DATA_DIR. */
async function startProcessor(env: Record<string, string> = {}): Promise<Processor> {
  const dataDir = mkdtempSync(join(tmpdir(), 'llm-user-metrics-bench-'));
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'error', DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`processor exited with ${code}`)));
  });
  return {
    url,
    child,
    stop: () => new Promise((resolve) => {
      child.once('exit', () => { rmSync(dataDir, { recursive: true, force: true }); resolve(); });
      child.kill('SIGTERM');
    }),
  };
}

/** CPU seconds (user + system) the process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Peak resident set size of the process so far, in MiB. */
function peakRssMiB(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match![1]) / 1024;
}

/** One client per processor (a fresh processor listens on a fresh port). */
const clients = new Map<string, OtlpClient>();

function clientFor(url: string): OtlpClient {
  let client = clients.get(url);
  if (client === undefined) clients.set(url, client = new OtlpClient(url, CONCURRENCY));
  return client;
}

function post(url: string, body: Uint8Array, contentType: string): Promise<void> {
  return clientFor(url).post(body, contentType);
}

/** Sends every body once with a few requests in flight, as a Collector would. */
async function sendAll(url: string, bodies: readonly Uint8Array[], contentType: string): Promise<void> {
  await clientFor(url).sendAll(bodies, CONCURRENCY, contentType);
}

type Encoding = 'protobuf' | 'json';

/**
 * Export bodies whose spans are all distinct (seeds `first`.. onwards): the ledger drops a span it has seen, so
 * resending the same bytes would measure the retry path instead of ingest.
 */
function bodiesFor(encoding: Encoding, first: number, count: number, mixed = false): Uint8Array[] {
  const serialize = encoding === 'protobuf' ? serializeProtobuf : serializeJson;
  const batch = mixed ? makeMixedBatch : makeBatch;
  return Array.from({ length: count }, (_, index) => serialize(batch({ spans: 512, users: 1000, seed: first + index })));
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const format = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Decode-only floor: µs per span for decoding the same bodies in this process. */
function decodeFloor(bodies: readonly Uint8Array[], decode: (body: Uint8Array) => { spans: unknown[] }): number {
  const perRound: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    let spans = 0;
    const started = performance.now();
    for (let repeat = 0; repeat < 10; repeat++) for (const body of bodies) spans += decode(body).spans.length;
    perRound.push(((performance.now() - started) * 1000) / spans);
  }
  return median(perRound);
}

interface IngestSetup {
  readonly name: string;
  readonly encoding: Encoding;
  readonly env: Record<string, string>;
  /** Bodies from bench/mixed-sources.ts (every source's span shapes) instead of our own spans only. */
  readonly mixed?: boolean;
}

const bodyKind = (setup: IngestSetup) => (setup.mixed ? 'mixed' : setup.encoding);

/**
 * Every setup gets its own processor; the rounds alternate between them, each round sending the same fresh bodies
 * to every setup, so that noise from the shared machine falls on all of them alike.
 */
async function ingestThroughput(setups: readonly IngestSetup[]) {
  const processors = await Promise.all(setups.map((setup) => startProcessor(setup.env)));
  const results = setups.map(() => ({ wall: [] as number[], cpu: [] as number[] }));
  try {
    let seed = 1_000;
    for (let round = -1; round < ROUNDS; round++) { // round -1 warms up: JIT, first users
      const bodies = {
        protobuf: bodiesFor('protobuf', seed, SENDS_PER_ROUND),
        json: bodiesFor('json', seed, SENDS_PER_ROUND),
        mixed: setups.some((setup) => setup.mixed) ? bodiesFor('protobuf', seed, SENDS_PER_ROUND, true) : [],
      };
      seed += SENDS_PER_ROUND;
      for (const [index, setup] of setups.entries()) {
        const processor = processors[index]!;
        const contentType = setup.encoding === 'protobuf' ? 'application/x-protobuf' : 'application/json';
        const cpuBefore = cpuSeconds(processor.child.pid!);
        const started = performance.now();
        await sendAll(processor.url, bodies[bodyKind(setup)], contentType);
        if (round < 0) continue;
        const spans = SENDS_PER_ROUND * 512;
        results[index]!.wall.push(spans / ((performance.now() - started) / 1000));
        results[index]!.cpu.push(spans / (cpuSeconds(processor.child.pid!) - cpuBefore));
      }
    }
    return setups.map((setup, index) => ({
      setup,
      wall: median(results[index]!.wall),
      perCpuSecond: median(results[index]!.cpu),
      peakRss: peakRssMiB(processors[index]!.child.pid!),
    }));
  } finally {
    await Promise.all(processors.map((processor) => processor.stop()));
  }
}

/** An export of `count` LLM spans, user ids `first`..`first+count-1`, encoded with the processor's own schema. */
function distinctUserBatch(first: number, count: number): Uint8Array {
  const now = BigInt(Date.now()) * 1_000_000n;
  const spans = [];
  for (let index = 0; index < count; index++) {
    const id = first + index;
    const attribute = (key: string, value: object) => ({ key, value });
    spans.push({
      traceId: Buffer.from(id.toString(16).padStart(32, '0'), 'hex'),
      spanId: Buffer.from((id + 1).toString(16).padStart(16, '0'), 'hex'),
      name: 'chat gpt-4o-mini',
      kind: 3,
      startTimeUnixNano: String(now - 900_000_000n),
      endTimeUnixNano: String(now),
      attributes: [
        attribute('gen_ai.operation.name', { stringValue: 'chat' }),
        attribute('gen_ai.provider.name', { stringValue: 'openai' }),
        attribute('gen_ai.request.model', { stringValue: 'gpt-4o-mini' }),
        attribute('gen_ai.usage.input_tokens', { intValue: 1000 }),
        attribute('gen_ai.usage.output_tokens', { intValue: 500 }),
        attribute('user.id', { stringValue: `user-${id}@example.com` }),
        attribute('llm_user_metrics.property.plan', { stringValue: ['free', 'pro', 'premium'][id % 3] }),
      ],
    });
  }
  return ExportTraceServiceRequest.encode({
    resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 'bench' }, spans }] }],
  }).finish();
}

/** Models a user calls (three each, from this list), so that every user has several per-model series. */
const RENDER_MODELS = ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini', 'o3-mini', 'gpt-4.1'];
const RENDER_CALLS_PER_USER = 3;

/**
 * An export of the calls of users `first`..`first+count-1`: each user on one plan and one feature (the two default
 * property labels), three models each, one user in ten with a failed call. `serial` makes span ids unique.
 */
function usersBatch(first: number, count: number, serial: number): Uint8Array {
  const now = BigInt(Date.now()) * 1_000_000n;
  const spans = [];
  for (let index = 0; index < count; index++) {
    const user = first + index;
    for (let call = 0; call < RENDER_CALLS_PER_USER; call++) {
      const id = (serial * 1_000_003 + user) * RENDER_CALLS_PER_USER + call;
      const attribute = (key: string, value: object) => ({ key, value });
      spans.push({
        traceId: Buffer.from(id.toString(16).padStart(32, '0'), 'hex'),
        spanId: Buffer.from((id + 1).toString(16).padStart(16, '0'), 'hex'),
        name: 'chat',
        kind: 3,
        startTimeUnixNano: String(now - 900_000_000n),
        endTimeUnixNano: String(now),
        ...(call === 0 && user % 10 === 0 ? { status: { code: 2 } } : {}),
        attributes: [
          attribute('gen_ai.operation.name', { stringValue: 'chat' }),
          attribute('gen_ai.provider.name', { stringValue: 'openai' }),
          attribute('gen_ai.request.model', { stringValue: RENDER_MODELS[(user + call) % RENDER_MODELS.length] }),
          attribute('gen_ai.usage.input_tokens', { intValue: 1000 }),
          attribute('gen_ai.usage.output_tokens', { intValue: 500 }),
          attribute('user.id', { stringValue: `user-${user}@example.com` }),
          attribute('llm_user_metrics.property.plan', { stringValue: ['free', 'pro', 'premium'][user % 3] }),
          attribute('llm_user_metrics.property.feature', { stringValue: ['chat', 'search', 'summarize', 'agent'][user % 4] }),
        ],
      });
    }
  }
  return ExportTraceServiceRequest.encode({
    resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 'bench' }, spans }] }],
  }).finish();
}

interface ScrapeRound { scrapeMs: number; worstExportMs: number; exports: number }

/**
 * One scrape while small exports (3 calls of 5 known users, one at a time) keep arriving: how long the scrape took
 * to arrive whole, and the slowest export answered while it ran (an export waits while a render holds the thread).
 */
async function scrapeUnderLoad(url: string, serial: number): Promise<ScrapeRound & { text: string }> {
  let scraping = true;
  let worst = 0;
  let exports = 0;
  const trickle = (async () => {
    for (let round = 0; scraping; round++) {
      const body = usersBatch((serial * 7 + round * 5) % RENDER_USERS, 5, serial * 10_000 + round + 1);
      const sent = performance.now();
      await post(url, body, 'application/x-protobuf');
      worst = Math.max(worst, performance.now() - sent);
      exports++;
    }
  })();
  // Let the trickle start, so that the scrape meets exports in flight.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const started = performance.now();
  const text = await (await fetch(`${url}/metrics`)).text();
  const scrapeMs = performance.now() - started;
  scraping = false;
  await trickle;
  return { scrapeMs, worstExportMs: worst, exports, text };
}

/**
 * /metrics at RENDER_USERS active users with USER_METRICS=light (the default) and full side by side: the processors
 * are filled alike, then the rounds alternate between them, so that the shared machine's noise falls on both.
 */
async function metricsScrapes() {
  const modes = ['light', 'full'] as const;
  const processors = await Promise.all(modes.map((mode) => startProcessor({
    USER_METRICS: mode, MAX_USERS: String(RENDER_USERS * 2), LEDGER: 'off',
  })));
  try {
    for (const processor of processors) {
      for (let first = 0; first < RENDER_USERS; first += 500) {
        await post(processor.url, usersBatch(first, Math.min(500, RENDER_USERS - first), 0), 'application/x-protobuf');
      }
    }
    const rounds = modes.map(() => [] as ScrapeRound[]);
    const shape = modes.map(() => ({ bytes: 0, series: 0 }));
    for (let round = -1; round < ROUNDS; round++) { // round -1 warms up
      for (const [index, processor] of processors.entries()) {
        const result = await scrapeUnderLoad(processor.url, round + 2);
        if (round < 0) continue;
        rounds[index]!.push(result);
        shape[index] = {
          bytes: Buffer.byteLength(result.text),
          series: result.text.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length,
        };
      }
    }
    return modes.map((mode, index) => ({
      mode,
      scrapeMs: median(rounds[index]!.map((round) => round.scrapeMs)),
      worstExportMs: median(rounds[index]!.map((round) => round.worstExportMs)),
      worstOfAllMs: Math.max(...rounds[index]!.map((round) => round.worstExportMs)),
      exports: median(rounds[index]!.map((round) => round.exports)),
      ...shape[index]!,
      perUser: (shape[index]!.series) / RENDER_USERS,
    }));
  } finally {
    await Promise.all(processors.map((processor) => processor.stop()));
  }
}

function printMetricsScrapes(results: Awaited<ReturnType<typeof metricsScrapes>>) {
  console.log(`\n/metrics with ${format(RENDER_USERS)} active users (plan and feature labels, ${RENDER_CALLS_PER_USER} models each), ledger off, exports of 15 calls arriving one at a time during each scrape:`);
  console.log('| USER_METRICS | scrape ms | worst export ms during a scrape (median of rounds / worst round) | exports during a scrape | series | per user | MB |');
  console.log('|---|---|---|---|---|---|---|');
  for (const result of results) {
    console.log(`| ${result.mode} | ${format(result.scrapeMs, 1)} | ${format(result.worstExportMs, 1)} / ${format(result.worstOfAllMs, 1)} | ${format(result.exports)} | ${format(result.series)} | ${format(result.perUser, 1)} | ${format(result.bytes / 1e6, 1)} |`);
  }
}

async function floodRss() {
  const processor = await startProcessor();
  try {
    const started = performance.now();
    let sent = 0;
    const inFlight = new Set<Promise<void>>();
    for (let first = 0; first < FLOOD_USERS; first += 512) {
      const send = post(processor.url, distinctUserBatch(first, Math.min(512, FLOOD_USERS - first)), 'application/x-protobuf')
        .then(() => { inFlight.delete(send); });
      inFlight.add(send);
      if (inFlight.size >= CONCURRENCY) await Promise.race(inFlight);
      sent += Math.min(512, FLOOD_USERS - first);
    }
    await Promise.all(inFlight);
    const metrics = await (await fetch(`${processor.url}/metrics`)).text();
    const overflow = Number(/^llm_user_overflow_requests_total (\d+)/m.exec(metrics)?.[1]);
    return { users: sent, seconds: (performance.now() - started) / 1000, peakRss: peakRssMiB(processor.child.pid!), overflow };
  } finally {
    await processor.stop();
  }
}

async function main() {
  console.log(`llm-user-metrics benchmark${quick ? ' (quick)' : ''}: Node ${process.version}, ${ROUNDS} rounds, medians\n`);
  if (metricsOnly) {
    printMetricsScrapes(await metricsScrapes());
    return;
  }
  if (!floodOnly) await throughputAndRender();
  const flood = await floodRss();
  console.log(`${format(flood.users)} distinct user ids (MAX_USERS default): peak RSS ${format(flood.peakRss)} MiB, ${format(flood.overflow)} calls folded into __overflow__, ${format(flood.seconds, 1)} s`);
}

async function throughputAndRender() {
  const floor = {
    protobuf: decodeFloor(bodiesFor('protobuf', 1, BATCHES), decodeProtobuf),
    json: decodeFloor(bodiesFor('json', 1, BATCHES), decodeJson),
    mixed: decodeFloor(bodiesFor('protobuf', 1, BATCHES, true), decodeProtobuf),
  };
  const setups: IngestSetup[] = [
    { name: 'protobuf, ledger off', encoding: 'protobuf', env: { LEDGER: 'off' } },
    { name: 'protobuf, ledger on', encoding: 'protobuf', env: {} },
    { name: 'json, ledger off', encoding: 'json', env: { LEDGER: 'off' } },
    { name: 'json, ledger on', encoding: 'json', env: {} },
    { name: 'protobuf, every source mixed, ledger off', encoding: 'protobuf', env: { LEDGER: 'off' }, mixed: true },
  ];
  console.log(`Ingest: ${SENDS_PER_ROUND} fresh 512-span exports per round (~90% LLM spans, 1,000 users), ${CONCURRENCY} in flight, each processor in its own process`);
  console.log('| setup | decode floor µs/span | ingest spans/s (wall) | ingest spans per CPU-second | floor/ingest (CPU) | ledger on/off (wall) | peak RSS MiB |');
  console.log('|---|---|---|---|---|---|---|');
  const ingest = await ingestThroughput(setups);
  for (const result of ingest) {
    const floorMicros = floor[bodyKind(result.setup)];
    const off = ingest.find((other) => bodyKind(other.setup) === bodyKind(result.setup) && other.setup.env.LEDGER === 'off')!;
    const ratio = result === off ? '' : format(result.wall / off.wall, 2);
    console.log(`| ${result.setup.name} | ${format(floorMicros, 2)} | ${format(result.wall)} | ${format(result.perCpuSecond)} | ${format(1e6 / floorMicros / result.perCpuSecond, 2)}x | ${ratio} | ${format(result.peakRss)} |`);
  }
  const single = ingest.find((result) => !result.setup.mixed && result.setup.encoding === 'protobuf' && result.setup.env.LEDGER === 'off')!;
  const mixed = ingest.find((result) => result.setup.mixed)!;
  console.log(`Every source mixed (bench/mixed-sources.ts: ~70% call spans, the rest AI SDK parents, agents and app spans; prompt text where libraries record it) / ours only: ${format(mixed.wall / single.wall, 2)} (wall), ${format(mixed.perCpuSecond / single.perCpuSecond, 2)} (per CPU-second)`);

  printMetricsScrapes(await metricsScrapes());
}

await main();
for (const client of clients.values()) client.close();
