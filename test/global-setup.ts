import { execFileSync } from 'node:child_process';
import path from 'node:path';

/** The integration tests run the real executable, which runs dist/instance-manager.mjs: build it once first. */
export default function setup(): void {
  const root = path.resolve(import.meta.dirname, '..');
  execFileSync(process.execPath, [path.join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });
}
