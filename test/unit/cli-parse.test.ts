import { describe, expect, it } from 'vitest';
import { parseHostPort, parseList, parseListen, parsePort, parseSeconds } from '../../src/cli/parse.js';

describe('flag parsers', () => {
  it.each([
    ['db-1', { host: 'db-1', port: 5432 }],
    ['db-1:6432', { host: 'db-1', port: 6432 }],
    ['10.0.0.7:5433', { host: '10.0.0.7', port: 5433 }],
    ['[fd00::1]:5433', { host: 'fd00::1', port: 5433 }],
    ['[fd00::1]', { host: 'fd00::1', port: 5432 }],
  ])('reads --replica-of %s', (value, expected) => {
    expect(parseHostPort('--replica-of', value)).toEqual(expected);
  });

  it.each(['', 'a:b', 'a:70000', 'a:1:2', 'fd00::1'])('refuses --replica-of %j naming the flag', (value) => {
    expect(() => parseHostPort('--replica-of', value)).toThrow(/^--replica-of: /);
  });

  it('reads ports, allowing 0 only where it means "off"', () => {
    expect(parsePort('--status-port', '0', true)).toBe(0);
    expect(() => parsePort('--port', '0', false)).toThrow('--port: "0" is not a TCP port');
    expect(() => parsePort('--port', '12ab', false)).toThrow('--port');
    expect(() => parsePort('--port', '65536', false)).toThrow('--port');
  });

  it('reads seconds and lists', () => {
    expect(parseSeconds('--stop-timeout', '30')).toBe(30);
    expect(() => parseSeconds('--stop-timeout', '-1')).toThrow('--stop-timeout');
    expect(() => parseSeconds('--stop-timeout', '1.5')).toThrow('--stop-timeout');
    expect(parseList('--server-name', 'a, b,,c')).toEqual(['a', 'b', 'c']);
    expect(() => parseList('--server-name', ' , ')).toThrow('--server-name: empty list');
  });

  it.each([['*', '*'], ['127.0.0.1, ::1', '127.0.0.1,::1'], ['db-1.local,fe80::1%eth0', 'db-1.local,fe80::1%eth0']])('reads --listen %j', (value, expected) => {
    expect(parseListen('--listen', value)).toBe(expected);
  });

  it.each(["127.0.0.1' ssl='off", '127.0.0.1\nssl=off', 'a b', "'*'"])('refuses --listen %j naming the flag', (value) => {
    expect(() => parseListen('--listen', value)).toThrow(/^--listen: .* is not a host name, an IP address or \*$/);
  });
});
