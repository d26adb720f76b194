import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { Router, type Request, type Response } from 'express';

/**
 * The built Users page (npm run build:ui): <package>/dist/ui, whether the processor runs from src/ (TypeScript) or
 * from the compiled dist/src/.
 */
export const UI_DIRECTORY = new URL(import.meta.url.endsWith('.ts') ? '../../dist/ui/' : '../../ui/', import.meta.url);

/** The page's own addresses: each is answered with index.html, so a reload or a shared link finds its view. */
const PAGE_PATHS = ['/', '/users/:id', '/plans', '/anomalies'];

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/**
 * Only scripts and styles of our own origin, nothing framed, nothing fetched elsewhere: the page shows ids and
 * property values that any span may carry, so they must never become markup or a request to another site.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "font-src 'self'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
].join('; ');

interface Asset {
  readonly type: string;
  readonly body: Buffer;
  readonly gzipped: Buffer;
}

/** Reads the built page into memory once; an asset is then looked up by name, never by a path on disk. */
export function loadUiAssets(directory: URL = UI_DIRECTORY): Map<string, Asset> | undefined {
  if (!existsSync(new URL('index.html', directory))) return undefined;
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(directory)) {
    const type = TYPES[name.slice(name.lastIndexOf('.'))];
    if (type === undefined) continue;
    const body = readFileSync(new URL(name, directory));
    assets.set(name, { type, body, gzipped: gzipSync(body, { level: 9 }) });
  }
  return assets;
}

/** GET / (and the page's other views) and /ui/<asset>; open without API_TOKEN: the page signs in to the API itself. */
export function uiRoute(assets: Map<string, Asset> | undefined): Router {
  const router = Router();
  const send = (request: Request, response: Response, asset: Asset, cache: string) => {
    response.set({
      'Content-Type': asset.type, 'Cache-Control': cache, 'Content-Security-Policy': CONTENT_SECURITY_POLICY,
      'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', Vary: 'Accept-Encoding',
    });
    if (/\bgzip\b/.test(request.headers['accept-encoding'] ?? '')) {
      response.set('Content-Encoding', 'gzip').send(asset.gzipped);
    } else {
      response.send(asset.body);
    }
  };
  router.get(PAGE_PATHS, (request, response) => {
    const page = assets?.get('index.html');
    if (page === undefined) {
      response.status(503).type('text/plain').send('the Users page is not built: run "npm run build:ui" (npm start and npm test do)\n');
      return;
    }
    send(request, response, page, 'no-cache');
  });
  router.get('/ui/:name', (request: Request<{ name: string }>, response) => {
    const asset = request.params.name === 'index.html' ? undefined : assets?.get(request.params.name);
    if (asset === undefined) {
      response.status(404).type('text/plain').send('no such asset\n');
      return;
    }
    // Asset names carry a hash of their content (the build names them), so a name never changes meaning.
    send(request, response, asset, 'public, max-age=31536000, immutable');
  });
  return router;
}
