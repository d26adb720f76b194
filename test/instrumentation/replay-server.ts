/**
 * Serves the recorded provider responses of fixtures/replay/ (see its README) over HTTP on 127.0.0.1, byte for byte.
 * The request names its recording in the `x-replay` header; a streamed chat request gets the `.usage.sse` variant
 * when its body asks for usage, else the `.sse` one; `x-replay-cut: true` cuts the connection after the recording
 * (no chunked terminator), as a dropped connection does.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

export const RECORDINGS = fileURLToPath(new URL('fixtures/replay/', import.meta.url));

export interface Recording {
  readonly file: string;
  readonly status: number;
  readonly contentType: string;
  readonly text: string;
}

/** The recording a request gets: by name, and for streams by whether the body asked for usage. */
export function recordingFor(name: string, body: { stream?: unknown; stream_options?: { include_usage?: unknown } }): Recording {
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`bad recording name "${name}"`);
  const read = (file: string, status: number, contentType: string): Recording =>
    ({ file, status, contentType, text: readFileSync(RECORDINGS + file, 'utf8') });
  if (body.stream === true) {
    if (body.stream_options?.include_usage === true && existsSync(`${RECORDINGS}${name}.usage.sse`)) return read(`${name}.usage.sse`, 200, 'text/event-stream');
    if (existsSync(`${RECORDINGS}${name}.sse`)) return read(`${name}.sse`, 200, 'text/event-stream');
  }
  const json = readdirSync(RECORDINGS).find((file) => new RegExp(`^${name}(\\.\\d{3})?\\.json$`).test(file));
  if (!json) throw new Error(`no recording "${name}" for this request`);
  const status = /\.(\d{3})\.json$/.exec(json)?.[1];
  return read(json, status ? Number(status) : 200, 'application/json');
}

export interface ReplayServer {
  readonly url: string;
  /** The parsed body of every request, in order. */
  readonly bodies: unknown[];
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startReplayServer(): Promise<ReplayServer> {
  const bodies: unknown[] = [];
  const server = createServer((req, res) => {
    readBody(req).then((raw) => {
      const body = JSON.parse(raw) as Parameters<typeof recordingFor>[1];
      bodies.push(body);
      const recording = recordingFor(String(req.headers['x-replay'] ?? ''), body);
      res.writeHead(recording.status, { 'content-type': recording.contentType, 'x-request-id': 'req_replay' });
      if (req.headers['x-replay-cut'] === 'true') {
        res.write(recording.text);
        res.socket?.end();
      } else {
        res.end(recording.text);
      }
    }).catch((error: unknown) => {
      res.writeHead(599, { 'content-type': 'text/plain' });
      res.end(`replay server: ${String(error)}`);
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bodies,
    close: () => new Promise<void>((resolve, reject) => {
      server.closeAllConnections();
      server.close((error) => (error ? reject(error) : resolve()));
    }),
  };
}

/** The JSON payloads of a recorded SSE text, in order, without `[DONE]`: what an SDK yields when iterating it. */
export function sseEvents(text: string): unknown[] {
  return text.split(/\n\n/).map((event) => /^data: (.*)$/m.exec(event)?.[1]).filter((data): data is string => data !== undefined && data !== '[DONE]')
    .map((data) => JSON.parse(data) as unknown);
}
