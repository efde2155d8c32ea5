/**
 * The answers of the probes and of `/pg/status`, decided from plain facts: what the manager knows
 * (always) and what PostgreSQL said (when it could be asked). Pure, so every case is a table row.
 */
import type { BackupStatus } from '../backup/index.js';
import type { PgReading, PgSnapshot, StandbyStatus } from './pg-state.js';
import type { ControlData, FenceRecord } from '../lifecycle/index.js';
import type { CertificateStatus, DemotionFacts, LifecycleFacts, ManagerPhase } from './source.js';
import type { PostmasterFacts, Role, RoleStatus } from './source.js';

export interface ManagerFacts {
  phase: ManagerPhase;
  intendedRole: Role;
  postmaster: PostmasterFacts | undefined;
  acceptingConnections: boolean;
  restarts: number;
  /** PostgreSQL's TCP port. */
  port: number;
  lifecycle: LifecycleFacts;
  certificates: CertificateStatus[];
  roles: RoleStatus[];
  /** Undefined without a backup repository. */
  backup: BackupStatus | undefined;
  instanceManagerVersion: string;
}

/** Facts that do not change while the data directory stays the same, kept from the last answer. */
export interface LastKnown {
  pgVersion: string;
  systemId: string;
}

export interface StandbyEntry {
  applicationName: string;
  state: string;
  sentLsn: string | null;
  replayLsn: string | null;
  replayLag: number | null;
  syncState: string;
}

export interface StatusDocument {
  role: Role;
  isReady: boolean;
  /** Not in the contract's list: tells a person why PostgreSQL is not ready (restarting, stopping...). */
  phase: ManagerPhase;
  postmasterPid: number | null;
  postmasterStartTime: string | null;
  pgVersion: string | null;
  systemID: string | null;
  /** From PostgreSQL when it answers, else from pg_controldata (the last checkpoint's). */
  timeline: number | null;
  port: number;
  /** Stopped and kept stopped by an operator (or by a demotion that could not rejoin). */
  fenced: boolean;
  fence?: FenceRecord;
  /** On a replica: HOST:PORT of the primary it follows. */
  following?: string;
  /** A demotion between the primary's stop and its start as a replica. */
  demotion?: DemotionFacts;
  controlData: ControlData | null;
  currentLsn?: string | null;
  receivedLsn?: string | null;
  replayLsn?: string | null;
  isWalReceiverActive?: boolean;
  replication: StandbyEntry[];
  pendingRestart: boolean | null;
  certificates: CertificateStatus[];
  roles: RoleStatus[];
  restarts: number;
  /** Backups and WAL archiving (issue 15); null without a backup repository. */
  backup: BackupStatus | null;
  instanceManagerVersion: string;
  /** Not in the contract's list: why PostgreSQL could not be asked, when it could not. */
  error?: string;
}

/** PostgreSQL has not been asked: the manager knows it is not (yet, or any more) accepting connections. */
export const NOT_ASKED: PgReading = { ok: false, error: 'PostgreSQL is not accepting connections' };

/** Whether PostgreSQL should be asked at all: never while the manager knows it is not up. */
export function worthAsking(facts: Pick<ManagerFacts, 'phase' | 'acceptingConnections'>): boolean {
  return facts.phase === 'running' && facts.acceptingConnections;
}

/** Ready for traffic: accepts connections and, in recovery, streams from its primary. */
export function isReady(facts: Pick<ManagerFacts, 'phase' | 'acceptingConnections'>, reading: PgReading): boolean {
  if (!worthAsking(facts) || !reading.ok) return false;
  return !reading.snapshot.inRecovery || reading.snapshot.walReceiverActive;
}

export function buildStatusDocument(
  facts: ManagerFacts,
  reading: PgReading,
  lastKnown: LastKnown | undefined,
  controlData?: ControlData,
): StatusDocument {
  const snapshot = reading.ok ? reading.snapshot : undefined;
  const role: Role = snapshot ? (snapshot.inRecovery ? 'replica' : 'primary') : facts.intendedRole;
  const startTime = snapshot?.postmasterStartTime ?? facts.postmaster?.startedAt;
  return {
    role,
    isReady: isReady(facts, reading),
    phase: facts.phase,
    postmasterPid: facts.postmaster?.pid ?? null,
    postmasterStartTime: startTime?.toISOString() ?? null,
    pgVersion: snapshot?.pgVersion ?? lastKnown?.pgVersion ?? null,
    systemID: snapshot?.systemId ?? lastKnown?.systemId ?? null,
    timeline: snapshot?.timeline ?? controlData?.timeline ?? null,
    port: facts.port,
    fenced: facts.lifecycle.fence !== undefined,
    ...(facts.lifecycle.fence ? { fence: facts.lifecycle.fence } : {}),
    ...(role === 'replica' && facts.lifecycle.following !== undefined ? { following: facts.lifecycle.following } : {}),
    ...(facts.lifecycle.demotion ? { demotion: facts.lifecycle.demotion } : {}),
    controlData: controlData ?? null,
    ...positionFields(role, snapshot),
    replication: (snapshot?.replication ?? []).map(standbyEntry),
    pendingRestart: snapshot?.pendingRestart ?? null,
    certificates: facts.certificates,
    roles: facts.roles,
    restarts: facts.restarts,
    backup: facts.backup ?? null,
    instanceManagerVersion: facts.instanceManagerVersion,
    ...(reading.ok ? {} : { error: reading.error }),
  };
}

function positionFields(role: Role, snapshot: PgSnapshot | undefined): Partial<StatusDocument> {
  if (role === 'primary') return { currentLsn: snapshot?.currentLsn ?? null };
  return {
    receivedLsn: snapshot?.receivedLsn ?? null,
    replayLsn: snapshot?.replayLsn ?? null,
    isWalReceiverActive: snapshot?.walReceiverActive ?? false,
  };
}

function standbyEntry(standby: StandbyStatus): StandbyEntry {
  const { applicationName, state, sentLsn, replayLsn, replayLag, syncState } = standby;
  return { applicationName, state, sentLsn, replayLsn, replayLag, syncState };
}

/** `16/B374D848` as a byte position, for metrics (exact up to 8 PiB of WAL). */
export function lsnToBytes(lsn: string): number {
  const match = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i.exec(lsn);
  if (!match) throw new Error(`not an LSN: "${lsn}"`);
  return parseInt(match[1]!, 16) * 2 ** 32 + parseInt(match[2]!, 16);
}
