import type { Attributes } from '../decode/span.ts';
import { boundedText, storableText } from './bounded-text.ts';
import { firstString } from './attributes.ts';
import { PROPERTY_ATTRIBUTE_PREFIX } from '../wire/attributes.ts';
import type { SourceOptions } from './source.ts';

/**
 * Who the call is for, as each library spells it. The first present wins, so the order puts the explicit, documented
 * spellings first. Libraries whose key is the app's choice (OpenLLMetry's association properties, the AI SDK's
 * metadata and runtime context) are listed with the two spellings their own docs use.
 */
export const DEFAULT_USER_KEYS: readonly string[] = Object.freeze([
  'user.id',
  'enduser.id',
  'traceloop.association.properties.user_id',
  'traceloop.association.properties.userId',
  'ai.telemetry.metadata.userId',
  'ai.settings.context.userId',
  'langfuse.user.id',
]);

export const DEFAULT_PROPERTY_PREFIXES: readonly string[] = Object.freeze([
  PROPERTY_ATTRIBUTE_PREFIX,
  'traceloop.association.properties.',
  'ai.telemetry.metadata.',
  'ai.settings.context.',
]);

export const DEFAULT_SOURCE_OPTIONS: SourceOptions = Object.freeze({
  userKeys: DEFAULT_USER_KEYS,
  propertyPrefixes: DEFAULT_PROPERTY_PREFIXES,
});

/** The user a span names, as every store can hold it (storableText): the ledger key and the label agree. */
export function userOf(attributes: Attributes, options: SourceOptions): string | undefined {
  const userId = firstString(attributes, options.userKeys);
  return userId === undefined ? undefined : storableText(userId);
}

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});
/** Properties read from one span, at most; the rest are ignored (a span carries a handful; a body can carry millions). */
export const MAX_PROPERTIES_PER_CALL = 64;

/** How an attribute key reads as a property: its name and its prefix's rank, or null when it is not one. */
type PropertyKey = { readonly name: string; readonly rank: number } | null;

/** Per options: attribute key -> how it reads. Keys repeat across spans (the decoders intern them), values do not. */
const propertyKeyCache = new WeakMap<SourceOptions, Map<string, PropertyKey>>();
const MAX_CACHED_KEYS = 10_000;

function classifyKey(key: string, options: SourceOptions): PropertyKey {
  const prefixes = options.propertyPrefixes;
  for (let rank = 0; rank < prefixes.length; rank++) {
    const prefix = prefixes[rank]!;
    if (!key.startsWith(prefix)) continue;
    const name = boundedText(key.slice(prefix.length).toLowerCase());
    return name === '' || options.userKeys.includes(key) ? null : { name, rank };
  }
  return null;
}

/**
 * Custom properties under any of the configured prefixes, names lower-cased. A key that is also a user key is not a
 * property (the user is a label of its own), and a prefix listed earlier wins when two spell the same name.
 */
export function propertiesOf(attributes: Attributes, options: SourceOptions): Readonly<Record<string, string>> {
  let cache = propertyKeyCache.get(options);
  if (cache === undefined) {
    cache = new Map();
    propertyKeyCache.set(options, cache);
  }
  let properties: Record<string, string> | undefined;
  let ranks: Record<string, number> | undefined;
  let count = 0;
  for (const key in attributes) {
    let property = cache.get(key);
    if (property === undefined) {
      property = classifyKey(key, options);
      if (cache.size >= MAX_CACHED_KEYS) cache.clear();
      cache.set(key, property);
    }
    if (property === null) continue;
    const value = attributes[key];
    if (value === undefined || typeof value === 'object') continue;
    properties ??= {};
    // No prototype, so that a property named `constructor` or `toString` is not taken for one seen already.
    ranks ??= Object.create(null) as Record<string, number>;
    const earlier = ranks[property.name];
    if (earlier === undefined) {
      if (count === MAX_PROPERTIES_PER_CALL) continue;
      count++;
    }
    if (earlier === undefined || property.rank < earlier) {
      // Defined rather than assigned: assigning to `__proto__` would set the prototype, or nothing.
      Object.defineProperty(properties, property.name,
        { value: boundedText(String(value)), enumerable: true, writable: true, configurable: true });
      ranks[property.name] = property.rank;
    }
  }
  return properties ?? EMPTY;
}
