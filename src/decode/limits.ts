/**
 * Attributes a span (or a resource) may carry. OpenTelemetry SDKs keep 128 by default (AttributeCountLimit); a
 * body of a million distinct keys on one span cost 0.8 s of the event loop just to build its attribute record, on
 * top of decoding, so a span past the limit is rejected alone, before its record is built.
 */
export const DEFAULT_MAX_ATTRIBUTES_PER_SPAN = 1024;

export interface DecodeLimits {
  readonly maxAttributesPerSpan: number;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = { maxAttributesPerSpan: DEFAULT_MAX_ATTRIBUTES_PER_SPAN };

/** The problem with `count` attributes, or undefined when within the limit. */
export function checkAttributeCount(count: number, limits: DecodeLimits): string | undefined {
  return count > limits.maxAttributesPerSpan
    ? `has ${count} attributes, more than the limit of ${limits.maxAttributesPerSpan} (MAX_ATTRIBUTES_PER_SPAN)`
    : undefined;
}
