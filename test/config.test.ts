import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, DEFAULT_MAX_BODY_BYTES, loadConfig } from '../src/config.ts';

describe('configuration', () => {
  it('has defaults that work on a laptop', () => {
    const config = loadConfig({});
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 4318);
    assert.equal(config.maxBodyBytes, DEFAULT_MAX_BODY_BYTES);
    assert.deepEqual(config.propertyLabels, ['plan', 'feature']);
    assert.equal(config.userIdLabel, 'raw');
  });

  it('parses every setting', () => {
    const config = loadConfig({
      PORT: '9000', HOST: '0.0.0.0', PROPERTY_LABELS: 'Plan, tier', MAX_USERS: '50', USER_TTL_SECONDS: '60',
      USER_ID_LABEL: 'hash', USER_ID_HASH_SALT: 'a-long-enough-salt', PLAN_PRICES_USD: 'free=0,pro=19.5',
      MAX_BODY_BYTES: '1048576',
    });
    assert.equal(config.port, 9000);
    assert.deepEqual(config.propertyLabels, ['plan', 'tier']);
    assert.deepEqual(config.planPricesUsd, { free: 0, pro: 19.5 });
    assert.equal(config.maxUsers, 50);
    assert.equal(config.userIdLabel, 'hash');
  });

  it('names every bad variable and what was wrong', () => {
    assert.throws(() => loadConfig({ PORT: 'eighty', MAX_USERS: '0', PROPERTY_LABELS: 'plan,le' }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /PORT="eighty": not a whole number/);
      assert.match(error.message, /MAX_USERS="0": must be between 1/);
      assert.match(error.message, /PROPERTY_LABELS="plan,le": "le" clashes/);
      return true;
    });
  });

  it('rejects property labels that are not label names or clash with ours', () => {
    for (const bad of ['user_id', 'model', 'job', 'instance', 'quantile', '9lives', 'has-dash', '__private', 'plan,plan']) {
      assert.throws(() => loadConfig({ PROPERTY_LABELS: bad }), ConfigError, bad);
    }
  });

  it('requires a salt for hashed user labels', () => {
    assert.throws(() => loadConfig({ USER_ID_LABEL: 'hash' }), /USER_ID_HASH_SALT/);
    assert.throws(() => loadConfig({ USER_ID_LABEL: 'email' }), /USER_ID_LABEL="email": must be one of raw, hash/);
  });

  it('rejects malformed plan prices', () => {
    assert.throws(() => loadConfig({ PLAN_PRICES_USD: 'pro:20' }), /PLAN_PRICES_USD.*not plan=monthlyPriceUsd/);
  });

  it('takes plans named like Object.prototype members as plans', () => {
    const prices = loadConfig({ PLAN_PRICES_USD: '__proto__=1,constructor=2,toString=3' }).planPricesUsd;
    assert.deepEqual(Object.entries(prices), [['__proto__', 1], ['constructor', 2], ['toString', 3]]);
    assert.equal(Object.getPrototypeOf(prices), Object.prototype);
    assert.equal(Object.hasOwn(loadConfig({ PLAN_PRICES_USD: 'pro=1' }).planPricesUsd, 'constructor'), false);
  });

  it('rejects a property label longer than label text is kept', () => {
    assert.throws(() => loadConfig({ PROPERTY_LABELS: 'p'.repeat(257) }), /PROPERTY_LABELS.*longer than 256 characters/);
  });
});

describe('PROPERTY_LABELS set but empty', () => {
  it('means no property labels', () => {
    assert.deepEqual(loadConfig({ PROPERTY_LABELS: '' }).propertyLabels, []);
  });
});
