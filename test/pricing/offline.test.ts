/**
 * The catalogue must price from its bundled data and never reach the network: its REMOTE_DATA_JSON_URL is only
 * handed to an `updatePrices` storage factory, which we never install. Checked three ways: by trapping every way
 * out of the process while pricing, by reading the package bundle, and by reading our own pricing code.
 */
import assert from 'node:assert/strict';
import dns from 'node:dns';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const attempts: string[] = [];

/** Installed before the catalogue is first imported (below, dynamically), so even its start-up is watched. */
function trapNetwork(): void {
  const record = (what: string) => (...args: unknown[]) => {
    attempts.push(`${what} ${String(args[0])}`);
    throw new Error(`network use in a pricing test: ${what}`);
  };
  globalThis.fetch = record('fetch') as typeof fetch;
  net.Socket.prototype.connect = record('socket.connect') as typeof net.Socket.prototype.connect;
  dns.lookup = record('dns.lookup') as unknown as typeof dns.lookup;
  dns.promises.lookup = record('dns.promises.lookup') as typeof dns.promises.lookup;
  globalThis.WebSocket = record('WebSocket') as unknown as typeof WebSocket;
}

describe('the catalogue stays offline', () => {
  it('prices every kind of record without any attempt to reach the network', async () => {
    trapNetwork();
    const { calcPrice } = await import('@pydantic/genai-prices');
    const { createPricer } = await import('../../src/pricing/index.ts');
    const { usageRecord } = await import('./records.ts');

    const price = createPricer({ overrides: [] });
    const models = [
      ['openai', 'gpt-4o-mini'], ['anthropic', 'claude-3-5-haiku-20241022'], ['gcp.gemini', 'gemini-2.5-pro'],
      ['aws.bedrock', 'amazon.nova-pro-v1:0'], ['azure.ai.openai', 'gpt-4o'], ['deepseek', 'deepseek-chat'],
      ['', 'gpt-4o'], ['openai', 'no-such-model'], ['x_ai', 'grok-3'],
    ] as const;
    for (const [provider, model] of models) price(usageRecord(provider, model, { input: 1000, output: 100 }));
    const direct = calcPrice({ input_tokens: 10 }, 'gpt-4o-mini', { providerId: 'openai' });
    assert.equal(direct?.auto_update_timestamp, undefined, 'prices came from an update, not the bundle');

    // Anything scheduled by the catalogue on import or on a price call has had its chance to run.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(attempts, []);

    // The traps do catch a real attempt.
    assert.throws(() => fetch('http://127.0.0.1:9/'), /network use in a pricing test/);
    assert.throws(() => new net.Socket().connect(9, '127.0.0.1'), /network use in a pricing test/);
    assert.equal(attempts.length, 2);
  });

  it('has no network code in its bundle: the remote URL is only offered to an updatePrices factory', () => {
    const bundle = readFileSync(fileURLToPath(import.meta.resolve('@pydantic/genai-prices')), 'utf8');
    for (const pattern of [/\bfetch\s*\(/, /\brequire\s*\(/, /^\s*import\s/m, /\bimport\s*\(/, /XMLHttpRequest/, /WebSocket/, /node:(?:https?|net|dns)/]) {
      assert.doesNotMatch(bundle, pattern);
    }
    const urlConstant = /const (\w+) = "https:\/\/raw\.githubusercontent\.com\/pydantic\/genai-prices\/[^"]+";/.exec(bundle);
    assert.ok(urlConstant, 'REMOTE_DATA_JSON_URL constant not found');
    const uses = [...bundle.matchAll(new RegExp(`\\b${urlConstant[1]}\\b`, 'g'))].map((match) =>
      bundle.slice(match.index - 20, match.index + 30).replace(/\s+/g, ' '),
    );
    // Declared, passed as `remoteDataUrl` to the factory, exported by name: nothing else.
    assert.equal(uses.length, 3, uses.join(' | '));
    assert.ok(uses.some((use) => use.includes('remoteDataUrl:')), uses.join(' | '));
  });

  it('is never switched to remote data by our code', () => {
    const dir = fileURLToPath(new URL('../../src/pricing/', import.meta.url));
    for (const file of readdirSync(dir).filter((name) => name.endsWith('.ts'))) {
      const source = readFileSync(join(dir, file), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      assert.doesNotMatch(source, /updatePrices|waitForUpdate|enableAutoUpdate|REMOTE_DATA_JSON_URL/, file);
    }
  });
});
