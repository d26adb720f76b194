import { it } from 'node:test';
import assert from 'node:assert/strict';
import { withoutTopLevelMember } from '../../instrumentation/json-text.ts';

it('removes the member with its separator, leaving every other byte as it was', () => {
  assert.equal(withoutTopLevelMember('{"a": 1, "usage": null, "b": [1, 2]}', 'usage'), '{"a": 1, "b": [1, 2]}');
  assert.equal(withoutTopLevelMember('{"a":1,"usage":null}', 'usage'), '{"a":1}');
  assert.equal(withoutTopLevelMember('{ "usage" : null , "a" : "x" }', 'usage'), '{ "a" : "x" }');
  assert.equal(withoutTopLevelMember('{"usage":null}', 'usage'), '{}');
  assert.equal(withoutTopLevelMember('{\n  "a": 1,\n  "usage": {"n": 2}\n}', 'usage'), '{\n  "a": 1\n}');
});

it('only a top-level key counts: text and nested members that look like it stay', () => {
  const json = '{"text":"say \\"usage\\":null, $& $$","inner":{"usage":null},"list":[{"usage":null}],"usage":null}';
  assert.equal(withoutTopLevelMember(json, 'usage'), '{"text":"say \\"usage\\":null, $& $$","inner":{"usage":null},"list":[{"usage":null}]}');
  assert.deepEqual(JSON.parse(withoutTopLevelMember(json, 'usage')), { text: 'say "usage":null, $& $$', inner: { usage: null }, list: [{ usage: null }] });
  assert.equal(withoutTopLevelMember('{"a":"usage"}', 'usage'), '{"a":"usage"}');
  assert.equal(withoutTopLevelMember('{"a":"ends in a backslash\\\\","usage":null}', 'usage'), '{"a":"ends in a backslash\\\\"}');
});

it('refuses text that is not an object, naming where it broke', () => {
  assert.throws(() => withoutTopLevelMember('[1]', 'usage'), /not an object/);
  assert.throws(() => withoutTopLevelMember('{"a" 1}', 'usage'), /":" was expected at 5/);
  assert.throws(() => withoutTopLevelMember('{"a":"x', 'usage'), /unterminated string/);
});
