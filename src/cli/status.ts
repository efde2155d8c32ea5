/** `instance-manager status`: reads `/pg/status` and prints it for a person at a terminal. */
import { Command } from 'commander';
import type { StatusDocument } from '../status/index.js';
import { callApiExpecting, defaultApiUrl, type ApiFlags } from './api-client.js';

export function statusCommand(): Command {
  return new Command('status')
    .description('print the status of the local instance (reads /pg/status)')
    .option('--url <url>', 'status API address (port: IM_STATUS_PORT, else 8000)', defaultApiUrl())
    .option('--cert <file>', 'client certificate (PEM)')
    .option('--key <file>', 'key of the client certificate (PEM)')
    .option('--ca <file>', 'CA of the server certificate (default: certificates/server-ca.crt of the run dir)')
    .action(async (flags: ApiFlags) => {
      const document = await fetchStatus(flags);
      process.stdout.write(formatStatus(document));
    });
}

async function fetchStatus(flags: ApiFlags): Promise<StatusDocument> {
  return JSON.parse(await callApiExpecting(flags, '/pg/status', [200])) as StatusDocument;
}

export function formatStatus(status: StatusDocument): string {
  const rows: [string, string][] = [
    ['role', `${status.role} (${status.isReady ? 'ready' : 'not ready'})`],
    ['phase', status.phase],
    ['postmaster', status.postmasterPid === null ? 'not running' : `pid ${status.postmasterPid}, started ${status.postmasterStartTime ?? '?'}`],
    ['restarts', String(status.restarts)],
    ['PostgreSQL', status.pgVersion === null ? 'unknown' : `${status.pgVersion}, system ${status.systemID ?? '?'}`],
  ];
  if (status.error !== undefined) rows.push(['not answering', status.error]);
  rows.push(['timeline', status.timeline === null ? 'unknown' : String(status.timeline)]);
  if (status.role === 'primary') {
    rows.push(['current LSN', status.currentLsn ?? 'unknown']);
  } else {
    rows.push(['received LSN', status.receivedLsn ?? 'unknown'], ['replayed LSN', status.replayLsn ?? 'unknown'], ['WAL receiver', status.isWalReceiverActive ? 'streaming' : 'not streaming']);
  }
  rows.push(['pending restart', status.pendingRestart === null ? 'unknown' : status.pendingRestart ? 'yes' : 'no']);
  const standbys = status.replication.map(
    (standby) => `${standby.applicationName}: ${standby.state}, ${standby.syncState}, sent ${standby.sentLsn ?? '?'}, replayed ${standby.replayLsn ?? '?'}, lag ${standby.replayLag === null ? '-' : `${standby.replayLag.toFixed(3)} s`}`,
  );
  rows.push(...listRows('standbys', standbys));
  const certificates = status.certificates.map((file) => `${file.name}: ${file.mode}, expires ${file.notAfter} (${file.daysLeft} days left)`);
  rows.push(...listRows('certificates', certificates));
  rows.push(['manager', status.instanceManagerVersion]);
  const width = Math.max(...rows.map(([label]) => label.length)) + 2;
  return rows.map(([label, value]) => `${label ? `${label}:`.padEnd(width) : ' '.repeat(width)}${value}\n`).join('');
}

/** The first item beside the label, the others below it. */
function listRows(label: string, items: string[]): [string, string][] {
  if (items.length === 0) return [[label, 'none']];
  return items.map((item, index) => [index === 0 ? label : '', item]);
}
