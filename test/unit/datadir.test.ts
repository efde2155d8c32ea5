import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { clearStalePostmasterPid, inspectDataDir } from '../../src/postgres/index.js';
import { parsePasswd } from '../../src/process/index.js';
import { scratchDir } from '../support/manager.js';

const temp = () => scratchDir('unit');

describe('inspectDataDir', () => {
  it('tells missing, empty and cluster apart', () => {
    const dir = temp();
    expect(inspectDataDir(path.join(dir, 'nope'))).toBe('missing');
    expect(inspectDataDir(dir)).toBe('empty');
    fs.writeFileSync(path.join(dir, 'PG_VERSION'), '15\n');
    fs.mkdirSync(path.join(dir, 'global'));
    expect(inspectDataDir(dir)).toBe('cluster');
  });

  it('refuses a directory holding something else, naming the flag and what it found', () => {
    const dir = temp();
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'x');
    expect(() => inspectDataDir(dir)).toThrow(
      `--pgdata ${dir}: not empty and not a PostgreSQL data directory (found notes.txt)`,
    );
  });
});

describe('clearStalePostmasterPid', () => {
  it('removes a postmaster.pid whose pid is alive but is not a postmaster of this directory', () => {
    const dir = temp();
    // pid 1 (or this test's own process) is alive and is no postmaster here.
    fs.writeFileSync(path.join(dir, 'postmaster.pid'), `${process.pid}\n${dir}\n1\n5432\n/tmp\n*\n  1 1\nready   \n`);
    expect(clearStalePostmasterPid(dir)).toEqual({ livePid: undefined, removedStalePid: process.pid });
    expect(fs.existsSync(path.join(dir, 'postmaster.pid'))).toBe(false);
  });

  it('leaves a directory without postmaster.pid alone', () => {
    expect(clearStalePostmasterPid(temp())).toEqual({ livePid: undefined, removedStalePid: undefined });
  });
});

describe('parsePasswd', () => {
  it('reads users and skips comments and short lines', () => {
    expect(parsePasswd('# c\npostgres:x:26:26:PostgreSQL:/var/lib/postgresql:/bin/bash\nbroken:x\n')).toEqual([
      { name: 'postgres', uid: 26, gid: 26, home: '/var/lib/postgresql' },
    ]);
  });
});
