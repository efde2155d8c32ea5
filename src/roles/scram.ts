/**
 * SCRAM-SHA-256 password verifiers as PostgreSQL stores them in pg_authid.rolpassword
 * (RFC 5802 and 7677): `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64 parts.
 * The manager sends PostgreSQL the verifier, never the password, so no log, audit record or
 * statistics view can hold the plain text.
 */
import crypto from 'node:crypto';

/** PostgreSQL's own defaults (scram_iterations, and the salt length of scram_build_secret). */
export const SCRAM_ITERATIONS = 4096;
export const SCRAM_SALT_BYTES = 16;

const VERIFIER = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/;

export function scramVerifier(
  password: string,
  salt: Buffer = crypto.randomBytes(SCRAM_SALT_BYTES),
  iterations = SCRAM_ITERATIONS,
): string {
  const salted = crypto.pbkdf2Sync(saslPrep(password), salt, iterations, 32, 'sha256');
  const hmac = (key: Buffer, text: string) => crypto.createHmac('sha256', key).update(text).digest();
  const storedKey = crypto.createHash('sha256').update(hmac(salted, 'Client Key')).digest();
  const serverKey = hmac(salted, 'Server Key');
  const base64 = (bytes: Buffer) => bytes.toString('base64');
  return `SCRAM-SHA-256$${iterations}:${base64(salt)}$${base64(storedKey)}:${base64(serverKey)}`;
}

/**
 * Whether `stored` (a rolpassword value, possibly null or an MD5 hash) verifies `password`: the
 * verifier is recomputed with its own salt and iterations, so an unchanged password costs no ALTER.
 */
export function verifierMatches(stored: string | null, password: string): boolean {
  const match = stored === null ? null : VERIFIER.exec(stored);
  if (!match) return false;
  const iterations = Number(match[1]);
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > 10_000_000) return false;
  const expected = Buffer.from(stored!);
  const actual = Buffer.from(scramVerifier(password, Buffer.from(match[2]!, 'base64'), iterations));
  return expected.length === actual.length && crypto.timingSafeEqual(expected, actual);
}

type Ranges = readonly (readonly [number, number])[];
const within = (ranges: Ranges) => (code: number) => ranges.some(([low, high]) => code >= low && code <= high);
/** RFC 4013 characters mapped to a space (non-ASCII spaces, table C.1.2). */
const isNonAsciiSpace = within([
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200b],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
]);
/** RFC 3454 table B.1: characters mapped to nothing. */
const isMappedToNothing = within([
  [0xad, 0xad],
  [0x34f, 0x34f],
  [0x1806, 0x1806],
  [0x180b, 0x180d],
  [0x200b, 0x200d],
  [0x2060, 0x2060],
  [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff],
]);
/**
 * Prohibited output (RFC 4013 section 2.3, the common part): controls, private use, non-characters,
 * bidi and tagging controls.
 */
const isProhibited = within([
  [0x00, 0x1f],
  [0x7f, 0x9f],
  [0x340, 0x341],
  [0x200e, 0x200f],
  [0x202a, 0x202e],
  [0x206a, 0x206f],
  [0x2ff0, 0x2ffb],
  [0xd800, 0xdfff],
  [0xe000, 0xf8ff],
  [0xfdd0, 0xfdef],
  [0xfff9, 0xffff],
  [0xe0001, 0xe007f],
  [0xf0000, 0x10ffff],
]);

/**
 * SASLprep (RFC 4013) the way PostgreSQL's pg_saslprep applies it: ASCII is used as it is; other
 * text is mapped and NFKC-normalized; text SASLprep would refuse is used raw, as PostgreSQL does
 * (libpq does the same on the client side, so both ends agree).
 */
export function saslPrep(password: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7F]*$/.test(password)) return password;
  const mapped = [...password]
    .filter((char) => !isMappedToNothing(char.codePointAt(0)!))
    .map((char) => (isNonAsciiSpace(char.codePointAt(0)!) ? ' ' : char))
    .join('');
  const prepared = mapped.normalize('NFKC');
  if (prepared === '' || [...prepared].some((char) => isProhibited(char.codePointAt(0)!))) return password;
  return prepared;
}
