/**
 * The FIFOs PostgreSQL's logging collector writes into, and how the manager reads them.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { setTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { setPipeSize } from '../native.js';
import { chownToRunAs, type RunAs } from '../process/index.js';

/**
 * A FIFO at `file`, mode 0600, owned by the PostgreSQL user. Whatever else is there (a regular file
 * left by a run without the manager, a directory) is removed: PostgreSQL would write into it and
 * nobody would read it. Node has no mkfifo, so coreutils' does the one system call.
 */
export function ensureFifo(file: string, runAs: RunAs): void {
  const existing = fs.lstatSync(file, { throwIfNoEntry: false });
  if (existing && !existing.isFIFO()) fs.rmSync(file, { recursive: true, force: true });
  if (!existing?.isFIFO()) execFileSync('mkfifo', ['-m', '0600', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  fs.chmodSync(file, 0o600);
  chownToRunAs(file, runAs);
}

/**
 * The kernel buffer asked for each FIFO: 1 MiB, the most an unprivileged process may ask for by
 * default (/proc/sys/fs/pipe-max-size). Bursts wait there while the manager is busy (a GC pause, a
 * TLS handshake), not in PostgreSQL. Without the native addon a FIFO keeps Linux's 64 KiB.
 */
const FIFO_BYTES = 1024 * 1024;
const DEFAULT_FIFO_BYTES = 64 * 1024;
/** One read takes up to this. */
const READ_BUFFER_BYTES = 256 * 1024;

/**
 * When to wait before the next read: after a read that found the FIFO under a quarter full, for
 * `waitMs`. In a 1 MiB FIFO, 20 ms: a writer only fills it in that time above 50 MB/s. In 64 KiB,
 * 5 ms: 13 MB/s.
 */
function batchPolicy(fifoBytes: number): { waitBelowBytes: number; waitMs: number } {
  return { waitBelowBytes: Math.min(fifoBytes / 4, READ_BUFFER_BYTES), waitMs: fifoBytes >= FIFO_BYTES ? 20 : 5 };
}

/**
 * Reads a FIFO on the event loop, never in libuv's thread pool: a blocking read() there would park
 * one of its four threads for as long as PostgreSQL is quiet, and two FIFOs would halve what every
 * fs call and DNS lookup of the manager gets.
 *
 * The FIFO is opened O_RDWR | O_NONBLOCK and read through a libuv pipe handle (net.Socket on the
 * descriptor). Holding a write end ourselves means the reader never sees EOF: when PostgreSQL (its
 * logging collector) exits and a new one starts, this same descriptor keeps reading, so there is no
 * moment without a reader (PostgreSQL's open of the FIFO never blocks) and nothing is reopened, so
 * nothing can leak however often PostgreSQL restarts. The cost, not seeing a writer go away, is
 * paid by `writeBoundary`: the manager says it in the stream itself.
 *
 * Reads are batched. The logging collector writes every line with a write() of its own, so a reader
 * that is always waiting wakes, reads, converts and writes stdout once per line: under pgbench that
 * took 4.2 s of the manager's CPU in 10 s, against 1.7 s once batched, CPU that PostgreSQL lacked.
 * After a read that found the FIFO nearly empty, reading stops for a few milliseconds while the
 * kernel buffers what comes (see batchPolicy); a busier writer is read without pause.
 */
export class FifoReader {
  private readonly fd: number;
  private readonly socket: net.Socket;
  private closed = false;
  private waitingForBatch = false;
  private waitingForDrain = false;

  constructor(
    readonly file: string,
    onChunk: (chunk: Buffer) => boolean,
    onPausedUntilDrain: (resume: () => void) => void,
  ) {
    this.fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    // The FIFO keeps its size while anyone holds it open, and the manager holds it for its whole life.
    const batch = batchPolicy(setPipeSize(this.fd, FIFO_BYTES) ?? DEFAULT_FIFO_BYTES);
    const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    // `onread` reads into one buffer of ours, and a callback answering false stops reading the
    // descriptor itself (a stream's pause() would leave Node reading into its buffer, one wake-up
    // per line again); resume() starts it again.
    // Node reads `onread` from the constructor's options too; its types only list it for connect().
    const options: net.SocketConstructorOpts & net.ConnectOpts = {
      fd: this.fd,
      readable: true,
      writable: false,
      onread: {
        buffer: readBuffer,
        callback: (bytes: number) => {
          // No copy: the converters keep no reference to a chunk (they copy an unfinished record's
          // bytes), so the next read may go into the same buffer. A copy of every read cost its
          // size in fresh pages, faulted in and zeroed, 50 times a second under pgbench.
          const accepted = onChunk(readBuffer.subarray(0, bytes));
          if (!accepted) {
            this.waitingForDrain = true;
            onPausedUntilDrain(() => {
              this.waitingForDrain = false;
              this.resume();
            });
          }
          if (bytes < batch.waitBelowBytes) {
            this.waitingForBatch = true;
            setTimeout(() => {
              this.waitingForBatch = false;
              this.resume();
            }, batch.waitMs).unref();
          }
          return !this.waitingForBatch && !this.waitingForDrain;
        },
      },
    };
    this.socket = new net.Socket(options);
    // Reading logs is no reason to stay alive: a failed start must still let the manager exit.
    this.socket.unref();
  }

  /**
   * Puts one byte into the FIFO through the manager's own write end. Only called while no
   * PostgreSQL process is alive, so it cannot land inside a record.
   */
  async writeBoundary(byte: number): Promise<void> {
    const buffer = Buffer.from([byte]);
    for (;;) {
      try {
        fs.writeSync(this.fd, buffer);
        return;
      } catch (error) {
        // A full FIFO (stdout is behind): wait for the reader to make room.
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
        await sleep(10);
      }
    }
  }

  private resume(): void {
    if (!this.closed && !this.waitingForBatch && !this.waitingForDrain) this.socket.resume();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy(); // closes the descriptor
  }
}
