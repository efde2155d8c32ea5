/**
 * Dockerfile.debian is built and run by `npm run test:image`; Dockerfile.ubi cannot be built here
 * (no registry). This keeps the two in step, and both in step with the CLI's defaults, by reading
 * them: same stages, the same build stage, bases pinned by digest through build arguments, the
 * same labels, user, entrypoint, paths and volumes, and a final stage with nothing of the build.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/run.js';
import { ROOT } from '../support/manager.js';

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  from: string;
  name: string;
  instructions: Instruction[];
}

interface Dockerfile {
  /** ARGs before the first FROM, with their defaults. */
  globalArgs: Map<string, string>;
  stages: Stage[];
}

/** Enough of the Dockerfile grammar for these files: comments, continuations, one instruction a line. */
function parseDockerfile(text: string): Dockerfile {
  const logical = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { keyword: keyword.toUpperCase(), args: args.replace(/\s+/g, ' ') };
    if (instruction.keyword === 'FROM') {
      const [, from = '', name = ''] = /^(\S+)(?: AS (\S+))?$/i.exec(instruction.args) ?? [];
      stages.push({ from, name, instructions: [] });
    } else if (stages.length === 0) {
      if (instruction.keyword !== 'ARG') throw new Error(`${instruction.keyword} before the first FROM`);
      const [name = '', value = ''] = instruction.args.split('=');
      globalArgs.set(name, value);
    } else {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return { globalArgs, stages };
}

function read(file: string): Dockerfile {
  return parseDockerfile(fs.readFileSync(path.join(ROOT, file), 'utf8'));
}

function args(stage: Stage, keyword: string): string[] {
  return stage.instructions
    .filter((instruction) => instruction.keyword === keyword)
    .map((instruction) => instruction.args);
}

/** KEY=value pairs of LABEL or ENV instructions (values unquoted). */
function pairs(stage: Stage, keyword: 'LABEL' | 'ENV'): Map<string, string> {
  const found = new Map<string, string>();
  for (const text of args(stage, keyword))
    for (const [, key, quoted, bare] of text.matchAll(/([\w.-]+)=(?:"([^"]*)"|(\S+))/g))
      found.set(key!, quoted ?? bare!);
  return found;
}

function cliDefault(flag: string): string {
  const option = runCommand(async () => 0).options.find((candidate) => candidate.long === flag);
  return String(option?.defaultValue);
}

const FILES = ['Dockerfile.debian', 'Dockerfile.ubi'] as const;
const parsed = Object.fromEntries(FILES.map((file) => [file, read(file)])) as Record<
  (typeof FILES)[number],
  Dockerfile
>;
const finalStage = (file: (typeof FILES)[number]) => parsed[file].stages.at(-1)!;

describe('Dockerfile.debian and Dockerfile.ubi', () => {
  it('have the same two stages, and the very same build stage', () => {
    for (const file of FILES)
      expect(
        parsed[file].stages.map((stage) => stage.name),
        file,
      ).toEqual(['build', 'image']);
    const [debian, ubi] = FILES.map((file) => parsed[file].stages[0]!);
    expect(ubi).toEqual(debian);
  });

  it.each(FILES)('%s pins every base by digest through a build argument with a real default', (file) => {
    const { globalArgs, stages } = parsed[file];
    for (const stage of stages) {
      const [, argName] = /@\$\{(\w+_DIGEST)\}$/.exec(stage.from) ?? [];
      expect(argName, `${stage.name}: FROM ${stage.from}`).toBeDefined();
      expect(globalArgs.get(argName!), `${argName} default`).toMatch(/^sha256:[0-9a-f]{64}$/);
      // Fully qualified: no short-name resolution that could pick another registry.
      expect(stage.from.split('/')[0], stage.from).toMatch(/\./);
    }
  });

  it('run as user 26 with the manager as entrypoint, the contract paths as volumes', () => {
    for (const file of FILES) {
      const stage = finalStage(file);
      expect(args(stage, 'USER'), file).toEqual(['26']);
      expect(args(stage, 'ENTRYPOINT'), file).toEqual(['["/usr/local/bin/instance-manager", "run"]']);
      expect(args(stage, 'VOLUME'), file).toEqual([
        JSON.stringify([path.dirname(cliDefault('--pgdata')), cliDefault('--run-dir')]).replace(/,/g, ', '),
      ]);
      const env = pairs(stage, 'ENV');
      expect(env.get('PGDATA'), file).toBe(cliDefault('--pgdata'));
      expect(env.get('IM_RUN_DIR'), file).toBe(cliDefault('--run-dir'));
      expect(env.get('IM_PG_BIN'), file).toMatch(/\$\{PG_MAJOR\}\/bin$/);
      expect(args(stage, 'STOPSIGNAL'), file).toEqual(['SIGTERM']);
    }
    expect(args(finalStage('Dockerfile.ubi'), 'EXPOSE')).toEqual(args(finalStage('Dockerfile.debian'), 'EXPOSE'));
  });

  it('carry the same OCI labels', () => {
    const [debian, ubi] = FILES.map((file) => pairs(finalStage(file), 'LABEL'));
    const keys = [...debian!.keys()].sort();
    expect([...ubi!.keys()].sort()).toEqual(keys);
    // OCI's own keys, and this project's for what OCI has none (where the SBOMs are).
    expect(
      keys.filter((key) => !key.startsWith('org.opencontainers.image.') && !key.startsWith('org.pg-instance-manager.')),
    ).toEqual([]);
    for (const key of [
      'title',
      'description',
      'version',
      'revision',
      'created',
      'licenses',
      'base.name',
      'base.digest',
    ])
      expect(keys).toContain(`org.opencontainers.image.${key}`);
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const file of FILES) expect(args(finalStage(file), 'ARG'), file).toContain(`VERSION=${version}`);
  });

  it('install PostgreSQL PG_MAJOR (default 15) and pgaudit, and leave no package lists or caches', () => {
    const debian = finalStage('Dockerfile.debian');
    const ubi = finalStage('Dockerfile.ubi');
    for (const stage of [debian, ubi]) expect(args(stage, 'ARG')).toContain('PG_MAJOR=15');
    const debianRun = args(debian, 'RUN').join(' ');
    expect(debianRun).toContain('"postgresql-${PG_MAJOR}" "postgresql-${PG_MAJOR}-pgaudit"');
    expect(debianRun).toContain("echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf");
    expect(debianRun).toContain('--gid 26 postgres');
    expect(debianRun).toContain('--uid 26 --gid 26');
    expect(debianRun).toContain('rm -rf /var/lib/apt/lists/*');
    const ubiRun = args(ubi, 'RUN').join(' ');
    expect(ubiRun).toContain('"postgresql${PG_MAJOR}-server" "postgresql${PG_MAJOR}-contrib" "pgaudit_${PG_MAJOR}"');
    expect(ubiRun).toContain('test "$(id -u postgres):$(id -g postgres)" = "26:26"');
    expect(ubiRun).toContain('microdnf clean all');
  });

  it('install pgBackRest, which archive_command and the backups run, with PostgreSQL', () => {
    for (const file of ['Dockerfile.debian', 'Dockerfile.ubi'] as const) {
      const steps = args(finalStage(file), 'RUN').join(';').split(/;\s*/);
      const install = steps.find((step) => /install .*pgaudit/.test(step)) ?? '';
      expect(install, file).toMatch(/\spgbackrest\s/);
    }
  });

  it('Dockerfile.debian installs a PG_MAJOR Debian lacks from apt.postgresql.org, signed by the key Debian ships', () => {
    const debian = finalStage('Dockerfile.debian');
    expect(args(debian, 'ARG')).toContain('PGDG_KEYRING=/usr/share/postgresql-common/pgdg/apt.postgresql.org.gpg');
    const install = args(debian, 'RUN').find((run) => run.includes('"postgresql-${PG_MAJOR}"'))!;
    const steps = install.split(/;\s*/);
    const check = steps.findIndex((step) => step.startsWith('if ! apt-cache show "postgresql-${PG_MAJOR}"'));
    const repository = steps.findIndex((step) => step.includes('https://apt.postgresql.org/pub/repos/apt'));
    const packages = steps.findIndex((step) =>
      step.includes('"postgresql-${PG_MAJOR}" "postgresql-${PG_MAJOR}-pgaudit"'),
    );
    // Only when Debian lacks it, after a first update, before the packages are installed.
    expect(steps.indexOf('apt-get update')).toBeLessThan(check);
    expect(check).toBeGreaterThan(-1);
    expect(repository).toBeGreaterThan(check);
    expect(steps[check + 1]).toContain('postgresql-common ca-certificates');
    expect(install).toContain('"Suites: ${VERSION_CODENAME}-pgdg"');
    expect(install).toContain('"Signed-By: ${PGDG_KEYRING}"');
    expect(packages).toBeGreaterThan(repository);
    // The whole step is valid shell (what the build runs with /bin/sh -c).
    expect(spawnSync('sh', ['-n', '-c', install]).status).toBe(0);
  });

  it('build the reaper addon in the build stage: compiler, binding.gyp and native/ before npm ci', () => {
    const build = parsed['Dockerfile.debian'].stages[0]!;
    const steps = build.instructions.map((instruction) => `${instruction.keyword} ${instruction.args}`);
    const npmCi = steps.findIndex((step) => step.startsWith('RUN npm ci'));
    const before = steps.slice(0, npmCi);
    expect(before.join('\n')).toMatch(/^RUN .*apt-get install [^\n]*\bpython3 make g\+\+/m);
    expect(before.join('\n')).toMatch(/^COPY [^\n]*\bbinding\.gyp\b/m);
    expect(before).toContain('COPY native ./native');
    expect(steps[npmCi]).toContain('test -f build/Release/reaper.node');
    expect(steps.find((step) => step.includes('npm run build:sea'))).toContain('test -f build/sea/reaper.node');
    // The build context has to let the addon's sources in.
    const ignore = fs
      .readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim());
    for (const source of ['!binding.gyp', '!native/']) expect(ignore).toContain(source);
  });

  it.each(FILES)(
    '%s ships the npm SBOM made in the build stage and one of its OS packages, where its labels say',
    (file) => {
      const stage = finalStage(file);
      const labels = pairs(stage, 'LABEL');
      const npm = labels.get('org.pg-instance-manager.sbom.npm')!;
      const os = labels.get('org.pg-instance-manager.sbom.os')!;
      expect(args(parsed[file].stages[0]!, 'RUN')).toContain(`node scripts/sbom.mjs build/sbom/${path.basename(npm)}`);
      expect(args(stage, 'COPY')).toContain(`--from=build /src/build/sbom/ ${path.dirname(npm)}/`);
      const osSbom = args(stage, 'RUN').find((run) => run.includes('"bomFormat":"CycloneDX","specVersion":"1.5"'));
      expect(osSbom).toMatch(file === 'Dockerfile.debian' ? /dpkg-query -W/ : /rpm -qa/);
      expect(osSbom!.endsWith(`> ${os}`)).toBe(true);
    },
  );

  it.each(FILES)(
    '%s takes only the executable (and its addon) and the SBOM from the build stage and installs no compiler, Node.js or npm',
    (file) => {
      const stage = finalStage(file);
      expect(args(stage, 'COPY')).toEqual([
        '--from=build /src/build/sea/ /usr/local/bin/',
        '--from=build /src/build/sbom/ /usr/share/doc/instance-manager/',
      ]);
      const run = args(stage, 'RUN').join(' ');
      for (const tool of ['nodejs', 'npm', 'gcc', 'g++', 'clang', 'make', 'build-essential', 'Development Tools'])
        expect(run, tool).not.toMatch(new RegExp(`(^|[\\s"])${tool.replace(/[+]/g, '\\+')}([\\s"]|$)`));
    },
  );
});
