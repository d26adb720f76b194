import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ESM_HOOKED_MODULES, esmHookRegistrar, type HookLoaders } from '../../instrumentation/start.ts';

function fakeLoaders(syncSupported: boolean | 'throws') {
  const calls: { sync: unknown[]; threaded: unknown[][] } = { sync: [], threaded: [] };
  const loaders: HookLoaders = {
    syncHooks: () => {
      if (syncSupported === 'throws') throw new Error('an import-in-the-middle without register-hooks.mjs');
      return { supportsSyncHooks: () => syncSupported, register: (options) => { calls.sync.push(options); } };
    },
    register: (...args) => { calls.threaded.push(args); },
  };
  return { loaders, calls };
}

it('the threaded fallback (Node < 24.11.1) hooks only the SDK packages, as the synchronous hook does', () => {
  for (const kind of [false, 'throws'] as const) {
    const { loaders, calls } = fakeLoaders(kind);
    assert.equal(esmHookRegistrar(loaders)(), 'threaded');
    assert.equal(calls.threaded.length, 1);
    const [specifier, , options] = calls.threaded[0]!;
    assert.equal(specifier, '@opentelemetry/instrumentation/hook.mjs');
    assert.deepEqual(options, { data: { include: ESM_HOOKED_MODULES } });
  }
  const { loaders, calls } = fakeLoaders(true);
  assert.equal(esmHookRegistrar(loaders)(), 'sync');
  assert.deepEqual(calls.sync, [{ include: ESM_HOOKED_MODULES }]);
  assert.equal(calls.threaded.length, 0);
});

it('a repeat call registers nothing more and reports the hook that was registered', () => {
  for (const [kind, expected] of [[false, 'threaded'], [true, 'sync']] as const) {
    const { loaders, calls } = fakeLoaders(kind);
    const registerEsmHook = esmHookRegistrar(loaders);
    assert.equal(registerEsmHook(), expected);
    assert.equal(registerEsmHook(), expected);
    assert.equal(calls.threaded.length + calls.sync.length, 1);
  }
});
