/**
 * Smoke test of the image images/build-debian.sh built (run by `npm run test:image`, as root).
 *
 * The image's root filesystem runs with no container runtime, as a restricted Pod would run it:
 * the manager is PID 1 of its own PID namespace, uid/gid 26, the root filesystem is read-only and
 * only the PGDATA volume, the run dir and /dev/shm are writable (images/run-rootfs.sh). Then the
 * executable alone is copied into a plain Debian PostgreSQL root filesystem with no Node.js and
 * runs there too, with the reaper addon beside it.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, Manager, ROOT, scratchDir, type LogLine } from '../support/manager.js';
import { ask, waitForStatusApi } from '../support/status.js';

const execFileAsync = promisify(execFile);
const IMAGE = process.env.IMAGE ?? 'localhost/pg-instance-manager:debian';
const PG_MAJOR = process.env.PG_MAJOR ?? '15';
const RUN_ROOTFS = path.join(ROOT, 'images', 'run-rootfs.sh');
const PLAIN_ROOTFS = path.join(ROOT, 'images', 'out', 'rootfs', `debian-postgresql-${PG_MAJOR}`);
const EXECUTABLE = '/usr/local/bin/instance-manager';
const CONTRACT_KEYS = ['level', 'ts', 'logger', 'msg', 'logging_pod'];
/** Where the manager looks for its reaper addon in a single-executable image: next to the executable. */
const REAPER_ADDON = '/usr/local/bin/reaper.node';

interface ImageConfig {
  User: string;
  Entrypoint: string[];
  Env: string[];
  Volumes: Record<string, object>;
  Labels: Record<string, string>;
}

function buildah(...args: string[]): string {
  return execFileSync('buildah', args, { encoding: 'utf8' }).trim();
}

/** The files of a root filesystem that would let it run Node.js or compile anything. */
function forbiddenPrograms(rootfs: string): string[] {
  const dirs = ['usr/bin', 'usr/local/bin', 'bin', 'usr/sbin'];
  const names = ['node', 'nodejs', 'npm', 'npx', 'gcc', 'cc', 'c++', 'g++', 'clang', 'make'];
  return dirs.flatMap((dir) => names.map((name) => path.join(rootfs, dir, name))).filter((file) => fs.existsSync(file));
}

function passwdEntry(rootfs: string, name: string): { uid: number; gid: number } {
  const line = fs
    .readFileSync(path.join(rootfs, 'etc', 'passwd'), 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${name}:`));
  if (!line) throw new Error(`no ${name} in ${rootfs}/etc/passwd`);
  const fields = line.split(':');
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

/** The manager as PID 1 in `rootfs`: data and run dirs are fresh scratch directories. */
async function startInRootfs(
  rootfs: string,
  ids: string,
  env: Record<string, string>,
  args: string[],
): Promise<{ manager: Manager; dataDir: string; runDir: string }> {
  const dir = scratchDir('image');
  const dataDir = path.join(dir, 'data');
  const runDir = path.join(dir, 'run');
  const [uid, gid] = ids.split(':').map(Number);
  for (const volume of [dataDir, runDir]) {
    fs.mkdirSync(volume);
    // Volumes as a runtime hands them out: given to the user the image runs as (fsGroup), or,
    // for a container started as root, a fresh root-owned 0755 directory.
    if (uid !== 0) fs.chownSync(volume, uid!, gid!);
    fs.chmodSync(volume, uid === 0 ? 0o755 : 0o700);
  }
  const port = await freePort();
  const child = spawn(
    RUN_ROOTFS,
    [
      rootfs,
      dataDir,
      runDir,
      ids,
      EXECUTABLE,
      'run',
      '--port',
      String(port),
      '--listen',
      '127.0.0.1',
      '--pod-name',
      'smoke-pod',
      '--smart-shutdown-timeout',
      '2',
      ...args,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    },
  );
  return { manager: new Manager(child, dir, port), dataDir, runDir };
}

/** The host pid of PID 1 in the namespace: the only child of the unshare process we spawned. */
function pidOne(manager: Manager): number {
  const pid = manager.child.pid!;
  const children = fs
    .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
  expect(children).toHaveLength(1);
  return children[0]!;
}

/** psql over the unix socket in the run dir, as the OS user PostgreSQL runs as (peer authentication). */
async function psqlAs(uid: number, gid: number, runDir: string, port: number, sql: string): Promise<string> {
  const { stdout } = await execFileAsync(
    'setpriv',
    [
      '--reuid',
      String(uid),
      '--regid',
      String(gid),
      '--clear-groups',
      'psql',
      '-X',
      '-At',
      '-v',
      'ON_ERROR_STOP=1',
      '-h',
      path.join(runDir, 'run'),
      '-p',
      String(port),
      '-U',
      'postgres',
      '-d',
      'postgres',
      '-c',
      sql,
    ],
    {
      env: { PATH: process.env.PATH, PGCONNECT_TIMEOUT: '5' },
    },
  );
  return stdout.trim();
}

/** A client run to completion with stdin at EOF (s_client waits for input otherwise); stdout and stderr together. */
function runClosingStdin(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.once('close', (code) => resolve({ code, output }));
  });
}

async function stopWithSigterm(manager: Manager): Promise<number | null> {
  process.kill(pidOne(manager), 'SIGTERM');
  const timer = setTimeout(() => manager.child.kill('SIGKILL'), 60_000);
  const { code } = await manager.exited;
  clearTimeout(timer);
  return code;
}

function clusterState(pgdata: string): string {
  const output = execFileSync(`/usr/lib/postgresql/${PG_MAJOR}/bin/pg_controldata`, [pgdata], {
    encoding: 'utf8',
    env: { LANG: 'C', PATH: process.env.PATH },
  });
  return /^Database cluster state:\s+(.*)$/m.exec(output)?.[1] ?? output;
}

function isPostgresLine(line: LogLine, text: string): boolean {
  return line.logger === 'postgres' && JSON.stringify(line).includes(text);
}

function reaperProblems(manager: Manager): LogLine[] {
  return manager.lines.filter((line) => line.level === 'warning' && /reaper|tini/.test(line.msg));
}

/** The host pid of the process that is `nsPid` in the PID namespace of `pidOneHost`, if it still exists. */
function hostPidInNamespace(pidOneHost: number, nsPid: number): number | undefined {
  const namespace = fs.readlinkSync(`/proc/${pidOneHost}/ns/pid`);
  for (const entry of fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (fs.readlinkSync(`/proc/${entry}/ns/pid`) !== namespace) continue;
      const inner = /^NSpid:.*\s(\d+)$/m.exec(fs.readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1];
      if (Number(inner) === nsPid) return Number(entry);
    } catch {
      // Gone while we looked.
    }
  }
  return undefined;
}

function parentOf(hostPid: number): number {
  return Number(/^PPid:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/${hostPid}/status`, 'utf8'))?.[1]);
}

describe(`the image ${IMAGE}`, () => {
  let container = '';
  let rootfs = '';
  let config: ImageConfig;

  beforeAll(() => {
    container = buildah('from', '--pull=never', IMAGE);
    rootfs = buildah('mount', container);
    config = (JSON.parse(buildah('inspect', '--type', 'image', IMAGE)) as { OCIv1: { config: ImageConfig } }).OCIv1
      .config;
  });

  afterAll(() => {
    if (container) buildah('rm', container);
  });

  it('runs as uid 26 with the manager as entrypoint, contract paths as volumes, OCI labels', () => {
    expect(config.User).toBe('26');
    expect(config.Entrypoint).toEqual([EXECUTABLE, 'run']);
    expect(Object.keys(config.Volumes).sort()).toEqual(['/controller', '/var/lib/postgresql/data']);
    expect(config.Env).toEqual(
      expect.arrayContaining(['PGDATA=/var/lib/postgresql/data/pgdata', 'IM_RUN_DIR=/controller']),
    );
    for (const label of ['title', 'version', 'revision', 'created', 'licenses', 'base.name', 'base.digest'])
      expect(config.Labels).toHaveProperty(`org.opencontainers.image.${label}`);
    expect(passwdEntry(rootfs, 'postgres')).toEqual({ uid: 26, gid: 26 });
  });

  it('holds PostgreSQL, pgaudit and the executable, and no Node.js, npm, compiler or package lists', () => {
    expect(fs.existsSync(path.join(rootfs, `usr/lib/postgresql/${PG_MAJOR}/bin/postgres`))).toBe(true);
    expect(fs.existsSync(path.join(rootfs, `usr/lib/postgresql/${PG_MAJOR}/lib/pgaudit.so`))).toBe(true);
    expect(forbiddenPrograms(rootfs)).toEqual([]);
    expect(
      fs.existsSync(path.join(rootfs, 'usr/lib/node_modules')) ||
        fs.existsSync(path.join(rootfs, 'usr/local/lib/node_modules')),
    ).toBe(false);
    expect(
      fs.readdirSync(path.join(rootfs, 'var/lib/apt/lists')).filter((name) => name !== 'partial' && name !== 'lock'),
    ).toEqual([]);
    console.log(
      `image ${IMAGE}: ${buildah('images', '--format', '{{.Size}}', '--noheading', IMAGE)}; executable: ${fs.statSync(path.join(rootfs, EXECUTABLE)).size} bytes`,
    );
  });

  it('ships CycloneDX SBOMs where its labels say: the npm packages and Node.js in the executable, the Debian packages', () => {
    const read = (label: string) => {
      const file = config.Labels[label];
      expect(file, label).toMatch(/^\/usr\/share\/doc\/instance-manager\/.*\.cdx\.json$/);
      return JSON.parse(fs.readFileSync(path.join(rootfs, file!), 'utf8')) as {
        specVersion: string;
        components: { name: string; version: string; purl: string }[];
      };
    };
    const npm = read('org.pg-instance-manager.sbom.npm');
    expect(npm.specVersion).toBe('1.5');
    expect(npm.components.map((component) => component.name)).toEqual(
      expect.arrayContaining(['pg', 'pg-protocol', 'pino', 'node-forge', 'node']),
    );
    const os = read('org.pg-instance-manager.sbom.os');
    const known = execFileSync('chroot', [rootfs, 'dpkg-query', '-W', '-f', '${db:Status-Status} ${Package}\n'], {
      encoding: 'utf8',
    })
      .trim()
      .split('\n');
    const installed = known
      .filter((line) => line.startsWith('installed '))
      .map((line) => line.slice('installed '.length));
    expect(os.components.map((component) => component.name).sort()).toEqual(installed.sort());
    expect(os.components.find((component) => component.name === `postgresql-${PG_MAJOR}`)?.purl).toMatch(
      new RegExp(`^pkg:deb/debian/postgresql-${PG_MAJOR}@`),
    );
  });

  describe('run as PID 1, uid 26, read-only root filesystem', () => {
    let manager: Manager;
    let dataDir = '';
    let runDir = '';
    // The image's default is 8000 (EXPOSE, probes); tests on this shared machine never bind 8000.
    let statusPort = 0;

    beforeAll(async () => {
      statusPort = await freePort();
      ({ manager, dataDir, runDir } = await startInRootfs(
        rootfs,
        '26:26',
        Object.fromEntries(config.Env.map((entry) => entry.split(/=(.*)/s).slice(0, 2) as [string, string])),
        ['--status-port', String(statusPort), '--log-level', 'debug'],
      ));
      await manager.waitUntilReady();
    });

    afterAll(async () => {
      if (manager.child.exitCode === null) manager.child.kill('SIGKILL');
      await manager.exited;
      fs.rmSync(manager.dir, { recursive: true, force: true });
    });

    it('starts PostgreSQL from an empty volume and serves queries', async () => {
      expect(fs.existsSync(path.join(dataDir, 'pgdata', 'PG_VERSION'))).toBe(true);
      expect(fs.statSync(path.join(dataDir, 'pgdata')).uid).toBe(26);
      expect(
        await psqlAs(26, 26, runDir, manager.port, "SELECT current_setting('server_version_num')::int / 10000"),
      ).toBe(PG_MAJOR);
      // PID 1 in its own namespace: the process we signal is the manager itself.
      expect(fs.readFileSync(`/proc/${pidOne(manager)}/status`, 'utf8')).toMatch(/^NSpid:\s+\d+\s+1$/m);
    });

    it('writes only JSON lines in the contract shape on stdout, PostgreSQL records included', () => {
      expect(manager.strayStdout).toEqual([]);
      expect(manager.lines.length).toBeGreaterThan(5);
      for (const line of manager.lines) {
        expect(Object.keys(line).slice(0, 5)).toEqual(CONTRACT_KEYS);
        expect(line.logging_pod).toBe('smoke-pod');
      }
      expect(manager.lines.some((line) => line.msg === 'initializing a new data directory')).toBe(true);
      expect(manager.lines.some((line) => isPostgresLine(line, 'database system is ready to accept connections'))).toBe(
        true,
      );
    });

    it('loads the reaper addon shipped beside the executable', () => {
      expect(fs.existsSync(path.join(rootfs, REAPER_ADDON))).toBe(true);
      expect(reaperProblems(manager)).toEqual([]);
      const started = manager.lines.find((line) => line.msg === 'reaping orphaned processes');
      expect(started, manager.tail()).toMatchObject({ addon: REAPER_ADDON, subreaper: false });
    });

    it('reaps an orphan re-parented to it as PID 1', async () => {
      // The shell of COPY TO PROGRAM exits at once; its background sleep is orphaned to PID 1.
      const orphanFile = path.join(runDir, 'orphan.pid');
      await psqlAs(
        26,
        26,
        runDir,
        manager.port,
        "COPY (SELECT 1) TO PROGRAM 'sleep 2 </dev/null >/dev/null 2>&1 & echo $! >/controller/orphan.pid; cat >/dev/null'",
      );
      const managerPid = pidOne(manager);
      const orphan = hostPidInNamespace(managerPid, Number(fs.readFileSync(orphanFile, 'utf8')));
      expect(orphan, 'the orphan is running').toBeDefined();
      expect(parentOf(orphan!)).toBe(managerPid);
      // Once the sleep ends it is a zombie until PID 1 waits for it; reaped, it leaves /proc.
      await expect.poll(() => fs.existsSync(`/proc/${orphan}`), { timeout: 10_000, interval: 200 }).toBe(false);
    });

    it('answers the probes over HTTPS with the automatic server certificate', async () => {
      // Verified against the CA the manager made (contract: run-dir/certificates/server-ca.crt).
      const ca = fs.readFileSync(path.join(runDir, 'certificates', 'server-ca.crt'), 'utf8');
      const base = `https://127.0.0.1:${statusPort}`;
      await waitForStatusApi(base, { ca });
      for (const probe of ['/healthz', '/startupz', '/readyz'])
        expect((await ask(`${base}${probe}`, { ca })).status, probe).toBe(200);
    });

    it('accepts TLS 1.3 on the PostgreSQL port (openssl s_client -starttls postgres)', async () => {
      const { code, output } = await runClosingStdin('openssl', [
        's_client',
        '-starttls',
        'postgres',
        '-connect',
        `127.0.0.1:${manager.port}`,
        '-brief',
      ]);
      expect(output).toMatch(/Protocol version: TLSv1\.3/);
      expect(code, output).toBe(0);
    });

    it('stops cleanly on SIGTERM with exit code 0', async () => {
      const code = await stopWithSigterm(manager);
      expect(code, manager.stderr + manager.tail()).toBe(0);
      expect(manager.lines.some((line) => line.msg === 'shutdown finished')).toBe(true);
      expect(clusterState(path.join(dataDir, 'pgdata'))).toBe('shut down');
    });
  });
});

describe('the executable alone in a plain Debian PostgreSQL root filesystem (no Node.js)', () => {
  let manager: Manager;
  let runDir = '';
  let dataDir = '';
  let postgres: { uid: number; gid: number };

  beforeAll(async () => {
    const container = buildah('from', '--pull=never', IMAGE);
    try {
      // What an init container copies: the executable and the reaper addon beside it.
      const mounted = buildah('mount', container);
      for (const file of [EXECUTABLE, REAPER_ADDON]) {
        fs.copyFileSync(path.join(mounted, file), path.join(PLAIN_ROOTFS, file));
        fs.chmodSync(path.join(PLAIN_ROOTFS, file), 0o755);
      }
    } finally {
      buildah('rm', container);
    }
    postgres = passwdEntry(PLAIN_ROOTFS, 'postgres');
    expect(forbiddenPrograms(PLAIN_ROOTFS)).toEqual([]);
    // Started as root, the manager runs every PostgreSQL program as Debian's postgres user.
    ({ manager, dataDir, runDir } = await startInRootfs(
      PLAIN_ROOTFS,
      '0:0',
      { PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8' },
      ['--pgdata', '/var/lib/postgresql/data/pgdata', '--run-dir', '/controller', '--status-port', '0'],
    ));
    await manager.waitUntilReady();
  });

  afterAll(async () => {
    if (manager.child.exitCode === null) manager.child.kill('SIGKILL');
    await manager.exited;
    fs.rmSync(manager.dir, { recursive: true, force: true });
  });

  it('initializes, serves and stops PostgreSQL', async () => {
    expect(postgres.uid).not.toBe(26);
    expect(fs.statSync(path.join(dataDir, 'pgdata')).uid).toBe(postgres.uid);
    expect(await psqlAs(postgres.uid, postgres.gid, runDir, manager.port, 'SELECT 1')).toBe('1');
    expect(manager.strayStdout).toEqual([]);
    expect(reaperProblems(manager)).toEqual([]);
    expect(await stopWithSigterm(manager)).toBe(0);
    expect(clusterState(path.join(dataDir, 'pgdata'))).toBe('shut down');
  });
});
