/**
 * How a replica reaches its primary: the libpq connection string, the slot name and the standby
 * parameters rendered into custom.conf. Pure: values in, values out.
 *
 * Every connection string built here verifies the primary's certificate and host name
 * (`sslmode=verify-full`) and authenticates with the streaming_replica certificate: there is no
 * parameter that turns either off, so no code path can fall back to a weaker connection.
 */
import { REPLICATION_USER, type Parameters } from '../config/index.js';

export const SSL_MODE = 'verify-full';

/** Certificate files (under run-dir/certificates/) a replica connects with. */
export interface ReplicationTlsFiles {
  /** CA that signed the primary's server certificate. */
  serverCaFile: string;
  /** The streaming_replica client certificate and its key. */
  certFile: string;
  keyFile: string;
}

export interface PrimaryAddress {
  host: string;
  port: number;
}

export interface PrimaryConnection {
  primary: PrimaryAddress;
  tls: ReplicationTlsFiles;
  /** Shown in the primary's pg_stat_replication; the pod name. */
  applicationName: string;
}

/** A dead primary is noticed within this time (TCP retransmissions, then the kernel gives up). */
export const TCP_USER_TIMEOUT_MS = 5_000;
export const CONNECT_TIMEOUT_SECONDS = 5;

/** A libpq connection string value: quoted, with `\` and `'` escaped, as libpq parses it. */
export function quoteConninfoValue(value: string): string {
  return `'${value.replace(/[\\']/g, (char) => `\\${char}`)}'`;
}

export function renderConninfo(parameters: readonly [string, string][]): string {
  return parameters.map(([key, value]) => `${key}=${quoteConninfoValue(value)}`).join(' ');
}

export function primaryConninfo(connection: PrimaryConnection): string {
  const { primary, tls, applicationName } = connection;
  return renderConninfo([
    ['host', primary.host],
    ['port', String(primary.port)],
    ['user', REPLICATION_USER],
    ['dbname', 'postgres'],
    ['application_name', applicationName],
    ['sslmode', SSL_MODE],
    ['sslrootcert', tls.serverCaFile],
    ['sslcert', tls.certFile],
    ['sslkey', tls.keyFile],
    ['connect_timeout', String(CONNECT_TIMEOUT_SECONDS)],
    ['tcp_user_timeout', String(TCP_USER_TIMEOUT_MS)],
    ['keepalives', '1'],
    ['keepalives_idle', '5'],
    ['keepalives_interval', '5'],
    ['keepalives_count', '3'],
  ]);
}

const SLOT_PREFIX = 'im_';
/** NAMEDATALEN - 1. */
const MAX_SLOT_NAME = 63;

/**
 * The physical replication slot a replica streams from, named for its pod so that a restarted
 * pod finds its own slot again. Slot names allow only lower-case letters, digits and `_`.
 */
export function slotNameFor(podName: string): string {
  const sanitized = podName.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return `${SLOT_PREFIX}${sanitized}`.slice(0, MAX_SLOT_NAME);
}

/** The parameters that make PostgreSQL follow the primary (with `standby.signal` present). */
export function standbySettings(connection: PrimaryConnection): Parameters {
  return new Map([
    ['primary_conninfo', primaryConninfo(connection)],
    ['primary_slot_name', slotNameFor(connection.applicationName)],
    // Follow the primary onto a new timeline after it was itself promoted.
    ['recovery_target_timeline', 'latest'],
  ]);
}
