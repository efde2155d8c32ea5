/**
 * Two managed instances in two network namespaces on a bridge the test process can reach too (so
 * the status API and the CLI work from outside), with an operator certificate and a write load
 * whose client records every committed id.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { runCli, type Manager } from './manager.js';
import type { OpensslPair } from './openssl.js';
import { clusterDir, startNode, type Authorities } from './replication.js';
import { opensslLeaf } from './secrets.js';
import { ask, waitForStatusApi, type Answer } from './status.js';

/** Namespaces joined by a bridge in the host's namespace, which holds the `.254` address. */
export class BridgedNamespaces {
  readonly names: string[];
  private readonly bridge: string;

  constructor(
    readonly addresses: string[],
    tag: string,
  ) {
    const id = process.pid % 100000;
    this.names = addresses.map((_, i) => `im-${tag}-${i}-${process.pid}`);
    this.bridge = `imbr${tag.slice(0, 3)}${id}`;
    this.remove();
    const subnet = addresses[0]!.split('.').slice(0, 3).join('.');
    ip('link', 'add', 'name', this.bridge, 'type', 'bridge');
    ip('addr', 'add', `${subnet}.254/24`, 'dev', this.bridge);
    ip('link', 'set', this.bridge, 'up');
    this.names.forEach((ns, i) => {
      const [outside, inside] = [`imh${i}${tag.slice(0, 2)}${id}`, `imn${i}${tag.slice(0, 2)}${id}`];
      ip('netns', 'add', ns);
      ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside, 'netns', ns);
      ip('link', 'set', outside, 'master', this.bridge);
      ip('link', 'set', outside, 'up');
      ip('-n', ns, 'addr', 'add', `${addresses[i]}/24`, 'dev', inside);
      ip('-n', ns, 'link', 'set', inside, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    });
  }

  wrapper(index: number): string[] {
    return ['ip', 'netns', 'exec', this.names[index]!];
  }

  remove(): void {
    for (const ns of this.names) quietly(() => ip('netns', 'del', ns));
    quietly(() => ip('link', 'del', this.bridge));
  }
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function quietly(work: () => void): void {
  try {
    work();
  } catch {
    // Not there.
  }
}

export interface ClusterNode {
  name: string;
  address: string;
  manager: Manager;
  /** `https://ADDRESS:STATUS_PORT`. */
  url: string;
  /** ADDRESS:PORT of its PostgreSQL. */
  pg: string;
}

export interface Operator {
  ca: string;
  cert: string;
  key: string;
  /** CLI flags: --cert --key --ca. */
  flags: string[];
}

/** A pair: node 0 the primary, node 1 its replica, both serving the status API over HTTPS. */
export class Cluster {
  readonly nodes: ClusterNode[] = [];
  operator!: Operator;
  private authorities!: Authorities;
  private readonly namespaces: BridgedNamespaces;

  constructor(
    readonly addresses: [string, string],
    readonly tag: string,
  ) {
    this.namespaces = new BridgedNamespaces(addresses, tag);
  }

  async start(): Promise<void> {
    const { dir, authorities } = clusterDir(this.tag);
    this.authorities = authorities;
    const pair: OpensslPair = opensslLeaf(path.join(dir, 'operator'), authorities.clientCa, {
      cn: 'instance-manager-operator',
    });
    const files = {
      ca: path.join(dir, 'operator', 'server-ca.pem'),
      cert: path.join(dir, 'operator', 'operator.pem'),
      key: path.join(dir, 'operator', 'operator.key'),
    };
    fs.writeFileSync(files.ca, authorities.serverCa.certPem);
    fs.writeFileSync(files.cert, pair.certPem);
    fs.writeFileSync(files.key, pair.keyPem);
    this.operator = {
      ca: authorities.serverCa.certPem,
      cert: pair.certPem,
      key: pair.keyPem,
      flags: ['--cert', files.cert, '--key', files.key, '--ca', files.ca],
    };
    const primary = await this.startNode(0);
    await primary.manager.waitUntilReady();
    await this.startNode(1, { replicaOf: primary.pg });
    await this.nodes[1]!.manager.waitUntilReady(120_000);
  }

  /** Starts node `index` (again, with its directory and ports, when it ran before). */
  async startNode(index: number, extra: { replicaOf?: string } = {}): Promise<ClusterNode> {
    const previous = this.nodes[index];
    const address = this.addresses[index]!;
    const manager = await startNode({
      authorities: this.authorities,
      serverNames: [address],
      podName: `pg-${index}`,
      wrapper: this.namespaces.wrapper(index),
      status: 'https',
      dir: previous?.manager.dir,
      port: previous?.manager.port,
      statusPort: previous ? Number(new URL(previous.url).port) : undefined,
      ...extra,
    });
    const url = manager.statusBase.replace('127.0.0.1', address);
    const node = { name: `pg-${index}`, address, manager, url, pg: `${address}:${manager.port}` };
    this.nodes[index] = node;
    try {
      await waitForStatusApi(url, { ca: this.operator.ca }, 60_000);
    } catch (error) {
      throw new Error(
        `${node.name}'s status API does not answer: ${(error as Error).message}\n${manager.stderr}\n${manager.tail()}`,
      );
    }
    return node;
  }

  async status(node: ClusterNode): Promise<Record<string, unknown> & { role: string; isReady: boolean }> {
    const answer = await ask(`${node.url}/pg/status`, { ca: this.operator.ca, timeoutMs: 10_000 });
    return JSON.parse(answer.body) as Record<string, unknown> & { role: string; isReady: boolean };
  }

  probe(node: ClusterNode, probe: string): Promise<number> {
    return ask(`${node.url}/${probe}`, { ca: this.operator.ca }).then((answer) => answer.status);
  }

  /** An operator action over HTTPS with the operator certificate. */
  act(node: ClusterNode, action: string, body?: unknown): Promise<Answer> {
    const { ca, cert, key } = this.operator;
    return ask(`${node.url}/pg/${action}`, {
      method: 'POST',
      ca,
      cert,
      key,
      timeoutMs: 120_000,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return runCli([...args, ...this.operator.flags]);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.manager.stop()));
    this.namespaces.remove();
  }
}

/**
 * Inserts ids one transaction at a time into whichever node accepts writes, over the unix
 * sockets; an id is recorded only once its COMMIT was acknowledged.
 */
export class WriteLoad {
  readonly committed: number[] = [];
  /** The longest time between two acknowledged commits, in ms. */
  longestGapMs = 0;
  private running = true;
  private readonly done: Promise<void>;

  constructor(private readonly nodes: ClusterNode[]) {
    this.done = this.loop();
  }

  async stop(): Promise<number[]> {
    this.running = false;
    await this.done;
    return this.committed;
  }

  private async loop(): Promise<void> {
    let next = 1;
    let target = 0;
    let client: pg.Client | undefined;
    let lastCommit = performance.now();
    while (this.running) {
      try {
        if (!client) {
          const { socketDir, port } = this.nodes[target]!.manager;
          client = new pg.Client({
            host: socketDir,
            port,
            user: 'postgres',
            database: 'postgres',
            connectionTimeoutMillis: 2_000,
          });
          client.on('error', () => undefined);
          await client.connect();
        }
        await client.query('INSERT INTO load (id) VALUES ($1)', [next]);
        const now = performance.now();
        this.longestGapMs = Math.max(this.longestGapMs, now - lastCommit);
        lastCommit = now;
        this.committed.push(next++);
      } catch {
        await client?.end().catch(() => undefined);
        client = undefined;
        target = (target + 1) % this.nodes.length;
        await sleep(20);
      }
    }
    await client?.end().catch(() => undefined);
  }
}
