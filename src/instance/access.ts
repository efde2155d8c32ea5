/**
 * The way in: the application database and its owner, the passwords mounted as basic-auth Secrets
 * (`app-user/`, `superuser/`, and each declared role's `passwordSecret`), the declared roles of
 * `--roles`, and the extensions `--config` switches on. Inputs are read at start (bad ones are bad
 * input: exit 2) and at every reload (bad ones are logged and what was in force stays); they are
 * applied on a primary each time PostgreSQL starts accepting connections and after each reload.
 */
import fs from 'node:fs';
import path from 'node:path';
import { extensionsFor, METRICS_USER, parseUserParameters, REPLICATION_USER } from '../config/index.js';
import { errorMessage, UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { ensureExtensions, SUPERUSER, type SocketAddress } from '../postgres/index.js';
import { writeFileAtomically, type RunAs } from '../process/index.js';
import {
  appOwnerIntent,
  connectionUri,
  declaredIntent,
  ensureAppDatabase,
  generatePassword,
  parseRoles,
  pgpassLine,
  reconcileRoles,
  superuserIntent,
  type DeclaredRole,
  type PasswordIntent,
  type RoleIntent,
  type YamlParse,
} from '../roles/index.js';
import { InvalidSecret, readBasicAuth, type BasicAuth } from '../secrets/index.js';
import type { RoleStatus } from '../status/index.js';
import { readInputFile } from './configuration.js';
import type { RunOptions } from './options.js';

export const APP_USER_SECRET = 'app-user';
export const SUPERUSER_SECRET = 'superuser';

export interface AccessDeps {
  options: RunOptions;
  logger: Logger;
  socketAddress: SocketAddress;
  /** The CA clients verify the server with, for the generated connection URI. */
  serverCaFile: string;
}

/** What the inputs asked for when they were last read without fault (per role, for the Secrets). */
interface Wanted {
  declared: DeclaredRole[];
  appOwner: PasswordIntent;
  /** Undefined: the superuser has no password (no `superuser/` Secret). */
  superuserPassword: string | undefined;
  rolePasswords: Map<string, PasswordIntent>;
  /** Why a role's Secret could not be used; its password stays as it is. */
  secretErrors: Map<string, string>;
}

/** The generated credentials belong to the manager, not to PostgreSQL. */
const MANAGER: RunAs = { name: 'instance-manager', uid: undefined, gid: undefined, home: '/' };

export class Access {
  private wanted: Wanted = {
    declared: [],
    appOwner: { kind: 'keep' },
    superuserPassword: undefined,
    rolePasswords: new Map(),
    secretErrors: new Map(),
  };
  private readonly states = new Map<string, RoleStatus>();
  private applying: Promise<void> = Promise.resolve();
  private parseYaml: YamlParse | undefined;

  constructor(private readonly deps: AccessDeps) {}

  /** `superuser/` is mounted: pg_hba lets the superuser in over TLS with its password. */
  get superuserOverTcp(): boolean {
    return this.wanted.superuserPassword !== undefined;
  }

  /** At start: every input must be usable (UsageError otherwise). */
  async prepare(): Promise<void> {
    if (this.deps.options.rolesFile !== undefined) this.parseYaml = (await import('yaml')).parse;
    const problems: string[] = [];
    this.wanted = this.read(this.wanted.declared, (message) => problems.push(message));
    for (const error of this.wanted.secretErrors.values()) problems.push(error);
    if (problems.length > 0) throw new UsageError(problems[0]!);
    this.resetStates();
  }

  /**
   * On a primary at start, once the run dir exists: without `app-user/` nor a password generated
   * before, the owner's password is generated under `run-dir/app-user/`.
   */
  generateAppPasswordIfMissing(): void {
    if (this.deps.options.appDatabase === undefined || this.wanted.appOwner.kind !== 'keep') return;
    const password = generatePassword();
    this.writeGenerated(password);
    this.wanted = { ...this.wanted, appOwner: { kind: 'set', password } };
  }

  /** At a reload: a refused input is logged and what was in force for it stays. */
  refresh(): void {
    const { logger } = this.deps;
    const refuse = (err: string) => logger.error('refused an access input; what was in force stays', { err });
    this.wanted = this.read(this.wanted.declared, refuse);
    for (const [role, err] of this.wanted.secretErrors) {
      logger.error('refused a password Secret; the role keeps its password', { role, err });
    }
    this.resetStates();
  }

  /** Per managed role: whether it is as declared, and the last error. */
  roles(): RoleStatus[] {
    return [...this.states.values()].map((status) => ({ ...status }));
  }

  /** On a primary that accepts connections; one application at a time, failures logged. */
  apply(reason: string): Promise<void> {
    const next = this.applying
      .then(() => this.applyNow(reason))
      .catch((error: unknown) => {
        this.deps.logger.error('could not apply roles and passwords', { reason, err: errorMessage(error) });
      });
    this.applying = next;
    return next;
  }

  private async applyNow(reason: string): Promise<void> {
    const { options, logger, socketAddress } = this.deps;
    const intents = this.intents();
    const outcomes = await reconcileRoles(socketAddress, intents);
    for (const outcome of outcomes) {
      const role = outcome.name;
      if (!outcome.ok) {
        logger.error('could not bring a role to its declared state', { role, reason, err: outcome.error });
        this.setState(role, 'failed', outcome.error);
        continue;
      }
      const { changes } = outcome.plan;
      if (changes.length > 0) logger.info('role brought to its declared state', { role, changes, reason });
      const absent = intents.find((intent) => intent.name === role)?.ensure === 'absent';
      this.setState(role, absent ? 'absent' : 'present', this.wanted.secretErrors.get(role) ?? null);
    }
    if (options.appDatabase !== undefined && outcomes.find((outcome) => outcome.name === options.appOwner)?.ok) {
      if (await ensureAppDatabase(socketAddress, options.appDatabase, options.appOwner)) {
        logger.info('created the application database', { database: options.appDatabase, owner: options.appOwner });
      }
    }
    await this.ensureExtensions();
  }

  /** Only the roles /pg/status shows (not the superuser) have a state. */
  private setState(name: string, state: RoleStatus['state'], lastError: string | null): void {
    if (this.states.has(name)) this.states.set(name, { name, state, lastError });
  }

  private async ensureExtensions(): Promise<void> {
    const { options, logger, socketAddress } = this.deps;
    let extensions: string[];
    try {
      const config = readInputFile(options.configFile, '--config');
      extensions = config ? extensionsFor(parseUserParameters(config.text, config.file)) : [];
    } catch {
      return; // the configuration reload reports it
    }
    const result = await ensureExtensions(socketAddress, extensions);
    for (const { database, extension } of result.created) {
      logger.info('created an extension its settings ask for', { extension, database });
    }
    if (result.notLoaded.length > 0) {
      const extensions = result.notLoaded;
      logger.warning('extensions wait for a restart: their library is not loaded yet', { extensions });
    }
  }

  private intents(): RoleIntent[] {
    const { options } = this.deps;
    const { declared, appOwner, superuserPassword, rolePasswords } = this.wanted;
    return [
      superuserIntent(SUPERUSER, superuserPassword),
      ...(options.appDatabase === undefined ? [] : [appOwnerIntent(options.appOwner, appOwner)]),
      ...declared.map((role) => declaredIntent(role, rolePasswords.get(role.name) ?? { kind: 'keep' })),
    ];
  }

  /** The roles shown in /pg/status: the app owner and the declared ones; kept states where names stay. */
  private resetStates(): void {
    const { options } = this.deps;
    const appOwner = options.appDatabase === undefined ? [] : [options.appOwner];
    const names = [...appOwner, ...this.wanted.declared.map((role) => role.name)];
    for (const name of this.states.keys()) if (!names.includes(name)) this.states.delete(name);
    for (const name of names) {
      const secretError = this.wanted.secretErrors.get(name) ?? null;
      const known = this.states.get(name);
      if (known) this.states.set(name, { ...known, lastError: secretError ?? known.lastError });
      else this.states.set(name, { name, state: 'pending', lastError: secretError });
    }
  }

  /** Reads every input; `refuse` hears about an input as a whole that cannot be used. */
  private read(previousDeclared: DeclaredRole[], refuse: (message: string) => void): Wanted {
    const { options } = this.deps;
    const secretErrors = new Map<string, string>();
    const secret = (dir: string, user: string): BasicAuth | undefined | 'refused' => {
      try {
        return readBasicAuth(path.join(options.secretsDir, dir), user);
      } catch (error) {
        if (!(error instanceof InvalidSecret)) throw error;
        secretErrors.set(user, `--secrets-dir: ${error.message}`);
        return 'refused';
      }
    };
    let declared = previousDeclared;
    try {
      const file = readInputFile(options.rolesFile, '--roles');
      const reserved = [SUPERUSER, REPLICATION_USER, METRICS_USER, options.appOwner];
      declared = file ? parseRoles(file.text, file.file, reserved, this.parseYaml!) : [];
    } catch (error) {
      refuse(errorMessage(error));
    }
    const superuser = secret(SUPERUSER_SECRET, SUPERUSER);
    const rolePasswords = new Map<string, PasswordIntent>();
    for (const role of declared) {
      if (role.passwordSecret === undefined || role.ensure === 'absent') continue;
      const mounted = secret(role.passwordSecret, role.name);
      if (mounted === undefined) {
        const dir = path.join(options.secretsDir, role.passwordSecret);
        secretErrors.set(role.name, `--secrets-dir: ${dir} (passwordSecret of "${role.name}") is not mounted`);
      }
      const password = typeof mounted === 'object' ? mounted.password : undefined;
      rolePasswords.set(role.name, password === undefined ? { kind: 'keep' } : { kind: 'set', password });
    }
    return {
      declared,
      appOwner:
        options.appDatabase === undefined
          ? { kind: 'keep' }
          : this.appOwnerPassword(secret(APP_USER_SECRET, options.appOwner)),
      // A refused superuser Secret keeps what was in force (pg_hba included).
      superuserPassword: superuser === 'refused' ? this.wanted.superuserPassword : superuser?.password,
      rolePasswords,
      secretErrors,
    };
  }

  /** The mounted password, else the one generated before, else none yet. */
  private appOwnerPassword(mounted: BasicAuth | undefined | 'refused'): PasswordIntent {
    if (mounted === 'refused') return { kind: 'keep' };
    if (mounted) return { kind: 'set', password: mounted.password };
    const file = path.join(this.generatedDir, 'password');
    try {
      return { kind: 'set', password: fs.readFileSync(file, 'utf8') };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    return { kind: 'keep' };
  }

  private get generatedDir(): string {
    return path.join(this.deps.options.runDir, APP_USER_SECRET);
  }

  private writeGenerated(password: string): void {
    const { options, logger, serverCaFile } = this.deps;
    const dir = this.generatedDir;
    const connection = {
      host: options.serverNames[0] ?? 'localhost',
      port: options.port,
      database: options.appDatabase!,
      username: options.appOwner,
      password,
      serverCaFile,
    };
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // The password last: its presence means the set is complete.
    writeFileAtomically(path.join(dir, 'username'), options.appOwner, MANAGER, 0o600);
    writeFileAtomically(path.join(dir, 'pgpass'), pgpassLine(connection), MANAGER, 0o600);
    writeFileAtomically(path.join(dir, 'uri'), `${connectionUri(connection)}\n`, MANAGER, 0o600);
    writeFileAtomically(path.join(dir, 'password'), password, MANAGER, 0o600);
    logger.info('generated a password for the application owner (no app-user Secret is mounted)', {
      role: options.appOwner,
      database: options.appDatabase,
      passwordFile: path.join(dir, 'password'),
      pgpassFile: path.join(dir, 'pgpass'),
      uriFile: path.join(dir, 'uri'),
    });
  }
}
