/**
 * GET /metrics of the real processor with the default light per-user set: rendered in slices while exports keep
 * arriving, every scrape is whole and well-formed, and the per-user and per-model families agree with the ledger.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startProcessor, type RunningProcessor } from '../helpers/processor.ts';
import { exportBody, metricsByUser, postExport, type CallSpec } from '../ledger/otlp-bodies.ts';

const USERS = 1500;
const MODELS = ['gpt-4o-mini', 'gpt-4o', 'o3-mini'];

interface UserJson { userId: string; metricsUserLabel: string; requests: number; errors: number; costNanoUsd: number; inputTokens: number; outputTokens: number }

/** Every user calls each model once; one user in ten has a failed call. */
function callsOf(first: number, count: number, endMs: number): CallSpec[] {
  const calls: CallSpec[] = [];
  for (let user = first; user < first + count; user++) {
    for (const [index, model] of MODELS.entries()) {
      calls.push({ user: `user-${user}`, endMs, model, input: 100 + user, output: 10 + index,
        properties: { plan: ['free', 'pro'][user % 2]!, feature: 'chat' }, error: index === 0 && user % 10 === 0 });
    }
  }
  return calls;
}

/** Checks the exposition text's shape: each family's samples together under its one # TYPE line. */
function assertWellFormed(text: string): void {
  assert.ok(text.endsWith('\n'));
  const typed = new Map<string, string>();
  const closed = new Set<string>();
  let current = '';
  for (const line of text.split('\n').slice(0, -1)) {
    if (line === '' || line.startsWith('# HELP ')) continue; // empty lines are allowed (prom-client writes them)
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      assert.ok(!typed.has(name!), `# TYPE ${name} once`);
      if (current !== '') closed.add(current);
      typed.set(name!, type!);
      current = name!;
      continue;
    }
    assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? \S+$/, `a sample line: ${line.slice(0, 120)}`);
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)![0];
    const family = typed.has(name) ? name : name.replace(/_(bucket|sum|count|total|created)$/, '');
    assert.ok(name.startsWith(current), `${name} is under # TYPE ${current}, its family's only place`);
    assert.ok(!closed.has(family), `${family} continues after another family`);
  }
}

describe('/metrics rendered in slices, light per-user set, real processor', () => {
  let processor: RunningProcessor;
  before(async () => {
    processor = await startProcessor({ USER_METRICS: 'light', PROPERTY_LABELS: 'plan,feature', MAX_USERS: String(USERS * 2) });
  });
  after(async () => { await processor.stop(); });

  it('answers whole, well-formed scrapes while exports arrive, and agrees with the ledger after them', async () => {
    const endMs = Date.now() - 1000;
    let exporting = true;
    const exports = (async () => {
      for (let first = 0; first < USERS; first += 250) {
        const answer = await postExport(processor.url, exportBody(callsOf(first, 250, endMs)));
        assert.equal(answer.status, 200, await answer.text());
      }
      exporting = false;
    })();
    let scrapes = 0;
    while (exporting || scrapes < 2) {
      const response = await fetch(`${processor.url}/metrics`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const text = await response.text();
      assertWellFormed(text);
      assert.match(text, /^process_cpu_user_seconds_total /m, "the processor's own metrics close every scrape");
      scrapes++;
    }
    await exports;

    const text = await processor.metrics();
    assertWellFormed(text);
    const perUserLines = text.split('\n').filter((line) => line.startsWith('llm_') && line.includes('{user_id="user-'));
    assert.ok(perUserLines.length > 4096, `the render took several slices (${perUserLines.length} per-user lines)`);
    assert.ok(perUserLines.length <= USERS * 10, `at most 10 series per user: ${perUserLines.length} for ${USERS}`);
    assert.ok(perUserLines.every((line) => !line.includes('model=')), 'no model label on per-user series');

    const ledger = (await (await fetch(`${processor.url}/api/users?limit=10000&sort=userId`)).json()) as { users: UserJson[] };
    assert.equal(ledger.users.length, USERS);
    const exposed = metricsByUser(text);
    let costNanoUsd = 0;
    for (const user of ledger.users) {
      const metrics = exposed.get(user.metricsUserLabel);
      assert.ok(metrics, `${user.userId} on /metrics`);
      assert.deepEqual([metrics.requests, metrics.errors, metrics.costNanoUsd, metrics.tokens.input, metrics.tokens.output],
        [user.requests, user.errors, user.costNanoUsd, user.inputTokens, user.outputTokens], user.userId);
      costNanoUsd += user.costNanoUsd;
    }
    const modelCost = text.split('\n').filter((line) => line.startsWith('llm_model_cost_usd_total{'))
      .reduce((sum, line) => sum + Math.round(Number(line.slice(line.lastIndexOf(' ') + 1)) * 1e9), 0);
    assert.ok(Math.abs(modelCost - costNanoUsd) <= MODELS.length * 2, `per-model cost ${modelCost} = ledger ${costNanoUsd} nano-USD`);
    const modelRequests = text.split('\n').filter((line) => line.startsWith('llm_model_requests_total{'))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
    assert.equal(modelRequests, USERS * MODELS.length);
  });
});
