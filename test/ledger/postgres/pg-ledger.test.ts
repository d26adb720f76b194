import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { PricedUsage } from '../../../src/pricing/priced-usage.ts';
import { LedgerUnavailableError, USER_SORT_COLUMNS, type LedgerHealth, type UsageLedger, type UsersPage, type UsersQuery } from '../../../src/sinks/ledger/ledger.ts';
import { PostgresLedger } from '../../../src/sinks/ledger/postgres/pg-ledger.ts';
import { MIGRATIONS } from '../../../src/sinks/ledger/postgres/pg-schema.ts';
import { SqliteLedger } from '../../../src/sinks/ledger/sqlite-ledger.ts';
import { postgresSkipReason, startPostgres, TEST_PASSWORD, type PostgresCluster } from '../../helpers/postgres.ts';
import { priced } from '../records.ts';

const skip = postgresSkipReason();
const HOUR = 3_600_000;
const ALL_TIME: UsersQuery = { fromMs: undefined, toMs: undefined, properties: [], sort: 'userId', order: 'asc', limit: undefined, offset: 0 };

let cluster: PostgresCluster;
let databases = 0;
const open: UsageLedger[] = [];

async function freshUrl(): Promise<string> {
  return cluster.createDatabase(`ledger_${++databases}`);
}

async function openPg(url: string, options: { parkedStaleMs?: number; onHealthChange?: (health: LedgerHealth) => void; now?: () => number; hourlyDetailDays?: number } = {}): Promise<PostgresLedger> {
  const ledger = await PostgresLedger.open({ url, dedupWindowHours: 24, parkedStaleMs: options.parkedStaleMs ?? 60_000, ...options });
  open.push(ledger);
  return ledger;
}

async function allPages(ledger: UsageLedger, query: UsersQuery, pageRows: number): Promise<UsersPage[]> {
  const pages: UsersPage[] = [];
  for await (const page of ledger.usersPages(query, pageRows)) pages.push(page);
  return pages;
}

describe('PostgresLedger', { skip }, () => {
  before(async () => { cluster = await startPostgres(); });
  after(async () => {
    for (const ledger of open) await ledger.close().catch(() => undefined);
    cluster?.destroy();
  });

  it('commits new calls, drops retried ones and repeats inside one export, and resolves each export with its new calls', async () => {
    const ledger = await openPg(await freshUrl());
    const first = priced({ costNanoUsd: 7 });
    const second = priced({ userId: 'bob', costNanoUsd: 11 });
    const [a, b] = await Promise.all([ledger.commit([first, second, first]), ledger.commit([second, priced({ ...first })])]);
    assert.deepEqual(a, [first, second], 'the first export of the group gets both; its repeat of `first` does not count');
    assert.deepEqual(b, [], 'the second export of the same group only repeats them');
    assert.deepEqual(await ledger.commit([first]), [], 'a retry in a later group is dropped too');
    const page = await ledger.users(ALL_TIME);
    assert.deepEqual(page.users.map((user) => [user.userId, user.requests, user.costNanoUsd]), [['alice', 1, 7], ['bob', 1, 11]]);
  });

  it('counts a span once whichever of two ledgers on one database (two replicas) gets it, even at the same moment', async () => {
    const url = await freshUrl();
    const [one, two] = await Promise.all([openPg(url), openPg(url)]);
    const calls = Array.from({ length: 400 }, (_, index) => priced({ userId: `user-${index % 13}`, costNanoUsd: 1000 + index, endTimeMs: Date.UTC(2026, 10, 26, index % 24, 5) }));
    // Each replica gets every call, in exports of different sizes and orders: every call is committed twice at once.
    const exportsOf = (records: readonly PricedUsage[], size: number) => Array.from({ length: Math.ceil(records.length / size) }, (_, index) => records.slice(index * size, (index + 1) * size));
    const answers = await Promise.all([
      ...exportsOf(calls, 17).map((records) => one.commit(records)),
      ...exportsOf([...calls].reverse(), 23).map((records) => two.commit(records)),
    ]);
    const counted = answers.flat();
    assert.equal(counted.length, calls.length, 'each call counted by exactly one replica');
    assert.equal(new Set(counted.map((call) => call.spanId)).size, calls.length);
    const expectedCost = calls.reduce((sum, call) => sum + call.costNanoUsd, 0);
    for (const ledger of [one, two]) {
      const page = await ledger.users(ALL_TIME);
      assert.equal(page.total, 13);
      assert.equal(page.users.reduce((sum, user) => sum + user.requests, 0), calls.length);
      assert.equal(page.users.reduce((sum, user) => sum + user.costNanoUsd, 0), expectedCost);
    }
    assert.deepEqual(await one.users(ALL_TIME), await two.users(ALL_TIME), 'both replicas give the same answer');
  });

  it('answers every users query, page and user detail exactly as the SQLite ledger does for the same calls', async () => {
    const sqlite = new SqliteLedger({ dataDir: ':memory:', dedupWindowHours: 24, synchronous: 'normal' });
    open.push(sqlite);
    const postgres = await openPg(await freshUrl());
    const start = Date.UTC(2026, 9, 30, 20, 0);
    let seed = 7;
    // mulberry32: a small generator whose low bits are as random as its high ones.
    const random = (n: number) => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    const users = ['alice', 'bob', 'carol, "the, admin"', 'dave\nnewline', 'Émile', 'zoë', 'Zed', '0-first'];
    const calls: PricedUsage[] = [];
    for (let index = 0; index < 600; index++) {
      calls.push(priced({
        userId: random(20) === 0 ? undefined : users[random(users.length)],
        model: ['gpt-4o-mini', 'gpt-4o', 'claude-sonnet'][random(3)]!,
        provider: random(2) === 0 ? 'openai' : 'anthropic',
        properties: random(4) === 0 ? {} : { plan: ['free', 'pro'][random(2)]!, ...(random(2) === 0 ? { feature: 'search' } : {}) },
        isError: random(9) === 0,
        priced: random(11) !== 0,
        input: random(5000), output: random(900),
        costNanoUsd: random(2_000_000),
        durationSeconds: random(3000) / 1000,
        endTimeMs: start + random(4 * 24 * HOUR) + random(1000) / 7,
      }));
    }
    for (let at = 0; at < calls.length; at += 50) {
      const batch = calls.slice(at, at + 50);
      assert.deepEqual((await postgres.commit(batch)).length, (await sqlite.commit(batch)).length);
    }
    const ranges: Array<[number | undefined, number | undefined]> = [
      [undefined, undefined], [start + 5 * HOUR, start + 53 * HOUR], [Date.UTC(2026, 10, 1), undefined], [undefined, start + 3 * HOUR],
      [start + 30 * HOUR, start + 31 * HOUR],
    ];
    const filters: Array<ReadonlyArray<readonly [string, string]>> = [[], [['plan', 'pro']], [['plan', ''], ['feature', '']], [['feature', 'search'], ['plan', 'free']]];
    let compared = 0;
    for (const [fromMs, toMs] of ranges) {
      for (const properties of filters) {
        for (const sort of USER_SORT_COLUMNS) {
          for (const order of ['asc', 'desc'] as const) {
            const query: UsersQuery = { fromMs, toMs, properties, sort, order, limit: 3, offset: 1 };
            assert.deepEqual(await postgres.users(query), await sqlite.users(query), JSON.stringify(query));
            compared++;
          }
        }
        const whole: UsersQuery = { ...ALL_TIME, fromMs, toMs, properties, sort: 'costNanoUsd', order: 'desc' };
        assert.deepEqual(await allPages(postgres, whole, 3), await allPages(sqlite, whole, 3));
        for (const userId of [...users, '__no_user__', 'nobody']) {
          assert.deepEqual(await postgres.user(userId, { fromMs, toMs, properties }), await sqlite.user(userId, { fromMs, toMs, properties }), userId);
        }
        // The Users page's reads.
        const filter = { fromMs, toMs, properties };
        assert.deepEqual(await postgres.overview(filter, ['plan', 'feature'], ['plan']), await sqlite.overview(filter, ['plan', 'feature'], ['plan']));
        assert.deepEqual(await postgres.userProperties([...users, 'nobody'], ['plan', 'feature'], filter),
          await sqlite.userProperties([...users, 'nobody'], ['plan', 'feature'], filter));
        const searched: UsersQuery = { ...ALL_TIME, fromMs, toMs, properties, limit: 10, search: 'e' };
        assert.deepEqual(await postgres.users(searched), await sqlite.users(searched), 'search');
      }
    }
    const startDay = Math.floor(start / (24 * HOUR));
    assert.deepEqual(await postgres.dailyActivity(startDay, startDay + 4, 1), await sqlite.dailyActivity(startDay, startDay + 4, 1));
    assert.ok(compared > 300);
    const past: UsersQuery = { ...ALL_TIME, offset: 100, limit: 5 };
    assert.deepEqual(await postgres.users(past), await sqlite.users(past), 'a page past the last user still says how many there are');
    assert.deepEqual(await allPages(postgres, past, 2), await allPages(sqlite, past, 2));
  });

  it('drops usage by the hour past HOURLY_DETAIL_DAYS and keeps every daily total', async () => {
    const url = await freshUrl();
    const now = Date.UTC(2026, 11, 6, 12);
    const ledger = await openPg(url, { hourlyDetailDays: 2, now: () => now });
    await ledger.commit([-5, -3, -1, 0].map((day) => priced({ userId: 'alice', endTimeMs: now + day * 24 * HOUR - 90 * 60_000 })));
    const before = await ledger.users(ALL_TIME);
    const daily = (await ledger.user('alice', ALL_TIME))?.daily;
    await ledger.prune();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const hours = (await client.query<{ hour: number }>('SELECT hour FROM usage_hourly ORDER BY hour')).rows.map((row) => Number(row.hour));
      assert.deepEqual(hours.map((hour) => hour >= Date.UTC(2026, 11, 4) / HOUR), [true, true], 'the hours of the last two days only');
      assert.equal(Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM usage_daily')).rows[0]!.n), 4);
    } finally {
      await client.end();
    }
    assert.deepEqual(await ledger.users(ALL_TIME), before);
    assert.deepEqual((await ledger.user('alice', ALL_TIME))?.daily, daily);
  });

  it('parks calls durably, never one already committed, and a commit by any replica takes it out of the parking', async () => {
    const url = await freshUrl();
    let clock = Date.UTC(2026, 10, 26, 13);
    const one = await openPg(url, { parkedStaleMs: 30_000, now: () => clock });
    const two = await openPg(url, { parkedStaleMs: 30_000, now: () => clock });
    const committed = priced();
    const waiting = [priced({ userId: undefined, parentSpanId: 'aaaaaaaaaaaaaaaa' }), priced({ userId: undefined })];
    await one.commit([committed]);
    assert.deepEqual(await one.park([committed, ...waiting, waiting[0]!]), waiting, 'the committed call is not parked, the repeat once');
    assert.deepEqual(await two.park(waiting), [], 'already parked, by the other replica');
    assert.deepEqual(await two.parked(), [], 'another replica takes over nothing that is not stale');
    clock += 31_000;
    const takenOver = await two.parked();
    assert.deepEqual(takenOver.map((call) => call.spanId).sort(), waiting.map((call) => call.spanId).sort());
    assert.deepEqual(takenOver[0]!.properties, waiting[0]!.properties, 'a parked call comes back whole');
    assert.deepEqual(await one.parked(), [], 'taken over once: the other replica now owns them, freshly');
    await one.commit([{ ...waiting[0]!, userId: 'carol', costNanoUsd: 5, priced: true }]);
    clock += 31_000;
    assert.deepEqual((await one.parked()).map((call) => call.spanId), [waiting[1]!.spanId], 'the committed one left the parking');
  });

  it('lets three ledgers migrate one empty database at once, and refuses a database of a newer schema by name', async () => {
    const url = await freshUrl();
    await Promise.all([openPg(url), openPg(url), openPg(url)]);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const versions = await client.query('SELECT version FROM ledger_schema ORDER BY version');
      assert.deepEqual(versions.rows.map((row) => row.version), MIGRATIONS.map((_, index) => index + 1), 'each migration applied once');
      await client.query('INSERT INTO ledger_schema (version) VALUES ($1)', [MIGRATIONS.length + 1]);
    } finally {
      await client.end();
    }
    await assert.rejects(openPg(url), (error: Error) => {
      assert.match(error.message, new RegExp(`schema ${MIGRATIONS.length + 1}; this processor knows schema ${MIGRATIONS.length}`));
      assert.ok(!error.message.includes(TEST_PASSWORD), 'the password is never in a message');
      return true;
    });
  });

  it('names the database but never the password when it cannot connect', async () => {
    const url = `postgres://postgres:${TEST_PASSWORD}@127.0.0.1:1/nowhere`;
    await assert.rejects(PostgresLedger.open({ url, dedupWindowHours: 24, parkedStaleMs: 1000 }), (error: Error) => {
      assert.match(error.message, /cannot open the PostgreSQL ledger at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/nowhere/);
      assert.ok(!error.message.includes(TEST_PASSWORD));
      return true;
    });
  });

  it('stores ids carrying U+0000 (which PostgreSQL text cannot hold) instead of failing the export', async () => {
    const ledger = await openPg(await freshUrl());
    const hostile = priced({ userId: 'mal\u0000lory', model: 'x\u0000', properties: { 'pl\u0000an': 'v\u0000' } });
    assert.deepEqual(await ledger.commit([hostile]), [hostile]);
    const page = await ledger.users(ALL_TIME);
    assert.deepEqual(page.users.map((user) => user.userId), ['mal\uFFFDlory']);
    assert.deepEqual(await ledger.park([priced({ userId: 'a\u0000' })]).then((parked) => parked.length), 1);
  });

  it('rejects commits while PostgreSQL is down (nothing recorded), says so in health, and recovers without a restart', async () => {
    const changes: LedgerHealth[] = [];
    const ledger = await openPg(await freshUrl(), { onHealthChange: (health) => changes.push(health) });
    const before = priced({ costNanoUsd: 3 });
    await ledger.commit([before]);
    cluster.stop();
    try {
      const during = priced({ costNanoUsd: 5 });
      await assert.rejects(ledger.commit([during]), LedgerUnavailableError);
      const health = ledger.health();
      assert.equal(health.ok, false);
      await assert.rejects(ledger.commit([during]), LedgerUnavailableError, 'refused at once while failing');
      await assert.rejects(ledger.users(ALL_TIME), LedgerUnavailableError);
    } finally {
      cluster.start();
    }
    while (!ledger.health().ok) await new Promise((resolve) => setTimeout(resolve, 100));
    const after = priced({ costNanoUsd: 11 });
    assert.deepEqual(await ledger.commit([after]), [after]);
    const page = await ledger.users(ALL_TIME);
    assert.deepEqual(page.users.map((user) => [user.requests, user.costNanoUsd]), [[2, 14]], 'the refused call was not recorded');
    assert.deepEqual(changes.map((change) => change.ok), [false, true]);
  });
});
