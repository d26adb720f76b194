import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import type { PricedUsage } from '../../src/pricing/priced-usage.ts';
import { GroupSeriesNumbering } from '../../src/sinks/ledger/group-series.ts';
import type { UsersQuery } from '../../src/sinks/ledger/ledger.ts';
import { SqliteLedger } from '../../src/sinks/ledger/sqlite-ledger.ts';
import { openConnection, prepareDatabase } from '../../src/sinks/ledger/sqlite-open.ts';
import { LedgerFold } from '../../src/sinks/ledger/sqlite-fold.ts';
import { LedgerReads } from '../../src/sinks/ledger/sqlite-reads.ts';
import { LedgerWriter, type Checkpointer } from '../../src/sinks/ledger/sqlite-writer.ts';
import { UnfoldedSums } from '../../src/sinks/ledger/unfolded-sums.ts';
import { groupRequestOf, priced } from './records.ts';

const ALL_TIME: UsersQuery = { fromMs: undefined, toMs: undefined, properties: [], sort: 'userId', order: 'asc', limit: undefined, offset: 0 };
const START = Date.UTC(2026, 10, 26, 12);
const USERS = 500;

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sliced-fold-test-'));
  dirs.push(dir);
  return dir;
}
after(() => { for (const dir of dirs) rmSync(dir, { recursive: true, force: true }); });

/** Two calls per user, one series each, costs that tell users apart. */
function callsOfEveryUser(): PricedUsage[] {
  return Array.from({ length: USERS }, (_, user) => [
    priced({ userId: `u${user}`, costNanoUsd: user + 1, endTimeMs: START + user }),
    priced({ userId: `u${user}`, costNanoUsd: 1000, endTimeMs: START + user + 1 }),
  ]).flat();
}

/** What a read-only look at the file says about the fold: how far it is, and how many series are ahead of that. */
function foldState(db: DatabaseSync): { foldedSeq: number; commitSeq: number; seriesAhead: number } {
  const meta = new Map((db.prepare('SELECT name, value FROM meta').all() as Array<{ name: string; value: number }>).map((row) => [row.name, Number(row.value)]));
  const foldedSeq = meta.get('folded_seq')!;
  const seriesAhead = Number((db.prepare('SELECT count(*) AS n FROM series WHERE folded_seq > ?').get(foldedSeq) as { n: number }).n);
  return { foldedSeq, commitSeq: meta.get('commit_seq')!, seriesAhead };
}

/**
 * A ledger holding callsOfEveryUser(), not folded yet, its clock a minute on: the next group finds a fold due, and
 * the writer starts it right after answering that group (the trigger, a call of u0). One row per slice: a fold of
 * 500 series takes hundreds of transactions, so the test can watch it midway.
 */
async function ledgerBeforeAFold(): Promise<{ dir: string; ledger: SqliteLedger; trigger: PricedUsage }> {
  const dir = tempDir();
  let clock = START;
  const ledger = new SqliteLedger({ dataDir: dir, dedupWindowHours: 24, synchronous: 'normal', now: () => clock, foldSliceRows: 1 });
  const calls = callsOfEveryUser();
  for (let offset = 0; offset < calls.length; offset += 100) await ledger.commit(calls.slice(offset, offset + 100));
  clock += 60_000;
  return { dir, ledger, trigger: priced({ userId: 'u0', costNanoUsd: 500_000, endTimeMs: START + 5 }) };
}

describe('folds written a slice at a time', () => {
  it('keeps every seed exact while a fold is half written', async () => {
    const { dir, ledger, trigger } = await ledgerBeforeAFold();
    // Answered before the fold's first slice (the writer answers, then folds), so every seed below holds it.
    const batch = await ledger.commit([trigger]);

    const expected = (user: number) => [[user === 0 ? 3 : 2, user + 1 + 1000 + (user === 0 ? 500_000 : 0)]];
    const reader = new DatabaseSync(join(dir, 'ledger.sqlite'), { readOnly: true });
    let midwayChecks = 0;
    let state = foldState(reader);
    const deadline = Date.now() + 20_000;
    // No await in this loop: the writer folds on its own thread while this one reads seeds (taking the writer's
    // answers as a seed does).
    for (let round = 0; (state.foldedSeq < state.commitSeq || state.commitSeq === 0) && Date.now() < deadline; round++) {
      const user = (round * 7) % USERS;
      const midway = state.seriesAhead > 0;
      assert.deepEqual(ledger.seedUser(`u${user}`).map((series) => [series.requests, series.costNanoUsd]), expected(user),
        `u${user} ${midway ? 'while a fold was half written' : ''}`);
      if (midway) midwayChecks++;
      state = foldState(reader);
    }
    reader.close();
    assert.ok(midwayChecks > 0, 'some seeds were read while some series were folded and others not');
    assert.equal(ledger.countedInSeed(trigger, batch), true, 'the seeds above were exact as of its commit');
    const page = await ledger.users(ALL_TIME);
    assert.equal(page.total, USERS);
    for (const user of page.users) {
      const index = Number(user.userId.slice(1));
      assert.deepEqual([[user.requests, user.costNanoUsd]], expected(index), user.userId);
      assert.deepEqual(ledger.seedUser(user.userId).map((series) => [series.requests, series.costNanoUsd]), expected(index));
    }
    await ledger.close();
  });

  it('knows a call is in a seed when a slice folded it before this thread handled its answer', async () => {
    const { dir, ledger, trigger } = await ledgerBeforeAFold();
    const committing = ledger.commit([trigger]);
    await new Promise((resolve) => setImmediate(resolve)); // the group is sent
    // Busy from here on, so this thread handles no answer by itself: wait until the first slice has folded u0's
    // series (the lowest id) through the trigger's commit, which the writer answered before the fold began.
    const reader = new DatabaseSync(join(dir, 'ledger.sqlite'), { readOnly: true });
    const u0Folded = reader.prepare(`SELECT s.folded_seq AS folded_seq FROM series s JOIN users u ON u.id = s.user_ref WHERE u.user_id = 'u0'`);
    const commitSeq = reader.prepare(`SELECT value FROM meta WHERE name = 'commit_seq'`);
    const deadline = Date.now() + 20_000;
    const folded = () => {
      const row = u0Folded.get() as { folded_seq: number } | undefined;
      return row !== undefined && Number(row.folded_seq) === Number((commitSeq.get() as { value: number }).value);
    };
    while (!folded() && Date.now() < deadline) { /* the writer works on its own thread */ }
    assert.ok(folded(), 'u0 was folded through the trigger\'s commit');
    const state = foldState(reader);
    reader.close();
    assert.ok(state.foldedSeq < state.commitSeq, 'and the fold was not over yet');
    assert.deepEqual(ledger.seedUser('u0').map((series) => [series.requests, series.costNanoUsd]), [[3, 501_001]]);
    const batch = await committing;
    assert.equal(ledger.countedInSeed(trigger, batch), true, 'in the seed: the metrics must not count it again');
    await ledger.close();
  });

  it('counts once what a fold cut short by a kill -9 had folded and what it had not', () => {
    const dir = tempDir();
    const script = `
      import { writeSync } from 'node:fs';
      import { join } from 'node:path';
      import { DatabaseSync } from 'node:sqlite';
      import { SqliteLedger } from ${JSON.stringify(new URL('../../src/sinks/ledger/sqlite-ledger.ts', import.meta.url).href)};
      import { priced } from ${JSON.stringify(new URL('./records.ts', import.meta.url).href)};
      const dir = process.argv[2];
      let clock = ${START};
      const ledger = new SqliteLedger({ dataDir: dir, dedupWindowHours: 24, synchronous: 'normal', now: () => clock, foldSliceRows: 1 });
      const calls = Array.from({ length: ${USERS} }, (_, user) => [
        priced({ userId: 'u' + user, costNanoUsd: user + 1, endTimeMs: ${START} + user }),
        priced({ userId: 'u' + user, costNanoUsd: 1000, endTimeMs: ${START} + user + 1 }),
      ]).flat();
      for (let offset = 0; offset < calls.length; offset += 100) await ledger.commit(calls.slice(offset, offset + 100));
      clock += 60_000;
      await ledger.commit([priced({ userId: 'u0', costNanoUsd: 500000, endTimeMs: ${START} + 5 })]);
      const reader = new DatabaseSync(join(dir, 'ledger.sqlite'), { readOnly: true });
      const deadline = Date.now() + 20000;
      while (Date.now() < deadline) {
        const folded = reader.prepare("SELECT value FROM meta WHERE name = 'folded_seq'").get().value;
        const ahead = reader.prepare('SELECT count(*) AS n FROM series WHERE folded_seq > ?').get(folded).n;
        if (ahead > 0 && ahead < ${USERS}) {
          writeSync(1, 'killed midway\\n');
          process.kill(process.pid, 'SIGKILL');
        }
      }
      writeSync(1, 'no fold seen midway\\n');`;
    const scriptPath = join(tempDir(), 'fold-then-die.mjs');
    writeFileSync(scriptPath, script);
    const child = spawnSync(process.execPath, [scriptPath, dir], { encoding: 'utf8' });
    assert.equal(child.stdout.trim(), 'killed midway', child.stderr);
    assert.equal(child.signal, 'SIGKILL');
    const raw = new DatabaseSync(join(dir, 'ledger.sqlite'), { readOnly: true });
    const state = foldState(raw);
    raw.close();
    assert.ok(state.seriesAhead > 0 && state.foldedSeq < state.commitSeq, `a fold was cut short: ${JSON.stringify(state)}`);
    return (async () => {
      const ledger = new SqliteLedger({ dataDir: dir, dedupWindowHours: 24, synchronous: 'normal', now: () => START + 120_000 });
      const page = await ledger.users(ALL_TIME);
      assert.equal(page.total, USERS);
      for (const user of page.users) {
        const index = Number(user.userId.slice(1));
        const want = [index === 0 ? 3 : 2, index + 1 + 1000 + (index === 0 ? 500_000 : 0)];
        assert.deepEqual([user.requests, user.costNanoUsd], want, user.userId);
        assert.deepEqual(ledger.seedUser(user.userId).map((series) => [series.requests, series.costNanoUsd]), [want], user.userId);
      }
      await ledger.close();
    })();
  });

  it('keeps up with a flood of new series: the sums gathered during a fold stay bounded', () => {
    const dir = tempDir();
    const path = join(dir, 'ledger.sqlite');
    const setup = openConnection(path, 'normal', 2048);
    prepareDatabase(setup, path, START, START);
    setup.close();
    const writer = new LedgerWriter({ path, dedupWindowMs: 24 * 3_600_000, synchronous: 'normal' }, START);
    const numbering = new GroupSeriesNumbering();
    const groupSize = 2000;
    const groups = 30;
    let mostGathered = 0;
    for (let group = 0; group < groups; group++) {
      // Every call a user never seen before, as in a flood of new users: one new series each.
      const records = Array.from({ length: groupSize }, (_, index) => priced({ userId: `flood-${group}-${index}`, costNanoUsd: 3 }));
      writer.group(groupRequestOf(numbering, records, START));
      // As the writer thread does: one slice after each group.
      writer.maintain(START);
      mostGathered = Math.max(mostGathered, writer.unfoldedEntries);
    }
    // A fold begins once the sums have met 20,000 new series and must be over before as many have gathered again.
    assert.ok(mostGathered <= 20_000 + groupSize, `at most one fold's worth and a group gathered, not ${mostGathered}`);
    writer.foldForRead(START);
    const reader = new DatabaseSync(path, { readOnly: true });
    const page = new LedgerReads(reader).users(ALL_TIME);
    reader.close();
    assert.equal(page.total, groups * groupSize);
    writer.close(START);
  });
});

/** The group commit the main thread sends for `records`, their series numbered by `numbering`. */
/** The sums a writer would hold after committing `records` in one group. */
function sumsOf(records: readonly PricedUsage[]): UnfoldedSums {
  const group = groupRequestOf(new GroupSeriesNumbering(), records, START);
  const sums = new UnfoldedSums();
  sums.learn(group.series, group.seriesNumbers, group.seriesReset);
  sums.add(group.seriesNumbers, group.calls, new Uint8Array(records.length).fill(1));
  return sums;
}

/** A fresh ledger file and a connection to it, as the writer opens it. */
function freshDatabase(): { db: DatabaseSync; path: string } {
  const path = join(tempDir(), 'ledger.sqlite');
  const db = openConnection(path, 'normal', 2048);
  prepareDatabase(db, path, START, START);
  return { db, path };
}

/** One step of `fold` in a transaction of its own, committed (or rolled back), as the writer runs it. */
function stepOf(db: DatabaseSync, fold: LedgerFold, maxRows: number, commit = true): boolean {
  db.exec('BEGIN IMMEDIATE');
  const last = fold.step(maxRows);
  if (commit) {
    db.exec('COMMIT');
    fold.confirm();
  } else {
    db.exec('ROLLBACK');
    fold.forget();
  }
  return last;
}

describe('the steps of a fold', () => {
  it('goes through every phase in one step when nothing limits it (a fold that is behind is not held up)', () => {
    const { db } = freshDatabase();
    const fold = new LedgerFold(db);
    fold.begin(sumsOf(callsOfEveryUser()), 1);
    assert.equal(stepOf(db, fold, Infinity), true);
    assert.equal(fold.inProgress, false);
    const totals = db.prepare('SELECT count(*) AS users, (SELECT sum(requests) FROM usage_daily) AS requests FROM users').get() as { users: number; requests: number };
    assert.deepEqual([Number(totals.users), Number(totals.requests)], [USERS, 2 * USERS]);
    db.close();
  });

  it('after a slice rolled back (its new series\' ids gone), writes every series once, under ids that exist', () => {
    const { db } = freshDatabase();
    const fold = new LedgerFold(db);
    const calls = callsOfEveryUser();
    // Half the users known to the ledger before the fold under test; it meets them again and 250 new ones.
    fold.begin(sumsOf(calls.slice(0, USERS)), 1);
    while (!stepOf(db, fold, Infinity)) { /* one fold */ }
    fold.begin(sumsOf(calls), 2);
    let steps = 0;
    while (!stepOf(db, fold, 40)) {
      // A slice of new series rolls back after inserting them: their ids no longer exist.
      if (++steps === 10) assert.equal(stepOf(db, fold, 40, false), false);
    }
    const series = db.prepare('SELECT count(*) AS n, count(DISTINCT user_ref) AS users FROM series').get() as { n: number; users: number };
    assert.deepEqual([Number(series.n), Number(series.users)], [USERS, USERS], 'one series per user, none twice');
    const perUser = db.prepare(`SELECT u.user_id AS user_id, sum(d.requests) AS requests FROM user_daily d JOIN users u ON u.id = d.user_ref
      GROUP BY d.user_ref`).all() as Array<{ user_id: string; requests: number }>;
    assert.equal(perUser.length, USERS);
    for (const row of perUser) {
      const user = Number(row.user_id.slice(1));
      assert.equal(Number(row.requests), user < USERS / 2 ? 4 : 2, row.user_id);
    }
    db.close();
  });
});

describe('checkpoints after a fold', () => {
  for (const running of [true, false]) {
    it(running ? 'are left to a running checkpointer thread' : 'are the writer\'s own once its checkpointer thread has stopped', () => {
      const { db, path } = freshDatabase();
      db.close();
      const checkpointer: Checkpointer = { running, close() {}, takeFailure: () => undefined };
      const writer = new LedgerWriter({ path, dedupWindowMs: 24 * 3_600_000, synchronous: 'normal' }, START, checkpointer);
      writer.group(groupRequestOf(new GroupSeriesNumbering(), callsOfEveryUser(), START));
      const before = statSync(path).size;
      // 10 s later a fold is due; it runs to its end, a step per call.
      while (writer.maintain(START + 10_000)) { /* the next step */ }
      const grown = statSync(path).size > before;
      assert.equal(grown, !running, `database file ${before} -> ${statSync(path).size} bytes`);
      writer.close(START + 10_000);
    });
  }
});

/** Blocks this thread (the writer runs on its own), as a long synchronous task on the main thread would. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Races between a seed, read synchronously on the main thread, and the writer, which commits and folds meanwhile.
 * They reach into the ledger (its queue, flush, readFoldedSeed, seededAt) to put the writer's work exactly between
 * two steps of a seed.
 */
describe('seeds racing the writer', () => {
  it('keeps the groups a fold finished after the seed\'s snapshot until the seed has added them', async () => {
    const dir = tempDir();
    let clock = START;
    const ledger = new SqliteLedger({ dataDir: dir, dedupWindowHours: 24, synchronous: 'normal', now: () => clock });
    await ledger.commit([priced({ userId: 'U', costNanoUsd: 7 })]); // commit 1, not folded
    const reader = new DatabaseSync(join(dir, 'ledger.sqlite'), { readOnly: true });
    const meta = (name: string) => Number((reader.prepare('SELECT value FROM meta WHERE name = ?').get(name) as { value: number }).value);
    const internals = ledger as unknown as {
      queue: Array<{ kind: 'commit'; records: PricedUsage[]; resolve: () => void; reject: () => void }>;
      flush(): void;
      readFoldedSeed(...args: unknown[]): void;
    };
    const commitUnawaited = (userId: string) => {
      internals.queue.push({ kind: 'commit', records: [priced({ userId })], resolve() {}, reject() {} });
      internals.flush();
    };
    const readFoldedSeed = internals.readFoldedSeed;
    internals.readFoldedSeed = function (this: unknown, ...args: unknown[]) {
      readFoldedSeed.apply(this, args); // the snapshot: nothing folded, U's call only among the answered groups
      internals.readFoldedSeed = readFoldedSeed;
      clock += 60_000;
      commitUnawaited('V'); // commit 2: the writer answers it, then folds 1..2
      for (let wait = 0; wait < 400 && meta('folded_seq') < 2; wait++) sleepSync(5);
      commitUnawaited('W'); // commit 3: its answer says 1..2 are folded
      for (let wait = 0; wait < 400 && meta('commit_seq') < 3; wait++) sleepSync(5);
      sleepSync(50); // the writer posts its answer right after the commit
    };
    const seed = ledger.seedUser('U').map((series) => [series.requests, series.costNanoUsd]);
    assert.equal(meta('folded_seq'), 2, 'the fold finished while the seed was read');
    reader.close();
    assert.deepEqual(seed, [[1, 7]], 'U\'s call: in neither the snapshot nor the groups, had they been dropped');
    assert.deepEqual(ledger.seedUser('U').map((series) => [series.requests, series.costNanoUsd]), [[1, 7]]);
    await ledger.close();
  });

  it('remembers what a seed holds until the calls of every group it holds have reached the metrics', async () => {
    const dir = tempDir();
    const ledger = new SqliteLedger({ dataDir: dir, dedupWindowHours: 24, synchronous: 'normal' });
    const internals = ledger as unknown as {
      seededAt: Map<string, number>;
      queue: Array<{ kind: 'commit'; records: PricedUsage[]; resolve: () => void; reject: () => void }>;
      flush(): void;
    };
    // A flood: the map of seeds is full (of users whose seeds are still needed), so every seed prunes it.
    for (let user = 0; user < 20_000; user++) internals.seededAt.set(`busy-${user}`, Number.MAX_SAFE_INTEGER);
    const reader = new DatabaseSync(join(dir, 'ledger.sqlite'), { readOnly: true });
    const commitSeq = () => Number((reader.prepare(`SELECT value FROM meta WHERE name = 'commit_seq'`).get() as { value: number }).value);
    const x1 = priced({ userId: 'X', costNanoUsd: 1 });
    const x2 = priced({ userId: 'X', costNanoUsd: 2 });
    const batch = await ledger.commit([x1, priced({ userId: 'W' }), x2]); // commit 1
    // As the metrics record batch 1: X is new, so X is seeded (the seed holds x1 and x2)...
    assert.deepEqual(ledger.seedUser('X').map((series) => series.requests), [2]);
    assert.equal(ledger.countedInSeed(x1, batch), true);
    // ...meanwhile another export's group commits, and W, new too, is seeded: the seed handles that answer.
    internals.queue.push({ kind: 'commit', records: [priced({ userId: 'V' })], resolve() {}, reject() {} });
    internals.flush();
    for (let wait = 0; wait < 400 && commitSeq() < 2; wait++) sleepSync(5);
    sleepSync(50); // the writer posts its answer right after the commit
    ledger.seedUser('W');
    assert.equal(ledger.countedInSeed(x2, batch), true, 'x2 is in X\'s seed: counting it would count it twice');
    reader.close();
    await ledger.close();
  });
});
