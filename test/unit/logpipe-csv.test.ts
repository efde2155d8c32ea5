import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { CsvlogParser, type CsvlogFields } from '../../src/logpipe/index.js';
import { csvField, csvlogRecord, isQuotedColumn, SAMPLE, seededRandom } from '../support/csvlog.js';

type Event = { record: string[] } | { unparsable: string };

const texts = (fields: CsvlogFields) => Array.from({ length: fields.length }, (_, index) => fields.text(index));

/** Feeds `input` in pieces of `chunkSize` bytes (all at once when 0), then ends it. */
function parseAll(input: Buffer | string, chunkSize = 0): Event[] {
  const events: Event[] = [];
  const parser = new CsvlogParser({
    record: (fields) => events.push({ record: texts(fields) }),
    unparsable: (raw) => events.push({ unparsable: raw }),
  });
  const bytes = typeof input === 'string' ? Buffer.from(input) : input;
  if (chunkSize === 0) parser.push(bytes);
  else
    for (let offset = 0; offset < bytes.length; offset += chunkSize)
      parser.push(bytes.subarray(offset, offset + chunkSize));
  parser.finish();
  return events;
}

const records = (events: Event[]) => events.map((event) => ('record' in event ? event.record : undefined));

describe('CsvlogParser', () => {
  it.each([23, 24, 26])('reads a %i-column record (PostgreSQL 12, 13, 14+)', (columns) => {
    const [event] = parseAll(csvlogRecord(SAMPLE, columns));
    expect(event).toEqual({ record: expect.any(Array) });
    const fields = (event as { record: string[] }).record;
    expect(fields).toHaveLength(columns);
    expect(fields[0]).toBe('2026-11-29 16:05:37.275 UTC');
    expect(fields[13]).toBe('statement: SELECT 1');
  });

  it.each([
    ['quoted commas', 'a, b,, c'],
    ['doubled quotes', 'say "hi" and ""twice""'],
    ['embedded newlines', 'SELECT 1\n,\n"x"\n\n'],
    ['carriage returns', 'a\r\nb\r'],
    ['unicode', 'héllo 日本 🐘'],
    ['an injected record', '"\n2026-11-29 16:05:37.275 UTC,"evil",,,,,,,,,,PANIC\n{"level":"error"}'],
    ['an empty quoted string', ''],
  ])('keeps %s inside one field', (_name, message) => {
    const events = parseAll(csvlogRecord({ ...SAMPLE, message }) + csvlogRecord(SAMPLE));
    expect(records(events).map((fields) => fields?.[13])).toEqual([message, 'statement: SELECT 1']);
  });

  it('keeps a count no PostgreSQL writes when the record starts like one, never dropping it', () => {
    const line = `${csvlogRecord(SAMPLE).trimEnd()},"extra"\n`;
    const events = parseAll(line + csvlogRecord(SAMPLE, 23));
    expect(records(events).map((fields) => fields?.length)).toEqual([27, 23]);
  });

  it.each([
    ['a stderr-format line', '2026-11-30 14:00:00.000 UTC [123] LOG:  database system is ready to accept connections'],
    [
      'a stderr-format line with commas',
      '2026-11-30 14:00:01.000 UTC [124] LOG:  checkpoint starting: time, wal, force',
    ],
    [
      'fewer columns than PostgreSQL 12 writes',
      `${csvlogRecord(SAMPLE, 23).trimEnd().split(',').slice(0, 22).join(',')}`,
    ],
  ])('writes %s, which starts with a time but is no csvlog, as unparsable', (_name, text) => {
    expect(parseAll(`${text}\n${csvlogRecord(SAMPLE)}`)).toEqual([{ unparsable: text }, { record: expect.any(Array) }]);
  });

  it('writes a line that is no csvlog record as unparsable, with its text', () => {
    expect(parseAll(`hello, world\n${csvlogRecord(SAMPLE)}`)).toEqual([
      { unparsable: 'hello, world' },
      { record: expect.any(Array) },
    ]);
  });

  it('reads a 16 MiB field fed in 64 KiB pieces, in linear time', () => {
    const big = 'x'.repeat(16 * 1024 * 1024 - 3) + '"é';
    const began = Date.now();
    const events = parseAll(csvlogRecord({ ...SAMPLE, query: big }) + csvlogRecord(SAMPLE), 65_536);
    expect(Date.now() - began).toBeLessThan(15_000); // catches rescanning from the start at every chunk; not a speed test
    expect(events).toHaveLength(2);
    expect(records(events)[0]![19]).toBe(big);
  });

  it.each([
    ['one line', 'y'.repeat(3 * 1024 * 1024)],
    ['many lines and quotes', 'a "b"\n'.repeat(400_000)],
  ])('writes a long record (%s) as soon as its last byte arrives, not at the next record', (_name, query) => {
    const events: Event[] = [];
    const parser = new CsvlogParser({
      record: (fields) => events.push({ record: texts(fields) }),
      unparsable: (raw) => events.push({ unparsable: raw }),
    });
    const bytes = Buffer.from(csvlogRecord({ ...SAMPLE, query }));
    const began = Date.now();
    for (let offset = 0; offset < bytes.length; offset += 65_536) parser.push(bytes.subarray(offset, offset + 65_536));
    expect(Date.now() - began).toBeLessThan(15_000); // as above: only quadratic behaviour gets near this on a shared machine
    expect(events).toHaveLength(1);
    expect(records(events)[0]![19]).toBe(query);
    expect(parser.pendingBytes).toBe(0);
  });

  it('turns bytes that are not UTF-8 (a SQL_ASCII database) into replacement characters, in one record', () => {
    const before = Buffer.from(csvlogRecord({ ...SAMPLE, message: 'caf@ na@ve' }));
    const bytes = Buffer.from(before.toString('latin1').replace('caf@', 'caf\xe9').replace('na@', 'na\xef'), 'latin1');
    const [event] = parseAll(bytes);
    expect((event as { record: string[] }).record[13]).toBe('caf\ufffd na\ufffdve');
  });

  describe('a record cut short (PostgreSQL killed mid-write)', () => {
    const whole = csvlogRecord(SAMPLE);
    const next = csvlogRecord({ ...SAMPLE, message: 'the next one', session_line_num: '2' });

    it.each([
      ['inside a quoted field', whole.indexOf('statement: ') + 5],
      ['between two fields', whole.indexOf(',"postgres"') + 1],
      ['inside a bare field', whole.indexOf('23704') + 2],
      ['inside the log_time', 9],
    ])('%s: written as unparsable with its raw text, and the next record parses', (_where, cut) => {
      const partial = whole.slice(0, cut);
      for (const chunkSize of [0, 7]) {
        const events = parseAll(partial + next + whole, chunkSize);
        expect(events).toEqual([{ unparsable: partial }, { record: expect.any(Array) }, { record: expect.any(Array) }]);
        expect(records(events)[1]![13]).toBe('the next one');
      }
    });

    it('at the end of the input: unparsable with its raw text', () => {
      const partial = whole.slice(0, 60);
      expect(parseAll(whole + partial)).toEqual([{ record: expect.any(Array) }, { unparsable: partial }]);
    });

    it('a quote that opens a field never closed: the rest comes out, not stalls', () => {
      const broken = `2026-11-29 16:05:37.275 UTC,"postgres" oops,x\n`;
      expect(parseAll(broken + whole)).toEqual([{ unparsable: broken.trimEnd() }, { record: expect.any(Array) }]);
    });
  });

  it('gives the same records however the bytes are split', () => {
    const input =
      csvlogRecord({ ...SAMPLE, message: 'a "b"\nc, 🐘' }) +
      csvlogRecord(SAMPLE, 24) +
      csvlogRecord({ ...SAMPLE, query: '""' }, 23);
    const expected = parseAll(input);
    for (let size = 1; size < 40; size++) expect(parseAll(input, size)).toEqual(expected);
  });

  it('keeps no reference to a pushed chunk: the caller may read into the same buffer again', () => {
    // A long record (held unparsed across chunks) among short ones, pieces that cut every record.
    const input = Buffer.from(
      csvlogRecord(SAMPLE) +
        csvlogRecord({ ...SAMPLE, query: 'y'.repeat(300_000) }) +
        csvlogRecord({ ...SAMPLE, message: 'a "b"\nc' }),
    );
    const expected = parseAll(input);
    for (const size of [7, 4096, 65_536]) {
      const events: Event[] = [];
      const parser = new CsvlogParser({
        record: (fields) => events.push({ record: texts(fields) }),
        unparsable: (raw) => events.push({ unparsable: raw }),
      });
      const reused = Buffer.alloc(size);
      for (let offset = 0; offset < input.length; offset += size) {
        const length = input.copy(reused, 0, offset, offset + size);
        parser.push(reused.subarray(0, length));
        reused.fill(0x21); // what the next read would do to bytes the parser still held
      }
      parser.finish();
      expect(events).toEqual(expected);
    }
  });
});

describe('CsvlogParser against csv-parse (differential, random records quoted the way PostgreSQL quotes them)', () => {
  const alphabet = [
    'a',
    'Z',
    '0',
    ' ',
    ',',
    '"',
    '""',
    '\n',
    '\r',
    '\t',
    'é',
    '日',
    '🐘',
    '\\',
    "'",
    '{',
    '}',
    ':',
    '2026-11-29 16:05:37.275 UTC,',
  ];

  function randomText(random: () => number): string {
    const length = Math.floor(random() ** 3 * 200);
    let text = '';
    for (let i = 0; i < length; i++) text += alphabet[Math.floor(random() * alphabet.length)];
    return text;
  }

  function randomRecord(random: () => number): string {
    const columns = [23, 24, 26][Math.floor(random() * 3)]!;
    const fields: string[] = [];
    for (let index = 0; index < columns; index++) {
      const isNull = random() < 0.3;
      if (index === 0) fields.push('2026-11-29 16:05:37.275 UTC');
      else if (isNull) fields.push('');
      else
        fields.push(csvField(index, isQuotedColumn(index) ? randomText(random) : String(Math.floor(random() * 1e6))));
    }
    return `${fields.join(',')}\n`;
  }

  it.each([1, 2, 3, 4, 5])('seed %i: 300 records, random chunking', (seed) => {
    const random = seededRandom(seed);
    let input = '';
    for (let i = 0; i < 300; i++) input += randomRecord(random);
    const expected = parse(Buffer.from(input), { relax_column_count: true }) as string[][];
    const chunkSize = 1 + Math.floor(random() * 4096);
    const events = parseAll(input, chunkSize);
    expect(events.every((event) => 'record' in event)).toBe(true);
    expect(records(events)).toEqual(expected);
  });
});
