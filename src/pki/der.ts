/**
 * Reading X.509 structures forge cannot load as certificates: forge's certificate parser stops at any
 * public key that is not RSA, so the parts the PKI needs (subject name, extensions) are read here from
 * the ASN.1 tree, which works for every key type.
 */
import net from 'node:net';
import forge from 'node-forge';
import { CertificateError } from './types.js';

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;

export const OID = {
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** Bits of the keyUsage BIT STRING's first octet (RFC 5280 4.2.1.3). */
export const KEY_USAGE = { digitalSignature: 0x80, keyEncipherment: 0x20, keyCertSign: 0x04, cRLSign: 0x02 } as const;

interface Extension {
  critical: boolean;
  /** DER of the extension value (the OCTET STRING's content). */
  value: string;
}

export interface CertificateStructure {
  tbs: Asn1;
  subject: Asn1;
  extensions: Map<string, Extension>;
}

export const binary = (bytes: Buffer): string => bytes.toString('latin1');
export const bufferOf = (bytes: string): Buffer => Buffer.from(bytes, 'latin1');

function children(node: Asn1 | undefined, what: string): Asn1[] {
  if (!node || !Array.isArray(node.value)) throw new CertificateError(`malformed certificate: ${what} is not a structure`);
  return node.value;
}

function bytesOf(node: Asn1 | undefined, what: string): string {
  if (!node || typeof node.value !== 'string') throw new CertificateError(`malformed certificate: ${what} is not a value`);
  return node.value;
}

export function readCertificateStructure(der: Buffer): CertificateStructure {
  let certificate: Asn1;
  try {
    certificate = asn1.fromDer(binary(der));
  } catch (error) {
    throw new CertificateError(`malformed certificate: ${(error as Error).message}`);
  }
  const tbs = children(certificate, 'the certificate')[0]!;
  const fields = children(tbs, 'tbsCertificate');
  // v3 certificates start with the explicit [0] version; v1 ones do not.
  const offset = fields[0]?.tagClass === asn1.Class.CONTEXT_SPECIFIC ? 1 : 0;
  const subject = fields[offset + 4];
  if (!subject) throw new CertificateError('malformed certificate: no subject');
  const extensions = new Map<string, Extension>();
  const wrapper = fields.find((field) => field.tagClass === asn1.Class.CONTEXT_SPECIFIC && field.type === 3);
  for (const extension of wrapper ? children(children(wrapper, 'extensions')[0], 'extensions') : []) {
    const parts = children(extension, 'an extension');
    const critical = parts.length === 3 && bytesOf(parts[1], 'critical') !== '\x00';
    extensions.set(asn1.derToOid(bytesOf(parts[0], 'an extension id')), { critical, value: bytesOf(parts[parts.length - 1], 'an extension value') });
  }
  return { tbs, subject, extensions };
}

export function subjectKeyIdentifier(structure: CertificateStructure): string | undefined {
  const extension = structure.extensions.get(OID.subjectKeyIdentifier);
  return extension && bytesOf(asn1.fromDer(extension.value), 'subjectKeyIdentifier');
}

/** basicConstraints cA, read directly: Node's `X509Certificate.ca` also folds the key usage in. */
export function isCaCertificate(structure: CertificateStructure): boolean {
  const extension = structure.extensions.get(OID.basicConstraints);
  if (!extension) return false;
  const first = children(asn1.fromDer(extension.value), 'basicConstraints')[0];
  return first?.type === asn1.Type.BOOLEAN && first.value !== '\x00';
}

export function keyUsageBits(structure: CertificateStructure): number | undefined {
  const extension = structure.extensions.get(OID.keyUsage);
  if (!extension) return undefined;
  // The BIT STRING's content: one octet of unused-bit count, then the bits.
  return bytesOf(asn1.fromDer(extension.value), 'keyUsage').charCodeAt(1) || 0;
}

export function extendedKeyUsage(structure: CertificateStructure): string[] {
  const extension = structure.extensions.get(OID.extKeyUsage);
  if (!extension) return [];
  return children(asn1.fromDer(extension.value), 'extKeyUsage').map((purpose) => {
    const oid = asn1.derToOid(bytesOf(purpose, 'a key purpose'));
    return oid === OID.serverAuth ? 'serverAuth' : oid === OID.clientAuth ? 'clientAuth' : oid;
  });
}

export function subjectAltNames(structure: CertificateStructure): { dnsNames: string[]; ipAddresses: string[] } {
  const names = { dnsNames: [] as string[], ipAddresses: [] as string[] };
  const extension = structure.extensions.get(OID.subjectAltName);
  if (!extension) return names;
  for (const name of children(asn1.fromDer(extension.value), 'subjectAltName')) {
    if (name.tagClass !== asn1.Class.CONTEXT_SPECIFIC) continue;
    if (name.type === 2) names.dnsNames.push(bytesOf(name, 'a DNS name'));
    if (name.type === 7) names.ipAddresses.push(ipFromBytes(bufferOf(bytesOf(name, 'an IP address'))));
  }
  return names;
}

export function commonNameOf(name: Asn1): string | undefined {
  for (const rdn of children(name, 'a name')) {
    for (const attribute of children(rdn, 'a name')) {
      const [type, value] = children(attribute, 'a name attribute');
      if (asn1.derToOid(bytesOf(type, 'an attribute type')) === OID.commonName) return forge.util.decodeUtf8(bytesOf(value, 'a common name'));
    }
  }
  return undefined;
}

function ipFromBytes(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  if (bytes.length !== 16) return bytes.toString('hex');
  return canonicalIp(Array.from({ length: 8 }, (_, index) => bytes.readUInt16BE(index * 2).toString(16)).join(':'));
}

/** One spelling per address (IPv6 compressed, lower case), so names given and names read compare. */
export function canonicalIp(ip: string): string {
  // The URL parser prints IPv6 in its canonical compressed form.
  return net.isIPv6(ip) ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip;
}

export function isIpAddress(name: string): boolean {
  return net.isIP(name) !== 0;
}

export function derToPem(der: Buffer, label = 'CERTIFICATE'): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
