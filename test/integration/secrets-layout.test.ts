/**
 * Hostile mounted files cannot hang the manager or exhaust its memory: only regular files of at
 * most 1 MiB are read, without blocking; anything else is refused naming its path (exit 2 at start,
 * logged with the previous certificates kept at a reload).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runArgsIn, runCli, scratchDir, startManager } from '../support/manager.js';
import { opensslSecretsDir } from '../support/secrets.js';
import { ask, waitForStatusApi } from '../support/status.js';

type Layout = (volume: string) => void;

const LAYOUTS: [string, Layout, RegExp][] = [
  [
    'a directory where tls.crt belongs',
    (volume) => fs.mkdirSync(path.join(volume, 'tls.crt'), { recursive: true }),
    /server-tls\/tls.crt: not a regular file but a directory$/,
  ],
  [
    'a symbolic link loop',
    (volume) => {
      fs.mkdirSync(volume, { recursive: true });
      fs.symlinkSync('tls.key', path.join(volume, 'tls.crt'));
      fs.symlinkSync('tls.crt', path.join(volume, 'tls.key'));
    },
    /server-tls\/tls.crt: a symbolic link loop \(ELOOP\)$/,
  ],
  [
    'a file where the Secret directory belongs',
    (volume) => {
      fs.mkdirSync(path.dirname(volume), { recursive: true });
      fs.writeFileSync(volume, 'not a directory');
    },
    /server-tls\/tls.crt: a part of its path is a file, not a directory \(ENOTDIR\)$/,
  ],
  [
    'a FIFO',
    (volume) => {
      fs.mkdirSync(volume, { recursive: true });
      execFileSync('mkfifo', [path.join(volume, 'tls.crt')]);
    },
    /server-tls\/tls.crt: not a regular file but a FIFO$/,
  ],
  [
    'a symbolic link to /dev/zero',
    (volume) => {
      fs.mkdirSync(volume, { recursive: true });
      fs.symlinkSync('/dev/zero', path.join(volume, 'tls.crt'));
    },
    /server-tls\/tls.crt: not a regular file but a character device$/,
  ],
  [
    'a file over 1 MiB',
    (volume) => {
      fs.mkdirSync(volume, { recursive: true });
      fs.writeFileSync(path.join(volume, 'tls.crt'), Buffer.alloc(2 * 1024 * 1024, 'A'));
    },
    /server-tls\/tls.crt: 2097152 bytes, over the limit of 1048576$/,
  ],
];

describe('a hostile secrets layout at start: exit 2 naming the path, quickly', () => {
  it.each(LAYOUTS)('%s', async (_what, layout, pattern) => {
    const dir = scratchDir('secrets-layout');
    layout(path.join(dir, 'secrets', 'server-tls'));
    const began = Date.now();
    const result = await runCli(runArgsIn(dir, '--secrets-dir', path.join(dir, 'secrets')));
    expect(result.code).toBe(2);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^instance-manager: --secrets-dir .*\/secrets: /);
    expect(result.stderr.trimEnd()).toMatch(pattern);
    expect(Date.now() - began).toBeLessThan(20_000);
    expect(fs.existsSync(path.join(dir, 'pgdata'))).toBe(false);
  });

  it('a FIFO as the --config file', async () => {
    const dir = scratchDir('secrets-layout');
    execFileSync('mkfifo', [path.join(dir, 'extra.conf')]);
    const result = await runCli(runArgsIn(dir, '--config', path.join(dir, 'extra.conf')));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^instance-manager: --config .*extra.conf: not a regular file but a FIFO\n$/);
  });
});

describe('a FIFO swapped in while running', () => {
  it('is refused by name, the probes keep answering, SIGTERM still stops the manager', async () => {
    const dir = scratchDir('secrets-layout');
    const secrets = path.join(dir, 'secrets');
    opensslSecretsDir(secrets, path.join(dir, 'work'), ['127.0.0.1']);
    const manager = await startManager({ dir, status: 'http', args: ['--secrets-dir', secrets] });
    try {
      await manager.waitUntilReady();
      await waitForStatusApi(manager.statusBase);
      const served = fs.readFileSync(path.join(manager.runDir, 'certificates', 'server.crt'), 'utf8');
      const before = manager.lines.length;
      // Inside the generation ..data points at, where the manager reads.
      const file = fs.realpathSync(path.join(secrets, 'server-tls', 'tls.crt'));
      fs.rmSync(file);
      execFileSync('mkfifo', [file]);
      manager.child.kill('SIGHUP');
      const refused = await manager.waitForLine((line) => /FIFO/.test(String(line.err)), 30_000, before);
      expect(refused.err).toMatch(/server-tls\/tls.crt: not a regular file but a FIFO/);
      expect((await ask(`${manager.statusBase}/healthz`, { timeoutMs: 2_000 })).status).toBe(200);
      expect(fs.readFileSync(path.join(manager.runDir, 'certificates', 'server.crt'), 'utf8')).toBe(served);
      expect(await manager.stop('SIGTERM', 60_000)).toBe(0);
    } finally {
      await manager.stop('SIGKILL', 5_000);
    }
  });
});
