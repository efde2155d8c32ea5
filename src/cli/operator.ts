/**
 * The operator actions at a terminal: `promote|demote|fence|unfence|reload|restart --url URL`, and
 * `switchover --from URL --to URL`, which runs the whole safe sequence, one line a step.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, Option } from 'commander';
import { errorMessage, UsageError } from '../errors.js';
import { formatAddress, parseAddress } from '../lifecycle/index.js';
import { lsnToBytes, type StatusDocument } from '../status/document.js';
import { callStatusApi, type ClientFlags } from './client.js';
import { parseSeconds } from './parse.js';
import { defaultStatusUrl } from './status.js';

const ACTIONS = {
  promote: 'promote this replica to primary',
  demote: 'make this primary a replica of --primary (pg_rewind when its timeline forked)',
  fence: 'stop PostgreSQL and keep it stopped',
  unfence: 'start a fenced PostgreSQL again',
  reload: 're-read configuration and secrets, reload PostgreSQL',
  restart: 'restart PostgreSQL',
} as const;

type Action = keyof typeof ACTIONS;

interface ActionFlags extends ClientFlags {
  primary?: string;
  reclone?: boolean;
}

export function withClientOptions(command: Command, urlFlag?: string): Command {
  const withUrl =
    urlFlag === undefined
      ? command.option(
          '--url <url>',
          "status API address, e.g. https://pg-1.pg:8000 (default: the local run's)",
          defaultStatusUrl(),
        )
      : command.requiredOption(urlFlag, 'status API address, e.g. https://pg-1.pg:8000');
  return withUrl
    .option('--cert <file>', "the operator's client certificate (PEM; default: pki/operator.crt of the run dir)")
    .option('--key <file>', 'key of the client certificate (PEM; default: pki/operator.key of the run dir)')
    .option('--ca <file>', "CA that signed the server certificate; default: the run directory's server-ca.crt");
}

export function operatorCommands(): Command[] {
  const commands = (Object.keys(ACTIONS) as Action[]).map((action) => {
    const command = withClientOptions(new Command(action).description(ACTIONS[action]));
    if (action === 'demote') {
      command
        .requiredOption('--primary <host[:port]>', 'the new primary, as this instance will reach it')
        .addOption(new Option('--reclone', 'take a fresh clone instead of pg_rewind'));
    }
    return command.action(async (flags: ActionFlags) => {
      const answer = await act(flags, action, demoteBody(flags));
      process.stdout.write(`${answer}\n`);
    });
  });
  const switchover = withClientOptions(
    new Command('switchover').description(
      'demote --from, promote --to once it has all WAL, wait until --from streams from it',
    ),
    '--from <url>',
  )
    .requiredOption('--to <url>', 'status API address of the replica to promote')
    .option(
      '--to-address <host[:port]>',
      "how --from reaches --to over PostgreSQL; default: --to's host and PostgreSQL port",
    )
    .option('--timeout <s>', 'seconds each waiting step may take', '120')
    .action(async (flags: ClientFlags & { from: string; to: string; toAddress?: string; timeout: string }) => {
      await runSwitchover(flags, (line) => process.stdout.write(`${line}\n`));
    });
  return [...commands, switchover];
}

function demoteBody(flags: ActionFlags): unknown {
  if (flags.primary === undefined) return undefined;
  if (!parseAddress(flags.primary)) throw new UsageError(`--primary: "${flags.primary}" is not HOST[:PORT]`);
  return { primary: flags.primary, reclone: flags.reclone === true };
}

/** Runs one action; resolves with the answer's body, rejects with the status and body when refused. */
async function act(flags: ClientFlags, action: Action, body?: unknown): Promise<string> {
  const answer = await callStatusApi(flags, `/pg/${action}`, { method: 'POST', body, timeoutMs: 120_000 });
  if (answer.status < 200 || answer.status > 299)
    throw new Error(`${action} refused (${answer.status}): ${answer.body}`);
  return answer.body;
}

async function status(flags: ClientFlags): Promise<StatusDocument> {
  const answer = await callStatusApi(flags, '/pg/status', { method: 'GET', timeoutMs: 10_000 });
  if (answer.status !== 200) throw new Error(`/pg/status answered ${answer.status}: ${answer.body}`);
  return JSON.parse(answer.body) as StatusDocument;
}

/** What each step leaves behind when it fails, for the person who has to carry on by hand. */
const LEFT_BEHIND = {
  check: 'nothing was changed',
  demote: 'the old primary may be stopped (see its /pg/status); the target is still a replica',
  'catch-up':
    'the old primary is stopped and waits for the target to be promoted; the target is still a replica: ' +
    'promote it once it has all WAL, or unfence-and-demote back',
  promote:
    'the old primary is stopped and waits for the target to be promoted; promote the target (instance-manager promote)',
  rejoin:
    'the target is the new primary; ' +
    'the old primary is still rejoining it (see its /pg/status demotion and fence fields)',
} as const;

type Step = keyof typeof LEFT_BEHIND;

export interface SwitchoverFlags extends ClientFlags {
  from: string;
  to: string;
  toAddress?: string;
  timeout: string;
}

export async function runSwitchover(flags: SwitchoverFlags, say: (line: string) => void): Promise<void> {
  const from: ClientFlags = { ...flags, url: flags.from };
  const to: ClientFlags = { ...flags, url: flags.to };
  const timeoutMs = parseSeconds('--timeout', flags.timeout) * 1000;
  let step: Step = 'check';
  const began = Date.now();
  let stepBegan = began;
  const done = (line: string) => {
    say(`${step}: ${line} (${Date.now() - stepBegan} ms)`);
    stepBegan = Date.now();
  };
  try {
    const [old, target] = await Promise.all([status(from), status(to)]);
    if (old.role !== 'primary' || !old.isReady)
      throw new Error(`${flags.from} is not a ready primary (${old.role}, ${old.phase})`);
    if (target.role !== 'replica' || target.isWalReceiverActive !== true)
      throw new Error(`${flags.to} is not a streaming replica (${target.role}, ${target.phase})`);
    const address = targetAddress(flags, target);
    done(
      `${flags.from} is the primary on timeline ${old.timeline ?? '?'}; ` +
        `${flags.to} streams from it and will be reached at ${address}`,
    );

    step = 'demote';
    const demoted = JSON.parse(await act(from, 'demote', { primary: address })) as {
      shutdownCheckpointLsn: string;
      timeline: number;
    };
    done(`${flags.from} stopped at ${demoted.shutdownCheckpointLsn} on timeline ${demoted.timeline}`);

    step = 'catch-up';
    const stopAt = lsnToBytes(demoted.shutdownCheckpointLsn);
    const received = await waitFor(`${flags.to} to receive ${demoted.shutdownCheckpointLsn}`, timeoutMs, async () => {
      const now = await status(to);
      return now.receivedLsn && lsnToBytes(now.receivedLsn) > stopAt ? now.receivedLsn : undefined;
    });
    done(`${flags.to} received up to ${received}, past the shutdown checkpoint`);

    step = 'promote';
    done(await act(to, 'promote'));

    step = 'rejoin';
    await waitFor(`${flags.from} to stream from ${address}`, timeoutMs, async () => {
      const now = await status(from);
      return now.role === 'replica' && now.isWalReceiverActive === true && now.following === address ? true : undefined;
    });
    done(`${flags.from} streams from ${address}`);
    say(`switchover done in ${Date.now() - began} ms`);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new Error(`switchover failed at step ${step}: ${errorMessage(error)}; ${LEFT_BEHIND[step]}`);
  }
}

function targetAddress(flags: SwitchoverFlags, target: StatusDocument): string {
  if (flags.toAddress !== undefined) {
    const address = parseAddress(flags.toAddress);
    if (!address) throw new UsageError(`--to-address: "${flags.toAddress}" is not HOST[:PORT]`);
    return formatAddress(address);
  }
  const host = new URL(flags.to).hostname.replace(/^\[|\]$/g, '');
  return formatAddress({ host, port: target.port });
}

async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = `; last: ${errorMessage(error)}`;
    }
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs / 1000} s for ${what}${lastError}`);
    await sleep(100);
  }
}
