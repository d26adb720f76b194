import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import { repriceLedger } from '../../src/reprice/reprice.ts';
import type { UsersQuery } from '../../src/sinks/ledger/ledger.ts';
import { hourlyDetailStartMs, rangeNeedsPrunedHours, MS_PER_DAY } from '../../src/sinks/ledger/retention.ts';
import { SqliteLedger } from '../../src/sinks/ledger/sqlite-ledger.ts';
import { startProcessor } from '../helpers/processor.ts';
import { eventually } from '../helpers/eventually.ts';
import { priced } from './records.ts';

const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 11, 6, 12);
const ALL_TIME: UsersQuery = { fromMs: undefined, toMs: undefined, properties: [], sort: 'userId', order: 'asc', limit: undefined, offset: 0 };
const dirs: string[] = [];
after(() => { for (const dir of dirs) rmSync(dir, { recursive: true, force: true }); });


describe('HOURLY_DETAIL_DAYS: usage by the hour is dropped past it, daily totals stay', () => {
  it('cuts at the start of a UTC day, and refuses only range edges inside a pruned day', () => {
    const keptFrom = hourlyDetailStartMs(NOW, 2);
    assert.equal(keptFrom, Date.UTC(2026, 11, 4));
    assert.equal(hourlyDetailStartMs(NOW, 0), 0, '0 keeps every hour');
    assert.equal(rangeNeedsPrunedHours(Date.UTC(2026, 11, 1), Date.UTC(2026, 11, 3), keptFrom), undefined, 'whole days read the daily rows');
    assert.equal(rangeNeedsPrunedHours(Date.UTC(2026, 11, 4, 5), undefined, keptFrom), undefined, 'hours that are kept');
    assert.match(rangeNeedsPrunedHours(Date.UTC(2026, 11, 3, 5), undefined, keptFrom)!, /^from=2026-12-03T05:00:00.000Z: .*HOURLY_DETAIL_DAYS/);
    assert.match(rangeNeedsPrunedHours(undefined, Date.UTC(2026, 11, 2, 7), keptFrom)!, /^to=/);
  });

  it('drops the old hours between folds, keeps every total, and the re-pricing command refuses what it can no longer see', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'retention-'));
    dirs.push(dataDir);
    let now = NOW;
    const ledger = new SqliteLedger({ dataDir, dedupWindowHours: 24, synchronous: 'normal', hourlyDetailDays: 2, now: () => now });
    const days = [-5, -3, -1, 0];
    await ledger.commit(days.map((day) => priced({ userId: 'alice', endTimeMs: NOW + day * MS_PER_DAY - 90 * 60_000, costNanoUsd: 1000 })));
    const before = await ledger.users(ALL_TIME);
    const detailBefore = await ledger.user('alice', ALL_TIME);
    assert.equal(before.users[0]!.requests, 4);

    // Between folds the writer drops the hours before 2026-12-04 (two days before today), at most once an hour.
    now += 2 * HOUR;
    await ledger.commit([priced({ userId: 'bob', endTimeMs: now - 60_000 })]);
    const raw = new DatabaseSync(join(dataDir, 'ledger.sqlite'), { readOnly: true });
    const keptFromHour = Date.UTC(2026, 11, 4) / HOUR;
    const oldestHour = () => Number((raw.prepare('SELECT min(hour) AS hour FROM usage_hourly').get() as { hour: number }).hour);
    assert.ok(await eventually(() => oldestHour() >= keptFromHour, 5000), `hours before ${keptFromHour} dropped (oldest ${oldestHour()})`);
    assert.equal(Number((raw.prepare(`SELECT value FROM meta WHERE name = 'hourly_kept_from_ms'`).get() as { value: number }).value), Date.UTC(2026, 11, 4));
    raw.close();

    const after = await ledger.users(ALL_TIME);
    const folded = new DatabaseSync(join(dataDir, 'ledger.sqlite'), { readOnly: true });
    assert.equal(Number((folded.prepare('SELECT count(*) AS n FROM usage_daily').get() as { n: number }).n), 5, 'every day kept whole');
    folded.close();
    assert.deepEqual(after.users.find((user) => user.userId === 'alice'), before.users[0], 'all-time totals unchanged');
    assert.deepEqual((await ledger.user('alice', ALL_TIME))?.daily, detailBefore?.daily, 'daily series unchanged');
    await ledger.close();

    assert.throws(() => repriceLedger({
      dataDir, overrides: [], fromMs: Date.UTC(2026, 11, 1), toMs: Date.UTC(2026, 11, 6), dryRun: true, dedupWindowHours: 24,
    }), /usage by the hour is kept from 2026-12-04T00:00:00.000Z on \(HOURLY_DETAIL_DAYS\)/);
    assert.equal(repriceLedger({
      dataDir, overrides: [], fromMs: Date.UTC(2026, 11, 4), toMs: Date.UTC(2026, 11, 7), dryRun: true, dedupWindowHours: 24,
    }).users.length, 2, 'a range of kept hours re-prices as before');

    // A day that lost some of its hours (a stop half-way through a prune, a larger setting once) is never re-priced
    // from what is left of them.
    const writable = new DatabaseSync(join(dataDir, 'ledger.sqlite'));
    writable.exec(`DELETE FROM usage_hourly WHERE hour = (SELECT max(hour) FROM usage_hourly WHERE hour < ${Date.UTC(2026, 11, 6) / HOUR})`);
    writable.close();
    assert.throws(() => repriceLedger({
      dataDir, overrides: [], fromMs: Date.UTC(2026, 11, 4), toMs: Date.UTC(2026, 11, 7), dryRun: true, dedupWindowHours: 24,
    }), /2026-12-05 no longer holds all of its hours/);

    // Started again with the hours kept for ever, the processor still refuses what an earlier setting dropped.
    const processor = await startProcessor({ DATA_DIR: dataDir, HOURLY_DETAIL_DAYS: '0', MAX_SPAN_AGE_HOURS: '876000' });
    try {
      const refused = await fetch(`${processor.url}/api/users?from=2026-12-01T05:00:00Z`);
      assert.equal(refused.status, 400);
      assert.match(((await refused.json()) as { error: string }).error, /kept from 2026-12-04T00:00:00.000Z on/);
      assert.equal((await fetch(`${processor.url}/api/users?from=2026-12-01`)).status, 200);
      assert.equal((await fetch(`${processor.url}/api/users?from=2026-12-04T05:00:00Z`)).status, 200);
    } finally {
      await processor.stop();
    }
  });

  it('the users API answers 400 for a range edge inside a pruned day, naming the setting', async () => {
    const processor = await startProcessor({ HOURLY_DETAIL_DAYS: '3' });
    try {
      const old = new Date(Date.now() - 10 * MS_PER_DAY);
      const day = old.toISOString().slice(0, 10);
      const refused = await fetch(`${processor.url}/api/users?from=${day}T05:00:00Z`);
      assert.equal(refused.status, 400);
      assert.match(((await refused.json()) as { error: string }).error, /^from=.*HOURLY_DETAIL_DAYS/);
      assert.equal((await fetch(`${processor.url}/api/users/anyone?from=${day}T05:00:00Z`)).status, 400);
      assert.equal((await fetch(`${processor.url}/api/users?from=${day}`)).status, 200, 'whole days read the daily totals');
      assert.equal((await fetch(`${processor.url}/api/users?from=${new Date().toISOString().slice(0, 13)}:00:00Z`)).status, 200);
    } finally {
      await processor.stop();
    }
  });
});
