/**
 * A streaming reader of PostgreSQL's csvlog: bytes in, one callback per record out. Pure: no I/O.
 *
 * Why not csv-parse in the hot path: measured on a pgbench csvlog, a plain csv-parse loop is slower
 * than Miller, and its error handling can only skip a bad record, not keep its text and resync. This
 * reader knows the one dialect PostgreSQL writes (`,` separators, `"` quotes doubled inside quoted
 * fields, `\n` after each record) and finds delimiters with Buffer.indexOf. The differential test
 * (test/unit/logpipe-csv.test.ts) checks it against csv-parse on random records quoted the way
 * PostgreSQL quotes them; bench/convert.mjs measures it.
 *
 * Bad input never stalls or drops the stream: a record that breaks the quoting rules, or one cut
 * short by `finish()` (end of a file, a writer that died), comes out as `unparsable` with its raw
 * text, and parsing resumes at the next record.
 */

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;

/** Column counts of PostgreSQL 12 (23), 13 (24) and 14 to 17 (26). */
export const KNOWN_COLUMN_COUNTS: readonly number[] = [23, 24, 26];

/** A log_time as PostgreSQL writes it, at the end of a field (a record glued to a cut-short one). */
const LOG_TIME_AT_END = /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [^ ,]+)?$/;
const LOG_TIME_AT_START = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/;
const LOG_TIME_ANYWHERE = /\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [^ ,"]+)?,/g;

export interface CsvlogHandler {
  record(fields: string[]): void;
  unparsable(raw: string): void;
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
  private readonly fields: string[] = [];
  private readonly fieldStarts: number[] = [];
  private errorAt = 0;

  constructor(private readonly handler: CsvlogHandler) {}

  /** Bytes held while a record is incomplete. */
  get pendingBytes(): number {
    return this.heldBytes;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.heldBytes += chunk.length;
    if (this.heldBytes >= this.retryAt || this.endsRecord(chunk)) this.parseAvailable(false);
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
    const buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.heldBytes);
    this.retryAt = 0;
    let start = 0;
    while (start < buf.length) {
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
    const rest = buf.subarray(start);
    this.chunks = rest.length === 0 ? [] : [rest];
    this.heldBytes = rest.length;
    return rest;
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
    const starts = this.fieldStarts;
    fields.length = 0;
    starts.length = 0;
    const end = buf.length;
    let p = start;
    for (;;) {
      if (p >= end) return INCOMPLETE;
      starts.push(p);
      if (buf[p] === QUOTE) {
        let segment = p + 1;
        let value = '';
        for (;;) {
          const quote = buf.indexOf(QUOTE, segment);
          if (quote === -1 || quote + 1 >= end) return INCOMPLETE;
          if (buf[quote + 1] === QUOTE) {
            value += utf8(buf, segment, quote + 1);
            segment = quote + 2;
            continue;
          }
          fields.push(value + utf8(buf, segment, quote));
          p = quote + 1;
          break;
        }
        const after = buf[p];
        if (after !== COMMA && after !== LF) {
          this.errorAt = p;
          return 0;
        }
      } else {
        let q = p;
        let byte = 0;
        while (q < end && (byte = buf[q]!) !== COMMA && byte !== LF) {
          if (byte === QUOTE) {
            this.errorAt = q;
            return 0;
          }
          q++;
        }
        if (q >= end) return INCOMPLETE;
        fields.push(q === p ? '' : utf8(buf, p, q));
        p = q;
      }
      if (buf[p] === LF) return p + 1;
      p++;
    }
  }

  /**
   * A record that does not start with a log_time, or has a column count PostgreSQL never writes, may
   * be a record cut short with a whole one glued to it (no quote was open to notice): split them.
   */
  private emit(buf: Buffer, start: number, end: number): void {
    const fields = this.fields;
    const startsLikeRecord = looksLikeLogTime(fields[0]!);
    if (startsLikeRecord && KNOWN_COLUMN_COUNTS.includes(fields.length)) {
      this.handler.record(fields.slice());
      return;
    }
    for (let i = 0; i < fields.length; i++) {
      if (!KNOWN_COLUMN_COUNTS.includes(fields.length - i)) continue;
      const glued = LOG_TIME_AT_END.exec(fields[i]!);
      if (!glued || (i === 0 && glued.index === 0)) continue;
      this.handler.unparsable(rawText(buf, start, this.fieldStarts[i]!) + fields[i]!.slice(0, glued.index));
      this.handler.record([glued[0], ...fields.slice(i + 1)]);
      return;
    }
    // A count no PostgreSQL writes yet is kept as a record when it starts like one (a future version).
    if (startsLikeRecord && LOG_TIME_AT_START.test(fields[0]!)) this.handler.record(fields.slice());
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

/**
 * UTF-8 text of a byte range. No encoding argument on purpose: Buffer#toString then goes straight to
 * the decoder, skipping an encoding lookup that cost as much as decoding these short fields.
 */
function utf8(buf: Buffer, start: number, end: number): string {
  return buf.toString(undefined, start, end);
}

/** `YYYY-MM-DD HH:` by its separators: a cheap first check run on every record. */
function looksLikeLogTime(field: string): boolean {
  return field.length >= 19 && field.charCodeAt(4) === 45 && field.charCodeAt(7) === 45 && field.charCodeAt(10) === 32 && field.charCodeAt(13) === 58;
}

/** The raw text of bad input, without the newline that ended it. */
function rawText(buf: Buffer, start: number, end: number): string {
  const stop = end > start && buf[end - 1] === LF ? end - 1 : end;
  return buf.toString('utf8', start, stop);
}
