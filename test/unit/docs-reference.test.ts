/**
 * docs/configuration.md is the contract: this test holds it to the code, so a flag, variable, endpoint,
 * status field, metric or exit code cannot be added without being documented in the same change.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import * as cli from '../../src/cli/main.js';
import type { Logger } from '../../src/log.js';
import { StatusMetrics } from '../../src/status/metrics.js';
import { StatusServer, type StatusSource } from '../../src/status/index.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const REFERENCE = fs.readFileSync(path.join(ROOT, 'docs', 'configuration.md'), 'utf8');

interface Requirement {
  /** What is missing, as the failure names it. */
  what: string;
  /** Whether the reference documents it. */
  documented: (reference: string) => boolean;
}

/** `instance-manager certificate client` and the like, each with the command object. */
function commandsOf(command: Command, prefix = ''): { name: string; command: Command }[] {
  const name = prefix === '' ? command.name() : `${prefix} ${command.name()}`;
  return [{ name, command }, ...command.commands.flatMap((sub) => commandsOf(sub, name))];
}

/** The text of the `### \`instance-manager ...\`` section, up to the next heading of level 2 or 3. */
function sectionOf(reference: string, commandName: string): string | undefined {
  const lines = reference.split('\n');
  const start = lines.findIndex((line) => line === `### \`${commandName}\``);
  if (start < 0) return undefined;
  const end = lines.findIndex((line, index) => index > start && /^#{2,3} /.test(line));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

function mentions(text: string | undefined, word: string): boolean {
  return text !== undefined && new RegExp(`\`[^\`]*(?<![\\w-])${escape(word)}(?![\\w-])[^\`]*\``).test(text);
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function optionRequirements(): Requirement[] {
  return commandsOf(cli.buildProgram()).flatMap(({ name, command }) => {
    const section: Requirement = {
      what: `section ### \`${name}\``,
      documented: (reference) => sectionOf(reference, name) !== undefined,
    };
    const options = command.options.flatMap((option) => {
      const flag = option.long ?? option.short!;
      const envVar = option.envVar ?? /\(env: (\w+)\)/.exec(option.description)?.[1];
      const inSection = (word: string): Requirement => ({
        what: `${word} in the section of \`${name}\``,
        documented: (reference) => mentions(sectionOf(reference, name), word),
      });
      return envVar === undefined ? [inSection(flag)] : [inSection(flag), inSection(envVar)];
    });
    return [section, ...options];
  });
}

/** Variables the code reads itself, outside commander (`process.env.X`, `env.X`). */
function environmentRequirements(): Requirement[] {
  const names = new Set<string>();
  const visit = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) visit(full);
      else if (entry.name.endsWith('.ts')) {
        for (const match of fs.readFileSync(full, 'utf8').matchAll(/\benv\.([A-Z][A-Z0-9_]+)\b/g)) names.add(match[1]!);
      }
    }
  };
  visit(path.join(ROOT, 'src'));
  return [...names].map((name) => ({
    what: `environment variable ${name}`,
    documented: (reference) => mentions(reference, name),
  }));
}

function endpointRequirements(): Requirement[] {
  const server = new StatusServer({
    port: 0,
    insecure: true,
    operatorNames: [],
    source: { socketAddress: { host: '/nonexistent', port: 5432 } } as unknown as StatusSource,
    logger: {} as Logger,
    postgresMetrics: { queriesFile: undefined, queryTimeoutMs: 5_000 },
  });
  return server.endpoints.map(({ method, path: route, access }) => ({
    what: `endpoint \`${method} ${route}\` (${access})`,
    // One table row: the method and path, and who may call it.
    documented: (reference) =>
      reference.split('\n').some((line) => line.includes(`\`${method} ${route}\``) && line.includes(access)),
  }));
}

function metricRequirements(): Requirement[] {
  return new StatusMetrics().ownNames.map((name) => ({
    what: `metric ${name}`,
    documented: (reference) => mentions(reference, name),
  }));
}

/** The members of `interface StatusDocument`, read from the source: optional fields included. */
function statusFieldRequirements(): Requirement[] {
  const file = path.join(ROOT, 'src', 'status', 'document.ts');
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  const document = source.statements.find(
    (node): node is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(node) && node.name.text === 'StatusDocument',
  );
  if (!document) throw new Error('src/status/document.ts has no interface StatusDocument');
  return document.members.map((member) => {
    const field = (member.name as ts.Identifier).text;
    return {
      what: `/pg/status field ${field}`,
      documented: (reference) => reference.split('\n').some((line) => line.startsWith(`| \`${field}\``)),
    };
  });
}

function exitCodeRequirements(): Requirement[] {
  const codes = [
    0,
    ...Object.entries(cli)
      .filter(([name]) => name.startsWith('EXIT_'))
      .map(([, code]) => code as number),
  ];
  return codes.map((code) => ({
    what: `exit code ${code}`,
    documented: (reference) => reference.split('\n').some((line) => line.startsWith(`| ${code} |`)),
  }));
}

function allRequirements(): Requirement[] {
  return [
    ...optionRequirements(),
    ...environmentRequirements(),
    ...endpointRequirements(),
    ...metricRequirements(),
    ...statusFieldRequirements(),
    ...exitCodeRequirements(),
  ];
}

function missing(reference: string, requirements: Requirement[]): string[] {
  return requirements
    .filter((requirement) => !requirement.documented(reference))
    .map((requirement) => requirement.what);
}

describe('docs/configuration.md', () => {
  const requirements = allRequirements();

  it('documents every flag, variable, endpoint, status field, metric and exit code', () => {
    expect(missing(REFERENCE, requirements)).toEqual([]);
  });

  it('covers every kind of item (the walk over the code finds them)', () => {
    const kinds = ['section', 'environment variable', 'endpoint', 'metric', '/pg/status field', 'exit code'];
    for (const kind of kinds)
      expect(
        requirements.some((requirement) => requirement.what.startsWith(kind)),
        kind,
      ).toBe(true);
    expect(
      requirements.some(
        (requirement) => requirement.what === '--stop-timeout in the section of `instance-manager run`',
      ),
    ).toBe(true);
    expect(
      requirements.some(
        (requirement) => requirement.what === 'IM_STATUS_INSECURE in the section of `instance-manager run`',
      ),
    ).toBe(true);
  });

  it('fails when an item is missing', () => {
    const cases: [string, string, string][] = [
      ['a run flag', '--stop-timeout', '--stop-timeout in the section of `instance-manager run`'],
      [
        'a variable named in a description',
        'IM_STATUS_INSECURE',
        'IM_STATUS_INSECURE in the section of `instance-manager run`',
      ],
      ['an endpoint', '`POST /pg/restart`', 'endpoint `POST /pg/restart` (operator)'],
      ['a metric', 'instance_manager_postmaster_restarts_total', 'metric instance_manager_postmaster_restarts_total'],
      ['a status field', '| `pendingRestart`', '/pg/status field pendingRestart'],
      ['an exit code', '| 2 |', 'exit code 2'],
    ];
    for (const [kind, text, failure] of cases) {
      const withoutIt = REFERENCE.split(text).join('');
      expect(missing(withoutIt, requirements), kind).toContain(failure);
    }
  });

  it('a flag documented under another command does not count', () => {
    const moved = REFERENCE.replace(/^### `instance-manager run`$/m, '### `instance-manager elsewhere`');
    expect(missing(moved, requirements)).toContain('--pgdata in the section of `instance-manager run`');
  });
});

describe('README.md', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

  it('stays a front page: under 20 KB', () => {
    expect(Buffer.byteLength(readme)).toBeLessThan(20 * 1024);
  });

  it('links every page of docs/ and CONTRIBUTING.md', () => {
    const pages = fs
      .readdirSync(path.join(ROOT, 'docs'))
      .filter((name) => name.endsWith('.md'))
      .map((name) => `docs/${name}`);
    const unlinked = [...pages, 'CONTRIBUTING.md'].filter((page) => !readme.includes(`](${page})`));
    expect(unlinked).toEqual([]);
  });
});

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens. */
function anchorsOf(file: string): Set<string> {
  const headings = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => /^#+ /.test(line));
  return new Set(
    headings.map((line) =>
      line
        .replace(/^#+ /, '')
        .trim()
        .toLowerCase()
        .replace(/[^\w\- ]/g, '')
        .replaceAll(' ', '-'),
    ),
  );
}

describe('links between the pages', () => {
  it('every relative link of README.md, CONTRIBUTING.md and docs/ reaches a file and a heading', () => {
    const pages = [
      'README.md',
      'CONTRIBUTING.md',
      ...fs
        .readdirSync(path.join(ROOT, 'docs'))
        .filter((name) => name.endsWith('.md'))
        .map((name) => `docs/${name}`),
    ];
    const broken = pages.flatMap((page) => {
      const text = fs.readFileSync(path.join(ROOT, page), 'utf8');
      return [...text.matchAll(/\]\(([^)\s]+)\)/g)].flatMap(([, link]) => {
        if (/^[a-z]+:/.test(link!)) return [];
        const [target, anchor] = link!.split('#', 2) as [string, string | undefined];
        const file = target === '' ? path.join(ROOT, page) : path.resolve(path.dirname(path.join(ROOT, page)), target);
        if (!fs.existsSync(file)) return [`${page}: ${link}`];
        if (anchor !== undefined && file.endsWith('.md') && !anchorsOf(file).has(anchor)) return [`${page}: ${link}`];
        return [];
      });
    });
    expect(broken).toEqual([]);
  });
});
