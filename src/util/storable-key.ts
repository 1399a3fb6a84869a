/**
 * A legacy id in a form PostgreSQL text can hold, keeping distinct ids distinct: `\` is doubled, and NUL and
 * lone UTF-16 surrogates (which text cannot store, or which the UTF-8 encoding would turn into U+FFFD, so that
 * two users would share one record) are spelt as `\0` and `\uD800`. An id without them is unchanged.
 */

/** What PostgreSQL text cannot hold: U+0000 and a UTF-16 surrogate without its other half. */
export const UNSTORABLE_CHAR = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const ESCAPED = new RegExp(`\\\\|${UNSTORABLE_CHAR.source}`, 'g');

export const storableKey = (id: string): string =>
  id.replace(ESCAPED, (c) => (c === '\\' ? '\\\\' : c === '\u0000' ? '\\0' : `\\u${c.charCodeAt(0).toString(16).toUpperCase()}`));
