/**
 * How to start, given the flags, PGDATA and the state file: the rules that make the role on disk
 * the truth. Pure: facts in, a decision out, so every rule is a row of a table.
 */
import type { PrimaryAddress } from '../replication/index.js';
import type { FenceRecord, LifecycleState } from './state.js';

export interface StartFacts {
  /** PGDATA holds a data directory (else it is missing or empty: initdb or a clone comes first). */
  hasCluster: boolean;
  /** The state file of PGDATA, or of a PGDATA set aside by an unfinished reclone. */
  state: LifecycleState | undefined;
  /** `--replica-of`. */
  replicaOf: PrimaryAddress | undefined;
  /** `--pod-name`: a state file written by another pod was copied here by a clone or a rewind. */
  pod: string;
}

export interface StartDecision {
  role: 'primary' | 'replica';
  primary: PrimaryAddress | undefined;
  /** Start nothing until unfenced. */
  fenced: FenceRecord | undefined;
  /** A demotion to finish (rewind or reclone) before PostgreSQL starts as a replica. */
  rejoin: { reclone: boolean } | undefined;
  /** Said in the log at start, when the flags and the file disagree. */
  notes: string[];
}

export function sameAddress(a: PrimaryAddress | undefined, b: PrimaryAddress | undefined): boolean {
  return a !== undefined && b !== undefined && a.host.toLowerCase() === b.host.toLowerCase() && a.port === b.port;
}

/** `HOST[:PORT]` (an IPv6 address in brackets), the port 5432 when not given; undefined when malformed. */
export function parseAddress(value: string): PrimaryAddress | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]\s]+))(?::(\d{1,5}))?$/.exec(value.trim());
  if (!match) return undefined;
  const port = match[3] === undefined ? 5432 : Number(match[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: match[1] ?? match[2]!, port };
}

export function formatAddress(address: PrimaryAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

export function decideStart(facts: StartFacts): StartDecision {
  const { state, replicaOf } = facts;
  const byFlags: StartDecision = {
    role: replicaOf ? 'replica' : 'primary',
    primary: replicaOf,
    fenced: undefined,
    rejoin: undefined,
    notes: [],
  };
  if (state === undefined) return byFlags;
  if (state.pod !== facts.pod) {
    // A copy that did not reach its own bookkeeping: neither the flags nor the copied role can be trusted.
    if (facts.hasCluster) {
      return {
        ...byFlags,
        fenced: {
          by: 'instance-manager',
          at: state.updatedAt,
          reason:
            `the state file was written by pod ${state.pod}: ` +
            'a clone or rewind was interrupted; fix PGDATA, then unfence',
        },
        notes: [`state file of pod ${state.pod} found in PGDATA`],
      };
    }
    return byFlags;
  }
  const decision: StartDecision = {
    role: state.role,
    primary: state.role === 'replica' ? state.primary : undefined,
    fenced: state.fenced,
    rejoin: state.role === 'replica' ? state.rejoin : undefined,
    notes: [],
  };
  if (!facts.hasCluster && state.rejoin === undefined) {
    // An empty PGDATA with a file set aside beside it is a reclone to resume; otherwise the flags decide.
    return byFlags;
  }
  if (replicaOf !== undefined && state.role === 'primary') {
    decision.notes.push(`--replica-of ${formatAddress(replicaOf)} ignored: this instance was promoted (state file)`);
  } else if (replicaOf !== undefined && !sameAddress(replicaOf, state.primary)) {
    decision.notes.push(
      `--replica-of ${formatAddress(replicaOf)} ignored: ` +
        `the state file says this instance follows ${formatAddress(state.primary!)}`,
    );
  } else if (replicaOf === undefined && state.role === 'replica') {
    decision.notes.push(
      `started without --replica-of, but this instance was demoted: it follows ${formatAddress(state.primary!)}`,
    );
  }
  return decision;
}
