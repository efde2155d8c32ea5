import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../src/process/index.js';

function split(chunks: string[], max?: number): string[] {
  const lines: string[] = [];
  const splitter = new LineSplitter((line) => lines.push(line), max);
  for (const chunk of chunks) splitter.push(Buffer.from(chunk));
  splitter.end();
  return lines;
}

describe('LineSplitter', () => {
  it('joins a line split across chunks and splits lines within one', () => {
    expect(split(['ab', 'c\nde\nf', 'g\n'])).toEqual(['abc', 'de', 'fg']);
  });

  it('keeps a multi-byte character split across chunks intact', () => {
    const bytes = Buffer.from('é\n');
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line));
    splitter.push(bytes.subarray(0, 1));
    splitter.push(bytes.subarray(1));
    expect(lines).toEqual(['é']);
  });

  it('emits the last line without a newline at the end, and strips CR', () => {
    expect(split(['a\r\nb'])).toEqual(['a', 'b']);
  });

  it('cuts a line longer than the limit instead of holding it', () => {
    expect(split(['aaaaabb\n'], 5)).toEqual(['aaaaa', 'bb']);
  });
});
