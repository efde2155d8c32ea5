/** Parsers for flag values: each throws a UsageError naming the flag. */
import { UsageError } from '../errors.js';
import type { HostPort } from '../instance/options.js';
import { parseAddress } from '../lifecycle/index.js';

export function parsePort(flag: string, value: string, allowZero: boolean): number {
  const port = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(port) || port > 65535 || (port === 0 && !allowZero)) {
    throw new UsageError(`${flag}: "${value}" is not a TCP port`);
  }
  return port;
}

export function parseSeconds(flag: string, value: string): number {
  return parseCount(flag, value, 'seconds');
}

export function parseDays(flag: string, value: string): number {
  return parseCount(flag, value, 'days');
}

function parseCount(flag: string, value: string, unit: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new UsageError(`${flag}: "${value}" is not a whole number of ${unit} (1 or more)`);
  }
  return Number(value);
}

const TRUE_WORDS = ['true', '1', 'on', 'yes'];
const FALSE_WORDS = ['false', '0', 'off', 'no', ''];

/**
 * An on/off environment variable. Commander turns a boolean flag on whenever its variable is set,
 * even to "false": for a flag that weakens security, "false" must mean off.
 */
export function parseSwitch(name: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  const word = value.trim().toLowerCase();
  if (TRUE_WORDS.includes(word)) return true;
  if (FALSE_WORDS.includes(word)) return false;
  const words = [...TRUE_WORDS, ...FALSE_WORDS.filter((word) => word !== '')];
  throw new UsageError(`${name}: "${value}" is not one of ${words.join(', ')}`);
}

export function parseList(flag: string, value: string): string[] {
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  if (items.length === 0) throw new UsageError(`${flag}: empty list`);
  return items;
}

export function parseHostPort(flag: string, value: string): HostPort {
  const address = parseAddress(value);
  if (!address) throw new UsageError(`${flag}: "${value}" is not HOST[:PORT] (a port from 1 to 65535)`);
  return address;
}

/**
 * `listen_addresses`: `*` or a comma list of host names and IP addresses. It is written into a quoted
 * postgresql.conf value, so anything else (a quote above all) could rewrite the settings after it.
 */
export function parseListen(flag: string, value: string): string {
  const items = parseList(flag, value);
  const bad = items.find((item) => !/^(\*|[A-Za-z0-9.:%_-]+)$/.test(item));
  if (bad !== undefined) throw new UsageError(`${flag}: ${JSON.stringify(bad)} is not a host name, an IP address or *`);
  return items.join(',');
}

/** A database or role name PostgreSQL keeps as given: 1 to 63 bytes, no control characters, not pg_*. */
export function parseSqlName(flag: string, value: string, reserved: readonly string[] = []): string {
  // eslint-disable-next-line no-control-regex
  if (value === '' || Buffer.byteLength(value) > 63 || /[\x00-\x1f\x7f]/.test(value) || value.startsWith('pg_')) {
    const rule = '1 to 63 bytes, no control characters, not starting with pg_';
    throw new UsageError(`${flag}: ${JSON.stringify(value)} is not a usable name (${rule})`);
  }
  if (reserved.includes(value)) throw new UsageError(`${flag}: "${value}" is reserved (${reserved.join(', ')})`);
  return value;
}
