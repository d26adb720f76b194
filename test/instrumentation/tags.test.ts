import { it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveTags, tagsFromHeaders } from '../../instrumentation/request-tags.ts';
import { withProperties, withUser } from '../../instrumentation/context.ts';
import { anthropicUsage, openaiChatUsage } from '../../instrumentation/usage.ts';

const none = { contextProperties: {}, requestHeaders: undefined, defaultHeaders: undefined };

it('the user comes from the first source that has one, in the documented order', () => {
  const all = { contextUser: 'ctx', contextProperties: {}, requestHeaders: { 'HELICONE-USER-ID': 'req' }, defaultHeaders: { 'Helicone-User-Id': 'def' }, bodyUser: 'body', baggageUser: 'bag' };
  assert.equal(resolveTags(all).userId, 'ctx');
  assert.equal(resolveTags({ ...all, contextUser: undefined }).userId, 'req');
  assert.equal(resolveTags({ ...all, contextUser: undefined, requestHeaders: {} }).userId, 'def');
  assert.equal(resolveTags({ ...all, contextUser: undefined, requestHeaders: {}, defaultHeaders: {} }).userId, 'body');
  assert.equal(resolveTags({ ...none, baggageUser: 'bag' }).userId, 'bag');
  assert.equal(resolveTags(none).userId, undefined);
});

it('headers in every shape the SDKs take; only Helicone user and property headers are read', () => {
  const expected = { userId: 'u', properties: { plan: 'p' } };
  assert.deepEqual(tagsFromHeaders({ 'helicone-user-id': 'u', 'Helicone-Property-Plan': 'p', Authorization: 'Bearer x' }), expected);
  assert.deepEqual(tagsFromHeaders(new Headers({ 'Helicone-User-Id': 'u', 'Helicone-Property-Plan': 'p' })), expected);
  assert.deepEqual(tagsFromHeaders([['Helicone-User-Id', 'u'], ['Helicone-Property-Plan', 'p']]), expected);
  assert.deepEqual(tagsFromHeaders({ values: new Headers({ 'Helicone-User-Id': 'u', 'Helicone-Property-Plan': 'p' }), nulls: new Set() }), expected);
});

it('properties: request headers beat withProperties, which beats default headers; names lower-cased', () => {
  const tags = resolveTags({
    contextProperties: { plan: 'ctx', feature: 'ctx' },
    requestHeaders: { 'Helicone-Property-Plan': 'req' },
    defaultHeaders: { 'Helicone-Property-Feature': 'def', 'Helicone-Property-Region': 'EU' },
  });
  assert.deepEqual(tags.properties, { feature: 'ctx', region: 'EU', plan: 'req' });
});

it('a request header set to null (how the SDKs remove a default header) removes the default user or property', () => {
  const defaultHeaders = { 'Helicone-User-Id': 'def', 'Helicone-Property-Plan': 'default-plan', 'Helicone-Property-Region': 'EU' };
  for (const requestHeaders of [
    { 'helicone-user-id': null, 'Helicone-Property-Plan': null },
    [['Helicone-User-Id', null], ['helicone-property-plan', null]],
    { values: new Headers(), nulls: new Set(['helicone-user-id', 'helicone-property-plan']) },
  ]) {
    const tags = resolveTags({ contextProperties: {}, requestHeaders, defaultHeaders, bodyUser: 'body' });
    assert.equal(tags.userId, 'body', JSON.stringify(requestHeaders));
    assert.deepEqual(tags.properties, { region: 'EU' });
  }
  // withUser / withProperties are not headers: a null header does not remove them.
  const tags = resolveTags({ contextUser: 'ctx', contextProperties: { plan: 'ctx' }, requestHeaders: { 'Helicone-User-Id': null, 'Helicone-Property-Plan': null }, defaultHeaders });
  assert.deepEqual([tags.userId, tags.properties.plan], ['ctx', 'ctx']);
});

it('bad input to withUser / withProperties is refused with a message naming it', () => {
  assert.throws(() => withUser('', () => 1), /withUser: userId must be a non-empty string/);
  assert.throws(() => withUser(42 as unknown as string, () => 1), /got number/);
  assert.throws(() => withProperties({ plan: 3 } as unknown as Record<string, string>, () => 1), /property "plan" must be a string/);
  assert.equal(withUser('u', () => 7), 7);
});

it('usage: OpenAI totals kept as reported; Anthropic cache parts added into the input total', () => {
  assert.deepEqual(openaiChatUsage({ prompt_tokens: 10, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 4 }, completion_tokens_details: { reasoning_tokens: 2 } }),
    { input: 10, output: 5, cacheRead: 4, reasoning: 2 });
  assert.deepEqual(anthropicUsage({ input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 3, cache_creation_input_tokens: 2 }),
    { input: 15, output: 5, cacheRead: 3, cacheCreation: 2 });
});
