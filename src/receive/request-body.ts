import type { IncomingMessage } from 'node:http';
import { gunzip } from 'node:zlib';

/** An HTTP error with the status to answer and a message that names what was wrong. */
export class HttpError extends Error {
  override name = 'HttpError';
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * Reads the whole body, refusing with 413 as soon as it passes `maxBytes`, and gunzips it when the request says
 * so; the limit applies to the decompressed size too, so a small gzip bomb is refused as well.
 */
export async function readRequestBody(request: IncomingMessage, maxBytes: number): Promise<{ body: Buffer; wireBytes: number }> {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    request.resume();
    throw new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${maxBytes} bytes (MAX_BODY_BYTES)`);
  }
  const encoding = (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity' && encoding !== 'gzip') {
    request.resume();
    throw new HttpError(415, `unsupported Content-Encoding "${encoding}": use gzip or none`);
  }
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (received > maxBytes) {
      request.resume();
      throw new HttpError(413, `request body exceeds the limit of ${maxBytes} bytes (MAX_BODY_BYTES)`);
    }
    chunks.push(chunk);
  }
  const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
  if (encoding === 'identity') return { body: raw, wireBytes: received };
  return { body: await gunzipWithin(raw, maxBytes), wireBytes: received };
}

function gunzipWithin(raw: Buffer, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    gunzip(raw, { maxOutputLength: maxBytes }, (error, result) => {
      if (!error) return resolve(result);
      if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        reject(new HttpError(413, `decompressed body exceeds the limit of ${maxBytes} bytes (MAX_BODY_BYTES)`));
      } else {
        reject(new HttpError(400, `body is not valid gzip: ${error.message}`));
      }
    });
  });
}
