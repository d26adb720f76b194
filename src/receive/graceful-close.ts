import type { IncomingMessage, Server, ServerResponse } from 'node:http';

export interface GracefulClose {
  /**
   * Stops accepting connections, closes idle kept-alive ones at once and lets the requests in flight finish, each
   * answered with `Connection: close` so its client does not send another on that socket; past `graceMs` the
   * sockets still open are closed. Resolves once none is left, saying whether any had to be cut.
   */
  close(graceMs: number): Promise<{ forced: boolean }>;
}

/**
 * Watches `server`'s requests so that a stop is prompt. Exporters keep their connections alive and send the next
 * export as soon as the last is answered: server.close() alone waits for them to go quiet, which under load they
 * never do (8 of 11 SIGTERMs under load waited out the 10 s watchdog before this).
 */
export function gracefulClose(server: Server): GracefulClose {
  const inFlight = new Set<ServerResponse>();
  let closing = false;
  const lastOnItsSocket = (response: ServerResponse) => {
    if (!response.headersSent) response.setHeader('Connection', 'close');
  };
  // Ahead of the app, so that even an answer sent at once carries the header once closing.
  server.prependListener('request', (_request: IncomingMessage, response: ServerResponse) => {
    if (closing) return lastOnItsSocket(response);
    inFlight.add(response);
    response.once('close', () => {
      inFlight.delete(response);
      // An answer whose headers left before the close (a CSV streaming) leaves its socket idle, not closed.
      if (closing) setImmediate(() => server.closeIdleConnections());
    });
  });
  return {
    close(graceMs) {
      closing = true;
      for (const response of inFlight) lastOnItsSocket(response);
      return new Promise((resolve) => {
        let forced = false;
        const cut = setTimeout(() => {
          forced = true;
          server.closeAllConnections();
        }, graceMs);
        server.close(() => {
          clearTimeout(cut);
          resolve({ forced });
        });
        server.closeIdleConnections();
      });
    },
  };
}
