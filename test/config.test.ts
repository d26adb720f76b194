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
    assert.equal(config.userMetrics, 'light');
  });

  it('takes USER_METRICS=full for the per-model split on every per-user series, and nothing else', () => {
    assert.equal(loadConfig({ USER_METRICS: 'full' }).userMetrics, 'full');
    assert.throws(() => loadConfig({ USER_METRICS: 'heavy' }), /USER_METRICS="heavy": must be one of light, full/);
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

describe('the HTTP edge', () => {
  it('reads INGEST_TOKEN as one or more comma-separated tokens, and never quotes one in an error', () => {
    assert.deepEqual(loadConfig({}).ingestTokens, []);
    assert.deepEqual(loadConfig({ INGEST_TOKEN: ' first-token-0123456789 , second-token-012345678,' }).ingestTokens,
      ['first-token-0123456789', 'second-token-012345678']);
    assert.throws(() => loadConfig({ INGEST_TOKEN: 'good-token-0123456789,short-secret' }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /INGEST_TOKEN: token 2 of 2 must be at least 16 characters \(value not shown\)/);
      assert.doesNotMatch(error.message, /short-secret|good-token/);
      return true;
    });
    assert.throws(() => loadConfig({ INGEST_TOKEN: 'a token with spaces in it' }), /INGEST_TOKEN: token 1 of 1 may contain only/);
  });

  it('bounds the bytes being received at once, the body timeout and the shutdown grace', () => {
    const defaults = loadConfig({});
    assert.equal(defaults.maxReceivingBytes, 4 * DEFAULT_MAX_BODY_BYTES);
    assert.equal(defaults.bodyTimeoutSeconds, 30);
    assert.equal(defaults.shutdownGraceSeconds, 5);
    assert.equal(defaults.maxAttributesPerSpan, 1024);
    assert.equal(loadConfig({ MAX_BODY_BYTES: '1048576' }).maxReceivingBytes, 4 * 1048576, 'follows MAX_BODY_BYTES');
    assert.throws(() => loadConfig({ MAX_BODY_BYTES: '1048576', MAX_RECEIVING_BYTES: '1048575' }), /MAX_RECEIVING_BYTES: must be at least MAX_BODY_BYTES/);
    assert.throws(() => loadConfig({ BODY_TIMEOUT_SECONDS: '0' }), /BODY_TIMEOUT_SECONDS="0": must be between 1/);
  });
});
