import { it } from 'node:test';
import assert from 'node:assert/strict';
import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { MAX_REPORTED_FAULTS, safely } from '../../instrumentation/llm-call.ts';

const logged: string[] = [];
// Only lines of ours: the API logs its own set-up at this level.
const keep = (...args: unknown[]) => { const line = args.map(String).join(' '); if (line.includes('instrumentation fault')) logged.push(line); };
const logger: DiagLogger = { error: keep, warn: keep, info: keep, debug: keep, verbose: keep };
diag.setLogger(logger, { logLevel: DiagLogLevel.ALL, suppressOverrideMessage: true });

it('a fault is logged by where it happened and its error class, never its message (which may quote completion text)', () => {
  const result = safely('sse event', () => JSON.parse('{"content":"the user\'s private completion') as unknown, 'fallback');
  assert.equal(result, 'fallback');
  assert.equal(logged.length, 1);
  assert.match(logged[0]!, /sse event/);
  assert.match(logged[0]!, /SyntaxError/);
  assert.doesNotMatch(logged[0]!, /private completion/);
  safely('sse event', () => JSON.parse('{"other text') as unknown, undefined);
  assert.equal(logged.length, 1, 'the same place and class is logged once');
});

it('the set of faults already reported stays bounded', () => {
  logged.length = 0;
  for (let i = 0; i < MAX_REPORTED_FAULTS * 3; i++) safely(`place ${i}`, () => { throw new TypeError('x'); }, undefined);
  assert.ok(logged.length <= MAX_REPORTED_FAULTS + 1, `${logged.length} lines logged`);
  assert.ok(logged.length >= MAX_REPORTED_FAULTS - 1);
});
