/**
 * A bare PostgreSQL with TLS files of the test's choosing, started with pg_ctl as the `postgres` user:
 * the judge for certificates (libpq verify-full, cert authentication) independent of the manager.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from './manager.js';

const PG_BIN = fs
  .readdirSync('/usr/lib/postgresql')
  .filter((name) => /^\d+$/.test(name))
  .sort((a, b) => Number(b) - Number(a))
  .map((version) => `/usr/lib/postgresql/${version}/bin`)[0]!;

function asPostgres(program: string, args: string[]): string {
  const result = spawnSync('runuser', ['-u', 'postgres', '--', path.join(PG_BIN, program), ...args], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`${program} failed: ${result.stderr}${result.stdout}`);
  return result.stdout;
}

export interface TlsFiles {
  certPem: string;
  keyPem: string;
  /** CA of client certificates (ssl_ca_file), for cert authentication. */
  clientCaPem: string;
}

export class TlsPostgres {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  get pgdata(): string {
    return path.join(this.dir, 'pgdata');
  }

  /** initdb, TLS on with `files`, `hostssl all all all cert`, listening on 127.0.0.1. */
  static async start(dir: string, files: TlsFiles): Promise<TlsPostgres> {
    const server = new TlsPostgres(dir, await freePort());
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    fs.mkdirSync(server.pgdata, { mode: 0o700 });
    // The directory also holds the unix socket, which PostgreSQL creates.
    execFileSync('chown', ['postgres:postgres', dir, server.pgdata]);
    asPostgres('initdb', [
      '-D',
      server.pgdata,
      '-U',
      'postgres',
      '--auth-local',
      'trust',
      '--no-sync',
      '--no-instructions',
    ]);
    server.install(files);
    fs.appendFileSync(
      path.join(server.pgdata, 'postgresql.conf'),
      [
        `port = ${server.port}`,
        `listen_addresses = '127.0.0.1'`,
        `unix_socket_directories = '${server.dir}'`,
        'ssl = on',
        `ssl_cert_file = 'server.crt'`,
        `ssl_key_file = 'server.key'`,
        `ssl_ca_file = 'client-ca.crt'`,
        'ssl_min_protocol_version = TLSv1.3',
        'fsync = off',
        '',
      ].join('\n'),
    );
    fs.writeFileSync(
      path.join(server.pgdata, 'pg_hba.conf'),
      'local all all trust\nhostssl all all 127.0.0.1/32 cert\n',
    );
    const log = path.join(server.pgdata, 'server.log');
    try {
      asPostgres('pg_ctl', ['-D', server.pgdata, '-l', log, '-w', '-t', '30', 'start']);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${fs.readFileSync(log, 'utf8').split('\n').slice(-5).join('\n')}`);
    }
    return server;
  }

  /** Puts new TLS files in place; `reload()` makes PostgreSQL read them. */
  install(files: TlsFiles): void {
    const write = (name: string, content: string, mode: number) => {
      const file = path.join(this.pgdata, name);
      fs.writeFileSync(file, content, { mode });
      execFileSync('chown', ['postgres:postgres', file]);
    };
    write('server.crt', files.certPem, 0o644);
    write('server.key', files.keyPem, 0o600);
    write('client-ca.crt', files.clientCaPem, 0o644);
  }

  reload(): void {
    asPostgres('pg_ctl', ['-D', this.pgdata, 'reload']);
  }

  /** SQL over the unix socket (trust), e.g. to create roles. */
  sql(statement: string): string {
    return execFileSync(
      'psql',
      [
        '-X',
        '-At',
        '-v',
        'ON_ERROR_STOP=1',
        '-h',
        this.dir,
        '-p',
        String(this.port),
        '-U',
        'postgres',
        '-d',
        'postgres',
        '-c',
        statement,
      ],
      { encoding: 'utf8' },
    ).trim();
  }

  stop(): void {
    asPostgres('pg_ctl', ['-D', this.pgdata, '-m', 'immediate', '-w', 'stop']);
  }
}

/** psql over TCP with the given connection keywords; exit status and output, so tests can show a refusal. */
export function psqlTcp(
  conninfo: Record<string, string>,
  sql = 'SELECT current_user',
): { ok: boolean; output: string } {
  const dsn = Object.entries(conninfo)
    .map(([key, value]) => `${key}='${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`)
    .join(' ');
  try {
    const output = execFileSync('psql', ['-X', '-At', '-c', sql, dsn], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PGCONNECT_TIMEOUT: '5' },
    });
    return { ok: true, output: output.trim() };
  } catch (error) {
    const failed = error as { stderr?: string };
    return { ok: false, output: String(failed.stderr ?? error).trim() };
  }
}
