/**
 * LEDGER_URL's checks and its printable form. The URL carries the database password, so nothing here puts the raw
 * value into a message: errors say what is wrong, and `displayLedgerUrl` masks the password for the logs.
 */

/** Throws an Error whose message names the problem, never the value. */
export function checkLedgerUrl(raw: string): void {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error('not a URL; expected postgres://user:password@host:port/database');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new Error(`scheme ${JSON.stringify(url.protocol.slice(0, 20))} is not postgres: or postgresql:`);
  }
  if (url.hostname === '') throw new Error('names no host; expected postgres://user:password@host:port/database');
  if (url.pathname.length <= 1) throw new Error('names no database; expected postgres://user:password@host:port/database');
}

/** The URL with its password (and any password in the query, e.g. `?password=`) replaced by `***`. */
export function displayLedgerUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password !== '') url.password = '***';
    for (const name of [...url.searchParams.keys()]) {
      if (/pass|secret|key|token/i.test(name)) url.searchParams.set(name, '***');
    }
    return url.toString();
  } catch {
    return '(unparsable LEDGER_URL)';
  }
}
