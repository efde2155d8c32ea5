/**
 * openssl as the judge of what the PKI issues, and as the maker of certificates it did not issue
 * (ECDSA and Ed25519 CAs, intermediates, as cert-manager would mount them).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** `openssl verify`: its exit status and what it printed, so a test can show why it refused. */
export function opensslVerify(
  dir: string,
  leafPem: string,
  caPem: string,
  options: { untrusted?: string; at?: Date; purpose?: 'sslserver' | 'sslclient' } = {},
): { ok: boolean; output: string } {
  const write = (name: string, content: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, content);
    return file;
  };
  const args = ['verify', '-CAfile', write('verify-ca.pem', caPem)];
  if (options.untrusted) args.push('-untrusted', write('verify-untrusted.pem', options.untrusted));
  if (options.at) args.push('-attime', String(Math.floor(options.at.getTime() / 1000)));
  if (options.purpose) args.push('-purpose', options.purpose);
  args.push(write('verify-leaf.pem', leafPem));
  const result = spawnSync('openssl', args, { encoding: 'utf8' });
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}`.trim() };
}

export function certificateText(pem: string): string {
  return openssl(['x509', '-noout', '-text'], pem);
}

export type OpensslKeyType = 'rsa' | 'P-256' | 'P-384' | 'ed25519';

export interface OpensslPair {
  certPem: string;
  keyPem: string;
}

function newKeyArgs(type: OpensslKeyType): string[] {
  if (type === 'rsa') return ['-newkey', 'rsa:2048'];
  if (type === 'ed25519') return ['-newkey', 'ed25519'];
  return ['-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${type}`];
}

/**
 * A certificate made by openssl in `dir`: self-signed when `issuer` is absent, else signed by it.
 * `extensions` are openssl config lines (e.g. `basicConstraints=critical,CA:TRUE`).
 */
export function opensslCertificate(
  dir: string,
  options: { name: string; cn: string; key: OpensslKeyType; extensions: string[]; issuer?: OpensslPair; days?: number },
): OpensslPair {
  const file = (suffix: string) => path.join(dir, `${options.name}.${suffix}`);
  const extensions = file('ext');
  fs.writeFileSync(extensions, `[ext]\n${options.extensions.join('\n')}\n`);
  const days = String(options.days ?? 30);
  if (options.issuer) {
    fs.writeFileSync(file('issuer.crt'), options.issuer.certPem);
    fs.writeFileSync(file('issuer.key'), options.issuer.keyPem);
    openssl([
      'req',
      '-new',
      ...newKeyArgs(options.key),
      '-nodes',
      '-keyout',
      file('key'),
      '-out',
      file('csr'),
      '-subj',
      `/CN=${options.cn}`,
    ]);
    openssl([
      'x509',
      '-req',
      '-in',
      file('csr'),
      '-CA',
      file('issuer.crt'),
      '-CAkey',
      file('issuer.key'),
      '-set_serial',
      `0x${Date.now().toString(16)}`,
      '-days',
      days,
      '-extfile',
      extensions,
      '-extensions',
      'ext',
      '-out',
      file('crt'),
    ]);
  } else {
    openssl([
      'req',
      '-x509',
      ...newKeyArgs(options.key),
      '-nodes',
      '-keyout',
      file('key'),
      '-out',
      file('crt'),
      '-subj',
      `/CN=${options.cn}`,
      '-days',
      days,
      '-config',
      extensions,
      '-extensions',
      'ext',
    ]);
  }
  return { certPem: fs.readFileSync(file('crt'), 'utf8'), keyPem: fs.readFileSync(file('key'), 'utf8') };
}

export const CA_EXTENSIONS = [
  'basicConstraints=critical,CA:TRUE',
  'keyUsage=critical,keyCertSign,cRLSign',
  'subjectKeyIdentifier=hash',
  'authorityKeyIdentifier=keyid',
];
