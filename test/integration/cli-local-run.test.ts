/**
 * The commands a person runs beside a manager: `status` with what a local run wrote, `logs pretty`
 * on the stream a real run printed (a file, a live pipe, a terminal), and `--version`.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, runCli, scratchDir, startManager, waitFor, type Manager } from '../support/manager.js';

const execFileAsync = promisify(execFile);
const HEAD = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (ERROR|WARNING|INFO|DEBUG) +(\S+) (\S+) /;
// eslint-disable-next-line no-control-regex -- what is looked for is an ANSI escape
const ANSI = /\x1b\[[0-9;]*m/;

describe('beside a local run', () => {
  let manager: Manager;
  let captured = '';

  beforeAll(async () => {
    const dir = scratchDir('cli-local');
    fs.writeFileSync(
      path.join(dir, 'custom.conf'),
      ["shared_preload_libraries = 'pgaudit'", "pgaudit.log = 'write'"].join('\n'),
    );
    manager = await startManager({ dir, status: 'https', args: ['--config', path.join(dir, 'custom.conf')] });
    await manager.waitUntilReady();
  });

  afterAll(async () => {
    await manager.stop();
  });

  it('status: the command run logs works as printed, and the run dir alone is enough for the CA', async () => {
    const logged = await manager.waitForMessage('call the status API');
    const command = String(logged.command).split(' ');
    expect(command.slice(0, 4)).toEqual([BIN, 'status', '--url', expect.stringMatching(/^https:\/\/localhost:\d+$/)]);
    const printed = await execFileAsync(process.execPath, command);
    expect(printed.stdout).toMatch(/^role: +primary \(ready\)$/m);

    const fromRunDir = await runCli(['status', '--url', manager.statusBase], { IM_RUN_DIR: manager.runDir });
    expect(fromRunDir).toMatchObject({ code: 0, stdout: expect.stringMatching(/^role: +primary/m) });
  });

  it('operator actions: the operator certificate a local run issued is used without flags', async () => {
    const operatorCert = path.join(manager.runDir, 'pki', 'operator.crt');
    const subject = execFileSync('openssl', ['x509', '-in', operatorCert, '-noout', '-subject'], { encoding: 'utf8' });
    expect(subject).toMatch(/CN ?= ?instance-manager-operator/);
    const reload = await runCli(['reload', '--url', manager.statusBase], { IM_RUN_DIR: manager.runDir });
    expect(reload).toMatchObject({ code: 0, stdout: expect.stringMatching(/reloaded/) });
  });

  it('status: with nothing written where it looks, exit 2 and the flag to pass', async () => {
    const empty = scratchDir('no-run');
    const env = { ...process.env };
    delete env.IM_RUN_DIR;
    const child = spawn(process.execPath, [BIN, 'status', '--url', manager.statusBase], {
      cwd: empty,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /^instance-manager: no server CA at \.data\/run\/certificates\/server-ca\.crt \(ENOENT\).*pass --ca FILE/,
    );
  });

  it('logs pretty: every line of a real run kept, levels and fields right, no colour off a terminal', async () => {
    await manager.psql('CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)');
    await expect(manager.psql('INSERT INTO t VALUES (1)')).rejects.toThrow(/duplicate key/);
    await expect(manager.psql('SELECT 1 +\n  FROM nowhere')).rejects.toThrow(/syntax error/);
    expect(await manager.stop()).toBe(0);
    expect(manager.strayStdout).toEqual([]);
    const input = [...manager.lines.map((line) => JSON.stringify(line)), 'a line that is not JSON'];
    captured = path.join(manager.dir, 'captured.jsonl');
    fs.writeFileSync(captured, `${input.join('\n')}\n`);

    const { code, stdout, stderr } = await runCli(['logs', 'pretty', captured]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).not.toMatch(ANSI);
    const printed = stdout.trimEnd().split('\n');
    // A line per input line; only the continuation of a multi-line value is indented.
    const heads = printed.filter((line) => !line.startsWith('    '));
    expect(heads).toHaveLength(input.length);
    expect(heads.at(-1)).toBe('a line that is not JSON');
    heads.slice(0, -1).forEach((head, index) => {
      const line = manager.lines[index]!;
      expect(head, JSON.stringify(line)).toMatch(HEAD);
      const [, level, pod, logger] = HEAD.exec(head)!;
      expect([level, pod, logger]).toEqual([line.level.toUpperCase(), 'test-pod', line.logger]);
    });
    const duplicate = heads.find((head) => head.includes('duplicate key value'));
    expect(duplicate).toMatch(
      /ERROR +test-pod postgres +duplicate key value violates unique constraint "t_pkey" {2}user=postgres@postgres sqlstate=23505 detail="Key \(id\)=\(1\) already exists\." statement="INSERT INTO t VALUES \(1\)"$/,
    );
    const syntax = printed.findIndex((line) => line.includes('syntax error at or near "FROM"'));
    expect(printed.slice(syntax, syntax + 2).join('\n')).toMatch(/statement="SELECT 1 \+\n {4} {2}FROM nowhere"$/);
    expect(heads.find((head) => / pgaudit +AUDIT: SESSION WRITE INSERT/.test(head))).toMatch(
      / {2}user=postgres@postgres statement="CREATE TABLE t .*INSERT INTO t VALUES \(1\)"$/,
    );

    const errorsOnly = await runCli(
      ['logs', 'pretty', '--level', 'error', '--logger', 'postgres'],
      {},
      input.join('\n'),
    );
    const shown = errorsOnly.stdout
      .trimEnd()
      .split('\n')
      .filter((line) => !line.startsWith('    '));
    expect(shown.filter((line) => line.includes('duplicate key') || line.includes('syntax error'))).toHaveLength(2);
    expect(shown.every((line) => / ERROR +test-pod postgres /.test(line) || line === 'a line that is not JSON')).toBe(
      true,
    );
  });

  it('logs pretty: colours on a terminal, and none there with NO_COLOR', () => {
    const onTerminal = (env: NodeJS.ProcessEnv) =>
      execFileSync('script', ['-qec', `${process.execPath} ${BIN} logs pretty ${captured}`, '/dev/null'], {
        encoding: 'utf8',
        env: { ...process.env, TERM: 'xterm', ...env },
      });
    const coloured = onTerminal({});
    expect(coloured).toMatch(ANSI);
    expect(coloured).toContain('\x1b[32mINFO   \x1b[0m');
    const env = { ...process.env, TERM: 'xterm', NO_COLOR: '1' };
    expect(
      execFileSync('script', ['-qec', `${process.execPath} ${BIN} logs pretty ${captured}`, '/dev/null'], {
        encoding: 'utf8',
        env,
      }),
    ).not.toMatch(ANSI);
  });
});

describe('logs pretty on a live stream', () => {
  it('prints each line as it arrives, long before the stream ends', async () => {
    const child = spawn(process.execPath, [BIN, 'logs', 'pretty'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const lines = ['first', 'second', 'third'].map((msg) =>
      JSON.stringify({
        level: 'info',
        ts: new Date().toISOString(),
        logger: 'instance-manager',
        msg,
        logging_pod: 'p',
      }),
    );
    for (const [index, line] of lines.entries()) {
      child.stdin.write(`${line}\n`);
      // The writer holds the next line back until this one is out: a reader that waited for more
      // input, or for the end, would never print it.
      await waitFor(`line ${index + 1} printed`, () => stdout.split('\n').length === index + 2, 30_000, 20);
    }
    child.stdin.write('half a line');
    child.stdin.end();
    expect(await exited).toBe(0);
    expect(
      stdout
        .trimEnd()
        .split('\n')
        .map((line) => line.split(' ').at(-1)),
    ).toEqual(['first', 'second', 'third', 'line']);
  });
});

describe('instance-manager --version', () => {
  it('says the version, the commit built, Node and the PostgreSQL binaries, as text and as JSON', async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const json = await runCli(['version', '--json']);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as {
      version: string;
      commit: string;
      node: string;
      postgres: { bin: string; major: number; version: string };
    };
    expect(report).toMatchObject({ version, node: process.version });
    expect(report.commit).toMatch(new RegExp(`^${head}(-dirty)?$`));
    const printed = execFileSync(path.join(report.postgres.bin, 'postgres'), ['-V'], { encoding: 'utf8' });
    expect(printed).toContain(`(PostgreSQL) ${report.postgres.version}`);
    expect(report.postgres.version.startsWith(`${report.postgres.major}.`)).toBe(true);

    const text = await runCli(['--version']);
    expect(text).toMatchObject({ code: 0, stderr: '' });
    expect(text.stdout).toBe(
      `instance-manager ${version} (commit ${report.commit})\nNode.js ${process.version}\nPostgreSQL ${report.postgres.version} in ${report.postgres.bin}\n`,
    );
  });

  it('still answers without PostgreSQL binaries, and says why there are none', async () => {
    const { code, stdout } = await runCli(['version', '--json'], { IM_PG_BIN: '/nonexistent' });
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as { postgres: { error: string } }).postgres.error).toMatch(
      /not found \(looked in --pg-bin \/nonexistent\)/,
    );
  });
});
