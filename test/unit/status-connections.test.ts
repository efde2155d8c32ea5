import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConnectionSlots } from '../../src/status/connections.js';

class FakeSocket extends EventEmitter {
  destroyed = false;
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

const sockets = (count: number) => Array.from({ length: count }, () => new FakeSocket());
const asSocket = (socket: FakeSocket) => socket as unknown as Socket;

describe('ConnectionSlots', () => {
  it('lets every newcomer in, closing the oldest connection that is not being answered', () => {
    const slots = new ConnectionSlots(3, 60_000);
    const [a, b, c, d, e] = sockets(5) as [FakeSocket, FakeSocket, FakeSocket, FakeSocket, FakeSocket];
    for (const socket of [a, b, c]) slots.admit(asSocket(socket));
    const release = slots.answering(asSocket(a));
    slots.admit(asSocket(d));
    expect([a.destroyed, b.destroyed, c.destroyed, d.destroyed]).toEqual([false, true, false, false]);
    release();
    slots.admit(asSocket(e));
    expect(a.destroyed).toBe(true);
    expect(slots.size).toBe(3);
    expect(slots.evicted).toBe(2);
  });

  it('keeps every connection that is being answered, even past its slots', () => {
    const slots = new ConnectionSlots(1, 60_000);
    const [a, b] = sockets(2) as [FakeSocket, FakeSocket];
    slots.admit(asSocket(a));
    slots.answering(asSocket(a));
    slots.admit(asSocket(b));
    expect([a.destroyed, b.destroyed]).toEqual([false, false]);
    expect(slots.size).toBe(2);
  });

  it('forgets closed connections, and a release counts once', () => {
    const slots = new ConnectionSlots(2, 60_000);
    const [a, b, c] = sockets(3) as [FakeSocket, FakeSocket, FakeSocket];
    slots.admit(asSocket(a));
    slots.admit(asSocket(b));
    const release = slots.answering(asSocket(b));
    slots.answering(asSocket(b));
    release();
    release();
    a.emit('close');
    slots.admit(asSocket(c));
    expect(slots.size).toBe(2);
    expect(b.destroyed).toBe(false);
    expect(slots.evicted).toBe(0);
  });

  describe('a connection that sends no request', () => {
    afterEach(() => vi.useRealTimers());

    it('is closed after the silence allowed, unless a request arrived', () => {
      vi.useFakeTimers();
      const slots = new ConnectionSlots(10, 3_000);
      const [silent, talking] = sockets(2) as [FakeSocket, FakeSocket];
      slots.admit(asSocket(silent));
      slots.admit(asSocket(talking));
      vi.advanceTimersByTime(2_999);
      slots.heard(asSocket(talking));
      expect(silent.destroyed).toBe(false);
      vi.advanceTimersByTime(1);
      expect([silent.destroyed, talking.destroyed]).toEqual([true, false]);
      vi.advanceTimersByTime(60_000);
      expect(talking.destroyed).toBe(false);
      expect(slots.size).toBe(1);
    });
  });
});
