import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/run.js';
import type { RunOptions } from '../../src/instance/options.js';
import {
  connectionUri,
  pgpassLine,
  planRole,
  parseRoles,
  quoteIdent,
  quoteLiteral,
  saslPrep,
  scramVerifier,
  verifierMatches,
  type ActualRole,
  type RoleIntent,
} from '../../src/roles/index.js';

/** Verifiers PostgreSQL 15 stored for these passwords (CREATE ROLE ... PASSWORD, password_encryption = scram-sha-256). */
const POSTGRES_MADE: [string, string][] = [
  [
    'correct horse battery staple',
    'SCRAM-SHA-256$4096:48UVag42ITXnZT+TAT6HcA==$FgaTFOl/FLdIZqkf/nUIcYvGccHLKof5FW+DbCHXsRE=:aMyUmVc7BKhC3Mn9puNV2Ckhp2ZR3xJ/IWaPQFXQI0c=',
  ],
  [
    'pässwörd',
    'SCRAM-SHA-256$4096:LS7a/bJcF94WowqGlqN1wg==$YmkViKxpyTQ1xeYA/9Mb5aQTmEhfNLUuXsPYNVgTpEw=:8WyY69b675+oiZAcbA9Ov3zPleKV4ahqe3dLN6crm8g=',
  ],
  // Full-width letters: SASLprep's NFKC makes them "pass".
  [
    'ｐａｓｓ',
    'SCRAM-SHA-256$4096:kISc34gFUlmxAPWHXmCoRw==$0LqJTVSxA4xGVYvmwbC1spqkqmYx4bSaEq0iq06OcNY=:J1SCS2Iuoi/8QsKD8PyM8PneB/umz6FoZyapgeLyHjs=',
  ],
  // A soft hyphen is mapped to nothing.
  [
    'a\u00ADb',
    'SCRAM-SHA-256$4096:EVheYUsToJsK4ogAr2AHtQ==$sQXp35TjnvwjcAyPwjzGW2gUMJgh/n7mslq4By1BCfI=:skd5DqGp9dGA1kF+NW5uu/heRM9gHvTRDtQkIIP0gAg=',
  ],
];

describe('SCRAM-SHA-256 verifiers', () => {
  it.each(POSTGRES_MADE)('computes what PostgreSQL stores for %j, from the same salt', (password, stored) => {
    const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(stored)!;
    expect(scramVerifier(password, Buffer.from(salt!, 'base64'), Number(iterations))).toBe(stored);
    expect(verifierMatches(stored, password)).toBe(true);
    expect(verifierMatches(stored, `${password}x`)).toBe(false);
  });

  it('uses a fresh 16-byte salt and 4096 iterations', () => {
    const [first, second] = [scramVerifier('secret'), scramVerifier('secret')];
    expect(first).not.toBe(second);
    expect(first).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
    expect(verifierMatches(first, 'secret')).toBe(true);
  });

  it.each([[null], ['md5d3ab6c7a5b8b4d4e8a6b1b7c2d9e0f11'], ['SCRAM-SHA-256$0:AAAA$AAAA:AAAA'], ['garbage']])(
    'never matches %j',
    (stored) => {
      expect(verifierMatches(stored, 'secret')).toBe(false);
    },
  );

  it('leaves ASCII alone and uses text SASLprep refuses as it is, as PostgreSQL does', () => {
    expect(saslPrep('plain\tascii')).toBe('plain\tascii');
    expect(saslPrep('a\u00A0b')).toBe('a b');
    expect(saslPrep('é\u0007')).toBe('é\u0007');
  });
});

const parseFile = (text: string) => parseRoles(text, 'roles.yaml', ['postgres', 'streaming_replica', 'app'], parse);

describe('parseRoles', () => {
  it("reads a role with every key, and fills CloudNativePG's defaults", () => {
    const [full, bare] = parseFile(
      [
        '- name: alice',
        '  login: true',
        '  superuser: false',
        '  createdb: true',
        '  createrole: true',
        '  inherit: false',
        '  replication: true',
        '  bypassrls: true',
        '  connectionLimit: 5',
        '  validUntil: "2030-01-01T00:00:00Z"',
        '  inRoles: [readers, writers]',
        '  comment: analyst',
        '  passwordSecret: alice-pw',
        '  ensure: present',
        '- name: readers',
      ].join('\n'),
    );
    expect(full).toEqual({
      name: 'alice',
      ensure: 'present',
      login: true,
      superuser: false,
      createdb: true,
      createrole: true,
      inherit: false,
      replication: true,
      bypassrls: true,
      connectionLimit: 5,
      validUntil: Date.parse('2030-01-01T00:00:00Z'),
      inRoles: ['readers', 'writers'],
      comment: 'analyst',
      passwordSecret: 'alice-pw',
    });
    expect(bare).toMatchObject({
      login: false,
      inherit: true,
      connectionLimit: -1,
      validUntil: undefined,
      inRoles: [],
      comment: undefined,
      passwordSecret: undefined,
      ensure: 'present',
    });
  });

  it('reads an empty file as no roles', () => {
    expect(parseFile('')).toEqual([]);
    expect(parseFile('# none yet\n')).toEqual([]);
  });

  it.each([
    ['name: alice', /must be a YAML list/],
    ['- login: true', /role 1: name must be a non-empty string/],
    ['- name: postgres', /"postgres": is managed by instance-manager/],
    ['- name: app', /"app": is managed by instance-manager/],
    ['- name: pg_monitor', /names starting with pg_ are reserved/],
    [`- name: ${'x'.repeat(64)}`, /longer than 63 bytes/],
    ['- name: a\n- name: a', /role 2 "a": is declared twice/],
    ['- name: a\n  logn: true', /unknown key "logn"/],
    ['- name: a\n  login: "yes"', /login must be true or false/],
    ['- name: a\n  connectionLimit: -2', /connectionLimit must be an integer/],
    ['- name: a\n  validUntil: tomorrow', /validUntil must be an ISO 8601 timestamp/],
    ['- name: a\n  inRoles: readers', /inRoles must be a list/],
    ['- name: a\n  inRoles: [a]', /cannot be a member of itself/],
    ['- name: a\n  ensure: gone', /ensure must be "present" or "absent"/],
    ['- name: a\n  passwordSecret: ../etc', /passwordSecret must be the name of a directory/],
    ['- name: a\n  name: b', /not valid YAML/],
    ['- [unclosed', /not valid YAML/],
  ])('refuses %j by name', (text, message) => {
    expect(() => parseFile(text)).toThrow(message);
  });
});

const existing = (overrides: Partial<ActualRole> = {}): ActualRole => ({
  name: 'alice',
  login: true,
  superuser: false,
  createdb: false,
  createrole: false,
  inherit: true,
  replication: false,
  bypassrls: false,
  connectionLimit: -1,
  validUntil: undefined,
  password: null,
  memberOf: [],
  comment: null,
  ...overrides,
});
const declared = (overrides: Partial<RoleIntent> = {}): RoleIntent => ({
  name: 'alice',
  ensure: 'present',
  attributes: {
    login: true,
    superuser: false,
    createdb: false,
    createrole: false,
    inherit: true,
    replication: false,
    bypassrls: false,
    connectionLimit: -1,
    validUntil: undefined,
  },
  password: { kind: 'keep' },
  inRoles: [],
  comment: null,
  ...overrides,
});
const verifier = () => 'SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy';

describe('planRole', () => {
  it.each<[string, RoleIntent, ActualRole | undefined, string[]]>([
    [
      'creates a missing role with its attributes, comment and groups',
      declared({ inRoles: ['readers'], comment: 'x' }),
      undefined,
      [
        'CREATE ROLE "alice" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS',
        `COMMENT ON ROLE "alice" IS E'x'`,
        'GRANT "readers" TO "alice"',
      ],
    ],
    ['does nothing when the role is as declared', declared(), existing(), []],
    [
      'changes only what differs',
      declared({ attributes: { ...declared().attributes, createdb: true, connectionLimit: 3 } }),
      existing(),
      ['ALTER ROLE "alice" WITH CREATEDB CONNECTION LIMIT 3'],
    ],
    [
      'sets and clears an expiry',
      declared({ attributes: { ...declared().attributes, validUntil: Date.parse('2030-01-01T00:00:00Z') } }),
      existing(),
      [`ALTER ROLE "alice" WITH VALID UNTIL E'2030-01-01T00:00:00.000Z'`],
    ],
    [
      'clears an expiry the file no longer gives',
      declared(),
      existing({ validUntil: 1 }),
      [`ALTER ROLE "alice" WITH VALID UNTIL E'infinity'`],
    ],
    [
      'grants what is missing and revokes what is not declared',
      declared({ inRoles: ['writers'] }),
      existing({ memberOf: ['readers'] }),
      ['GRANT "writers" TO "alice"', 'REVOKE "readers" FROM "alice"'],
    ],
    ['drops a role declared absent', declared({ ensure: 'absent' }), existing(), ['DROP ROLE "alice"']],
    ['does nothing for an absent role that is absent', declared({ ensure: 'absent' }), undefined, []],
    [
      'removes a comment the file no longer gives',
      declared(),
      existing({ comment: 'old' }),
      ['COMMENT ON ROLE "alice" IS NULL'],
    ],
    [
      'leaves unmanaged attributes, groups and comment alone',
      { name: 'alice', ensure: 'present', attributes: { login: true }, password: { kind: 'keep' } },
      existing({ createdb: true, memberOf: ['readers'], comment: 'kept' }),
      [],
    ],
    [
      'sends a verifier for a new password',
      declared({ password: { kind: 'set', password: 'secret' } }),
      existing({ password: 'md5abc' }),
      [`ALTER ROLE "alice" WITH PASSWORD E'${verifier()}'`],
    ],
    [
      'sends nothing when the stored verifier already matches',
      declared({ password: { kind: 'set', password: 'secret' } }),
      existing({ password: scramVerifier('secret') }),
      [],
    ],
    [
      'removes a password that should not be',
      declared({ password: { kind: 'none' } }),
      existing({ password: 'md5abc' }),
      ['ALTER ROLE "alice" WITH PASSWORD NULL'],
    ],
  ])('%s', (_name, intent, actual, statements) => {
    expect(planRole(intent, actual, verifier).statements).toEqual(statements);
  });

  it('never puts the password itself in a statement or in the changes it reports', () => {
    const plan = planRole(declared({ password: { kind: 'set', password: 'TopSecret1' } }), undefined, (password) =>
      scramVerifier(password),
    );
    expect(JSON.stringify(plan)).not.toContain('TopSecret1');
    expect(plan.changes).toEqual(['created', 'password']);
  });

  it('quotes identifiers and literals so that no name or comment escapes them', () => {
    expect(quoteIdent('we"ird')).toBe('"we""ird"');
    expect(quoteLiteral("it's a \\ path")).toBe("E'it''s a \\\\ path'");
    expect(
      planRole(declared({ name: 'x"; DROP ROLE postgres; --', comment: "'; DROP" }), undefined, verifier).statements[1],
    ).toBe(`COMMENT ON ROLE "x""; DROP ROLE postgres; --" IS E'''; DROP'`);
  });
});

describe('generated credentials', () => {
  const connection = {
    host: 'db.example',
    port: 5432,
    database: 'app',
    username: 'app',
    password: 'p:a\\ss/@?',
    serverCaFile: '/controller/certificates/server-ca.crt',
  };

  it('escapes a .pgpass line as libpq reads it', () => {
    expect(pgpassLine(connection)).toBe('db.example:5432:app:app:p\\:a\\\\ss/@?\n');
  });

  it('makes a verify-full URI with the server CA, the password encoded', () => {
    const uri = new URL(connectionUri(connection));
    expect(decodeURIComponent(uri.password)).toBe(connection.password);
    expect(uri.searchParams.get('sslmode')).toBe('verify-full');
    expect(uri.searchParams.get('sslrootcert')).toBe(connection.serverCaFile);
    expect(`${uri.hostname}:${uri.port}${uri.pathname}`).toBe('db.example:5432/app');
  });
});

describe('access flags', () => {
  const optionsFor = async (args: string[]): Promise<RunOptions> => {
    let resolved: RunOptions | undefined;
    await runCommand(async (options) => {
      resolved = options;
      return 0;
    }).parseAsync(args, { from: 'user' });
    process.exitCode = undefined;
    return resolved!;
  };

  it("defaults to an app database owned by app, and --app-database '' skips it", async () => {
    expect(await optionsFor([])).toMatchObject({ appDatabase: 'app', appOwner: 'app', rolesFile: undefined });
    expect((await optionsFor(['--app-database', ''])).appDatabase).toBeUndefined();
    expect((await optionsFor(['--roles', 'roles.yaml'])).rolesFile).toMatch(/^\/.*\/roles\.yaml$/);
  });

  it.each([
    [['--app-owner', 'streaming_replica'], /--app-owner: "streaming_replica" is reserved/],
    [['--app-database', 'template1'], /--app-database: "template1" is reserved/],
    [['--app-owner', 'pg_app'], /--app-owner: "pg_app" is not a usable name/],
    [['--app-database', 'x'.repeat(64)], /--app-database: "x+" is not a usable name/],
  ])('refuses %j naming the flag', async (args, message) => {
    await expect(optionsFor(args)).rejects.toThrow(message);
  });
});
