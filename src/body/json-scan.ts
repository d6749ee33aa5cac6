/**
 * An exact structural scan of a JSON request body: it walks the real token
 * structure (so text inside a string that merely looks like `"prompt_cache_key":`
 * is never taken for a field) but skips string contents with native `indexOf`
 * and never materialises values it was not asked for. A resumed Codex body can
 * be 1 MB; this answers "which top-level fields, which input items carry
 * encrypted_content" without building the object graph.
 */

export interface Span {
  readonly start: number;
  readonly end: number;
}

export interface InputItemScan {
  /** Value of the item's `type` field when it is a string. */
  readonly type: string | undefined;
  /** Value of the item's `id` field when it is a string. */
  readonly id: string | undefined;
  /** True when the item has a non-empty string `encrypted_content`. */
  readonly hasEncryptedContent: boolean;
  /** True when the item has a `role` (a message, whose `type` may be left out). */
  readonly hasRole: boolean;
  readonly span: Span;
}

/**
 * An item that only the account (project) that stored it can resolve: an
 * `item_reference` (whose `type` the API lets callers leave out: an id with
 * neither type nor role), or a reasoning item sent by id without its encrypted content.
 */
export function isStoredReference(item: InputItemScan): boolean {
  return (
    item.id !== undefined &&
    (item.type === 'item_reference' || (item.type === undefined && !item.hasRole) || (item.type === 'reasoning' && !item.hasEncryptedContent))
  );
}

export interface Member {
  readonly key: string;
  /** From the key's opening quote to the end of the value. */
  readonly span: Span;
  readonly value: Span;
}

export interface BodyScan {
  /** Top-level object members, last occurrence wins (as JSON.parse does). */
  readonly fields: ReadonlyMap<string, Span>;
  /** Every top-level member in order, duplicates included (for exact edits). */
  readonly members: readonly Member[];
  /** Items of a top-level `input` array; undefined when `input` is absent or not an array. */
  readonly inputItems: readonly InputItemScan[] | undefined;
}

export class JsonScanError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`${message} at byte ${offset}`);
    this.name = 'JsonScanError';
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;

function isWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

const MAX_DEPTH = 512;

/** The keys of an input item the scan reads (ASCII, so compared byte by byte). */
const ITEM_KEYS = ['type', 'id', 'role', 'encrypted_content'] as const;
/** The item types a resumed Codex body repeats hundreds of times (any other type is decoded as it comes). */
const ITEM_TYPES = ['message', 'reasoning', 'function_call', 'function_call_output', 'custom_tool_call', 'custom_tool_call_output', 'local_shell_call', 'local_shell_call_output', 'web_search_call', 'item_reference'];

class Scanner {
  position = 0;
  constructor(readonly buffer: Buffer) {}

  fail(message: string): never {
    throw new JsonScanError(message, this.position);
  }

  skipWhitespace(): void {
    const buffer = this.buffer;
    let position = this.position;
    while (position < buffer.length && isWhitespace(buffer[position]!)) position++;
    this.position = position;
  }

  peek(): number {
    this.skipWhitespace();
    if (this.position >= this.buffer.length) this.fail('unexpected end of JSON');
    return this.buffer[this.position]!;
  }

  expect(byte: number, what: string): void {
    if (this.peek() !== byte) this.fail(`expected ${what}`);
    this.position++;
  }

  /** Skips a string starting at the opening quote; returns the span including quotes. */
  skipString(): Span {
    const buffer = this.buffer;
    const start = this.position;
    if (buffer[start] !== QUOTE) this.fail('expected string');
    let search = start + 1;
    for (;;) {
      const quote = buffer.indexOf(QUOTE, search);
      if (quote < 0) {
        this.position = buffer.length;
        this.fail('unterminated string');
      }
      let backslashes = 0;
      let cursor = quote - 1;
      while (cursor > start && buffer[cursor] === BACKSLASH) {
        backslashes++;
        cursor--;
      }
      if (backslashes % 2 === 0) {
        this.position = quote + 1;
        return { start, end: quote + 1 };
      }
      search = quote + 1;
    }
  }

  /** Reads a string that is expected to be short (a key or a small value). */
  readString(): string {
    const span = this.skipString();
    if (this.hasEscape(span)) return this.decodeEscaped(span);
    return this.buffer.toString('utf8', span.start + 1, span.end - 1);
  }

  /** Whether a string's contents hold a backslash, looked for in place (no slice object per string). */
  private hasEscape(span: Span): boolean {
    const raw = this.buffer;
    for (let index = span.start + 1; index < span.end - 1; index++) if (raw[index] === BACKSLASH) return true;
    return false;
  }

  private decodeEscaped(span: Span): string {
    try {
      return JSON.parse(this.buffer.toString('utf8', span.start, span.end)) as string;
    } catch {
      this.position = span.start;
      return this.fail('invalid string escape');
    }
  }

  /**
   * Reads an object key, naming it only when it is one of `known` (compared byte by
   * byte, escapes decoded first); any other key is skipped without becoming a string.
   */
  readKnownKey<Key extends string>(known: readonly Key[]): Key | undefined {
    const span = this.skipString();
    if (this.hasEscape(span)) {
      const decoded = this.decodeEscaped(span);
      return known.find((key) => key === decoded);
    }
    return this.knownAt(span, known);
  }

  /**
   * Reads a short string value; one of `known` comes back as that constant, compared
   * in place (no decoding, no new string per item), any other is decoded.
   */
  readStringAmong(known: readonly string[]): string {
    const span = this.skipString();
    if (this.hasEscape(span)) return this.decodeEscaped(span);
    return this.knownAt(span, known) ?? this.buffer.toString('utf8', span.start + 1, span.end - 1);
  }

  /** Which of `known` (ASCII) a string without escapes spells, byte for byte. */
  private knownAt<Key extends string>(span: Span, known: readonly Key[]): Key | undefined {
    const raw = this.buffer;
    const length = span.end - span.start - 2;
    for (const key of known) {
      if (key.length !== length) continue;
      let same = true;
      for (let index = 0; index < length; index++) {
        if (raw[span.start + 1 + index] !== key.charCodeAt(index)) {
          same = false;
          break;
        }
      }
      if (same) return key;
    }
    return undefined;
  }

  skipLiteral(): void {
    const buffer = this.buffer;
    const start = this.position;
    const first = buffer[start];
    const word = first === 0x74 ? 'true' : first === 0x66 ? 'false' : first === 0x6e ? 'null' : undefined;
    if (word !== undefined) {
      if (buffer.toString('latin1', start, start + word.length) !== word) this.fail('invalid literal');
      this.position = start + word.length;
      return;
    }
    // Number: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
    let position = start;
    const digitsFrom = (from: number): number => {
      let cursor = from;
      while (cursor < buffer.length && buffer[cursor]! >= 0x30 && buffer[cursor]! <= 0x39) cursor++;
      return cursor;
    };
    if (buffer[position] === 0x2d) position++;
    if (buffer[position] === 0x30) position++;
    else {
      const after = digitsFrom(position);
      if (after === position) this.fail('unexpected character');
      position = after;
    }
    if (buffer[position] === 0x2e) {
      const after = digitsFrom(position + 1);
      if (after === position + 1) this.fail('invalid number');
      position = after;
    }
    if (buffer[position] === 0x65 || buffer[position] === 0x45) {
      position++;
      if (buffer[position] === 0x2b || buffer[position] === 0x2d) position++;
      const after = digitsFrom(position);
      if (after === position) this.fail('invalid number');
      position = after;
    }
    this.position = position;
  }

  /** Skips any value; returns its span. */
  skipValue(depth: number): Span {
    if (depth > MAX_DEPTH) this.fail('nesting too deep');
    const byte = this.peek();
    const start = this.position;
    if (byte === QUOTE) return this.skipString();
    if (byte === OPEN_BRACE) {
      this.position++;
      if (this.peek() === CLOSE_BRACE) {
        this.position++;
        return { start, end: this.position };
      }
      for (;;) {
        if (this.peek() !== QUOTE) this.fail('expected object key');
        this.skipString();
        this.expect(COLON, "':'");
        this.skipValue(depth + 1);
        const next = this.peek();
        this.position++;
        if (next === CLOSE_BRACE) return { start, end: this.position };
        if (next !== COMMA) {
          this.position--;
          this.fail("expected ',' or '}'");
        }
      }
    }
    if (byte === OPEN_BRACKET) {
      this.position++;
      if (this.peek() === CLOSE_BRACKET) {
        this.position++;
        return { start, end: this.position };
      }
      for (;;) {
        this.skipValue(depth + 1);
        const next = this.peek();
        this.position++;
        if (next === CLOSE_BRACKET) return { start, end: this.position };
        if (next !== COMMA) {
          this.position--;
          this.fail("expected ',' or ']'");
        }
      }
    }
    this.skipLiteral();
    return { start, end: this.position };
  }

  /** Scans one item of the `input` array, noting type, id and encrypted_content. */
  scanInputItem(): InputItemScan {
    const byte = this.peek();
    if (byte !== OPEN_BRACE) {
      const span = this.skipValue(2);
      return { type: undefined, id: undefined, hasEncryptedContent: false, hasRole: false, span };
    }
    const start = this.position;
    this.position++;
    let type: string | undefined;
    let id: string | undefined;
    let hasEncryptedContent = false;
    let hasRole = false;
    if (this.peek() === CLOSE_BRACE) {
      this.position++;
      return { type, id, hasEncryptedContent, hasRole, span: { start, end: this.position } };
    }
    for (;;) {
      if (this.peek() !== QUOTE) this.fail('expected object key');
      const key = this.readKnownKey(ITEM_KEYS);
      this.expect(COLON, "':'");
      if (key === 'type') {
        type = this.peek() === QUOTE ? this.readStringAmong(ITEM_TYPES) : (this.skipValue(3), undefined);
      } else if (key === 'id') {
        id = this.peek() === QUOTE ? this.readString() : (this.skipValue(3), undefined);
      } else if (key === 'role') {
        hasRole = true;
        this.skipValue(3);
      } else if (key === 'encrypted_content') {
        const span = this.skipValue(3);
        // A non-empty string: more than the two quote bytes.
        hasEncryptedContent = this.buffer[span.start] === QUOTE && span.end - span.start > 2;
      } else {
        this.skipValue(3);
      }
      const next = this.peek();
      this.position++;
      if (next === CLOSE_BRACE) return { type, id, hasEncryptedContent, hasRole, span: { start, end: this.position } };
      if (next !== COMMA) {
        this.position--;
        this.fail("expected ',' or '}'");
      }
    }
  }

  scanInputArray(): InputItemScan[] {
    const items: InputItemScan[] = [];
    this.position++; // '['
    if (this.peek() === CLOSE_BRACKET) {
      this.position++;
      return items;
    }
    for (;;) {
      items.push(this.scanInputItem());
      const next = this.peek();
      this.position++;
      if (next === CLOSE_BRACKET) return items;
      if (next !== COMMA) {
        this.position--;
        this.fail("expected ',' or ']'");
      }
    }
  }
}

/**
 * Scans a JSON body whose top level must be an object. Throws JsonScanError on
 * malformed JSON. String contents are not validated beyond their quoting (an
 * invalid escape inside a long text is the upstream's to reject).
 */
export function scanJsonBody(buffer: Buffer): BodyScan {
  const scanner = new Scanner(buffer);
  const fields = new Map<string, Span>();
  const members: Member[] = [];
  let inputItems: InputItemScan[] | undefined;
  // Tolerate a UTF-8 byte order mark, as Node's body parsers do.
  if (buffer[0] === 0xef && buffer[1] === 0xbb && buffer[2] === 0xbf) scanner.position = 3;
  if (scanner.peek() !== OPEN_BRACE) scanner.fail('top level is not an object');
  scanner.position++;
  if (scanner.peek() === CLOSE_BRACE) {
    scanner.position++;
  } else {
    for (;;) {
      if (scanner.peek() !== QUOTE) scanner.fail('expected object key');
      const keyStart = scanner.position;
      const key = scanner.readString();
      scanner.expect(COLON, "':'");
      let value: Span;
      if (key === 'input' && scanner.peek() === OPEN_BRACKET) {
        const start = scanner.position;
        inputItems = scanner.scanInputArray();
        value = { start, end: scanner.position };
      } else {
        if (key === 'input') inputItems = undefined;
        value = scanner.skipValue(1);
      }
      fields.set(key, value);
      members.push({ key, span: { start: keyStart, end: value.end }, value });
      const next = scanner.peek();
      scanner.position++;
      if (next === CLOSE_BRACE) break;
      if (next !== COMMA) {
        scanner.position--;
        scanner.fail("expected ',' or '}'");
      }
    }
  }
  scanner.skipWhitespace();
  if (scanner.position !== buffer.length) scanner.fail('trailing data after JSON');
  return { fields, members, inputItems };
}

/** Decodes the value at a span with JSON.parse (for small values only). */
export function decodeSpan(buffer: Buffer, span: Span): unknown {
  return JSON.parse(buffer.toString('utf8', span.start, span.end));
}

/** The span's value when it is a JSON string, else undefined. */
export function stringAt(buffer: Buffer, span: Span | undefined): string | undefined {
  if (span === undefined || buffer[span.start] !== QUOTE) return undefined;
  const inner = buffer.subarray(span.start + 1, span.end - 1);
  if (inner.indexOf(BACKSLASH) < 0) return inner.toString('utf8');
  return JSON.parse(buffer.toString('utf8', span.start, span.end)) as string;
}
