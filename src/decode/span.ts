/** An attribute value as OTLP carries it, flattened: arrays keep their scalar items, kvlists are dropped. */
export type AttributeValue = string | number | boolean | ReadonlyArray<string | number | boolean>;
export type Attributes = Readonly<Record<string, AttributeValue>>;

/** OTLP span kinds (opentelemetry-proto `Span.SpanKind`). */
export const SpanKind = { UNSPECIFIED: 0, INTERNAL: 1, SERVER: 2, CLIENT: 3, PRODUCER: 4, CONSUMER: 5 } as const;
/** OTLP status codes (opentelemetry-proto `Status.StatusCode`). */
export const StatusCode = { UNSET: 0, OK: 1, ERROR: 2 } as const;

/**
 * One span as the decoders hand it on, whatever the wire encoding was. Everything later in the pipeline reads
 * spans in this shape only.
 */
export interface DecodedSpan {
  /** 32 lower-case hex digits. */
  readonly traceId: string;
  /** 16 lower-case hex digits. */
  readonly spanId: string;
  /** 16 lower-case hex digits, or '' for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: number;
  /** Milliseconds since the Unix epoch (fractional: sub-millisecond precision is kept). */
  readonly startTimeMs: number;
  readonly endTimeMs: number;
  readonly statusCode: number;
  readonly statusMessage: string;
  readonly attributes: Attributes;
  /** Instrumentation scope that produced the span: how sources recognise their own spans. */
  readonly scopeName: string;
  readonly scopeVersion: string;
  /** Attributes of the resource (service.name, ...), shared by every span of one resource. */
  readonly resource: Attributes;
}

/** A span that could not be used, with the reason that goes into the export response's partial_success message. */
export interface RejectedSpan {
  readonly reason: string;
}

/** What a decoder makes of one export request body. */
export interface DecodedBatch {
  readonly spans: DecodedSpan[];
  readonly rejected: RejectedSpan[];
}

/** Thrown when a body does not decode at all (answered with 400). */
export class DecodeError extends Error {
  override name = 'DecodeError';
}
