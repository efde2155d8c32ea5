/**
 * What the status API needs from the rest of the manager. The instance implements it, so this folder
 * never reaches up into the orchestration: it only reads facts and asks for actions.
 */
import type { BackupStatus, BackupType } from '../backup/index.js';
import type { ControlData, FenceRecord } from '../lifecycle/index.js';
import type { SocketAddress } from '../postgres/index.js';

/** Where the manager is in PostgreSQL's life, as the instance tracks it. */
export type ManagerPhase = 'initializing' | 'starting' | 'running' | 'restarting' | 'stopping' | 'held' | 'stopped';

export type Role = 'primary' | 'replica';

export interface CertificateStatus {
  /** File name under `run-dir/certificates/`, e.g. `server.crt`. */
  name: string;
  /** RFC 3339. */
  notAfter: string;
  daysLeft: number;
  mode: 'provided' | 'hybrid' | 'automatic';
}

export interface LogCounters {
  /** Records written, per `logger` name (`postgres`, `pgaudit`, ...). */
  recordsByLogger: Readonly<Record<string, number>>;
  unparsableRecords: number;
  /** Empty csvlog lines skipped. */
  blankLines: number;
  /** Bytes accepted for stdout but not yet handed to the kernel. */
  bufferedBytes: number;
}

/** A role the manager keeps (the application owner, the declared ones). */
export interface RoleStatus {
  name: string;
  /** pending: not applied yet; present/absent: as declared; failed: see lastError. */
  state: 'pending' | 'present' | 'absent' | 'failed';
  lastError: string | null;
}

/** PEM material for the HTTPS listener and for verifying operators' client certificates. */
export interface TlsMaterial {
  cert: string;
  key: string;
  clientCa: string;
}

export interface PostmasterFacts {
  pid: number;
  startedAt: Date;
}

/**
 * How an operator action ended: the detail is logged and, without `json`, answered as text; `status`
 * defaults to 200 (202 for work that goes on after the answer).
 */
export type ActionOutcome =
  | { ok: true; detail: string; status?: 200 | 202; json?: unknown }
  | { ok: false; status: 400 | 409 | 422 | 500 | 503; detail: string };

/** A demotion between the primary's stop and its start as a replica. */
export interface DemotionFacts {
  /** HOST:PORT of the new primary. */
  primary: string;
  step: 'stopping' | 'waiting-for-primary' | 'rewinding' | 'cloning' | 'starting';
  /** RFC 3339. */
  since: string;
}

export interface LifecycleFacts {
  fence: FenceRecord | undefined;
  /** HOST:PORT of the primary a replica follows. */
  following: string | undefined;
  demotion: DemotionFacts | undefined;
}

/** What an operator action is given once the caller proved to be an operator. */
export interface ActionRequest {
  /** The verified client certificate's CN. */
  operator: string;
  /** Why, for the log: the action, who asked and how. */
  reason: string;
  /** The request's JSON body; undefined when it had none. */
  body: unknown;
}

export interface StatusSource {
  readonly phase: ManagerPhase;
  /** The role the manager runs PostgreSQL in (answers while PostgreSQL is down). */
  readonly intendedRole: Role;
  /** The running postmaster, whether or not it accepts connections yet. */
  readonly postmaster: PostmasterFacts | undefined;
  /** Since when PostgreSQL has accepted connections; undefined while it does not. */
  readonly acceptingConnectionsSince: Date | undefined;
  /** PostgreSQL accepted connections at least once since the manager started (the start-up probe). */
  readonly hasStarted: boolean;
  /** Postmaster restarts since the manager started. */
  readonly restarts: number;
  readonly socketAddress: SocketAddress;
  certificates(): CertificateStatus[];
  roles(): RoleStatus[];
  logCounters(): LogCounters;
  /** Undefined while no server certificate exists yet. */
  tlsMaterial(): TlsMaterial | undefined;
  reload(reason: string): Promise<ActionOutcome>;
  /** Resolves once the restart is under way; the supervisor brings PostgreSQL back. */
  restart(reason: string): Promise<ActionOutcome>;
  promote(reason: string): Promise<ActionOutcome>;
  lifecycle(): LifecycleFacts;
  /** PostgreSQL's port, for an operator that finds the instance by its status API. */
  readonly port: number;
  /** pg_controldata's fields; undefined when it cannot be read (no PGDATA yet). */
  controlData(): Promise<ControlData | undefined>;
  demote(request: ActionRequest): Promise<ActionOutcome>;
  fence(request: ActionRequest): Promise<ActionOutcome>;
  unfence(request: ActionRequest): Promise<ActionOutcome>;
  /** Backups and WAL archiving; undefined without a backup repository. */
  backup(): BackupStatus | undefined;
  /** Starts a backup of that type in the background (202), or says why not (409). */
  startBackup(type: BackupType): Promise<ActionOutcome>;
}
