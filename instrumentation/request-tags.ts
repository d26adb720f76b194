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

/**
 * Calls `visit(lowerCaseName, value)` for each header in a bag the SDKs accept; ignores anything else. A `null`
 * value is a header the app removes (from the client's defaults) for this request.
 */
export function forEachHeader(headers: HeadersLike, visit: (name: string, value: string | null) => void): void {
  if (headers === null || headers === undefined || typeof headers !== 'object') return;
  if (typeof Headers !== 'undefined' && headers instanceof Headers) {
    headers.forEach((value, name) => visit(name, value));
    return;
  }
  if (Array.isArray(headers)) {
    for (const pair of headers) {
      if (!Array.isArray(pair) || typeof pair[0] !== 'string') continue;
      const value: unknown = pair[1];
      if (value === null) visit(pair[0].toLowerCase(), null);
      else if (value !== undefined) visit(pair[0].toLowerCase(), String(value));
    }
    return;
  }
  // openai 6/7 merge header bags as { values: Headers, nulls: Set } (defaults with OPENAI_CUSTOM_HEADERS).
  const merged = headers as { values?: unknown; nulls?: unknown };
  if (merged.values instanceof Headers && merged.nulls instanceof Set) {
    forEachHeader(merged.values, visit);
    for (const name of merged.nulls) if (typeof name === 'string') visit(name.toLowerCase(), null);
    return;
  }
  for (const [name, value] of Object.entries(headers)) {
    if (value === null) visit(name.toLowerCase(), null);
    else if (typeof value === 'string' || typeof value === 'number') visit(name.toLowerCase(), String(value));
  }
}

export interface HeaderTags {
  readonly userId?: string;
  readonly properties: Properties;
}

/** The Helicone user id and properties in one header bag (headers set to null are not tags: see removedTags). */
export function tagsFromHeaders(headers: HeadersLike): HeaderTags {
  let userId: string | undefined;
  const properties: Record<string, string> = {};
  forEachHeader(headers, (name, value) => {
    if (value === null) return;
    if (name === USER_HEADER) {
      if (value.trim() !== '') userId = value;
    } else if (name.startsWith(PROPERTY_HEADER_PREFIX) && name.length > PROPERTY_HEADER_PREFIX.length) {
      properties[name.slice(PROPERTY_HEADER_PREFIX.length)] = value;
    }
  });
  return userId === undefined ? { properties } : { userId, properties };
}

/** What a request's null headers remove from the client's defaults: the user header, and property names. */
export function removedTags(headers: HeadersLike): { readonly user: boolean; readonly properties: ReadonlySet<string> } {
  let user = false;
  const properties = new Set<string>();
  forEachHeader(headers, (name, value) => {
    if (value !== null) return;
    if (name === USER_HEADER) user = true;
    else if (name.startsWith(PROPERTY_HEADER_PREFIX)) properties.add(name.slice(PROPERTY_HEADER_PREFIX.length));
  });
  return { user, properties };
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
  const removed = removedTags(sources.requestHeaders);
  const defaults = tagsFromHeaders(sources.defaultHeaders);
  const defaultUser = removed.user ? undefined : defaults.userId;
  const defaultProperties = removed.properties.size === 0
    ? defaults.properties
    : Object.fromEntries(Object.entries(defaults.properties).filter(([name]) => !removed.properties.has(name)));
  const userId = sources.contextUser ?? request.userId ?? defaultUser ?? nonEmpty(sources.bodyUser) ?? nonEmpty(sources.baggageUser);
  const properties: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...defaultProperties, ...sources.contextProperties, ...request.properties })) {
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
