/**
 * Certificates made by openssl (an independent judge of what the manager accepts) and Secret
 * volumes laid out the way the kubelet writes them: files are symlinks through `..data`, which
 * points at a timestamped directory and is swapped by a rename.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { CA_EXTENSIONS, opensslCertificate, type OpensslKeyType, type OpensslPair } from './openssl.js';

const execFileAsync = promisify(execFile);

/** A self-signed CA made by openssl in `work`. */
export function opensslCa(work: string, cn: string, key: OpensslKeyType = 'P-256'): OpensslPair {
  fs.mkdirSync(work, { recursive: true });
  return opensslCertificate(work, { name: 'ca', cn, key, extensions: CA_EXTENSIONS, days: 365 });
}

/** A leaf signed by `ca`: a server certificate for `names` when given, else a client certificate. */
export function opensslLeaf(
  work: string,
  ca: OpensslPair,
  request: { cn: string; names?: string[]; key?: OpensslKeyType },
): OpensslPair {
  fs.mkdirSync(work, { recursive: true });
  const usage = request.names
    ? [
        'extendedKeyUsage=serverAuth',
        `subjectAltName=${request.names.map((name) => (/^[\d.]+$|:/.test(name) ? `IP:${name}` : `DNS:${name}`)).join(',')}`,
      ]
    : ['extendedKeyUsage=clientAuth'];
  return opensslCertificate(work, {
    name: 'leaf',
    cn: request.cn,
    key: request.key ?? 'P-256',
    issuer: ca,
    days: 90,
    extensions: ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', ...usage],
  });
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
    if (readLinkOrUndefined(path.join(dir, name)) === undefined)
      fs.symlinkSync(path.join('..data', name), path.join(dir, name));
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
  serverCa: OpensslPair;
  clientCa: OpensslPair;
  server: OpensslPair;
  replication: OpensslPair;
}

/** A complete provided-mode secrets dir (server-tls, server-ca, client-ca, replication-tls). */
export function opensslSecretsDir(
  secretsDir: string,
  work: string,
  serverNames: string[],
  key: OpensslKeyType = 'P-256',
): SecretsMaterial {
  const serverCa = opensslCa(path.join(work, 'server-ca'), 'test server CA', key);
  const clientCa = opensslCa(path.join(work, 'client-ca'), 'test client CA', key);
  const server = opensslLeaf(path.join(work, 'server'), serverCa, { cn: serverNames[0]!, names: serverNames, key });
  const replication = opensslLeaf(path.join(work, 'replication'), clientCa, { cn: 'streaming_replica', key });
  writeKubeletVolume(path.join(secretsDir, 'server-ca'), { 'ca.crt': serverCa.certPem });
  writeKubeletVolume(path.join(secretsDir, 'client-ca'), { 'ca.crt': clientCa.certPem });
  writeKubeletVolume(path.join(secretsDir, 'server-tls'), { 'tls.crt': server.certPem, 'tls.key': server.keyPem });
  writeKubeletVolume(path.join(secretsDir, 'replication-tls'), {
    'tls.crt': replication.certPem,
    'tls.key': replication.keyPem,
  });
  return { serverCa, clientCa, server, replication };
}

/** The certificate a server presents, as PEM, through `openssl s_client -starttls postgres`. */
export async function servedCertificate(port: number, host = '127.0.0.1'): Promise<string> {
  const running = execFileAsync('openssl', ['s_client', '-starttls', 'postgres', '-connect', `${host}:${port}`], {
    timeout: 10_000,
  });
  running.child.stdin!.end();
  const { stdout } = await running;
  const match = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(stdout);
  if (!match) throw new Error(`no certificate in the s_client output:\n${stdout}`);
  return `${match[0]}\n`;
}
