/**
 * What the manager writes next to a password it generated for the application owner, as a
 * CloudNativePG app Secret would hold it: a `.pgpass` line and a ready connection URI. Pure.
 */
import crypto from 'node:crypto';

export interface AppConnection {
  host: string;
  port: number;
  database: string;
  username: string;
  password: string;
  /** The CA a client verifies the server with (sslmode=verify-full). */
  serverCaFile: string;
}

/** 24 bytes from the CSPRNG (192 bits), URL-safe base64: no character needs quoting anywhere. */
export function generatePassword(): string {
  return crypto.randomBytes(24).toString('base64url');
}

/** `host:port:database:username:password`, `:` and `\` escaped as libpq reads them. */
export function pgpassLine(connection: AppConnection): string {
  const field = (value: string) => value.replace(/[\\:]/g, (char) => `\\${char}`);
  const { host, port, database, username, password } = connection;
  return `${[host, String(port), database, username, password].map(field).join(':')}\n`;
}

export function connectionUri(connection: AppConnection): string {
  const { host, port, database, username, password, serverCaFile } = connection;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const query = new URLSearchParams({ sslmode: 'verify-full', sslrootcert: serverCaFile }).toString();
  const [user, secret, dbname] = [username, password, database].map(encodeURIComponent);
  return `postgresql://${user}:${secret}@${hostPart}:${port}/${dbname}?${query}`;
}
