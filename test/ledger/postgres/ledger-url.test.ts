import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../../src/config.ts';
import { displayLedgerUrl } from '../../../src/sinks/ledger/postgres/pg-url.ts';

const SECRET = 's3cr3t-p4ss';

describe('LEDGER_URL', () => {
  it('selects the PostgreSQL ledger; without it the SQLite ledger stays the default', () => {
    assert.equal(loadConfig({}).ledgerUrl, '');
    assert.equal(loadConfig({ LEDGER_URL: ` postgres://u:${SECRET}@db:5432/usage ` }).ledgerUrl, `postgres://u:${SECRET}@db:5432/usage`);
    assert.equal(loadConfig({ LEDGER_URL: 'postgresql://db/usage?sslmode=require' }).ledgerUrl, 'postgresql://db/usage?sslmode=require');
  });

  for (const [raw, problem] of [
    [`mysql://u:${SECRET}@db/usage`, /scheme "mysql:" is not postgres: or postgresql:/],
    [`postgres://u:${SECRET}@db:5432`, /names no database/],
    [`u:${SECRET}@db/usage`, /scheme|not a URL/],
    [`postgres://u:${SECRET}@:5432/usage`, /not a URL|names no host/],
  ] as const) {
    it(`refuses ${raw.replace(SECRET, '***')} naming the problem, never the password`, () => {
      assert.throws(() => loadConfig({ LEDGER_URL: raw }), (error: Error) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /LEDGER_URL: /);
        assert.match(error.message, problem);
        assert.ok(!error.message.includes(SECRET), error.message);
        return true;
      });
    });
  }

  it('refuses LEDGER=off beside it', () => {
    assert.throws(() => loadConfig({ LEDGER: 'off', LEDGER_URL: 'postgres://db/usage' }), /LEDGER=off and LEDGER_URL are both set/);
  });

  it('masks the password, also one given as a query parameter, for the logs', () => {
    assert.equal(displayLedgerUrl(`postgres://u:${SECRET}@db:5432/usage`), 'postgres://u:***@db:5432/usage');
    assert.equal(displayLedgerUrl(`postgres://db/usage?password=${SECRET}&sslmode=require`), 'postgres://db/usage?password=***&sslmode=require');
    assert.equal(displayLedgerUrl('postgres://db/usage'), 'postgres://db/usage');
  });
});
