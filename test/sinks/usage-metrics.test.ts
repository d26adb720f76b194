import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PricedUsage } from '../../src/pricing/priced-usage.ts';
import { MAX_USER_LABEL_LENGTH, userLabelValue } from '../../src/sinks/metrics/label-text.ts';
import { boundedText, MAX_LABEL_TEXT_LENGTH } from '../../src/sources/bounded-text.ts';
import { MAX_OPERATIONS_PER_SHAPE, MAX_SHAPES, NO_USER_ID, OVERFLOW_USER_ID, UsageMetrics, type UsageMetricsOptions } from '../../src/sinks/metrics/usage-metrics.ts';

/** The full set: these tests check the per-user series with their provider and model labels (light: below). */
const OPTIONS: UsageMetricsOptions = {
  propertyLabels: ['plan', 'feature'],
  userMetrics: 'full',
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

/** The sample lines of one family (name, or name_suffix), label text and value, from exposition text. */
function samples(text: string, name: string): Array<{ labels: string; value: number }> {
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `)).map((line) => ({
    labels: line.slice(line.indexOf('{') + 1, line.lastIndexOf('}')),
    value: Number(line.slice(line.lastIndexOf(' ') + 1)),
  }));
}

const sum = (list: ReadonlyArray<{ value: number }>) => list.reduce((total, sample) => total + sample.value, 0);

describe('the light per-user set (USER_METRICS=light, the default)', () => {
  const LIGHT: UsageMetricsOptions = { ...OPTIONS, userMetrics: 'light' };
  const MODELS = ['gpt-4o-mini', 'gpt-4o', 'o3-mini'];

  it('is the default when no set is named', () => {
    const { userMetrics: _, ...unnamed } = OPTIONS;
    const metrics = new UsageMetrics(unnamed);
    metrics.record(usage());
    assert.doesNotMatch(render(metrics), /llm_cost_usd_total\{user_id="user-1",provider=/);
  });

  it('keeps 9 series per user and property set whatever the models (10 once a call failed), with no provider or model', () => {
    const metrics = new UsageMetrics(LIGHT);
    for (const model of MODELS) metrics.record(usage({ userId: 'calm', model }));
    for (const model of MODELS) metrics.record(usage({ userId: 'failing', model, isError: model === 'gpt-4o' }));
    const text = render(metrics);
    const perUser = (userId: string) => text.split('\n').filter((line) => line.startsWith('llm_') && line.includes(`{user_id="${userId}"`));
    // requests, cost, four token types, duration sum and count, last seen; and requests with status="error".
    assert.equal(perUser('calm').length, 9, perUser('calm').join('\n'));
    assert.equal(perUser('failing').length, 10, perUser('failing').join('\n'));
    assert.ok(perUser('calm').every((line) => !/provider=|model=|operation=/.test(line)));
    const props = 'plan="pro",feature=""';
    assert.equal(value(text, 'llm_requests_total', `user_id="calm",status="ok",${props}`), 3);
    assert.equal(value(text, 'llm_requests_total', `user_id="failing",status="error",${props}`), 1);
    assert.equal(value(text, 'llm_cost_usd_total', `user_id="calm",${props}`), 0.00135);
    assert.equal(value(text, 'llm_tokens_total', `user_id="calm",type="input",${props}`), 2400);
    assert.equal(value(text, 'llm_user_request_duration_seconds_count', `user_id="calm",${props}`), 3);
    assert.equal(value(text, 'llm_user_last_seen_timestamp_seconds', `user_id="calm",${props}`), Date.UTC(2026, 10, 1, 12) / 1000);
    assert.equal(samples(text, 'llm_user_first_seen_timestamp_seconds').length, 0, 'first seen is in the full set only');
  });

  it('splits by provider, model and operation in llm_model_* without user_id, summing to the per-user totals', () => {
    const metrics = new UsageMetrics(LIGHT);
    for (let call = 0; call < 30; call++) {
      metrics.record(usage({ userId: `user-${call % 7}`, model: MODELS[call % 3]!, isError: call % 5 === 0,
        costNanoUsd: 1000 + call, properties: { plan: call % 2 ? 'pro' : 'free', feature: 'chat' } }));
    }
    const text = render(metrics);
    for (const family of ['llm_model_requests_total', 'llm_model_cost_usd_total', 'llm_model_tokens_total']) {
      assert.ok(samples(text, family).length > 0, family);
      assert.ok(samples(text, family).every((sample) => !sample.labels.includes('user_id=')), `${family} has no user_id`);
    }
    assert.equal(sum(samples(text, 'llm_model_requests_total')), 30);
    assert.equal(sum(samples(text, 'llm_requests_total')), 30);
    assert.equal(sum(samples(text, 'llm_model_requests_total').filter((sample) => sample.labels.includes('status="error"'))), 6);
    assert.equal(Math.round(sum(samples(text, 'llm_model_cost_usd_total')) * 1e9), 30 * 1000 + 435);
    assert.equal(Math.round(sum(samples(text, 'llm_cost_usd_total')) * 1e9), 30 * 1000 + 435);
    assert.equal(sum(samples(text, 'llm_model_tokens_total')), sum(samples(text, 'llm_tokens_total')));
    assert.equal(value(text, 'llm_model_requests_total', 'provider="openai",model="o3-mini",operation="chat",status="ok",plan="free",feature="chat"'), 4);
  });

  it('puts a seed of every model under the user\'s property set, and never seeds the per-model families', () => {
    const seed = (model: string, requests: number) => ({
      provider: 'openai', model, operation: 'chat', properties: { plan: 'pro' }, requests, errors: 1, costNanoUsd: 1e9,
      inputTokens: 10, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0, durationSumSeconds: requests,
      firstSeenMs: 1000, lastSeenMs: 2000,
    });
    const metrics = new UsageMetrics({ ...LIGHT, seedUser: () => [seed('gpt-4o', 4), seed('o3-mini', 6)] });
    metrics.record(usage({ userId: 'seeded', costNanoUsd: 5 }));
    const text = render(metrics);
    const props = 'plan="pro",feature=""';
    assert.equal(value(text, 'llm_requests_total', `user_id="seeded",status="ok",${props}`), 4 - 1 + 6 - 1 + 1);
    assert.equal(value(text, 'llm_requests_total', `user_id="seeded",status="error",${props}`), 2);
    assert.equal(value(text, 'llm_cost_usd_total', `user_id="seeded",${props}`), 2.000000005);
    assert.equal(sum(samples(text, 'llm_model_requests_total')), 1, 'only the call this process recorded');
    assert.equal(value(text, 'llm_model_cost_usd_total', `provider="openai",model="gpt-4o-mini",${props}`), 5e-9);
  });

  it('a property set removed while idle comes back as one set of series, not two', () => {
    const metrics = new UsageMetrics({ ...LIGHT, userTtlSeconds: 60 });
    metrics.record(usage({ userId: 'leaves' }), 0);
    metrics.record(usage({ userId: 'stays', properties: { plan: 'free' } }), 0);
    metrics.record(usage({ userId: 'stays', properties: { plan: 'free' } }), 100_000);
    assert.equal(metrics.evictIdleUsers(100_000), 1);
    metrics.record(usage({ userId: 'stays' }), 100_000);
    metrics.record(usage({ userId: 'stays' }), 100_000);
    const lines = samples(render(metrics), 'llm_cost_usd_total').map((sample) => sample.labels);
    assert.deepEqual(lines.sort(), ['user_id="stays",plan="free",feature=""', 'user_id="stays",plan="pro",feature=""']);
  });

  it('has one series per user without property labels, and counts past the text budget under __other__', () => {
    const bare = new UsageMetrics({ ...LIGHT, propertyLabels: [] });
    bare.record(usage());
    assert.equal(value(render(bare), 'llm_cost_usd_total', 'user_id="user-1"'), 0.00045);
    const tight = new UsageMetrics({ ...LIGHT, maxRenderedLabelText: 20_000 });
    for (let index = 0; index < 200; index++) tight.record(usage({ userId: 'u', properties: { plan: `plan-${index}` }, costNanoUsd: 1 }));
    const text = render(tight);
    assert.equal(Math.round(sum(samples(text, 'llm_cost_usd_total')) * 1e9), 200);
    assert.ok(value(text, 'llm_cost_usd_total', 'user_id="u",plan="__other__",feature="__other__"')! > 0);
  });
});

describe('rendering in slices', () => {
  it('gives the same text as one render, in bounded slices, each family whole and in one place', () => {
    for (const userMetrics of ['light', 'full'] as const) {
      const metrics = new UsageMetrics({ ...OPTIONS, userMetrics, maxUsers: 1000 });
      for (let index = 0; index < 3000; index++) {
        metrics.record(usage({ userId: `user-${index % 500}`, model: `model-${index % 4}`, timeToFirstTokenSeconds: 0.3 }));
      }
      const slices = [...metrics.renderSlices(100)];
      assert.ok(slices.length > 20, `${userMetrics}: ${slices.length} slices`);
      assert.ok(slices.every((slice) => slice.length <= 100 + 40), 'no slice far past its size');
      const text = slices.flat();
      assert.deepEqual(text, render(metrics).split('\n').slice(0, -1));
      const seen = new Set<string>();
      let current = '';
      for (const line of text) {
        if (line.startsWith('# TYPE ')) {
          current = line.split(' ')[2]!;
          assert.ok(!seen.has(current), `${current} appears once`);
          seen.add(current);
        } else if (!line.startsWith('#')) {
          assert.ok(line.startsWith(current), `${line.slice(0, 60)} is under # TYPE ${current}`);
        }
      }
    }
  });

  it('keeps rendering what it started with when users are evicted and calls recorded between slices', () => {
    const metrics = new UsageMetrics({ ...OPTIONS, userMetrics: 'light', userTtlSeconds: 60, maxUsers: 1000 });
    for (let index = 0; index < 300; index++) metrics.record(usage({ userId: `user-${index}` }), 0);
    const lines: string[] = [];
    let between = 0;
    for (const slice of metrics.renderSlices(50)) {
      lines.push(...slice);
      if (between++ === 1) {
        metrics.evictIdleUsers(120_000);
        metrics.record(usage({ userId: 'new' }), 120_000);
      }
    }
    const costs = lines.filter((line) => line.startsWith('llm_cost_usd_total{'));
    assert.equal(costs.length, 300, 'the users the render started with, each once');
    assert.equal(new Set(lines.filter((line) => !line.startsWith('#')).map((line) => line.slice(0, line.lastIndexOf(' ')))).size,
      lines.filter((line) => !line.startsWith('#')).length, 'no series twice');
  });
});
