import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PricedUsage } from '../../src/pricing/priced-usage.ts';
import { boundedText, MAX_LABEL_TEXT_LENGTH, MAX_USER_LABEL_LENGTH, userLabelValue } from '../../src/sinks/metrics/label-text.ts';
import { MAX_OPERATIONS_PER_SHAPE, MAX_SHAPES, NO_USER_ID, OVERFLOW_USER_ID, UsageMetrics, type UsageMetricsOptions } from '../../src/sinks/metrics/usage-metrics.ts';

const OPTIONS: UsageMetricsOptions = {
  propertyLabels: ['plan', 'feature'],
  maxUsers: 100,
  userTtlSeconds: 3600,
  userLabel: { mode: 'raw', salt: '' },
  planPricesUsd: { pro: 20 },
};

function usage(overrides: Partial<PricedUsage> = {}): PricedUsage {
  return {
    traceId: 't', spanId: 's', parentSpanId: '', source: 'genai',
    userId: 'user-1', properties: { plan: 'pro' },
    provider: 'openai', model: 'gpt-4o-mini', operation: 'chat',
    tokens: { input: 800, output: 500, cacheRead: 200, cacheWrite: 0, reasoning: 0 },
    hasUsage: true, durationSeconds: 1.5, timeToFirstTokenSeconds: undefined, isError: false,
    endTimeMs: Date.UTC(2026, 10, 1, 12), costNanoUsd: 450_000, priced: true,
    ...overrides,
  };
}

function render(metrics: UsageMetrics): string {
  const lines: string[] = [];
  metrics.render(lines);
  return `${lines.join('\n')}\n`;
}

/** The value of the one line whose name and label set are exactly these. */
function value(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('per-user metrics', () => {
  it('exposes requests, cost, tokens, latency and first/last seen with the property labels', () => {
    const metrics = new UsageMetrics(OPTIONS);
    metrics.record(usage());
    metrics.record(usage({ isError: true, costNanoUsd: 1, endTimeMs: Date.UTC(2026, 10, 1, 13), durationSeconds: 0.5 }));
    const text = render(metrics);
    const user = 'user_id="user-1",provider="openai",model="gpt-4o-mini"';
    const props = 'plan="pro",feature=""';
    assert.equal(value(text, 'llm_requests_total', `${user},operation="chat",status="ok",${props}`), 1);
    assert.equal(value(text, 'llm_requests_total', `${user},operation="chat",status="error",${props}`), 1);
    assert.equal(value(text, 'llm_cost_usd_total', `${user},${props}`), 0.000450001);
    assert.equal(value(text, 'llm_tokens_total', `${user},type="input",${props}`), 1600);
    assert.equal(value(text, 'llm_tokens_total', `${user},type="cache_read",${props}`), 400);
    assert.equal(value(text, 'llm_tokens_total', `${user},type="cache_write",${props}`), 0);
    assert.equal(value(text, 'llm_user_request_duration_seconds_sum', `${user},${props}`), 2);
    assert.equal(value(text, 'llm_user_request_duration_seconds_count', `${user},${props}`), 2);
    assert.equal(value(text, 'llm_user_first_seen_timestamp_seconds', `user_id="user-1",${props}`), Date.UTC(2026, 10, 1, 12) / 1000);
    assert.equal(value(text, 'llm_user_last_seen_timestamp_seconds', `user_id="user-1",${props}`), Date.UTC(2026, 10, 1, 13) / 1000);
    assert.equal(value(text, 'llm_request_duration_seconds_bucket', `provider="openai",model="gpt-4o-mini",operation="chat",${props},le="0.5"`), 1);
    assert.equal(value(text, 'llm_request_duration_seconds_bucket', `provider="openai",model="gpt-4o-mini",operation="chat",${props},le="+Inf"`), 2);
    assert.equal(value(text, 'llm_plan_monthly_price_usd', 'plan="pro"'), 20);
  });

  it('keeps money exact: 100,000 calls of 0.00045 USD sum to exactly 45 USD, not a drifted float', () => {
    const metrics = new UsageMetrics(OPTIONS);
    for (let call = 0; call < 100_000; call++) metrics.record(usage(), 0);
    const text = render(metrics);
    assert.equal(value(text, 'llm_cost_usd_total', 'user_id="user-1",provider="openai",model="gpt-4o-mini",plan="pro",feature=""'), 45);
  });

  it('counts calls without a user under the documented value', () => {
    const metrics = new UsageMetrics(OPTIONS);
    metrics.record(usage({ userId: undefined }));
    assert.match(render(metrics), new RegExp(`llm_requests_total\\{user_id="${NO_USER_ID}"`));
  });

  it('escapes label values', () => {
    const metrics = new UsageMetrics(OPTIONS);
    metrics.record(usage({ userId: 'a"b\\c\nd' }));
    assert.match(render(metrics), /user_id="a\\"b\\\\c\\nd"/);
  });

  it('folds users past MAX_USERS into the overflow user and counts them', () => {
    const metrics = new UsageMetrics({ ...OPTIONS, maxUsers: 3 });
    for (let user = 0; user < 10; user++) metrics.record(usage({ userId: `user-${user}` }));
    const text = render(metrics);
    assert.equal(metrics.activeUsers, 4, 'three users and the overflow user');
    assert.equal(value(text, 'llm_user_overflow_requests_total', '') ?? Number(/llm_user_overflow_requests_total (\d+)/.exec(text)?.[1]), 7);
    assert.equal(value(text, 'llm_requests_total',
      `user_id="${OVERFLOW_USER_ID}",provider="openai",model="gpt-4o-mini",operation="chat",status="ok",plan="pro",feature=""`), 7);
  });

  it('removes idle users after the TTL, freeing room under MAX_USERS', () => {
    const metrics = new UsageMetrics({ ...OPTIONS, maxUsers: 2, userTtlSeconds: 60 });
    metrics.record(usage({ userId: 'old' }), 0);
    metrics.record(usage({ userId: 'recent' }), 50_000);
    assert.equal(metrics.evictIdleUsers(70_000), 1);
    metrics.record(usage({ userId: 'new' }), 70_000);
    const text = render(metrics);
    assert.doesNotMatch(text, /user_id="old"/);
    assert.match(text, /user_id="new"/);
    assert.doesNotMatch(text, /user_id="__overflow__",/);
  });

  it('stays bounded under a flood of unique user ids', () => {
    const metrics = new UsageMetrics({ ...OPTIONS, maxUsers: 1000 });
    for (let user = 0; user < 50_000; user++) metrics.record(usage({ userId: `flood-${user}` }));
    assert.equal(metrics.activeUsers, 1001);
  });

  it('labels users by a salted hash when asked, never the raw id', () => {
    const metrics = new UsageMetrics({ ...OPTIONS, userLabel: { mode: 'hash', salt: 'pepper-pepper-pepper' } });
    metrics.record(usage({ userId: 'alice@example.com' }));
    const text = render(metrics);
    assert.doesNotMatch(text, /alice/);
    assert.match(text, /user_id="[0-9a-f]{24}"/);
  });

  it('counts unpriced models per provider and model', () => {
    const metrics = new UsageMetrics(OPTIONS);
    metrics.record(usage({ model: 'my-finetune', priced: false, costNanoUsd: 0 }));
    assert.equal(value(render(metrics), 'llm_unpriced_requests_total', 'provider="openai",model="my-finetune"'), 1);
  });

  it('observes time to first token only for calls that have it', () => {
    const metrics = new UsageMetrics(OPTIONS);
    metrics.record(usage());
    metrics.record(usage({ timeToFirstTokenSeconds: 0.2 }));
    assert.equal(value(render(metrics), 'llm_time_to_first_token_seconds_count', 'provider="openai",model="gpt-4o-mini",plan="pro",feature=""'), 1);
  });
});

describe('untrusted models and property values', () => {
  it('fold into one __other__ shape past MAX_SHAPES, so memory and /metrics stay bounded', () => {
    const metrics = new UsageMetrics(OPTIONS);
    for (let index = 0; index < MAX_SHAPES + 5000; index++) {
      metrics.record(usage({ userId: 'u', model: `model-${index}`, properties: { plan: `plan-${index}` } }));
    }
    const text = render(metrics);
    const costLines = text.split('\n').filter((line) => line.startsWith('llm_cost_usd_total{'));
    assert.equal(costLines.length, MAX_SHAPES + 1);
    assert.equal(value(text, 'llm_requests_total',
      'user_id="u",provider="__other__",model="__other__",operation="chat",status="ok",plan="__other__",feature="__other__"'), 5000);
  });

  it('age out: a combination no live user has and no call used for USER_TTL_SECONDS leaves, histograms and all', () => {
    const metrics = new UsageMetrics(OPTIONS);
    const hour = 3_600_000;
    for (let index = 0; index < 50; index++) metrics.record(usage({ userId: `old-${index}`, model: `flood-${index}` }), 0);
    metrics.record(usage({ userId: 'steady', model: 'gpt-4o-mini' }), 0);
    metrics.record(usage({ userId: 'steady', model: 'gpt-4o-mini' }), 2 * hour);
    assert.equal(metrics.activeShapes, 51);
    const before = metrics.renderedLabelText;
    metrics.evictIdleUsers(2 * hour);
    assert.equal(metrics.activeShapes, 1);
    assert.ok(metrics.renderedLabelText < before / 20, `${metrics.renderedLabelText} of ${before}`);
    const text = render(metrics);
    assert.doesNotMatch(text, /flood-/);
    assert.match(text, /llm_request_duration_seconds_count\{provider="openai",model="gpt-4o-mini"/);
    // A combination that comes back starts again, found through the tree like any new one.
    metrics.record(usage({ userId: 'back', model: 'flood-3' }), 2 * hour);
    assert.equal(value(render(metrics), 'llm_requests_total',
      'user_id="back",provider="openai",model="flood-3",operation="chat",status="ok",plan="pro",feature=""'), 1);
  });

  it('keep a combination a live user still has, even when no call used it within the TTL', () => {
    const metrics = new UsageMetrics({ ...OPTIONS, userTtlSeconds: 60 });
    metrics.record(usage({ userId: 'u', model: 'old-model' }), 0);
    metrics.record(usage({ userId: 'u', model: 'new-model' }), 59_000);
    metrics.evictIdleUsers(100_000);
    assert.equal(metrics.activeShapes, 2);
    assert.match(render(metrics), /model="old-model"/);
  });

  it('fold operations past MAX_OPERATIONS_PER_SHAPE into operation="__other__"', () => {
    const metrics = new UsageMetrics(OPTIONS);
    for (let index = 0; index < 100; index++) metrics.record(usage({ operation: `op-${index}` }));
    const text = render(metrics);
    const histograms = text.split('\n').filter((line) => line.startsWith('llm_request_duration_seconds_count{'));
    assert.equal(histograms.length, MAX_OPERATIONS_PER_SHAPE);
    assert.equal(value(text, 'llm_requests_total',
      `user_id="user-1",provider="openai",model="gpt-4o-mini",operation="__other__",status="ok",plan="pro",feature=""`),
    100 - (MAX_OPERATIONS_PER_SHAPE - 1));
    assert.equal(value(text, 'llm_label_overflow_requests_total', ''), undefined);
    assert.match(text, new RegExp(`^llm_label_overflow_requests_total ${100 - (MAX_OPERATIONS_PER_SHAPE - 1)}$`, 'm'));
  });

  it('keep the rendered text within its budget: new combinations past it count under __other__, totals exact', () => {
    const budget = 2_000_000;
    const metrics = new UsageMetrics({ ...OPTIONS, maxRenderedLabelText: budget });
    const long = 'm'.repeat(MAX_LABEL_TEXT_LENGTH);
    for (let index = 0; index < 2000; index++) {
      metrics.record(usage({ userId: `user-${index % 50}`, model: `${index}${long}`.slice(0, MAX_LABEL_TEXT_LENGTH),
        properties: { plan: long, feature: long }, costNanoUsd: 1 }));
    }
    const text = render(metrics);
    assert.ok(text.length < budget * 1.5, `rendered ${text.length} characters for a budget of ${budget}`);
    const cost = text.split('\n').filter((line) => line.startsWith('llm_cost_usd_total{'))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
    assert.equal(Math.round(cost * 1e9), 2000);
    assert.match(text, /provider="__other__",model="__other__"/);
  });

  it('never read Object.prototype for a property named constructor, toString or __proto__', () => {
    const metrics = new UsageMetrics({ ...OPTIONS, propertyLabels: ['constructor', 'tostring', 'hasownproperty'] });
    metrics.record(usage({ properties: {} }));
    // As the ledger's seeds give them: parsed from JSON, with Object.prototype.
    metrics.record(usage({ userId: 'u2', properties: JSON.parse('{"constructor":"c"}') as Record<string, string> }));
    const text = render(metrics);
    assert.match(text, /user_id="user-1",provider="openai",model="gpt-4o-mini",constructor="",tostring="",hasownproperty=""/);
    assert.match(text, /user_id="u2",provider="openai",model="gpt-4o-mini",constructor="c",tostring="",hasownproperty=""/);
    assert.doesNotMatch(text, /native code|function/);
  });
});

describe('bounded label text', () => {
  it('keeps short text as it is and cuts long text to the bound with a hash of the whole', () => {
    assert.equal(boundedText('gpt-4o-mini'), 'gpt-4o-mini');
    const cut = boundedText('x'.repeat(1 << 20));
    assert.equal(cut.length, MAX_LABEL_TEXT_LENGTH);
    assert.match(cut, /^x+~[0-9a-f]{12}$/);
    assert.notEqual(boundedText(`${'x'.repeat(300)}a`), boundedText(`${'x'.repeat(300)}b`));
  });

  it('never splits a surrogate pair, in labels and in the user id the API reports', () => {
    for (let offset = 0; offset < 4; offset++) {
      const id = `${'a'.repeat(offset)}${'😀'.repeat(100)}`;
      const label = userLabelValue(id, { mode: 'raw', salt: '' });
      assert.ok(label.length <= MAX_USER_LABEL_LENGTH);
      assert.ok(label.isWellFormed(), `offset ${offset}: ${JSON.stringify(label.slice(-20))}`);
      assert.ok(boundedText(id.repeat(3)).isWellFormed());
    }
  });

  it('turns a lone surrogate into U+FFFD so UTF-8 output shows what JSON shows', () => {
    assert.equal(boundedText('a\ud800b'), 'a\ufffdb');
    assert.equal(userLabelValue('u\udc00', { mode: 'raw', salt: '' }), 'u\ufffd');
  });
});
