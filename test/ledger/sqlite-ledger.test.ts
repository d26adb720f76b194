import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import { canonicalProperties, legacySpanKey, spanIdHash, spanIdentity } from '../../src/sinks/ledger/aggregate.ts';
import { CALL_FIELDS, encodeCall } from '../../src/sinks/ledger/ledger-protocol.ts';
import { UnfoldedSums } from '../../src/sinks/ledger/unfolded-sums.ts';
import { MAX_KNOWN_SERIES } from '../../src/sinks/ledger/group-series.ts';
import { splitRange } from '../../src/sinks/ledger/sqlite-queries.ts';
import { USER_SORT_COLUMNS, type UsersQuery } from '../../src/sinks/ledger/ledger.ts';
import { SqliteLedger } from '../../src/sinks/ledger/sqlite-ledger.ts';
import { priced } from './records.ts';
import type { PricedUsage } from '../../src/pricing/priced-usage.ts';
import { UsageMetrics } from '../../src/sinks/metrics/usage-metrics.ts';
import { metricsByUser } from './otlp-bodies.ts';

const ALL_TIME: UsersQuery = { fromMs: undefined, toMs: undefined, properties: [], sort: 'userId', order: 'asc', limit: undefined, offset: 0 };
const HOUR = 3_600_000;

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-test-'));
  dirs.push(dir);
  return dir;
}
after(() => { for (const dir of dirs) rmSync(dir, { recursive: true, force: true }); });

function openLedger(dataDir: string, now?: () => number): SqliteLedger {
  return new SqliteLedger({ dataDir, dedupWindowHours: 24, synchronous: 'normal', ...(now ? { now } : {}) });
}

describe('ledger aggregation helpers', () => {
  it('writes the same properties in any key order as the same text', () => {
    assert.equal(canonicalProperties({ b: '2', a: '1' }), canonicalProperties({ a: '1', b: '2' }));
    assert.notEqual(canonicalProperties({ a: '1' }), canonicalProperties({ a: '1', b: '' }));
  });

  it('keys a span by its end time and a 53-bit hash of its ids, alike for both spellings of hex', () => {
    const upper = spanIdHash('4BF92F3577B34DA6A3CE929D0E0E4736', '00F067AA0BA902B7');
    assert.equal(spanIdHash('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7'), upper);
    assert.equal(upper, 6_438_726_682_513_683, 'the value dedup keys on disk hold (schema 3 on): it must never change');
    assert.ok(Number.isSafeInteger(upper) && upper >= 0);
    assert.notEqual(spanIdHash('ab', 'cd'), spanIdHash('a', 'bcd'), 'the separator keeps the two ids apart');
    assert.notEqual(spanIdHash('4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b8'), upper);
    assert.deepEqual(spanIdentity({ traceId: 'ab', spanId: 'cd', endTimeMs: 1234.9 }), { endMs: 1234, idHash: spanIdHash('ab', 'cd') });
  });

  it('spreads sequential ids over the whole hash range without collisions', () => {
    const hashes = new Set<number>();
    let high = 0;
    for (let index = 0; index < 200_000; index++) {
      const hash = spanIdHash('0'.repeat(32), index.toString(16).padStart(16, '0'));
      hashes.add(hash);
      if (hash >= 2 ** 52) high++;
    }
    assert.equal(hashes.size, 200_000);
    assert.ok(high > 90_000 && high < 110_000, `top bit set in about half (${high})`);
  });

  it('sums the new calls of a group per series and UTC hour, in integers, from their typed-array form', () => {
    const base = Date.UTC(2026, 0, 31, 23, 10);
    const calls = [
      priced({ endTimeMs: base, costNanoUsd: 1 }),
      priced({ endTimeMs: base + 40 * 60_000, costNanoUsd: 2, input: 7 }),
      priced({ endTimeMs: base + 60 * 60_000, costNanoUsd: 4, isError: true }),
      priced({ endTimeMs: base + 60 * 60_000 + 0.5, costNanoUsd: 8, durationSeconds: 0.1234567, priced: false }),
      priced({ endTimeMs: base + 61 * 60_000, costNanoUsd: 16 }), // a retry: not new
    ];
    const series = [0, 0, 1, 0, 0]; // the error is a series of its own
    const encoded = new Float64Array(calls.length * CALL_FIELDS);
    calls.forEach((call, index) => encodeCall(encoded, index, call, series[index]!));
    const unfolded = new UnfoldedSums();
    unfolded.learn('["alice","openai","gpt-4o-mini","chat",false,"{}"]\n["alice","openai","gpt-4o-mini","chat",true,"{}"]', Float64Array.from([7, 9]), false);
    unfolded.add(Float64Array.from([7, 9]), encoded, Uint8Array.from([1, 1, 1, 1, 0]));
    const hoursOf = (number: number) => new Map(unfolded.hoursOf(unfolded.bySeries.get(number)!).map((sums) => [sums.hour, sums]));
    let ok = hoursOf(7);
    const failed = hoursOf(9);
    const hour = Math.floor(base / HOUR);
    // 23:10 and 23:50 share an hour.
    assert.deepEqual([...ok.values()].map((row) => [row.hour - hour, row.requests, row.unpricedRequests, row.costNanoUsd, row.inputTokens]),
      [[0, 2, 0, 3, 107], [1, 1, 1, 8, 100]]);
    assert.deepEqual([...failed.values()].map((row) => [row.hour - hour, row.requests, row.costNanoUsd]), [[1, 1, 4]]);
    assert.equal(unfolded.entries, 3);
    const late = ok.get(hour + 1)!;
    assert.equal(late.durationMicros, 123_457, 'whole microseconds');
    assert.equal(late.firstSeenMs, base + 60 * 60_000 + 0.5, 'the exact end time, not the dedup key\'s whole ms');
    assert.equal(ok.get(hour)!.lastSeenMs, base + 40 * 60_000);
    // A later group sends known series by number only; its calls add to the same sums.
    unfolded.learn('', Float64Array.from([7]), false);
    const again = new Float64Array(CALL_FIELDS);
    encodeCall(again, 0, priced({ endTimeMs: base + 5 * 60_000, costNanoUsd: 32 }), 0);
    unfolded.add(Float64Array.from([7]), again, Uint8Array.from([1]));
    ok = hoursOf(7);
    assert.deepEqual([ok.get(hour)!.requests, ok.get(hour)!.costNanoUsd, unfolded.entries], [3, 35, 3]);
    assert.throws(() => unfolded.add(Float64Array.from([8]), again, Uint8Array.from([1])), /series number 8 without its line/);
  });
});

describe('SqliteLedger', () => {
  it('commits new calls, drops retried ones, and resolves each export with its new calls', async () => {
    const ledger = openLedger(tempDir());
    const first = [priced(), priced({ userId: 'bob' })];
    assert.deepEqual(await ledger.commit(first), first);
    const retry = first.map((record) => ({ ...record }));
    const [again, fresh] = await Promise.all([ledger.commit(retry), ledger.commit([priced({ userId: 'bob', costNanoUsd: 7 })])]);
    assert.deepEqual(again, [], 'a retried export adds nothing');
    assert.equal(fresh.length, 1);
    const page = await ledger.users(ALL_TIME);
    assert.deepEqual(page.users.map((user) => [user.userId, user.requests, user.costNanoUsd]), [['alice', 1, 45_000], ['bob', 2, 45_007]]);
    assert.equal(page.total, 2);
    await ledger.close();
  });

  it('drops a call repeated inside one export', async () => {
    const ledger = openLedger(':memory:');
    const call = priced();
    assert.equal((await ledger.commit([call, { ...call }])).length, 1);
    assert.equal((await ledger.users(ALL_TIME)).users[0]!.requests, 1);
    await ledger.close();
  });

  it('keeps its totals and its dedup memory across a reopen of the same directory', async () => {
    const dir = tempDir();
    const call = priced({ userId: 'carol' });
    const ledger = openLedger(dir);
    await ledger.commit([call]);
    await ledger.close();
    const reopened = openLedger(dir);
    assert.deepEqual(await reopened.commit([{ ...call }]), []);
    assert.equal((await reopened.users(ALL_TIME)).users[0]!.requests, 1);
    await reopened.close();
  });

  it('refuses a second processor on the same directory with a clear message', async () => {
    const dir = tempDir();
    const ledger = openLedger(dir);
    await ledger.commit([priced()]);
    assert.throws(() => new SqliteLedger({ dataDir: dir, dedupWindowHours: 1, synchronous: 'normal' }), /in use by another process/);
    await ledger.close();
  });

  it('remembers span ids for at least the dedup window, then forgets them', async () => {
    let now = Date.UTC(2026, 5, 1);
    const ledger = new SqliteLedger({ dataDir: ':memory:', dedupWindowHours: 2, synchronous: 'normal', now: () => now });
    const call = priced({ endTimeMs: now - 1000 });
    // An app whose clock runs 3 hours ahead of the processor's: its span seems to end after it is committed (and
    // after the next generation begins).
    const early = priced({ endTimeMs: now + 3 * HOUR });
    await ledger.commit([call, early]);
    now += 2 * HOUR + 1; // one rotation: the call's generation becomes the older one, still consulted
    await ledger.commit([priced()]);
    assert.deepEqual(await ledger.commit([{ ...call }, { ...early }]), [], 'still duplicates after one window');
    now += 2 * HOUR + 1; // second rotation drops the generation holding the call
    await ledger.commit([priced()]);
    assert.equal((await ledger.commit([{ ...call }])).length, 1, 'past two windows the id is forgotten');
    await ledger.close();
  });

  it('cuts ranges at UTC month boundaries, by the hour each call ended in', async () => {
    const ledger = openLedger(':memory:');
    await ledger.commit([
      priced({ userId: 'm', endTimeMs: Date.UTC(2026, 0, 31, 23, 59, 59, 999), costNanoUsd: 1 }),
      priced({ userId: 'm', endTimeMs: Date.UTC(2026, 1, 1, 0, 0, 0), costNanoUsd: 10 }),
      priced({ userId: 'm', endTimeMs: Date.UTC(2026, 1, 28, 23, 30), costNanoUsd: 100 }),
      priced({ userId: 'm', endTimeMs: Date.UTC(2026, 2, 1, 0, 0), costNanoUsd: 1000 }),
    ]);
    const february = await ledger.users({ ...ALL_TIME, fromMs: Date.UTC(2026, 1, 1), toMs: Date.UTC(2026, 2, 1) });
    assert.equal(february.users[0]!.costNanoUsd, 110);
    assert.equal(february.users[0]!.requests, 2);
    assert.equal(february.users[0]!.activeDays, 2);
    assert.equal(february.users[0]!.firstSeenMs, Date.UTC(2026, 1, 1));
    const january = await ledger.users({ ...ALL_TIME, fromMs: Date.UTC(2026, 0, 1), toMs: Date.UTC(2026, 1, 1) });
    assert.equal(january.users[0]!.costNanoUsd, 1);
    assert.deepEqual((await ledger.users({ ...ALL_TIME, fromMs: Date.UTC(2026, 3, 1), toMs: Date.UTC(2026, 4, 1) })), { users: [], total: 0 });
    await ledger.close();
  });

  it('filters by properties, a missing property matching the empty value', async () => {
    const ledger = openLedger(':memory:');
    await ledger.commit([
      priced({ userId: 'p1', properties: { plan: 'premium', feature: 'search' }, costNanoUsd: 5 }),
      priced({ userId: 'p1', properties: { plan: 'free' }, costNanoUsd: 7 }),
      priced({ userId: 'p2', properties: { plan: 'premium' }, costNanoUsd: 11 }),
      priced({ userId: 'p3', properties: {}, costNanoUsd: 13 }),
    ]);
    const premium = await ledger.users({ ...ALL_TIME, properties: [['plan', 'premium']] });
    assert.deepEqual(premium.users.map((user) => [user.userId, user.costNanoUsd]), [['p1', 5], ['p2', 11]]);
    const both = await ledger.users({ ...ALL_TIME, properties: [['plan', 'premium'], ['feature', 'search']] });
    assert.deepEqual(both.users.map((user) => user.userId), ['p1']);
    const noPlan = await ledger.users({ ...ALL_TIME, properties: [['plan', '']] });
    assert.deepEqual(noPlan.users.map((user) => user.userId), ['p3']);
    await ledger.close();
  });

  it('sorts by any column either way and pages with a stable order and the full total', async () => {
    const ledger = openLedger(':memory:');
    const calls = [];
    for (let index = 0; index < 7; index++) {
      for (let call = 0; call <= index % 3; call++) calls.push(priced({ userId: `u${index}`, costNanoUsd: 1000 * (7 - index), input: 10 * index }));
    }
    await ledger.commit(calls);
    const byCost = await ledger.users({ ...ALL_TIME, sort: 'costUsd', order: 'desc', limit: 3, offset: 0 });
    assert.equal(byCost.total, 7);
    assert.deepEqual(byCost.users.map((user) => user.userId), ['u2', 'u1', 'u0']);
    const byRequests = await ledger.users({ ...ALL_TIME, sort: 'requests', order: 'asc', limit: 2, offset: 2 });
    assert.deepEqual(byRequests.users.map((user) => [user.userId, user.requests]), [['u6', 1], ['u1', 2]]);
    const byTokens = await ledger.users({ ...ALL_TIME, sort: 'avgTokensPerRequest', order: 'desc', limit: 1, offset: 0 });
    assert.equal(byTokens.users[0]!.userId, 'u6');
    const pastTheEnd = await ledger.users({ ...ALL_TIME, limit: 5, offset: 50 });
    assert.deepEqual(pastTheEnd, { users: [], total: 7 });
    await ledger.close();
  });

  it('pages in two passes exactly as one pass over every user orders them, for every column, range and filter', async () => {
    const ledger = openLedger(':memory:');
    const calls = [];
    const start = Date.UTC(2026, 10, 3, 20);
    for (let index = 0; index < 40; index++) {
      // Ties on purpose: costs and counts repeat every few users.
      for (let call = 0; call <= index % 4; call++) {
        calls.push(priced({
          userId: `user-${(index * 7) % 40}`, costNanoUsd: 1000 * (index % 5), input: 10 * (index % 3), isError: call === 1,
          endTimeMs: start + ((index * 13 + call * 5) % 60) * HOUR, properties: { plan: index % 2 === 0 ? 'pro' : 'free' },
          durationSeconds: 0.1 * (index % 6),
        }));
      }
    }
    await ledger.commit(calls);
    const ranges = [
      { fromMs: undefined, toMs: undefined, properties: [] },
      { fromMs: start + 3 * HOUR, toMs: start + 40 * HOUR, properties: [] },
      { fromMs: start, toMs: undefined, properties: [['plan', 'pro']] as Array<[string, string]> },
    ];
    for (const range of ranges) {
      for (const sort of USER_SORT_COLUMNS) {
        for (const order of ['asc', 'desc'] as const) {
          const every = await ledger.users({ ...range, sort, order, limit: undefined, offset: 0 });
          const page = await ledger.users({ ...range, sort, order, limit: 7, offset: 5 });
          assert.deepEqual(page, { users: every.users.slice(5, 12), total: every.total }, `${sort} ${order} ${JSON.stringify(range)}`);
        }
      }
    }
    await ledger.close();
  });

  it('gives one user\'s daily series and splits by model and property', async () => {
    const ledger = openLedger(':memory:');
    await ledger.commit([
      priced({ userId: 'd', endTimeMs: Date.UTC(2026, 4, 1, 10), model: 'gpt-4o', costNanoUsd: 30, properties: { plan: 'pro', feature: 'chat' } }),
      priced({ userId: 'd', endTimeMs: Date.UTC(2026, 4, 1, 20), costNanoUsd: 3, isError: true }),
      priced({ userId: 'd', endTimeMs: Date.UTC(2026, 4, 3, 1), costNanoUsd: 4, properties: { plan: 'free' } }),
      priced({ userId: 'e', costNanoUsd: 99 }),
    ]);
    const detail = await ledger.user('d', { fromMs: undefined, toMs: undefined, properties: [] });
    assert.ok(detail?.totals);
    assert.equal(detail.totals.requests, 3);
    assert.equal(detail.totals.errors, 1);
    assert.deepEqual(detail.daily.map((day) => [day.day, day.requests, day.costNanoUsd]), [['2026-05-01', 2, 33], ['2026-05-03', 1, 4]]);
    assert.deepEqual(detail.byModel.map((model) => [model.model, model.costNanoUsd]), [['gpt-4o', 30], ['gpt-4o-mini', 7]]);
    assert.deepEqual(detail.byProperty.map((entry) => [entry.name, entry.value, entry.requests, entry.costNanoUsd]),
      [['feature', 'chat', 1, 30], ['plan', 'pro', 2, 33], ['plan', 'free', 1, 4]]);
    assert.equal(await ledger.user('nobody', { fromMs: undefined, toMs: undefined, properties: [] }), undefined);
    const outside = await ledger.user('d', { fromMs: Date.UTC(2027, 0, 1), toMs: undefined, properties: [] });
    assert.equal(outside?.totals, undefined, 'a known user with no calls in range has no totals');
    await ledger.close();
  });

  it('seeds a user from the answered calls not folded yet, and a commit still in flight is left to the metrics', async () => {
    const dir = tempDir();
    // A clock that stands still: no fold falls due however slowly this runs, so the seeds below read unfolded calls.
    const ledger = openLedger(dir, () => Date.UTC(2026, 10, 26, 14));
    const earlier = priced({ userId: 's', costNanoUsd: 10, durationSeconds: 0.5 });
    const failed = priced({ userId: 's', costNanoUsd: 0, isError: true });
    const first = await ledger.commit([earlier, failed, priced({ userId: 's', costNanoUsd: 20, durationSeconds: 0.25, endTimeMs: Date.UTC(2026, 10, 27) })]);
    const inFlight = priced({ userId: 's' });
    // Seeded before the commit is answered (a fast writer can answer within the same turn of the event loop that
    // sends it, so the seed is read right away).
    const committing = ledger.commit([inFlight]);
    const seed = ledger.seedUser('s');
    const inFlightBatch = await committing;
    assert.deepEqual(seed.map((series) => [series.requests, series.errors, series.costNanoUsd, series.durationSumSeconds]),
      [[2, 0, 30, 0.75], [1, 1, 0, 0.25]], 'exactly the calls of the answered commit');
    assert.equal(ledger.countedInSeed(earlier, first), true);
    assert.equal(ledger.countedInSeed(inFlight, inFlightBatch), false, 'not in the seed: the metrics count it when it arrives');
    const reread = ledger.seedUser('s');
    assert.deepEqual(reread.map((series) => [series.requests, series.errors, series.costNanoUsd, series.durationSumSeconds]),
      [[3, 0, 45_030, 1], [1, 1, 0, 0.25]], 'every answered call');
    assert.equal(ledger.countedInSeed(inFlight, inFlightBatch), true, 'inside the newer seed');
    const later = priced({ userId: 's' });
    const laterBatch = await ledger.commit([later]);
    assert.equal(ledger.countedInSeed(later, laterBatch), false, 'committed after the seed was read');
    const never = priced({ userId: 's' });
    assert.equal(ledger.countedInSeed(never, [never]), false, 'never committed');
    assert.deepEqual(ledger.seedUser('unknown'), []);
    await ledger.close();
    const reopened = openLedger(dir);
    assert.deepEqual(reopened.recentUsers(Date.UTC(2026, 10, 26, 13), 10).map((user) => user.userId), ['s']);
    assert.deepEqual(reopened.seedUser('s').map((series) => [series.requests, series.errors, series.costNanoUsd, series.durationSumSeconds]),
      [[4, 0, 90_030, 1.25], [1, 1, 0, 0.25]], 'after a restart: read from the folded tables');
    await reopened.close();
  });

  it('knows a call is in a seed when the writer folded it before its export was answered', async () => {
    let clock = Date.UTC(2026, 10, 26, 12);
    const ledger = openLedger(':memory:', () => clock);
    await ledger.commit([priced({ userId: 'r', costNanoUsd: 1 })]);
    const racing = priced({ userId: 'r', costNanoUsd: 2 });
    clock += 60_000; // the next group finds a fold due: the writer folds right after answering it
    const committing = ledger.commit([racing]);
    await new Promise((resolve) => setImmediate(resolve));
    // This thread is busy, so the writer's answer waits while the writer commits and folds: poll until the fold shows.
    const deadline = Date.now() + 5000;
    let seed = ledger.seedUser('r');
    while (seed.reduce((sum, series) => sum + series.requests, 0) < 2 && Date.now() < deadline) seed = ledger.seedUser('r');
    assert.deepEqual(seed.map((series) => [series.requests, series.costNanoUsd]), [[2, 3]]);
    const racingBatch = await committing;
    assert.deepEqual(racingBatch, [racing]);
    assert.equal(ledger.countedInSeed(racing, racingBatch), true, 'committed before the seed was read, handed to the metrics after');
    await ledger.close();
  });

  it('keeps /metrics equal to the ledger per user while seeds, evictions and overlapping commits interleave', async () => {
    const ledger = openLedger(':memory:');
    let clock = Date.UTC(2026, 10, 26, 12);
    const metrics = new UsageMetrics({
      propertyLabels: ['plan'], maxUsers: 1000, userTtlSeconds: 60, userLabel: { mode: 'raw', salt: '' }, planPricesUsd: {},
      seedUser: (userId) => ledger.seedUser(userId), countedInSeed: (usage, batch) => ledger.countedInSeed(usage, batch),
    });
    let state = 7;
    const random = () => ((state = (Math.imul(state, 48271) >>> 0) % 2147483647) / 2147483647);
    const sent: PricedUsage[] = [];
    const exportOf = (): PricedUsage[] => Array.from({ length: 1 + Math.floor(random() * 40) }, () => {
      // About one call in ten is a retry of an earlier one.
      if (sent.length > 0 && random() < 0.1) return { ...sent[Math.floor(random() * sent.length)]! };
      const call = priced({
        userId: `u${Math.floor(random() * 25)}`, costNanoUsd: Math.floor(random() * 1000), isError: random() < 0.1,
        properties: { plan: random() < 0.5 ? 'free' : 'pro' }, endTimeMs: clock + Math.floor(random() * 3 * HOUR),
      });
      sent.push(call);
      return call;
    });
    for (let round = 0; round < 30; round++) {
      const exports = Array.from({ length: 1 + Math.floor(random() * 4) }, exportOf);
      await Promise.all(exports.map(async (calls, index) => {
        if (index % 2 === 1) await new Promise((resolve) => setImmediate(resolve)); // a later group commit
        const batch = await ledger.commit(calls);
        for (const call of batch) metrics.record(call, clock, batch);
      }));
      if (round % 7 === 6) {
        clock += 120_000;
        metrics.evictIdleUsers(clock); // the next call of each user seeds again, from the database
      }
    }
    const out: string[] = [];
    metrics.render(out);
    const exposed = metricsByUser(out.join('\n'));
    const page = await ledger.users(ALL_TIME);
    let compared = 0;
    for (const user of page.users) {
      const seen = exposed.get(user.userId);
      if (seen === undefined) continue; // evicted and not back since
      compared++;
      assert.deepEqual([seen.requests, seen.errors, seen.costNanoUsd, seen.durationCount], [user.requests, user.errors, user.costNanoUsd, user.requests], user.userId);
    }
    assert.ok(compared >= 15, `most users compared (${compared} of ${page.users.length})`);
    await ledger.close();
  });

  it('keeps parked calls across a reopen until they are committed, and never parks a committed one', async () => {
    const dir = tempDir();
    const waiting = priced({ userId: undefined });
    const done = priced();
    const ledger = openLedger(dir);
    await ledger.commit([done]);
    assert.deepEqual(await ledger.park([waiting, { ...done }]), [waiting]);
    await ledger.close();
    const reopened = openLedger(dir);
    const back = await reopened.parked();
    assert.deepEqual(back.map((record) => record.spanId), [waiting.spanId]);
    assert.equal(back[0]!.userId, undefined);
    await reopened.commit([{ ...waiting, userId: 'found-later' }]);
    assert.deepEqual(await reopened.parked(), []);
    await reopened.close();
  });

  it('counts every call when the main thread starts its series over (past MAX_KNOWN_SERIES) inside a group commit', async () => {
    const ledger = openLedger(':memory:');
    const exportsOf = (round: number) => Array.from({ length: 4 }, (_, part) =>
      Array.from({ length: 12_000 }, (_, index) => priced({ userId: `u${(part * 12_000 + index) % 40_000}`, costNanoUsd: round + 1 })));
    // Three rounds of four concurrent exports (groups of up to 48,000 calls): 40,000 users x 2 statuses = 80,000 series.
    assert.ok(80_000 > MAX_KNOWN_SERIES);
    for (let round = 0; round < 3; round++) {
      const exports = exportsOf(round).map((calls) => round === 1 ? calls.map((call) => ({ ...call, isError: true })) : calls);
      const committed = await Promise.all(exports.map((calls) => ledger.commit(calls)));
      assert.equal(committed.reduce((sum, batch) => sum + batch.length, 0), 48_000);
    }
    const page = await ledger.users({ ...ALL_TIME, limit: undefined });
    assert.equal(page.total, 40_000);
    const u0 = page.users.find((user) => user.userId === 'u0')!;
    // u0 is in export 0 and (as index 40,000 - 36,000 = 4,000 of export 3) in export 3: twice per round.
    assert.deepEqual([u0.requests, u0.errors, u0.costNanoUsd], [6, 2, 2 * (1 + 2 + 3)]);
    assert.equal(page.users.reduce((sum, user) => sum + user.requests, 0), 144_000);
    assert.deepEqual(ledger.seedUser('u0').map((series) => series.requests).sort(), [2, 4]);
    await ledger.close();
  });

  it('keeps the series of calls that ended in the far future apart from each other', async () => {
    const ledger = openLedger(':memory:');
    const normal = Date.UTC(2026, 10, 26, 12);
    // 2^20 hours later: a fold keyed by series x 2^20 + hour would have put alice's row on bob's key.
    await ledger.commit([priced({ userId: 'alice', endTimeMs: normal + 2 ** 20 * HOUR }), priced({ userId: 'bob', endTimeMs: normal })]);
    const page = await ledger.users(ALL_TIME);
    assert.deepEqual(page.users.map((user) => [user.userId, user.requests]), [['alice', 1], ['bob', 1]]);
    await ledger.close();
  });

  it('reads users in pages from one snapshot on the reader thread, while commits go on beside it', async () => {
    const ledger = openLedger(tempDir());
    const users = 12_000;
    for (let offset = 0; offset < users; offset += 2000) {
      await ledger.commit(Array.from({ length: 2000 }, (_, index) => priced({ userId: `u${String(offset + index).padStart(5, '0')}` })));
    }
    const whole = await ledger.users(ALL_TIME);
    assert.equal(whole.users.length, users);
    const pages = ledger.usersPages(ALL_TIME, 5000)[Symbol.asyncIterator]();
    const first = await pages.next();
    assert.equal(first.done, false);
    assert.deepEqual([first.value!.users.length, first.value!.total], [5000, users]);
    // The cursor's snapshot stays open; a commit is answered meanwhile, and a new read sees it.
    await ledger.commit([priced({ userId: 'u99999' })]);
    assert.equal((await ledger.users(ALL_TIME)).total, users + 1);
    const rest: string[] = [];
    for (let page = await pages.next(); page.done !== true; page = await pages.next()) rest.push(...page.value.users.map((user) => user.userId));
    assert.deepEqual([...first.value!.users.map((user) => user.userId), ...rest], whole.users.map((user) => user.userId),
      'the pages are the snapshot taken when they began: no u99999');
    // A reader that stops early ends its snapshot; reads go on.
    for await (const page of ledger.usersPages({ ...ALL_TIME, offset: 100 }, 1000)) {
      assert.equal(page.users[0]!.userId, 'u00100');
      break;
    }
    assert.equal((await ledger.user('u99999', ALL_TIME))?.totals?.requests, 1);
    await ledger.close();
  });

  it('starts the reader thread again when it dies: the reads waiting on it fail, the next ones are answered', async () => {
    const ledger = openLedger(tempDir());
    await ledger.commit([priced({ userId: 'alice' })]);
    const reader = (ledger as unknown as { readerThread: { terminate(): Promise<number> } }).readerThread;
    await reader.terminate();
    assert.equal((await ledger.users(ALL_TIME)).users[0]?.userId, 'alice');
    assert.notEqual((ledger as unknown as { readerThread: unknown }).readerThread, reader, 'a new thread answers');
    await ledger.close();
  });

  it('rejects commits after close', async () => {
    const ledger = openLedger(':memory:');
    await ledger.close();
    await assert.rejects(ledger.commit([priced()]), /closed/);
  });
});

describe('ledger schema 3: day/hour split, the call log, migrations from schemas 1 and 2', () => {
  const DAY = 24 * HOUR;

  it('reads whole days from the daily rows and only the ragged edges by hour', () => {
    const day = Date.UTC(2026, 1, 10);
    assert.deepEqual(splitRange(day, day + 2 * DAY), { days: { lo: day / DAY, hi: day / DAY + 2 }, hours: [] });
    assert.deepEqual(splitRange(day - 2 * HOUR, day + DAY + 3 * HOUR), {
      days: { lo: day / DAY, hi: day / DAY + 1 },
      hours: [{ lo: day / HOUR - 2, hi: day / HOUR }, { lo: (day + DAY) / HOUR, hi: (day + DAY) / HOUR + 3 }],
    });
    assert.deepEqual(splitRange(day + HOUR, day + 5 * HOUR), { days: undefined, hours: [{ lo: day / HOUR + 1, hi: day / HOUR + 5 }] });
    assert.deepEqual(splitRange(undefined, day + HOUR), { days: { lo: undefined, hi: day / DAY }, hours: [{ lo: day / HOUR, hi: day / HOUR + 1 }] });
    assert.deepEqual(splitRange(day, day), { days: undefined, hours: [] });
  });

  it('gives the same totals as summing the calls, for ranges cut anywhere on the hour, before and after a fold', async () => {
    const ledger = openLedger(':memory:');
    const start = Date.UTC(2026, 2, 1);
    const calls: PricedUsage[] = [];
    for (let index = 0; index < 300; index++) {
      calls.push(priced({
        userId: `r${index % 4}`, endTimeMs: start + index * 17 * 60_000 + 1234, costNanoUsd: index + 1,
        properties: { plan: index % 3 === 0 ? 'premium' : 'free' }, isError: index % 11 === 0,
      }));
    }
    await ledger.commit(calls.slice(0, 150));
    await ledger.users(ALL_TIME); // folds the log
    await ledger.commit(calls.slice(150));
    const ranges: Array<[number | undefined, number | undefined]> = [
      [undefined, undefined], [start + 5 * HOUR, start + 2 * DAY + 7 * HOUR], [start + DAY, start + 3 * DAY],
      [undefined, start + 30 * HOUR], [start + 50 * HOUR, undefined], [start + 3 * HOUR, start + 4 * HOUR],
    ];
    for (const [fromMs, toMs] of ranges) {
      for (const properties of [[], [['plan', 'premium']]] as Array<Array<[string, string]>>) {
        const inRange = calls.filter((call) => (fromMs === undefined || call.endTimeMs >= fromMs) && (toMs === undefined || call.endTimeMs < toMs)
          && properties.every(([name, value]) => call.properties[name] === value));
        const page = await ledger.users({ ...ALL_TIME, fromMs, toMs, properties });
        for (const user of ['r0', 'r1', 'r2', 'r3']) {
          const mine = inRange.filter((call) => call.userId === user);
          const listed = page.users.find((row) => row.userId === user);
          const detail = await ledger.user(user, { fromMs, toMs, properties });
          const label = `${user} ${fromMs} ${toMs} ${JSON.stringify(properties)}`;
          assert.equal(listed?.costNanoUsd ?? 0, mine.reduce((sum, call) => sum + call.costNanoUsd, 0), label);
          assert.equal(listed?.errors ?? 0, mine.filter((call) => call.isError).length, label);
          assert.equal(detail?.totals?.requests ?? 0, mine.length, label);
          assert.equal(detail?.totals?.activeDays ?? 0, new Set(mine.map((call) => Math.floor(call.endTimeMs / DAY))).size, label);
          assert.equal(detail?.daily.reduce((sum, day) => sum + day.costNanoUsd, 0), mine.reduce((sum, call) => sum + call.costNanoUsd, 0), label);
          if (mine.length > 0) assert.equal(listed?.firstSeenMs, Math.min(...mine.map((call) => call.endTimeMs)), label);
        }
      }
    }
    await ledger.close();
  });

  it('seeds from the folded totals plus what is still in the log, and keeps both across a reopen', async () => {
    const dir = tempDir();
    const ledger = openLedger(dir);
    await ledger.commit([priced({ userId: 'f', costNanoUsd: 5, durationSeconds: 0.5 }), priced({ userId: 'f', costNanoUsd: 7, model: 'gpt-4o' })]);
    await ledger.users(ALL_TIME); // folded
    await ledger.commit([priced({ userId: 'f', costNanoUsd: 11, durationSeconds: 0.000001 })]); // logged only
    const seed = ledger.seedUser('f');
    assert.deepEqual(seed.map((series) => [series.model, series.requests, series.costNanoUsd, series.durationSumSeconds]),
      [['gpt-4o-mini', 2, 16, 0.500001], ['gpt-4o', 1, 7, 0.25]]);
    await ledger.commit([priced({ userId: 'g', costNanoUsd: 3 })]);
    assert.deepEqual(ledger.seedUser('g').map((series) => series.costNanoUsd), [3], 'a user only in the log');
    await ledger.close();
    const reopened = openLedger(dir);
    assert.deepEqual(reopened.seedUser('f'), seed);
    await reopened.close();
  });

  it('folds what the call log held at a kill -9, series named once per fold included', () => {
    const dir = tempDir();
    // A separate process commits two groups (the second names known series by number only) and dies before a fold.
    const script = `
      import { SqliteLedger } from ${JSON.stringify(new URL('../../src/sinks/ledger/sqlite-ledger.ts', import.meta.url).href)};
      import { priced } from ${JSON.stringify(new URL('./records.ts', import.meta.url).href)};
      const ledger = new SqliteLedger({ dataDir: process.argv[2], dedupWindowHours: 24, synchronous: 'normal' });
      await ledger.commit([priced({ userId: 'k1', costNanoUsd: 5 }), priced({ userId: 'k2', costNanoUsd: 7, isError: true })]);
      await ledger.commit([priced({ userId: 'k1', costNanoUsd: 11 }), priced({ userId: 'k3', costNanoUsd: 13 })]);
      process.kill(process.pid, 'SIGKILL');`;
    const scriptPath = join(tempDir(), 'commit-then-die.mjs');
    writeFileSync(scriptPath, script);
    const child = spawnSync(process.execPath, [scriptPath, dir], { encoding: 'utf8' });
    assert.equal(child.signal, 'SIGKILL', child.stderr);
    const raw = new DatabaseSync(join(dir, 'ledger.sqlite'));
    const logged = raw.prepare('SELECT lines FROM call_log ORDER BY seq').all() as Array<{ lines: string }>;
    raw.close();
    assert.equal(logged.length, 2, 'both groups were in the log, not folded');
    assert.deepEqual(logged[1]!.lines.split('\n').map((line) => line === '' ? '' : (JSON.parse(line) as string[])[0]), ['', 'k3'],
      'the second row names only the series the first did not');
    return (async () => {
      const ledger = openLedger(dir);
      const page = await ledger.users(ALL_TIME);
      assert.deepEqual(page.users.map((user) => [user.userId, user.requests, user.errors, user.costNanoUsd]),
        [['k1', 2, 0, 16], ['k2', 1, 1, 7], ['k3', 1, 0, 13]]);
      assert.deepEqual(ledger.seedUser('k1').map((series) => [series.requests, series.costNanoUsd]), [[2, 16]]);
      await ledger.close();
    })();
  });

  it('upgrades a schema-2 ledger: the unfolded usage log is folded and replaced by the call log', async () => {
    const dir = tempDir();
    const db = new DatabaseSync(join(dir, 'ledger.sqlite'));
    const usage = `user_ref INTEGER NOT NULL, requests INTEGER NOT NULL, errors INTEGER NOT NULL, unpriced_requests INTEGER NOT NULL,
      input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cache_read_tokens INTEGER NOT NULL, cache_write_tokens INTEGER NOT NULL,
      reasoning_tokens INTEGER NOT NULL, cost_nano_usd INTEGER NOT NULL, duration_us INTEGER NOT NULL, first_seen_ms INTEGER NOT NULL,
      last_seen_ms INTEGER NOT NULL`;
    db.exec(`
      CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE property_sets (id INTEGER PRIMARY KEY, json TEXT NOT NULL UNIQUE);
      CREATE TABLE users (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL UNIQUE, first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL);
      CREATE TABLE series (id INTEGER PRIMARY KEY, user_ref INTEGER NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
        operation TEXT NOT NULL, is_error INTEGER NOT NULL, property_set INTEGER NOT NULL,
        UNIQUE (user_ref, provider, model, operation, is_error, property_set));
      CREATE TABLE usage_hourly (hour INTEGER NOT NULL, series_id INTEGER NOT NULL, ${usage}, PRIMARY KEY (hour, series_id)) WITHOUT ROWID;
      CREATE TABLE usage_daily (day INTEGER NOT NULL, series_id INTEGER NOT NULL, ${usage}, PRIMARY KEY (day, series_id)) WITHOUT ROWID;
      CREATE TABLE user_daily (day INTEGER NOT NULL, ${usage}, PRIMARY KEY (day, user_ref)) WITHOUT ROWID;
      CREATE TABLE usage_log (seq INTEGER PRIMARY KEY, hour INTEGER NOT NULL, series_id INTEGER NOT NULL, ${usage});
      CREATE INDEX usage_log_by_user ON usage_log (user_ref);
      CREATE TABLE seen_0 (end_ms INTEGER NOT NULL, id_hash INTEGER NOT NULL, PRIMARY KEY (end_ms, id_hash)) WITHOUT ROWID;
      CREATE TABLE seen_1 (end_ms INTEGER NOT NULL, id_hash INTEGER NOT NULL, PRIMARY KEY (end_ms, id_hash)) WITHOUT ROWID;
      CREATE TABLE parked (end_ms INTEGER NOT NULL, id_hash INTEGER NOT NULL, parked_at_ms INTEGER NOT NULL, record TEXT NOT NULL,
        PRIMARY KEY (end_ms, id_hash)) WITHOUT ROWID;
      PRAGMA user_version = 2;`);
    const at = Date.UTC(2026, 10, 20, 10, 30);
    const hour = Math.floor(at / HOUR);
    const day = Math.floor(hour / 24);
    const committed = priced({ userId: 'two', endTimeMs: at });
    const { endMs, idHash } = spanIdentity(committed);
    db.prepare(`INSERT INTO meta VALUES ('dedup_current', 0), ('dedup_rotated_ms', ?), ('legacy_seen_until_ms', 0), ('commit_seq', 9)`).run(at);
    db.prepare(`INSERT INTO property_sets VALUES (1, '{"plan":"pro"}')`).run();
    db.prepare('INSERT INTO users VALUES (1, ?, ?, ?)').run('two', at - 60_000, at - 60_000);
    db.prepare(`INSERT INTO series VALUES (1, 1, 'openai', 'gpt-4o-mini', 'chat', 0, 1)`).run();
    // Folded: 2 calls. Still in the log: 1 call, later in the same hour.
    for (const [table, key] of [['usage_hourly', hour], ['usage_daily', day]] as const) {
      db.prepare(`INSERT INTO ${table} VALUES (?, 1, 1, 2, 0, 0, 200, 100, 0, 0, 0, 90000, 500000, ?, ?)`).run(key, at - 60_000, at - 60_000);
    }
    db.prepare('INSERT INTO user_daily VALUES (?, 1, 2, 0, 0, 200, 100, 0, 0, 0, 90000, 500000, ?, ?)').run(day, at - 60_000, at - 60_000);
    db.prepare('INSERT INTO usage_log VALUES (1, ?, 1, 1, 1, 0, 0, 100, 50, 0, 0, 0, 45000, 250000, ?, ?)').run(hour, at, at);
    db.prepare('INSERT INTO seen_0 VALUES (?, ?)').run(endMs, idHash);
    db.close();

    const ledger = openLedger(dir, () => at + HOUR);
    const [two] = (await ledger.users(ALL_TIME)).users;
    assert.deepEqual([two?.userId, two?.requests, two?.costNanoUsd, two?.lastSeenMs], ['two', 3, 135_000, at]);
    assert.deepEqual(ledger.seedUser('two').map((series) => [series.requests, series.costNanoUsd]), [[3, 135_000]]);
    assert.deepEqual(await ledger.commit([{ ...committed }]), [], 'its dedup keys still count');
    await ledger.commit([priced({ userId: 'two', endTimeMs: at })]);
    assert.equal((await ledger.user('two', { fromMs: undefined, toMs: undefined, properties: [] }))?.totals?.requests, 4);
    await ledger.close();
    const raw = new DatabaseSync(join(dir, 'ledger.sqlite'));
    const tables = (raw.prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' AND name IN ('usage_log', 'call_log')`).all() as Array<{ name: string }>)
      .map((row) => row.name);
    assert.deepEqual([tables, (raw.prepare('PRAGMA user_version').get() as { user_version: number }).user_version], [['call_log'], 5]);
    assert.ok((raw.prepare('PRAGMA table_info(series)').all() as Array<{ name: string }>).some((column) => column.name === 'folded_seq'),
      'schema 4: series know the commit they are folded through');
    raw.close();
  });

  it('upgrades a schema-1 ledger: totals, users, parked calls and dedup keys carry over', async () => {
    const dir = tempDir();
    const db = new DatabaseSync(join(dir, 'ledger.sqlite'));
    db.exec(`
      CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE property_sets (id INTEGER PRIMARY KEY, json TEXT NOT NULL UNIQUE);
      CREATE TABLE series (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, operation TEXT NOT NULL,
        is_error INTEGER NOT NULL, property_set INTEGER NOT NULL, UNIQUE (user_id, provider, model, operation, is_error, property_set));
      CREATE TABLE usage_hourly (series_id INTEGER NOT NULL, hour INTEGER NOT NULL, requests INTEGER NOT NULL, unpriced_requests INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cache_read_tokens INTEGER NOT NULL, cache_write_tokens INTEGER NOT NULL,
        reasoning_tokens INTEGER NOT NULL, cost_nano_usd INTEGER NOT NULL, duration_us INTEGER NOT NULL, first_seen_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL, PRIMARY KEY (series_id, hour)) WITHOUT ROWID;
      CREATE INDEX usage_hourly_by_hour ON usage_hourly (hour);
      CREATE TABLE users (user_id TEXT PRIMARY KEY, first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE dedup_0 (span_key BLOB PRIMARY KEY) WITHOUT ROWID;
      CREATE TABLE dedup_1 (span_key BLOB PRIMARY KEY) WITHOUT ROWID;
      CREATE TABLE parked (span_key BLOB PRIMARY KEY, parked_at_ms INTEGER NOT NULL, record TEXT NOT NULL) WITHOUT ROWID;
      PRAGMA user_version = 1;`);
    const at = Date.UTC(2026, 10, 20, 10, 30);
    const committed = priced({ userId: 'old', endTimeMs: at });
    const waiting = priced({ userId: undefined });
    db.prepare("INSERT INTO meta VALUES ('dedup_current', 0), ('dedup_rotated_ms', ?)").run(at);
    db.prepare(`INSERT INTO property_sets VALUES (1, '{"plan":"pro"}')`).run();
    db.prepare(`INSERT INTO series VALUES (1, 'old', 'openai', 'gpt-4o-mini', 'chat', 0, 1), (2, 'old', 'openai', 'gpt-4o-mini', 'chat', 1, 1)`).run();
    db.prepare('INSERT INTO usage_hourly VALUES (1, ?, 3, 0, 300, 150, 0, 0, 0, 135000, 750000, ?, ?), (2, ?, 1, 0, 0, 0, 0, 0, 0, 0, 0, ?, ?)')
      .run(Math.floor(at / HOUR), at - 60_000, at, Math.floor(at / HOUR), at, at);
    db.prepare('INSERT INTO users VALUES (?, ?, ?)').run('old', at - 60_000, at);
    db.prepare('INSERT INTO dedup_0 VALUES (?)').run(legacySpanKey(committed.traceId, committed.spanId));
    db.prepare('INSERT INTO parked VALUES (?, ?, ?)').run(legacySpanKey(waiting.traceId, waiting.spanId), at, JSON.stringify(waiting));
    db.close();

    const ledger = openLedger(dir, () => at + HOUR);
    const [old] = (await ledger.users(ALL_TIME)).users;
    assert.deepEqual([old?.userId, old?.requests, old?.errors, old?.costNanoUsd, old?.activeDays], ['old', 4, 1, 135_000, 1]);
    assert.deepEqual((await ledger.parked()).map((record) => record.spanId), [waiting.spanId]);
    assert.deepEqual(await ledger.commit([{ ...committed }]), [], 'a span committed under schema 1 is still a retry');
    await ledger.commit([{ ...waiting, userId: 'found' }]);
    assert.deepEqual(await ledger.parked(), [], 'the migrated parked call leaves the parking when committed');
    assert.equal(ledger.seedUser('old').reduce((sum, series) => sum + series.requests, 0), 4);
    await ledger.close();
  });
});
