import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OutputSink } from '../../src/log.js';
import { scratchDir } from '../support/manager.js';

describe('OutputSink on a pipe', () => {
  it('gives a stdout pipe 1 MiB, so a batch of lines goes to the kernel while its reader lags', async () => {
    const fifo = path.join(scratchDir('sink'), 'stdout');
    execFileSync('mkfifo', [fifo]);
    // Read-write: a reader exists (the kernel takes writes) that reads nothing, like a runtime that lags.
    const fd = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    const sink = new OutputSink(fd);
    const lines = Buffer.from('{"msg":"x"}\n'.repeat(64 * 1024)); // 768 KiB
    expect(sink.write(lines)).toBe(true);
    expect(sink.bufferedBytes).toBe(0); // 64 KiB would have left 704 KiB waiting in the manager
    const back = Buffer.alloc(lines.length);
    let read = 0;
    while (read < back.length) read += fs.readSync(fd, back, read, back.length - read, null);
    expect(back.equals(lines)).toBe(true);
    await sink.flush();
  });
});
