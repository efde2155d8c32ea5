/**
 * `instance-manager certificate ca|server|client|inspect`: the PKI at a terminal, for people who run
 * their own CA or need a client certificate for a PostgreSQL user (what `kubectl cnpg certificate` gives).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { errorMessage, UsageError } from '../errors.js';
import {
  CertificateError,
  certificateFile,
  checkCa,
  createCa,
  daysLeft,
  inspectCertificate,
  issueClientCertificate,
  issueServerCertificate,
  splitCertificates,
  type CertificateMaterial,
} from '../pki/index.js';
import { parseDays, parseList } from './parse.js';

const CA_FILES = { cert: 'ca.crt', key: 'ca.key' };
const LEAF_FILES = { cert: 'tls.crt', key: 'tls.key' };

/** A CertificateError says what is wrong with the content; the CLI adds which input it came from. */
async function naming<T>(input: string, work: () => T | Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof CertificateError) throw new UsageError(`${input}: ${error.message}`);
    throw error;
  }
}

function readInput(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === 'ENOENT'
        ? `${what}: ${file} does not exist`
        : `${what}: cannot read ${file} (${code ?? errorMessage(error)})`,
    );
  }
}

/** Reads `ca.crt` and `ca.key` from `--ca DIR` and checks, now, that they can sign. */
async function readCa(dir: string): Promise<CertificateMaterial> {
  const certFile = path.join(dir, CA_FILES.cert);
  const keyFile = path.join(dir, CA_FILES.key);
  const certPem = readInput(certFile, '--ca');
  if (!fs.existsSync(keyFile))
    throw new UsageError(`--ca: ${dir} has ${CA_FILES.cert} but no ${CA_FILES.key}; a CA cannot sign without its key`);
  const ca = { certPem, keyPem: readInput(keyFile, '--ca') };
  await naming(`--ca ${dir}`, () => checkCa(ca, new Date()));
  return ca;
}

/** A CA key is never overwritten: every certificate it signed would lose its issuer. */
function refuseExistingCaKey(dir: string): void {
  const keyFile = path.join(dir, CA_FILES.key);
  if (fs.existsSync(keyFile))
    throw new UsageError(`--out: ${keyFile} already exists; move it away first (a CA key is never overwritten)`);
}

/** Writes the pair into `--out DIR`: the key 0600 from its first byte, the certificate 0644. */
function writePair(dir: string, names: { cert: string; key: string }, material: CertificateMaterial): void {
  const keyFile = path.join(dir, names.key);
  try {
    fs.mkdirSync(dir, { recursive: true });
    // A new file, so an older key file's wider mode never applies to the new key.
    fs.rmSync(keyFile, { force: true });
    fs.writeFileSync(keyFile, material.keyPem, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, names.cert), certificateFile(material), { mode: 0o644 });
  } catch (error) {
    throw new UsageError(
      `--out: cannot write into ${dir} (${(error as NodeJS.ErrnoException).code ?? errorMessage(error)})`,
    );
  }
}

function daysOption(): Option {
  return new Option('--days <n>', 'validity in days');
}

interface CaFlags {
  out: string;
  cn: string;
  days?: string;
}

interface LeafFlags {
  ca: string;
  out?: string;
  days?: string;
}

interface ServerFlags extends LeafFlags {
  out: string;
  names: string;
}

interface ClientFlags extends LeafFlags {
  user: string;
  format: string;
  secretName?: string;
}

function caCommand(): Command {
  return new Command('ca')
    .description('create a self-signed CA (ca.crt, ca.key)')
    .requiredOption('--out <dir>', 'directory to write ca.crt and ca.key into')
    .requiredOption('--cn <name>', 'common name of the CA')
    .addOption(daysOption())
    .action(async (flags: CaFlags) => {
      const days = flags.days === undefined ? undefined : parseDays('--days', flags.days);
      refuseExistingCaKey(flags.out);
      const ca = await naming('--cn', () => createCa({ commonName: flags.cn, days, now: new Date() }));
      writePair(flags.out, CA_FILES, ca);
    });
}

function serverCommand(): Command {
  return new Command('server')
    .description('issue a server certificate (tls.crt, tls.key); the first name is the common name')
    .requiredOption('--ca <dir>', 'directory holding ca.crt and ca.key')
    .requiredOption('--names <list>', 'comma list of DNS names and IP addresses')
    .requiredOption('--out <dir>', 'directory to write tls.crt and tls.key into')
    .addOption(daysOption())
    .action(async (flags: ServerFlags) => {
      const names = parseList('--names', flags.names);
      const days = flags.days === undefined ? undefined : parseDays('--days', flags.days);
      const ca = await readCa(flags.ca);
      const server = await naming('--names', () => issueServerCertificate(ca, { names, days, now: new Date() }));
      writePair(flags.out, LEAF_FILES, server);
    });
}

function clientCommand(): Command {
  return new Command('client')
    .description('issue a client certificate whose common name is the PostgreSQL user')
    .requiredOption('--ca <dir>', 'directory holding ca.crt and ca.key')
    .requiredOption('--user <name>', 'PostgreSQL user (the common name)')
    .option('--out <dir>', 'directory to write tls.crt and tls.key into (required with --format pem)')
    .addOption(daysOption())
    .addOption(
      new Option('--format <format>', 'pem files, or a kubernetes.io/tls Secret on stdout')
        .choices(['pem', 'k8s-secret'])
        .default('pem'),
    )
    .option('--secret-name <name>', 'name of the Secret (--format k8s-secret); default <user>-client-cert')
    .action(async (flags: ClientFlags) => {
      if (flags.format === 'pem' && flags.out === undefined) throw new UsageError('--out: required with --format pem');
      const days = flags.days === undefined ? undefined : parseDays('--days', flags.days);
      const ca = await readCa(flags.ca);
      const client = await naming('--user', () =>
        issueClientCertificate(ca, { user: flags.user, days, now: new Date() }),
      );
      if (flags.out !== undefined) writePair(flags.out, LEAF_FILES, client);
      if (flags.format === 'k8s-secret')
        process.stdout.write(tlsSecret(flags.secretName ?? `${dnsLabel(flags.user)}-client-cert`, client));
    });
}

/** A user name as a Kubernetes object name: lower case, other characters as dashes. */
function dnsLabel(user: string): string {
  return (
    user
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'user'
  );
}

export function tlsSecret(name: string, material: CertificateMaterial): string {
  const base64 = (text: string) => Buffer.from(text).toString('base64');
  const info = inspectCertificate(material.certPem);
  return [
    'apiVersion: v1',
    'kind: Secret',
    'type: kubernetes.io/tls',
    'metadata:',
    `  name: ${JSON.stringify(name)}`,
    '  labels:',
    `    app.kubernetes.io/managed-by: instance-manager`,
    '  annotations:',
    `    instance-manager/user: ${JSON.stringify(info.commonName ?? '')}`,
    `    instance-manager/not-after: ${JSON.stringify(info.notAfter.toISOString())}`,
    'data:',
    `  tls.crt: ${base64(certificateFile(material))}`,
    `  tls.key: ${base64(material.keyPem)}`,
    '',
  ].join('\n');
}

function inspectCommand(): Command {
  return new Command('inspect')
    .description('print a PEM certificate (and the rest of its bundle) as JSON')
    .argument('<file>', 'PEM file')
    .action(async (file: string) => {
      const pem = readInput(file, 'inspect');
      const now = new Date();
      const [first, ...rest] = await naming(file, () => splitCertificates(pem).map((block) => describe(block, now)));
      const report = rest.length === 0 ? first : { ...first, chain: rest };
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    });
}

function describe(pem: string, now: Date): Record<string, unknown> {
  const info = inspectCertificate(pem);
  return {
    subject: info.subject,
    issuer: info.issuer,
    commonName: info.commonName,
    dnsNames: info.dnsNames,
    ipAddresses: info.ipAddresses,
    notBefore: info.notBefore.toISOString(),
    notAfter: info.notAfter.toISOString(),
    daysLeft: daysLeft(info, now),
    isCa: info.isCa,
    selfSigned: info.selfSigned,
    extendedKeyUsage: info.extendedKeyUsage,
    keyAlgorithm: info.keyAlgorithm,
    serialNumber: info.serialNumber,
    fingerprint256: info.fingerprint256,
  };
}

export function certificateCommand(): Command {
  const command = new Command('certificate')
    .description('issue and inspect certificates')
    .addCommand(caCommand())
    .addCommand(serverCommand())
    .addCommand(clientCommand())
    .addCommand(inspectCommand());
  for (const sub of command.commands) sub.exitOverride().configureOutput({ outputError: () => undefined });
  return command;
}
