import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeBatch, serializeProtobuf } from '../../bench/fixtures.ts';
import { startProcessor, type RunningProcessor } from '../helpers/processor.ts';
import { exportBody, metricsByUser, parseCsv, postExport, type CallSpec } from './otlp-bodies.ts';

const TOKEN = 'ledger-test-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}` };

interface UserJson {
  userId: string; metricsUserLabel: string; requests: number; errors: number; costUsd: number; costNanoUsd: number;
  inputTokens: number; outputTokens: number; cacheReadTokens: number; cacheWriteTokens: number;
  activeDays: number; firstSeen: string; lastSeen: string;
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { headers: AUTH });
  assert.equal(response.status, 200, `${url}: ${response.status} ${await response.clone().text()}`);
  return response.json() as Promise<T>;
}

async function allUsers(url: string, query = ''): Promise<UserJson[]> {
  return (await getJson<{ users: UserJson[] }>(`${url}/api/users?limit=10000&sort=userId${query}`)).users;
}

async function metricsText(url: string): Promise<string> {
  const response = await fetch(`${url}/metrics`, { headers: AUTH });
  assert.equal(response.status, 200);
  return response.text();
}

/** /api/users, /api/users.csv and /metrics tell the same per-user story, to the last digit. */
async function assertAllAgree(url: string): Promise<UserJson[]> {
  const users = await allUsers(url);
  const metrics = metricsByUser(await metricsText(url));
  const csv = parseCsv(await (await fetch(`${url}/api/users.csv?sort=userId`, { headers: AUTH })).text());
  const header = csv[0]!;
  assert.equal(header[0], 'userId');
  assert.equal(csv.length - 1, users.length, 'one CSV row per user');
  for (const [index, user] of users.entries()) {
    const row = Object.fromEntries(header.map((name, column) => [name, csv[index + 1]![column]]));
    assert.equal(row.userId, user.userId);
    assert.equal(row.costUsd, String(user.costUsd));
    assert.equal(Number(row.requests), user.requests);
    const exposed = metrics.get(user.metricsUserLabel);
    assert.ok(exposed, `${JSON.stringify(user.userId)} has series on /metrics`);
    assert.equal(exposed.requests, user.requests, `requests of ${user.userId}`);
    assert.equal(exposed.errors, user.errors, `errors of ${user.userId}`);
    assert.equal(exposed.costNanoUsd, user.costNanoUsd, `cost of ${user.userId}`);
    if (exposed.costTexts.length === 1) assert.equal(exposed.costTexts[0], String(user.costUsd), 'printed alike');
    assert.equal(exposed.tokens.input, user.inputTokens);
    assert.equal(exposed.tokens.output, user.outputTokens);
    assert.equal(exposed.tokens.cache_read, user.cacheReadTokens);
    assert.equal(exposed.durationCount, user.requests);
  }
  return users;
}

describe('the ledger behind the real processor', () => {
  let dataDir: string;
  let processor: RunningProcessor | undefined;
  const env = () => ({ DATA_DIR: dataDir, API_TOKEN: TOKEN, PROPERTY_LABELS: 'plan' });
  before(() => { dataDir = mkdtempSync(join(tmpdir(), 'ledger-e2e-')); });
  after(async () => {
    await processor?.stop('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('loses nothing acknowledged to a kill -9, continues /metrics after it, and counts a resent export once', async () => {
    processor = await startProcessor(env());
    const now = Date.now();
    const batchA = serializeProtobuf(makeBatch({ spans: 400, users: 30, seed: 7, startTimeMs: now - 120_000 }));
    const batchB = exportBody([
      { user: 'acme, inc.', endMs: now - 5000, properties: { plan: 'pro' } },
      { user: 'say "hi"', endMs: now - 4000, error: true },
      { user: undefined, endMs: now - 3000 },
    ]);
    // Acknowledged exports, some of them concurrent (one group commit).
    const answers = await Promise.all([postExport(processor.url, batchA, 'application/x-protobuf'), postExport(processor.url, batchB)]);
    assert.deepEqual(answers.map((answer) => answer.status), [200, 200]);
    const before = await assertAllAgree(processor.url);
    assert.ok(before.length >= 20, `many users (${before.length})`);
    assert.ok(before.some((user) => user.userId === '__no_user__'));

    await processor.stop('SIGKILL');
    processor = await startProcessor(env());
    assert.deepEqual(await allUsers(processor.url), before, 'every acknowledged call survived the kill');
    await assertAllAgree(processor.url);

    const resent = await postExport(processor.url, batchA, 'application/x-protobuf');
    assert.equal(resent.status, 200);
    assert.deepEqual(await allUsers(processor.url), before, 'the same protobuf bytes again change nothing');
    await assertAllAgree(processor.url);

    const more = await postExport(processor.url, exportBody([{ user: 'acme, inc.', endMs: Date.now(), properties: { plan: 'pro' } }]));
    assert.equal(more.status, 200);
    const after = await assertAllAgree(processor.url);
    const acme = (list: UserJson[]) => list.find((user) => user.userId === 'acme, inc.')!;
    assert.equal(acme(after).requests, acme(before).requests + 1, '/metrics continues from the ledger totals');
  });

  it('requires the bearer token on /api and /metrics, and leaves /healthz and /v1/traces open', async () => {
    const url = processor!.url;
    for (const path of ['/api/users', '/api/users.csv', '/api/users/x', '/metrics']) {
      const missing = await fetch(`${url}${path}`);
      assert.equal(missing.status, 401, path);
      assert.match(missing.headers.get('www-authenticate') ?? '', /^Bearer/);
      const wrong = await fetch(`${url}${path}`, { headers: { authorization: 'Bearer not-the-token-at-all' } });
      assert.equal(wrong.status, 401, path);
    }
    assert.equal((await fetch(`${url}/metrics`, { headers: AUTH })).status, 200);
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    const open = await postExport(url, exportBody([{ user: 'no-token-needed', endMs: Date.now() }]));
    assert.equal(open.status, 200);
    assert.doesNotMatch(processor!.output(), new RegExp(TOKEN), 'the token never reaches the logs');
  });
});

describe('the users API', () => {
  let dataDir: string;
  let processor: RunningProcessor;
  const jan31 = Date.UTC(2026, 0, 31, 23, 59, 59, 999);
  const feb1 = Date.UTC(2026, 1, 1, 0, 0, 0);
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ledger-api-'));
    // Calls of early 2026: a backfill, older than the default MAX_SPAN_AGE_HOURS.
    processor = await startProcessor({ DATA_DIR: dataDir, PROPERTY_LABELS: 'plan', MAX_SPAN_AGE_HOURS: '876000' });
    const calls: CallSpec[] = [
      { user: 'edge', endMs: jan31, input: 100, output: 0, properties: { plan: 'free' } },
      { user: 'edge', endMs: feb1, input: 200, output: 0, properties: { plan: 'premium' } },
      { user: 'edge', endMs: Date.UTC(2026, 1, 3, 12), input: 300, output: 0, properties: { plan: 'premium', feature: 'search' } },
      { user: 'a,b "c"\nd', endMs: Date.UTC(2026, 1, 10), properties: { plan: 'premium' } },
      { user: 'small', endMs: Date.UTC(2026, 1, 11), input: 1, output: 1 },
      { user: 'big', endMs: Date.UTC(2026, 1, 12), input: 900_000, output: 100_000, model: 'gpt-4o' },
    ];
    const response = await postExport(processor.url, exportBody(calls));
    assert.equal(response.status, 200);
  });
  after(async () => {
    await processor.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('cuts month=YYYY-MM and from/to at UTC boundaries', async () => {
    const january = await allUsers(processor.url, '&month=2026-01');
    assert.deepEqual(january.map((user) => [user.userId, user.inputTokens]), [['edge', 100]]);
    const february = await allUsers(processor.url, '&month=2026-02');
    assert.deepEqual(february.find((user) => user.userId === 'edge')!.inputTokens, 500);
    assert.equal(february.find((user) => user.userId === 'edge')!.firstSeen, '2026-02-01T00:00:00.000Z');
    const oneDay = await allUsers(processor.url, '&from=2026-01-31&to=2026-01-31');
    assert.deepEqual(oneDay.map((user) => user.inputTokens), [100], 'a date as to includes that whole day');
    const hours = await allUsers(processor.url, '&from=2026-01-31T23:00:00Z&to=2026-02-01T01:00:00Z');
    assert.deepEqual(hours.map((user) => user.inputTokens), [300]);
  });

  it('filters by property and sorts and pages', async () => {
    const premium = await allUsers(processor.url, '&property.plan=premium');
    assert.deepEqual(premium.map((user) => [user.userId, user.requests]), [['a,b "c"\nd', 1], ['edge', 2]]);
    const search = await allUsers(processor.url, '&property.plan=premium&property.feature=search');
    assert.deepEqual(search.map((user) => user.inputTokens), [300]);
    const page = await getJson<{ users: UserJson[]; total: number }>(`${processor.url}/api/users?sort=costUsd&order=desc&limit=2&offset=0`);
    assert.equal(page.total, 4);
    assert.equal(page.users[0]!.userId, 'big');
    assert.ok(page.users[0]!.costUsd > page.users[1]!.costUsd);
    const next = await getJson<{ users: UserJson[] }>(`${processor.url}/api/users?sort=costUsd&order=desc&limit=2&offset=2`);
    assert.deepEqual(next.users.map((user) => user.userId).at(-1), 'small');
  });

  it('quotes user ids with commas, quotes and newlines in the CSV (RFC 4180)', async () => {
    const response = await fetch(`${processor.url}/api/users.csv?sort=userId`);
    assert.match(response.headers.get('content-type') ?? '', /^text\/csv/);
    const text = await response.text();
    assert.ok(text.includes('\r\n"a,b ""c""\nd",'), 'the tricky id is quoted with its quotes doubled');
    const rows = parseCsv(text);
    assert.deepEqual(rows.slice(1).map((row) => row[0]), ['a,b "c"\nd', 'big', 'edge', 'small']);
    assert.ok(rows.every((row) => row.length === rows[0]!.length), 'every row has every column');
  });

  it('gives one user\'s daily series and splits, and 404 for an unknown user', async () => {
    const detail = await getJson<{ user: UserJson; daily: Array<{ date: string; inputTokens: number }>; byProperty: Array<{ name: string; value: string; requests: number }> }>(
      `${processor.url}/api/users/edge`);
    assert.equal(detail.user.requests, 3);
    assert.deepEqual(detail.daily.map((day) => [day.date, day.inputTokens]), [['2026-01-31', 100], ['2026-02-01', 200], ['2026-02-03', 300]]);
    assert.deepEqual(detail.byProperty.filter((entry) => entry.name === 'plan').map((entry) => [entry.value, entry.requests]), [['premium', 2], ['free', 1]]);
    const encoded = await getJson<{ user: UserJson }>(`${processor.url}/api/users/${encodeURIComponent('a,b "c"\nd')}`);
    assert.equal(encoded.user.requests, 1);
    const unknown = await fetch(`${processor.url}/api/users/nobody`);
    assert.equal(unknown.status, 404);
    assert.match(await unknown.text(), /nobody/);
  });

  it('answers 400 naming the bad parameter', async () => {
    const cases: Array<[string, RegExp]> = [
      ['month=2026-13', /month/],
      ['month=2026-02&from=2026-02-01', /month cannot be combined/],
      ['from=2026-02-30', /no such date/],
      ['from=2026-02-01T10:30:00Z', /whole hour/],
      ['from=2026-02-01T10:00:00', /zone/],
      ['from=2026-03-01&to=2026-02-01', /after/],
      ['sort=cost', /sort="cost": must be one of/],
      ['order=up', /order/],
      ['limit=0', /limit/],
      ['limit=ten', /not a whole number/],
      ['colour=red', /unknown parameter "colour"/],
      ['sort=requests&sort=errors', /more than once/],
    ];
    for (const [query, message] of cases) {
      const response = await fetch(`${processor.url}/api/users?${query}`);
      assert.equal(response.status, 400, query);
      assert.match(((await response.json()) as { error: string }).error, message, query);
    }
  });
});

