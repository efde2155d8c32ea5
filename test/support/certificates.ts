/** Certificates made with the openssl CLI, so tests check our TLS against a tool we did not write. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface Pem {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function load(certFile: string, keyFile: string): Pem {
  return { cert: fs.readFileSync(certFile, 'utf8'), key: fs.readFileSync(keyFile, 'utf8'), certFile, keyFile };
}

/** A self-signed CA (`<name>.crt`, `<name>.key` in dir). */
export function makeCa(dir: string, name: string, commonName = `${name} test CA`): Pem {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  openssl(['req', '-x509', '-new', ...EC_KEY, '-keyout', keyFile, '-out', certFile, '-subj', `/CN=${commonName}`, '-days', '30']);
  return load(certFile, keyFile);
}

/** A leaf the CA signs: a server certificate for `localhost`/127.0.0.1, or a client certificate. */
export function makeLeaf(dir: string, name: string, ca: Pem, options: { commonName: string; usage: 'server' | 'client' }): Pem {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const extensions = path.join(dir, `${name}.ext`);
  fs.writeFileSync(
    extensions,
    options.usage === 'server' ? 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' : 'extendedKeyUsage=clientAuth\n',
  );
  openssl(['req', '-new', ...EC_KEY, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${options.commonName}`]);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', String(Date.now()), '-out', certFile, '-days', '30', '-extfile', extensions]);
  return load(certFile, keyFile);
}
