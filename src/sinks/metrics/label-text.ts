import { createHash } from 'node:crypto';

/** Escapes a label value for the Prometheus text format: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  if (!/[\\"\n]/.test(value)) return value;
  return value.replace(/[\\"\n]/g, (char) => (char === '\n' ? '\\n' : `\\${char}`));
}

/** `,name="value"` with the value escaped: label sets are built by concatenating these. */
export function labelPair(name: string, value: string): string {
  return `,${name}="${escapeLabelValue(value)}"`;
}

/** Longest user id kept verbatim in a label; longer ones keep a prefix and a hash of the whole. */
export const MAX_USER_LABEL_LENGTH = 128;

/**
 * Longest provider, model, operation, property name and property value kept as the span said it (UTF-16 code
 * units); longer ones are bounded by boundedText where the usage record is made, so /metrics, the ledger and the
 * users API all show the same text. Long enough for Bedrock inference-profile ARNs and Azure deployment names.
 */
export const MAX_LABEL_TEXT_LENGTH = 256;

/** Hex digits of the SHA-256 that stands for the cut-off rest of a long value. */
const CUT_DIGEST_LENGTH = 12;

/**
 * `text` if it is at most `max` UTF-16 code units, else a prefix, `~`, and 12 hex digits of the SHA-256 of the whole,
 * `max` units in all: two long values that differ only past the prefix stay apart. The cut never splits a surrogate
 * pair, and a lone surrogate (which UTF-8 cannot carry) becomes U+FFFD, so the text prints the same in JSON, CSV and
 * the exposition format.
 */
export function boundedText(text: string, max: number = MAX_LABEL_TEXT_LENGTH): string {
  const wellFormed = text.isWellFormed() ? text : text.toWellFormed();
  if (wellFormed.length <= max) return wellFormed;
  let end = max - CUT_DIGEST_LENGTH - 1;
  const last = wellFormed.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  const digest = createHash('sha256').update(wellFormed).digest('hex').slice(0, CUT_DIGEST_LENGTH);
  return `${wellFormed.slice(0, end)}~${digest}`;
}

export interface UserLabelPolicy {
  readonly mode: 'raw' | 'hash';
  readonly salt: string;
}

/**
 * The value of the user_id label for a user id. In hash mode the id (often an email) never reaches Prometheus:
 * operators join the hash back to the id through the ledger or their own records.
 */
export function userLabelValue(userId: string, policy: UserLabelPolicy): string {
  if (policy.mode === 'hash') {
    return createHash('sha256').update(policy.salt).update('\0').update(userId).digest('hex').slice(0, 24);
  }
  return boundedText(userId, MAX_USER_LABEL_LENGTH);
}
