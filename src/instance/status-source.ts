/**
 * The instance as the status API sees it: facts to read and actions to ask for. Kept apart from
 * Instance so the status folder depends on an interface of its own, never on the orchestration.
 */
import fs from 'node:fs';
import type { BackupStatus, BackupType } from '../backup/index.js';
import { errorMessage } from '../errors.js';
import type { Logger, OutputSink } from '../log.js';
import type { SocketAddress } from '../postgres/index.js';
import { NotAReplicaError, promote } from '../replication/index.js';
import { CERTIFICATE_FILES } from '../secrets/index.js';
import { formatAddress, type ControlData } from '../lifecycle/index.js';
import type {
  ActionOutcome,
  ActionRequest,
  CertificateStatus,
  LifecycleFacts,
  LogCounters,
  ManagerPhase,
  PostmasterFacts,
  Role,
  RoleStatus,
  StatusSource,
  TlsMaterial,
} from '../status/index.js';
import type { Instance } from './instance.js';

export class InstanceStatusSource implements StatusSource {
  constructor(
    private readonly instance: Instance,
    private readonly sink: OutputSink,
    private readonly logger: Logger,
  ) {}

  get phase(): ManagerPhase {
    return this.instance.phase;
  }

  get intendedRole(): Role {
    return this.instance.role;
  }

  get postmaster(): PostmasterFacts | undefined {
    const postmaster = this.instance.currentPostmaster;
    return postmaster && { pid: postmaster.pid, startedAt: postmaster.startedAt };
  }

  get acceptingConnectionsSince(): Date | undefined {
    return this.instance.acceptingConnectionsSince;
  }

  get hasStarted(): boolean {
    return this.instance.hasStarted;
  }

  get restarts(): number {
    return this.instance.restarts;
  }

  get socketAddress(): SocketAddress {
    return this.instance.socketAddress;
  }

  certificates(): CertificateStatus[] {
    return this.instance.certificates
      .status()
      .map(({ name, notAfter, daysLeft, mode }) => ({ name, notAfter: notAfter.toISOString(), daysLeft, mode }));
  }

  roles(): RoleStatus[] {
    return this.instance.access.roles();
  }

  logCounters(): LogCounters {
    const logs = this.instance.logs;
    if (!logs) {
      return { recordsByLogger: {}, unparsableRecords: 0, blankLines: 0, bufferedBytes: this.sink.bufferedBytes };
    }
    // Lines from the stderr-format FIFO are written under logger "postgres" too.
    return {
      recordsByLogger: {
        ...logs.programLines,
        postgres: logs.records.postgres + logs.rawLines,
        pgaudit: logs.records.pgaudit,
      },
      unparsableRecords: logs.unparsable,
      blankLines: logs.blankLines,
      bufferedBytes: logs.bufferedBytes,
    };
  }

  /** The copies PostgreSQL serves are the status API's too: one certificate for the pod. */
  tlsMaterial(): TlsMaterial | undefined {
    const store = this.instance.certificates;
    try {
      const read = (name: string) => fs.readFileSync(store.path(name), 'utf8');
      return {
        cert: read(CERTIFICATE_FILES.serverCert),
        key: read(CERTIFICATE_FILES.serverKey),
        clientCa: read(CERTIFICATE_FILES.clientCa),
      };
    } catch {
      return undefined;
    }
  }

  get port(): number {
    return this.instance.socketAddress.port;
  }

  lifecycle(): LifecycleFacts {
    const { lifecycle, role, primary } = this.instance;
    return {
      fence: lifecycle.fence,
      following: role === 'replica' && primary ? formatAddress(primary) : undefined,
      demotion: lifecycle.demotion,
    };
  }

  async controlData(): Promise<ControlData | undefined> {
    try {
      return await this.instance.lifecycle.controlData();
    } catch {
      return undefined;
    }
  }

  reload(reason: string): Promise<ActionOutcome> {
    return this.instance.lifecycle.exclusive('reload', async () =>
      (await this.instance.reload(reason, true))
        ? { ok: true, detail: 'configuration re-read, PostgreSQL reloaded' }
        : {
            ok: false,
            status: 422,
            detail: 'reload refused: the new configuration is invalid (see the log); the previous one stays in force',
          },
    );
  }

  restart(reason: string): Promise<ActionOutcome> {
    return this.instance.lifecycle.exclusive('restart', async () => {
      const refused = this.instance.lifecycle.refusal();
      if (refused) return refused;
      if (this.instance.phase !== 'running')
        return {
          ok: false,
          status: 409,
          detail: `PostgreSQL is ${this.instance.phase}, not running; not restarting it now`,
        };
      // A smart shutdown may take minutes: answer now, the supervisor brings PostgreSQL back.
      void this.instance
        .restart(reason)
        .catch((error: unknown) => this.logger.error('restart failed', { reason, err: errorMessage(error) }));
      return { ok: true, status: 202, detail: 'restart under way' };
    });
  }

  promote(): Promise<ActionOutcome> {
    return this.instance.lifecycle.exclusive('promote', async () => {
      const refused = this.instance.lifecycle.refusal();
      if (refused) return refused;
      try {
        const result = await promote(this.instance, this.logger);
        return {
          ok: true,
          detail: `promoted: now the primary on timeline ${result.timeline} (${result.elapsedMs} ms)`,
        };
      } catch (error) {
        if (error instanceof NotAReplicaError) return { ok: false, status: 409, detail: error.message };
        return { ok: false, status: 500, detail: `promotion failed: ${errorMessage(error)}` };
      }
    });
  }

  demote({ body }: ActionRequest): Promise<ActionOutcome> {
    return this.instance.lifecycle.exclusive('demote', () => this.instance.lifecycle.demote(body));
  }

  fence({ operator }: ActionRequest): Promise<ActionOutcome> {
    return this.instance.lifecycle.exclusive('fence', () => this.instance.lifecycle.fenceNow(operator));
  }

  unfence(): Promise<ActionOutcome> {
    return this.instance.lifecycle.exclusive('unfence', () => this.instance.lifecycle.unfence());
  }

  backup(): BackupStatus | undefined {
    return this.instance.backups?.service.status();
  }

  async startBackup(type: BackupType): Promise<ActionOutcome> {
    const backups = this.instance.backups;
    if (!backups) return { ok: false, status: 409, detail: 'no backup repository is configured (--backup-repo)' };
    const refused = this.instance.lifecycle.refusal();
    if (refused) return refused;
    if (this.instance.role !== 'primary' || this.instance.phase !== 'running') {
      const { role, phase } = this.instance;
      return {
        ok: false,
        status: 409,
        detail: `backups are taken on the running primary; this instance is a ${role} and ${phase}`,
      };
    }
    const started = backups.service.start(type);
    if (!started) return { ok: false, status: 409, detail: 'a backup is already running' };
    return { ok: true, status: 202, detail: `${type} backup started`, json: started };
  }
}
