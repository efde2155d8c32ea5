import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where this run's scratch directories live (test/support/manager.ts `scratchDir`). */
    scratchRoot: string;
  }
}

/**
 * The integration tests run the real executable, which runs dist/instance-manager.mjs: build it once
 * first. Every scratch directory of the run goes under one root, removed at the end: a run leaves
 * gigabytes of data directories behind otherwise, and CI machines can have little disk.
 */
export default function setup(project: TestProject): () => void {
  const root = path.resolve(import.meta.dirname, '..');
  execFileSync(process.execPath, [path.join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });
  const scratchRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'im-tests-'));
  // The manager hands parts of its scratch directories to `postgres`, which must traverse this one.
  fs.chmodSync(scratchRoot, 0o755);
  project.provide('scratchRoot', scratchRoot);
  return () => {
    if (process.env.IM_KEEP_SCRATCH !== '1') fs.rmSync(scratchRoot, { recursive: true, force: true });
  };
}
