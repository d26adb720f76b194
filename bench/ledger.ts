/**
 * The ledger's cost and size.
 *   node bench/ledger.ts [--rounds 3] [--exports 1800] [--in-flight 4] [--sync full] [--spans 1000000] [--users 10000] [--days 30]
 * 1. Ingest through the real processor over HTTP (fixture exports of 512 spans from 1,000 users, official protobuf
 *    bytes), LEDGER=off and LEDGER=sqlite alternated in each round, each a fresh processor in its own process:
 *    - cold: the first `exports` exports, every user and series new to the processor;
 *    - warm: as many again (new spans, the same users), the steady state of a processor that has run a while;
 *    - fold: right after the warm pass, GET /api/users, which waits until the writer has folded what it logged
 *      (folds otherwise run every few seconds, beside the commits): the rest of the ledger's work for those calls.
 *    1,800 exports make a pass of 7-15 s, so that several of the writer's 5-second folds run during it, as in a
 *    processor that has run a while; a pass of 600 (about 3 s) holds one fold, written after the pass has ended.
 *    Spans/s (wall), the processor's CPU per 1,000 spans by thread (Linux /proc) and the client's, medians over
 *    rounds, and the on/off ratios. The client (otlp-client.ts: node:http, kept-alive connections) shares the
 *    machine's cores with the processor, as a Collector on the same host would. `--sync normal,full` runs a
 *    LEDGER=sqlite processor per LEDGER_SYNC mode in each round, side by side (default: the processor's default).
 * 2. The ledger alone, in process: 1,000,000 priced calls across 10,000 users spread over `days` days, committed in
 *    exports of 512; calls/s and the size of the database on disk.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeBatch, serializeProtobuf } from './fixtures.ts';
import { OtlpClient } from './otlp-client.ts';
import { startProcessor, type RunningProcessor } from '../test/helpers/processor.ts';
import type { PricedUsage } from '../src/pricing/priced-usage.ts';
import { NO_TOKENS } from '../src/sources/usage-record.ts';
import { SqliteLedger } from '../src/sinks/ledger/sqlite-ledger.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    exports: { type: 'string', default: '1800' },
    'in-flight': { type: 'string', default: '4' },
    sync: { type: 'string', default: 'full' },
    spans: { type: 'string', default: '1000000' },
    users: { type: 'string', default: '10000' },
    days: { type: 'string', default: '30' },
  },
});
const ROUNDS = Number(values.rounds);
const EXPORTS = Number(values.exports);
const IN_FLIGHT = Number(values['in-flight']);
const SPANS = Number(values.spans);
const USERS = Number(values.users);
const DAYS = Number(values.days);
const SPANS_PER_EXPORT = 512;
const SYNC_MODES = values.sync.split(',').map((mode) => mode.trim());
for (const mode of SYNC_MODES) if (mode !== 'normal' && mode !== 'full') throw new Error(`--sync ${mode}: use normal, full or both`);
/** 'off', then one LEDGER=sqlite setup per LEDGER_SYNC mode. */
type Setup = 'off' | `sqlite-${string}`;
const SETUPS: readonly Setup[] = ['off', ...SYNC_MODES.map((mode) => `sqlite-${mode}` as const)];

/** CPU milliseconds by thread name of a process (Linux); empty where /proc is missing. */
function threadCpuMs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  const dir = `/proc/${pid}/task`;
  if (!existsSync(dir)) return out;
  const ticksToMs = 10; // USER_HZ is 100 on Linux
  for (const task of readdirSync(dir)) {
    try {
      const stat = readFileSync(`${dir}/${task}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // The writer thread is the only worker thread; V8's helpers are "V8Worker"; the rest is the main thread.
      const key = name === 'WorkerThread' ? 'writer' : name.startsWith('V8') ? 'v8 helpers' : 'main';
      out.set(key, (out.get(key) ?? 0) + (Number(fields[11]) + Number(fields[12])) * ticksToMs);
    } catch { /* the thread ended meanwhile */ }
  }
  return out;
}

interface Pass {
  spansPerSecond: number;
  /** CPU ms per 1,000 spans by thread. */
  cpu: Map<string, number>;
  /** The benchmark client's CPU ms per 1,000 spans (it shares the machine's cores). */
  clientCpu: number;
  /** Each export's time from sending to its answer (ms). */
  latencies: number[];
}

async function sendAll(processor: RunningProcessor, bodies: readonly Uint8Array[]): Promise<Pass> {
  const client = new OtlpClient(processor.url, IN_FLIGHT);
  const pid = processor.child.pid!;
  const cpuBefore = threadCpuMs(pid);
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  const latencies = await client.sendAll(bodies, IN_FLIGHT);
  const seconds = (performance.now() - started) / 1000;
  const clientCpu = process.cpuUsage(clientBefore);
  client.close();
  return {
    spansPerSecond: (bodies.length * SPANS_PER_EXPORT) / seconds,
    cpu: cpuPerThousand(cpuBefore, threadCpuMs(pid), bodies.length),
    clientCpu: ((clientCpu.user + clientCpu.system) / 1000) * 1000 / (bodies.length * SPANS_PER_EXPORT),
    latencies,
  };
}

function cpuPerThousand(before: Map<string, number>, after: Map<string, number>, exports: number): Map<string, number> {
  const per = new Map<string, number>();
  for (const [key, ms] of after) per.set(key, ((ms - (before.get(key) ?? 0)) * 1000) / (exports * SPANS_PER_EXPORT));
  return per;
}

interface Round {
  cold: Pass;
  warm: Pass;
  /** The warm pass with the fold after it counted in: spans/s and CPU. */
  warmWithFold: Pass;
  foldMs: number;
}

async function httpRound(setup: Setup, cold: readonly Uint8Array[], warm: readonly Uint8Array[]): Promise<Round> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-ledger-'));
  const ledger = setup === 'off' ? 'off' : 'sqlite';
  const processor = await startProcessor({
    LEDGER: ledger, DATA_DIR: dataDir, LOG_LEVEL: 'error', MAX_USERS: '100000',
    ...(setup === 'off' ? {} : { LEDGER_SYNC: setup.slice('sqlite-'.length) }),
  });
  try {
    const coldPass = await sendAll(processor, cold);
    const pid = processor.child.pid!;
    const cpuBefore = threadCpuMs(pid);
    const started = performance.now();
    const warmPass = await sendAll(processor, warm);
    const ackedMs = performance.now() - started;
    let foldMs = 0;
    if (ledger === 'sqlite') {
      const foldStarted = performance.now();
      const response = await fetch(`${processor.url}/api/users?limit=1`);
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`/api/users answered ${response.status}`);
      foldMs = performance.now() - foldStarted;
    }
    const warmWithFold = {
      spansPerSecond: (warm.length * SPANS_PER_EXPORT) / ((ackedMs + foldMs) / 1000),
      cpu: cpuPerThousand(cpuBefore, threadCpuMs(pid), warm.length),
      clientCpu: warmPass.clientCpu,
      latencies: warmPass.latencies,
    };
    return { cold: coldPass, warm: warmPass, warmWithFold, foldMs };
  } catch (error) {
    // A processor that stopped answering says why in its own output.
    console.error(`${setup} processor (exit ${processor.child.exitCode ?? processor.child.signalCode ?? 'none'}):\n${processor.output().slice(-4000)}`);
    throw error;
  } finally {
    await processor.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function median(list: readonly number[]): number {
  const sorted = [...list].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** p50 / p99 / max of the exports' time to their answer, over every round's exports of a pass. */
function latencyText(passes: readonly Pass[]): string {
  const all = passes.flatMap((pass) => pass.latencies).sort((a, b) => a - b);
  const at = (quantile: number) => all[Math.min(all.length - 1, Math.floor(quantile * all.length))]!;
  return `${at(0.5).toFixed(1)} / ${at(0.99).toFixed(1)} / ${all.at(-1)!.toFixed(0)}`;
}

function cpuText(passes: readonly Pass[]): string {
  const keys = ['main', 'writer', 'v8 helpers'].filter((key) => passes.some((pass) => (pass.cpu.get(key) ?? 0) > 0));
  if (keys.length === 0) return 'n/a';
  const parts = keys.map((key) => `${key} ${median(passes.map((pass) => pass.cpu.get(key) ?? 0)).toFixed(1)}`);
  const total = median(passes.map((pass) => [...pass.cpu.values()].reduce((sum, ms) => sum + ms, 0)));
  return `${total.toFixed(1)} (${parts.join(', ')})`;
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
  console.log(`# bench/ledger.ts on Node ${process.version}: ${ROUNDS} rounds, ${EXPORTS} exports x ${SPANS_PER_EXPORT} spans per pass, ${IN_FLIGHT} in flight`);
  // One export per second of span time, the warm pass after the cold one: time moves on as it does in production.
  const start = Date.now() - 2 * EXPORTS * 1000;
  const bodiesFrom = (firstSeed: number, firstSecond: number) => Array.from({ length: EXPORTS }, (_, index) => serializeProtobuf(makeBatch({
    spans: SPANS_PER_EXPORT, users: 1000, seed: firstSeed + index, startTimeMs: start + (firstSecond + index) * 1000,
  })));
  const cold = bodiesFrom(1, 0);
  const warm = bodiesFrom(1_000_001, EXPORTS);
  const rounds = new Map<Setup, Round[]>(SETUPS.map((setup) => [setup, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const setup of SETUPS) rounds.get(setup)!.push(await httpRound(setup, cold, warm));
  }
  const of = (setup: Setup) => rounds.get(setup)!;
  const rate = (setup: Setup, pass: 'cold' | 'warm' | 'warmWithFold') => median(of(setup).map((round) => round[pass].spansPerSecond));
  console.log('HTTP ingest (spans/s, wall, median; processor CPU ms per 1,000 spans by thread, and the client\'s):');
  console.log('| pass | LEDGER_SYNC | LEDGER=off spans/s | LEDGER=sqlite spans/s | on/off | CPU off | CPU on | client CPU off / on |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const [pass, label] of [['cold', 'cold (new users)'], ['warm', 'warm (known users)'], ['warmWithFold', 'warm, fold included']] as const) {
    const offPass = pass === 'warmWithFold' ? 'warm' : pass;
    const off = rate('off', offPass);
    const clientCpu = (setup: Setup, which: typeof pass) => median(of(setup).map((round) => round[which].clientCpu)).toFixed(1);
    for (const setup of SETUPS.slice(1)) {
      const on = rate(setup, pass);
      console.log(`| ${label} | ${setup.slice('sqlite-'.length)} | ${Math.round(off).toLocaleString('en')} | ${Math.round(on).toLocaleString('en')} | ` +
        `${(on / off).toFixed(2)} | ${cpuText(of('off').map((round) => round[offPass]))} | ${cpuText(of(setup).map((round) => round[pass]))} | ` +
        `${clientCpu('off', offPass)} / ${clientCpu(setup, pass)} |`);
    }
  }
  console.log('Time from sending an export to its answer, ms, p50 / p99 / max over all rounds\' exports:');
  console.log(`| pass | ${SETUPS.map((setup) => (setup === 'off' ? 'LEDGER=off' : `LEDGER_SYNC=${setup.slice('sqlite-'.length)}`)).join(' | ')} |`);
  console.log(`|---|${SETUPS.map(() => '---|').join('')}`);
  for (const pass of ['cold', 'warm'] as const) {
    console.log(`| ${pass} | ${SETUPS.map((setup) => latencyText(of(setup).map((round) => round[pass]))).join(' | ')} |`);
  }
  for (const setup of SETUPS.slice(1)) {
    console.log(`fold after the warm pass (${(EXPORTS * SPANS_PER_EXPORT).toLocaleString('en')} calls), LEDGER_SYNC=${setup.slice('sqlite-'.length)}: ` +
      `${median(of(setup).map((round) => round.foldMs)).toFixed(0)} ms (median)`);
  }
  const perRound = (pass: 'cold' | 'warm') => SETUPS.map((setup) => `${setup} ${of(setup).map((r) => Math.round(r[pass].spansPerSecond)).join(' ')}`).join('; ');
  console.log(`rounds (spans/s): cold: ${perRound('cold')}; warm: ${perRound('warm')}`);

  const dataDir = mkdtempSync(join(tmpdir(), 'bench-ledger-size-'));
  try {
    const calls = pricedCalls(SPANS, USERS, DAYS, 42);
    const ledger = new SqliteLedger({ dataDir, dedupWindowHours: 24, synchronous: SYNC_MODES[0] as 'normal' | 'full' });
    const started = performance.now();
    const inFlight: Array<Promise<unknown>> = [];
    for (let offset = 0; offset < calls.length; offset += 512) {
      inFlight.push(ledger.commit(calls.slice(offset, offset + 512)));
      if (inFlight.length === 4) await Promise.all(inFlight.splice(0));
    }
    await Promise.all(inFlight);
    const seconds = (performance.now() - started) / 1000;
    const month = { fromMs: Date.UTC(2026, 9, 1), toMs: Date.UTC(2026, 10, 1), properties: [], sort: 'costUsd', order: 'desc', limit: 100, offset: 0 } as const;
    let queryStarted = performance.now();
    const page = await ledger.users(month);
    const firstQueryMs = performance.now() - queryStarted;
    queryStarted = performance.now();
    await ledger.users(month);
    const queryMs = performance.now() - queryStarted;
    const beforeClose = directoryBytes(dataDir);
    await ledger.close();
    console.log(`ledger alone (LEDGER_SYNC=${SYNC_MODES[0]}): ${SPANS.toLocaleString('en')} calls, ${USERS.toLocaleString('en')} users, over ${DAYS} days, exports of 512:`);
    console.log(`  ${Math.round(SPANS / seconds).toLocaleString('en')} calls/s committed (${seconds.toFixed(1)} s)`);
    console.log(`  on disk: ${(beforeClose / 1e6).toFixed(1)} MB with WAL, ${(directoryBytes(dataDir) / 1e6).toFixed(1)} MB after close (checkpointed); dedup keys for every call included (all within the window)`);
    console.log(`  GET /api/users for one month (${page.total} users, top 100 by cost): ${queryMs.toFixed(0)} ms; ` +
      `${firstQueryMs.toFixed(0)} ms for the first, which folds what the last seconds logged`);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
