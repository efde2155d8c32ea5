/** A primary and its replicas under the manager, with the certificates they need. */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OpensslPair } from './openssl.js';
import { opensslCa, opensslLeaf, writeKubeletVolume } from './secrets.js';
import { freePort, scratchDir, startManager, type Manager } from './manager.js';

/** Small timeouts: tests stop and restart managers often. */
export const FAST_STOP = ['--smart-shutdown-timeout', '2', '--stop-timeout', '10'];

/** One CA for servers and one for clients, as a cluster has. */
export interface Authorities {
  serverCa: OpensslPair;
  clientCa: OpensslPair;
}

export interface NodeOptions {
  authorities: Authorities;
  /** The names the node's server certificate carries (and the address it listens on, first). */
  serverNames: string[];
  listen?: string;
  podName: string;
  replicaOf?: string;
  /** Replaces the client CA (which signs the node's streaming_replica certificate): another cluster's. */
  clientCa?: OpensslPair;
  /** Replaces the server CA the node trusts (to check a primary signed by another CA is refused). */
  trustedServerCa?: OpensslPair;
  wrapper?: string[];
  dir?: string;
  port?: number;
  /** Serve the status API (see ManagerOptions.status). */
  status?: 'http' | 'https';
  statusPort?: number;
  /** More flags for `run`. */
  args?: string[];
}

export function clusterDir(prefix: string): { dir: string; authorities: Authorities } {
  const dir = scratchDir(prefix);
  const serverCa = opensslCa(path.join(dir, 'authorities', 'server-ca'), 'test server CA');
  const clientCa = opensslCa(path.join(dir, 'authorities', 'client-ca'), 'test client CA');
  return { dir, authorities: { serverCa, clientCa } };
}

/**
 * A node's directory with a provided-mode secrets dir (every leaf mounted, CAs without their keys,
 * so the manager issues nothing itself); kept as it is when `options.dir` is given (a restart).
 */
export function nodeDir(options: NodeOptions): { dir: string; secrets: string } {
  const dir = options.dir ?? scratchDir(options.podName);
  const secrets = path.join(dir, 'secrets');
  if (options.dir !== undefined) return { dir, secrets };
  const work = path.join(dir, 'openssl');
  const serverCa = options.trustedServerCa ?? options.authorities.serverCa;
  const clientCa = options.clientCa ?? options.authorities.clientCa;
  const server = opensslLeaf(path.join(work, 'server'), serverCa, {
    cn: options.serverNames[0]!,
    names: options.serverNames,
  });
  const replication = opensslLeaf(path.join(work, 'replication'), clientCa, { cn: 'streaming_replica' });
  writeKubeletVolume(path.join(secrets, 'server-ca'), { 'ca.crt': serverCa.certPem });
  writeKubeletVolume(path.join(secrets, 'client-ca'), { 'ca.crt': clientCa.certPem });
  writeKubeletVolume(path.join(secrets, 'server-tls'), { 'tls.crt': server.certPem, 'tls.key': server.keyPem });
  writeKubeletVolume(path.join(secrets, 'replication-tls'), {
    'tls.crt': replication.certPem,
    'tls.key': replication.keyPem,
  });
  return { dir, secrets };
}

/** Starts a manager with a provided-mode secrets dir of its own. */
export async function startNode(options: NodeOptions): Promise<Manager> {
  const { dir, secrets } = nodeDir(options);
  return startManager({
    dir,
    port: options.port ?? (await freePort()),
    wrapper: options.wrapper,
    status: options.status,
    statusPort: options.statusPort,
    args: [
      '--secrets-dir',
      secrets,
      '--listen',
      options.listen ?? options.serverNames[0]!,
      '--pod-name',
      options.podName,
      ...(options.replicaOf ? ['--replica-of', options.replicaOf] : []),
      ...FAST_STOP,
      ...(options.args ?? []),
    ],
  });
}

/** Polls until `check` resolves true; rejects with `what` after the timeout. */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const began = Date.now();
  let lastError: unknown;
  while (Date.now() - began < timeoutMs) {
    try {
      if (await check()) return Date.now() - began;
    } catch (error) {
      lastError = error;
    }
    await sleep(50);
  }
  throw new Error(
    `${what}: not within ${timeoutMs} ms${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`,
  );
}

export interface WalSender {
  application_name: string;
  state: string;
  ssl: boolean;
  client_dn: string;
  version: string;
  client_addr: string;
}

/** The primary's walsenders with their TLS session. */
export async function walSenders(primary: Manager): Promise<WalSender[]> {
  const json = await primary.psql(`SELECT coalesce(json_agg(row_to_json(s)), '[]') FROM (
    SELECT r.application_name, r.state, ssl.ssl, ssl.client_dn, ssl.version, host(r.client_addr) AS client_addr
    FROM pg_stat_replication r JOIN pg_stat_ssl ssl ON ssl.pid = r.pid) s`);
  return JSON.parse(json) as WalSender[];
}

/** Resolves once `replica` sees the row `value` inserted on `primary` (a table made once per primary). */
export async function rowReachesReplica(
  primary: Manager,
  replica: Manager,
  value: string,
  timeoutMs = 5_000,
): Promise<number> {
  await primary.psql(`CREATE TABLE IF NOT EXISTS replicated (value text); INSERT INTO replicated VALUES ('${value}')`);
  return waitUntil(
    `row ${value} on the replica`,
    async () => (await replica.psql(`SELECT count(*) FROM replicated WHERE value = '${value}'`)) === '1',
    timeoutMs,
  );
}

/** A network namespace pair joined by a veth pair, removed by `remove()`. */
export class NamespacePair {
  readonly names: [string, string];

  constructor(
    readonly addresses: [string, string],
    tag: string,
  ) {
    this.names = [`im-${tag}-a-${process.pid}`, `im-${tag}-b-${process.pid}`];
    const [a, b] = this.names;
    const veth = [`ima${process.pid % 100000}`, `imb${process.pid % 100000}`];
    this.remove();
    ip('netns', 'add', a);
    ip('netns', 'add', b);
    ip('link', 'add', veth[0]!, 'netns', a, 'type', 'veth', 'peer', 'name', veth[1]!, 'netns', b);
    this.names.forEach((ns, i) => {
      ip('-n', ns, 'addr', 'add', `${addresses[i]}/24`, 'dev', veth[i]!);
      ip('-n', ns, 'link', 'set', veth[i]!, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    });
  }

  wrapper(index: 0 | 1): string[] {
    return ['ip', 'netns', 'exec', this.names[index]];
  }

  /** Deleting a namespace deletes its end of the veth pair, and so the pair. */
  remove(): void {
    for (const ns of this.names) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // Not there.
      }
    }
  }
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}
