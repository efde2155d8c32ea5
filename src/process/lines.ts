/**
 * Splits a byte stream into lines without ever merging two lines or holding an unbounded one:
 * a line longer than `maxLineBytes` is emitted in pieces rather than buffered forever.
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The current line was already emitted in pieces; its newline must not add an empty one. */
  private cut = false;

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLineBytes = 1024 * 1024,
  ) {}

  /** Keeps no reference to `chunk` once it returns: the caller may read into the same buffer again. */
  push(chunk: Buffer): void {
    let start = 0;
    for (let newline = chunk.indexOf(10, start); newline !== -1; newline = chunk.indexOf(10, start)) {
      this.append(chunk.subarray(start, newline));
      if (this.pendingBytes > 0 || !this.cut) this.emitPending();
      this.cut = false;
      start = newline + 1;
    }
    // A copy of the unfinished line only: the rest of the chunk is already out.
    if (start < chunk.length) this.append(Buffer.from(chunk.subarray(start)));
  }

  /** Emits a last line that had no newline. */
  end(): void {
    if (this.pendingBytes > 0) this.emitPending();
  }

  private append(piece: Buffer): void {
    while (this.pendingBytes + piece.length >= this.maxLineBytes) {
      const room = this.maxLineBytes - this.pendingBytes;
      this.pending.push(piece.subarray(0, room));
      this.pendingBytes += room;
      this.emitPending();
      this.cut = true;
      piece = piece.subarray(room);
    }
    if (piece.length === 0) return;
    this.pending.push(piece);
    this.pendingBytes += piece.length;
  }

  private emitPending(): void {
    const line = Buffer.concat(this.pending, this.pendingBytes).toString('utf8');
    this.pending = [];
    this.pendingBytes = 0;
    this.onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
  }
}
