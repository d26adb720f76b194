/**
 * Editing JSON as text, so the bytes a provider sent reach the app unchanged except for what we must take out.
 * Re-serialising a parsed event would change its spacing, its escapes and how its numbers are written.
 */

interface Member {
  readonly key: string;
  readonly keyStart: number;
  readonly valueEnd: number;
}

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);

function skipWhitespace(text: string, i: number): number {
  while (i < text.length && WHITESPACE.has(text[i]!)) i++;
  return i;
}

/** The index just past the string that opens at `i` (a `"`). */
function skipString(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === '"') return j + 1;
  }
  throw new SyntaxError('unterminated string');
}

/** The index just past the value that starts at `i`. */
function skipValue(text: string, i: number): number {
  const first = text[i];
  if (first === '"') return skipString(text, i);
  if (first === '{' || first === '[') {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const c = text[j];
      if (c === '"') j = skipString(text, j) - 1;
      else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    throw new SyntaxError('unterminated object or array');
  }
  let j = i;
  while (j < text.length && !WHITESPACE.has(text[j]!) && text[j] !== ',' && text[j] !== '}' && text[j] !== ']') j++;
  if (j === i) throw new SyntaxError(`a value was expected at ${i}`);
  return j;
}

/** The members of the object `text` holds, in order, with where each starts and ends. */
function topLevelMembers(text: string): Member[] {
  let i = skipWhitespace(text, 0);
  if (text[i] !== '{') throw new SyntaxError('not an object');
  const members: Member[] = [];
  i = skipWhitespace(text, i + 1);
  if (text[i] === '}') return members;
  for (;;) {
    if (text[i] !== '"') throw new SyntaxError(`a key was expected at ${i}`);
    const keyStart = i;
    const keyEnd = skipString(text, i);
    i = skipWhitespace(text, keyEnd);
    if (text[i] !== ':') throw new SyntaxError(`":" was expected at ${i}`);
    const valueEnd = skipValue(text, skipWhitespace(text, i + 1));
    members.push({ key: text.slice(keyStart + 1, keyEnd - 1), keyStart, valueEnd });
    i = skipWhitespace(text, valueEnd);
    if (text[i] === '}') return members;
    if (text[i] !== ',') throw new SyntaxError(`"," or "}" was expected at ${i}`);
    i = skipWhitespace(text, i + 1);
  }
}

/**
 * `json` (an object's text) without its top-level member `key`, every other byte as it was; `json` itself when it has
 * no such member. The separator goes with the member: the one before it, or, for the first member, the one after.
 */
export function withoutTopLevelMember(json: string, key: string): string {
  const members = topLevelMembers(json);
  const k = members.findIndex((m) => m.key === key);
  if (k < 0) return json;
  const target = members[k]!;
  const previous = members[k - 1];
  const next = members[k + 1];
  const [from, to] = previous ? [previous.valueEnd, target.valueEnd] : next ? [target.keyStart, next.keyStart] : [target.keyStart, target.valueEnd];
  return json.slice(0, from) + json.slice(to);
}
