/** What the stream accumulators make of events that the real SDKs rarely let through (raw asResponse() bodies). */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { chunkCarriesOutput, responsesAccumulator, responsesResponse } from '../../instrumentation/openai/describe.ts';
import { messageStreamAccumulator } from '../../instrumentation/anthropic/describe.ts';

it('an error event in a Responses or Anthropic stream ends it as failed, typed by its code', () => {
  const responses = responsesAccumulator();
  responses.onEvent({ type: 'response.created', response: { id: 'resp_1', model: 'gpt-4o', status: 'in_progress' } });
  responses.onEvent({ type: 'error', code: 'rate_limit_exceeded', message: 'quoting the prompt' });
  assert.deepEqual([responses.result().errorType, responses.result().complete], ['rate_limit_exceeded', true]);
  const anthropic = messageStreamAccumulator();
  anthropic.onEvent({ type: 'message_start', message: { id: 'msg_1', model: 'claude', usage: { input_tokens: 5 } } });
  anthropic.onEvent({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
  assert.deepEqual([anthropic.result().errorType, anthropic.result().complete], ['overloaded_error', true]);
});

it('a Responses response is failed only when its status says so', () => {
  assert.equal(responsesResponse({ status: 'failed', error: { code: 'server_error' } }).errorType, 'server_error');
  assert.equal(responsesResponse({ status: 'failed', error: null }).errorType, 'failed');
  assert.equal(responsesResponse({ status: 'completed', error: null }).errorType, undefined);
  assert.equal(responsesResponse({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } }).errorType, undefined);
});

it('chat chunks carry output when a delta has text, a refusal, tool or function calls, or reasoning', () => {
  const chunk = (delta: object) => ({ choices: [{ index: 0, delta, finish_reason: null }] });
  assert.equal(chunkCarriesOutput(chunk({ role: 'assistant', content: '' })), false);
  assert.equal(chunkCarriesOutput(chunk({})), false);
  assert.equal(chunkCarriesOutput({ choices: [], usage: { prompt_tokens: 1 } }), false);
  assert.equal(chunkCarriesOutput(chunk({ content: 'Hi' })), true);
  assert.equal(chunkCarriesOutput(chunk({ tool_calls: [{ index: 0, function: { name: 'f' } }] })), true);
  assert.equal(chunkCarriesOutput(chunk({ refusal: 'No' })), true);
  assert.equal(chunkCarriesOutput(chunk({ reasoning_content: 'thinking' })), true);
  assert.equal(chunkCarriesOutput({ choices: [{ text: 'legacy', index: 0 }] }), true);
});
