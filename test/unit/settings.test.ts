import { describe, expect, it } from 'vitest';
import { isOwnedParameter, parseUserParameters, quoteValue, renderCustomConf, withCustomConfInclude } from '../../src/config/index.js';
import { UsageError } from '../../src/errors.js';

describe('parseUserParameters', () => {
  it.each([
    ['work_mem = 8MB', 'work_mem', '8MB'],
    ['work_mem=8MB', 'work_mem', '8MB'],
    ['work_mem 8MB', 'work_mem', '8MB'],
    ["search_path = '\"$user\", public'", 'search_path', '"$user", public'],
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
    expect(() => parseUserParameters(line, '/etc/extra.conf')).toThrow(new RegExp(`/etc/extra.conf:1: parameter "${key}"`));
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
  it.each(["plain", "it's", 'back\\slash', 'new\nline', 'tab\t'])('round-trips %j through the parser', (value) => {
    expect(parseUserParameters(`k = ${quoteValue(value)}`, 'f').get('k')).toBe(value);
  });

  it('never lets a value end the line', () => {
    expect(quoteValue("x'\nport = 1")).not.toContain('\n');
  });
});

describe('ownership', () => {
  it.each(['log_destination', 'LOGGING_COLLECTOR', 'log_rotation_size', 'ssl_crl_file', 'data_directory', 'restore_command'])('%s is owned', (key) => {
    expect(isOwnedParameter(key)).toBe(true);
  });
  it.each(['work_mem', 'log_statement', 'log_min_duration_statement', 'ssl_min_protocol_version', 'shared_preload_libraries'])('%s is the user\'s', (key) => {
    expect(isOwnedParameter(key)).toBe(false);
  });
});

describe('renderCustomConf', () => {
  const base = { port: 5432, listen: '*', socketDir: '/controller/run', logDirectory: undefined, tls: undefined, extra: new Map(), user: new Map() };

  it('renders the managed settings and the secure defaults', () => {
    const text = renderCustomConf(base);
    expect(text).toContain("port = '5432'");
    expect(text).toContain("unix_socket_directories = '/controller/run'");
    expect(text).toContain("restart_after_crash = 'off'");
    expect(text).toContain("password_encryption = 'scram-sha-256'");
    expect(text).toContain("ssl_min_protocol_version = 'TLSv1.3'");
  });

  it('puts user parameters last, replacing a default rather than repeating it', () => {
    const text = renderCustomConf({ ...base, user: new Map([['wal_sender_timeout', '30s'], ['work_mem', '8MB']]) });
    const lines = text.trim().split('\n');
    expect(lines.at(-1)).toBe("work_mem = '8MB'");
    expect(lines.filter((line) => line.startsWith('wal_sender_timeout'))).toEqual(["wal_sender_timeout = '30s'"]);
  });

  it('sends the log to the FIFOs when a log directory is given', () => {
    const text = renderCustomConf({ ...base, logDirectory: '/controller/log' });
    expect(text).toContain("logging_collector = 'on'");
    expect(text).toContain("log_destination = 'csvlog'");
    expect(text).toContain("log_directory = '/controller/log'");
    expect(text).toContain("log_filename = 'postgres'");
    expect(text).toContain("log_rotation_size = '0'");
  });

  it('turns TLS on with the given files', () => {
    const text = renderCustomConf({ ...base, tls: { certFile: '/c/server.crt', keyFile: '/c/server.key', clientCaFile: '/c/client-ca.crt' } });
    expect(text).toContain("ssl = 'on'");
    expect(text).toContain("ssl_ca_file = '/c/client-ca.crt'");
  });
});

describe('withCustomConfInclude', () => {
  it('appends the include once', () => {
    const once = withCustomConfInclude('max_connections = 100');
    expect(once).toBe("max_connections = 100\ninclude 'custom.conf'\n");
    expect(withCustomConfInclude(once)).toBe(once);
  });
});
