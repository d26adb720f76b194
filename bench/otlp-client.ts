import { Agent, request } from 'node:http';

/**
 * The benchmarks' OTLP/HTTP sender: node:http over kept-alive connections, one per export in flight. It sends bodies
 * made beforehand and reads each answer whole. Undici's fetch cost this client 5-6 ms of CPU per 1,000 spans (as much
 * as the processor's own decoding), on the same two cores as the processor: its share of the machine was measured
 * along with the processor. This one costs about 0.5-1 ms.
 */
/** Sends of one export on sockets that turned out closed, before giving up. */
const MAX_ATTEMPTS = 3;

class StaleSocketError extends Error {
  override name = 'StaleSocketError';
}

export class OtlpClient {
  private readonly agent: Agent;
  private readonly url: URL;

  constructor(baseUrl: string, maxSockets: number) {
    this.url = new URL('/v1/traces', baseUrl);
    this.agent = new Agent({ keepAlive: true, maxSockets });
  }

  /**
   * POSTs one export; resolves once the whole answer has arrived, rejects unless it is 200. An export whose kept-alive
   * socket was closed under it (the server closing it as idle just as it was reused: ECONNRESET, "socket hang up") is
   * sent again on a fresh one: safe, since the processor counts a resent span once.
   */
  async post(body: Uint8Array, contentType = 'application/x-protobuf'): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.postOnce(body, contentType);
      } catch (error) {
        if (!(error instanceof StaleSocketError) || attempt === MAX_ATTEMPTS) throw error;
      }
    }
  }

  private postOnce(body: Uint8Array, contentType: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const outgoing = request(this.url, {
        method: 'POST', agent: this.agent, headers: { 'content-type': contentType, 'content-length': body.byteLength },
      }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          if (response.statusCode === 200) resolve();
          else reject(new Error(`export answered ${response.statusCode}: ${Buffer.concat(chunks).toString('utf8').slice(0, 500)}`));
        });
      });
      outgoing.on('error', (error: NodeJS.ErrnoException) => {
        const stale = outgoing.reusedSocket && (error.code === 'ECONNRESET' || error.message === 'socket hang up');
        reject(stale ? new StaleSocketError(error.message) : error);
      });
      outgoing.end(body);
    });
  }

  /** Sends every body once, `inFlight` at a time, in order; resolves with each export's time to its answer (ms). */
  async sendAll(bodies: readonly Uint8Array[], inFlight: number, contentType?: string): Promise<number[]> {
    let next = 0;
    const latencies: number[] = [];
    const sender = async () => {
      while (next < bodies.length) {
        const sent = performance.now();
        await this.post(bodies[next++]!, contentType);
        latencies.push(performance.now() - sent);
      }
    };
    await Promise.all(Array.from({ length: inFlight }, sender));
    return latencies;
  }

  close(): void {
    this.agent.destroy();
  }
}
