import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calcPrice } from '@pydantic/genai-prices';
import {
  catalogueCostUsd,
  catalogueModelId,
  findCatalogueModel,
  toCatalogueUsage,
} from '../../src/pricing/catalogue.ts';
import { NO_TOKENS, type TokenBuckets } from '../../src/sources/usage-record.ts';

const tokens = (buckets: Partial<TokenBuckets>): TokenBuckets => ({ ...NO_TOKENS, ...buckets });
const AT = Date.UTC(2026, 10, 26, 12);

describe('toCatalogueUsage', () => {
  it('gives the catalogue the TOTAL input, with the cache counts as parts of it', () => {
    assert.deepEqual(toCatalogueUsage(tokens({ input: 100, cacheRead: 2000, cacheWrite: 300, output: 50, reasoning: 20 })), {
      input_tokens: 2400,
      cache_read_tokens: 2000,
      cache_write_tokens: 300,
      output_tokens: 50,
      output_reasoning_tokens: 20,
    });
  });

  it('prices an Anthropic call with cache reads and writes at the list rates (0.1x read, 1.25x write)', () => {
    // claude-3-5-haiku: $0.80 input, $0.08 cache read, $1.00 cache write, $4 output per million tokens.
    const usage = toCatalogueUsage(tokens({ input: 1000, cacheRead: 10_000, cacheWrite: 4000, output: 500 }));
    const result = calcPrice(usage, 'claude-3-5-haiku-20241022', { providerId: 'anthropic', timestamp: new Date(AT) });
    const expectedUsd = (1000 * 0.8 + 10_000 * 0.08 + 4000 * 1.0 + 500 * 4) / 1e6;
    assert.equal(Math.round(result!.total_price * 1e9), Math.round(expectedUsd * 1e9));
  });

  it('is needed: passing only the uncached input as input_tokens is refused by the catalogue', () => {
    // The cache counts cannot exceed input_tokens: the disjoint count goes wrong loudly, not quietly.
    assert.throws(
      () => calcPrice({ input_tokens: 1000, cache_read_tokens: 10_000, output_tokens: 500 }, 'claude-3-5-haiku-20241022', { providerId: 'anthropic' }),
      /cannot exceed|exceeds/,
    );
    // And where it is not refused, the cached tokens vanish from the price.
    const wrong = calcPrice({ input_tokens: 10_000, cache_read_tokens: 4000, output_tokens: 0 }, 'gpt-4o-mini', { providerId: 'openai' });
    const right = calcPrice(toCatalogueUsage(tokens({ input: 10_000, cacheRead: 4000 })), 'gpt-4o-mini', { providerId: 'openai' });
    assert.equal(Math.round(right!.total_price * 1e9), 10_000 * 150 + 4000 * 75);
    assert.notEqual(Math.round(wrong!.total_price * 1e9), Math.round(right!.total_price * 1e9));
  });

  it('never reports more reasoning than output, nor a negative or NaN count', () => {
    const usage = toCatalogueUsage(tokens({ input: -3, cacheRead: Number.NaN, output: 10, reasoning: 25 }));
    assert.deepEqual(usage, { input_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, output_tokens: 10, output_reasoning_tokens: 10 });
  });
});

describe('catalogueModelId', () => {
  it('strips Google resource paths and Bedrock ARNs down to the model id', () => {
    assert.equal(catalogueModelId('models/gemini-2.5-pro'), 'gemini-2.5-pro');
    assert.equal(catalogueModelId('publishers/google/models/gemini-2.5-pro'), 'gemini-2.5-pro');
    assert.equal(catalogueModelId('projects/p1/locations/us-central1/publishers/google/models/gemini-2.5-flash'), 'gemini-2.5-flash');
    assert.equal(
      catalogueModelId('arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0'),
      'us.anthropic.claude-3-5-haiku-20241022-v1:0',
    );
    assert.equal(catalogueModelId('arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0'), 'amazon.nova-pro-v1:0');
    assert.equal(catalogueModelId('  gpt-4o-mini '), 'gpt-4o-mini');
    assert.equal(catalogueModelId('ft:gpt-4o-mini-2024-07-18:acme::abc123'), 'ft:gpt-4o-mini-2024-07-18:acme::abc123');
  });
});

describe('findCatalogueModel', () => {
  it('resolves dated ids to the catalogue entry', () => {
    const found = findCatalogueModel('anthropic', 'claude-3-5-haiku-20241022');
    assert.equal(found?.providerId, 'anthropic');
    assert.equal(found?.modelId, 'claude-3-5-haiku-latest');
    assert.equal(findCatalogueModel('openai', 'gpt-4o-mini-2024-07-18')?.modelId, 'gpt-4o-mini');
  });

  it('finds a model by id alone when the provider is unknown or empty', () => {
    assert.equal(findCatalogueModel('', 'gpt-4o-mini')?.providerId, 'openai');
    assert.equal(findCatalogueModel('my-gateway', 'claude-3-5-haiku-20241022')?.providerId, 'anthropic');
    assert.equal(findCatalogueModel('ibm.watsonx.ai', 'gpt-4o')?.providerId, 'openai');
  });

  it('falls back to the id alone when the named provider does not list the model (an SDK pointed at a proxy)', () => {
    assert.equal(findCatalogueModel('openai', 'claude-3-5-haiku-20241022')?.providerId, 'anthropic');
  });

  it('finds Google models behind a resource path', () => {
    assert.equal(findCatalogueModel('gcp.gemini', 'models/gemini-2.5-pro')?.modelId, 'gemini-2.5-pro');
  });

  it('finds nothing for an unknown or empty model', () => {
    assert.equal(findCatalogueModel('openai', 'no-such-model-xyz'), undefined);
    assert.equal(findCatalogueModel('', ''), undefined);
    assert.equal(findCatalogueModel('openai', '   '), undefined);
  });
});

describe('catalogueCostUsd', () => {
  it('is the catalogue price of our buckets: gpt-4o-mini 1000 in + 500 out is $0.00045', () => {
    const usd = catalogueCostUsd(tokens({ input: 1000, output: 500 }), 'openai', 'gpt-4o-mini', AT);
    assert.ok(usd !== undefined && Math.abs(usd - 0.00045) < 1e-15, String(usd));
  });

  it('is undefined for a model the catalogue does not know', () => {
    assert.equal(catalogueCostUsd(tokens({ input: 1 }), 'openai', 'no-such-model-xyz', AT), undefined);
  });
});
