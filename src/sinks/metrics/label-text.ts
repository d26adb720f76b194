import { createHash } from 'node:crypto';
import { boundedText } from '../../sources/bounded-text.ts';

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
