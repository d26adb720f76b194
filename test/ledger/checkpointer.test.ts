import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DatabaseSync } from 'node:sqlite';
import { SqliteLedger } from '../../src/sinks/ledger/sqlite-ledger.ts';
import { eventually } from '../helpers/eventually.ts';
import { priced } from './records.ts';

const START = Date.UTC(2026, 11, 6, 12);
const dirs: string[] = [];
after(() => { for (const dir of dirs) rmSync(dir, { recursive: true, force: true }); });


describe('the checkpointer thread', () => {
  it('copies committed pages into the database file with no fold and no checkpoint by the writer, and the WAL starts over', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'checkpointer-test-'));
    dirs.push(dir);
    // The clock stands still and 40 users make 40 series: no fold comes due, and the writer checkpoints only after
    // folds (its automatic checkpoint waits for 32,768 pages, far more than these commits write).
    const ledger = new SqliteLedger({ dataDir: dir, dedupWindowHours: 24, synchronous: 'normal', now: () => START });
    const file = join(dir, 'ledger.sqlite');
    const size = (path: string) => statSync(path).size;
    const commitRound = async (round: number) => {
      for (let offset = 0; offset < 4000; offset += 500) {
        await ledger.commit(Array.from({ length: 500 }, (_, index) => priced({
          userId: `user-${index % 40}`, endTimeMs: START - 60_000 + round * 4000 + offset + index,
        })));
      }
    };
    const before = size(file);
    await commitRound(0);
    // The call log alone holds 4,000 calls of 96 bytes: the committed pages are several hundred KB.
    assert.ok(await eventually(() => size(file) > before + 300_000, 5000),
      `the database file took the committed pages (${before} -> ${size(file)} bytes)`);
    const raw = new DatabaseSync(file, { readOnly: true });
    const meta = (name: string) => Number((raw.prepare('SELECT value FROM meta WHERE name = ?').get(name) as { value: number }).value);
    assert.equal(meta('folded_seq'), 0, 'nothing was folded');
    assert.ok(meta('commit_seq') >= 8);
    raw.close();
    const walAfterFirst = size(`${file}-wal`);

    // Copied whole, the WAL is written again from its start by the next commits rather than grown.
    const grown = size(file);
    await commitRound(1);
    assert.ok(await eventually(() => size(file) > grown + 300_000, 5000), 'the second round reached the file too');
    assert.ok(size(`${file}-wal`) <= walAfterFirst * 1.25 + 65_536,
      `the WAL started over (${walAfterFirst} bytes after the first round, ${size(`${file}-wal`)} after the second)`);
    const page = await ledger.users({ fromMs: undefined, toMs: undefined, properties: [], sort: 'userId', order: 'asc', limit: undefined, offset: 0 });
    assert.equal(page.users.reduce((sum, user) => sum + user.requests, 0), 8000);
    await ledger.close();
  });

  it('never holds commits back behind a long read: a RESTART checkpoint gives up on readers of the old WAL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'checkpointer-reader-'));
    dirs.push(dir);
    const ledger = new SqliteLedger({ dataDir: dir, dedupWindowHours: 24, synchronous: 'normal', now: () => START });
    const wal = join(dir, 'ledger.sqlite-wal');
    await ledger.commit(Array.from({ length: 3000 }, (_, index) => priced({ userId: `early-${index}`, endTimeMs: START - 1000 })));
    // A CSV's cursor: its snapshot stays open, so no checkpoint can start the WAL over while it reads.
    const pages = ledger.usersPages({ fromMs: undefined, toMs: undefined, properties: [], sort: 'userId', order: 'asc', limit: undefined, offset: 0 }, 1000)[Symbol.asyncIterator]();
    assert.equal((await pages.next()).value?.users.length, 1000);
    // Past RESTART_PAST_FRAMES (16 MB) of WAL, then on for two more checkpointer rounds: every commit must be answered.
    let round = 0;
    const deadline = Date.now() + 60_000;
    let grownAt: number | undefined;
    while (grownAt === undefined || Date.now() < grownAt + 1500) {
      assert.ok(Date.now() < deadline, 'the WAL grew past 16 MB within a minute');
      await ledger.commit(Array.from({ length: 2000 }, (_, index) => priced({
        userId: `flood-${round}-${index}`, endTimeMs: START - 60_000 + round * 2000 + index,
      })));
      round++;
      if (grownAt === undefined && statSync(wal).size > 17_000_000) grownAt = Date.now();
    }
    let rest = 0;
    for (let page = await pages.next(); page.done !== true; page = await pages.next()) rest += page.value.users.length;
    assert.equal(rest, 2000, 'the cursor read its snapshot to the end');
    await ledger.close();
  });
});
