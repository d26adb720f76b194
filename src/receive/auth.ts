import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

/**
 * Optional bearer token (API_TOKEN) in front of /api/* and /metrics. With no token configured every request
 * passes. The comparison is of fixed-length digests in constant time, so its timing says nothing about the token.
 */
export function bearerAuth(token: string) {
  const expected = digest(token);
  return function requireBearerToken(request: Request, response: Response, next: NextFunction): void {
    if (token === '') return next();
    const presented = bearerTokenOf(request.headers.authorization);
    if (presented !== undefined && timingSafeEqual(digest(presented), expected)) return next();
    response.status(401)
      .set('WWW-Authenticate', 'Bearer realm="llm-user-metrics"')
      .type('text/plain')
      .send(presented === undefined
        ? 'this endpoint needs the header "Authorization: Bearer <API_TOKEN>"\n'
        : 'the bearer token is not the one configured in API_TOKEN\n');
  };
}

/** The token of an `Authorization: Bearer <token>` header, or undefined when there is none. */
export function bearerTokenOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

export type IngestCredential = 'open' | 'accepted' | 'missing' | 'wrong';

/**
 * The INGEST_TOKEN check of /v1/traces: `Authorization: Bearer <token>` must carry one of the configured tokens
 * (several while they rotate). Every configured token is compared, in constant time, whichever matches, so the
 * timing tells neither the token nor which one matched. No tokens: ingest is open.
 */
export function ingestTokenCheck(tokens: readonly string[]) {
  const expected = tokens.map(digest);
  return function credentialOf(authorization: string | undefined): IngestCredential {
    if (expected.length === 0) return 'open';
    const presented = bearerTokenOf(authorization);
    if (presented === undefined) return 'missing';
    const offered = digest(presented);
    let matched = false;
    for (const token of expected) matched = timingSafeEqual(offered, token) || matched;
    return matched ? 'accepted' : 'wrong';
  };
}
