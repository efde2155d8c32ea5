/**
 * What the manager issues itself, kept under `run-dir/pki/` so it is reused on every start: the
 * automatic CAs (created once, re-signed with the same key 30 days before they expire) and the
 * leaves of the automatic and hybrid modes (90 days, renewed under 7 days left, re-issued when
 * their CA or the server names changed).
 */
import fs from 'node:fs';
import path from 'node:path';
import { REPLICATION_USER } from '../config/index.js';
import { UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import {
  CertificateError,
  certificateFile,
  createCa,
  generateKey,
  inspectCertificate,
  issueClientCertificate,
  issueServerCertificate,
  keyMatchesCertificate,
  needsRenewal,
  notAfterOf,
  reissueReason,
  renewCa,
  serverNames,
  type CertificateMaterial,
  type LeafExpectation,
} from '../pki/index.js';
import { writeFileAtomically, type RunAs } from '../process/index.js';
import type { Mode } from './modes.js';

export interface IssuerOptions {
  dir: string;
  serverNames: string[];
  /** The CN of the operator certificate issued beside the automatic client CA; undefined issues none. */
  operatorName?: string;
  logger: Logger;
  now: () => Date;
}

type Pair = 'server' | 'client';
/**
 * A leaf and the pair whose CA signs it: the operator's certificate is a second client leaf, for
 * the CLI's operator commands on the machine that ran `run` (the CA key never leaves the manager).
 */
type Leaf = Pair | 'operator';

const CA_FILE: Record<Pair, string> = { server: 'server-ca', client: 'client-ca' };
const LEAF_FILE: Record<Leaf, string> = { server: 'server', client: REPLICATION_USER, operator: 'operator' };

/** Where the operator certificate of an automatic client CA is kept, for `instance-manager` commands. */
export function operatorCertificatePaths(runDir: string): { cert: string; key: string } {
  return {
    cert: path.join(runDir, 'pki', `${LEAF_FILE.operator}.crt`),
    key: path.join(runDir, 'pki', `${LEAF_FILE.operator}.key`),
  };
}

/** The CA keys stay the manager's own: PostgreSQL never needs them, so they are not handed over. */
const MANAGER: RunAs = { name: 'instance-manager', uid: undefined, gid: undefined, home: '/' };

/** A certificate as kept, with its end. */
type Kept = CertificateMaterial & { notAfter: Date };

/**
 * An automatic CA; `leafKeyPem` when it was just created: a new CA means a new leaf too (the kept
 * one no longer chains to it), so that leaf's key was generated alongside the CA's, not after it.
 */
export type AutomaticCa = Kept & { leafKeyPem?: string };

export class Issuer {
  constructor(private readonly options: IssuerOptions) {}

  /** The automatic CA of a pair: read back, created when missing, re-signed when due. */
  async automaticCa(pair: Pair): Promise<AutomaticCa> {
    const now = this.options.now();
    const name = CA_FILE[pair];
    const existing = this.read(name);
    const problem = existing === undefined ? 'missing' : caProblem(existing);
    let ca: CertificateMaterial;
    let leafKeyPem: string | undefined;
    if (existing === undefined || problem !== undefined) {
      // RSA key generation is most of a cold start; both keys are made at once on the thread pool.
      const [caKeyPem, nextLeafKeyPem] = await Promise.all([generateKey(), generateKey()]);
      leafKeyPem = nextLeafKeyPem;
      ca = await createCa({
        commonName: `instance-manager ${pair} CA (${this.options.serverNames[0]})`,
        now,
        keyPem: caKeyPem,
      });
      this.log('created a CA', name, ca, problem ?? 'missing');
    } else {
      const notAfter = notAfterOf(existing.certPem);
      if (!needsRenewal({ notAfter }, now, 'ca')) return { ...existing, notAfter };
      ca = await renewCa(existing, { now });
      this.log('renewed a CA with its own key', name, ca, 'expires soon');
    }
    this.write(name, ca.certPem, ca.keyPem);
    return { ...ca, notAfter: notAfterOf(ca.certPem), ...(leafKeyPem === undefined ? {} : { leafKeyPem }) };
  }

  /**
   * The pair's leaf signed by `ca`: the one issued before while it still fits, else a new one (with
   * `keyPem` when given, see `AutomaticCa`).
   */
  async leaf(pair: Leaf, ca: CertificateMaterial, mode: Mode, keyPem?: string): Promise<Kept> {
    const now = this.options.now();
    const name = LEAF_FILE[pair];
    const expected = this.expectation(pair, mode);
    const existing = this.read(name);
    const reason = existing === undefined ? 'missing' : reissueReason(existing, ca.certPem, expected, now);
    if (existing !== undefined && reason === undefined) return { ...existing, notAfter: notAfterOf(existing.certPem) };
    const issued =
      'names' in expected
        ? await issueServerCertificate(ca, { ...expected, now, keyPem })
        : await issueClientCertificate(ca, { user: expected.user, now, keyPem });
    const material = { certPem: certificateFile(issued), keyPem: issued.keyPem };
    this.write(name, material.certPem, material.keyPem);
    this.log('issued a certificate', name, material, reason ?? 'missing', mode);
    return { ...material, notAfter: notAfterOf(material.certPem) };
  }

  private expectation(leaf: Leaf, mode: Mode): LeafExpectation {
    switch (leaf) {
      case 'server':
        return { names: this.checkedServerNames(), includeLocalhost: mode === 'automatic' };
      case 'client':
        return { user: REPLICATION_USER };
      case 'operator':
        return { user: this.options.operatorName! };
    }
  }

  /** The operator's certificate beside an automatic client CA, when an operator name was given. */
  async operatorLeaf(ca: CertificateMaterial): Promise<void> {
    if (this.options.operatorName !== undefined) await this.leaf('operator', ca, 'automatic');
  }

  /** `--server-name` as given, refused (exit 2 at start) when a name is neither DNS nor IP. */
  private checkedServerNames(): string[] {
    try {
      serverNames(this.options.serverNames, false);
      return this.options.serverNames;
    } catch (error) {
      if (error instanceof CertificateError) throw new UsageError(`--server-name: ${error.message}`);
      throw error;
    }
  }

  private read(name: string): CertificateMaterial | undefined {
    try {
      return {
        certPem: fs.readFileSync(path.join(this.options.dir, `${name}.crt`), 'utf8'),
        keyPem: fs.readFileSync(path.join(this.options.dir, `${name}.key`), 'utf8'),
      };
    } catch {
      return undefined;
    }
  }

  private write(name: string, certPem: string, keyPem: string): void {
    fs.mkdirSync(this.options.dir, { recursive: true, mode: 0o700 });
    writeFileAtomically(path.join(this.options.dir, `${name}.key`), keyPem, MANAGER, 0o600);
    writeFileAtomically(path.join(this.options.dir, `${name}.crt`), certPem, MANAGER, 0o644);
  }

  private log(msg: string, name: string, material: CertificateMaterial, reason: string, mode?: Mode): void {
    const info = inspectCertificate(material.certPem);
    this.options.logger.info(msg, {
      file: path.join(this.options.dir, `${name}.crt`),
      subject: info.subject,
      notAfter: info.notAfter.toISOString(),
      reason,
      ...(mode ? { mode } : {}),
    });
  }
}

/** Why a kept automatic CA cannot be used any more (unreadable, or its key does not match). */
function caProblem(ca: CertificateMaterial): string | undefined {
  try {
    return keyMatchesCertificate(ca.certPem, ca.keyPem) ? undefined : 'its private key does not match it';
  } catch (error) {
    if (error instanceof CertificateError) return error.message;
    throw error;
  }
}
