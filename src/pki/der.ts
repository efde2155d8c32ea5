/**
 * Reading X.509 structures: the parts the PKI needs beyond what Node's X509Certificate offers
 * (subject name, extensions), read from the DER, which works for every key type. Reading needs no
 * forge: a warm start checks the certificates it kept without loading it (see issue.ts).
 */
import net from 'node:net';
import { CertificateError } from './types.js';

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
  value: Buffer;
}

export interface CertificateStructure {
  /** DER of the subject Name, byte for byte. */
  subject: Buffer;
  extensions: Map<string, Extension>;
}

export const binary = (bytes: Buffer): string => bytes.toString('latin1');
export const bufferOf = (bytes: string): Buffer => Buffer.from(bytes, 'latin1');

const CONTEXT_SPECIFIC = 2;
const TAG = { boolean: 1, octetString: 4, oid: 6 } as const;

/** One DER element (X.690): tag class and number, and where its content and the whole of it lie. */
interface Element {
  tagClass: number;
  tag: number;
  content: Buffer;
  /** Tag, length and content. */
  der: Buffer;
}

function malformed(what: string): CertificateError {
  return new CertificateError(`malformed certificate: ${what}`);
}

/** The element at `offset`; throws on anything DER does not allow or that runs past the end. */
function readElement(bytes: Buffer, offset: number, what: string): Element {
  const first = bytes[offset];
  let lengthByte = bytes[offset + 1];
  if (first === undefined || lengthByte === undefined) throw malformed(`${what} is truncated`);
  // High tag numbers (0x1f) never occur in the certificate parts read here.
  if ((first & 0x1f) === 0x1f) throw malformed(`${what} has an unsupported tag`);
  let position = offset + 2;
  let length = lengthByte;
  if (lengthByte & 0x80) {
    const count = lengthByte & 0x7f;
    if (count === 0 || count > 4) throw malformed(`${what} has an invalid length`);
    length = 0;
    for (let index = 0; index < count; index++) {
      lengthByte = bytes[position++];
      if (lengthByte === undefined) throw malformed(`${what} is truncated`);
      length = length * 256 + lengthByte;
    }
  }
  const end = position + length;
  if (end > bytes.length) throw malformed(`${what} is truncated`);
  return {
    tagClass: first >> 6,
    tag: first & 0x1f,
    content: bytes.subarray(position, end),
    der: bytes.subarray(offset, end),
  };
}

function parse(der: Buffer, what: string): Element {
  return readElement(der, 0, what);
}

/** The elements inside a constructed one (a SEQUENCE, a SET, an explicit tag). */
function children(element: Element | undefined, what: string): Element[] {
  if (!element) throw malformed(`${what} is missing`);
  const found: Element[] = [];
  for (let offset = 0; offset < element.content.length;) {
    const child = readElement(element.content, offset, what);
    found.push(child);
    offset += child.der.length;
  }
  return found;
}

function oidOf(element: Element | undefined, what: string): string {
  if (!element || element.tagClass !== 0 || element.tag !== TAG.oid || element.content.length === 0)
    throw malformed(`${what} is not an object identifier`);
  const identifiers: number[] = [];
  let value = 0;
  for (const byte of element.content) {
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      identifiers.push(value);
      value = 0;
    }
  }
  // The first subidentifier holds the first two arcs (X.690 8.19.4).
  const [first = 0, ...rest] = identifiers;
  const top = Math.min(Math.floor(first / 40), 2);
  const arcs = [top, first - top * 40, ...rest];
  return arcs.join('.');
}

export function readCertificateStructure(der: Buffer): CertificateStructure {
  const tbs = children(parse(der, 'the certificate'), 'the certificate')[0];
  const fields = children(tbs, 'tbsCertificate');
  // v3 certificates start with the explicit [0] version; v1 ones do not.
  const offset = fields[0]?.tagClass === CONTEXT_SPECIFIC ? 1 : 0;
  const subject = fields[offset + 4];
  if (!subject) throw malformed('no subject');
  const extensions = new Map<string, Extension>();
  const wrapper = fields.find((field) => field.tagClass === CONTEXT_SPECIFIC && field.tag === 3);
  for (const extension of wrapper ? children(children(wrapper, 'extensions')[0], 'extensions') : []) {
    const parts = children(extension, 'an extension');
    const value = parts[parts.length - 1];
    if (parts.length < 2 || value?.tag !== TAG.octetString) throw malformed('an extension has no value');
    const critical = parts.length === 3 && parts[1]!.tag === TAG.boolean && parts[1]!.content[0] !== 0;
    extensions.set(oidOf(parts[0], 'an extension id'), { critical, value: value.content });
  }
  return { subject: subject.der, extensions };
}

/** The subjectKeyIdentifier's bytes, as a binary string (what forge takes as an authority key identifier). */
export function subjectKeyIdentifier(structure: CertificateStructure): string | undefined {
  const extension = structure.extensions.get(OID.subjectKeyIdentifier);
  return extension && binary(parse(extension.value, 'subjectKeyIdentifier').content);
}

/** basicConstraints cA, read directly: Node's `X509Certificate.ca` also folds the key usage in. */
export function isCaCertificate(structure: CertificateStructure): boolean {
  const extension = structure.extensions.get(OID.basicConstraints);
  if (!extension) return false;
  const first = children(parse(extension.value, 'basicConstraints'), 'basicConstraints')[0];
  return first?.tagClass === 0 && first.tag === TAG.boolean && first.content[0] !== 0;
}

export function keyUsageBits(structure: CertificateStructure): number | undefined {
  const extension = structure.extensions.get(OID.keyUsage);
  if (!extension) return undefined;
  // The BIT STRING's content: one octet of unused-bit count, then the bits.
  return parse(extension.value, 'keyUsage').content[1] ?? 0;
}

export function extendedKeyUsage(structure: CertificateStructure): string[] {
  const extension = structure.extensions.get(OID.extKeyUsage);
  if (!extension) return [];
  return children(parse(extension.value, 'extKeyUsage'), 'extKeyUsage').map((purpose) => {
    const oid = oidOf(purpose, 'a key purpose');
    return oid === OID.serverAuth ? 'serverAuth' : oid === OID.clientAuth ? 'clientAuth' : oid;
  });
}

export function subjectAltNames(structure: CertificateStructure): { dnsNames: string[]; ipAddresses: string[] } {
  const names = { dnsNames: [] as string[], ipAddresses: [] as string[] };
  const extension = structure.extensions.get(OID.subjectAltName);
  if (!extension) return names;
  for (const name of children(parse(extension.value, 'subjectAltName'), 'subjectAltName')) {
    if (name.tagClass !== CONTEXT_SPECIFIC) continue;
    if (name.tag === 2) names.dnsNames.push(name.content.toString('latin1'));
    if (name.tag === 7) names.ipAddresses.push(ipFromBytes(name.content));
  }
  return names;
}

/** The common name in a Name's DER (see `CertificateStructure.subject`). */
export function commonNameOf(name: Buffer): string | undefined {
  for (const rdn of children(parse(name, 'a name'), 'a name')) {
    for (const attribute of children(rdn, 'a name')) {
      const [type, value] = children(attribute, 'a name attribute');
      if (oidOf(type, 'an attribute type') === OID.commonName) {
        if (!value) throw malformed('a common name has no value');
        return value.content.toString('utf8');
      }
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
  return isIpv6(ip) ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip;
}

export function isIpAddress(name: string): boolean {
  return isIpv6(name) || net.isIPv4(name);
}

/**
 * Node's isIPv6 compiles a large regular expression the first time it runs, which takes
 * milliseconds on every start; only a name with a colon can be an IPv6 address.
 */
function isIpv6(name: string): boolean {
  return name.includes(':') && net.isIPv6(name);
}

export function derToPem(der: Buffer, label = 'CERTIFICATE'): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
