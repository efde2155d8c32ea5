/**
 * The FIFOs PostgreSQL's logging collector writes into, and how the manager reads them.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { setTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
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
 * A read that got less than this found the FIFO nearly empty: the writer is slow enough that the
 * next read can wait for a batch (see FifoReader).
 */
const BATCH_BELOW_BYTES = 16 * 1024;
/** How long a nearly empty FIFO is left to fill: at the rate that left it under 16 KiB, a quarter of its 64 KiB. */
const BATCH_WAIT_MS = 5;
/** One read takes up to what a FIFO holds by default, so a full FIFO is emptied in one go. */
const READ_BUFFER_BYTES = 64 * 1024;

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
 * After a read that found the FIFO nearly empty, reading stops for BATCH_WAIT_MS while the kernel
 * buffers what comes; a writer fast enough to fill the FIFO in that time leaves more than
 * BATCH_BELOW_BYTES per read and is read without pause. Only a burst of more than 48 KiB right
 * after a quiet moment can find the FIFO full, and waits at most BATCH_WAIT_MS.
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
    // `onread` reads into one buffer of ours, and pause() then really stops reading the descriptor
    // (without it Node keeps reading into its stream buffer, one wake-up per line again).
    // Node reads `onread` from the constructor's options too; its types only list it for connect().
    const options: net.SocketConstructorOpts & net.ConnectOpts = {
      fd: this.fd,
      readable: true,
      writable: false,
      onread: {
        buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
        callback: (bytes: number, buffer: Uint8Array) => {
          // A copy: the converter may keep an incomplete record, and the read buffer is reused.
          const accepted = onChunk(Buffer.from(buffer.subarray(0, bytes)));
          if (!accepted) {
            this.waitingForDrain = true;
            onPausedUntilDrain(() => {
              this.waitingForDrain = false;
              this.resume();
            });
          }
          if (bytes < BATCH_BELOW_BYTES) {
            this.waitingForBatch = true;
            setTimeout(() => {
              this.waitingForBatch = false;
              this.resume();
            }, BATCH_WAIT_MS).unref();
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
