/**
 * The ledger dashboards against a real PostgreSQL: a known workload committed through PostgresLedger, then every SQL
 * panel run as Grafana would (macros and variables filled in, signed in as the read-only role that
 * grafana/postgres-init/grafana-reader.sh makes) for whole days, ragged hours, a range inside one day and all time,
 * with and without a property filter. Every figure must equal the users API's for the same range, cost to the
 * nano-dollar.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { buildDashboards } from '../../grafana/dashboards.ts';
import { PROPERTY_NAMES_SQL, PROPERTY_VALUES_SQL } from '../../grafana/ledger-sql.ts';
import type { PricedUsage } from '../../src/pricing/priced-usage.ts';
import type { UsageFilter, UsageSums, UserTotals } from '../../src/sinks/ledger/ledger.ts';
import { PostgresLedger } from '../../src/sinks/ledger/postgres/pg-ledger.ts';
import { postgresBinDir, postgresSkipReason, startPostgres, type PostgresCluster } from '../helpers/postgres.ts';
import { priced } from '../ledger/records.ts';
import { sqlTargetsOf, substituteSql, type SqlSelection } from './dashboard-queries.ts';

const skip = postgresSkipReason();
const built = buildDashboards();
const USERS = built['llm-users-ledger.json']!;
const USER = built['llm-user-ledger.json']!;
const HOUR = 3_600_000;
const day = (date: number, hour = 0, minute = 0) => Date.UTC(2026, 10, date, hour, minute);

/** Four users over a week: two plans and none, features, three models, errors, odd hours, a quote in an id. */
function workload(): PricedUsage[] {
  const calls: PricedUsage[] = [];
  const users: ReadonlyArray<{ userId: string; properties: Record<string, string> }> = [
    { userId: 'alice', properties: { plan: 'pro', feature: 'chat' } },
    { userId: 'bob', properties: { plan: 'premium', feature: 'search' } },
    { userId: "o'brien", properties: { feature: 'chat' } },
    { userId: 'carol', properties: { plan: 'pro', feature: 'search' } },
  ];
  const models = [['openai', 'gpt-4o-mini'], ['openai', 'gpt-4o'], ['anthropic', 'claude-3-5-haiku']] as const;
  for (let index = 0; index < 400; index++) {
    const user = users[index % users.length]!;
    const [provider, model] = models[(index * 7) % models.length]!;
    calls.push(priced({
      ...user,
      provider,
      model,
      // 2026-11-20 to 11-26, a call every 25 minutes (each user's every 100), odd seconds, fractions of a millisecond.
      endTimeMs: day(20) + index * 25 * 60_000 + (index % 60) * 1000 + 0.25,
      costNanoUsd: 123_456_789 + index * 1_000_003,
      isError: index % 11 === 0,
      durationSeconds: 0.1 + (index % 13) / 10,
      tokens: { input: 100 + index, output: 7 * index, cacheRead: index % 5, cacheWrite: index % 3, reasoning: index % 2 },
    }));
  }
  return calls;
}

const RANGES: ReadonlyArray<{ name: string; fromMs: number; toMs: number; api: UsageFilter['fromMs'][] }> = [
  { name: 'whole days', fromMs: day(21), toMs: day(25), api: [day(21), day(25)] },
  { name: 'ragged hours at both ends', fromMs: day(21, 5, 30) + 417, toMs: day(25, 22, 15) + 500, api: [day(21, 5, 30) + 417, day(25, 22, 15) + 500] },
  { name: 'hours inside one day', fromMs: day(23, 1) + 1, toMs: day(23, 22, 59) + 999, api: [day(23, 1) + 1, day(23, 22, 59) + 999] },
  // Grafana always has a range; from 1970 to 2100 is the users API's all time.
  { name: 'all time', fromMs: 0, toMs: Date.UTC(2100, 0, 1), api: [undefined, undefined] },
];
const FILTERS: ReadonlyArray<{ name: string; property: string; value: SqlSelection; api: UsageFilter['properties'] }> = [
  { name: 'no filter', property: 'plan', value: 'All', api: [] },
  { name: 'plan=pro', property: 'plan', value: 'pro', api: [['plan', 'pro']] },
  { name: "plan='' (calls without a plan)", property: 'plan', value: '', api: [['plan', '']] },
  { name: 'feature=search', property: 'feature', value: ['search'], api: [['feature', 'search']] },
];

/** A numeric's text as an exact count of its 10^-9 parts ("1.234567891" -> 1234567891n). */
function nanos(text: unknown): bigint {
  const match = /^(-?)(\d+)(?:\.(\d{1,9}))?$/.exec(String(text));
  assert.ok(match, `a numeric with at most 9 decimals: ${String(text)}`);
  return BigInt(`${match[1]}${match[2]}${(match[3] ?? '').padEnd(9, '0')}`);
}

/** The figures every users row, total and user's totals show, against the API's sums. */
function assertFigures(row: Record<string, unknown>, sums: UsageSums & Partial<Pick<UserTotals, 'firstSeenMs' | 'lastSeenMs'>>, where: string) {
  assert.equal(nanos(row.Cost), BigInt(sums.costNanoUsd), `${where}: cost to the nano-dollar`);
  assert.equal(Number(row.Requests), sums.requests, `${where}: requests`);
  assert.equal(Number(row.Errors), sums.errors, `${where}: errors`);
  assert.ok(Math.abs(Number(row['Error rate']) - sums.errors / sums.requests) < 1e-12, `${where}: error rate`);
  assert.equal(Number(row['Tokens in']), sums.inputTokens + sums.cacheReadTokens + sums.cacheWriteTokens, `${where}: tokens in`);
  assert.equal(Number(row['Tokens out']), sums.outputTokens, `${where}: tokens out`);
  assert.ok(Math.abs(Number(row['Avg latency']) - sums.durationMicros / sums.requests / 1e6) < 1e-9, `${where}: average latency`);
  if (sums.firstSeenMs !== undefined) {
    assert.equal(row['First seen'], sums.firstSeenMs, `${where}: first seen`);
    assert.equal(row['Last seen'], sums.lastSeenMs, `${where}: last seen`);
  }
}

let cluster: PostgresCluster;
let ledger: PostgresLedger;
let reader: pg.Client;
let owner: pg.Client;

function sqlOf(dashboard: typeof USERS, panel: string): string {
  const target = sqlTargetsOf(dashboard).find((candidate) => candidate.panel === panel);
  assert.ok(target, `a panel "${panel}"`);
  return target.rawSql;
}

async function runPanel(dashboard: typeof USERS, panel: string, range: { fromMs: number; toMs: number },
  selections: Record<string, SqlSelection>): Promise<Array<Record<string, unknown>>> {
  return (await reader.query(substituteSql(sqlOf(dashboard, panel), range, dashboard, selections))).rows;
}

describe('the ledger dashboards on a real PostgreSQL', { skip }, () => {
  before(async () => {
    cluster = await startPostgres();
    const url = await cluster.createDatabase('usage');
    // As at the replicas profile's first start: the role first, then the processors' migrations create the tables.
    execFileSync('bash', [fileURLToPath(new URL('../../grafana/postgres-init/grafana-reader.sh', import.meta.url))], {
      env: {
        PATH: `${postgresBinDir()}:${process.env.PATH}`, PGHOST: '127.0.0.1', PGPORT: String(cluster.port),
        POSTGRES_USER: 'postgres', POSTGRES_DB: 'usage', LEDGER_READER_PASSWORD: 'reader-secret',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    ledger = await PostgresLedger.open({ url, dedupWindowHours: 24, parkedStaleMs: 60_000 });
    const calls = workload();
    for (let start = 0; start < calls.length; start += 50) {
      const counted = await ledger.commit(calls.slice(start, start + 50));
      assert.equal(counted.length, Math.min(50, calls.length - start));
    }
    reader = new pg.Client({ connectionString: url.replace('//postgres:', '//grafana_reader:') });
    await reader.connect();
    owner = new pg.Client({ connectionString: url });
    await owner.connect();
  });
  after(async () => {
    await reader?.end().catch(() => undefined);
    await owner?.end().catch(() => undefined);
    await ledger?.close().catch(() => undefined);
    cluster?.destroy();
  });

  it('signs in as a role that can read the ledger and change nothing', async () => {
    assert.equal((await reader.query('SELECT current_user AS who')).rows[0].who, 'grafana_reader');
    assert.ok(Number((await reader.query('SELECT COUNT(*) AS n FROM usage_hourly')).rows[0].n) > 0, 'it reads tables made after the role');
    await assert.rejects(reader.query('DELETE FROM users'), /read-only transaction|permission denied/);
    await assert.rejects(reader.query('BEGIN READ WRITE; DELETE FROM users'), /permission denied/);
    await reader.query('ROLLBACK');
    await assert.rejects(reader.query('BEGIN READ WRITE; CREATE TABLE grafana_was_here (x int)'), /permission denied/);
    await reader.query('ROLLBACK');
  });

  it('offers the property names and each one\'s values to filter by', async () => {
    assert.deepEqual((await reader.query(PROPERTY_NAMES_SQL)).rows.map((row) => row.name), ['feature', 'plan']);
    const values = substituteSql(PROPERTY_VALUES_SQL, { fromMs: 0, toMs: 1 }, USERS, { property: 'plan' });
    assert.deepEqual((await reader.query(values)).rows.map((row) => row.value), ['', 'premium', 'pro']);
  });

  for (const range of RANGES) {
    for (const filter of FILTERS) {
      const where = `${range.name}, ${filter.name}`;
      const apiFilter: UsageFilter = { fromMs: range.api[0], toMs: range.api[1], properties: filter.api };
      const selections = { property: filter.property, value: filter.value };

      it(`users table and totals equal the users API: ${where}`, async () => {
        const api = await ledger.users({ ...apiFilter, sort: 'costNanoUsd', order: 'desc', limit: undefined, offset: 0 });
        const rows = await runPanel(USERS, 'Users', range, selections);
        assert.ok(api.users.length > 0, `${where}: the workload has users in this range`);
        assert.deepEqual(rows.map((row) => row.User), api.users.map((user) => user.userId), `${where}: the same users, by cost`);
        rows.forEach((row, index) => assertFigures(row, api.users[index]!, `${where} ${String(row.User)}`));

        const [totals, ...more] = await runPanel(USERS, 'Totals', range, selections);
        assert.equal(more.length, 0);
        assert.equal(Number(totals!.Users), api.total, `${where}: users`);
        const sum = (field: keyof UsageSums) => api.users.reduce((total, user) => total + user[field], 0);
        assertFigures(totals!, {
          requests: sum('requests'), errors: sum('errors'), unpricedRequests: 0, inputTokens: sum('inputTokens'),
          outputTokens: sum('outputTokens'), cacheReadTokens: sum('cacheReadTokens'), cacheWriteTokens: sum('cacheWriteTokens'),
          reasoningTokens: 0, costNanoUsd: sum('costNanoUsd'), durationMicros: sum('durationMicros'),
          firstSeenMs: Math.min(...api.users.map((user) => user.firstSeenMs)), lastSeenMs: Math.max(...api.users.map((user) => user.lastSeenMs)),
        }, `${where} totals`);
      });

      it(`each user's totals, days and models equal /api/users/:id: ${where}`, async () => {
        for (const userId of ['alice', 'bob', "o'brien", 'carol']) {
          const detail = await ledger.user(userId, apiFilter);
          const choice = { ...selections, user: userId };
          const totals = await runPanel(USER, 'Totals', range, choice);
          if (detail?.totals === undefined) {
            assert.deepEqual(totals, [], `${where} ${userId}: no calls, no row`);
            continue;
          }
          assert.equal(totals.length, 1);
          assertFigures(totals[0]!, detail.totals, `${where} ${userId}`);

          const costs = await runPanel(USER, 'Cost per day by model', range, choice);
          const requests = await runPanel(USER, 'Requests per day by model', range, choice);
          const perDay = (rows: Array<Record<string, unknown>>, column: string, exact: (value: unknown) => bigint) => {
            const days = new Map<string, bigint>();
            for (const row of rows) {
              const key = (row.time as Date).toISOString().slice(0, 10);
              days.set(key, (days.get(key) ?? 0n) + exact(row[column]));
            }
            return [...days.entries()];
          };
          assert.deepEqual(perDay(costs, 'Cost', nanos), detail.daily.map((one) => [one.day, BigInt(one.costNanoUsd)]), `${where} ${userId}: cost per day`);
          assert.deepEqual(perDay(requests, 'Requests', (value) => BigInt(String(value))), detail.daily.map((one) => [one.day, BigInt(one.requests)]), `${where} ${userId}: requests per day`);

          const models = await runPanel(USER, 'Models', range, choice);
          assert.deepEqual(models.map((row) => [row.Provider, row.Model, Number(row.Requests), Number(row.Errors), nanos(row.Cost)]),
            detail.byModel.map((model) => [model.provider, model.model, model.requests, model.errors, BigInt(model.costNanoUsd)]),
            `${where} ${userId}: by model`);
          const byModelDay = new Map(costs.map((row) => [`${(row.time as Date).toISOString()} ${String(row.metric)}`, nanos(row.Cost)]));
          assert.equal([...byModelDay.values()].reduce((a, b) => a + b, 0n), BigInt(detail.totals.costNanoUsd), `${where} ${userId}: the bars add up`);
        }
      });
    }
  }

  it('a user of no calls, or an id that is not one, gets no rows', async () => {
    const range = RANGES[3]!;
    for (const userId of ['nobody', "x' OR '1'='1", '']) {
      assert.deepEqual(await runPanel(USER, 'Totals', range, { user: userId, property: 'plan', value: 'All' }), [], userId);
      assert.deepEqual(await runPanel(USER, 'Models', range, { user: userId, property: 'plan', value: 'All' }), [], userId);
    }
  });
});
