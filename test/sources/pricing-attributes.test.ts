/** The two pricing facts our instrumentation writes, read into the usage record (src/sources/genai.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MalformedSpanError } from '../../src/sources/attributes.ts';
import { createUsageExtractor } from '../../src/sources/index.ts';
import { CACHE_WRITE_1H_ATTRIBUTE, INSTRUMENTED_ATTRIBUTE, SEARCH_CONTEXT_SIZE_ATTRIBUTE } from '../../src/wire/attributes.ts';
import { span } from '../helpers/spans.ts';

const extract = createUsageExtractor();
const claude = {
  [INSTRUMENTED_ATTRIBUTE]: true,
  'gen_ai.operation.name': 'chat',
  'gen_ai.provider.name': 'anthropic',
  'gen_ai.response.model': 'claude-sonnet-4-20250514',
  'gen_ai.usage.input_tokens': 3_520,
  'gen_ai.usage.cache_read.input_tokens': 500,
  'gen_ai.usage.cache_creation.input_tokens': 3_000,
  'gen_ai.usage.output_tokens': 40,
};

describe('one-hour cache writes', () => {
  it('become the one-hour part of cacheWrite; the buckets stay disjoint', () => {
    const record = extract(span({ ...claude, [CACHE_WRITE_1H_ATTRIBUTE]: 2_000 }));
    assert.deepEqual(record?.tokens, { input: 20, cacheRead: 500, cacheWrite: 3_000, cacheWrite1h: 2_000, output: 40, reasoning: 0 });
  });

  it('are absent from a record whose span does not split its writes', () => {
    assert.equal(extract(span(claude))?.tokens.cacheWrite1h, undefined);
    assert.equal(extract(span({ ...claude, [CACHE_WRITE_1H_ATTRIBUTE]: 0 }))?.tokens.cacheWrite1h, undefined);
  });

  it('make the span malformed when more than the cache writes, or not a count', () => {
    assert.throws(() => extract(span({ ...claude, [CACHE_WRITE_1H_ATTRIBUTE]: 3_001 })),
      (error: Error) => error instanceof MalformedSpanError && /one-hour cache write tokens \(3001\) exceed cache write tokens \(3000\)/.test(error.message));
    assert.throws(() => extract(span({ ...claude, [CACHE_WRITE_1H_ATTRIBUTE]: 'lots' })), MalformedSpanError);
    assert.throws(() => extract(span({ ...claude, [CACHE_WRITE_1H_ATTRIBUTE]: -1 })), MalformedSpanError);
  });
});

describe('search tier', () => {
  const sonar = {
    [INSTRUMENTED_ATTRIBUTE]: true,
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'perplexity',
    'gen_ai.response.model': 'sonar',
    'gen_ai.usage.input_tokens': 12,
    'gen_ai.usage.output_tokens': 30,
  };

  it('is read whatever its case, and only for the tiers there are', () => {
    assert.equal(extract(span({ ...sonar, [SEARCH_CONTEXT_SIZE_ATTRIBUTE]: 'medium' }))?.searchContextSize, 'medium');
    assert.equal(extract(span({ ...sonar, [SEARCH_CONTEXT_SIZE_ATTRIBUTE]: ' HIGH ' }))?.searchContextSize, 'high');
  });

  it('leaves the record without one when absent or unknown, and still counts the call', () => {
    for (const value of [undefined, 'huge', 7, '']) {
      const record = extract(span(value === undefined ? sonar : { ...sonar, [SEARCH_CONTEXT_SIZE_ATTRIBUTE]: value }));
      assert.ok(record, `${String(value)}: the call must still count`);
      assert.ok(!('searchContextSize' in record), `${String(value)}: no tier`);
    }
  });
});
