/**
 * `llm-user-metrics reprice --from <time> --to <time> [--dry-run] [--prices-file <file>]`: re-prices a stored range
 * of the ledger in DATA_DIR at the prices in PRICES_FILE (or --prices-file). Exit codes: 0 done, 1 refused or
 * failed (nothing changed), 2 a mistake in the arguments or the configuration.
 */
import { ConfigError, loadConfig } from '../config.ts';
import { effectiveTimeMs, loadPriceOverrides, PriceOverridesError } from '../pricing/overrides.ts';
import { assertWholeHourRange, repriceLedger, reportText, RepriceError } from './reprice.ts';

export interface RepriceArgs {
  readonly fromMs: number;
  readonly toMs: number;
  readonly dryRun: boolean;
  readonly pricesFile: string | undefined;
}

export class RepriceUsageError extends Error {
  override name = 'RepriceUsageError';
}

export const REPRICE_USAGE = 'usage: llm-user-metrics reprice --from <time> --to <time> [--dry-run] [--prices-file <file>]\n'
  + '  <time>: an ISO date (UTC midnight) or a date-time with a zone, on a whole hour; --from inclusive, --to exclusive';

/** The command's arguments (after `reprice`); every mistake is named. */
export function parseRepriceArgs(argv: readonly string[]): RepriceArgs {
  const values: Record<string, string> = {};
  let dryRun = false;
  const problems: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    if (arg === '--dry-run') {
      dryRun = true;
      continue;
    }
    const [name, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (name !== '--from' && name !== '--to' && name !== '--prices-file') {
      problems.push(`unknown argument ${JSON.stringify(arg)}`);
      continue;
    }
    const value = inline ?? argv[++index];
    if (value === undefined || value === '') problems.push(`${name} needs a value`);
    else values[name] = value;
  }
  const time = (name: '--from' | '--to'): number => {
    const text = values[name];
    if (text === undefined) {
      problems.push(`${name} is required`);
      return Number.NaN;
    }
    const ms = effectiveTimeMs(text);
    if (ms === undefined) problems.push(`${name} ${JSON.stringify(text)}: not an ISO date or a date-time with a zone`);
    return ms ?? Number.NaN;
  };
  const fromMs = time('--from');
  const toMs = time('--to');
  if (problems.length === 0) {
    try {
      assertWholeHourRange(fromMs, toMs);
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  if (problems.length > 0) throw new RepriceUsageError(`${problems.join('\n')}\n${REPRICE_USAGE}`);
  return { fromMs, toMs, dryRun, pricesFile: values['--prices-file'] };
}

/** Runs the command; returns its exit code, having written the report or the reason to the given streams. */
export function runRepriceCommand(argv: readonly string[], env: NodeJS.ProcessEnv, out: (text: string) => void, err: (text: string) => void): number {
  try {
    const args = parseRepriceArgs(argv);
    const config = loadConfig(env);
    if (config.ledger === 'off') throw new RepriceUsageError('LEDGER=off: there is no ledger to re-price');
    // The PostgreSQL ledger keeps no price tiers in its series yet, so its past cannot be re-priced exactly.
    if (config.ledgerUrl !== '') throw new RepriceUsageError('LEDGER_URL is set: re-pricing works on the SQLite ledger in DATA_DIR only (not built for PostgreSQL yet)');
    const pricesFile = args.pricesFile ?? config.pricesFile;
    const overrides = pricesFile === '' ? [] : loadPriceOverrides(pricesFile);
    const report = repriceLedger({
      dataDir: config.dataDir, overrides, fromMs: args.fromMs, toMs: args.toMs, dryRun: args.dryRun, dedupWindowHours: config.dedupWindowHours,
    });
    out(reportText(report, args.fromMs, args.toMs, args.dryRun));
    return 0;
  } catch (error) {
    if (error instanceof RepriceUsageError || error instanceof ConfigError || error instanceof PriceOverridesError) {
      err(`llm-user-metrics reprice: ${error.message}\n`);
      return 2;
    }
    if (error instanceof RepriceError) {
      err(`llm-user-metrics reprice: ${error.message}\n`);
      return 1;
    }
    err(`llm-user-metrics reprice: failed, nothing changed: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}

if (import.meta.main) {
  process.exitCode = runRepriceCommand(process.argv.slice(2), process.env, (text) => process.stdout.write(text), (text) => process.stderr.write(text));
}
