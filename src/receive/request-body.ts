import type { IncomingMessage } from 'node:http';
import { gunzip } from 'node:zlib';

/** An HTTP error with the status to answer and a message that names what was wrong. */
export class HttpError extends Error {
  override name = 'HttpError';
  readonly status: number;
  /**
   * Answer with `Connection: close`, for refusals whose point is to stop receiving (busy, too slow); other refusals
   * read the rest of the body and discard it, so the client reads its answer rather than a reset connection.
   */
  readonly closeConnection: boolean;
  /** Seconds for a Retry-After header, when the client should come back later. */
  readonly retryAfterSeconds: number | undefined;
  constructor(status: number, message: string, options: { closeConnection?: boolean; retryAfterSeconds?: number } = {}) {
    super(message);
    this.status = status;
    this.closeConnection = options.closeConnection ?? false;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** How long an exporter is asked to wait when the receiving budget is spent: a moment, bodies arrive in seconds. */
export const BUSY_RETRY_AFTER_SECONDS = 2;

/**
 * The bytes of export bodies held while they arrive, across all connections (MAX_RECEIVING_BYTES): without it, many
 * slow uploads each hold up to MAX_BODY_BYTES and the process grows with their number.
 */
export class ReceivingBudget {
  readonly limit: number;
  #held = 0;
  constructor(limit: number) {
    this.limit = limit;
  }

  get held(): number {
    return this.#held;
  }

  /** One request's share; release() gives back all it took, once. */
  open(): { take(bytes: number): boolean; release(): void } {
    let taken = 0;
    return {
      take: (bytes) => {
        if (this.#held + bytes > this.limit) return false;
        this.#held += bytes;
        taken += bytes;
        return true;
      },
      release: () => {
        this.#held -= taken;
        taken = 0;
      },
    };
  }
}

export interface BodyLimits {
  readonly maxBytes: number;
  /** Takes bytes from the receiving budget; false when that would pass it. */
  readonly take: (bytes: number) => boolean;
  readonly timeoutMs: number;
}

/**
 * Reads the whole body, refusing with 413 as soon as it passes `maxBytes`, with 503 when the bytes being received
 * across all connections would pass the budget, and with 408 when it has not arrived whole within `timeoutMs`; then
 * gunzips it when the request says so. The size limit applies to the decompressed size too, so a small gzip bomb is
 * refused as well.
 */
export async function readRequestBody(request: IncomingMessage, limits: BodyLimits): Promise<{ body: Buffer; wireBytes: number }> {
  const { maxBytes } = limits;
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    throw new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${maxBytes} bytes (MAX_BODY_BYTES)`);
  }
  const encoding = (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity' && encoding !== 'gzip') {
    throw new HttpError(415, `unsupported Content-Encoding "${encoding}": use gzip or none`);
  }
  // A declared length is taken whole before any byte is held, so a request that could not finish never starts.
  const takesUpFront = Number.isFinite(declared) && declared >= 0;
  if (takesUpFront && !limits.take(declared)) throw busy();
  const raw = await receive(request, limits, takesUpFront);
  if (encoding === 'identity') return { body: raw, wireBytes: raw.length };
  return { body: await gunzipWithin(raw, maxBytes), wireBytes: raw.length };
}

function busy(): HttpError {
  return new HttpError(503, 'the processor is receiving as many export bytes as it holds at once (MAX_RECEIVING_BYTES); retry later',
    { closeConnection: true, retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS });
}

function receive(request: IncomingMessage, limits: BodyLimits, alreadyTaken: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const finish = (error: Error | undefined) => {
      clearTimeout(timer);
      request.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      if (error === undefined) return resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
      chunks.length = 0;
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limits.maxBytes) {
        return finish(new HttpError(413, `request body exceeds the limit of ${limits.maxBytes} bytes (MAX_BODY_BYTES)`));
      }
      if (!alreadyTaken && !limits.take(chunk.length)) return finish(busy());
      chunks.push(chunk);
    };
    const onEnd = () => finish(undefined);
    // The client went away or the connection broke mid-body: nothing was read, so nothing is acknowledged.
    const onError = (error: Error) => finish(new HttpError(400, `request body could not be read: ${error.message}`, { closeConnection: true }));
    const onClose = () => finish(new HttpError(400, 'request body could not be read: the connection closed before it ended', { closeConnection: true }));
    const timer = setTimeout(() => finish(new HttpError(408,
      `request body did not arrive whole within ${limits.timeoutMs / 1000} s (BODY_TIMEOUT_SECONDS)`, { closeConnection: true })), limits.timeoutMs);
    request.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
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
