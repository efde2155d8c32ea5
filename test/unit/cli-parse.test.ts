import { describe, expect, it } from 'vitest';
import { parseHostPort, parseList, parseListen, parsePort, parseSeconds, parseSwitch } from '../../src/cli/parse.js';
import { runCommand } from '../../src/cli/run.js';
import type { RunOptions } from '../../src/instance/options.js';

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

  it.each([
    [undefined, false],
    ['', false],
    ['false', false],
    ['0', false],
    ['off', false],
    ['No', false],
    ['true', true],
    ['1', true],
    ['ON', true],
    ['yes', true],
  ])('reads the switch IM_ALLOW_ALTER_SYSTEM=%j as %s ("false" is off, unlike commander)', (value, expected) => {
    expect(parseSwitch('IM_ALLOW_ALTER_SYSTEM', value)).toBe(expected);
  });

  it('refuses a switch that is neither on nor off, naming it', () => {
    expect(() => parseSwitch('IM_ALLOW_ALTER_SYSTEM', 'maybe')).toThrow(
      /^IM_ALLOW_ALTER_SYSTEM: "maybe" is not one of true, 1, on, yes, false, 0, off, no$/,
    );
  });

  it('reads seconds and lists', () => {
    expect(parseSeconds('--stop-timeout', '30')).toBe(30);
    expect(() => parseSeconds('--stop-timeout', '-1')).toThrow('--stop-timeout');
    expect(() => parseSeconds('--stop-timeout', '1.5')).toThrow('--stop-timeout');
    expect(parseList('--server-name', 'a, b,,c')).toEqual(['a', 'b', 'c']);
    expect(() => parseList('--server-name', ' , ')).toThrow('--server-name: empty list');
  });

  it.each([
    ['*', '*'],
    ['127.0.0.1, ::1', '127.0.0.1,::1'],
    ['db-1.local,fe80::1%eth0', 'db-1.local,fe80::1%eth0'],
  ])('reads --listen %j', (value, expected) => {
    expect(parseListen('--listen', value)).toBe(expected);
  });

  it.each(["127.0.0.1' ssl='off", '127.0.0.1\nssl=off', 'a b', "'*'"])(
    'refuses --listen %j naming the flag',
    (value) => {
      expect(() => parseListen('--listen', value)).toThrow(/^--listen: .* is not a host name, an IP address or \*$/);
    },
  );
});

describe('run: on/off switches from the environment', () => {
  /** The options `run` would start with, under that environment. */
  async function optionsUnder(env: Record<string, string>): Promise<RunOptions> {
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      let seen: RunOptions | undefined;
      await runCommand(async (options) => {
        seen = options;
        return 0;
      }).parseAsync([], { from: 'user' });
      return seen!;
    } finally {
      process.env = saved;
      process.exitCode = undefined;
    }
  }

  it.each([
    ['false', false],
    ['0', false],
    ['true', true],
  ])('IM_STATUS_INSECURE=%s serves %s plain HTTP', async (value, insecure) => {
    expect((await optionsUnder({ IM_STATUS_INSECURE: value })).statusInsecure).toBe(insecure);
  });

  it('IM_ALLOW_ALTER_SYSTEM=false keeps ALTER SYSTEM off', async () => {
    expect((await optionsUnder({ IM_ALLOW_ALTER_SYSTEM: 'false' })).allowAlterSystem).toBe(false);
  });
});
