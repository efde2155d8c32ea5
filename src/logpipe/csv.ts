/**
 * A streaming reader of PostgreSQL's csvlog: bytes in, one callback per record out, its fields as
 * byte ranges of the input (see output.ts for why not strings). Pure: no I/O.
 *
 * Why not csv-parse in the hot path: measured on a pgbench csvlog, a plain csv-parse loop is slower
 * than Miller, and its error handling can only skip a bad record, not keep its text and resync. This
 * reader knows the one dialect PostgreSQL writes (`,` separators, `"` quotes doubled inside quoted
 * fields, `\n` after each record) and finds delimiters four bytes at a time. The differential tests
 * (test/unit/logpipe-csv.test.ts, and logpipe-output.test.ts for the JSON written) check it against
 * csv-parse on random records quoted the way PostgreSQL quotes them; bench/convert.mjs measures it.
 *
 * Bad input never stalls or drops the stream: a record that breaks the quoting rules, or one cut
 * short by `finish()` (end of a file, a writer that died), comes out as `unparsable` with its raw
 * text, and parsing resumes at the next record.
 */

import { fieldText } from './output.js';

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
/** Held bytes beyond this (a long record) are joined into a new buffer: the kept one stays small. */
const MAX_JOIN_BUFFER_BYTES = 4 * 1024 * 1024;

/** Column counts of PostgreSQL 12 (23), 13 (24) and 14 to 17 (26). */
export const KNOWN_COLUMN_COUNTS: readonly number[] = [23, 24, 26];
const MOST_COLUMNS = Math.max(...KNOWN_COLUMN_COUNTS);

/** A log_time as PostgreSQL writes it, at the end of a field (a record glued to a cut-short one). */
const LOG_TIME_AT_END = /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [^ ,]+)?$/;
const LOG_TIME_AT_START = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/;
const LOG_TIME_ANYWHERE = /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [^ ,"]+)?,/g;

/** How a field was written: bare, quoted, or quoted with doubled quotes inside. */
const BARE = 0;
const QUOTED = 1;
const DOUBLED = 2;

/**
 * One record's fields as ranges of the bytes read, valid only during the `record` callback (the
 * parser reuses it). A quoted field's range is inside its quotes, doubled quotes left as they are.
 */
export class CsvlogFields {
  source: Buffer = Buffer.alloc(0);
  /** `source` as a DataView, for reading it four bytes at a time. */
  view: DataView = new DataView(new ArrayBuffer(0));
  length = 0;
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  readonly kinds: number[] = [];

  /** The field as text: UTF-8 (bytes that are not become U+FFFD), doubled quotes collapsed. */
  text(index: number): string {
    return fieldText(this.source, this.starts[index]!, this.ends[index]!, this.kinds[index] === DOUBLED);
  }

  hasDoubledQuotes(index: number): boolean {
    return this.kinds[index] === DOUBLED;
  }

  /** Whether field `index` exists and its bytes begin with `prefix` (which holds no quote). */
  startsWith(index: number, prefix: Uint8Array): boolean {
    if (index >= this.length) return false;
    const start = this.starts[index]!;
    if (this.ends[index]! - start < prefix.length) return false;
    for (let i = 0; i < prefix.length; i++) if (this.source[start + i] !== prefix[i]) return false;
    return true;
  }

  /** Where the field's raw text begins (its opening quote, if any). */
  rawStart(index: number): number {
    return this.starts[index]! - (this.kinds[index] === BARE ? 0 : 1);
  }

  /** Starts the next record, in `source`. */
  setSource(source: Buffer): void {
    this.length = 0;
    if (source === this.source) return;
    this.source = source;
    this.view = new DataView(source.buffer, source.byteOffset, source.length);
  }

  add(start: number, end: number, kind: number): void {
    const count = this.length++;
    this.starts[count] = start;
    this.ends[count] = end;
    this.kinds[count] = kind;
  }
}

export interface CsvlogHandler {
  record(fields: CsvlogFields): void;
  unparsable(raw: string): void;
  /** An empty line: no record (Go's csv reader, which CloudNativePG uses, skips it too). */
  blankLine?(): void;
}

const INCOMPLETE = -1;

export class CsvlogParser {
  private chunks: Buffer[] = [];
  private heldBytes = 0;
  /**
   * A long record is not parsed again from its start at every chunk (quadratic for 16 MiB): new
   * bytes are only scanned for its end (a newline outside quotes, `inQuotes` carried across
   * chunks), and it is parsed again when that end comes or, should the quoting be broken, once
   * the held bytes have doubled (so a broken record still comes out).
   */
  private retryAt = 0;
  private inQuotes = false;
  private readonly fields = new CsvlogFields();
  private errorAt = 0;
  private joinBuffer = Buffer.alloc(0);

  constructor(private readonly handler: CsvlogHandler) {}

  /** Bytes held while a record is incomplete. */
  get pendingBytes(): number {
    return this.heldBytes;
  }

  /** Keeps no reference to `chunk` once it returns: the caller may read into the same buffer again. */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.heldBytes += chunk.length;
    if (this.heldBytes >= this.retryAt || this.endsRecord(chunk)) {
      this.chunks.push(chunk);
      this.parseAvailable(false);
    } else {
      this.chunks.push(Buffer.from(chunk));
    }
  }

  /** The writer is gone (end of a file, a PostgreSQL restart): what is left is a cut-short record. */
  finish(): void {
    const rest = this.parseAvailable(true);
    if (rest.length > 0) this.handler.unparsable(rawText(rest, 0, rest.length));
    this.chunks = [];
    this.heldBytes = 0;
    this.retryAt = 0;
  }

  /** Parses every whole record held; keeps and returns the bytes left over. */
  private parseAvailable(atEnd: boolean): Buffer {
    const buf = this.chunks.length === 1 ? this.chunks[0]! : this.joined();
    this.retryAt = 0;
    let start = 0;
    while (start < buf.length) {
      if (buf[start] === LF) {
        this.handler.blankLine?.();
        start++;
        continue;
      }
      const next = this.parseRecord(buf, start);
      if (next === INCOMPLETE) {
        // A long record: note where its quoting stands, so later chunks are only scanned for its end.
        const held = buf.length - start;
        if (held >= 65_536) {
          this.retryAt = held * 2;
          this.inQuotes = false;
          this.endsRecord(buf.subarray(start));
        }
        break;
      }
      if (next > 0) {
        this.emit(buf, start, next);
        start = next;
        continue;
      }
      const resumeAt = this.resyncPoint(buf, start, atEnd);
      if (resumeAt === INCOMPLETE) break;
      this.handler.unparsable(rawText(buf, start, resumeAt));
      start = resumeAt;
    }
    // A copy: `buf` is a pushed chunk or the reused join buffer.
    const rest = Buffer.from(buf.subarray(start));
    this.chunks = rest.length === 0 ? [] : [rest];
    this.heldBytes = rest.length;
    return rest;
  }

  /**
   * The held chunks as one buffer: the leftover of a record cut by a chunk's end and the next chunk
   * (nearly every chunk), copied into a buffer kept for the purpose. A new buffer each time is a
   * chunk's size of garbage per chunk, memory outside V8's heap that it collects only every 64 MiB
   * or so (with the reads in src/cli/logs.ts, `logs convert` of 1 M records peaked at 91 MiB, now 59).
   */
  private joined(): Buffer {
    if (this.heldBytes > MAX_JOIN_BUFFER_BYTES) return Buffer.concat(this.chunks, this.heldBytes);
    if (this.joinBuffer.length < this.heldBytes)
      this.joinBuffer = Buffer.allocUnsafeSlow(
        Math.min(MAX_JOIN_BUFFER_BYTES, Math.max(this.heldBytes, 2 * this.joinBuffer.length)),
      );
    let at = 0;
    for (const chunk of this.chunks) at += chunk.copy(this.joinBuffer, at);
    return this.joinBuffer.subarray(0, at);
  }

  /** Follows the quoting through `bytes`; true at a newline outside quotes (a record may be complete). */
  private endsRecord(bytes: Buffer): boolean {
    let p = 0;
    let newline = bytes.indexOf(LF);
    for (;;) {
      const quote = bytes.indexOf(QUOTE, p);
      if (!this.inQuotes && newline !== -1 && (quote === -1 || newline < quote)) return true;
      if (quote === -1) return false;
      this.inQuotes = !this.inQuotes;
      p = quote + 1;
      if (newline !== -1 && newline < p) newline = bytes.indexOf(LF, p);
    }
  }

  /**
   * Reads one record from `start` into `this.fields`. Returns the offset after its newline,
   * INCOMPLETE when the bytes end first, or 0 when the quoting is broken (at `this.errorAt`).
   */
  private parseRecord(buf: Buffer, start: number): number {
    const fields = this.fields;
    fields.setSource(buf);
    const view = fields.view;
    const end = buf.length;
    let p = start;
    for (;;) {
      if (p >= end) return INCOMPLETE;
      const first = view.getUint8(p);
      if (first === QUOTE) {
        let kind = QUOTED;
        let quote = findQuote(view, p + 1, end);
        for (;;) {
          if (quote === -1 || quote + 1 >= end) return INCOMPLETE;
          if (view.getUint8(quote + 1) !== QUOTE) break;
          kind = DOUBLED;
          quote = findQuote(view, quote + 2, end);
        }
        fields.add(p + 1, quote, kind);
        p = quote + 1;
        const after = view.getUint8(p);
        if (after !== COMMA && after !== LF) {
          this.errorAt = p;
          return 0;
        }
      } else if (first === COMMA || first === LF) {
        fields.add(p, p, BARE); // null: the most common field, spared the search
      } else {
        const q = findBareFieldEnd(view, p, end);
        if (q === -1) return INCOMPLETE;
        if (view.getUint8(q) === QUOTE) {
          this.errorAt = q;
          return 0;
        }
        fields.add(p, q, BARE);
        p = q;
      }
      if (view.getUint8(p) === LF) return p + 1;
      p++;
    }
  }

  /**
   * A record that does not start with a log_time, or has a column count PostgreSQL never writes, may
   * be a record cut short with a whole one glued to it (no quote was open to notice): split them.
   */
  private emit(buf: Buffer, start: number, end: number): void {
    const fields = this.fields;
    const count = fields.length;
    const startsLikeRecord = looksLikeLogTime(buf, fields.starts[0]!, fields.ends[0]!);
    if (startsLikeRecord && KNOWN_COLUMN_COUNTS.includes(count)) {
      this.handler.record(fields);
      return;
    }
    for (let i = 0; i < count; i++) {
      if (!KNOWN_COLUMN_COUNTS.includes(count - i)) continue;
      const text = fields.text(i);
      const glued = LOG_TIME_AT_END.exec(text);
      if (!glued || (i === 0 && glued.index === 0)) continue;
      this.handler.unparsable(rawText(buf, start, fields.rawStart(i)) + text.slice(0, glued.index));
      // The glued record is its log_time followed by the fields after it, read again as one record.
      const logTime = `"${glued[0].replaceAll('"', '""')}"`;
      const record = Buffer.concat([Buffer.from(logTime), buf.subarray(fields.rawStart(i + 1) - 1, end)]);
      this.parseRecord(record, 0);
      this.handler.record(fields);
      return;
    }
    // More columns than PostgreSQL writes today are kept as a record when it starts like one (a future
    // version adding columns); fewer are no csvlog at all (a stderr-format line also starts with a time).
    if (startsLikeRecord && count > MOST_COLUMNS && LOG_TIME_AT_START.test(fields.text(0))) this.handler.record(fields);
    else this.handler.unparsable(rawText(buf, start, end));
  }

  /**
   * Where to resume after broken quoting: at the last log_time before the error (the record that
   * started inside the broken one), else after the line the error is on.
   */
  private resyncPoint(buf: Buffer, start: number, atEnd: boolean): number {
    const text = buf.toString('latin1', start, this.errorAt);
    let resume = -1;
    LOG_TIME_ANYWHERE.lastIndex = 1;
    for (let match = LOG_TIME_ANYWHERE.exec(text); match; match = LOG_TIME_ANYWHERE.exec(text)) resume = match.index;
    if (resume > 0) return start + resume; // latin1 keeps byte offsets
    const newline = buf.indexOf(LF, this.errorAt);
    if (newline !== -1) return newline + 1;
    return atEnd ? buf.length : INCOMPLETE;
  }
}

/*
 * Delimiters are looked for four bytes at a time: per byte, (x - 1) & ~x has bit 7 set when x is
 * 0, so a word XORed with a repeated delimiter shows whether that delimiter is among its bytes.
 * This beats both a byte loop and Buffer#indexOf, whose call costs more than most fields.
 */
const QUOTES = 0x22222222;
const COMMAS = 0x2c2c2c2c;
const NEWLINES = 0x0a0a0a0a;

function hasZeroByte(word: number): boolean {
  return ((word - 0x01010101) & ~word & 0x80808080) !== 0;
}

/** The offset of the first quote at or after `from`, or -1. */
function findQuote(view: DataView, from: number, end: number): number {
  let i = from;
  while (i + 4 <= end && !hasZeroByte(view.getUint32(i, true) ^ QUOTES)) i += 4;
  for (; i < end; i++) if (view.getUint8(i) === QUOTE) return i;
  return -1;
}

/** The offset of the first comma, newline or quote at or after `from`, or -1. */
function findBareFieldEnd(view: DataView, from: number, end: number): number {
  let i = from;
  for (; i + 4 <= end; i += 4) {
    const word = view.getUint32(i, true);
    if (hasZeroByte(word ^ COMMAS) || hasZeroByte(word ^ NEWLINES) || hasZeroByte(word ^ QUOTES)) break;
  }
  for (; i < end; i++) {
    const byte = view.getUint8(i);
    if (byte === COMMA || byte === LF || byte === QUOTE) return i;
  }
  return -1;
}

/** `YYYY-MM-DD HH:` by its separators: a cheap first check run on every record. */
function looksLikeLogTime(buf: Buffer, start: number, end: number): boolean {
  return (
    end - start >= 19 &&
    buf[start + 4] === 45 &&
    buf[start + 7] === 45 &&
    buf[start + 10] === 32 &&
    buf[start + 13] === 58
  );
}

/** The raw text of bad input, without the newline that ended it. */
function rawText(buf: Buffer, start: number, end: number): string {
  const stop = end > start && buf[end - 1] === LF ? end - 1 : end;
  return buf.toString('utf8', start, stop);
}
