/**
 * What the users API costs at a million users, and what it costs ingest while it runs.
 *   node bench/reads.ts [--users 1000000] [--days 30] [--rounds 5] [--exports 400] [--in-flight 4] [--data DIR]
 * With --data, the ledger is built in DIR the first time and reused (not removed) after that.
 * 1. A ledger of `users` users, one to three calls each over `days` days (built in process, then closed).
 * 2. The real processor on that ledger: the median of `rounds` GETs of each users-API read (the top 100 of the month
 *    by cost, the top 100 of all time, a page by user id deep in the list, one user's page).
 * 3. Export latency (send to answer, ms: p50 / p99 / max) with `in-flight` exports of 512 spans in flight, alone and
 *    while the full CSV of every user streams to a client that reads it as fast as it can.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fillLedger } from './fill-ledger.ts';
import { makeBatch, serializeProtobuf } from './fixtures.ts';
import { OtlpClient } from './otlp-client.ts';
import { startProcessor, type RunningProcessor } from '../test/helpers/processor.ts';
import type { PricedUsage } from '../src/pricing/priced-usage.ts';
import { NO_TOKENS } from '../src/sources/usage-record.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '1000000' },
    days: { type: 'string', default: '30' },
    rounds: { type: 'string', default: '5' },
    exports: { type: 'string', default: '400' },
    'in-flight': { type: 'string', default: '4' },
    data: { type: 'string' },
  },
});
const USERS = Number(values.users);
const DAYS = Number(values.days);
const ROUNDS = Number(values.rounds);
const EXPORTS = Number(values.exports);
const IN_FLIGHT = Number(values['in-flight']);
const MS_PER_DAY = 86_400_000;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;
}

/** Calls of `count` users, in end-time order over the `days` days before `endMs`; deterministic. */
function* callBatches(count: number, days: number, endMs: number): Generator<PricedUsage[]> {
  let seed = 7;
  const random = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const models = ['gpt-4o-mini', 'gpt-4o', 'claude-sonnet-4-0'];
  const calls = Math.round(count * 2);
  const startMs = endMs - days * MS_PER_DAY;
  let batch: PricedUsage[] = [];
  for (let index = 0; index < calls; index++) {
    // Every user at least once (the first `count` calls), then a second and third call for some.
    const user = index < count ? index : Math.floor(random() * count);
    const model = models[user % models.length]!;
    const input = 100 + Math.floor(random() * 4000);
    const output = Math.floor(random() * 800);
    batch.push({
      traceId: (index + 1).toString(16).padStart(32, '0'), spanId: (index + 1).toString(16).padStart(16, '0'), parentSpanId: '',
      source: 'genai', userId: `user-${String(user).padStart(7, '0')}`,
      properties: { plan: ['free', 'pro', 'premium'][user % 3]!, feature: ['chat', 'search'][user % 2]! },
      provider: model.startsWith('claude') ? 'anthropic' : 'openai', model, operation: 'chat',
      tokens: { ...NO_TOKENS, input, output }, hasUsage: true, durationSeconds: 0.2 + random() * 3,
      timeToFirstTokenSeconds: undefined, isError: random() < 0.03,
      endTimeMs: startMs + Math.floor((index / calls) * days * MS_PER_DAY), costNanoUsd: input * 150 + output * 600, priced: true,
    });
    if (batch.length === 512) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

async function timeGet(url: string): Promise<{ ms: number; bytes: number; status: number }> {
  const started = performance.now();
  const response = await fetch(url);
  const bytes = (await response.arrayBuffer()).byteLength;
  return { ms: performance.now() - started, bytes, status: response.status };
}

/** `count` fresh exports of 512 spans (new span ids each time, so none is a retry), ending now. */
let nextSeed = 1;
function freshBodies(count: number): Uint8Array[] {
  return Array.from({ length: count }, () => serializeProtobuf(makeBatch({
    spans: 512, users: 1000, seed: nextSeed++, startTimeMs: Date.now() - 1000,
  })));
}

const latencyText = (values: readonly number[]) =>
  `${percentile(values, 0.5).toFixed(1)} / ${percentile(values, 0.99).toFixed(1)} / ${Math.max(...values).toFixed(1)}`;

async function main(): Promise<void> {
  console.log(`# bench/reads.ts on Node ${process.version}: ${USERS.toLocaleString('en')} users over ${DAYS} days`);
  const dataDir = values.data ?? mkdtempSync(join(tmpdir(), 'bench-reads-'));
  let processor: RunningProcessor | undefined;
  try {
    const nowMs = Date.now();
    let started = performance.now();
    if (!existsSync(join(dataDir, 'ledger.sqlite'))) {
      const calls = await fillLedger(dataDir, callBatches(USERS, DAYS, nowMs));
      console.log(`ledger built: ${calls.toLocaleString('en')} calls in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
    started = performance.now();
    processor = await startProcessor({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    console.log(`processor started on it in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const month = new Date(nowMs).toISOString().slice(0, 7);
    const reads: Array<[string, string]> = [
      ['top 100 of the month by cost', `/api/users?month=${month}`],
      ['top 100 of all time by cost', '/api/users'],
      ['top 100 of the last 7 days by requests', `/api/users?from=${new Date(nowMs - 7 * MS_PER_DAY).toISOString().slice(0, 10)}&sort=requests`],
      [`100 users by id from offset ${Math.floor(USERS / 2).toLocaleString("en")}`, `/api/users?sort=userId&offset=${Math.floor(USERS / 2)}`],
      ['one user\'s page', '/api/users/user-0000042'],
    ];
    console.log('| read | median ms | bytes |');
    console.log('|---|---|---|');
    for (const [label, path] of reads) {
      const runs = [];
      for (let round = 0; round < ROUNDS; round++) runs.push(await timeGet(`${processor.url}${path}`));
      if (runs.some((run) => run.status !== 200)) throw new Error(`${path} answered ${runs.map((run) => run.status).join(',')}`);
      console.log(`| ${label} | ${median(runs.map((run) => run.ms)).toFixed(0)} | ${runs[0]!.bytes.toLocaleString('en')} |`);
    }

    const client = new OtlpClient(processor.url, IN_FLIGHT);
    const alone = await client.sendAll(freshBodies(EXPORTS), IN_FLIGHT);
    let csvDone = false;
    const csv = timeGet(`${processor.url}/api/users.csv`).finally(() => { csvDone = true; });
    const beside: number[] = [];
    // Exports keep going for as long as the CSV streams.
    while (!csvDone) beside.push(...await client.sendAll(freshBodies(20), IN_FLIGHT));
    client.close();
    const csvRun = await csv;
    console.log(`export latency, ms p50 / p99 / max, ${IN_FLIGHT} in flight: alone ${latencyText(alone)}; ` +
      `while the full CSV streams ${latencyText(beside)} (${beside.length} exports)`);
    console.log(`full CSV: ${(csvRun.bytes / 1e6).toFixed(1)} MB in ${(csvRun.ms / 1000).toFixed(1)} s (status ${csvRun.status})`);
  } finally {
    await processor?.stop();
    if (values.data === undefined) rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
