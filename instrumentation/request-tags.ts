/**
 * Who made an LLM call and with which custom properties, from the places apps already put them: our context, the
 * Helicone headers (per request or the client's defaults), the provider's own body fields, OTel baggage.
 * Only the headers named here are ever read; no other header value is looked at or recorded.
 */
import { MAX_VALUE_LENGTH, type Properties } from './context.ts';

export const USER_HEADER = 'helicone-user-id';
export const PROPERTY_HEADER_PREFIX = 'helicone-property-';

/** A header bag as the SDKs accept it: plain object, `Headers`, `[name, value]` pairs, or the SDK's merged form. */
export type HeadersLike = unknown;

/** Calls `visit(lowerCaseName, value)` for each header in a bag the SDKs accept; ignores anything else. */
export function forEachHeader(headers: HeadersLike, visit: (name: string, value: string) => void): void {
  if (headers === null || headers === undefined || typeof headers !== 'object') return;
  if (typeof Headers !== 'undefined' && headers instanceof Headers) {
    headers.forEach((value, name) => visit(name, value));
    return;
  }
  if (Array.isArray(headers)) {
    for (const pair of headers) {
      if (Array.isArray(pair) && typeof pair[0] === 'string' && pair[1] != null) visit(pair[0].toLowerCase(), String(pair[1]));
    }
    return;
  }
  // openai 6/7 with OPENAI_CUSTOM_HEADERS keep their defaults merged as { values: Headers, nulls: Set }.
  const merged = headers as { values?: unknown; nulls?: unknown };
  if (merged.values instanceof Headers && merged.nulls instanceof Set) {
    forEachHeader(merged.values, visit);
    return;
  }
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === 'string' || typeof value === 'number') visit(name.toLowerCase(), String(value));
  }
}

export interface HeaderTags {
  readonly userId?: string;
  readonly properties: Properties;
}

/** The Helicone user id and properties in one header bag. */
export function tagsFromHeaders(headers: HeadersLike): HeaderTags {
  let userId: string | undefined;
  const properties: Record<string, string> = {};
  forEachHeader(headers, (name, value) => {
    if (name === USER_HEADER) {
      if (value.trim() !== '') userId = value;
    } else if (name.startsWith(PROPERTY_HEADER_PREFIX) && name.length > PROPERTY_HEADER_PREFIX.length) {
      properties[name.slice(PROPERTY_HEADER_PREFIX.length)] = value;
    }
  });
  return userId === undefined ? { properties } : { userId, properties };
}

export interface TagSources {
  readonly contextUser?: string | undefined;
  readonly contextProperties: Properties;
  readonly requestHeaders: HeadersLike;
  readonly defaultHeaders: HeadersLike;
  /** The user id the provider's own request body carries (`safety_identifier`/`user`, `metadata.user_id`). */
  readonly bodyUser?: string | undefined;
  readonly baggageUser?: string | undefined;
}

export interface CallTags {
  readonly userId?: string;
  readonly properties: Properties;
}

const clip = (value: string) => (value.length > MAX_VALUE_LENGTH ? value.slice(0, MAX_VALUE_LENGTH) : value);

/**
 * The user, in the documented order: withUser(), request header, client default header, body field, baggage.
 * Properties: default headers, then withProperties(), then request headers, the later winning.
 */
export function resolveTags(sources: TagSources): CallTags {
  const request = tagsFromHeaders(sources.requestHeaders);
  const defaults = tagsFromHeaders(sources.defaultHeaders);
  const userId = sources.contextUser ?? request.userId ?? defaults.userId ?? nonEmpty(sources.bodyUser) ?? nonEmpty(sources.baggageUser);
  const properties: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...defaults.properties, ...sources.contextProperties, ...request.properties })) {
    properties[name.toLowerCase()] = clip(value);
  }
  return userId === undefined ? { properties } : { userId: clip(userId), properties };
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

/** OpenAI bodies: `safety_identifier` is the successor of the deprecated `user`. */
export function openaiBodyUser(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as { safety_identifier?: unknown; user?: unknown };
  return nonEmpty(b.safety_identifier) ?? nonEmpty(b.user);
}

export function anthropicBodyUser(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const metadata = (body as { metadata?: unknown }).metadata;
  if (typeof metadata !== 'object' || metadata === null) return undefined;
  return nonEmpty((metadata as { user_id?: unknown }).user_id);
}
