/**
 * withUser / withProperties: tag every LLM call made inside a function, through the OpenTelemetry context.
 *
 * The keys come from `createContextKey`, which is `Symbol.for(description)`: two copies of this package (one
 * `require`d, one `import`ed, or two versions in one tree) read and write the same entries, as long as one context
 * manager is registered (the instrumentation entry registers one).
 */
import { context, createContextKey, propagation, type Context } from '@opentelemetry/api';

const USER_KEY = createContextKey('llm_user_metrics.user_id');
const PROPERTIES_KEY = createContextKey('llm_user_metrics.properties');

export type Properties = Readonly<Record<string, string>>;

/** Longest user id or property value we record; longer ones are cut, since they become metric labels downstream. */
export const MAX_VALUE_LENGTH = 256;

function checkUserId(userId: unknown): string {
  if (typeof userId !== 'string' || userId.trim() === '') {
    throw new TypeError(`withUser: userId must be a non-empty string, got ${userId === '' ? 'an empty string' : typeof userId}`);
  }
  return userId;
}

function checkProperties(properties: unknown): Record<string, string> {
  if (typeof properties !== 'object' || properties === null || Array.isArray(properties)) {
    throw new TypeError(`withProperties: properties must be an object of string values, got ${Array.isArray(properties) ? 'an array' : properties === null ? 'null' : typeof properties}`);
  }
  const checked: Record<string, string> = {};
  for (const [name, value] of Object.entries(properties)) {
    if (typeof value !== 'string') throw new TypeError(`withProperties: property "${name}" must be a string, got ${typeof value}`);
    if (name.trim() === '') throw new TypeError('withProperties: property names must be non-empty');
    checked[name.toLowerCase()] = value;
  }
  return checked;
}

/** Runs `fn` with `userId` as the user of every LLM call made inside it (awaits included); returns what fn returns. */
export function withUser<T>(userId: string, fn: () => T): T {
  if (typeof fn !== 'function') throw new TypeError('withUser: the second argument must be a function');
  return context.with(context.active().setValue(USER_KEY, checkUserId(userId)), fn);
}

/**
 * Runs `fn` with these custom properties (e.g. `{ plan: 'premium' }`) on every LLM call made inside it. Nested calls
 * merge, the inner one winning; names are lower-cased. A `Helicone-Property-*` header on the request wins over both.
 */
export function withProperties<T>(properties: Record<string, string>, fn: () => T): T {
  if (typeof fn !== 'function') throw new TypeError('withProperties: the second argument must be a function');
  const merged = { ...contextProperties(context.active()), ...checkProperties(properties) };
  return context.with(context.active().setValue(PROPERTIES_KEY, merged), fn);
}

export function contextUser(ctx: Context): string | undefined {
  const value = ctx.getValue(USER_KEY);
  return typeof value === 'string' ? value : undefined;
}

export function contextProperties(ctx: Context): Properties {
  const value = ctx.getValue(PROPERTIES_KEY);
  return typeof value === 'object' && value !== null ? (value as Properties) : {};
}

export function baggageUser(ctx: Context): string | undefined {
  const value = propagation.getBaggage(ctx)?.getEntry('user.id')?.value;
  return value ? value : undefined;
}
