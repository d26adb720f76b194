import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startProcessor, type RunningProcessor } from '../helpers/processor.ts';

const MAX_BODY = 65_536;

/** A raw connection that sends the headers of an export and `bodyBytes` of its body, and holds the rest back. */
async function slowUpload(url: string, headers: string, bodyBytes: number): Promise<{ socket: Socket; answer: Promise<string> }> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  let received = '';
  socket.setEncoding('latin1').on('data', (chunk: string) => { received += chunk; });
  const answer = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
  socket.write(`POST /v1/traces HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\n${headers}\r\n`);
  socket.write(Buffer.alloc(bodyBytes, 32));
  return { socket, answer };
}

/** Waits until `condition` holds; the test runner's own timeout bounds it. */
async function until(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 20));
}

const smallExport = (user: string) => JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{
  traceId: 'aa'.repeat(16), spanId: Buffer.from(user.padEnd(8, '-').slice(0, 8)).toString('hex'), name: 'chat',
  startTimeUnixNano: String(BigInt(Date.now() - 100) * 1_000_000n), endTimeUnixNano: String(BigInt(Date.now()) * 1_000_000n),
  attributes: [
    { key: 'gen_ai.operation.name', value: { stringValue: 'chat' } },
    { key: 'gen_ai.request.model', value: { stringValue: 'gpt-4o-mini' } },
    { key: 'gen_ai.usage.input_tokens', value: { intValue: '10' } },
    { key: 'user.id', value: { stringValue: user } },
  ],
}] }] }] });

describe('bytes being received at once are bounded across connections (MAX_RECEIVING_BYTES)', () => {
  let processor: RunningProcessor;
  before(async () => {
    processor = await startProcessor({ MAX_BODY_BYTES: String(MAX_BODY), MAX_RECEIVING_BYTES: String(2 * MAX_BODY), BODY_TIMEOUT_SECONDS: '3600' });
  });
  after(() => processor.stop());

  const post = (body: string) => fetch(`${processor.url}/v1/traces`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  const heldBytes = async () => Number(/^llm_user_metrics_receiving_bytes (\S+)$/m.exec(await processor.metrics())?.[1]);

  it('answers 503 with Retry-After once slow uploads hold the budget, keeps /healthz and small exports going once they end', async () => {
    const slow = [
      await slowUpload(processor.url, `Content-Length: ${MAX_BODY}\r\n`, 1000),
      await slowUpload(processor.url, `Content-Length: ${MAX_BODY}\r\n`, 1000),
    ];
    await until(async () => (await heldBytes()) === 2 * MAX_BODY);

    const refused = await post(smallExport('refused-user'));
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '2');
    assert.match(await refused.text(), /MAX_RECEIVING_BYTES/);
    const chunked = await slowUpload(processor.url, 'Transfer-Encoding: chunked\r\n', 0);
    chunked.socket.write('10\r\n0123456789abcdef\r\n');
    assert.match(await chunked.answer, /^HTTP\/1\.1 503 .*Retry-After: 2/s, 'a chunked body is refused as its bytes arrive');
    assert.equal((await fetch(`${processor.url}/healthz`)).status, 200);

    for (const { socket } of slow) socket.destroy();
    await until(async () => (await heldBytes()) === 0);
    assert.equal((await post(smallExport('after-user'))).status, 200);
    const users = (await (await fetch(`${processor.url}/api/users`)).json() as { users: Array<{ userId: string }> }).users.map((user) => user.userId);
    assert.deepEqual(users, ['after-user'], 'the refused export counted nothing');
  });
});

describe('a slow upload times out (BODY_TIMEOUT_SECONDS)', () => {
  let processor: RunningProcessor;
  before(async () => {
    processor = await startProcessor({ MAX_BODY_BYTES: String(MAX_BODY), BODY_TIMEOUT_SECONDS: '1' });
  });
  after(() => processor.stop());

  it('answers 408 naming the setting and closes the connection', async () => {
    const { answer } = await slowUpload(processor.url, `Content-Length: ${MAX_BODY}\r\n`, 100);
    const text = await answer;
    assert.match(text, /^HTTP\/1\.1 408 /);
    assert.match(text, /Connection: close/i);
    assert.match(text, /BODY_TIMEOUT_SECONDS/);
  });
});
