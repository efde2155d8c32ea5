import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import {
  isOwnedParameter,
  managedSettings,
  parseUserParameters,
  postmasterOptions,
  quoteValue,
  renderCustomConf,
  renderSettingsDoc,
  withCustomConfInclude,
  withoutFixedSettings,
  type RenderContext,
} from '../../src/config/index.js';
import { SETTINGS } from '../../src/config/managed-settings.js';
import { UsageError } from '../../src/errors.js';

describe('parseUserParameters', () => {
  it.each([
    ['work_mem = 8MB', 'work_mem', '8MB'],
    ['work_mem=8MB', 'work_mem', '8MB'],
    ['work_mem 8MB', 'work_mem', '8MB'],
    ['search_path = \'"$user", public\'', 'search_path', '"$user", public'],
    ["application_name = 'it''s'", 'application_name', "it's"],
    ["application_name = 'a\\'b'", 'application_name', "a'b"],
    ["application_name = 'tab\\there'", 'application_name', 'tab\there'],
    ["log_line_prefix = '%m # not a comment' # a comment", 'log_line_prefix', '%m # not a comment'],
    ['Shared_Buffers = 128MB', 'shared_buffers', '128MB'],
    ['pgaudit.log = all', 'pgaudit.log', 'all'],
  ])('reads %s', (line, key, value) => {
    expect(parseUserParameters(line, 'f.conf').get(key)).toBe(value);
  });

  it('skips blank lines and comments', () => {
    expect(parseUserParameters('\n# comment\n   \nwork_mem = 1MB\n', 'f').size).toBe(1);
  });

  it.each([
    'port = 5433',
    'listen_addresses = *',
    'ssl = off',
    'log_rotation_age = 1d',
    'ssl_passphrase_command_supports_reload = on',
    "include 'other.conf'",
    "include_dir = 'conf.d'",
    'PRIMARY_CONNINFO = x',
  ])('refuses the managed parameter in %s, naming it', (line) => {
    const key = line.split(/[ =]/)[0]!.toLowerCase();
    expect(() => parseUserParameters(line, '/etc/extra.conf')).toThrow(UsageError);
    expect(() => parseUserParameters(line, '/etc/extra.conf')).toThrow(
      new RegExp(`/etc/extra.conf:1: parameter "${key}"`),
    );
  });

  it.each([
    ['= 5', /not a "key = value" line/],
    ['work_mem =', /missing value|not a "key = value"/],
    ["work_mem = '8MB", /unterminated/],
    ['search_path = a b', /must be quoted/],
  ])('refuses the malformed line %s with its line number', (line, message) => {
    expect(() => parseUserParameters(`# first\n${line}`, 'x.conf')).toThrow(message);
    expect(() => parseUserParameters(`# first\n${line}`, 'x.conf')).toThrow(/x\.conf:2/);
  });
});

describe('quoteValue', () => {
  it.each(['plain', "it's", 'back\\slash', 'new\nline', 'tab\t'])('round-trips %j through the parser', (value) => {
    expect(parseUserParameters(`k = ${quoteValue(value)}`, 'f').get('k')).toBe(value);
  });

  it('never lets a value end the line', () => {
    expect(quoteValue("x'\nport = 1")).not.toContain('\n');
  });
});

describe('ownership', () => {
  it.each([
    'log_destination',
    'LOGGING_COLLECTOR',
    'log_rotation_size',
    'ssl_crl_file',
    'data_directory',
    'restore_command',
    'restart_after_crash',
    'ssl_min_protocol_version',
    'password_encryption',
    'primary_slot_name',
    'recovery_target_timeline',
    'allow_alter_system',
    'archive_mode',
    'archive_command',
    'include_dir',
  ])('%s is owned', (key) => {
    expect(isOwnedParameter(key)).toBe(true);
  });
  it.each([
    'work_mem',
    'log_statement',
    'log_min_duration_statement',
    'wal_sender_timeout',
    'shared_preload_libraries',
  ])("%s is the user's", (key) => {
    expect(isOwnedParameter(key)).toBe(false);
  });

  it('refuses every fixed setting of the table in --config and accepts every default', () => {
    for (const row of SETTINGS) {
      const parse = () => parseUserParameters(`${row.name} = x`, 'c.conf');
      if (row.kind === 'fixed')
        expect(parse, row.name).toThrow(new RegExp(`c.conf:1: parameter "${row.name}" is fixed`));
      else expect(parse(), row.name).toEqual(new Map([[row.name, 'x']]));
    }
  });
});

const context: RenderContext = {
  pgdata: '/data',
  port: 5432,
  listen: '*',
  socketDir: '/controller/run',
  logDirectory: undefined,
  tls: undefined,
  pgMajor: 15,
  allowAlterSystem: false,
  supplied: new Map(),
};

describe('managedSettings', () => {
  const fixed = (c: RenderContext) => new Map(managedSettings(c).fixed);

  it('renders every fixed setting with a value, and the defaults apart', () => {
    const { defaults } = managedSettings(context);
    expect(fixed(context).get('restart_after_crash')).toBe('off');
    expect(fixed(context).get('ssl_min_protocol_version')).toBe('TLSv1.3');
    expect(fixed(context).get('password_encryption')).toBe('scram-sha-256');
    expect(fixed(context).get('hba_file')).toBe('/data/pg_hba.conf');
    expect(defaults).toEqual([
      ['wal_sender_timeout', '5s'],
      ['wal_receiver_timeout', '5s'],
      ['wal_keep_size', '512MB'],
    ]);
  });

  it.each([
    [13, false, undefined],
    [16, false, undefined],
    [17, false, 'off'],
    [17, true, undefined],
  ])('PostgreSQL %i with allowAlterSystem %s: allow_alter_system = %s', (pgMajor, allowAlterSystem, value) => {
    expect(fixed({ ...context, pgMajor, allowAlterSystem }).get('allow_alter_system')).toBe(value);
  });

  it('renders supplied fixed settings (standby, archiving) and only those supplied', () => {
    const supplied = new Map([
      ['primary_conninfo', 'host=p'],
      ['archive_command', 'pgbackrest archive-push %p'],
    ]);
    const settings = fixed({ ...context, supplied });
    expect(settings.get('primary_conninfo')).toBe('host=p');
    expect(settings.get('archive_command')).toBe('pgbackrest archive-push %p');
    expect(settings.has('restore_command')).toBe(false);
  });

  it.each(['work_mem', 'port', 'wal_sender_timeout', 'data_directory'])(
    'refuses to be supplied %s, which is not a supplied fixed setting',
    (name) => {
      expect(() => managedSettings({ ...context, supplied: new Map([[name, 'x']]) })).toThrow(name);
    },
  );

  it('gives the postmaster every fixed setting as -c, values unquoted', () => {
    const options = postmasterOptions(managedSettings({ ...context, pgMajor: 17 }));
    expect(options.filter((option) => option === '-c').length).toBe(
      managedSettings({ ...context, pgMajor: 17 }).fixed.length,
    );
    expect(options).toContain('allow_alter_system=off');
    expect(options).toContain('ssl_crl_file=');
    expect(options).not.toContain('wal_sender_timeout=5s');
  });
});

describe('renderCustomConf', () => {
  const render = (c: Partial<RenderContext>, user = new Map<string, string>()) =>
    renderCustomConf(managedSettings({ ...context, ...c }), user);

  it('renders the managed settings and the secure defaults', () => {
    const text = render({});
    expect(text).toContain("port = '5432'");
    expect(text).toContain("unix_socket_directories = '/controller/run'");
    expect(text).toContain("restart_after_crash = 'off'");
    expect(text).toContain("password_encryption = 'scram-sha-256'");
    expect(text).toContain("ssl_min_protocol_version = 'TLSv1.3'");
  });

  it('puts user parameters last, replacing a default rather than repeating it', () => {
    const text = render(
      {},
      new Map([
        ['wal_sender_timeout', '30s'],
        ['work_mem', '8MB'],
      ]),
    );
    const lines = text.trim().split('\n');
    expect(lines.at(-1)).toBe("work_mem = '8MB'");
    expect(lines.filter((line) => line.startsWith('wal_sender_timeout'))).toEqual(["wal_sender_timeout = '30s'"]);
  });

  it('sends the log to the FIFOs when a log directory is given', () => {
    const text = render({ logDirectory: '/controller/log' });
    expect(text).toContain("logging_collector = 'on'");
    expect(text).toContain("log_destination = 'csvlog'");
    expect(text).toContain("log_directory = '/controller/log'");
    expect(text).toContain("log_filename = 'postgres'");
    expect(text).toContain("log_rotation_size = '0'");
  });

  it('turns TLS on with the given files', () => {
    const text = render({
      tls: { certFile: '/c/server.crt', keyFile: '/c/server.key', clientCaFile: '/c/client-ca.crt' },
    });
    expect(text).toContain("ssl = 'on'");
    expect(text).toContain("ssl_ca_file = '/c/client-ca.crt'");
  });
});

describe('withoutFixedSettings', () => {
  it('takes fixed settings out of postgresql.auto.conf and keeps the rest', () => {
    const autoConf = [
      '# Do not edit this file manually!',
      "log_destination = 'stderr'",
      "work_mem = '8MB'",
      "Restart_After_Crash = 'on'",
      "ssl_min_protocol_version 'TLSv1'  # by hand",
      '',
    ].join('\n');
    expect(withoutFixedSettings(autoConf)).toEqual({
      text: "# Do not edit this file manually!\nwork_mem = '8MB'\n",
      removed: [
        { name: 'log_destination', line: 2 },
        { name: 'restart_after_crash', line: 4 },
        { name: 'ssl_min_protocol_version', line: 5 },
      ],
    });
  });

  it('leaves a file without fixed settings as it is', () => {
    const autoConf = "# header\nwork_mem = '8MB'\n";
    expect(withoutFixedSettings(autoConf)).toEqual({ text: autoConf, removed: [] });
  });
});

describe('docs/settings.md', () => {
  it('holds the table the code renders (IM_UPDATE_DOCS=1 rewrites it)', () => {
    const file = new URL('../../docs/settings.md', import.meta.url);
    const current = fs.readFileSync(file, 'utf8');
    const updated = withSettingsTable(current, renderSettingsDoc());
    if (process.env.IM_UPDATE_DOCS === '1') fs.writeFileSync(file, updated);
    expect(
      current,
      'docs/settings.md differs from src/config/managed-settings.ts: run IM_UPDATE_DOCS=1 npx vitest run test/unit/settings.test.ts',
    ).toBe(updated);
  });
});

describe('withCustomConfInclude', () => {
  it('appends the include once', () => {
    const once = withCustomConfInclude('max_connections = 100');
    expect(once).toBe("max_connections = 100\ninclude 'custom.conf'\n");
    expect(withCustomConfInclude(once)).toBe(once);
  });
});

const BEGIN = '<!-- settings table: generated from src/config/managed-settings.ts -->';
const END = '<!-- end of settings table -->';

/** The document with the text between its two markers replaced by `table`. */
function withSettingsTable(document: string, table: string): string {
  const begin = document.indexOf(BEGIN);
  const end = document.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`docs/settings.md lacks the markers ${BEGIN} ... ${END}`);
  return `${document.slice(0, begin + BEGIN.length)}\n${table}${document.slice(end)}`;
}
