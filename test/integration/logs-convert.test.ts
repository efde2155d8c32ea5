import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { csvlogRecord, SAMPLE } from '../support/csvlog.js';
import { runCli, scratchDir } from '../support/manager.js';

const parseLines = (stdout: string) => stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { msg: string; logging_pod: string; raw?: string; source?: string; record?: Record<string, string> });

describe('instance-manager logs convert', () => {
  it('converts stdin', async () => {
    const { code, stdout, stderr } = await runCli(['logs', 'convert', '--pod-name', 'p'], {}, csvlogRecord(SAMPLE) + csvlogRecord({ ...SAMPLE, message: 'two\nlines' }, 24));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(parseLines(stdout).map((line) => [line.logging_pod, line.record?.message])).toEqual([['p', 'statement: SELECT 1'], ['p', 'two\nlines']]);
  });

  it('ends each file on its own: a cut-short last record is unparsable, the next file parses', async () => {
    const dir = scratchDir('convert');
    const first = path.join(dir, 'a.csv');
    const second = path.join(dir, 'b.csv');
    const whole = csvlogRecord(SAMPLE);
    fs.writeFileSync(first, whole + whole.slice(0, 70));
    fs.writeFileSync(second, whole);
    const { code, stdout } = await runCli(['logs', 'convert', first, second]);
    expect(code).toBe(0);
    expect(parseLines(stdout).map((line) => [line.msg, line.raw, line.source])).toEqual([
      ['record', undefined, undefined],
      ['unparsable csvlog record', whole.slice(0, 70), first],
      ['record', undefined, undefined],
    ]);
  });

  it.each([
    ['a missing file', (dir: string) => path.join(dir, 'missing.csv'), /missing\.csv: cannot be read \(ENOENT\)/],
    ['a directory', (dir: string) => dir, /is a directory/],
  ])('refuses %s with exit 2, one line, and no output', async (_name, target, message) => {
    const dir = scratchDir('convert');
    const good = path.join(dir, 'good.csv');
    fs.writeFileSync(good, csvlogRecord(SAMPLE));
    const { code, stdout, stderr } = await runCli(['logs', 'convert', good, target(dir)]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(message);
  });
});
