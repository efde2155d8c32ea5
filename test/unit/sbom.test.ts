/**
 * The npm SBOM shipped in the image (scripts/sbom.mjs) lists every package the executable is made
 * of: checked against npm's own view of the production tree (`npm ls --omit=dev`), a different
 * reader of the same package-lock.json.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/manager.js';

interface Component {
  'bom-ref': string;
  type: string;
  name: string;
  version: string;
  purl: string;
  hashes?: { alg: string; content: string }[];
  licenses?: { expression: string }[];
}

interface Bom {
  bomFormat: string;
  specVersion: string;
  metadata: { component: { name: string; version: string } };
  components: Component[];
  dependencies: { ref: string; dependsOn: string[] }[];
}

const bom = JSON.parse(
  execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'sbom.mjs')], { encoding: 'utf8' }),
) as Bom;
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  devDependencies: Record<string, string>;
};

/** `name@version` of every package npm itself counts as production, from the lock alone. */
function npmProductionTree(): string[] {
  const listed = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable', '--long', '--package-lock-only'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return listed
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.slice(line.lastIndexOf(':') + 1));
}

describe('npm SBOM (CycloneDX 1.5)', () => {
  it('lists every production package of package-lock.json, and no dev-only one', () => {
    expect(bom).toMatchObject({
      bomFormat: 'CycloneDX',
      specVersion: '1.5',
      metadata: { component: { name: pkg.name, version: pkg.version } },
    });
    const libraries = bom.components
      .filter((component) => component.type === 'library')
      .map((component) => `${component.name}@${component.version}`);
    const production = npmProductionTree();
    expect(production.length).toBeGreaterThan(20);
    expect(production.filter((entry) => !libraries.includes(entry))).toEqual([]);
    expect(libraries.filter((entry) => !production.includes(entry))).toEqual([]);
    for (const dev of Object.keys(pkg.devDependencies))
      expect(bom.components.map((component) => component.name)).not.toContain(dev);
  });

  it('gives each package a purl, its license and its integrity hash; the Node.js runtime the executable embeds too', () => {
    for (const component of bom.components.filter((candidate) => candidate.type === 'library')) {
      const name = component.name.startsWith('@') ? `%40${component.name.slice(1)}` : component.name;
      expect(component.purl).toBe(`pkg:npm/${name}@${component.version}`);
      expect(component.licenses?.length, component.name).toBe(1);
      expect(component.hashes?.[0]?.content, component.name).toMatch(/^[0-9a-f]{128}$/);
    }
    expect(bom.components).toContainEqual(
      expect.objectContaining({ type: 'platform', name: 'node', version: process.versions.node }),
    );
  });

  it('has a dependency graph whose every reference is a component or the package itself', () => {
    const refs = new Set([...bom.components.map((component) => component['bom-ref']), `${pkg.name}@${pkg.version}`]);
    for (const { ref, dependsOn } of bom.dependencies)
      for (const target of [ref, ...dependsOn]) expect(refs, target).toContain(target);
    const pg = bom.components.find((component) => component.name === 'pg')!;
    expect(bom.dependencies.find((entry) => entry.ref === pg['bom-ref'])?.dependsOn).toEqual(
      expect.arrayContaining([expect.stringMatching(/^pg-protocol@/), expect.stringMatching(/^pg-types@/)]),
    );
  });
});
