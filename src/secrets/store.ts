/**
 * The certificates PostgreSQL serves: gathered per pair from the mounted Secrets (or issued),
 * validated, and copied to `run-dir/certificates/` owned by the PostgreSQL user, keys 0600.
 * A pair whose new material is refused keeps what it copied before.
 */
import path from 'node:path';
import { UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { ensureOwnedDirectory, writeFileAtomically, type RunAs } from '../process/index.js';
import { readMountedSecrets, SECRET_DIRS, type MountedSecrets } from './layout.js';
import { planPair, type Mode, type PairPlan } from './modes.js';
import { checkCa, checkLeaf, InvalidSecret, type CheckedCertificate } from './validate.js';

/** The files under `run-dir/certificates/`, as the contract names them. */
export const CERTIFICATE_FILES = {
  serverCert: 'server.crt',
  serverKey: 'server.key',
  serverCa: 'server-ca.crt',
  clientCa: 'client-ca.crt',
  replicationCert: 'streaming_replica.crt',
  replicationKey: 'streaming_replica.key',
} as const;

export interface CertificateStatus {
  /** A file under `run-dir/certificates/` (server.crt, server-ca.crt, client-ca.crt, streaming_replica.crt). */
  name: string;
  notAfter: Date;
  daysLeft: number;
  mode: Mode;
}

export interface CertificateStoreOptions {
  secretsDir: string;
  runDir: string;
  runAs: RunAs;
  serverNames: string[];
  logger: Logger;
  now?: () => Date;
}

type PairName = 'server' | 'client';

/** What one pair hands to PostgreSQL: file contents by name, and the certificates to report. */
interface PairMaterial {
  files: Map<string, { content: string; mode: number }>;
  certificates: Map<string, { notAfter: Date; mode: Mode }>;
}

const DAY_MS = 86_400_000;

/** Renewals are checked this often (and on every Secret change). */
export const RENEWAL_CHECK_INTERVAL_MS = 3_600_000;

export class CertificateStore {
  readonly certificatesDir: string;
  private readonly now: () => Date;
  private readonly served = new Map<PairName, PairMaterial>();

  constructor(private readonly options: CertificateStoreOptions) {
    this.certificatesDir = path.join(options.runDir, 'certificates');
    this.now = options.now ?? (() => new Date());
  }

  path(name: string): string {
    return path.join(this.certificatesDir, name);
  }

  /** True once a server certificate is in place, so PostgreSQL can turn TLS on. */
  get hasServerCertificate(): boolean {
    return this.served.has('server');
  }

  /** Days left and mode of every certificate served, for the status API. */
  status(): CertificateStatus[] {
    const now = this.now().getTime();
    return [...this.served.values()].flatMap((material) =>
      [...material.certificates].map(([name, { notAfter, mode }]) => ({ name, notAfter, daysLeft: Math.floor((notAfter.getTime() - now) / DAY_MS), mode })),
    );
  }

  /** At start: bad mounted material is bad input (UsageError), since nothing serves yet. */
  prepare(): string[] {
    ensureOwnedDirectory(this.certificatesDir, this.options.runAs);
    const mounted = readMountedSecrets(this.options.secretsDir);
    const changed: string[] = [];
    for (const pair of ['server', 'client'] as const) {
      try {
        changed.push(...this.apply(pair, mounted));
      } catch (error) {
        if (error instanceof InvalidSecret) throw new UsageError(`--secrets-dir ${this.options.secretsDir}: ${error.message}`);
        throw error;
      }
    }
    return changed;
  }

  /**
   * Re-reads the Secrets and renews what is due. A pair whose material is refused is logged and
   * keeps serving what it had. Returns the names of the files that changed.
   */
  refresh(): string[] {
    let mounted: MountedSecrets;
    try {
      mounted = readMountedSecrets(this.options.secretsDir);
    } catch (error) {
      this.options.logger.error('cannot read the mounted secrets; the previous certificates keep serving', { secretsDir: this.options.secretsDir, err: (error as Error).message });
      return [];
    }
    const changed: string[] = [];
    for (const pair of ['server', 'client'] as const) {
      try {
        changed.push(...this.apply(pair, mounted));
      } catch (error) {
        if (!(error instanceof InvalidSecret || error instanceof UsageError)) throw error;
        this.options.logger.error('refused the mounted certificates; the previous ones keep serving', { pair, err: error.message });
      }
    }
    return changed;
  }

  private apply(pair: PairName, mounted: MountedSecrets): string[] {
    const material = pair === 'server' ? this.serverMaterial(mounted) : this.clientMaterial(mounted);
    if (material === undefined) return [];
    const changed = [...material.files].filter(([name, { content, mode }]) => writeFileAtomically(this.path(name), content, this.options.runAs, mode)).map(([name]) => name);
    this.served.set(pair, material);
    return changed;
  }

  private serverMaterial(mounted: MountedSecrets): PairMaterial | undefined {
    const leaf = mounted.serverTls;
    const caPem = mounted.serverCa.get('ca.crt') ?? leaf.get('ca.crt');
    const caName = mounted.serverCa.has('ca.crt') ? `${SECRET_DIRS.serverCa}/ca.crt` : `${SECRET_DIRS.serverTls}/ca.crt`;
    const plan = planPair({
      leafDir: SECRET_DIRS.serverTls,
      caDir: SECRET_DIRS.serverCa,
      leafCert: leaf.has('tls.crt'),
      leafKey: leaf.has('tls.key'),
      caCert: caPem !== undefined,
      caKey: mounted.serverCa.has('ca.key'),
      leafOptional: false,
    });
    if (plan.mode !== 'provided') return this.issuedMaterial('server', plan);
    const now = this.now();
    const ca = checkCa(caPem!, caName, undefined, '', now);
    const certificate = checkLeaf({ certPem: leaf.get('tls.crt')!, keyPem: leaf.get('tls.key')!, caPem: caPem!, certName: `${SECRET_DIRS.serverTls}/tls.crt`, keyName: `${SECRET_DIRS.serverTls}/tls.key` }, now);
    return material(plan.mode, [
      [CERTIFICATE_FILES.serverCert, certificate],
      [CERTIFICATE_FILES.serverCa, ca],
    ], [[CERTIFICATE_FILES.serverKey, leaf.get('tls.key')!]]);
  }

  private clientMaterial(mounted: MountedSecrets): PairMaterial | undefined {
    const leaf = mounted.replicationTls;
    const caPem = mounted.clientCa.get('ca.crt') ?? leaf.get('ca.crt');
    const caName = mounted.clientCa.has('ca.crt') ? `${SECRET_DIRS.clientCa}/ca.crt` : `${SECRET_DIRS.replicationTls}/ca.crt`;
    const plan = planPair({
      leafDir: SECRET_DIRS.replicationTls,
      caDir: SECRET_DIRS.clientCa,
      leafCert: leaf.has('tls.crt'),
      leafKey: leaf.has('tls.key'),
      caCert: caPem !== undefined,
      caKey: mounted.clientCa.has('ca.key'),
      leafOptional: true,
    });
    if (plan.mode !== 'provided') return this.issuedMaterial('client', plan);
    const now = this.now();
    const ca = checkCa(caPem!, caName, undefined, '', now);
    if (plan.leaf === 'none') return material(plan.mode, [[CERTIFICATE_FILES.clientCa, ca]], []);
    const certificate = checkLeaf({ certPem: leaf.get('tls.crt')!, keyPem: leaf.get('tls.key')!, caPem: caPem!, certName: `${SECRET_DIRS.replicationTls}/tls.crt`, keyName: `${SECRET_DIRS.replicationTls}/tls.key` }, now);
    return material(plan.mode, [
      [CERTIFICATE_FILES.clientCa, ca],
      [CERTIFICATE_FILES.replicationCert, certificate],
    ], [[CERTIFICATE_FILES.replicationKey, leaf.get('tls.key')!]]);
  }

  // TEMPORARY until src/pki lands: hybrid and automatic modes need its issuing.
  private issuedMaterial(pair: PairName, plan: PairPlan): PairMaterial | undefined {
    this.options.logger.warning('issuing certificates is not available yet; this pair is not served', { pair, mode: plan.mode });
    return undefined;
  }
}

function material(mode: Mode, certificates: [string, CheckedCertificate][], keys: [string, string][]): PairMaterial {
  return {
    files: new Map([
      ...certificates.map(([name, { pem }]): [string, { content: string; mode: number }] => [name, { content: pem, mode: 0o644 }]),
      ...keys.map(([name, pem]): [string, { content: string; mode: number }] => [name, { content: pem, mode: 0o600 }]),
    ]),
    certificates: new Map(certificates.map(([name, { notAfter }]) => [name, { notAfter, mode }])),
  };
}
