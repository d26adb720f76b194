/**
 * The ledger's cost and size.
 *   node bench/ledger.ts [--spans 1000000] [--users 10000] [--days 30] [--http-batches 120]
 * 1. Ingest through the real processor over HTTP (fixture batches of 512 spans, official protobuf bytes), with
 *    LEDGER=off and LEDGER=sqlite in the same run, alternated, 4 exports in flight: spans/s and the ratio.
 * 2. The ledger alone, in process: 1,000,000 priced calls across 10,000 users spread over `days` days, committed in
 *    exports of 512; calls/s and the size of the database on disk.
 */
import { mkdtempSync, rmSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeBatch, serializeProtobuf } from './fixtures.ts';
import { startProcessor } from '../test/helpers/processor.ts';
import type { PricedUsage } from '../src/pricing/priced-usage.ts';
import { NO_TOKENS } from '../src/sources/usage-record.ts';
import { SqliteLedger } from '../src/sinks/ledger/sqlite-ledger.ts';

const { values } = parseArgs({
  options: {
    spans: { type: 'string', default: '1000000' },
    users: { type: 'string', default: '10000' },
    days: { type: 'string', default: '30' },
    'http-batches': { type: 'string', default: '120' },
  },
});
const SPANS = Number(values.spans);
const USERS = Number(values.users);
const DAYS = Number(values.days);
const HTTP_BATCHES = Number(values['http-batches']);

async function httpIngest(ledger: 'off' | 'sqlite', bodies: readonly Uint8Array[], spansPerBody: number): Promise<number> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-ledger-'));
  const processor = await startProcessor({ LEDGER: ledger, DATA_DIR: dataDir, LOG_LEVEL: 'error', MAX_USERS: '100000' });
  try {
    const post = (body: Uint8Array) => fetch(`${processor.url}/v1/traces`, {
      method: 'POST', body, headers: { 'content-type': 'application/x-protobuf' },
    }).then(async (response) => {
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`export answered ${response.status}`);
    });
    for (const body of bodies.slice(0, 10)) await post(body); // warm-up
    const started = performance.now();
    let next = 0;
    const worker = async () => { while (next < bodies.length) await post(bodies[next++]!); };
    await Promise.all([worker(), worker(), worker(), worker()]);
    const seconds = (performance.now() - started) / 1000;
    return (bodies.length * spansPerBody) / seconds;
  } finally {
    await processor.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function pricedCalls(count: number, users: number, days: number, seed: number): PricedUsage[] {
  // mulberry32: integer arithmetic only, so the sequence is the same on every run.
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const start = Date.UTC(2026, 9, 1);
  const models = ['gpt-4o-mini', 'gpt-4o', 'claude-sonnet-4-5', 'text-embedding-3-small'];
  // Random ids, as SDKs make them: sequential ones would make every dedup insert land at the end of its B-tree.
  const hexId = (digits: number) => {
    let hex = '';
    while (hex.length < digits) hex += Math.floor(random() * 4_294_967_296).toString(16).padStart(8, '0');
    return hex.slice(0, digits);
  };
  const calls: PricedUsage[] = [];
  for (let index = 0; index < count; index++) {
    const user = Math.min(users - 1, Math.floor(users * random() ** 2));
    const model = models[Math.floor(random() * models.length)]!;
    const input = Math.floor(random() * 4000);
    const output = model.startsWith('text-') ? 0 : Math.floor(random() * 800);
    calls.push({
      traceId: hexId(32),
      spanId: hexId(16),
      parentSpanId: '',
      source: 'genai',
      userId: `user-${String(user).padStart(6, '0')}`,
      properties: { plan: ['free', 'pro', 'premium'][user % 3]!, feature: ['chat', 'search'][user % 2]! },
      provider: model.startsWith('claude') ? 'anthropic' : 'openai',
      model,
      operation: model.startsWith('text-') ? 'embeddings' : 'chat',
      tokens: { ...NO_TOKENS, input, output },
      hasUsage: true,
      durationSeconds: 0.2 + random() * 5,
      timeToFirstTokenSeconds: undefined,
      isError: random() < 0.03,
      endTimeMs: start + Math.floor((index / count) * days * 86_400_000),
      costNanoUsd: input * 150 + output * 600,
      priced: true,
    });
  }
  return calls;
}

function directoryBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
}

async function main(): Promise<void> {
  console.log(`# bench/ledger.ts on Node ${process.version}`);
  const bodies = Array.from({ length: HTTP_BATCHES }, (_, index) =>
    serializeProtobuf(makeBatch({ spans: 512, users: 1000, seed: index + 1, startTimeMs: Date.now() - 3_600_000 + index * 1000 })));
  const rates: Record<'off' | 'sqlite', number[]> = { off: [], sqlite: [] };
  for (const ledger of ['off', 'sqlite', 'off', 'sqlite'] as const) rates[ledger].push(await httpIngest(ledger, bodies, 512));
  const best = (list: number[]) => Math.max(...list);
  const ratio = best(rates.sqlite) / best(rates.off);
  console.log(`HTTP ingest, ${HTTP_BATCHES} exports x 512 spans, 4 in flight (best of 2 each):`);
  console.log(`  LEDGER=off    ${Math.round(best(rates.off)).toLocaleString('en')} spans/s  (runs: ${rates.off.map(Math.round).join(', ')})`);
  console.log(`  LEDGER=sqlite ${Math.round(best(rates.sqlite)).toLocaleString('en')} spans/s  (runs: ${rates.sqlite.map(Math.round).join(', ')})`);
  console.log(`  ledger on / off = ${ratio.toFixed(2)}  (cost ${((1 - ratio) * 100).toFixed(1)}% of throughput; target < 30%)`);

  const dataDir = mkdtempSync(join(tmpdir(), 'bench-ledger-size-'));
  try {
    const calls = pricedCalls(SPANS, USERS, DAYS, 42);
    const ledger = new SqliteLedger({ dataDir, dedupWindowHours: 24, synchronous: 'normal' });
    const started = performance.now();
    const inFlight: Array<Promise<unknown>> = [];
    for (let offset = 0; offset < calls.length; offset += 512) {
      inFlight.push(ledger.commit(calls.slice(offset, offset + 512)));
      if (inFlight.length === 4) await Promise.all(inFlight.splice(0));
    }
    await Promise.all(inFlight);
    const seconds = (performance.now() - started) / 1000;
    const queryStarted = performance.now();
    const page = await ledger.users({ fromMs: Date.UTC(2026, 9, 1), toMs: Date.UTC(2026, 10, 1), properties: [], sort: 'costUsd', order: 'desc', limit: 100, offset: 0 });
    const queryMs = performance.now() - queryStarted;
    const beforeClose = directoryBytes(dataDir);
    await ledger.close();
    console.log(`ledger alone: ${SPANS.toLocaleString('en')} calls, ${USERS.toLocaleString('en')} users, over ${DAYS} days, exports of 512:`);
    console.log(`  ${Math.round(SPANS / seconds).toLocaleString('en')} calls/s committed (${seconds.toFixed(1)} s)`);
    console.log(`  on disk: ${(beforeClose / 1e6).toFixed(1)} MB with WAL, ${(directoryBytes(dataDir) / 1e6).toFixed(1)} MB after close (checkpointed); dedup keys for every call included (all within the window)`);
    console.log(`  GET /api/users for one month (${page.total} users, top 100 by cost): ${queryMs.toFixed(0)} ms`);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
