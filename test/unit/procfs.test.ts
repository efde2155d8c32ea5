import { describe, expect, it } from 'vitest';
import { parseStat } from '../../src/process/procfs.js';

const TAIL = '0 -1 4194304 101 0 0 0 0 0 0 0 20 0 1 0 86423 3133440 384';

describe('parseStat', () => {
  it.each([
    [
      'a plain command',
      `10575 (cat) R 10531 10530 4160 ${TAIL}`,
      { pid: 10575, command: 'cat', state: 'R', ppid: 10531, pgrp: 10530 },
    ],
    ['a zombie', '77 (postgres) Z 1 77 77 0 -1', { pid: 77, command: 'postgres', state: 'Z', ppid: 1, pgrp: 77 }],
    [
      'spaces in the command',
      `12 (my prog) S 1 12 12 ${TAIL}`,
      { pid: 12, command: 'my prog', state: 'S', ppid: 1, pgrp: 12 },
    ],
    [
      'parentheses in the command',
      `13 (a) b (c)) S 2 3 3 ${TAIL}`,
      { pid: 13, command: 'a) b (c)', state: 'S', ppid: 2, pgrp: 3 },
    ],
    [
      'a command that looks like the fields',
      '14 () Z 9 9) D 5 14 14 0',
      { pid: 14, command: ') Z 9 9', state: 'D', ppid: 5, pgrp: 14 },
    ],
    ['an empty command', '15 () S 1 15 15 0', { pid: 15, command: '', state: 'S', ppid: 1, pgrp: 15 }],
  ])('reads %s', (_name, text, expected) => {
    expect(parseStat(text)).toEqual(expected);
  });

  it.each([
    ['empty text', ''],
    ['no command', '42 S 1 42 42'],
    ['no closing parenthesis', '42 (cat S 1 42 42'],
    ['a pid that is not a number', 'abc (cat) S 1 42 42'],
    ['cut after the state', '42 (cat) S'],
    ['cut after the parent', '42 (cat) S 1'],
    ['a parent that is not a number', '42 (cat) S x 42 42'],
  ])('refuses %s', (_name, text) => {
    expect(parseStat(text)).toBeUndefined();
  });
});
