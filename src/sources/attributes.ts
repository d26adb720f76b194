import type { Attributes } from '../decode/span.ts';

/** The first of `keys` that holds a non-empty string (numbers are accepted and stringified: ids are often numeric). */
export function firstString(attributes: Attributes, keys: readonly string[]): string | undefined {
  for (const key of keys) {
    const value = attributes[key];
    if (typeof value === 'string') {
      if (value !== '') return value;
    } else if (typeof value === 'number' && Number.isFinite(value)) {
      return String(value);
    }
  }
  return undefined;
}

/** Thrown by a source when a span is an LLM call but carries values that cannot be right (counted as rejected). */
export class MalformedSpanError extends Error {
  override name = 'MalformedSpanError';
}

/**
 * A token count: undefined when absent; a whole non-negative number otherwise. A string of digits is accepted
 * (some exporters stringify int64). Anything else makes the span malformed rather than silently zero.
 */
export function tokenCount(attributes: Attributes, key: string): number | undefined {
  const value = attributes[key];
  if (value === undefined) return undefined;
  const count = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) {
    throw new MalformedSpanError(`${key} is not a non-negative whole number: ${JSON.stringify(value)}`);
  }
  return count;
}

/** The first token count present among `keys`. */
export function firstTokenCount(attributes: Attributes, keys: readonly string[]): number | undefined {
  for (const key of keys) {
    const count = tokenCount(attributes, key);
    if (count !== undefined) return count;
  }
  return undefined;
}
