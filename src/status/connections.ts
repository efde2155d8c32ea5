/**
 * Who keeps a connection when the status API runs out of them. The kubelet's probes open a fresh
 * connection every few seconds; a client that holds many connections open (idle, or sending a body
 * one byte a second) must not lock them out. So a new connection is always let in, and when more
 * than `slots` are open, the oldest one that is not being answered is closed to make room: a probe
 * is answered within milliseconds of its arrival, long before it could become the oldest.
 *
 * Connections still in their TLS handshake are not counted here: the handshake timeout ends them,
 * and Node's `maxConnections` (a larger, hard limit) bounds how many may be in it at once. Node
 * times out unfinished request headers, but not a connection that never sends a byte after its
 * TLS handshake: one that sends no request within `silentMs` of being admitted is closed.
 */
import type { Socket } from 'node:net';

interface Connection {
  /** Requests of this connection whose answer is being computed or sent. */
  answering: number;
  /** Closes the connection unless a request arrives first (`heard`). */
  silence: NodeJS.Timeout | undefined;
}

export class ConnectionSlots {
  /** Open connections, oldest first (a Map iterates in insertion order). */
  private readonly open = new Map<Socket, Connection>();
  /** Connections closed to make room since the server started. */
  evicted = 0;

  constructor(
    private readonly slots: number,
    private readonly silentMs: number,
  ) {}

  get size(): number {
    return this.open.size;
  }

  /** Call with every connection ready for HTTP (after its TLS handshake, when there is one). */
  admit(socket: Socket): void {
    const connection: Connection = { answering: 0, silence: setTimeout(() => socket.destroy(), this.silentMs) };
    this.open.set(socket, connection);
    socket.once('close', () => {
      clearTimeout(connection.silence);
      this.open.delete(socket);
    });
    if (this.open.size > this.slots) this.closeOldestIdle(socket);
  }

  /** Call with every request: its connection is not a silent one. */
  heard(socket: Socket): void {
    const connection = this.open.get(socket);
    if (connection?.silence === undefined) return;
    clearTimeout(connection.silence);
    connection.silence = undefined;
  }

  /**
   * Marks a request of `socket` as being answered (its headers and body have arrived): such a
   * connection is not closed to make room. Returns the function to call once the answer is sent.
   */
  answering(socket: Socket): () => void {
    const connection = this.open.get(socket);
    if (connection === undefined) return () => undefined;
    connection.answering++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      connection.answering--;
    };
  }

  private closeOldestIdle(newcomer: Socket): void {
    for (const [socket, connection] of this.open) {
      if (socket === newcomer || connection.answering > 0) continue;
      this.open.delete(socket);
      socket.destroy();
      this.evicted++;
      return;
    }
  }
}
