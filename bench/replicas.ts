/**
 * The PostgreSQL ledger with replicas (`npm run bench:replicas`): calls per second through one processor and through
 * two replicas on one PostgreSQL, side by side in each round (fresh spans every time), PostgreSQL's CPU per 1,000
 * calls, rows and bytes per million calls; then a month of 10,000 users written through the ledger in process and
 * the time of `/api/users` for that month. Starts its own PostgreSQL cluster (test/helpers/postgres.ts).
 *
 *   node bench/replicas.ts [--rounds 3] [--exports 120] [--month-calls 300000]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { PostgresLedger } from '../src/sinks/ledger/postgres/pg-ledger.ts';
import type { PricedUsage } from '../src/pricing/priced-usage.ts';
import { NO_TOKENS } from '../src/sources/usage-record.ts';
import { startPostgres } from '../test/helpers/postgres.ts';
import { makeBatch, serializeProtobuf } from './fixtures.ts';
import { OtlpClient } from './otlp-client.ts';

const { values: args } = parseArgs({ options: {
  rounds: { type: 'string', default: '3' }, exports: { type: 'string', default: '120' }, 'month-calls': { type: 'string', default: '300000' },
} });
const ROUNDS = Number(args.rounds);
const EXPORTS = Number(args.exports);
const MONTH_CALLS = Number(args['month-calls']);
const IN_FLIGHT_PER_REPLICA = 4;
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

interface Processor { url: string; child: ChildProcess; client: OtlpClient }

async function startProcessor(ledgerUrl: string): Promise<Processor> {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'error', LEDGER_URL: ledgerUrl },
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
  return { url, child, client: new OtlpClient(url, IN_FLIGHT_PER_REPLICA) };
}

/** CPU seconds of the PostgreSQL server: the postmaster and every process it started. */
function postgresCpuSeconds(postmasterPid: number): number {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const fields = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ');
      if (Number(entry) === postmasterPid || Number(fields[1]) === postmasterPid) ticks += Number(fields[11]) + Number(fields[12]);
    } catch { /* the process ended meanwhile */ }
  }
  return ticks / 100;
}

async function ledgerCalls(url: string): Promise<number> {
  const response = await fetch(`${url}/api/users?limit=10000`);
  const page = await response.json() as { users: Array<{ requests: number }> };
  return page.users.reduce((sum, user) => sum + user.requests, 0);
}

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const format = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

const cluster = await startPostgres();
const processors: Processor[] = [];
try {
  const postmasterPid = Number(readFileSync(`${cluster.dataDir}/postmaster.pid`, 'utf8').split('\n')[0]);
  const singleUrl = await cluster.createDatabase('bench_single');
  const pairUrl = await cluster.createDatabase('bench_pair');
  const single = await startProcessor(singleUrl);
  const pair = [await startProcessor(pairUrl), await startProcessor(pairUrl)];
  processors.push(single, ...pair);
  const setups = [{ name: 'one processor', targets: [single] }, { name: 'two replicas', targets: pair }];
  const results = setups.map(() => ({ callsPerSecond: [] as number[], pgCpuMsPer1000: [] as number[] }));
  let seed = 1;
  const startMs = Date.now() - 2 * 3_600_000;
  for (let round = 0; round < ROUNDS; round++) {
    for (const [index, setup] of setups.entries()) {
      const bodies = Array.from({ length: EXPORTS }, () => serializeProtobuf(makeBatch({ spans: 512, users: 1000, seed: seed++, startTimeMs: startMs })));
      const before = await ledgerCalls(setup.targets[0]!.url);
      const cpuBefore = postgresCpuSeconds(postmasterPid);
      const started = performance.now();
      // Each replica gets its share with its own exports in flight, as the Collector's loadbalancing exporter sends.
      await Promise.all(setup.targets.map((target, at) => target.client.sendAll(
        bodies.filter((_, body) => body % setup.targets.length === at), IN_FLIGHT_PER_REPLICA, 'application/x-protobuf')));
      const seconds = (performance.now() - started) / 1000;
      const cpu = postgresCpuSeconds(postmasterPid) - cpuBefore;
      const calls = (await ledgerCalls(setup.targets[0]!.url)) - before;
      results[index]!.callsPerSecond.push(calls / seconds);
      results[index]!.pgCpuMsPer1000.push((cpu * 1000 * 1000) / calls);
    }
  }
  console.log(`ingest, ${ROUNDS} rounds of ${EXPORTS} exports x 512 spans (1,000 users), medians:`);
  for (const [index, setup] of setups.entries()) {
    console.log(`  ${setup.name.padEnd(14)} ${format(median(results[index]!.callsPerSecond))} calls/s, PostgreSQL CPU ${format(median(results[index]!.pgCpuMsPer1000), 1)} ms per 1,000 calls`);
  }
  const client = new pg.Client({ connectionString: singleUrl });
  await client.connect();
  const calls = await ledgerCalls(single.url);
  const sizes = await client.query<{ name: string; rows: string; bytes: string }>(`SELECT c.relname AS name, c.reltuples::bigint AS rows,
      pg_total_relation_size(c.oid) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY pg_total_relation_size(c.oid) DESC`);
  await client.query('ANALYZE');
  const analysed = await client.query<{ name: string; rows: string; bytes: string }>(`SELECT c.relname AS name, c.reltuples::bigint AS rows,
      pg_total_relation_size(c.oid) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY pg_total_relation_size(c.oid) DESC`);
  await client.end();
  void sizes;
  console.log(`one processor's database after ${format(calls)} calls, per million calls:`);
  for (const row of analysed.rows) {
    console.log(`  ${row.name.padEnd(14)} ${format((Number(row.rows) * 1e6) / calls)} rows, ${format((Number(row.bytes) * 1e6) / calls / 1048576, 1)} MiB`);
  }

  // A month of 10,000 users through the ledger in process, then the users list of that month.
  const monthUrl = await cluster.createDatabase('bench_month');
  const ledger = await PostgresLedger.open({ url: monthUrl, dedupWindowHours: 24, parkedStaleMs: 60_000 });
  const month = Date.UTC(2026, 9, 1);
  const batch: PricedUsage[] = [];
  const writeStarted = performance.now();
  for (let index = 0; index < MONTH_CALLS; index++) {
    batch.push({
      traceId: index.toString(16).padStart(32, '0'), spanId: (index * 7919).toString(16).padStart(16, '0'), parentSpanId: '', source: 'genai',
      userId: `user-${(index * 7) % 10_000}`, properties: { plan: ['free', 'pro', 'team'][index % 3]! }, provider: 'openai',
      model: ['gpt-4o-mini', 'gpt-4o', 'o3-mini'][index % 3]!, operation: 'chat', tokens: { ...NO_TOKENS, input: 500, output: 120 },
      hasUsage: true, durationSeconds: 0.8, timeToFirstTokenSeconds: undefined, isError: index % 50 === 0,
      endTimeMs: month + Math.floor((index / MONTH_CALLS) * 30 * 86_400_000), costNanoUsd: 150_000 + (index % 1000), priced: true,
    });
    if (batch.length === 2000) await ledger.commit(batch.splice(0));
  }
  if (batch.length > 0) await ledger.commit(batch.splice(0));
  const writeSeconds = (performance.now() - writeStarted) / 1000;
  const reads: number[] = [];
  for (let round = 0; round < 5; round++) {
    const started = performance.now();
    await ledger.users({ fromMs: month, toMs: Date.UTC(2026, 10, 1), properties: [], sort: 'costUsd', order: 'desc', limit: 100, offset: 0 });
    reads.push(performance.now() - started);
  }
  const filtered: number[] = [];
  for (let round = 0; round < 3; round++) {
    const started = performance.now();
    await ledger.users({ fromMs: month, toMs: Date.UTC(2026, 10, 1), properties: [['plan', 'pro']], sort: 'costUsd', order: 'desc', limit: 100, offset: 0 });
    filtered.push(performance.now() - started);
  }
  await ledger.close();
  console.log(`a month of 10,000 users (${format(MONTH_CALLS)} calls written in process at ${format(MONTH_CALLS / writeSeconds)} calls/s, groups of 2,000):`);
  console.log(`  /api/users for the month, top 100 by cost: median ${format(median(reads))} ms; with property.plan=pro: ${format(median(filtered))} ms`);
} finally {
  for (const processor of processors) processor.child.kill('SIGTERM');
  cluster.destroy();
}
