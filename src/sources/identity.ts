import type { Attributes } from '../decode/span.ts';
import { firstString } from './attributes.ts';
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
  'llm_user_metrics.property.',
  'traceloop.association.properties.',
  'ai.telemetry.metadata.',
  'ai.settings.context.',
]);

export const DEFAULT_SOURCE_OPTIONS: SourceOptions = Object.freeze({
  userKeys: DEFAULT_USER_KEYS,
  propertyPrefixes: DEFAULT_PROPERTY_PREFIXES,
});

export function userOf(attributes: Attributes, options: SourceOptions): string | undefined {
  return firstString(attributes, options.userKeys);
}

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});

/**
 * Custom properties under any of the configured prefixes, names lower-cased. A key that is also a user key is not a
 * property (the user is a label of its own), and a prefix listed earlier wins when two spell the same name.
 */
export function propertiesOf(attributes: Attributes, options: SourceOptions): Readonly<Record<string, string>> {
  let properties: Record<string, string> | undefined;
  let ranks: Record<string, number> | undefined;
  const prefixes = options.propertyPrefixes;
  for (const key in attributes) {
    for (let rank = 0; rank < prefixes.length; rank++) {
      const prefix = prefixes[rank]!;
      if (!key.startsWith(prefix)) continue;
      const value = attributes[key];
      const name = key.slice(prefix.length).toLowerCase();
      if (value === undefined || typeof value === 'object' || name === '' || options.userKeys.includes(key)) break;
      properties ??= {};
      ranks ??= {};
      const earlier = ranks[name];
      if (earlier === undefined || rank < earlier) {
        properties[name] = String(value);
        ranks[name] = rank;
      }
      break;
    }
  }
  return properties ?? EMPTY;
}
