import { describe, expect, it } from 'vitest';
import {
  CsvlogConverter,
  LineFormatter,
  newCounters,
  OutputBuffer,
  RawLineConverter,
  type LineSink,
  type StreamConverter,
} from '../../src/logpipe/index.js';
import { contractLines, isQuotedColumn, seededRandom } from '../support/csvlog.js';

const POD = 'pod-"é"';
const fixedNow = () => new Date('2026-11-29T17:00:00.000Z');

/** Converts `input` fed in the given pieces; returns each sink write (copied: the memory is reused). */
function convert(pieces: Buffer[]): Buffer[] {
  const writes: Buffer[] = [];
  const converter = new CsvlogConverter(
    { write: (bytes) => (writes.push(Buffer.from(bytes)), true), bufferedBytes: 0 },
    new LineFormatter(POD, fixedNow),
    newCounters(),
  );
  for (const piece of pieces) converter.push(piece);
  converter.finish();
  return writes;
}

/** Strict byte equality, with a readable diff of the lines first. */
function expectSameBytes(actual: Buffer, expected: Buffer): void {
  expect(actual.toString().split('\n')).toEqual(expected.toString().split('\n'));
  expect(actual.equals(expected)).toBe(true);
}

const bytes = (text: string) => Buffer.from(text);
const PIECES: Buffer[] = [
  ...[
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
    '\\',
    "'",
    '{',
    '}',
    ':',
    '/',
    'AUDIT: ',
    '2026-11-29 16:05:37.275 UTC,',
  ].map(bytes),
  bytes('statement: UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 42;'),
  ...['\x01', '\b', '\f', '\x1b', '\x1f', '\x7f'].map(bytes),
  ...['é', '日', '🐘', '\u2028', '\u2029', '\ufffd'].map(bytes),
];
/** Bytes a SQL_ASCII database lets through: stray, truncated, overlong, surrogate, beyond U+10FFFF. */
const INVALID_UTF8: Buffer[] = [
  [0xff],
  [0xe9],
  [0xc3],
  [0x80],
  [0xed, 0xa0, 0x80],
  [0xc0, 0xaf],
  [0xe0, 0x80, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf0, 0x9f, 0x90],
].map((codes) => Buffer.from(codes));
const LOG_TIMES = [
  '2026-11-29 16:05:37.275 UTC',
  '2026-11-29 16:05:37 GMT',
  '2026-11-29 17:05:37.123456 +01',
  '2026-11-29 11:35:37.275 -0430',
  '2026-11-29 17:05:37.275 CET',
];
const SEVERITIES = [
  'LOG',
  'LOG',
  'LOG',
  'ERROR',
  'WARNING',
  'FATAL',
  'PANIC',
  'DEBUG2',
  'NOTICE',
  'INFO',
  'STATEMENT',
  'LO',
  'LOGS',
];

function pick<T>(random: () => number, from: readonly T[]): T {
  return from[Math.floor(random() * from.length)]!;
}

function randomText(random: () => number): Buffer {
  const length = Math.floor(random() ** 2 * 60);
  const parts: Buffer[] = [];
  for (let i = 0; i < length; i++) parts.push(random() < 0.03 ? pick(random, INVALID_UTF8) : pick(random, PIECES));
  return Buffer.concat(parts);
}

/** A field as write_csvlog() quotes it. latin1 keeps every byte as it is. */
const quoted = (text: Buffer) => Buffer.from(`"${text.toString('latin1').replaceAll('"', '""')}"`, 'latin1');

/** pgaudit's row: 9 or 10 fields as it writes them, now and then one too few (then not decoded). */
function auditMessage(random: () => number): Buffer {
  const count = pick(random, [9, 9, 10, 8]);
  const fields = Array.from({ length: count }, () =>
    random() < 0.5 ? quoted(randomText(random)) : bytes(String(Math.floor(random() * 100))),
  );
  return Buffer.concat([
    bytes('AUDIT: '),
    ...fields.flatMap((field, index) => (index === 0 ? [field] : [bytes(','), field])),
  ]);
}

function randomRecord(random: () => number): Buffer {
  const columns = pick(random, [23, 24, 26, 26, 26, 27, 30]);
  const fields: Buffer[] = [];
  for (let index = 0; index < columns; index++) {
    if (index === 0)
      fields.push(
        bytes(
          random() < 0.7
            ? `2026-11-29 16:05:${String(Math.floor(random() * 60)).padStart(2, '0')}.${String(Math.floor(random() * 1000)).padStart(3, '0')} UTC`
            : pick(random, LOG_TIMES),
        ),
      );
    else if (index === 11) fields.push(bytes(pick(random, SEVERITIES)));
    else if (random() < 0.3) fields.push(Buffer.alloc(0));
    else if (index === 13) fields.push(quoted(random() < 0.15 ? auditMessage(random) : randomText(random)));
    else if (isQuotedColumn(index) || index >= 26) fields.push(quoted(randomText(random)));
    else fields.push(bytes(String(Math.floor(random() * 1e6))));
  }
  return Buffer.concat([
    ...fields.flatMap((field, index) => (index === 0 ? [field] : [bytes(','), field])),
    bytes('\n'),
  ]);
}

describe('csvlog to JSON bytes against csv-parse + JSON.stringify (differential)', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('seed %i: 300 random records, random chunking, identical bytes', (seed) => {
    const random = seededRandom(seed);
    const input = Buffer.concat(Array.from({ length: 300 }, () => randomRecord(random)));
    const pieces: Buffer[] = [];
    for (let offset = 0; offset < input.length;) {
      const size = 1 + Math.floor(random() ** 2 * 8192);
      pieces.push(input.subarray(offset, offset + size));
      offset += size;
    }
    const writes = convert(pieces);
    expect(writes.every((write) => write.at(-1) === 0x0a)).toBe(true); // a record is never split across writes
    expectSameBytes(Buffer.concat(writes), contractLines(input, POD, fixedNow));
  });

  it('gives the same bytes for a few records split in two at every offset', () => {
    const random = seededRandom(42);
    const escapes = Buffer.concat([
      bytes('2026-11-29 16:05:37.275 UTC,"a""b\\\n\t\x01",,1,,,,,,,,ERROR,,"'),
      Buffer.from([0xe6, 0x97, 0xa5, 0xff, 0x22, 0x22, 0xf0, 0x9f, 0x90]),
      bytes('",,,,,,,,,,,,\n'),
    ]);
    const audit = bytes(
      '2026-11-29 16:05:37.275 UTC,,,,,,,,,,,LOG,,"AUDIT: SESSION,1,1,READ,SELECT,,,""SELECT \'\'a\'\',\n 1"",<none>",,,,,,,,,,,,\n',
    );
    const input = Buffer.concat([escapes, audit, randomRecord(random), randomRecord(random)]);
    const expected = contractLines(input, POD, fixedNow);
    expectSameBytes(Buffer.concat(convert([input])), expected);
    for (let offset = 1; offset < input.length; offset++) {
      expect(
        Buffer.concat(convert([input.subarray(0, offset), input.subarray(offset)])).equals(expected),
        `split at ${offset}`,
      ).toBe(true);
    }
  });
});

describe('CsvlogConverter and the memory it hands out', () => {
  it('never writes over bytes a sink still holds, and reuses them once it holds nothing', () => {
    const random = seededRandom(7);
    const held: { bytes: Buffer; copy: Buffer }[] = [];
    const sink = { bufferedBytes: 1, write: (bytes: Buffer) => (held.push({ bytes, copy: Buffer.from(bytes) }), true) };
    const converter = new CsvlogConverter(sink, new LineFormatter(POD, fixedNow), newCounters());
    const piece = () => Buffer.concat(Array.from({ length: 50 }, () => randomRecord(random)));
    for (let i = 0; i < 100; i++) converter.push(piece());
    expect(held.every(({ bytes, copy }) => bytes.equals(copy))).toBe(true);

    sink.bufferedBytes = 0;
    for (let i = 0; i < 3; i++) converter.push(piece());
    const [first, second] = held.slice(-2).map(({ bytes }) => bytes);
    expect(second!.buffer).toBe(first!.buffer); // the same memory again
    expect(second!.byteOffset).toBe(first!.byteOffset);
  });
});

describe('the converters and the chunks pushed to them', () => {
  /**
   * What the converter writes when every chunk arrives in one reused read buffer, written over
   * after each push (as the FIFO reader does), or, with `reused` false, in a fresh buffer each time
   * (the reference).
   */
  function throughOneBuffer(
    make: (sink: LineSink) => StreamConverter,
    input: Buffer,
    random: () => number,
    reused: boolean,
  ): string {
    const writes: Buffer[] = [];
    const converter = make({ write: (bytes) => (writes.push(Buffer.from(bytes)), true), bufferedBytes: 0 });
    const readBuffer = Buffer.alloc(4096);
    for (let at = 0; at < input.length;) {
      const size = Math.min(1 + Math.floor(random() * readBuffer.length), input.length - at);
      const chunk = reused ? readBuffer.subarray(0, size) : Buffer.alloc(size);
      input.copy(chunk, 0, at, at + size);
      converter.push(chunk);
      if (reused) chunk.fill(0x78); // what a kept reference would see, even after the last push
      at += size;
    }
    converter.finish();
    return Buffer.concat(writes).toString();
  }

  it.each([
    ['CsvlogConverter', (sink: LineSink) => new CsvlogConverter(sink, new LineFormatter(POD, fixedNow), newCounters())],
    [
      'RawLineConverter',
      (sink: LineSink) => new RawLineConverter(sink, new LineFormatter(POD, fixedNow), newCounters(), 'postgres'),
    ],
  ])('%s keeps no reference to a chunk once push returns', (_name, make) => {
    const random = seededRandom(11);
    const input = Buffer.concat(Array.from({ length: 400 }, () => randomRecord(random)));
    const expected = throughOneBuffer(make, input, seededRandom(5), false);
    expect(expected.split('\n').length).toBeGreaterThan(400);
    expect(throughOneBuffer(make, input, seededRandom(5), true)).toBe(expected);
  });
});

describe('OutputBuffer', () => {
  it('never writes again into bytes it handed out, across new slabs', () => {
    const out = new OutputBuffer();
    const source = Buffer.from('x'.repeat(100_000) + '"\n' + 'é'.repeat(1000));
    const taken: { bytes: Buffer; copy: Buffer }[] = [];
    for (let round = 0; round < 60; round++) {
      for (let i = 0; i <= round % 7; i++) out.jsonString(source, 0, source.length, false);
      const bytes = out.take()!;
      taken.push({ bytes, copy: Buffer.from(bytes) });
    }
    expect(out.take()).toBeUndefined();
    expect(taken.every(({ bytes, copy }) => bytes.equals(copy))).toBe(true);
    expect(taken[0]!.bytes.toString()).toBe(JSON.stringify(source.toString()));
  });
});
