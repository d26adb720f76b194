import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, LOG_LINES_PER_KIND, logLine, MAX_LOG_TEXT_LENGTH } from '../src/log.ts';

function capture(now: () => number = () => 0) {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const log = createLogger('info', {
    now,
    write: (line) => { raw.push(line); lines.push(JSON.parse(line) as Record<string, unknown>); },
  });
  return { log, lines, raw };
}

describe('logs', () => {
  it('are one JSON line each, with every string bounded and the cut said', () => {
    const { log, raw, lines } = capture();
    log('warn', 'no price known for model', { model: 'm'.repeat(1 << 20), stack: `${'😀'.repeat(MAX_LOG_TEXT_LENGTH)}` });
    assert.equal(raw.length, 1);
    assert.ok(raw[0]!.endsWith('\n') && !raw[0]!.slice(0, -1).includes('\n'));
    assert.ok(raw[0]!.length < 3 * MAX_LOG_TEXT_LENGTH + 1000, `${raw[0]!.length} characters`);
    assert.match(String(lines[0]!.model), /^m+\.\.\. \(cut from 1048576 characters\)$/);
    assert.ok(String(lines[0]!.stack).isWellFormed());
    assert.match(logLine('info', 'x'.repeat(10_000), { list: Array.from({ length: 1000 }, (_, i) => i) }), /cut from 10000 characters.*968 more items cut/);
  });

  it('are rate-limited per kind, with a summary of what was suppressed once the window ends', () => {
    let now = 0;
    const { log, lines } = capture(() => now);
    for (let index = 0; index < 1000; index++) log('warn', 'no price known for model', { model: `m-${index}` });
    log('warn', 'spans rejected', { rejected: 1 });
    assert.equal(lines.length, LOG_LINES_PER_KIND + 1, 'another kind is not held back by the flood');
    now = 61_000;
    log('warn', 'no price known for model', { model: 'late' });
    const summary = lines.find((line) => line.message === 'log lines suppressed');
    assert.deepEqual(summary && { ...summary, time: undefined }, {
      time: undefined, level: 'warn', message: 'log lines suppressed',
      suppressedMessage: 'no price known for model', suppressed: 1000 - LOG_LINES_PER_KIND, windowSeconds: 60,
    });
    assert.equal(lines.at(-1)!.model, 'late', 'a new window writes again');
  });

  it('write nothing below the minimum level', () => {
    const lines: string[] = [];
    createLogger('warn', { write: (line) => lines.push(line) })('info', 'x');
    assert.equal(lines.length, 0);
  });
});
