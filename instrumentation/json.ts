/** Reading the untyped JSON the SDKs hand back, without trusting its shape. */
export type Json = Record<string, unknown>;

/** The value as an object to read fields from; `{}` for anything that is not one. */
export const asJson = (value: unknown): Json => (typeof value === 'object' && value !== null ? (value as Json) : {});

/** A non-empty string, else undefined. */
export const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
