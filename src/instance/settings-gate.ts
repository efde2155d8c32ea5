/**
 * The user's `--config` is judged before PostgreSQL gets it, at start (before initdb) and at every
 * reload: the manager's own rules, then the binaries' parser on the file as it will be written.
 * A file once accepted is not checked again (in memory, and across restarts through a digest in the
 * run directory), so a warm start with an unchanged file costs no extra process.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  checkUserParameters,
  explainRefusal,
  parseUserParameters,
  preloadLibraries,
  preloadLibrariesFor,
} from '../config/index.js';
import { UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { installedLibraries, settingsRefusal, type PgBinaries } from '../postgres/index.js';
import type { RunAs } from '../process/index.js';

export interface SettingsGateOptions {
  bin: PgBinaries;
  runAs: RunAs;
  logger: Logger;
  runDir: string;
  /** Where `postgres -C` may read and write: a directory the PostgreSQL user owns. */
  scratchDir: string;
}

export class SettingsGate {
  private acceptedDigest: string | undefined;

  constructor(private readonly options: SettingsGateOptions) {}

  private get digestFile(): string {
    return path.join(this.options.runDir, '.settings-accepted');
  }

  /**
   * Throws a UsageError naming file, line, key and reason. `userConfig` is the `--config` file as
   * read; `rendered` the whole custom.conf it went into.
   */
  async check(userConfig: { text: string; file: string } | undefined, rendered: string): Promise<void> {
    if (userConfig === undefined) return;
    // With the libraries pgaudit.* and the like bring in: one that is not installed would stop PostgreSQL starting.
    const parameters = preloadLibrariesFor(parseUserParameters(userConfig.text, userConfig.file));
    const user = { text: userConfig.text, source: userConfig.file, parameters };
    if (user.parameters.size === 0) return;
    const { bin, runAs, logger, scratchDir } = this.options;
    const digest = this.digest(rendered);
    if (digest === this.acceptedDigest || digest === readOptional(this.digestFile)) {
      this.acceptedDigest = digest;
      return;
    }
    const libraries = preloadLibraries(user.parameters).length > 0 ? await installedLibraries(bin) : undefined;
    checkUserParameters(user.parameters, { ...user, installedLibraries: libraries });
    const refusal = await settingsRefusal({ bin, runAs, logger, content: rendered, scratchDir });
    if (refusal !== undefined) {
      const reason =
        explainRefusal(refusal, user, new Set(user.parameters.keys())) ??
        `${user.source}: PostgreSQL refuses it: ${refusal.join(' | ')}`;
      throw new UsageError(reason);
    }
    const custom = [...user.parameters.keys()].filter((key) => key.includes('.'));
    if (custom.length > 0)
      logger.info("custom settings are checked by their library's own rules only once it is loaded", {
        settings: custom,
      });
    this.acceptedDigest = digest;
    fs.writeFileSync(this.digestFile, `${digest}\n`);
  }

  /** The file and the binaries that judged it: an upgrade of the binaries checks again. */
  private digest(rendered: string): string {
    const postgres = this.options.bin.path('postgres');
    return createHash('sha256')
      .update(`${postgres}\0${fs.statSync(postgres).mtimeMs}\0${rendered}`)
      .digest('hex');
  }
}

function readOptional(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}
