#!/usr/bin/env node
// A CycloneDX 1.5 SBOM (JSON) of what the instance-manager executable is made of: every npm
// package package-lock.json installs for production (dev-only ones left out), with its version,
// purl, license, integrity hash and dependencies, and the Node.js runtime the single executable
// embeds. The image build ships it under /usr/share/doc/instance-manager/ (Dockerfile.debian).
//
// Read from package-lock.json rather than `npm sbom --omit dev`: npm 11 leaves out runtime
// packages that a dev dependency also needs (pg-types, pg-protocol... through @types/pg), and an
// SBOM that misses pg-protocol misses its advisories.
// Usage: node scripts/sbom.mjs [OUTFILE]   (stdout without one)
import { Buffer } from 'node:buffer';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/** The lock's production packages: not dev, and not needed only by dev or optionally (devOptional). */
export function productionPackages(lock) {
  return Object.entries(lock.packages)
    .filter(([location, entry]) => location !== '' && !entry.dev && !entry.devOptional && !entry.link)
    .map(([location, entry]) => ({
      location,
      name: entry.name ?? location.slice(location.lastIndexOf('node_modules/') + 'node_modules/'.length),
      entry,
    }));
}

const purl = (name, version) => `pkg:npm/${name.startsWith('@') ? `%40${name.slice(1)}` : name}@${version}`;

/** sha512-<base64> (npm's integrity) as CycloneDX hashes. */
function hashes(integrity) {
  const algorithms = { sha512: 'SHA-512', sha384: 'SHA-384', sha256: 'SHA-256', sha1: 'SHA-1' };
  return (integrity ?? '').split(/\s+/).flatMap((item) => {
    const [, alg, digest] = /^(sha\d+)-(.+)$/.exec(item) ?? [];
    return alg && algorithms[alg]
      ? [{ alg: algorithms[alg], content: Buffer.from(digest, 'base64').toString('hex') }]
      : [];
  });
}

/** Where Node would find `name` from the package at `location`: its own node_modules, then each parent's. */
function resolve(lock, location, name) {
  for (let base = location; ; base = base.slice(0, Math.max(0, base.lastIndexOf('/node_modules/')))) {
    const candidate = `${base === '' ? '' : `${base}/`}node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (base === '') return undefined;
  }
}

export function npmSbom(lock, { now = new Date(), node = process.versions.node } = {}) {
  const packages = productionPackages(lock);
  const refOf = new Map(packages.map(({ location, name, entry }) => [location, `${name}@${entry.version}`]));
  const appRef = `${lock.name}@${lock.version}`;
  const nodeRef = `node@${node}`;
  const components = new Map();
  const dependencies = new Map();
  const dependsOn = (location, entry) => {
    const names = Object.keys({ ...entry.dependencies, ...entry.optionalDependencies, ...entry.peerDependencies });
    return [...new Set(names.map((name) => refOf.get(resolve(lock, location, name))).filter(Boolean))].sort();
  };
  for (const { location, name, entry } of packages) {
    const ref = refOf.get(location);
    components.set(ref, {
      'bom-ref': ref,
      type: 'library',
      name,
      version: entry.version,
      scope: entry.optional ? 'optional' : 'required',
      purl: purl(name, entry.version),
      ...(entry.license ? { licenses: [{ expression: entry.license }] } : {}),
      ...(entry.integrity ? { hashes: hashes(entry.integrity) } : {}),
      ...(entry.resolved ? { externalReferences: [{ type: 'distribution', url: entry.resolved }] } : {}),
    });
    dependencies.set(ref, dependsOn(location, entry));
  }
  const root = lock.packages[''];
  return {
    $schema: 'http://cyclonedx.org/schema/bom-1.5.schema.json',
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: `urn:uuid:${crypto.randomUUID()}`,
    version: 1,
    metadata: {
      timestamp: now.toISOString(),
      lifecycles: [{ phase: 'build' }],
      tools: { components: [{ type: 'application', name: 'scripts/sbom.mjs', description: 'from package-lock.json' }] },
      component: {
        'bom-ref': appRef,
        type: 'application',
        name: lock.name,
        version: lock.version,
        purl: purl(lock.name, lock.version),
        ...(root.license ? { licenses: [{ expression: root.license }] } : {}),
      },
    },
    components: [
      ...[...components.values()].sort((a, b) => a['bom-ref'].localeCompare(b['bom-ref'])),
      // The single executable is Node.js with the bundle inside: its runtime's advisories are the image's.
      {
        'bom-ref': nodeRef,
        type: 'platform',
        name: 'node',
        version: node,
        cpe: `cpe:2.3:a:nodejs:node.js:${node}:*:*:*:*:*:*:*`,
        purl: `pkg:generic/node@${node}`,
      },
    ],
    dependencies: [
      { ref: appRef, dependsOn: [...dependsOn('', root), nodeRef].sort() },
      ...[...dependencies].map(([ref, on]) => ({ ref, dependsOn: on })),
      { ref: nodeRef, dependsOn: [] },
    ],
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
  // SOURCE_DATE_EPOCH (reproducible builds) fixes the timestamp when set.
  const epoch = Number(process.env.SOURCE_DATE_EPOCH);
  const text = `${JSON.stringify(npmSbom(lock, Number.isFinite(epoch) && epoch > 0 ? { now: new Date(epoch * 1000) } : {}), null, 2)}\n`;
  const out = process.argv[2];
  if (out === undefined) process.stdout.write(text);
  else {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, text);
  }
}
