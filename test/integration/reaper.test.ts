/**
 * The orphan reaper and its addon, outside PostgreSQL: loading, the fallback warning, and reaping
 * next to libuv in a node process of its own (made a subreaper, so the test runner is untouched).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { loadNativeAddon, nativeAddonCandidates, type NativeAddon } from '../../src/native.js';
import { startOrphanReaper } from '../../src/process/index.js';
import { ROOT, scratchDir } from '../support/manager.js';

const execFileAsync = promisify(execFile);
const BUILT_ADDON = path.join(ROOT, 'build', 'Release', 'reaper.node');

function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    sink: { write: (line: string) => (lines.push(JSON.parse(line) as Record<string, unknown>), true) },
    pod: 'test',
    level: 'debug',
  });
  return { logger, lines };
}

function realAddon(): NativeAddon {
  const loaded = loadNativeAddon([BUILT_ADDON]);
  if ('errors' in loaded) throw new Error(`the addon must be built (npm ci builds it): ${loaded.errors.join('; ')}`);
  return loaded.addon;
}

describe('finding the addon', () => {
  afterEach(() => {
    delete process.env.IM_REAPER_ADDON;
  });

  it('looks in the package build, then next to the executable', () => {
    expect(nativeAddonCandidates({}, '/opt/im/instance-manager')).toEqual([BUILT_ADDON, '/opt/im/reaper.node']);
  });

  it('looks only where IM_REAPER_ADDON says when it is set', () => {
    expect(nativeAddonCandidates({ IM_REAPER_ADDON: '/elsewhere/reaper.node' }, '/opt/im/instance-manager')).toEqual([
      '/elsewhere/reaper.node',
    ]);
  });

  it('loads the built addon', () => {
    const loaded = loadNativeAddon();
    expect(loaded).toMatchObject({ file: BUILT_ADDON });
  });

  it('reports each candidate that failed and why', () => {
    const dir = scratchDir('reaper');
    const notAnAddon = path.join(dir, 'reaper.node');
    fs.writeFileSync(notAnAddon, 'not a shared object');
    const loaded = loadNativeAddon([path.join(dir, 'missing.node'), notAnAddon]);
    expect('errors' in loaded && loaded.errors).toEqual([
      `${dir}/missing.node: not found`,
      expect.stringContaining(`${notAnAddon}: `),
    ]);
    fs.rmSync(dir, { recursive: true });
  });

  it('warns, naming tini as the fallback, and carries on without reaping when the addon cannot load', () => {
    process.env.IM_REAPER_ADDON = '/nonexistent/reaper.node';
    const { logger, lines } = capturingLogger();
    expect(startOrphanReaper(logger)).toBeUndefined();
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'warning',
        msg: expect.stringContaining('"tini -s --"'),
        tried: ['/nonexistent/reaper.node: not found'],
      }),
    ]);
  });
});

describe('the addon', () => {
  it('returns null for a process that is not its child, and refuses a pid that is not one', () => {
    const addon = realAddon();
    expect(addon.reap(process.pid)).toBeNull();
    expect(() => addon.reap(0)).toThrow(TypeError);
    expect(() => addon.reap('1' as unknown as number)).toThrow(TypeError);
  });
});

describe('the reaper in a subreaper process', () => {
  it('reaps double-forked orphans while every child libuv spawned still reports its exit', async () => {
    // 40 children of libuv (through execFile, which isSpawnedByManager knows nothing of) end while
    // orphans die around them: the reaper must take the orphans and leave libuv its children.
    const script = `
      import { execFile } from 'node:child_process';
      import { createLogger } from './dist/log.js';
      import { startOrphanReaper } from './dist/process/index.js';
      const logger = createLogger({ sink: { write: (line) => process.stdout.write(line) }, pod: 'test', level: 'debug' });
      const reaper = startOrphanReaper(logger);
      const exits = [];
      await Promise.all(Array.from({ length: 40 }, (_, i) => new Promise((resolve) => {
        const command = i % 4 === 0 ? ['sh', ['-c', '(sleep 0.1 >/dev/null 2>&1 &); (exit 3 &); exit 0']] : ['true', []];
        execFile(command[0], command[1], (error) => { exits.push(error ? error.code : 0); resolve(); });
      })));
      await new Promise((resolve) => setTimeout(resolve, 1500));
      reaper.stop();
      process.stdout.write(JSON.stringify({ msg: 'done', exits: exits.length }) + '\\n');
    `;
    const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: ROOT,
      timeout: 20_000,
    });
    const lines = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.find((line) => line.msg === 'reaping orphaned processes')).toMatchObject({ subreaper: true });
    expect(lines.at(-1)).toEqual({ msg: 'done', exits: 40 });
    const reaped = lines.filter((line) => line.msg === 'reaped an orphaned process');
    expect(reaped.filter((line) => line.command === 'sleep')).toHaveLength(10);
    expect(
      reaped.every(
        (line) => line.signal === null && (line.command === 'sleep' ? line.exitCode === 0 : line.exitCode === 3),
      ),
    ).toBe(true);
    expect(reaped.filter((line) => line.command === 'sh')).toHaveLength(10);
  });
});
