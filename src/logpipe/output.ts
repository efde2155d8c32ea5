/**
 * JSON lines built as bytes: csvlog fields go from the input Buffer to the output Buffer without
 * becoming strings. Pure: no I/O.
 *
 * Decoding every field to a string, escaping it with JSON.stringify, joining and encoding the line
 * back to UTF-8 cost most of the pipe's time (bench/convert.mjs). A field's bytes are instead copied
 * as they are, escaped exactly as JSON.stringify escapes: `"` `\` and the bytes below 0x20, nothing
 * else (not U+2028/2029, not non-ASCII). That is only exact for valid UTF-8: a field that is not
 * (a SQL_ASCII database) goes through Buffer#toString and JSON.stringify, as every field once did.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Output written into one slab until it is full; see `take`. */
const SLAB_BYTES = 1024 * 1024;

/** The longest escape of one input byte, `\u00xx`. */
const MAX_ESCAPE_BYTES = 6;

/**
 * What each byte needs: PLAIN is copied, ESCAPE has a JSON escape, LEAD starts a UTF-8 sequence of
 * 2 to 4 bytes (validated), INVALID never appears in valid UTF-8.
 */
const PLAIN = 0;
const ESCAPE = 1;
const LEAD = 2;
const INVALID = 3;
const BYTE_CLASS = new Uint8Array(256).map((_, byte) => {
  if (byte < 0x20 || byte === QUOTE || byte === BACKSLASH) return ESCAPE;
  if (byte < 0x80) return PLAIN;
  return byte >= 0xc2 && byte <= 0xf4 ? LEAD : INVALID;
});

/** The escape of each byte of class ESCAPE, as JSON.stringify writes it. */
const ESCAPES: readonly Uint8Array[] = Array.from({ length: 0x80 }, (_, byte) =>
  Buffer.from(JSON.stringify(String.fromCharCode(byte)).slice(1, -1), 'latin1'),
);

/** The text of a csvlog field: UTF-8 (invalid bytes become U+FFFD), doubled quotes collapsed. */
export function fieldText(source: Buffer, start: number, end: number, doubledQuotes: boolean): string {
  // No encoding name: it skips a lookup that costs as much as a short field.
  const text = source.toString(undefined, start, end);
  return doubledQuotes ? text.replaceAll('""', '"') : text;
}

/** Bytes that are the same on every line (keys, punctuation), ready to be copied word by word. */
export class Literal {
  readonly view: DataView;
  readonly length: number;

  constructor(text: string) {
    const bytes = Buffer.from(text);
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    this.length = bytes.length;
  }
}

/**
 * Four bytes at a time through DataViews: a byte loop over a Buffer costs several times more per
 * byte, and Buffer#copy costs more than these short ranges in its call alone.
 */
function copyWords(from: DataView, start: number, end: number, to: DataView, at: number): void {
  let i = start;
  for (; i + 4 <= end; i += 4, at += 4) to.setUint32(at, from.getUint32(i, true), true);
  for (; i < end; i++) to.setUint8(at++, from.getUint8(i));
}

/**
 * Whether none of the 4 bytes of `word` needs more than a copy: none is below 0x20, `"`, `\` or
 * non-ASCII. (Per byte: x - 1 borrows into bit 7 of a zero byte, `& ~x` rules out bytes >= 0x80.)
 */
function isPlainWord(word: number): boolean {
  const quotes = word ^ 0x22222222;
  const backslashes = word ^ 0x5c5c5c5c;
  return (
    ((((word - 0x20202020) & ~word) |
      ((quotes - 0x01010101) & ~quotes) |
      ((backslashes - 0x01010101) & ~backslashes) |
      word) &
      0x80808080) ===
    0
  );
}

export class OutputBuffer {
  private slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  private view = new DataView(this.slab.buffer, 0, this.slab.length);
  /** Where the bytes not yet taken begin. */
  private start = 0;
  private end = 0;
  /**
   * The size of the last output taken: a new slab holds twice that (the size of the reads feeding
   * the converter), without keeping the size one huge record needed.
   */
  private lastTake = 0;
  /** A view of the input last copied from (each record of a chunk comes from the same Buffer). */
  private source: Buffer | undefined;
  private sourceView: DataView = new DataView(new ArrayBuffer(0));

  /** Bytes written since the last `take`. */
  get length(): number {
    return this.end - this.start;
  }

  /**
   * The bytes written since the last call, or undefined when there are none. They are not written
   * over (a socket may still hold them) until `reuse`: later output goes after them, then into a
   * new slab.
   */
  take(): Buffer | undefined {
    const length = this.end - this.start;
    if (length === 0) return undefined;
    const bytes = this.slab.subarray(this.start, this.end);
    this.start = this.end;
    this.lastTake = length;
    return bytes;
  }

  /** Everything taken is no longer held by anyone: the next output may go over it. */
  reuse(): void {
    if (this.end === this.start) this.start = this.end = 0;
  }

  literal(literal: Literal): void {
    this.reserve(literal.length);
    copyWords(literal.view, 0, literal.length, this.view, this.end);
    this.end += literal.length;
  }

  /** Bytes of the input known to need no escaping (checked by the caller). */
  copy(source: Buffer, start: number, end: number): void {
    this.reserve(end - start);
    copyWords(this.viewOf(source), start, end, this.view, this.end);
    this.end += end - start;
  }

  byte(value: number): void {
    this.reserve(1);
    this.slab[this.end++] = value;
  }

  /** A string, UTF-8 encoded: already JSON, or JSON's punctuation around it. */
  text(value: string): void {
    this.reserve(Buffer.byteLength(value));
    this.end += this.slab.write(value, this.end);
  }

  /**
   * A csvlog field as a JSON string, the bytes JSON.stringify(fieldText(...)) would give once
   * encoded. `doubledQuotes`: each `""` in the range is one quote (a quoted csv field).
   */
  jsonString(source: Buffer, start: number, end: number, doubledQuotes: boolean): void {
    const began = this.length; // not an offset: a new slab may come in between
    if (!this.copyEscaped(source, start, end, doubledQuotes)) {
      this.end = this.start + began;
      this.text(JSON.stringify(fieldText(source, start, end, doubledQuotes)));
    }
  }

  /** Returns false, with partial output, at bytes that are not valid UTF-8. */
  private copyEscaped(source: Buffer, start: number, end: number, doubledQuotes: boolean): boolean {
    // Room for every byte copied; an escape makes room again for the rest (escapes are rare).
    this.reserve(end - start + 2);
    const from = this.viewOf(source);
    let to = this.view;
    let at = this.end;
    to.setUint8(at++, QUOTE);
    let i = start;
    while (i < end) {
      if (i + 4 <= end) {
        const word = from.getUint32(i, true);
        if (isPlainWord(word)) {
          to.setUint32(at, word, true);
          at += 4;
          i += 4;
          continue;
        }
      }
      const byte = from.getUint8(i);
      const kind = BYTE_CLASS[byte]!;
      if (kind === PLAIN) {
        to.setUint8(at++, byte);
        i++;
      } else if (kind === LEAD) {
        const length = utf8SequenceLength(source, i, end);
        if (length === 0) return false;
        for (const stop = i + length; i < stop; i++) to.setUint8(at++, from.getUint8(i));
      } else if (kind === ESCAPE) {
        this.end = at;
        this.reserve(end - i + MAX_ESCAPE_BYTES);
        to = this.view;
        at = this.end;
        const escape = ESCAPES[byte]!;
        for (let k = 0; k < escape.length; k++) to.setUint8(at++, escape[k]!);
        // A quote inside a quoted csv field is always doubled: the second one is not content.
        i += byte === QUOTE && doubledQuotes ? 2 : 1;
      } else {
        return false;
      }
    }
    to.setUint8(at++, QUOTE);
    this.end = at;
    return true;
  }

  private viewOf(source: Buffer): DataView {
    if (source !== this.source) {
      this.source = source;
      this.sourceView = new DataView(source.buffer, source.byteOffset, source.length);
    }
    return this.sourceView;
  }

  /** Makes room for `bytes` more after `end`, moving what was not taken yet to a new slab if needed. */
  private reserve(bytes: number): void {
    if (this.end + bytes > this.slab.length) this.newSlab(bytes);
  }

  private newSlab(room: number): void {
    const pending = this.end - this.start;
    const next = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, 2 * this.lastTake, 2 * (pending + room)));
    this.slab.copy(next, 0, this.start, this.end);
    this.slab = next;
    this.view = new DataView(next.buffer, 0, next.length);
    this.start = 0;
    this.end = pending;
  }
}
/**
 * The length of the valid UTF-8 sequence at `at` (a lead byte C2..F4), or 0. The rules of Unicode's
 * table 3-7, which Buffer#toString follows: no overlong forms, no surrogates, nothing past U+10FFFF.
 */
function utf8SequenceLength(source: Buffer, at: number, end: number): number {
  const lead = source[at]!;
  const length = lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
  if (at + length > end) return 0;
  const second = source[at + 1]!;
  const low = lead === 0xe0 ? 0xa0 : lead === 0xf0 ? 0x90 : 0x80;
  const high = lead === 0xed ? 0x9f : lead === 0xf4 ? 0x8f : 0xbf;
  if (second < low || second > high) return 0;
  for (let k = 2; k < length; k++) {
    const next = source[at + k]!;
    if (next < 0x80 || next > 0xbf) return 0;
  }
  return length;
}
