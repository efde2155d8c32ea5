import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDemoteBody } from '../../src/lifecycle/index.js';
import {
  ControlDataReader,
  decideStart,
  parseAddress,
  parseControlData,
  parseProbe,
  parseState,
  renderState,
  rewindOutcome,
  stillCurrent,
  type ControlData,
  type LifecycleState,
  type StartFacts,
} from '../../src/lifecycle/index.js';
import { scratchDir } from '../support/manager.js';

const P = { host: '10.0.0.1', port: 5432 };
const Q = { host: '10.0.0.2', port: 5432 };
const at = '2026-11-30T15:00:00Z';
const fence = { by: 'instance-manager-operator', at, reason: 'fenced by an operator' };
const state = (fields: Partial<LifecycleState>): LifecycleState => ({
  pod: 'pg-a',
  role: 'primary',
  updatedAt: at,
  ...fields,
});
const facts = (fields: Partial<StartFacts>): StartFacts => ({
  hasCluster: true,
  state: undefined,
  replicaOf: undefined,
  pod: 'pg-a',
  ...fields,
});

describe('decideStart: the role on disk is the truth', () => {
  it.each([
    [
      'empty PGDATA, no flag: a new primary',
      facts({ hasCluster: false }),
      { role: 'primary', primary: undefined, fenced: undefined, rejoin: undefined },
    ],
    [
      'empty PGDATA, --replica-of: a clone of it',
      facts({ hasCluster: false, replicaOf: P }),
      { role: 'replica', primary: P },
    ],
    ['a cluster without a state file: the flags decide', facts({ replicaOf: P }), { role: 'replica', primary: P }],
    [
      'demoted, restarted with its original primary flags: a replica',
      facts({ state: state({ role: 'replica', primary: Q }) }),
      { role: 'replica', primary: Q },
    ],
    [
      'promoted, restarted with its original --replica-of: a primary',
      facts({ replicaOf: P, state: state({ role: 'primary' }) }),
      { role: 'primary', primary: undefined },
    ],
    [
      '--replica-of naming the same primary',
      facts({ replicaOf: Q, state: state({ role: 'replica', primary: Q }) }),
      { role: 'replica', primary: Q },
    ],
    [
      '--replica-of naming another primary loses',
      facts({ replicaOf: P, state: state({ role: 'replica', primary: Q }) }),
      { role: 'replica', primary: Q },
    ],
    [
      'fenced: stays fenced, whatever the flags',
      facts({ replicaOf: P, state: state({ fenced: fence }) }),
      { role: 'primary', fenced: fence },
    ],
    [
      'a demotion not yet rejoined: rejoin first',
      facts({ state: state({ role: 'replica', primary: Q, rejoin: { reclone: false } }) }),
      { role: 'replica', primary: Q, rejoin: { reclone: false } },
    ],
    [
      'an unfinished reclone (PGDATA empty, state aside): clone from the new primary',
      facts({ hasCluster: false, state: state({ role: 'replica', primary: Q, rejoin: { reclone: true } }) }),
      { role: 'replica', primary: Q, rejoin: { reclone: true } },
    ],
    [
      "another pod's state file in a cluster (a copy): fenced, never a primary by accident",
      facts({ state: state({ pod: 'pg-b' }) }),
      { role: 'primary', fenced: expect.objectContaining({ by: 'instance-manager' }) },
    ],
    [
      "another pod's state file in a copy being made: the flags decide",
      facts({ hasCluster: false, replicaOf: P, state: state({ pod: 'pg-b' }) }),
      { role: 'replica', primary: P, fenced: undefined },
    ],
  ])('%s', (_case, input, expected) => {
    expect(decideStart(input)).toMatchObject(expected);
  });

  it('says in the log when a flag is ignored', () => {
    expect(decideStart(facts({ replicaOf: P, state: state({ role: 'primary' }) })).notes).toEqual([
      '--replica-of 10.0.0.1:5432 ignored: this instance was promoted (state file)',
    ]);
    expect(decideStart(facts({ state: state({ role: 'replica', primary: Q }) })).notes[0]).toMatch(
      /demoted: it follows 10.0.0.2:5432/,
    );
  });
});

describe('the state file', () => {
  it('reads back what it wrote', () => {
    const written = state({ role: 'replica', primary: Q, rejoin: { reclone: true }, fenced: fence });
    expect(parseState(renderState(written), 'f')).toEqual(written);
  });

  it.each([
    ['not json', /f: not JSON/],
    ['[]', /"pod"/],
    ['{"pod":"a","role":"leader","updatedAt":"x"}', /"role"/],
    ['{"pod":"a","role":"replica","updatedAt":"x"}', /"primary"/],
    ['{"pod":"a","role":"primary","updatedAt":"x","fenced":{"by":"x"}}', /"fenced"/],
  ])('refuses %s naming the key', (text, message) => {
    expect(() => parseState(text, 'f')).toThrow(message);
  });
});

describe('parsers', () => {
  it.each([
    ['db-1', { host: 'db-1', port: 5432 }],
    ['10.0.0.1:6543', { host: '10.0.0.1', port: 6543 }],
    ['[::1]:5433', { host: '::1', port: 5433 }],
    ['host:0', undefined],
    ['host:99999', undefined],
    ['a b', undefined],
    ['', undefined],
  ])('address %j', (value, expected) => {
    expect(parseAddress(value)).toEqual(expected);
  });

  it.each([
    [{ primary: '10.0.0.2' }, { primary: Q, reclone: false }],
    [
      { primary: '10.0.0.2:5432', reclone: true },
      { primary: Q, reclone: true },
    ],
    [undefined, /the body must be/],
    [{ primary: 5 }, /"primary" must be a string/],
    [{ primary: 'x:y' }, /not HOST\[:PORT\]/],
    [{ primary: 'x', reclone: 'yes' }, /"reclone" must be true or false/],
  ])('demote body %j', (body, expected) => {
    const parsed = parseDemoteBody(body);
    if (expected instanceof RegExp) expect(parsed).toMatch(expected);
    else expect(parsed).toEqual(expected);
  });

  it('reads the fields of pg_controldata an operator needs', () => {
    const text = [
      'pg_control version number:            1300',
      'Database system identifier:           7713977549933497638',
      'Database cluster state:               shut down',
      'Latest checkpoint location:           0/3000028',
      "Latest checkpoint's REDO location:    0/3000028",
      "Latest checkpoint's TimeLineID:       2",
      'Minimum recovery ending location:     0/0',
    ].join('\n');
    expect(parseControlData(text)).toEqual({
      systemIdentifier: '7713977549933497638',
      clusterState: 'shut down',
      checkpointLsn: '0/3000028',
      redoLsn: '0/3000028',
      timeline: 2,
      minRecoveryEndLsn: '0/0',
    });
    expect(() => parseControlData('Database system identifier: 1')).toThrow(
      /pg_controldata printed no "Latest checkpoint's TimeLineID"/,
    );
  });

  it('tells a rewind from nothing to do, and reads the probe of another instance', () => {
    expect(
      rewindOutcome(['pg_rewind: source and target cluster are on the same timeline', 'pg_rewind: no rewind required']),
    ).toBe('not-needed');
    expect(
      rewindOutcome(['pg_rewind: servers diverged at WAL location 0/3000000 on timeline 1', 'pg_rewind: Done!']),
    ).toBe('rewound');
    expect(parseProbe('t|2026-11-30 15:00:00+00|10.0.0.2|7713977549933497638|2')).toEqual({
      reachable: true,
      inRecovery: true,
      postmasterStartTime: '2026-11-30 15:00:00+00',
      serverAddress: '10.0.0.2',
      systemIdentifier: '7713977549933497638',
      checkpointTimeline: 2,
    });
    expect(parseProbe('')).toMatchObject({ reachable: false });
  });
});

describe('pg_controldata only when pg_control changed', () => {
  /** A PGDATA whose pg_control was last written 5 s ago. */
  const settledControlFile = () => {
    const pgdata = scratchDir('control');
    const file = path.join(pgdata, 'global', 'pg_control');
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(file, 'first');
    const settled = new Date(Date.now() - 5_000);
    fs.utimesSync(file, settled, settled);
    return { pgdata, file };
  };
  const stamp = { mtimeMs: 1_000_000, size: 8192, ino: 42 };

  it.each([
    ['unchanged and settled for a second before the reading', stamp, 1_001_000, false, true],
    ['unchanged but written just before the reading: maybe twice in one clock tick', stamp, 1_000_400, false, false],
    ['unchanged and the reading still running', stamp, 1_000_400, true, true],
    ['rewritten (a checkpoint)', { ...stamp, mtimeMs: 1_002_000 }, 1_001_000, true, false],
    ['replaced (pg_rewind, a restore)', { ...stamp, ino: 43 }, 1_001_000, false, false],
  ])('%s', (_, now, readAt, running, expected) => {
    expect(stillCurrent(stamp, readAt, running, now)).toBe(expected);
  });

  it('shares one run among concurrent callers, reuses it for a settled file, and runs again after a change', async () => {
    const { pgdata, file } = settledControlFile();
    let runs = 0;
    const reader = new ControlDataReader(pgdata, async () => {
      runs++;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return { timeline: runs } as ControlData;
    });

    const concurrent = await Promise.all([reader.read(), reader.read(), reader.read()]);
    expect(concurrent.map((data) => data.timeline)).toEqual([1, 1, 1]);
    expect((await reader.read()).timeline).toBe(1);

    fs.writeFileSync(file, 'second');
    expect((await reader.read()).timeline).toBe(2);
    // Written just now: not trusted once its run has ended.
    expect((await reader.read()).timeline).toBe(3);
    expect(runs).toBe(3);
  });

  it('does not keep a failed run, and runs pg_controldata when there is no pg_control to stamp', async () => {
    const { pgdata, file } = settledControlFile();
    let runs = 0;
    const reader = new ControlDataReader(pgdata, () => {
      runs++;
      return Promise.reject(new Error('pg_controldata: could not read file'));
    });
    await expect(reader.read()).rejects.toThrow(/could not read/);
    await expect(reader.read()).rejects.toThrow(/could not read/);
    expect(runs).toBe(2);
    fs.rmSync(file);
    await expect(reader.read()).rejects.toThrow(/could not read/);
    expect(runs).toBe(3);
  });
});
