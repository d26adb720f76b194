/**
 * Hostile label text against the real processor (issue 12): 1 MiB model names and property values, user ids that a
 * careless cut would split inside a surrogate pair, property names that Object.prototype also has, and cells a
 * spreadsheet would run. After each, /metrics renders (and promtool accepts it), the users API, the CSV and a
 * restart work, and the good calls sent beside the bad ones counted.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MAX_LABEL_TEXT_LENGTH } from '../../src/sources/bounded-text.ts';
import { startProcessor, type RunningProcessor } from '../helpers/processor.ts';
import { exportBody, metricsByUser, parseCsv, postExport, type CallSpec } from '../ledger/otlp-bodies.ts';

const MIB = 1 << 20;
const ENV = { PROPERTY_LABELS: 'plan,constructor,tostring' };
const HUGE_EXPORTS = 25;

function checkMetrics(text: string): void {
  try {
    execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (error) {
    const failed = error as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    if (failed.code === 'ENOENT') throw new Error('promtool is not installed: install the Debian package "prometheus" (scripts/ensure-promtool.sh)');
    // Exit 3 is lint only; prom-client's own nodejs_*_total gauges are its naming, not ours, and not a parse error.
    const problems = `${failed.stdout ?? ''}${failed.stderr ?? ''}`.split('\n').filter((line) => line.trim() !== '');
    const promClientOnly = problems.every((line) => /^nodejs_\w+_total non-counter metrics should not have "_total" suffix$/.test(line));
    if ((failed as { status?: number }).status === 3 && promClientOnly) return;
    throw new Error(`promtool check metrics failed:\n${failed.stdout ?? ''}${failed.stderr ?? ''}`.slice(0, 4000));
  }
}

async function ok(response: Promise<Response>): Promise<Response> {
  const answered = await response;
  assert.equal(answered.status, 200, `${answered.url}: ${answered.status} ${(await answered.clone().text()).slice(0, 500)}`);
  return answered;
}

async function metrics(url: string): Promise<string> {
  return (await ok(fetch(`${url}/metrics`))).text();
}

interface UserJson { userId: string; metricsUserLabel: string; requests: number }

async function users(url: string, query = ''): Promise<UserJson[]> {
  return ((await (await ok(fetch(`${url}/api/users?limit=10000&sort=userId${query}`))).json()) as { users: UserJson[] }).users;
}

describe('hostile label text, against the real processor', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'llm-user-metrics-hostile-labels-'));
  let processor: RunningProcessor;
  const now = Date.now();
  const emojiUser = `${'x'.repeat(3)}${'😀'.repeat(100)}`;
  const formulaUser = '=HYPERLINK("http://evil.example","open me")';

  before(async () => {
    processor = await startProcessor({ ...ENV, DATA_DIR: dataDir });
  });
  after(async () => {
    await processor?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it(`${HUGE_EXPORTS} spans with 1 MiB model names and property values leave /metrics small, valid and counted`, async () => {
    for (let index = 0; index < HUGE_EXPORTS; index++) {
      const calls: CallSpec[] = [
        { user: 'mallory', endMs: now, model: `${index}-${'m'.repeat(MIB)}`, properties: { plan: `${index}${'p'.repeat(MIB)}` } },
        { user: 'good', endMs: now, properties: { plan: 'pro' } },
      ];
      await ok(postExport(processor.url, exportBody(calls)));
    }
    const text = await metrics(processor.url);
    assert.ok(text.length < 2 * MIB, `/metrics is ${text.length} characters`);
    checkMetrics(text);
    const byUser = metricsByUser(text);
    assert.equal(byUser.get('good')?.requests, HUGE_EXPORTS);
    assert.equal(byUser.get('mallory')?.requests, HUGE_EXPORTS);
    const models = [...text.matchAll(/model="([^"]*)"/g)].map((match) => match[1]!);
    assert.ok(models.every((model) => model.length <= MAX_LABEL_TEXT_LENGTH));
    assert.equal(new Set(models.filter((model) => model.includes('mmmm'))).size, HUGE_EXPORTS, 'distinct long names stay distinct');
  });

  it('shows the same bounded model text in the users API as on /metrics', async () => {
    const detail = await (await ok(fetch(`${processor.url}/api/users/mallory`))).json() as {
      byModel: Array<{ model: string; requests: number }>; byProperty: Array<{ value: string }>;
    };
    assert.equal(detail.byModel.length, HUGE_EXPORTS);
    const text = await metrics(processor.url);
    for (const { model, requests } of detail.byModel) {
      assert.equal(requests, 1);
      assert.ok(model.length === MAX_LABEL_TEXT_LENGTH && text.includes(`model="${model}"`), model.slice(0, 20));
    }
    assert.ok(detail.byProperty.every(({ value }) => value.length <= MAX_LABEL_TEXT_LENGTH));
  });

  it('gives a user id cut inside an emoji the same well-formed label on /metrics and in the API', async () => {
    await ok(postExport(processor.url, exportBody([{ user: emojiUser, endMs: now }])));
    const [user] = (await users(processor.url)).filter((candidate) => candidate.userId === emojiUser);
    assert.ok(user && user.metricsUserLabel.isWellFormed() && user.metricsUserLabel.length <= 128);
    assert.equal(metricsByUser(await metrics(processor.url)).get(user.metricsUserLabel)?.requests, 1);
  });

  it('never reads Object.prototype for property labels or filters named constructor or toString', async () => {
    await ok(postExport(processor.url, exportBody([
      { user: 'proto-a', endMs: now, properties: Object.fromEntries([['constructor', 'c'], ['toString', 't'], ['__proto__', 'p']]) },
      { user: 'proto-b', endMs: now },
    ])));
    const text = await metrics(processor.url);
    checkMetrics(text);
    assert.match(text, /llm_cost_usd_total\{user_id="proto-a",provider="openai",model="gpt-4o-mini",plan="",constructor="c",tostring="t"\}/);
    assert.match(text, /llm_cost_usd_total\{user_id="proto-b",provider="openai",model="gpt-4o-mini",plan="",constructor="",tostring=""\}/);
    assert.doesNotMatch(text, /native code/);
    assert.deepEqual((await users(processor.url, '&property.constructor=c')).map((user) => user.userId), ['proto-a']);
    assert.deepEqual((await users(processor.url, '&property.__proto__=p')).map((user) => user.userId), ['proto-a']);
    assert.ok((await users(processor.url, '&property.constructor=')).some((user) => user.userId === 'proto-b'));
  });

  it('neutralises CSV cells a spreadsheet would run, and keeps numbers numbers', async () => {
    await ok(postExport(processor.url, exportBody([{ user: formulaUser, endMs: now, input: 7 }])));
    const csvText = await (await ok(fetch(`${processor.url}/api/users.csv?sort=userId`))).text();
    const rows = parseCsv(csvText);
    const row = rows.find((candidate) => candidate[0] === `'${formulaUser}`);
    assert.ok(row, csvText.slice(0, 300));
    assert.equal(row[1], `'${formulaUser}`);
    assert.equal(row[rows[0]!.indexOf('inputTokens')], '7');
    assert.ok(rows.slice(1).every((cells) => !/^[=+\-@\t\r]/.test(cells[0]!)));
  });

  it('writes only bounded JSON log lines, and few of one kind, for a flood of unpriced models', async () => {
    await ok(postExport(processor.url, exportBody(
      Array.from({ length: 200 }, (_, index) => ({ user: 'good', endMs: now, model: `unknown-${index}-${'u'.repeat(10_000)}` })))));
    const lines = processor.output().split('\n').filter((line) => line.trim() !== '' && !line.startsWith('llm-user-metrics listening on'));
    for (const line of lines) {
      assert.ok(line.length < 8192, `a log line of ${line.length} characters`);
      assert.doesNotThrow(() => JSON.parse(line), line.slice(0, 200));
    }
    const unpriced = lines.filter((line) => line.includes('no price known for model'));
    assert.ok(unpriced.length >= 1 && unpriced.length <= 10, `${unpriced.length} unpriced-model lines`);
  });

  it('restarts on what it recorded, with /metrics, the users API and the CSV answering', async () => {
    await processor.stop();
    processor = await startProcessor({ ...ENV, DATA_DIR: dataDir });
    const text = await metrics(processor.url);
    checkMetrics(text);
    assert.equal(metricsByUser(text).get('good')?.requests, HUGE_EXPORTS + 200);
    const good = (await users(processor.url)).find((user) => user.userId === 'good');
    assert.equal(good?.requests, HUGE_EXPORTS + 200);
    await ok(fetch(`${processor.url}/api/users.csv`));
  });
});
