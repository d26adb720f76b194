import type { Request, Response } from 'express';
import { encodeErrorStatus, encodeExportResponse, OTLP_MEDIA_TYPES, type OtlpEncoding } from '../decode/export-response.ts';
import { decodeJson } from '../decode/json.ts';
import type { DecodeLimits } from '../decode/limits.ts';
import { decodeProtobuf } from '../decode/protobuf.ts';
import { DecodeError, type DecodedBatch } from '../decode/span.ts';
import type { Ingest } from '../pipeline.ts';
import { LedgerUnavailableError } from '../sinks/ledger/ledger.ts';
import type { ProcessorHealth } from '../sinks/metrics/processor-health.ts';
import type { IngestCredential } from './auth.ts';
import { HttpError, readRequestBody, type ReceivingBudget } from './request-body.ts';

const CONTENT_TYPES: Readonly<Record<string, OtlpEncoding>> = {
  'application/x-protobuf': 'protobuf',
  'application/protobuf': 'protobuf',
  'application/json': 'json',
};

export interface TracesRouteOptions {
  readonly maxBodyBytes: number;
  readonly receiving: ReceivingBudget;
  readonly bodyTimeoutMs: number;
  readonly decodeLimits: DecodeLimits;
  /** The INGEST_TOKEN check of the request's Authorization header. */
  readonly credentialOf: (authorization: string | undefined) => IngestCredential;
  readonly ingest: Ingest;
  readonly health: ProcessorHealth;
  readonly log: (level: 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
}

/** POST /v1/traces as OTLP/HTTP specifies it: binary protobuf or JSON, optionally gzipped. */
export function tracesRoute(options: TracesRouteOptions) {
  const { health } = options;
  return async function handleTraces(request: Request, response: Response): Promise<void> {
    const mediaType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const encoding = CONTENT_TYPES[mediaType];
    // Checked before anything else is looked at: a caller without the token learns nothing but that it needs one.
    const credential = options.credentialOf(request.headers.authorization);
    if (credential === 'missing' || credential === 'wrong') {
      request.resume();
      response.set('WWW-Authenticate', 'Bearer realm="llm-user-metrics"').set('Connection', 'close');
      return answerError(response, encoding ?? 'json', 401, credential === 'missing'
        ? 'exports need the header "Authorization: Bearer <INGEST_TOKEN>" (OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer <token>")'
        : 'the bearer token is not one of those configured in INGEST_TOKEN');
    }
    if (encoding === undefined) {
      request.resume();
      return answerError(response, 'json', 415,
        `unsupported Content-Type "${mediaType}": send application/x-protobuf or application/json`);
    }
    let batch: DecodedBatch;
    const share = options.receiving.open();
    try {
      const { body, wireBytes } = await readRequestBody(request, { maxBytes: options.maxBodyBytes, take: share.take, timeoutMs: options.bodyTimeoutMs });
      health.exportRequestBytes.observe(wireBytes);
      batch = encoding === 'protobuf' ? decodeProtobuf(body, options.decodeLimits) : decodeJson(body, options.decodeLimits);
    } catch (error) {
      if (error instanceof DecodeError) {
        health.decodeErrors.inc({ encoding });
        return answerError(response, encoding, 400, `${encoding} body does not decode as ExportTraceServiceRequest: ${error.message}`);
      }
      request.resume();
      if (!(error instanceof HttpError)) return answerError(response, encoding, 400, `request body could not be read: ${(error as Error).message}`);
      if (error.closeConnection) response.set('Connection', 'close');
      if (error.retryAfterSeconds !== undefined) response.set('Retry-After', String(error.retryAfterSeconds));
      return answerError(response, encoding, error.status, error.message);
    } finally {
      // The body's buffers are garbage once decoded: what stays is the batch, a fraction of their size.
      share.release();
    }

    health.spansReceived.inc(batch.spans.length + batch.rejected.length);
    const ingesting = options.ingest(batch);
    // Not held while the export waits for its commit (see ingest).
    batch = undefined as unknown as DecodedBatch;
    let result;
    try {
      result = await ingesting;
    } catch (error) {
      // Nothing of this export was acknowledged: 503 makes OTLP exporters retry it later. A failing ledger is logged
      // once when it fails (processor.ts), not once per export it refuses.
      if (!(error instanceof LedgerUnavailableError)) {
        options.log('error', 'export could not be recorded', { error: (error as Error).stack ?? String(error) });
      }
      return answerError(response, encoding, 503, 'the export could not be recorded; retry later');
    }
    health.llmCalls.inc(result.llmCalls);
    health.spansDuplicate.inc(result.duplicates);
    health.spansIgnored.inc(result.ignored);
    if (result.rejected > 0) {
      health.spansRejected.inc(result.rejected);
      // A fixed message, so that the logger's rate limit takes one kind: a flood of bad spans is a few lines a minute.
      options.log('warn', 'spans rejected', { rejected: result.rejected, reason: result.rejectionMessage });
    }
    health.exportRequests.inc({ code: '200' });
    response.status(200).type(OTLP_MEDIA_TYPES[encoding]).send(
      toBody(encodeExportResponse(encoding, result.rejected, result.rejectionMessage)));
  };

  function answerError(response: Response, encoding: OtlpEncoding, status: number, message: string): void {
    health.exportRequests.inc({ code: String(status) });
    response.status(status).type(OTLP_MEDIA_TYPES[encoding]).send(toBody(encodeErrorStatus(encoding, status, message)));
  }
}

function toBody(encoded: Uint8Array | string): Buffer | string {
  return typeof encoded === 'string' ? encoded : Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
}
