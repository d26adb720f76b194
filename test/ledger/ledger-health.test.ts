import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import { GroupSeriesNumbering } from '../../src/sinks/ledger/group-series.ts';
import { LedgerUnavailableError, type UsersQuery } from '../../src/sinks/ledger/ledger.ts';
import { openConnection, prepareDatabase } from '../../src/sinks/ledger/sqlite-open.ts';
import { LedgerReads } from '../../src/sinks/ledger/sqlite-reads.ts';
import { LedgerWriter, PROBE_FILE_NAME, type Checkpointer } from '../../src/sinks/ledger/sqlite-writer.ts';
import { SqliteLedger } from '../../src/sinks/ledger/sqlite-ledger.ts';
import type { LedgerHealth } from '../../src/sinks/ledger/ledger.ts';
import { groupRequestOf, priced } from './records.ts';

/**
 * The writer's failure state, in process with injected faults (the real disks are test/ledger/disk-failure.test.ts):
 * after a failed commit or a checkpoint the checkpointer thread reports as failed, nothing is committed or read until
 * a probe that writes and syncs succeeds.
 */

const START = Date.UTC(2026, 11, 6, 12);
const ALL_TIME: UsersQuery = { fromMs: undefined, toMs: undefined, properties: [], sort: 'userId', order: 'asc', limit: undefined, offset: 0 };

const dirs: string[] = [];
after(() => { for (const dir of dirs) rmSync(dir, { recursive: true, force: true }); });

/** A ledger file ready for a writer, and a checkpointer whose failure reports the test writes. */
function setUp(): { dir: string; path: string; writer: LedgerWriter; reports: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-health-test-'));
  dirs.push(dir);
  const path = join(dir, 'ledger.sqlite');
  const db = openConnection(path, 'full', 2048);
  prepareDatabase(db, path, START, START);
  db.close();
  const reports: string[] = [];
  const checkpointer: Checkpointer = { running: true, close() {}, takeFailure: () => reports.splice(0).at(-1) };
  const writer = new LedgerWriter({ path, dedupWindowMs: 24 * 3_600_000, synchronous: 'full' }, START, checkpointer);
  return { dir, path, writer, reports };
}

function commit(writer: LedgerWriter, numbering: GroupSeriesNumbering, user: string): number {
  const answer = writer.group(groupRequestOf(numbering, [priced({ userId: user, endTimeMs: START })], START));
  return answer.fresh.reduce((sum, fresh) => sum + fresh, 0);
}

function requestsOf(writer: LedgerWriter, path: string): number {
  writer.foldForRead(START);
  const reader = new DatabaseSync(path, { readOnly: true });
  const page = new LedgerReads(reader).users(ALL_TIME);
  reader.close();
  let requests = 0;
  for (let user = 0; user < page.userIds.length; user++) requests += page.numbers[user * 13]!;
  return requests;
}

describe('the ledger writer on a failing disk', () => {
  it('refuses commits and reads after a checkpoint failed, until a probe writes and syncs', () => {
    const { dir, path, writer, reports } = setUp();
    const numbering = new GroupSeriesNumbering();
    assert.equal(commit(writer, numbering, 'alice'), 1);
    reports.push('ledger checkpoint failed: disk I/O error');
    assert.throws(() => commit(writer, numbering, 'bob'), LedgerUnavailableError);
    const health = writer.health;
    assert.equal(health.ok, false);
    assert.match(health.ok ? '' : health.error, /checkpoint failed: disk I\/O error/);
    assert.throws(() => writer.foldForRead(START), LedgerUnavailableError, 'reads wait for the ledger too');
    assert.equal(writer.maintain(START + 60_000), false, 'no fold while failed');

    // A directory where the probe writes its file: the probe fails, and says why.
    mkdirSync(join(dir, PROBE_FILE_NAME));
    assert.equal(writer.probe(), false);
    assert.match(writer.health.ok ? '' : writer.health.probeError ?? '', /EISDIR|illegal operation on a directory/);
    assert.throws(() => commit(writer, numbering, 'bob'), LedgerUnavailableError);

    rmSync(join(dir, PROBE_FILE_NAME), { recursive: true });
    assert.equal(writer.probe(), true);
    assert.deepEqual(writer.health, { ok: true });
    assert.equal(commit(writer, numbering, 'bob'), 1);
    assert.equal(requestsOf(writer, path), 2, 'alice and bob, nothing of the refused groups');
    writer.close(START);
  });

  it('fails on a commit that failed; the probe decides when commits are tried again', () => {
    const { path, writer } = setUp();
    const numbering = new GroupSeriesNumbering();
    assert.equal(commit(writer, numbering, 'alice'), 1);
    // Another connection takes the call log away: the group's transaction fails midway.
    const other = new DatabaseSync(path);
    other.exec('ALTER TABLE call_log RENAME TO call_log_away');
    assert.throws(() => commit(writer, numbering, 'bob'), /call_log/);
    assert.equal(writer.health.ok, false);
    assert.match(writer.health.ok ? '' : writer.health.error, /a group commit failed/);
    assert.throws(() => commit(writer, numbering, 'carol'), LedgerUnavailableError, 'not tried while failed');
    other.exec('ALTER TABLE call_log_away RENAME TO call_log');
    other.close();
    assert.equal(writer.probe(), true);
    // The group that failed was rolled back whole: its call is new when it is sent again.
    assert.equal(commit(writer, new GroupSeriesNumbering(), 'bob'), 1);
    assert.equal(requestsOf(writer, path), 2);
    writer.close(START);
  });
});

describe('SqliteLedger on a failing disk', () => {
  it('rejects with LedgerUnavailableError, says so in health(), and recovers by itself once the probe succeeds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ledger-health-test-'));
    dirs.push(dir);
    const changes: LedgerHealth[] = [];
    const ledger = new SqliteLedger({ dataDir: dir, dedupWindowHours: 24, synchronous: 'full', onHealthChange: (health) => changes.push(health) });
    try {
      assert.equal((await ledger.commit([priced({ userId: 'alice' })])).length, 1);
      // Two faults: the group commit fails, and so does the probe until the directory is writable again.
      const other = new DatabaseSync(ledger.path);
      other.exec('ALTER TABLE call_log RENAME TO call_log_away');
      mkdirSync(join(dir, PROBE_FILE_NAME));
      await assert.rejects(ledger.commit([priced({ userId: 'bob' })]), LedgerUnavailableError);
      const health = ledger.health();
      assert.equal(health.ok, false);
      assert.match(health.ok ? '' : health.error, /a group commit failed: .*call_log/);
      assert.equal(changes.at(-1)?.ok, false, 'told as it failed');
      await assert.rejects(ledger.commit([priced({ userId: 'carol' })]), LedgerUnavailableError);
      await assert.rejects(ledger.users(ALL_TIME), LedgerUnavailableError);
      await assert.rejects(ledger.user('alice', ALL_TIME), LedgerUnavailableError);

      other.exec('ALTER TABLE call_log_away RENAME TO call_log');
      other.close();
      rmSync(join(dir, PROBE_FILE_NAME), { recursive: true });
      for (let poll = 0; poll < 300 && !ledger.health().ok; poll++) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(ledger.health(), { ok: true }, 'recovered without a restart');
      assert.deepEqual(changes.at(-1), { ok: true });
      assert.equal((await ledger.commit([priced({ userId: 'bob' })])).length, 1);
      const page = await ledger.users(ALL_TIME);
      assert.deepEqual(page.users.map((user) => [user.userId, user.requests]), [['alice', 1], ['bob', 1]]);
    } finally {
      await ledger.close();
    }
  });
});
