/**
 * Issuing with node-forge: forge builds the certificate (names, extensions, validity, DER), and Node's
 * crypto makes the signature. Signing natively is what lets a CA key be RSA, ECDSA or Ed25519 (forge signs
 * RSA only), and it is also twenty times faster than forge's JavaScript RSA (2.5 ms against 50 ms for a
 * 2048-bit key), which matters for the cold start. Keys issued here are RSA 2048, generated natively.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type forge from 'node-forge';
import { binary, bufferOf, derToPem, isIpAddress, OID, readCertificateStructure, subjectKeyIdentifier } from './der.js';
import {
  checkValidity,
  describeKey,
  inspectCertificate,
  keyMatchesCertificate,
  parseCertificate,
  parsePrivateKey,
  splitCertificates,
} from './inspect.js';
import {
  CA_DAYS,
  CertificateError,
  daysToMs,
  LEAF_DAYS,
  type CertificateInfo,
  type CertificateMaterial,
} from './types.js';

type Forge = typeof forge;
type Asn1 = forge.asn1.Asn1;

/** Public functions of forge's pki that its type definitions leave out. */
interface ForgePkiInternals {
  getTBSCertificate(certificate: forge.pki.Certificate): Asn1;
}

/**
 * forge is loaded when a certificate is built, not before: it is by far the largest module here,
 * and a warm start only reads and checks the certificates it kept (der.ts, inspect.ts), which
 * needs none of it. Everything that builds takes it as its first argument.
 */
async function loadForge(): Promise<Forge> {
  return (await import('node-forge')).default;
}

const RSA_BITS = 2048;
/** Certificates start a little in the past so that a peer whose clock lags accepts them at once. */
const BACKDATE_MS = 5 * 60 * 1000;

interface SubjectKey {
  keyPem: string;
  publicKey: forge.pki.rsa.PublicKey;
}

const generateKeyPair = promisify(crypto.generateKeyPair);

/**
 * A new RSA 2048 private key (PKCS#8 PEM), made on Node's native path (OpenSSL, in the thread pool):
 * callers that need several keys start them together, before they have the CA that will sign them.
 */
export async function generateKey(): Promise<string> {
  const { privateKey } = await generateKeyPair('rsa', { modulusLength: RSA_BITS, publicExponent: 0x10001 });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** The key to certify: the one given (from `generateKey`), else a new one. */
async function subjectKey(forge: Forge, keyPem: string | undefined): Promise<SubjectKey> {
  const pem = keyPem ?? (await generateKey());
  return { keyPem: pem, publicKey: rsaPublicKey(forge, parsePrivateKey(pem)) };
}

/** forge writes the subject public key of what it builds, and it knows RSA only. */
function rsaPublicKey(forge: Forge, key: KeyObject): forge.pki.rsa.PublicKey {
  if (key.asymmetricKeyType !== 'rsa')
    throw new CertificateError(`certificates are issued here for RSA keys only, not ${describeKey(key)}`);
  return forge.pki.publicKeyFromPem(crypto.createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString());
}

/** A random positive 128-bit serial, DER-minimal (a leading zero octet only when the top bit is set). */
export function randomSerial(random: (size: number) => Buffer = crypto.randomBytes): string {
  let value = 0n;
  while (value === 0n) value = BigInt(`0x${random(16).toString('hex')}`);
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  return /^[89a-f]/.test(hex) ? `00${hex}` : hex;
}

interface SignatureAlgorithm {
  oid: string;
  /** RSA's AlgorithmIdentifier carries NULL parameters; ECDSA's and EdDSA's none. */
  nullParameters: boolean;
  /** Digest for crypto.sign; null for EdDSA, which hashes by itself. */
  hash: string | null;
}

function algorithmIdentifier(forge: Forge, algorithm: SignatureAlgorithm): Asn1 {
  const { asn1 } = forge;
  const parts = [asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(algorithm.oid).getBytes())];
  if (algorithm.nullParameters) parts.push(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, ''));
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, parts);
}

/** The signature a CA key makes (RFC 4055, 5758, 8410): ECDSA hashes match the curve, as openssl does. */
function signatureAlgorithm(key: KeyObject): SignatureAlgorithm {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return { oid: '1.2.840.113549.1.1.11', nullParameters: true, hash: 'sha256' };
    case 'ec':
      if (curve === 'secp384r1') return { oid: '1.2.840.10045.4.3.3', nullParameters: false, hash: 'sha384' };
      if (curve === 'secp521r1') return { oid: '1.2.840.10045.4.3.4', nullParameters: false, hash: 'sha512' };
      return { oid: '1.2.840.10045.4.3.2', nullParameters: false, hash: 'sha256' };
    case 'ed25519':
      return { oid: '1.3.101.112', nullParameters: false, hash: null };
    case 'ed448':
      return { oid: '1.3.101.113', nullParameters: false, hash: null };
    default:
      throw new CertificateError(
        `cannot sign with a ${key.asymmetricKeyType ?? 'unknown'} CA key (RSA, ECDSA and EdDSA are supported); ` +
          'mount the leaf certificates instead (provided mode)',
      );
  }
}

/** Who signs: the CA's subject (DER) becomes the issuer, its key identifier the authority key identifier. */
interface Signer {
  name: Buffer;
  keyIdentifier: string | undefined;
  key: KeyObject;
}

interface Template {
  publicKey: forge.pki.rsa.PublicKey;
  subject: Asn1;
  days: number;
  now: Date;
  extensions: object[];
}

function signCertificate(forge: Forge, template: Template, signer: Signer): string {
  if (!Number.isInteger(template.days) || template.days < 1)
    throw new CertificateError(`validity of ${template.days} days: give a whole number of days, 1 or more`);
  const { asn1 } = forge;
  const algorithm = signatureAlgorithm(signer.key);
  const identifier = algorithmIdentifier(forge, algorithm);
  const certificate = forge.pki.createCertificate();
  certificate.publicKey = template.publicKey;
  certificate.serialNumber = randomSerial();
  certificate.validity.notBefore = new Date(template.now.getTime() - BACKDATE_MS);
  certificate.validity.notAfter = new Date(template.now.getTime() + daysToMs(template.days));
  certificate.setExtensions([
    ...template.extensions,
    { name: 'subjectKeyIdentifier' },
    ...(signer.keyIdentifier === undefined
      ? []
      : [{ name: 'authorityKeyIdentifier', keyIdentifier: signer.keyIdentifier }]),
  ]);
  // Names are set as DER below, byte for byte: a leaf's issuer must equal its CA's subject exactly, and a
  // mounted CA's subject may use string types forge would re-encode.
  certificate.siginfo.algorithmOid = forge.pki.oids.sha256WithRSAEncryption!;
  const tbs = (forge.pki as unknown as ForgePkiInternals).getTBSCertificate(certificate);
  const fields = tbs.value as Asn1[];
  fields[2] = identifier;
  fields[3] = asn1.fromDer(binary(signer.name));
  fields[5] = template.subject;
  const signature = crypto.sign(algorithm.hash, bufferOf(asn1.toDer(tbs).getBytes()), signer.key);
  const signed = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    tbs,
    identifier,
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, `\x00${binary(signature)}`),
  ]);
  return derToPem(bufferOf(asn1.toDer(signed).getBytes()));
}

function commonName(forge: Forge, value: string): Asn1 {
  if (value.trim() === '') throw new CertificateError('the common name is empty');
  // UTF8String, as openssl writes it: PostgreSQL user names are not limited to PrintableString.
  const valueTagClass = forge.asn1.Type.UTF8 as unknown as forge.asn1.Class;
  return forge.pki.distinguishedNameToAsn1({ attributes: [{ type: OID.commonName, value, valueTagClass }] });
}

function keyIdentifierOf(forge: Forge, publicKey: forge.pki.rsa.PublicKey): string {
  return forge.pki.getPublicKeyFingerprint(publicKey, { type: 'RSAPublicKey', md: forge.md.sha1.create() }).getBytes();
}

const CA_EXTENSIONS = [
  { name: 'basicConstraints', cA: true, critical: true },
  { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
];

/** `keyPem`, when given, is the key to certify (see `generateKey`); otherwise a new one is made. */
interface KeyOption {
  keyPem?: string;
}

export interface CaOptions extends KeyOption {
  commonName: string;
  days?: number;
  now: Date;
}

/** A self-signed root CA with a fresh RSA key. */
export async function createCa(options: CaOptions): Promise<CertificateMaterial> {
  const forge = await loadForge();
  const subject = commonName(forge, options.commonName);
  const { keyPem, publicKey } = await subjectKey(forge, options.keyPem);
  const template = { publicKey, subject, days: options.days ?? CA_DAYS, now: options.now, extensions: CA_EXTENSIONS };
  const name = bufferOf(forge.asn1.toDer(subject).getBytes());
  const certPem = signCertificate(forge, template, {
    name,
    keyIdentifier: keyIdentifierOf(forge, publicKey),
    key: parsePrivateKey(keyPem),
  });
  return { certPem, keyPem };
}

/**
 * The same self-signed CA for another period: same key, subject and key identifier, so leaves it signed
 * before still verify against the new certificate, and leaves it signs now verify against the old one.
 */
export async function renewCa(
  ca: CertificateMaterial,
  options: { days?: number; now: Date },
): Promise<CertificateMaterial> {
  const info = inspectCertificate(ca.certPem);
  if (!info.selfSigned)
    throw new CertificateError(`"${info.subject}" is not a self-signed CA; only the CAs created here are renewed`);
  const key = checkKeyPair(ca.certPem, ca.keyPem);
  if (key.asymmetricKeyType !== 'rsa')
    throw new CertificateError(
      `"${info.subject}" has a ${info.keyAlgorithm} key; only the RSA CAs created here are renewed`,
    );
  const forge = await loadForge();
  const publicKey = rsaPublicKey(forge, key);
  const name = readCertificateStructure(parseCertificate(ca.certPem).raw).subject;
  const template = {
    publicKey,
    subject: forge.asn1.fromDer(binary(name)),
    days: options.days ?? CA_DAYS,
    now: options.now,
    extensions: CA_EXTENSIONS,
  };
  return {
    certPem: signCertificate(forge, template, { name, keyIdentifier: keyIdentifierOf(forge, publicKey), key }),
    keyPem: ca.keyPem,
  };
}

function checkKeyPair(certPem: string, keyPem: string): KeyObject {
  const key = parsePrivateKey(keyPem);
  if (!keyMatchesCertificate(certPem, keyPem))
    throw new CertificateError('the private key does not match the certificate');
  return key;
}

export interface CheckedCa {
  info: CertificateInfo;
  /** Certificates a leaf it signs must carry: the CA itself when it is an intermediate, and its parents. */
  chain: string[];
  signer: Signer;
}

/** A CA certificate that others may trust at `now`: valid, and a CA. Returns its facts. */
export function checkTrustedCa(certPem: string, now: Date): CertificateInfo {
  const info = inspectCertificate(certPem);
  if (!info.isCa) throw new CertificateError(`"${info.subject}" is not a CA certificate (no basicConstraints CA:TRUE)`);
  checkValidity(info, now);
  return info;
}

/**
 * Checks that `ca` can sign leaves at `now`: a certificate that is a CA allowed to sign certificates,
 * valid now, with its matching private key. Its `certPem` may be a bundle: the first certificate signs,
 * the others (and `chainPem`) are its parents up to a root.
 */
export function checkCa(ca: CertificateMaterial, now: Date): CheckedCa {
  const [own, ...parents] = splitCertificates(ca.certPem);
  const info = checkTrustedCa(own!, now);
  if (!info.canSignCertificates)
    throw new CertificateError(`"${info.subject}" is a CA whose key usage does not allow signing certificates`);
  const key = checkKeyPair(own!, ca.keyPem);
  signatureAlgorithm(key);
  const structure = readCertificateStructure(parseCertificate(own!).raw);
  const above = [...parents, ...(ca.chainPem ? splitCertificates(ca.chainPem) : [])];
  const chain = [own!, ...above].filter((pem) => !inspectCertificate(pem).selfSigned);
  return { info, chain, signer: { name: structure.subject, keyIdentifier: subjectKeyIdentifier(structure), key } };
}

function leafMaterial(ca: CheckedCa, certPem: string, keyPem: string): CertificateMaterial {
  return ca.chain.length === 0 ? { certPem, keyPem } : { certPem, keyPem, chainPem: ca.chain.join('') };
}

const DNS_NAME = /^(\*\.)?[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?)*\.?$/i;

/** Names as given, then `localhost` and `127.0.0.1` when asked and missing, without duplicates. */
export function serverNames(names: string[], includeLocalhost: boolean): string[] {
  const all = [...names, ...(includeLocalhost ? ['localhost', '127.0.0.1'] : [])].map((name) => name.trim());
  for (const name of all) {
    if (!isIpAddress(name) && !DNS_NAME.test(name))
      throw new CertificateError(`"${name}" is neither a DNS name nor an IP address`);
  }
  if (all.length === 0) throw new CertificateError('a server certificate needs at least one name');
  return [...new Set(all)];
}

export interface ServerCertificateOptions extends KeyOption {
  /** DNS names and IP addresses; the first is the common name. */
  names: string[];
  days?: number;
  now: Date;
  /** Automatic mode: also `localhost` and `127.0.0.1`, for connections from inside the pod. */
  includeLocalhost?: boolean;
}

export async function issueServerCertificate(
  ca: CertificateMaterial,
  options: ServerCertificateOptions,
): Promise<CertificateMaterial> {
  const checked = checkCa(ca, options.now);
  const names = serverNames(options.names, options.includeLocalhost ?? false);
  const altNames = names.map((name) => (isIpAddress(name) ? { type: 7, ip: name } : { type: 2, value: name }));
  return issueLeaf(checked, options, names[0]!, [
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
  ]);
}

export interface ClientCertificateOptions extends KeyOption {
  /** The PostgreSQL user, which cert authentication reads from the common name. */
  user: string;
  days?: number;
  now: Date;
}

export async function issueClientCertificate(
  ca: CertificateMaterial,
  options: ClientCertificateOptions,
): Promise<CertificateMaterial> {
  return issueLeaf(checkCa(ca, options.now), options, options.user, [{ name: 'extKeyUsage', clientAuth: true }]);
}

/** A TLS leaf for `name` (its common name), signed by a checked CA, with `purpose`'s extensions. */
async function issueLeaf(
  ca: CheckedCa,
  options: KeyOption & { days?: number; now: Date },
  name: string,
  purpose: Template['extensions'],
): Promise<CertificateMaterial> {
  const forge = await loadForge();
  // Before the key: a bad name must not wait for an RSA key to be generated.
  const subject = commonName(forge, name);
  const { keyPem, publicKey } = await subjectKey(forge, options.keyPem);
  const extensions = [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    ...purpose,
  ];
  const certPem = signCertificate(
    forge,
    { publicKey, subject, days: options.days ?? LEAF_DAYS, now: options.now, extensions },
    ca.signer,
  );
  return leafMaterial(ca, certPem, keyPem);
}

/** What goes in a leaf's `tls.crt`: the certificate, then its chain. */
export function certificateFile(material: CertificateMaterial): string {
  return material.certPem + (material.chainPem ?? '');
}
