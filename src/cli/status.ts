/** `instance-manager status`: reads `/pg/status` and prints it for a person at a terminal. */
import type http from 'node:http';
import type https from 'node:https';
import { Command } from 'commander';
import { UsageError } from '../errors.js';
import type { StatusDocument } from '../status/index.js';
import { readOperatorCertificate, readServerCa } from './local-run.js';

export interface StatusFlags {
  url: string;
  cert?: string;
  key?: string;
  ca?: string;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** The status API of a local run: its port from IM_STATUS_PORT, else 8000. */
export const defaultStatusUrl = () => `https://localhost:${process.env.IM_STATUS_PORT ?? 8000}`;

export function statusCommand(): Command {
  return new Command('status')
    .description('print the status of the local instance (reads /pg/status)')
    .option('--url <url>', 'status API address (port: IM_STATUS_PORT, else 8000)', defaultStatusUrl())
    .option(
      '--cert <file>',
      'client certificate (PEM; default: pki/operator.crt of the run dir, when a local run issued it)',
    )
    .option('--key <file>', 'key of the client certificate (PEM; default: pki/operator.key of the run dir)')
    .option('--ca <file>', 'CA of the server certificate (default: certificates/server-ca.crt of the run dir)')
    .action(async (flags: StatusFlags) => {
      const document = await fetchStatus(flags);
      process.stdout.write(formatStatus(document));
    });
}

async function fetchStatus(flags: StatusFlags): Promise<StatusDocument> {
  let url: URL;
  try {
    url = new URL('/pg/status', flags.url);
  } catch {
    throw new UsageError(`--url: "${flags.url}" is not a URL`);
  }
  const tls = url.protocol === 'http:' ? undefined : tlsOptions(url, flags);
  // Loaded here: `run` shares this module and needs neither http nor https (with tls) to start.
  const client = tls === undefined ? await import('node:http') : await import('node:https');
  const body = await new Promise<string>((resolve, reject) => {
    const onResponse = (response: http.IncomingMessage) => {
      let text = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      response.on('end', () =>
        response.statusCode === 200
          ? resolve(text)
          : reject(new Error(`${url.href} answered ${response.statusCode}: ${text.trim()}`)),
      );
    };
    const request = client.get(url, tls ?? {}, onResponse);
    request.setTimeout(10_000, () => request.destroy(new Error(`${url.href} did not answer within 10 s`)));
    request.on('error', (error: NodeJS.ErrnoException) => {
      const hint = error.code === 'ECONNREFUSED' ? ' (no manager listens there: pass --url with its status port)' : '';
      reject(new Error(`${url.href}: ${error.message}${hint}`));
    });
  });
  return JSON.parse(body) as StatusDocument;
}

export function tlsOptions(url: URL, flags: StatusFlags): https.RequestOptions {
  if (url.protocol !== 'https:') throw new UsageError(`--url: "${flags.url}" is neither http nor https`);
  return {
    ca: readServerCa(flags.ca),
    ...readOperatorCertificate(flags.cert, flags.key),
    minVersion: 'TLSv1.3',
    // Inside the pod the server certificate names the pod's DNS names, not localhost; the chain is
    // still checked against the CA.
    ...(LOOPBACK.has(url.hostname) ? { checkServerIdentity: () => undefined } : {}),
  };
}

export function formatStatus(status: StatusDocument): string {
  const rows: [string, string][] = [
    ['role', `${status.role} (${status.isReady ? 'ready' : 'not ready'})`],
    ['phase', status.phase],
    [
      'postmaster',
      status.postmasterPid === null
        ? 'not running'
        : `pid ${status.postmasterPid}, started ${status.postmasterStartTime ?? '?'}`,
    ],
    ['restarts', String(status.restarts)],
    ['PostgreSQL', status.pgVersion === null ? 'unknown' : `${status.pgVersion}, system ${status.systemID ?? '?'}`],
  ];
  if (status.fence) rows.push(['fenced', `by ${status.fence.by} at ${status.fence.at}: ${status.fence.reason}`]);
  if (status.demotion)
    rows.push([
      'demotion',
      `to follow ${status.demotion.primary}: ${status.demotion.step} since ${status.demotion.since}`,
    ]);
  if (status.following !== undefined) rows.push(['following', status.following]);
  if (status.error !== undefined) rows.push(['not answering', status.error]);
  rows.push(['timeline', status.timeline === null ? 'unknown' : String(status.timeline)]);
  if (status.role === 'primary') {
    rows.push(['current LSN', status.currentLsn ?? 'unknown']);
  } else {
    rows.push(
      ['received LSN', status.receivedLsn ?? 'unknown'],
      ['replayed LSN', status.replayLsn ?? 'unknown'],
      ['WAL receiver', status.isWalReceiverActive ? 'streaming' : 'not streaming'],
    );
  }
  rows.push(['pending restart', status.pendingRestart === null ? 'unknown' : status.pendingRestart ? 'yes' : 'no']);
  const standbys = status.replication.map(
    (standby) =>
      `${standby.applicationName}: ${standby.state}, ${standby.syncState}, ` +
      `sent ${standby.sentLsn ?? '?'}, replayed ${standby.replayLsn ?? '?'}, ` +
      `lag ${standby.replayLag === null ? '-' : `${standby.replayLag.toFixed(3)} s`}`,
  );
  rows.push(...listRows('standbys', standbys));
  const certificates = status.certificates.map(
    (file) => `${file.name}: ${file.mode}, expires ${file.notAfter} (${file.daysLeft} days left)`,
  );
  rows.push(...listRows('certificates', certificates));
  // A manager from before the roles field answers without it.
  const managed = (status.roles as StatusDocument['roles'] | undefined) ?? [];
  const roles = managed.map(({ name, state, lastError }) =>
    lastError === null ? `${name}: ${state}` : `${name}: ${state} (${lastError})`,
  );
  rows.push(...listRows('roles', roles));
  rows.push(['manager', status.instanceManagerVersion]);
  const width = Math.max(...rows.map(([label]) => label.length)) + 2;
  return rows.map(([label, value]) => `${label ? `${label}:`.padEnd(width) : ' '.repeat(width)}${value}\n`).join('');
}

/** The first item beside the label, the others below it. */
function listRows(label: string, items: string[]): [string, string][] {
  if (items.length === 0) return [[label, 'none']];
  return items.map((item, index) => [index === 0 ? label : '', item]);
}
