/**
 * Certificates made by openssl (an independent judge of what the manager accepts) and Secret
 * volumes laid out the way the kubelet writes them: files are symlinks through `..data`, which
 * points at a timestamped directory and is swapped by a rename.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export type KeyType = 'rsa' | 'ecdsa' | 'ed25519';

export interface Pem {
  crt: string;
  key: string;
}

function keyArgs(type: KeyType): string[] {
  if (type === 'rsa') return ['-newkey', 'rsa:2048'];
  if (type === 'ecdsa') return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  return ['-newkey', 'ed25519'];
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await execFileAsync('openssl', args, { cwd });
}

/** A self-signed CA; `work` is a scratch directory for openssl's files. */
export async function opensslCa(work: string, cn: string, type: KeyType = 'ecdsa', days = 365): Promise<Pem> {
  fs.mkdirSync(work, { recursive: true });
  await openssl(['req', '-x509', ...keyArgs(type), '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', `/CN=${cn}`, '-days', String(days),
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], work);
  return { crt: fs.readFileSync(path.join(work, 'ca.crt'), 'utf8'), key: fs.readFileSync(path.join(work, 'ca.key'), 'utf8') };
}

export interface LeafRequest {
  cn: string;
  /** DNS names and IPs; a server certificate when given, a client certificate otherwise. */
  names?: string[];
  type?: KeyType;
  days?: number;
}

/** A leaf signed by `ca`. */
export async function opensslLeaf(work: string, ca: Pem, request: LeafRequest): Promise<Pem> {
  fs.mkdirSync(work, { recursive: true });
  fs.writeFileSync(path.join(work, 'ca.crt'), ca.crt);
  fs.writeFileSync(path.join(work, 'ca.key'), ca.key, { mode: 0o600 });
  const extensions = request.names
    ? ['extendedKeyUsage=serverAuth', `subjectAltName=${request.names.map((name) => (/^[\d.]+$|:/.test(name) ? `IP:${name}` : `DNS:${name}`)).join(',')}`]
    : ['extendedKeyUsage=clientAuth'];
  fs.writeFileSync(path.join(work, 'ext.cnf'), ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', ...extensions].join('\n'));
  await openssl(['req', '-new', ...keyArgs(request.type ?? 'ecdsa'), '-nodes', '-keyout', 'tls.key', '-out', 'tls.csr', '-subj', `/CN=${request.cn}`], work);
  await openssl(['x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', String(Date.now()), '-days', String(request.days ?? 90), '-extfile', 'ext.cnf', '-out', 'tls.crt'], work);
  return { crt: fs.readFileSync(path.join(work, 'tls.crt'), 'utf8'), key: fs.readFileSync(path.join(work, 'tls.key'), 'utf8') };
}

let generation = 0;

/**
 * Writes a Secret volume the way the kubelet updates one: a new timestamped directory, a
 * `..data_tmp` symlink to it renamed over `..data`, then the old directory removed.
 * Keys get `keyMode` (a Secret with fsGroup gives 0640).
 */
export function writeKubeletVolume(dir: string, files: Record<string, string>, keyMode = 0o640): void {
  fs.mkdirSync(dir, { recursive: true });
  const previous = readLinkOrUndefined(path.join(dir, '..data'));
  const stamp = `..${new Date().toISOString().replace(/[-:.]/g, '_')}.${process.pid}.${generation++}`;
  fs.mkdirSync(path.join(dir, stamp));
  for (const [name, content] of Object.entries(files)) {
    fs.writeFileSync(path.join(dir, stamp, name), content, { mode: name.endsWith('.key') ? keyMode : 0o644 });
    fs.chmodSync(path.join(dir, stamp, name), name.endsWith('.key') ? keyMode : 0o644);
  }
  fs.symlinkSync(stamp, path.join(dir, '..data_tmp'));
  fs.renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  for (const name of Object.keys(files)) {
    if (readLinkOrUndefined(path.join(dir, name)) === undefined) fs.symlinkSync(path.join('..data', name), path.join(dir, name));
  }
  if (previous !== undefined) fs.rmSync(path.join(dir, previous), { recursive: true, force: true });
}

function readLinkOrUndefined(link: string): string | undefined {
  try {
    return fs.readlinkSync(link);
  } catch {
    return undefined;
  }
}

export interface SecretsMaterial {
  serverCa: Pem;
  clientCa: Pem;
  server: Pem;
  replication: Pem;
}

/** A complete provided-mode secrets dir (server-tls, server-ca, client-ca, replication-tls). */
export async function opensslSecretsDir(secretsDir: string, work: string, serverNames: string[], type: KeyType = 'ecdsa'): Promise<SecretsMaterial> {
  const serverCa = await opensslCa(path.join(work, 'server-ca'), 'test server CA', type);
  const clientCa = await opensslCa(path.join(work, 'client-ca'), 'test client CA', type);
  const server = await opensslLeaf(path.join(work, 'server'), serverCa, { cn: serverNames[0]!, names: serverNames, type });
  const replication = await opensslLeaf(path.join(work, 'replication'), clientCa, { cn: 'streaming_replica', type });
  writeKubeletVolume(path.join(secretsDir, 'server-ca'), { 'ca.crt': serverCa.crt });
  writeKubeletVolume(path.join(secretsDir, 'client-ca'), { 'ca.crt': clientCa.crt });
  writeKubeletVolume(path.join(secretsDir, 'server-tls'), { 'tls.crt': server.crt, 'tls.key': server.key });
  writeKubeletVolume(path.join(secretsDir, 'replication-tls'), { 'tls.crt': replication.crt, 'tls.key': replication.key });
  return { serverCa, clientCa, server, replication };
}

/** The certificate a server presents, as PEM, through `openssl s_client -starttls postgres`. */
export async function servedCertificate(port: number, host = '127.0.0.1'): Promise<string> {
  const running = execFileAsync('openssl', ['s_client', '-starttls', 'postgres', '-connect', `${host}:${port}`], { timeout: 10_000 });
  running.child.stdin!.end();
  const { stdout } = await running;
  const match = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(stdout);
  if (!match) throw new Error(`no certificate in the s_client output:\n${stdout}`);
  return `${match[0]}\n`;
}
