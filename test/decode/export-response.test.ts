/** Response bodies, read back with our schema and with the official exporter's own response parsers. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import {
  encodeErrorStatus, encodeExportResponse, GrpcCode, grpcCodeForHttpStatus, OTLP_MEDIA_TYPES,
} from '../../src/decode/export-response.ts';
import { BAD_REQUEST_TYPE_URL, ExportTraceServiceResponse, RpcBadRequest, RpcStatus } from '../../src/decode/otlp-schema.ts';

function bytes(encoded: Uint8Array | string): Uint8Array {
  assert.ok(encoded instanceof Uint8Array, 'protobuf answers are bytes');
  return encoded;
}

function text(encoded: Uint8Array | string): string {
  assert.equal(typeof encoded, 'string', 'JSON answers are text');
  return encoded as string;
}

describe('encodeExportResponse', () => {
  it('leaves partial_success unset on full success (protobuf: an empty message)', () => {
    const body = bytes(encodeExportResponse('protobuf', 0, 'ignored when nothing was rejected'));
    assert.equal(body.length, 0);
    const decoded = ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(body));
    assert.deepEqual(decoded, {});
  });

  it('leaves partialSuccess unset on full success (JSON: {})', () => {
    assert.deepEqual(JSON.parse(text(encodeExportResponse('json', 0, ''))), {});
  });

  it('sets rejected_spans and error_message on partial success (protobuf)', () => {
    const body = bytes(encodeExportResponse('protobuf', 3, '3 spans rejected: span_id is 7 bytes, want 8'));
    const decoded = ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(body), { longs: Number });
    assert.deepEqual(decoded, { partialSuccess: { rejectedSpans: 3, errorMessage: '3 spans rejected: span_id is 7 bytes, want 8' } });
    // What the OpenTelemetry JS exporter makes of it.
    assert.deepEqual(ProtobufTraceSerializer.deserializeResponse(body), {
      partialSuccess: { rejectedSpans: 3, errorMessage: '3 spans rejected: span_id is 7 bytes, want 8' },
    });
  });

  it('writes the int64 rejectedSpans as a decimal string in JSON, as the proto3 JSON mapping does', () => {
    const body = text(encodeExportResponse('json', 2_000_000, 'too many "bad" spans'));
    assert.deepEqual(JSON.parse(body), { partialSuccess: { rejectedSpans: '2000000', errorMessage: 'too many "bad" spans' } });
    const parsed = JsonTraceSerializer.deserializeResponse(new TextEncoder().encode(body));
    assert.equal(Number(parsed.partialSuccess?.rejectedSpans), 2_000_000);
    // Our own schema reads it back through the JSON mapping too.
    const viaSchema = ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.fromObject(JSON.parse(body)), { longs: Number });
    assert.equal(viaSchema['partialSuccess'].rejectedSpans, 2_000_000);
  });

  it('refuses a negative or fractional count', () => {
    assert.throws(() => encodeExportResponse('json', -1, ''), RangeError);
    assert.throws(() => encodeExportResponse('protobuf', 1.5, ''), RangeError);
  });
});

describe('encodeErrorStatus', () => {
  it('encodes a google.rpc.Status with the message and the matching gRPC code (protobuf)', () => {
    const body = bytes(encodeErrorStatus('protobuf', 400, 'protobuf body does not decode: index out of range'));
    const status = RpcStatus.toObject(RpcStatus.decode(body), { defaults: true });
    assert.deepEqual(status, { code: GrpcCode.INVALID_ARGUMENT, message: 'protobuf body does not decode: index out of range', details: [] });
  });

  it('packs field violations into a google.rpc.BadRequest detail (protobuf)', () => {
    const body = bytes(encodeErrorStatus('protobuf', 400, 'bad data', [{ field: 'resourceSpans[0].scopeSpans', description: 'not an array' }]));
    const status = RpcStatus.decode(body) as unknown as { details: Array<{ typeUrl: string; value: Uint8Array }> };
    assert.equal(status.details.length, 1);
    assert.equal(status.details[0]?.typeUrl, BAD_REQUEST_TYPE_URL);
    const badRequest = RpcBadRequest.toObject(RpcBadRequest.decode(status.details[0]?.value ?? new Uint8Array()));
    assert.deepEqual(badRequest, { fieldViolations: [{ field: 'resourceSpans[0].scopeSpans', description: 'not an array' }] });
  });

  it('writes the same Status in the proto3 JSON mapping, the Any detail with its @type', () => {
    assert.deepEqual(JSON.parse(text(encodeErrorStatus('json', 413, 'body over 20 MiB'))), {
      code: GrpcCode.RESOURCE_EXHAUSTED,
      message: 'body over 20 MiB',
    });
    assert.deepEqual(JSON.parse(text(encodeErrorStatus('json', 400, 'bad', [{ field: 'f', description: 'd' }]))), {
      code: GrpcCode.INVALID_ARGUMENT,
      message: 'bad',
      details: [{ '@type': BAD_REQUEST_TYPE_URL, fieldViolations: [{ field: 'f', description: 'd' }] }],
    });
  });

  it('maps HTTP failure statuses to gRPC codes and refuses non-failures', () => {
    assert.equal(grpcCodeForHttpStatus(415), GrpcCode.INVALID_ARGUMENT);
    assert.equal(grpcCodeForHttpStatus(429), GrpcCode.RESOURCE_EXHAUSTED);
    assert.equal(grpcCodeForHttpStatus(503), GrpcCode.UNAVAILABLE);
    assert.equal(grpcCodeForHttpStatus(500), GrpcCode.INTERNAL);
    assert.equal(grpcCodeForHttpStatus(418), GrpcCode.UNKNOWN);
    assert.throws(() => encodeErrorStatus('json', 200, 'fine'), RangeError);
  });

  it('names the media type of each encoding', () => {
    assert.deepEqual(OTLP_MEDIA_TYPES, { protobuf: 'application/x-protobuf', json: 'application/json' });
  });
});
