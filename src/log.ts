/**
 * The one way anything reaches stdout: the manager's own events (through pino) and PostgreSQL's
 * records (preformatted by the log pipe) share a single writer, so two lines can never interleave
 * inside one another even when a record is megabytes long.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import pino from 'pino';
import { setPipeSize } from './native.js';

export type Level = 'error' | 'warning' | 'info' | 'debug';
export const LEVELS: readonly Level[] = ['error', 'warning', 'info', 'debug'];

/** Extra keys of a log line, written after `logging_pod` in the order given. */
export type Fields = Record<string, unknown>;

export interface Logger {
  error(msg: string, fields?: Fields): void;
  warning(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  debug(msg: string, fields?: Fields): void;
  /** The same logger writing under another `logger` name (a program, a subsystem). */
  named(logger: string): Logger;
  isLevelEnabled(level: Level): boolean;
}

/**
 * A line-oriented writer on a file descriptor that never blocks the event loop on a pipe.
 *
 * `process.stdout` on a pipe is synchronous on Linux: a slow log shipper would freeze the whole
 * manager, health probes included. A libuv stream on the same descriptor is asynchronous; `write`
 * reports when the buffer passes `highWaterMark` so producers (the FIFO readers) can pause instead
 * of dropping or growing without bound.
 */
const STDOUT_PIPE_BYTES = 1024 * 1024;

export class OutputSink extends EventEmitter {
  private readonly socket: net.Socket | undefined;
  private readonly fd: number;
  private broken = false;

  constructor(
    fd = 1,
    readonly highWaterMark = 8 * 1024 * 1024,
  ) {
    super();
    this.fd = fd;
    const stat = fs.fstatSync(fd);
    if (stat.isFIFO() || stat.isSocket()) {
      // A pipe's 64 KiB holds less than one batch of the log pipe, so every batch would end in EAGAIN
      // and a wait for writability; 1 MiB also lets the reader of stdout (the container runtime) lag.
      if (stat.isFIFO()) setPipeSize(fd, STDOUT_PIPE_BYTES);
      this.socket = new net.Socket({ fd, readable: false, writable: true });
      this.socket.on('drain', () => this.emit('drain'));
      // A reader that went away must not crash the manager; the lines have nowhere to go.
      this.socket.on('error', () => {
        this.broken = true;
        this.emit('drain');
      });
    }
  }

  /** Bytes accepted but not yet handed to the kernel. */
  get bufferedBytes(): number {
    return this.socket?.writableLength ?? 0;
  }

  /**
   * Writes whole lines (a Buffer is held, not copied, until written: the caller must not change
   * it); returns false when the caller should wait for 'drain'.
   */
  write(data: Buffer | string): boolean {
    if (this.broken) return true;
    if (this.socket) {
      this.socket.write(data);
      return this.socket.writableLength < this.highWaterMark;
    }
    try {
      writeAllSync(this.fd, data);
    } catch {
      this.broken = true;
    }
    return true;
  }

  /** Resolves once everything written so far reached the kernel (or the reader is gone). */
  flush(): Promise<void> {
    const socket = this.socket;
    if (!socket || this.broken || socket.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => socket.write('', () => resolve()));
  }
}

function writeAllSync(fd: number, data: Buffer | string): void {
  const buffer = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let offset = 0;
  while (offset < buffer.length) {
    try {
      offset += fs.writeSync(fd, buffer, offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
    }
  }
}

export interface LoggerOptions {
  sink: Pick<OutputSink, 'write'>;
  pod: string;
  level?: Level;
}

const PINO_LEVEL: Record<Level, pino.Level> = { error: 'error', warning: 'warn', info: 'info', debug: 'debug' };

/**
 * pino writes `level`, `ts`, its bindings (`logger`) and then the object's keys in order, so the
 * message and pod go first in the object to give the contract's key order.
 */
export function createLogger(options: LoggerOptions): Logger {
  const root = pino(
    {
      base: null,
      level: PINO_LEVEL[options.level ?? 'info'],
      messageKey: 'msg',
      timestamp: () => `,"ts":"${new Date().toISOString()}"`,
      formatters: { level: (label) => ({ level: label === 'warn' ? 'warning' : label }) },
    },
    { write: (line: string) => void options.sink.write(line) },
  );
  return wrap(root, 'instance-manager', options.pod);
}

// Children are always made from the root: pino would repeat a `logger` key bound twice.
function wrap(root: pino.Logger, name: string, pod: string): Logger {
  const instance = root.child({ logger: name });
  const emit = (level: pino.Level) => (msg: string, fields?: Fields) => {
    if (instance.isLevelEnabled(level)) instance[level]({ msg, logging_pod: pod, ...fields });
  };
  return {
    error: emit('error'),
    warning: emit('warn'),
    info: emit('info'),
    debug: emit('debug'),
    named: (logger) => wrap(root, logger, pod),
    isLevelEnabled: (level) => instance.isLevelEnabled(PINO_LEVEL[level]),
  };
}

export function parseLevel(value: string): Level | undefined {
  const normalized = value === 'warn' ? 'warning' : value;
  return (LEVELS as readonly string[]).includes(normalized) ? (normalized as Level) : undefined;
}
