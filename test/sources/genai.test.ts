import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MalformedSpanError } from '../../src/sources/attributes.ts';
import { createUsageExtractor } from '../../src/sources/index.ts';
import { MAX_PROPERTIES_PER_CALL } from '../../src/sources/identity.ts';
import { MAX_LABEL_TEXT_LENGTH } from '../../src/sources/bounded-text.ts';
import { span } from '../helpers/spans.ts';

const extract = createUsageExtractor();

describe('GenAI convention spans', () => {
  it('turns a chat span into a usage record with disjoint buckets', () => {
    const record = extract(span({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.response.model': 'gpt-4o-mini-2024-07-18',
      'gen_ai.usage.input_tokens': 1000,
      'gen_ai.usage.output_tokens': 500,
      'gen_ai.usage.cache_read.input_tokens': 200,
      'gen_ai.usage.reasoning.output_tokens': 100,
      'user.id': 'user-123',
      'llm_user_metrics.property.plan': 'premium',
      'llm_user_metrics.property.Feature': 'chat',
    }));
    assert.ok(record);
    assert.equal(record.userId, 'user-123');
    assert.equal(record.provider, 'openai');
    assert.equal(record.model, 'gpt-4o-mini-2024-07-18', 'the response model wins');
    assert.equal(record.operation, 'chat');
    assert.deepEqual(record.tokens, { input: 800, output: 500, cacheRead: 200, cacheWrite: 0, reasoning: 100 });
    assert.deepEqual(record.properties, { plan: 'premium', feature: 'chat' });
    assert.equal(record.durationSeconds, 1.5);
    assert.equal(record.isError, false);
    assert.equal(record.hasUsage, true);
  });

  it('reads the deprecated names: gen_ai.system, prompt_tokens / completion_tokens, enduser.id', () => {
    const record = extract(span({
      'gen_ai.system': 'Anthropic',
      'gen_ai.request.model': 'claude-3-5-haiku-20241022',
      'gen_ai.usage.prompt_tokens': 40,
      'gen_ai.usage.completion_tokens': 2,
      'enduser.id': 'alice@example.com',
    }));
    assert.ok(record);
    assert.equal(record.provider, 'anthropic');
    assert.equal(record.model, 'claude-3-5-haiku-20241022');
    assert.equal(record.userId, 'alice@example.com');
    assert.deepEqual(record.tokens, { input: 40, output: 2, cacheRead: 0, cacheWrite: 0, reasoning: 0 });
  });

  it('takes cache writes under both spellings, subtracting them from the input total once', () => {
    for (const key of ['gen_ai.usage.cache_creation.input_tokens', 'gen_ai.usage.cache_write.input_tokens']) {
      const record = extract(span({
        'gen_ai.provider.name': 'anthropic',
        'gen_ai.response.model': 'claude-sonnet-4-20250514',
        'gen_ai.usage.input_tokens': 2400,
        'gen_ai.usage.output_tokens': 1000,
        'gen_ai.usage.cache_read.input_tokens': 300,
        [key]: 100,
      }));
      assert.ok(record);
      assert.deepEqual(record.tokens, { input: 2000, output: 1000, cacheRead: 300, cacheWrite: 100, reasoning: 0 }, key);
      const { input, output, cacheRead, cacheWrite } = record.tokens;
      assert.equal(input + output + cacheRead + cacheWrite, 2400 + 1000, 'every token counted once');
    }
  });

  it('prefers user.id over enduser.id, and accepts numeric ids', () => {
    assert.equal(extract(span({ 'gen_ai.request.model': 'm', 'user.id': 'a', 'enduser.id': 'b' }))?.userId, 'a');
    assert.equal(extract(span({ 'gen_ai.request.model': 'm', 'user.id': 42 }))?.userId, '42');
    assert.equal(extract(span({ 'gen_ai.request.model': 'm', 'user.id': '' }))?.userId, undefined);
  });

  it('marks errors from the span status or error.type, and spans without usage', () => {
    const failed = extract(span({ 'gen_ai.request.model': 'gpt-4o' }, { statusCode: 2 }));
    assert.equal(failed?.isError, true);
    assert.equal(failed?.hasUsage, false);
    assert.deepEqual(failed?.tokens, { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 });
    assert.equal(extract(span({ 'gen_ai.request.model': 'gpt-4o', 'error.type': 'rate_limit_error' }))?.isError, true);
  });

  it('reads time to first token from gen_ai.response.time_to_first_chunk', () => {
    const record = extract(span({ 'gen_ai.request.model': 'gpt-4o', 'gen_ai.response.time_to_first_chunk': 0.25 }));
    assert.equal(record?.timeToFirstTokenSeconds, 0.25);
  });

  it('ignores spans that are not LLM calls', () => {
    assert.equal(extract(span({ 'http.request.method': 'GET', 'user.id': 'u' })), undefined);
  });

  it('rejects impossible counts instead of pricing them', () => {
    assert.throws(() => extract(span({ 'gen_ai.request.model': 'm', 'gen_ai.usage.input_tokens': -5 })), MalformedSpanError);
    assert.throws(() => extract(span({ 'gen_ai.request.model': 'm', 'gen_ai.usage.input_tokens': 'lots' })), MalformedSpanError);
    assert.throws(() => extract(span({
      'gen_ai.request.model': 'm', 'gen_ai.usage.input_tokens': 10, 'gen_ai.usage.cache_read.input_tokens': 20,
    })), /exceed input_tokens/);
    assert.throws(() => extract(span({
      'gen_ai.request.model': 'm', 'gen_ai.usage.output_tokens': 10, 'gen_ai.usage.reasoning.output_tokens': 20,
    })), /exceed output_tokens/);
  });

  it('accepts int64 counts that arrive as digit strings', () => {
    const record = extract(span({ 'gen_ai.request.model': 'm', 'gen_ai.usage.input_tokens': '1000' }));
    assert.equal(record?.tokens.input, 1000);
  });

  it('bounds provider, model, operation and property text where the record is made', () => {
    const huge = 'x'.repeat(1 << 20);
    const record = extract(span({
      'gen_ai.operation.name': `chat${huge}`,
      'gen_ai.provider.name': `OpenAI${huge}`,
      'gen_ai.request.model': `gpt${'😀'.repeat(1 << 18)}`,
      'gen_ai.usage.input_tokens': 1,
      [`llm_user_metrics.property.${huge}`]: 'v',
      'llm_user_metrics.property.plan': `p${huge}`,
    }));
    assert.ok(record);
    for (const text of [record.provider, record.model, record.operation, ...Object.keys(record.properties), ...Object.values(record.properties)]) {
      assert.ok(text.length <= MAX_LABEL_TEXT_LENGTH && text.isWellFormed(), text.slice(0, 40));
    }
    assert.match(record.provider, /^openaix+~[0-9a-f]{12}$/);
    assert.match(record.properties.plan!, /^px+~[0-9a-f]{12}$/);
  });

  it('keeps properties named like Object.prototype members, and at most MAX_PROPERTIES_PER_CALL', () => {
    const attributes: Record<string, unknown> = {
      'gen_ai.request.model': 'gpt-4o-mini', 'gen_ai.usage.input_tokens': 1,
      'llm_user_metrics.property.constructor': 'c', 'llm_user_metrics.property.__proto__': 'p',
      'llm_user_metrics.property.toString': 't',
    };
    for (let index = 0; index < 200; index++) attributes[`llm_user_metrics.property.n${index}`] = 'v';
    const record = extract(span(attributes as Parameters<typeof span>[0]));
    assert.ok(record);
    assert.equal(Object.hasOwn(record.properties, 'constructor') && record.properties.constructor, 'c');
    assert.equal(Object.hasOwn(record.properties, '__proto__') && record.properties['__proto__'], 'p');
    assert.equal(record.properties.tostring, 't');
    assert.equal(Object.getPrototypeOf(record.properties), Object.prototype);
    assert.equal(Object.keys(record.properties).length, MAX_PROPERTIES_PER_CALL);
  });
});
