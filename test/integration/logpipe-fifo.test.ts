import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { LogPipe } from '../../src/logpipe/index.js';
import { csvlogRecord, SAMPLE } from '../support/csvlog.js';
import { scratchDir } from '../support/manager.js';

/** A stdout stand-in whose reader can be made slow: write() answers false while `full` is set. */
class SlowSink extends EventEmitter {
  readonly highWaterMark = 1024;
  text = '';
  writes = 0;
  full = false;
  get bufferedBytes(): number {
    return this.full ? this.highWaterMark : 0;
  }
  write(bytes: Buffer): boolean {
    this.writes++;
    this.text += bytes.toString();
    return !this.full;
  }
}

const self = { name: 'me', uid: undefined, gid: undefined, home: '/' };
const pipes: LogPipe[] = [];

afterEach(() => {
  for (const pipe of pipes.splice(0)) pipe.close();
});

function openPipe(dir: string, sink: SlowSink): LogPipe {
  const pipe = new LogPipe({ dir, runAs: self, sink, pod: 'pod-1' });
  pipes.push(pipe);
  return pipe;
}

async function until(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

/** Writes all of `bytes` into a FIFO without blocking the event loop; resolves when all went in. */
async function writeNonBlocking(file: string, bytes: Buffer): Promise<void> {
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  try {
    let offset = 0;
    while (offset < bytes.length) {
      try {
        offset += fs.writeSync(fd, bytes, offset);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
        await sleep(5);
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

describe('LogPipe on real FIFOs', () => {
  it('makes both FIFOs 0600, replacing a regular file, and reads across writers that come and go', async () => {
    const dir = scratchDir('fifo');
    fs.writeFileSync(path.join(dir, 'postgres.csv'), 'stale regular file\n');
    const sink = new SlowSink();
    const pipe = openPipe(dir, sink);
    for (const name of ['postgres.csv', 'postgres']) {
      const stat = fs.statSync(path.join(dir, name));
      expect(stat.isFIFO()).toBe(true);
      expect(stat.mode & 0o777).toBe(0o600);
    }
    const fdsBefore = fs.readdirSync('/proc/self/fd').length;
    for (let writer = 0; writer < 20; writer++) {
      await writeNonBlocking(
        path.join(dir, 'postgres.csv'),
        Buffer.from(csvlogRecord({ ...SAMPLE, message: `writer ${writer}` })),
      );
      await writeNonBlocking(path.join(dir, 'postgres'), Buffer.from(`raw line ${writer}\n`));
    }
    await until(() => pipe.status.records.postgres === 20 && pipe.status.rawLines === 20);
    expect(fs.readdirSync('/proc/self/fd').length).toBe(fdsBefore);
    const lines = sink.text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string; source?: string; record?: { message: string } });
    expect(lines.filter((line) => line.record).map((line) => line.record!.message)).toEqual(
      Array.from({ length: 20 }, (_, i) => `writer ${i}`),
    );
    expect(lines.find((line) => line.msg === 'raw line 3')).toMatchObject({ source: path.join(dir, 'postgres') });
  });

  it('stops reading while stdout is behind (the writer waits), then resumes on drain, losing nothing', async () => {
    const dir = scratchDir('fifo');
    const sink = new SlowSink();
    const pipe = openPipe(dir, sink);
    sink.full = true;
    const record = csvlogRecord({ ...SAMPLE, query: 'q'.repeat(4000) });
    const count = 400; // 1.6 MB: far more than a FIFO holds, so the writer must wait for the reader
    const writing = writeNonBlocking(path.join(dir, 'postgres.csv'), Buffer.from(record.repeat(count)));
    await until(() => pipe.status.pausedReaders === 1);
    const readWhilePaused = pipe.status.records.postgres;
    await sleep(200);
    expect(pipe.status.records.postgres).toBe(readWhilePaused);
    expect(readWhilePaused).toBeLessThan(count);
    sink.full = false;
    sink.emit('drain');
    await writing;
    await until(() => pipe.status.records.postgres === count);
    expect(pipe.status).toMatchObject({ pausedReaders: 0, unparsable: 0 });
    expect(pipe.status.backpressurePauses).toBeGreaterThanOrEqual(1);
  });

  it('gives each FIFO a 1 MiB kernel buffer: a burst goes in at once while stdout is behind', async () => {
    const dir = scratchDir('fifo');
    const sink = new SlowSink();
    const pipe = openPipe(dir, sink);
    sink.full = true;
    const file = path.join(dir, 'postgres.csv');
    await writeNonBlocking(file, Buffer.from(csvlogRecord(SAMPLE)));
    await until(() => pipe.status.pausedReaders === 1);
    const record = csvlogRecord({ ...SAMPLE, query: 'q'.repeat(1000) });
    const burst = Buffer.from(record.repeat(Math.floor((768 * 1024) / record.length)));
    // One non-blocking write() with nobody reading: Linux's default 64 KiB would take a part only.
    const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    try {
      expect(fs.writeSync(fd, burst)).toBe(burst.length);
    } finally {
      fs.closeSync(fd);
    }
    sink.full = false;
    sink.emit('drain');
    await until(() => pipe.status.records.postgres === 1 + burst.length / Buffer.byteLength(record));
    expect(pipe.status.unparsable).toBe(0);
  });

  it('reads a writer that writes line by line in batches, not once per line', async () => {
    const dir = scratchDir('fifo');
    const sink = new SlowSink();
    const pipe = openPipe(dir, sink);
    const count = 400;
    // Another process, like PostgreSQL's logging collector: one write() per record, about 100 µs apart.
    const writer = spawn(
      process.execPath,
      [
        '-e',
        `
      const fs = require('node:fs');
      const fd = fs.openSync(process.argv[1], 'w');
      for (let i = 0; i < ${count}; i++) {
        fs.writeSync(fd, process.argv[2].replace('MESSAGE', 'line ' + i));
        const until = process.hrtime.bigint() + 100000n;
        while (process.hrtime.bigint() < until);
      }`,
        path.join(dir, 'postgres.csv'),
        csvlogRecord({ ...SAMPLE, message: 'MESSAGE' }),
      ],
      { stdio: 'inherit' },
    );
    await new Promise((resolve) => writer.once('exit', resolve));
    await until(() => pipe.status.records.postgres === count);
    const messages = sink.text
      .trimEnd()
      .split('\n')
      .map((line) => (JSON.parse(line) as { record: { message: string } }).record.message);
    expect(messages).toEqual(Array.from({ length: count }, (_, i) => `line ${i}`));
    // Each read becomes one sink write; one per line would be 400 (350 of them when it was not batched).
    expect(sink.writes).toBeLessThan(count / 20);
  });

  it('barrier: a record cut short by a writer that died is ended, and everything before it was read', async () => {
    const dir = scratchDir('fifo');
    const sink = new SlowSink();
    const pipe = openPipe(dir, sink);
    const whole = csvlogRecord(SAMPLE);
    await writeNonBlocking(path.join(dir, 'postgres.csv'), Buffer.from(whole + whole.slice(0, 40)));
    expect(await pipe.barrier(5_000)).toBe(true);
    await writeNonBlocking(path.join(dir, 'postgres.csv'), Buffer.from(whole));
    await until(() => pipe.status.records.postgres === 2);
    expect(pipe.status.unparsable).toBe(1);
    const lines = sink.text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string; raw?: string });
    expect(lines.map((line) => line.msg)).toEqual(['record', 'unparsable csvlog record', 'record']);
    expect(lines[1]!.raw).toBe(whole.slice(0, 40));
  });
});
