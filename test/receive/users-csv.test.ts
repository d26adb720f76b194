import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { csvField, parseUsersQuery, userCsvLine, usersCsv, userJson } from '../../src/receive/users-api.ts';
import { boundedText } from '../../src/sources/bounded-text.ts';

describe('CSV cells (OWASP "CSV Injection")', () => {
  it('puts a single quote before text a spreadsheet would run as a formula, and quotes it as CSV requires', () => {
    assert.equal(csvField('=1+1'), "'=1+1");
    assert.equal(csvField('+33 1 23'), "'+33 1 23");
    assert.equal(csvField('-2+3'), "'-2+3");
    assert.equal(csvField('@SUM(A1)'), "'@SUM(A1)");
    assert.equal(csvField('\tx'), "'\tx");
    assert.equal(csvField('\r=x'), `"'\r=x"`);
    assert.equal(csvField('＝1+1'), "'＝1+1");
    assert.equal(csvField('=HYPERLINK("http://x","a,b")'), `"'=HYPERLINK(""http://x"",""a,b"")"`);
  });

  it('leaves other text, numbers and empty cells as they are', () => {
    assert.equal(csvField('user-1'), 'user-1');
    assert.equal(csvField('a=b'), 'a=b');
    assert.equal(csvField(''), '');
    assert.equal(csvField(null), '');
    assert.equal(csvField(12.5), '12.5');
    assert.equal(csvField(-3), '-3', 'a number stays a number');
    assert.equal(csvField('acme, "inc"'), '"acme, ""inc"""');
  });

  it('writes every cell as stored with CSV_CELLS=raw', () => {
    assert.equal(csvField('=1+1', 'raw'), '=1+1');
    assert.equal(csvField('@x,y', 'raw'), '"@x,y"');
  });

  it('neutralises the user id and label columns of a whole row', () => {
    const row = userJson({
      userId: '=cmd|"/c calc"!A1', requests: 1, errors: 0, unpricedRequests: 0, inputTokens: 1, outputTokens: 1,
      cacheReadTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, costNanoUsd: 5, durationMicros: 1000,
      firstSeenMs: 0, lastSeenMs: 0, activeDays: 1,
    }, (id) => id);
    const line = userCsvLine(row);
    assert.ok(line.startsWith(`"'=cmd|""/c calc""!A1","'=cmd|""/c calc""!A1",1,0,0,`), line);
    assert.ok(usersCsv([row], 'raw').includes('\r\n"=cmd|""/c calc""!A1",'));
  });
});

describe('users-API property filters', () => {
  it('are bounded as recorded properties are, so a long value finds its calls', () => {
    const long = 'v'.repeat(5000);
    const query = parseUsersQuery({ [`property.${'N'.repeat(400)}`]: long }, { csv: false });
    assert.deepEqual(query.properties, [[boundedText('n'.repeat(400)), boundedText(long)]]);
  });
});
