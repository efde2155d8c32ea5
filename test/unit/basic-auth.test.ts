import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidSecret, readBasicAuth } from '../../src/secrets/index.js';
import { scratchDir } from '../support/manager.js';
import { writeKubeletVolume } from '../support/secrets.js';

describe('readBasicAuth', () => {
  it('reads a kubelet volume through ..data, bytes as they are, and follows a swap', () => {
    const dir = path.join(scratchDir('basic-auth'), 'app-user');
    writeKubeletVolume(dir, { username: 'app', password: 'first\n' });
    expect(readBasicAuth(dir, 'app')).toEqual({ username: 'app', password: 'first\n' });
    writeKubeletVolume(dir, { username: 'app', password: 'second' });
    expect(readBasicAuth(dir, 'app')?.password).toBe('second');
  });

  it('is undefined when the Secret is not mounted', () => {
    expect(readBasicAuth(path.join(scratchDir('basic-auth'), 'absent'), 'app')).toBeUndefined();
  });

  it.each<[string, (dir: string) => void, RegExp]>([
    [
      'another username',
      (dir) => writeKubeletVolume(dir, { username: 'bob', password: 'x' }),
      /username: is "bob", expected "app"/,
    ],
    ['an empty password', (dir) => writeKubeletVolume(dir, { username: 'app', password: '' }), /password: empty/],
    ['a missing password', (dir) => writeKubeletVolume(dir, { username: 'app' }), /password: missing/],
    [
      'a FIFO instead of a file (never blocks)',
      (dir) => {
        fs.mkdirSync(dir);
        fs.writeFileSync(path.join(dir, 'username'), 'app');
        execFileSync('mkfifo', [path.join(dir, 'password')]);
      },
      /password: not a regular file but a FIFO/,
    ],
    [
      'a directory instead of a file',
      (dir) => {
        fs.mkdirSync(path.join(dir, 'password'), { recursive: true });
        fs.writeFileSync(path.join(dir, 'username'), 'app');
      },
      /password: .*directory/,
    ],
    [
      'bytes that are not UTF-8',
      (dir) => {
        fs.mkdirSync(dir);
        fs.writeFileSync(path.join(dir, 'username'), 'app');
        fs.writeFileSync(path.join(dir, 'password'), Buffer.from([0x70, 0xff, 0xfe]));
      },
      /password: not UTF-8/,
    ],
  ])('refuses %s, naming the file', (_name, prepare, message) => {
    const dir = path.join(scratchDir('basic-auth'), 'app-user');
    prepare(dir);
    expect(() => readBasicAuth(dir, 'app')).toThrow(InvalidSecret);
    expect(() => readBasicAuth(dir, 'app')).toThrow(message);
  });
});
