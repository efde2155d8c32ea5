/**
 * The certificates PostgreSQL serves: gathered per pair from the mounted Secrets or issued here,
 * validated, and copied to `run-dir/certificates/` owned by the PostgreSQL user, keys 0600.
 * A pair whose new material is refused keeps what it copied before.
 */
import os from 'node:os';
import path from 'node:path';
import { errorMessage, UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { CertificateError, daysLeft, type CertificateInfo, type CertificateMaterial } from '../pki/index.js';
import { ensureOwnedDirectory, writeFileAtomically, type RunAs } from '../process/index.js';
import { Issuer } from './issuer.js';
import { readMountedSecrets, SECRET_DIRS, type MountedSecrets } from './layout.js';
import { planPair, type Mode } from './modes.js';
import { checkCa, checkLeaf, checkReplicationLeaf, InvalidSecret, serverLeafConcerns } from './validate.js';

/** The files under `run-dir/certificates/`, as the contract names them. */
export const CERTIFICATE_FILES = {
  serverCert: 'server.crt',
  serverKey: 'server.key',
  serverCa: 'server-ca.crt',
  clientCa: 'client-ca.crt',
  replicationCert: 'streaming_replica.crt',
  replicationKey: 'streaming_replica.key',
} as const;

/** Where the copy of one of CERTIFICATE_FILES is kept under a run dir. */
export function certificateCopyPath(runDir: string, name: string): string {
  return path.join(runDir, 'certificates', name);
}

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
  /** `--server-name`: the names issued server certificates carry. */
  serverNames: string[];
  /** CN of the operator certificate issued with an automatic client CA (`--operator-names`' first). */
  operatorName?: string;
  logger: Logger;
  now?: () => Date;
}

/** Renewals are checked this often (and on every Secret change). */
export const RENEWAL_CHECK_INTERVAL_MS = 3_600_000;

/** The two pairs, each a leaf and the CA it chains to. */
const PAIRS = {
  server: {
    leafDir: SECRET_DIRS.serverTls,
    caDir: SECRET_DIRS.serverCa,
    leafOptional: false,
    leafCert: CERTIFICATE_FILES.serverCert,
    leafKey: CERTIFICATE_FILES.serverKey,
    caCert: CERTIFICATE_FILES.serverCa,
    leafVolume: (mounted: MountedSecrets) => mounted.serverTls,
    caVolume: (mounted: MountedSecrets) => mounted.serverCa,
  },
  client: {
    leafDir: SECRET_DIRS.replicationTls,
    caDir: SECRET_DIRS.clientCa,
    leafOptional: true,
    leafCert: CERTIFICATE_FILES.replicationCert,
    leafKey: CERTIFICATE_FILES.replicationKey,
    caCert: CERTIFICATE_FILES.clientCa,
    leafVolume: (mounted: MountedSecrets) => mounted.replicationTls,
    caVolume: (mounted: MountedSecrets) => mounted.clientCa,
  },
} as const;

type PairName = keyof typeof PAIRS;
const PAIR_NAMES = Object.keys(PAIRS) as PairName[];

/** What one pair hands to PostgreSQL: file contents by name, and the certificates to report. */
interface PairMaterial {
  files: Map<string, { content: string; mode: number }>;
  certificates: Map<string, { notAfter: Date; mode: Mode }>;
}

export class CertificateStore {
  readonly certificatesDir: string;
  private readonly now: () => Date;
  private readonly issuer: Issuer;
  private readonly served = new Map<PairName, PairMaterial>();

  constructor(private readonly options: CertificateStoreOptions) {
    this.certificatesDir = certificateCopyPath(options.runDir, '');
    this.now = options.now ?? (() => new Date());
    this.issuer = new Issuer({
      dir: path.join(options.runDir, 'pki'),
      serverNames: options.serverNames,
      operatorName: options.operatorName,
      logger: options.logger,
      now: this.now,
    });
  }

  path(name: string): string {
    return path.join(this.certificatesDir, name);
  }

  /** Days left and mode of every certificate served, for the status API. */
  status(): CertificateStatus[] {
    const now = this.now();
    return [...this.served.values()].flatMap((material) =>
      [...material.certificates].map(([name, { notAfter, mode }]) => ({
        name,
        notAfter,
        daysLeft: daysLeft({ notAfter }, now),
        mode,
      })),
    );
  }

  /** At start: bad mounted material is bad input (UsageError), since nothing serves yet. */
  async prepare(): Promise<string[]> {
    ensureOwnedDirectory(this.certificatesDir, this.options.runAs);
    const asUsageError = (error: unknown): never => {
      if (error instanceof InvalidSecret || error instanceof CertificateError)
        throw new UsageError(`--secrets-dir ${this.options.secretsDir}: ${error.message}`);
      throw error;
    };
    let mounted: MountedSecrets;
    try {
      mounted = readMountedSecrets(this.options.secretsDir);
    } catch (error) {
      return asUsageError(error);
    }
    const changed = await Promise.all(PAIR_NAMES.map((pair) => this.apply(pair, mounted).catch(asUsageError)));
    return changed.flat();
  }

  /**
   * Re-reads the Secrets and renews what is due. A pair whose material is refused is logged and
   * keeps serving what it had. Returns the names of the files that changed.
   */
  async refresh(): Promise<string[]> {
    let mounted: MountedSecrets;
    try {
      mounted = readMountedSecrets(this.options.secretsDir);
    } catch (error) {
      this.options.logger.error('cannot read the mounted secrets; the previous certificates keep serving', {
        secretsDir: this.options.secretsDir,
        err: errorMessage(error),
      });
      return [];
    }
    const changed = await Promise.all(
      PAIR_NAMES.map((pair) =>
        this.apply(pair, mounted).catch((error: unknown) => {
          if (!(error instanceof InvalidSecret || error instanceof UsageError || error instanceof CertificateError))
            throw error;
          this.options.logger.error('refused the mounted certificates; the previous ones keep serving', {
            pair,
            err: error.message,
          });
          return [];
        }),
      ),
    );
    return changed.flat();
  }

  /** At start and at every rotation: a server certificate clients would refuse still serves, but is reported. */
  private warnIfUnfit(info: CertificateInfo, certName: string): void {
    const names = [...new Set([...this.options.serverNames, os.hostname()])];
    for (const concern of serverLeafConcerns(info, names)) {
      this.options.logger.warning('the mounted server certificate does not fit this instance', {
        file: certName,
        concern,
      });
    }
  }

  private async apply(pair: PairName, mounted: MountedSecrets): Promise<string[]> {
    const material = await this.gather(pair, mounted);
    const { runAs } = this.options;
    const changed = [...material.files]
      .filter(([name, { content, mode }]) => writeFileAtomically(this.path(name), content, runAs, mode))
      .map(([name]) => name);
    this.served.set(pair, material);
    return changed;
  }

  /** The pair's certificates and key, validated (mounted) or made (issued). */
  private async gather(pair: PairName, mounted: MountedSecrets): Promise<PairMaterial> {
    const spec = PAIRS[pair];
    const leafVolume = spec.leafVolume(mounted);
    const caVolume = spec.caVolume(mounted);
    // cert-manager puts the CA in the leaf's own Secret as ca.crt.
    const [caHolder, caDir] = caVolume.has('ca.crt') ? [caVolume, spec.caDir] : [leafVolume, spec.leafDir];
    const caPem = caHolder.get('ca.crt');
    const caName = `${caDir}/ca.crt`;
    const caKeyPem = caVolume.get('ca.key');
    const plan = planPair({
      ...spec,
      leafCert: leafVolume.has('tls.crt'),
      leafKey: leafVolume.has('tls.key'),
      caCert: caPem !== undefined,
      caKey: caKeyPem !== undefined,
    });
    const now = this.now();
    let ca: Served;
    let leaf: Served | undefined;
    if (plan.mode === 'automatic') {
      const automatic = await this.issuer.automaticCa(pair);
      ca = automatic;
      leaf = await this.issuer.leaf(pair, automatic, plan.mode, automatic.leafKeyPem);
      if (pair === 'client') await this.issuer.operatorLeaf(automatic);
    } else if (plan.mode === 'hybrid') {
      const signing: CertificateMaterial = { certPem: caPem!, keyPem: caKeyPem! };
      ca = { ...signing, notAfter: checkCa(caPem!, caName, now, caKeyPem).notAfter };
      leaf = await this.issuer.leaf(pair, signing, plan.mode);
    } else {
      ca = { certPem: caPem!, notAfter: checkCa(caPem!, caName, now).notAfter };
      if (plan.leaf === 'mounted') {
        const certPem = leafVolume.get('tls.crt')!;
        const keyPem = leafVolume.get('tls.key')!;
        const certName = `${spec.leafDir}/tls.crt`;
        const info = checkLeaf({ certPem, keyPem, caPem: caPem!, certName, keyName: `${spec.leafDir}/tls.key` }, now);
        if (pair === 'client') checkReplicationLeaf(info, certName);
        else if (this.served.get(pair)?.files.get(spec.leafCert)?.content !== certPem) this.warnIfUnfit(info, certName);
        leaf = { certPem, keyPem, notAfter: info.notAfter };
      }
    }
    return pairMaterial(spec, plan.mode, ca, leaf);
  }
}

/** A certificate as served: its PEM (with its chain), its key when PostgreSQL needs it, its end. */
type Served = { certPem: string; keyPem?: string; notAfter: Date };

function pairMaterial(spec: (typeof PAIRS)[PairName], mode: Mode, ca: Served, leaf: Served | undefined): PairMaterial {
  const material: PairMaterial = {
    files: new Map([[spec.caCert, { content: ca.certPem, mode: 0o644 }]]),
    certificates: new Map([[spec.caCert, { notAfter: ca.notAfter, mode }]]),
  };
  if (leaf) {
    material.files.set(spec.leafCert, { content: leaf.certPem, mode: 0o644 });
    material.files.set(spec.leafKey, { content: leaf.keyPem!, mode: 0o600 });
    material.certificates.set(spec.leafCert, { notAfter: leaf.notAfter, mode });
  }
  return material;
}
