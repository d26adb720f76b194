/**
 * Bodies the OTLP/HTTP receiver answers with, in the encoding of the request:
 * - 200: ExportTraceServiceResponse, with `partial_success` only when spans were rejected (the spec says to leave
 *   it unset on full success).
 * - 4xx / 5xx: google.rpc.Status, which the spec requires as the body of every failure; for 400 it recommends a
 *   google.rpc.BadRequest detail describing the bad data.
 * JSON follows the proto3 JSON mapping the OTLP JSON encoding builds on: lowerCamelCase keys, int64 as a decimal
 * string (receivers accept strings or numbers), an Any detail as an object with its `@type`.
 */
import { BAD_REQUEST_TYPE_URL, ExportTraceServiceResponse, RpcBadRequest, RpcStatus } from './otlp-schema.ts';

export type OtlpEncoding = 'protobuf' | 'json';

/** The media type the spec requires for each encoding, on requests and responses alike. */
export const OTLP_MEDIA_TYPES: Readonly<Record<OtlpEncoding, string>> = {
  protobuf: 'application/x-protobuf',
  json: 'application/json',
};

/**
 * The ExportTraceServiceResponse for an export of which `rejectedSpans` spans were rejected (0 for full success),
 * `errorMessage` saying why.
 */
export function encodeExportResponse(encoding: OtlpEncoding, rejectedSpans: number, errorMessage: string): Uint8Array | string {
  if (!Number.isSafeInteger(rejectedSpans) || rejectedSpans < 0) {
    throw new RangeError(`encodeExportResponse: rejectedSpans must be a non-negative integer, got ${rejectedSpans}`);
  }
  if (encoding === 'json') {
    return rejectedSpans === 0
      ? '{}'
      : JSON.stringify({ partialSuccess: { rejectedSpans: String(rejectedSpans), errorMessage } });
  }
  const message = rejectedSpans === 0 ? {} : { partialSuccess: { rejectedSpans, errorMessage } };
  return ExportTraceServiceResponse.encode(ExportTraceServiceResponse.fromObject(message)).finish();
}

/** google.rpc.Code values (googleapis google/rpc/code.proto) used for HTTP failures. */
export const GrpcCode = {
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/**
 * The gRPC code that says the same as an HTTP status. OTLP/HTTP clients act on the HTTP status only (the spec lets
 * the server omit Status.code); the code is there for people reading the body.
 */
export function grpcCodeForHttpStatus(httpStatus: number): number {
  switch (httpStatus) {
    case 400: case 415: return GrpcCode.INVALID_ARGUMENT;
    case 401: return GrpcCode.UNAUTHENTICATED;
    case 403: return GrpcCode.PERMISSION_DENIED;
    case 404: return GrpcCode.NOT_FOUND;
    case 405: case 501: return GrpcCode.UNIMPLEMENTED;
    case 408: case 504: return GrpcCode.DEADLINE_EXCEEDED;
    case 413: case 429: return GrpcCode.RESOURCE_EXHAUSTED;
    case 500: return GrpcCode.INTERNAL;
    case 502: case 503: return GrpcCode.UNAVAILABLE;
    default: return GrpcCode.UNKNOWN;
  }
}

/** One google.rpc.BadRequest.FieldViolation: where in the request (a path such as `resourceSpans[0]`) and what. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/**
 * The google.rpc.Status body for an HTTP failure answer. `fieldViolations`, when given, go into a
 * google.rpc.BadRequest detail (what the spec recommends for 400).
 */
export function encodeErrorStatus(
  encoding: OtlpEncoding,
  httpStatus: number,
  message: string,
  fieldViolations: readonly FieldViolation[] = [],
): Uint8Array | string {
  if (!Number.isInteger(httpStatus) || httpStatus < 400 || httpStatus > 599) {
    throw new RangeError(`encodeErrorStatus: ${httpStatus} is not an HTTP failure status`);
  }
  const code = grpcCodeForHttpStatus(httpStatus);
  const violations = fieldViolations.map(({ field, description }) => ({ field, description }));
  if (encoding === 'json') {
    const details = violations.length === 0 ? [] : [{ '@type': BAD_REQUEST_TYPE_URL, fieldViolations: violations }];
    return JSON.stringify(details.length === 0 ? { code, message } : { code, message, details });
  }
  const details = violations.length === 0 ? [] : [{
    typeUrl: BAD_REQUEST_TYPE_URL,
    value: RpcBadRequest.encode(RpcBadRequest.fromObject({ fieldViolations: violations })).finish(),
  }];
  return RpcStatus.encode(RpcStatus.fromObject({ code, message, details })).finish();
}
