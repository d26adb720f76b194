import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createPricer, MAX_REMEMBERED_MODELS, parsePriceOverrides, type PriceOverride } from '../../src/pricing/index.ts';
import { usageRecord } from './records.ts';

/** USD per million tokens -> nano-dollars per token: the expectations below are written from published list prices. */
const PER_MTOK = 1000;

function pricer(overrides: unknown[] = []) {
  const unpriced: string[] = [];
  const price = createPricer({
    overrides: parsePriceOverrides(overrides, 'test') as PriceOverride[],
    onUnpriced: (provider, model) => unpriced.push(`${provider}/${model}`),
  });
  return { price, unpriced };
}

describe('pricer, against published list prices', () => {
  const { price } = pricer();

  it('gpt-4o-mini: 1000 in + 500 out is $0.00045 exactly', () => {
    const priced = price(usageRecord('openai', 'gpt-4o-mini', { input: 1000, output: 500 }));
    assert.equal(priced.priced, true);
    assert.equal(priced.costNanoUsd, 450_000);
  });

  it('gpt-4o-mini: cached input at half the input price ($0.075)', () => {
    const priced = price(usageRecord('openai', 'gpt-4o-mini-2024-07-18', { input: 1000, cacheRead: 3000, output: 500 }));
    assert.equal(priced.costNanoUsd, 1000 * 0.15 * PER_MTOK + 3000 * 0.075 * PER_MTOK + 500 * 0.6 * PER_MTOK);
  });

  it('claude-3-5-haiku (dated id): cache reads at 0.1x and writes at 1.25x the $0.80 input', () => {
    const priced = price(usageRecord('anthropic', 'claude-3-5-haiku-20241022', { input: 2000, cacheRead: 50_000, cacheWrite: 8000, output: 700 }));
    assert.equal(priced.costNanoUsd, Math.round(2000 * 0.8 * PER_MTOK + 50_000 * 0.08 * PER_MTOK + 8000 * 1.0 * PER_MTOK + 700 * 4 * PER_MTOK));
  });

  it('gemini-2.5-pro: base rates up to 200k input, long-context rates above, cache reads counted in the total', () => {
    const short = price(usageRecord('gcp.gemini', 'gemini-2.5-pro', { input: 150_000, cacheRead: 50_000, output: 2000 }));
    assert.equal(short.costNanoUsd, 150_000 * 1.25 * PER_MTOK + 50_000 * 0.125 * PER_MTOK + 2000 * 10 * PER_MTOK);
    const long = price(usageRecord('gcp.gemini', 'gemini-2.5-pro', { input: 150_000, cacheRead: 60_000, output: 2000 }));
    assert.equal(long.costNanoUsd, 150_000 * 2.5 * PER_MTOK + 60_000 * 0.25 * PER_MTOK + 2000 * 15 * PER_MTOK);
  });

  it('gemini-1.5-pro on Vertex AI: long-context rates above 128k input', () => {
    const priced = price(usageRecord('gcp.vertex_ai', 'gemini-1.5-pro-002', { input: 130_000, output: 1000 }));
    assert.equal(priced.costNanoUsd, 130_000 * 2.5 * PER_MTOK + 1000 * 10 * PER_MTOK);
  });

  it('Azure OpenAI gpt-4o (Global): $2.50 in, $10 out', () => {
    const priced = price(usageRecord('azure.ai.openai', 'gpt-4o-2024-08-06', { input: 10_000, output: 1000 }));
    assert.equal(priced.costNanoUsd, 10_000 * 2.5 * PER_MTOK + 1000 * 10 * PER_MTOK);
  });

  it('Bedrock Claude 3.5 Haiku through a cross-region profile: $0.80 in, $4 out', () => {
    const priced = price(usageRecord('aws.bedrock', 'us.anthropic.claude-3-5-haiku-20241022-v1:0', { input: 10_000, output: 1000 }));
    assert.equal(priced.costNanoUsd, 10_000 * 0.8 * PER_MTOK + 1000 * 4 * PER_MTOK);
  });

  it('Claude on Vertex AI at the Anthropic list price', () => {
    const priced = price(usageRecord('gcp.vertex_ai', 'claude-3-5-haiku@20241022', { input: 10_000, output: 1000 }));
    assert.equal(priced.priced, true);
    assert.equal(priced.costNanoUsd, 10_000 * 0.8 * PER_MTOK + 1000 * 4 * PER_MTOK);
  });

  it('keeps every field of the record', () => {
    const record = usageRecord('openai', 'gpt-4o-mini', { input: 1, output: 1 }, { userId: 'u-42', properties: { plan: 'free' } });
    const { costNanoUsd, priced, ...rest } = price(record);
    assert.deepEqual(rest, record);
    assert.equal(priced, true);
    assert.ok(Number.isInteger(costNanoUsd));
  });
});

describe('pricer, without a price', () => {
  it('marks an unknown model unpriced at cost 0 and reports each (provider, model) once', () => {
    const { price, unpriced } = pricer();
    for (let index = 0; index < 3; index++) {
      const priced = price(usageRecord('openai', 'my-private-model', { input: 1000, output: 1000 }));
      assert.equal(priced.priced, false);
      assert.equal(priced.costNanoUsd, 0);
    }
    price(usageRecord('azure.ai.openai', 'my-private-model', { input: 1 }));
    price(usageRecord('', '', { input: 1 }));
    price(usageRecord('', '', { input: 1 }));
    assert.deepEqual(unpriced, ['openai/my-private-model', 'azure.ai.openai/my-private-model', '/']);
  });

  it('marks a model billed by the hour unpriced rather than free', () => {
    const { price, unpriced } = pricer();
    assert.equal(price(usageRecord('openai', 'whisper-1', { input: 1000 })).priced, false);
    assert.deepEqual(unpriced, ['openai/whisper-1']);
  });

  it('prices a record without usage of a known model at 0, still priced', () => {
    const { price, unpriced } = pricer();
    const priced = price(usageRecord('openai', 'gpt-4o-mini', {}, { hasUsage: false, isError: true }));
    assert.deepEqual([priced.priced, priced.costNanoUsd], [true, 0]);
    assert.deepEqual(unpriced, []);
  });

  it('keeps a record without usage of an unknown model unpriced', () => {
    const { price } = pricer();
    assert.equal(price(usageRecord('openai', 'my-private-model', {}, { hasUsage: false })).priced, false);
  });

  it('starts its memo afresh past MAX_REMEMBERED_MODELS instead of growing without end', () => {
    const { price, unpriced } = pricer([{ modelPrefix: 'gen-', usdPerMillionTokens: { input: 1, output: 1 } }]);
    for (let index = 0; index <= MAX_REMEMBERED_MODELS; index++) price(usageRecord('p', `gen-${index}`, { input: 1 }));
    // Still correct after the reset, and an unpriced model is reported again once it has been forgotten.
    price(usageRecord('openai', 'nope-x', { input: 1 }));
    for (let index = 0; index <= MAX_REMEMBERED_MODELS; index++) price(usageRecord('p', `gen-${index}`, { input: 1 }));
    assert.equal(price(usageRecord('p', 'gen-1', { input: 1000 })).costNanoUsd, 1_000_000);
    price(usageRecord('openai', 'nope-x', { input: 1 }));
    assert.deepEqual(unpriced, ['openai/nope-x', 'openai/nope-x']);
  });
});

describe('pricer, with overrides', () => {
  it('lets an override win over the catalogue', () => {
    const { price } = pricer([{ provider: 'openai', model: 'gpt-4o-mini', usdPerMillionTokens: { input: 1, output: 2 } }]);
    assert.equal(price(usageRecord('openai', 'gpt-4o-mini', { input: 1000, output: 1000 })).costNanoUsd, 1000 * 1000 + 1000 * 2000);
    // Other providers serving the same model keep the catalogue price.
    assert.equal(price(usageRecord('azure.ai.openai', 'gpt-4o-mini', { input: 1000, output: 500 })).costNanoUsd, 450_000);
  });

  it('prices a fine-tune the catalogue does not know, cache reads at their own price', () => {
    const { price, unpriced } = pricer([
      { provider: 'openai', modelPrefix: 'ft:gpt-4o-mini', usdPerMillionTokens: { input: 0.3, output: 1.2, cacheRead: 0.15 } },
    ]);
    const priced = price(usageRecord('openai', 'ft:gpt-4o-mini-2024-07-18:acme::9abc', { input: 1000, cacheRead: 2000, cacheWrite: 100, output: 500 }));
    assert.equal(priced.priced, true);
    assert.equal(priced.costNanoUsd, 1000 * 300 + 2000 * 150 + 100 * 300 + 500 * 1200);
    assert.deepEqual(unpriced, []);
  });

  it('prices a self-hosted model at zero on purpose, priced', () => {
    const { price } = pricer([{ provider: 'vllm', usdPerMillionTokens: { input: 0, output: 0 } }]);
    assert.deepEqual(
      [price(usageRecord('vllm', 'llama-3.1-8b', { input: 5000 })).priced, price(usageRecord('vllm', 'llama-3.1-8b', { input: 5000 })).costNanoUsd],
      [true, 0],
    );
  });

  it('applies a negotiated discount to the catalogue price, tiers and cache prices included', () => {
    const { price } = pricer([{ provider: 'anthropic', catalogueMultiplier: 0.8 }]);
    const priced = price(usageRecord('anthropic', 'claude-3-5-haiku-20241022', { input: 1000, cacheRead: 10_000, output: 500 }));
    assert.equal(priced.costNanoUsd, Math.round(0.8 * (1000 * 800 + 10_000 * 80 + 500 * 4000)));
  });

  it('keeps a discounted model unpriced when the catalogue does not know it', () => {
    const { price, unpriced } = pricer([{ provider: 'anthropic', catalogueMultiplier: 0.8 }]);
    assert.equal(price(usageRecord('anthropic', 'claude-unknown-9', { input: 1 })).priced, false);
    assert.deepEqual(unpriced, ['anthropic/claude-unknown-9']);
  });

  it('takes the first matching entry', () => {
    const { price } = pricer([
      { model: 'gpt-4o-mini', usdPerMillionTokens: { input: 1, output: 1 } },
      { modelPrefix: 'gpt-4o', usdPerMillionTokens: { input: 9, output: 9 } },
    ]);
    assert.equal(price(usageRecord('openai', 'gpt-4o-mini', { input: 1000 })).costNanoUsd, 1_000_000);
    assert.equal(price(usageRecord('openai', 'gpt-4o', { input: 1000 })).costNanoUsd, 9_000_000);
  });
});

describe('pricer, price periods', () => {
  it('prices DeepSeek at the rate of the time of day the call ended', () => {
    const { price } = pricer();
    const atUtcHour = (hour: number) =>
      price(usageRecord('deepseek', 'deepseek-chat', { input: 1_000_000 }, { endTimeMs: Date.UTC(2025, 5, 1, hour) })).costNanoUsd;
    // DeepSeek's list: $0.27 per million input tokens 00:30-16:30 UTC, half that off-peak.
    assert.equal(atUtcHour(12), 270_000_000);
    assert.equal(atUtcHour(20), 135_000_000);
    assert.equal(atUtcHour(0), 135_000_000);
  });
});

describe('overrides and provider-specific model ids', () => {
  it('an override for the bare id also prices Google resource paths and Bedrock ARNs', () => {
    const { price } = pricer([
      { model: 'gemini-2.5-pro', usdPerMillionTokens: { input: 1, output: 2 } },
      { model: 'anthropic.claude-3-5-haiku-20241022-v1:0', usdPerMillionTokens: { input: 3, output: 4 } },
    ]);
    assert.equal(price(usageRecord('gcp.vertex_ai', 'publishers/google/models/gemini-2.5-pro', { input: 1000, output: 1000 })).costNanoUsd,
      1000 * 1 * PER_MTOK + 1000 * 2 * PER_MTOK);
    assert.equal(price(usageRecord('aws.bedrock', 'arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0',
      { input: 1000, output: 1000 })).costNanoUsd, 1000 * 3 * PER_MTOK + 1000 * 4 * PER_MTOK);
  });
});

describe('dated overrides', () => {
  const nov = (day: number, hour = 0) => Date.UTC(2026, 10, day, hour);
  const { price } = pricer([
    { model: 'gpt-4o-mini', from: '2026-11-10', until: '2026-11-20', usdPerMillionTokens: { input: 1, output: 1 } },
    { model: 'gpt-4o-mini', from: '2026-11-20T00:00:00Z', catalogueMultiplier: 0.5 },
    { model: 'my-model', until: '2026-11-10', usdPerMillionTokens: { input: 2, output: 2 } },
  ]);
  const cost = (model: string, endTimeMs: number) => {
    const priced = price(usageRecord('openai', model, { input: 1000, output: 500 }, { endTimeMs }));
    return priced.priced ? priced.costNanoUsd : 'unpriced';
  };

  it('prices a call at the override in force when it ended, else at the catalogue', () => {
    // gpt-4o-mini's list price: $0.15 / $0.60 per million (450,000 nano-dollars for this call).
    assert.equal(cost('gpt-4o-mini', nov(9, 23) + 3_599_999), 450_000);
    assert.equal(cost('gpt-4o-mini', nov(10)), 1500 * PER_MTOK);
    assert.equal(cost('gpt-4o-mini', nov(19, 23) + 3_599_999), 1500 * PER_MTOK);
    assert.equal(cost('gpt-4o-mini', nov(20)), 225_000);
  });

  it('leaves a model the catalogue does not know unpriced outside its override\'s period', () => {
    assert.equal(cost('my-model', nov(9)), 3000 * PER_MTOK);
    assert.equal(cost('my-model', nov(10)), 'unpriced');
  });
});
