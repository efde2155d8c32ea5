/**
 * The FIFOs PostgreSQL's logging collector writes into, and how the manager reads them.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
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
 */
export class FifoReader {
  private readonly fd: number;
  private readonly socket: net.Socket;
  private closed = false;

  constructor(
    readonly file: string,
    onChunk: (chunk: Buffer) => boolean,
    onPausedUntilDrain: (resume: () => void) => void,
  ) {
    this.fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    this.socket = new net.Socket({ fd: this.fd, readable: true, writable: false });
    // Reading logs is no reason to stay alive: a failed start must still let the manager exit.
    this.socket.unref();
    this.socket.on('data', (chunk: Buffer) => {
      if (onChunk(chunk)) return;
      this.socket.pause();
      onPausedUntilDrain(() => {
        if (!this.closed) this.socket.resume();
      });
    });
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

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy(); // closes the descriptor
  }
}
