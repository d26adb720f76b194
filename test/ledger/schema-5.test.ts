import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import type { PricedUsage } from '../../src/pricing/priced-usage.ts';
import type { UsersQuery } from '../../src/sinks/ledger/ledger.ts';
import { SqliteLedger } from '../../src/sinks/ledger/sqlite-ledger.ts';
import { NO_TOKENS } from '../../src/sources/usage-record.ts';

const dir = mkdtempSync(join(tmpdir(), 'ledger-schema-5-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const ALL_TIME: UsersQuery = { fromMs: undefined, toMs: undefined, properties: [], sort: 'userId', order: 'asc', limit: undefined, offset: 0 };
const HOUR = 3_600_000;
const USAGE = `user_ref INTEGER NOT NULL, requests INTEGER NOT NULL, errors INTEGER NOT NULL, unpriced_requests INTEGER NOT NULL,
  input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cache_read_tokens INTEGER NOT NULL, cache_write_tokens INTEGER NOT NULL,
  reasoning_tokens INTEGER NOT NULL, cost_nano_usd INTEGER NOT NULL, duration_us INTEGER NOT NULL, first_seen_ms INTEGER NOT NULL,
  last_seen_ms INTEGER NOT NULL`;

function call(overrides: Partial<PricedUsage>): PricedUsage {
  return {
    traceId: 'a'.repeat(32), spanId: Math.random().toString(16).slice(2, 18).padEnd(16, '0'), parentSpanId: '', source: 'genai',
    userId: 'four', properties: {}, provider: 'anthropic', model: 'claude-sonnet-4-0', operation: 'chat', tokens: NO_TOKENS,
    hasUsage: true, durationSeconds: 1, timeToFirstTokenSeconds: undefined, isError: false, endTimeMs: Date.UTC(2026, 10, 20, 10, 30),
    costNanoUsd: 0, priced: true, ...overrides,
  };
}

describe('ledger schema 5', () => {
  it('upgrades a schema-4 ledger in place: totals and the unfolded log carry over, series keep their ids, new columns filled', async () => {
    const at = Date.UTC(2026, 10, 20, 10, 30);
    const hour = Math.floor(at / HOUR);
    const day = Math.floor(hour / 24);
    const db = new DatabaseSync(join(dir, 'ledger.sqlite'));
    db.exec(`
      CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE property_sets (id INTEGER PRIMARY KEY, json TEXT NOT NULL UNIQUE);
      CREATE TABLE users (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL UNIQUE, first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL);
      CREATE TABLE series (id INTEGER PRIMARY KEY, user_ref INTEGER NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
        operation TEXT NOT NULL, is_error INTEGER NOT NULL, property_set INTEGER NOT NULL, folded_seq INTEGER NOT NULL DEFAULT 0,
        UNIQUE (user_ref, provider, model, operation, is_error, property_set));
      CREATE TABLE usage_hourly (hour INTEGER NOT NULL, series_id INTEGER NOT NULL, ${USAGE}, PRIMARY KEY (hour, series_id)) WITHOUT ROWID;
      CREATE TABLE usage_daily (day INTEGER NOT NULL, series_id INTEGER NOT NULL, ${USAGE}, PRIMARY KEY (day, series_id)) WITHOUT ROWID;
      CREATE TABLE user_daily (day INTEGER NOT NULL, ${USAGE}, PRIMARY KEY (day, user_ref)) WITHOUT ROWID;
      CREATE INDEX user_daily_by_user ON user_daily (user_ref, day);
      CREATE TABLE call_log (seq INTEGER PRIMARY KEY, numbers BLOB NOT NULL, lines TEXT NOT NULL, calls BLOB NOT NULL, fresh BLOB NOT NULL);
      CREATE TABLE seen_0 (end_ms INTEGER NOT NULL, id_hash INTEGER NOT NULL, PRIMARY KEY (end_ms, id_hash)) WITHOUT ROWID;
      CREATE TABLE seen_1 (end_ms INTEGER NOT NULL, id_hash INTEGER NOT NULL, PRIMARY KEY (end_ms, id_hash)) WITHOUT ROWID;
      CREATE TABLE parked (end_ms INTEGER NOT NULL, id_hash INTEGER NOT NULL, parked_at_ms INTEGER NOT NULL, record TEXT NOT NULL,
        PRIMARY KEY (end_ms, id_hash)) WITHOUT ROWID;
      PRAGMA user_version = 4;`);
    db.prepare(`INSERT INTO meta VALUES ('dedup_current', 0), ('dedup_rotated_ms', ?), ('legacy_seen_until_ms', 0), ('commit_seq', 7), ('folded_seq', 6)`).run(at);
    db.prepare(`INSERT INTO property_sets VALUES (1, '{}')`).run();
    db.prepare('INSERT INTO users VALUES (1, ?, ?, ?)').run('four', at - 60_000, at - 60_000);
    db.prepare(`INSERT INTO series VALUES (41, 1, 'anthropic', 'claude-sonnet-4-0', 'chat', 0, 1, 6)`).run();
    // Folded: 2 calls with tokens. In the log (commit 7, schema 4's 12 numbers a call): 1 call without usage.
    for (const [table, key] of [['usage_hourly', hour], ['usage_daily', day]] as const) {
      db.prepare(`INSERT INTO ${table} VALUES (?, 41, 1, 2, 0, 0, 200, 100, 0, 0, 0, 90000, 500000, ?, ?)`).run(key, at - 60_000, at - 60_000);
    }
    db.prepare('INSERT INTO user_daily VALUES (?, 1, 2, 0, 0, 200, 100, 0, 0, 0, 90000, 500000, ?, ?)').run(day, at - 60_000, at - 60_000);
    const loggedCall = new Float64Array([Math.floor(at), 12345, 0, at, 0, 0, 0, 0, 0, 0, 0, 250000]);
    db.prepare('INSERT INTO call_log VALUES (7, ?, ?, ?, ?)').run(
      new Uint8Array(new Float64Array([1]).buffer), JSON.stringify(['four', 'anthropic', 'claude-sonnet-4-0', 'chat', false, '{}']),
      new Uint8Array(loggedCall.buffer), new Uint8Array([1]));
    db.close();

    const ledger = new SqliteLedger({ dataDir: dir, dedupWindowHours: 24, synchronous: 'normal', now: () => at + HOUR });
    try {
      const [four] = (await ledger.users(ALL_TIME)).users;
      assert.deepEqual([four?.userId, four?.requests, four?.costNanoUsd, four?.lastSeenMs], ['four', 3, 90_000, at]);
      // A new call: a one-hour cache write, above Sonnet 4's 200K, and a Perplexity call with its search tier.
      await ledger.commit([
        call({ tokens: { ...NO_TOKENS, input: 190_000, cacheWrite: 20_000, cacheWrite1h: 15_000, output: 10 }, costNanoUsd: 7 }),
        call({ provider: 'perplexity', model: 'sonar', searchContextSize: 'medium', tokens: { ...NO_TOKENS, input: 10, output: 10 } }),
      ]);
      assert.equal((await ledger.users(ALL_TIME)).users[0]?.requests, 5);
    } finally {
      await ledger.close();
    }
    const raw = new DatabaseSync(join(dir, 'ledger.sqlite'));
    try {
      assert.equal((raw.prepare('PRAGMA user_version').get() as { user_version: number }).user_version, 5);
      const rows = raw.prepare(`SELECT s.id, s.model, s.search_tier, s.input_tier, h.requests, h.usage_requests, h.cache_write_tokens,
          h.cache_write_1h_tokens, h.cost_nano_usd FROM usage_hourly h JOIN series s ON s.id = h.series_id ORDER BY s.id`).all()
        .map((row) => ({ ...row }));
      assert.deepEqual(rows, [
        // The old series keeps its id; of its three calls the two folded with tokens count as calls with usage, the logged one without.
        { id: 41, model: 'claude-sonnet-4-0', search_tier: '', input_tier: 0, requests: 3, usage_requests: 2, cache_write_tokens: 0, cache_write_1h_tokens: 0, cost_nano_usd: 90000 },
        { id: 42, model: 'claude-sonnet-4-0', search_tier: '', input_tier: 200_000, requests: 1, usage_requests: 1, cache_write_tokens: 20000, cache_write_1h_tokens: 15000, cost_nano_usd: 7 },
        { id: 43, model: 'sonar', search_tier: 'medium', input_tier: 0, requests: 1, usage_requests: 1, cache_write_tokens: 0, cache_write_1h_tokens: 0, cost_nano_usd: 0 },
      ]);
      const daily = raw.prepare('SELECT requests, usage_requests, cache_write_1h_tokens FROM user_daily').get() as Record<string, number>;
      assert.deepEqual({ ...daily }, { requests: 5, usage_requests: 4, cache_write_1h_tokens: 15000 });
    } finally {
      raw.close();
    }
  });
});
