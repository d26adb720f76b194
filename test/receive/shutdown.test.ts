import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startProcessor } from '../helpers/processor.ts';

const CLIENTS = 6;
const SPANS_PER_EXPORT = 20;

/** One export of SPANS_PER_EXPORT calls, all for the user named after the export, so the ledger shows which counted. */
function exportFor(user: string, exportIndex: number): string {
  const end = BigInt(Date.now()) * 1_000_000n;
  const spans = Array.from({ length: SPANS_PER_EXPORT }, (_, index) => ({
    traceId: (exportIndex + 1).toString(16).padStart(32, '0'),
    spanId: (index + 1).toString(16).padStart(16, '0'),
    name: 'chat', kind: 3,
    startTimeUnixNano: String(end - 500_000_000n), endTimeUnixNano: String(end),
    attributes: Object.entries({
      'gen_ai.operation.name': { stringValue: 'chat' },
      'gen_ai.provider.name': { stringValue: 'openai' },
      'gen_ai.request.model': { stringValue: 'gpt-4o-mini' },
      'gen_ai.usage.input_tokens': { intValue: '100' },
      'gen_ai.usage.output_tokens': { intValue: '10' },
      'user.id': { stringValue: user },
    }).map(([key, value]) => ({ key, value })),
    status: {},
  }));
  return JSON.stringify({ resourceSpans: [{ resource: { attributes: [] }, scopeSpans: [{ scope: { name: 'manual' }, spans }] }] });
}

/** POSTs on the client's kept-alive socket; the status, or 'failed' when the connection broke before an answer. */
function post(url: string, agent: Agent, body: string): Promise<number | 'failed'> {
  return new Promise((resolve) => {
    const outgoing = request(`${url}/v1/traces`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
      response.on('error', () => resolve('failed'));
    });
    outgoing.on('error', () => resolve('failed'));
    outgoing.end(body);
  });
}

describe('SIGTERM under load', () => {
  it('finishes the exports in flight, closes kept-alive sockets and the ledger, exits 0, and loses no acknowledged export', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'llm-user-metrics-shutdown-'));
    try {
      const processor = await startProcessor({ DATA_DIR: dataDir });
      const acknowledged: string[] = [];
      const refused: string[] = [];
      let exportIndex = 0;
      let signalled = false;
      const exited = once(processor.child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      const client = async (clientIndex: number) => {
        const agent = new Agent({ keepAlive: true, maxSockets: 1 });
        try {
          for (let sent = 0; ; sent++) {
            const user = `c${clientIndex}-e${sent}`;
            const status = await post(processor.url, agent, exportFor(user, exportIndex++));
            if (status === 200) acknowledged.push(user);
            else if (status !== 'failed') refused.push(user);
            if (status !== 200) return;
            if (!signalled && acknowledged.length >= 60) {
              signalled = true;
              processor.child.kill('SIGTERM');
            }
          }
        } finally {
          agent.destroy();
        }
      };
      await Promise.all(Array.from({ length: CLIENTS }, (_, index) => client(index)));
      const [code, signal] = await exited;
      assert.equal(signal, null);
      assert.equal(code, 0, processor.output());
      assert.match(processor.output(), /"message":"stopped; the ledger closed in order"/);
      assert.ok(acknowledged.length >= 60);

      const again = await startProcessor({ DATA_DIR: dataDir });
      try {
        const { users } = await (await fetch(`${again.url}/api/users?limit=10000&sort=userId`)).json() as { users: Array<{ userId: string; requests: number }> };
        const counted = new Map(users.map((user) => [user.userId, user.requests]));
        for (const user of acknowledged) assert.equal(counted.get(user), SPANS_PER_EXPORT, `acknowledged export ${user} is in the ledger whole`);
        for (const user of refused) assert.equal(counted.get(user), undefined, `refused export ${user} counted nothing`);
        for (const requests of counted.values()) assert.equal(requests, SPANS_PER_EXPORT, 'no export counted in part');
      } finally {
        await again.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
