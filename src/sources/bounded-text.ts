import { createHash } from 'node:crypto';

/**
 * Longest provider, model, operation, property name and property value kept as the span said it (UTF-16 code
 * units); longer ones are bounded by boundedText where the usage record is made, so /metrics, the ledger and the
 * users API all show the same text. Long enough for Bedrock inference-profile ARNs and Azure deployment names.
 */
export const MAX_LABEL_TEXT_LENGTH = 256;

/** Hex digits of the SHA-256 that stands for the cut-off rest of a long value. */
const CUT_DIGEST_LENGTH = 12;

/**
 * `text` as every store can hold it: a lone surrogate (which UTF-8 cannot carry) and U+0000 (which PostgreSQL text
 * cannot hold) become U+FFFD, so an id prints the same in JSON, CSV, the exposition format and either ledger.
 */
export function storableText(text: string): string {
  const wellFormed = text.isWellFormed() ? text : text.toWellFormed();
  return wellFormed.includes('\u0000') ? wellFormed.replaceAll('\u0000', '\ufffd') : wellFormed;
}

/**
 * storableText(`text`) if it is at most `max` UTF-16 code units, else a prefix, `~`, and 12 hex digits of the
 * SHA-256 of the whole, `max` units in all: two long values that differ only past the prefix stay apart. The cut
 * never splits a surrogate pair.
 */
export function boundedText(text: string, max: number = MAX_LABEL_TEXT_LENGTH): string {
  const storable = storableText(text);
  if (storable.length <= max) return storable;
  let end = max - CUT_DIGEST_LENGTH - 1;
  const last = storable.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  const digest = createHash('sha256').update(storable).digest('hex').slice(0, CUT_DIGEST_LENGTH);
  return `${storable.slice(0, end)}~${digest}`;
}
