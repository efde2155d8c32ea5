/** The watcher on real files: one callback per burst, kubelet swaps seen, unrelated files ignored. */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/log.js';
import { watchInputs, type Watcher } from '../../src/watch/index.js';
import { scratchDir } from '../support/manager.js';
import { writeKubeletVolume } from '../support/secrets.js';

const quiet: Logger = {
  error: () => undefined,
  warning: () => undefined,
  info: () => undefined,
  debug: () => undefined,
} as unknown as Logger;
const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let watcher: Watcher | undefined;

afterEach(async () => {
  await watcher?.close();
  watcher = undefined;
});

async function watching(trees: string[], files: string[]): Promise<string[][]> {
  const calls: string[][] = [];
  watcher = watchInputs({ trees, files }, (paths) => calls.push(paths), quiet, 100);
  await watcher.ready;
  // Files written just before the watch may still be reported once; only later changes count here.
  await settle(300);
  calls.splice(0);
  return calls;
}

describe('watchInputs', () => {
  it('calls back once for a kubelet swap of a Secret volume', async () => {
    const dir = scratchDir('watch-tree');
    writeKubeletVolume(path.join(dir, 'server-tls'), { 'tls.crt': 'one', 'tls.key': 'one' });
    const calls = await watching([dir], []);
    writeKubeletVolume(path.join(dir, 'server-tls'), { 'tls.crt': 'two', 'tls.key': 'two' });
    await settle(600);
    expect(calls).toHaveLength(1);
  });

  it('sees a watched file rewritten in place and swapped through ..data, and ignores its neighbours', async () => {
    const dir = scratchDir('watch-files');
    const plain = path.join(dir, 'hba.conf');
    fs.writeFileSync(plain, 'one\n');
    writeKubeletVolume(path.join(dir, 'configmap'), { 'extra.conf': 'one\n' });
    const calls = await watching([], [plain, path.join(dir, 'configmap', 'extra.conf')]);
    fs.writeFileSync(path.join(dir, 'unrelated.txt'), 'noise\n');
    await settle(400);
    expect(calls).toHaveLength(0);
    fs.writeFileSync(plain, 'two\n');
    await settle(400);
    expect(calls).toHaveLength(1);
    writeKubeletVolume(path.join(dir, 'configmap'), { 'extra.conf': 'two\n' });
    await settle(400);
    expect(calls).toHaveLength(2);
  });

  it('skips a directory that does not exist', async () => {
    const dir = scratchDir('watch-missing');
    const calls = await watching([path.join(dir, 'absent')], []);
    fs.mkdirSync(path.join(dir, 'absent'));
    await settle(300);
    expect(calls).toEqual([]);
  });
});
