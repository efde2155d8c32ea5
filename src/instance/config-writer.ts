/**
 * PostgreSQL's files as the instance writes them at a start, a reload or a change of role: rendered
 * from the current inputs, checked by PostgreSQL's own parser when the user's settings changed, then
 * written where they differ, with postgresql.auto.conf kept honest and pgbackrest.conf beside them.
 */
import { AUTO_CONF, CUSTOM_CONF, type RenderContext } from '../config/index.js';
import type { Logger } from '../log.js';
import type { PgBinaries } from '../postgres/index.js';
import type { RunAs } from '../process/index.js';
import { guardAutoConf } from './alter-system-guard.js';
import type { InstanceBackups } from './backups.js';
import { readInputFile, renderConfiguration, writeConfiguration } from './configuration.js';
import type { RunOptions } from './options.js';
import { SettingsGate } from './settings-gate.js';

export interface ConfigurationWriterDeps {
  options: RunOptions;
  bin: PgBinaries;
  runAs: RunAs;
  logger: Logger;
  /** Where the settings check may write its scratch file. */
  scratchDir: string;
  /** What the settings table's values come from now (it changes with the role). */
  settings: () => RenderContext;
  /** Whether the superuser may log in over TCP (a `superuser/` Secret is mounted). */
  superuserOverTcp: () => boolean;
  backups: InstanceBackups | undefined;
}

export class ConfigurationWriter {
  private readonly gate: SettingsGate;

  constructor(private readonly deps: ConfigurationWriterDeps) {
    const { bin, runAs, logger, options, scratchDir } = deps;
    this.gate = new SettingsGate({ bin, runAs, logger, runDir: options.runDir, scratchDir });
  }

  /** Every file PostgreSQL reads from the manager, rendered from the current inputs; throws UsageError on bad input. */
  render(userConfig = readInputFile(this.deps.options.configFile, '--config')): Map<string, string> {
    const { options, runAs } = this.deps;
    return renderConfiguration({
      settings: this.deps.settings(),
      userConfig,
      userHba: readInputFile(options.hbaFile, '--hba'),
      superuserOsUsers: [runAs.name, process.getuid?.() === 0 ? 'root' : runAs.name],
      superuserOverTcp: this.deps.superuserOverTcp(),
    });
  }

  /** The rendered files, once PostgreSQL's own parser accepted the user's settings in them. */
  async checked(): Promise<Map<string, string>> {
    const userConfig = readInputFile(this.deps.options.configFile, '--config');
    const files = this.render(userConfig);
    await this.gate.check(userConfig, files.get(CUSTOM_CONF)!);
    return files;
  }

  /** Writes what changed; returns the names of the files that did. */
  async write(): Promise<string[]> {
    const { options, runAs, logger, backups } = this.deps;
    const changed = writeConfiguration(options.pgdata, await this.checked(), runAs);
    const { pgdata, allowAlterSystem } = options;
    if (guardAutoConf({ pgdata, runAs, allowAlterSystem, logger })) changed.push(AUTO_CONF);
    if (backups?.writeConfig()) changed.push('pgbackrest.conf');
    return changed;
  }
}
