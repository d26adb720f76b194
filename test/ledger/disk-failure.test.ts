import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { startProcessor, type RunningProcessor } from '../helpers/processor.ts';
import { exportBody, postExport, type CallSpec } from './otlp-bodies.ts';

/**
 * A failing disk under the real processor, with the default settings: a full file system (tmpfs) and an ext4 that
 * turns read-only on an error (a loop device). Needs root (CI runs as root); skipped with the reason elsewhere.
 * Every export answered 200 must be in the ledger exactly once, exports while the disk fails get 503, /healthz and
 * the users API answer 503, and the exports refused meanwhile count once when their exporter sends them again.
 */

const SPANS_PER_EXPORT = 100;
/** Bounds on the loops that wait for the disk to fail or the ledger to recover (not timing assertions). */
const MAX_EXPORTS_UNTIL_FAILURE = 400;
const MAX_HEALTH_POLLS = 300;
const IN_FLIGHT = 4;

function run(command: string, args: readonly string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Why mounting is not possible here, or undefined when a tmpfs mounts. */
function cannotMount(): string | undefined {
  if (process.platform !== 'linux') return `mounting file systems needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'mounting file systems needs root (CI runs the tests as root)';
  const probe = mkdtempSync(join(tmpdir(), 'disk-failure-probe-'));
  try {
    run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe]);
    run('umount', [probe]);
    return undefined;
  } catch (error) {
    return `mount -t tmpfs failed, so the disk cannot be made to fail here: ${(error as Error).message.split('\n')[0]}`;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

const MOUNT_UNAVAILABLE = cannotMount();

/** One export of SPANS_PER_EXPORT calls from 25 users; new span ids each time, so every export adds new calls. */
function newExport(index: number): string {
  const now = Date.now();
  const calls: CallSpec[] = [];
  for (let span = 0; span < SPANS_PER_EXPORT; span++) {
    calls.push({ user: `user-${index % 7}-${span % 25}`, endMs: now - 60_000 + span, properties: { plan: `plan-${index}` } });
  }
  return exportBody(calls);
}

async function status(url: string, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`${url}${path}`);
  return { status: response.status, body: await response.text() };
}

/** Total requests over every user in the ledger, as the users API tells them. */
async function ledgerCalls(url: string): Promise<number> {
  const response = await fetch(`${url}/api/users?limit=10000`);
  assert.equal(response.status, 200, `/api/users: ${response.status} ${await response.clone().text()}`);
  const page = await response.json() as { users: Array<{ requests: number }> };
  return page.users.reduce((sum, user) => sum + user.requests, 0);
}

/** What an exporter saw: the bodies acknowledged and the ones refused (which it would send again). */
interface Sent {
  readonly acknowledged: string[];
  readonly refused: string[];
}

/** Sends the bodies all at once (they share group commits, as an exporter's concurrent exports do). */
async function send(url: string, bodies: readonly string[], sent: Sent): Promise<number[]> {
  return Promise.all(bodies.map(async (body) => {
    const response = await postExport(url, body);
    await response.arrayBuffer();
    assert.ok(response.status === 200 || response.status === 503, `an export got ${response.status}`);
    (response.status === 200 ? sent.acknowledged : sent.refused).push(body);
    return response.status;
  }));
}

/**
 * Sends new exports, IN_FLIGHT at a time, until one is refused (the failure has been noticed); `fail` runs while the
 * first ones are in flight. Returns the index of the next new export.
 */
async function sendUntilRefused(url: string, sent: Sent, firstIndex: number, fail: () => void): Promise<number> {
  for (let index = firstIndex; index < firstIndex + MAX_EXPORTS_UNTIL_FAILURE; index += IN_FLIGHT) {
    const answers = send(url, Array.from({ length: IN_FLIGHT }, (_, offset) => newExport(index + offset)), sent);
    if (index === firstIndex) fail();
    if ((await answers).includes(503)) return index + IN_FLIGHT;
  }
  assert.fail(`no export was refused after ${MAX_EXPORTS_UNTIL_FAILURE} exports on a failing disk`);
}

/** While the ledger fails: /healthz 503 naming the ledger and its error, the users API 503, exports 503. */
async function assertFailing(url: string, sent: Sent, firstIndex: number): Promise<void> {
  const health = await status(url, '/healthz');
  assert.equal(health.status, 503, `/healthz while the disk fails: ${health.body}`);
  const body = JSON.parse(health.body) as { status: string; ledger: { status: string; error: string; since: string } };
  assert.equal(body.status, 'unavailable');
  assert.equal(body.ledger.status, 'failing');
  assert.match(body.ledger.error, /\S/, 'the error is named');
  for (const path of ['/api/users', '/api/users.csv', '/api/users/user-0-0']) {
    const answer = await status(url, path);
    assert.equal(answer.status, 503, `${path} while the disk fails: ${answer.body}`);
  }
  const statuses = await send(url, [newExport(firstIndex), newExport(firstIndex + 1), newExport(firstIndex + 2)], sent);
  assert.deepEqual(statuses, [503, 503, 503], 'no export is acknowledged while the ledger is failing');
}

async function waitForHealthy(url: string): Promise<void> {
  for (let poll = 0; poll < MAX_HEALTH_POLLS; poll++) {
    if ((await status(url, '/healthz')).status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail('the ledger did not recover once the disk took writes again');
}

/** Writes zeros to `path` until the file system is full. */
function fillUp(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(256 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
}

describe('a failing disk stops acknowledgements (default LEDGER_SYNC)', { skip: MOUNT_UNAVAILABLE }, () => {
  const cleanups: Array<() => void> = [];

  /** A fresh ext4 file system on a loop device, unmounted after the tests; undefined (and `t` skipped) if impossible. */
  function mountExt4(t: TestContext): { image: string; mountPoint: string } | undefined {
    const dir = mkdtempSync(join(tmpdir(), 'disk-ext4-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const image = join(dir, 'ext4.img');
    const mountPoint = join(dir, 'mnt');
    mkdirSync(mountPoint);
    try {
      run('truncate', ['-s', '96M', image]);
      run('mkfs.ext4', ['-q', '-F', image]);
      run('mount', ['-o', 'loop,errors=remount-ro', image, mountPoint]);
    } catch (error) {
      t.skip(`no loop-mounted ext4 here (truncate, mkfs.ext4, mount -o loop): ${(error as Error).message.split('\n')[0]}`);
      return undefined;
    }
    cleanups.push(() => run('umount', ['-l', mountPoint]));
    return { image, mountPoint };
  }
  let processor: RunningProcessor | undefined;

  /**
   * The exporters send what was refused again (at least `leastRefused` exports): it counts, once; and a restart on the
   * same ledger finds every acknowledged call. Stops the processor.
   */
  async function resendRefusedThenRestart(running: RunningProcessor, dataDir: string, sent: Sent, leastRefused: number): Promise<void> {
    const refused = sent.refused.splice(0);
    assert.ok(refused.length >= leastRefused);
    assert.ok((await send(running.url, refused, sent)).every((answer) => answer === 200));
    const total = sent.acknowledged.length * SPANS_PER_EXPORT;
    assert.equal(await ledgerCalls(running.url), total);

    await running.stop();
    processor = await startProcessor({ DATA_DIR: dataDir });
    assert.equal(await ledgerCalls(processor.url), total, 'the same after a restart');
    await processor.stop();
    processor = undefined;
  }
  after(async () => {
    await processor?.stop('SIGKILL');
    for (const cleanup of cleanups.reverse()) {
      try { cleanup(); } catch { /* best effort */ }
    }
  });

  it('a full file system: 503 while full, 200 again once space is freed, without a restart', async () => {
    const mountPoint = mkdtempSync(join(tmpdir(), 'disk-full-'));
    cleanups.push(() => rmSync(mountPoint, { recursive: true, force: true }));
    run('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mountPoint]);
    cleanups.push(() => run('umount', ['-l', mountPoint]));
    const dataDir = join(mountPoint, 'data');
    processor = await startProcessor({ DATA_DIR: dataDir });
    const sent: Sent = { acknowledged: [], refused: [] };
    assert.deepEqual(await send(processor.url, [newExport(0), newExport(1)], sent), [200, 200]);

    const filler = join(mountPoint, 'filler');
    let index = await sendUntilRefused(processor.url, sent, 2, () => fillUp(filler));
    await assertFailing(processor.url, sent, index);
    index += 3;
    assert.match(processor.output(), /usage ledger failing/, 'the failure is logged');

    rmSync(filler);
    await waitForHealthy(processor.url);
    assert.deepEqual(await send(processor.url, [newExport(index), newExport(index + 1)], sent), [200, 200],
      'exports are acknowledged again without a restart');
    assert.match(processor.output(), /usage ledger recovered/);
    assert.equal(await ledgerCalls(processor.url), sent.acknowledged.length * SPANS_PER_EXPORT,
      'every acknowledged call is in the ledger once, and nothing refused is');

    // The exporters send what was refused again: it counts, once.
    await resendRefusedThenRestart(processor, dataDir, sent, 4);
  });

  it('an ext4 that turns read-only on an I/O error: 503 from then on, and nothing acknowledged lost', async (t: TestContext) => {
    const ext4 = mountExt4(t);
    if (ext4 === undefined) return;
    const { image, mountPoint } = ext4;
    // ext4's own fault injection: an error as a failing disk causes one, after which errors=remount-ro makes the
    // file system read-only under the open files (a plain `mount -o remount,ro` is refused while files are open).
    const device = basename(run('findmnt', ['-n', '-o', 'SOURCE', mountPoint]).trim());
    const trigger = `/sys/fs/ext4/${device}/trigger_fs_error`;
    if (!existsSync(trigger)) {
      t.skip(`this kernel has no ${trigger} to make ext4 fail`);
      return;
    }
    const dataDir = join(mountPoint, 'data');
    processor = await startProcessor({ DATA_DIR: dataDir });
    const sent: Sent = { acknowledged: [], refused: [] };
    assert.deepEqual(await send(processor.url, [newExport(0), newExport(1), newExport(2)], sent), [200, 200, 200]);
    let index = await sendUntilRefused(processor.url, sent, 3, () => writeFileSync(trigger, '1'));
    await assertFailing(processor.url, sent, index);
    index += 3;

    // An ext4 that went read-only on an error cannot be made writable again while mounted (remount,rw is refused):
    // the processor stops, the file system is checked and mounted again, as an operator would.
    await processor.stop();
    processor = undefined;
    run('umount', [mountPoint]);
    try {
      run('e2fsck', ['-f', '-y', image]);
    } catch { /* exit code 1: errors were corrected */ }
    run('mount', ['-o', 'loop,errors=remount-ro', image, mountPoint]);
    processor = await startProcessor({ DATA_DIR: dataDir });
    assert.equal(await ledgerCalls(processor.url), sent.acknowledged.length * SPANS_PER_EXPORT,
      'every acknowledged call is in the ledger once, and nothing refused is');
    const refused = sent.refused.splice(0);
    assert.ok((await send(processor.url, refused, sent)).every((answer) => answer === 200));
    assert.equal(await ledgerCalls(processor.url), sent.acknowledged.length * SPANS_PER_EXPORT);
    await processor.stop();
    processor = undefined;
  });

  it('write errors on the ledger\'s files (made immutable): 503 meanwhile, 200 again once they are lifted, without a restart', async (t: TestContext) => {
    const ext4 = mountExt4(t);
    if (ext4 === undefined) return;
    const dataDir = join(ext4.mountPoint, 'data');
    processor = await startProcessor({ DATA_DIR: dataDir });
    const sent: Sent = { acknowledged: [], refused: [] };
    assert.deepEqual(await send(processor.url, [newExport(0), newExport(1)], sent), [200, 200]);
    // ext4 refuses every write to an immutable file, through descriptors opened before too (EPERM): SQLite sees
    // "disk I/O error" on the WAL (commits) and on the database file (checkpoints).
    const files = ['ledger.sqlite', 'ledger.sqlite-wal'].map((name) => join(dataDir, name));
    const lift = () => run('chattr', ['-i', ...files]);
    cleanups.push(lift);
    try {
      run('chattr', ['+i', ...files]);
    } catch (error) {
      t.skip(`chattr +i is not possible here: ${(error as Error).message.split('\n')[0]}`);
      return;
    }
    let index = await sendUntilRefused(processor.url, sent, 2, () => {});
    await assertFailing(processor.url, sent, index);
    index += 3;
    const health = JSON.parse((await status(processor.url, '/healthz')).body) as { ledger: { error: string } };
    assert.match(health.ledger.error, /I\/O error|not permitted/i);

    lift();
    await waitForHealthy(processor.url);
    assert.deepEqual(await send(processor.url, [newExport(index), newExport(index + 1)], sent), [200, 200],
      'exports are acknowledged again without a restart');
    assert.equal(await ledgerCalls(processor.url), sent.acknowledged.length * SPANS_PER_EXPORT);
    await resendRefusedThenRestart(processor, dataDir, sent, 0);
  });
});
