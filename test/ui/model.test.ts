import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { csvText, daysBetween, formatValue, planLines, resolveRange, userPath } from '../../ui/src/model.ts';

const NOW = Date.UTC(2026, 11, 6, 14, 30);

describe("the Users page's ranges, formats and CSV", () => {
  it('turns each range into the users API parameters of whole UTC days', () => {
    assert.deepEqual(resolveRange({ kind: 'this-month' }, NOW), { params: { month: '2026-12' }, firstDay: '2026-12-01', lastDay: '2026-12-31', months: 1 });
    assert.deepEqual(resolveRange({ kind: 'last-month' }, Date.UTC(2026, 0, 15)).params, { month: '2025-12' });
    assert.deepEqual(resolveRange({ kind: '7d' }, NOW).params, { from: '2026-11-30', to: '2026-12-06' });
    assert.deepEqual(resolveRange({ kind: '30d' }, NOW).params, { from: '2026-11-07', to: '2026-12-06' });
    assert.deepEqual(resolveRange({ kind: 'custom', from: '2026-12-03', to: '2026-12-01' }, NOW).params, { from: '2026-12-01', to: '2026-12-03' });
    assert.deepEqual(resolveRange({ kind: 'custom', from: '2026-02-30', to: 'x' }, NOW).params, { from: '2026-11-07', to: '2026-12-06' }, 'a bad day falls back');
    assert.deepEqual(daysBetween('2026-02-27', '2026-03-01'), ['2026-02-27', '2026-02-28', '2026-03-01']);
  });

  it('formats in the given locale', () => {
    assert.equal(formatValue(1234567, 'count', 'en-US'), '1,234,567');
    assert.equal(formatValue(1234567, 'count', 'de-DE'), '1.234.567');
    assert.equal(formatValue(0.00045, 'usd', 'en-US'), '$0.0005');
    assert.equal(formatValue(12.5, 'usd', 'en-US'), '$12.50');
    assert.equal(formatValue(0.125, 'percent', 'en-US'), '12.5%');
    assert.equal(formatValue(null, 'usd', 'en-US'), '—');
  });

  it('writes a CSV as the API does: CRLF, quoting, formulas neutralised, numbers untouched', () => {
    assert.equal(csvText(['userId', 'costUsd'], [['=1+1', 0.5], ['a,"b"', -1], [null, 3]]),
      'userId,costUsd\r\n\'=1+1,0.5\r\n"a,""b""",-1\r\n,3\r\n');
  });

  it('puts any user id in one path segment', () => {
    assert.equal(userPath('a/b ?#%'), '/users/a%2Fb%20%3F%23%25');
  });

  it('computes revenue and margin per plan, the least profitable first', () => {
    const lines = planLines([{ value: 'pro', users: 2, costUsd: 50 }, { value: 'free', users: 3, costUsd: 1 }, { value: 'x', users: 1, costUsd: 2 }],
      { pro: 20, free: 0 }, 1);
    assert.deepEqual(lines.map((line) => [line.plan, line.revenueUsd, line.marginUsd]), [['pro', 40, -10], ['free', 0, -1], ['x', undefined, undefined]]);
  });
});
