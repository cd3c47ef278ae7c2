// The membership and security commands of `swarm`: init, join, start, leave, node, join-token,
// unlock, ca, info, cluster (inspect, update), and secrets and configs. Each validates its flags up
// front, then either runs a node process (init, join, start) or talks to a running node over its
// control socket. Listings and inspects take --format json; any other --format is refused.
//
// Start-up time: registering the commands loads only commander and the control socket's client.
// The node process's code (the daemon, Raft, the journal, xstate, x509, dockerode, classic-level)
// is imported inside the actions that run a node in the foreground, so `swarm node ls` and the
// detached parent of `swarm init -d` never load it.
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { RealClock } from '../runtime/env/real/clock.js';
import { controlRequest, ControlError } from './node/client.js';
import { NodeError } from './errors.js';
import { DEFAULT_CLUSTER_PORT } from './node/state-dir.js';
import { runDetached } from './node/detach.js';

export type Out = (line: string) => void;
export const DEFAULT_STATE_DIR = '.swarm';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function duration(flag: string, minMs = 0, maxMs = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value.trim());
    if (match === null) throw new InvalidArgumentError(`${flag} must be a duration like 90d, 12h, 5m or 30s, got '${value}'`);
    const ms = Number(match[1]) * (UNITS[match[2]!] as number);
    if (ms < minMs) throw new InvalidArgumentError(`${flag} must be at least ${formatDuration(minMs)}, got '${value}'`);
    if (ms > maxMs) throw new InvalidArgumentError(`${flag} must be at most ${formatDuration(maxMs)}, got '${value}'`);
    return Math.round(ms);
  };
}

/** Milliseconds in the largest unit that divides them, as `duration` reads them back: 90d, 5s, 1500ms. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNITS[unit]!;
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * The bounds of `swarm cluster update`, written out as DEFAULT_CERT_EXPIRY is (actors/api's
 * DISPATCHER_HEARTBEAT_PERIOD_MS_MIN/MAX, NODE_CERT_EXPIRY_MS_MIN and
 * TASK_HISTORY_RETENTION_LIMIT_MAX; a test holds them equal): the flags refuse what the node would.
 */
export const CLUSTER_LIMITS = { heartbeatMsMin: 100, heartbeatMsMax: 3_600_000, certExpiryMsMin: 10_000, taskHistoryMax: 10_000 } as const;

/** The value of a `--format` flag: only json is known. */
export function jsonFormat(value: string): string {
  if (value !== 'json') throw new InvalidArgumentError(`--format must be json, got '${value}'`);
  return value;
}

/** `--format json` on a listing or an inspect: any other value is refused, naming the flag. */
export function formatOption(cmd: Command, description = 'json: print JSON instead of a table'): Command {
  return cmd.option('--format <format>', description, jsonFormat);
}

function taskHistoryLimit(value: string): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < -1 || n > CLUSTER_LIMITS.taskHistoryMax) {
    throw new InvalidArgumentError(`--task-history-limit must be a whole number from -1 (keep all) to ${CLUSTER_LIMITS.taskHistoryMax}, got '${value}'`);
  }
  return n;
}

/**
 * The node certificate life unless --cert-expiry says otherwise: SwarmKit's 90 days, which is the
 * CA's DEFAULT_NODE_CERT_VALIDITY_MS (a test holds the two equal; the constant is not imported
 * here, as actors/ would load the CA's x509 code with the command tree).
 */
export const DEFAULT_CERT_EXPIRY = '90d';

function address(flag: string): (value: string) => string {
  return (value) => {
    const v = value.includes(':') ? value : `${value}:${DEFAULT_CLUSTER_PORT}`;
    const i = v.lastIndexOf(':');
    const port = Number(v.slice(i + 1));
    if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError(`${flag} must be host:port, got '${value}'`);
    return v;
  };
}

function count(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`${flag} must be a positive integer, got '${value}'`);
    return n;
  };
}

interface RunFlags {
  stateDir: string;
  listenAddr: string;
  advertiseAddr?: string;
  controlAddr?: string;
  detach?: boolean;
  tickMs: number;
  snapshotInterval: number;
  snapshotKeep: number;
  name?: string;
}

function joinBanner(tokens: { Worker: string; Manager: string }, addr: string): string[] {
  return [
    'To add a worker to this swarm, run the following command:', '',
    `    swarm join --token ${tokens.Worker} ${addr}`, '',
    'To add a manager to this swarm, run the following command:', '',
    `    swarm join --token ${tokens.Manager} ${addr}`, '',
  ];
}

function runOptions(cmd: Command): Command {
  return cmd
    .option('--state-dir <dir>', 'the node\'s state directory', DEFAULT_STATE_DIR)
    .option('--listen-addr <host:port>', 'the cluster port to listen on', address('--listen-addr'), `127.0.0.1:${DEFAULT_CLUSTER_PORT}`)
    .option('--advertise-addr <host:port>', 'the address other nodes reach this one at (default: --listen-addr)', address('--advertise-addr'))
    .option('--control-addr <host:port>', 'also serve the control API on TCP, with client certificates (manager certificates only)', address('--control-addr'))
    .option('--name <name>', 'the node\'s name (default: its id)')
    .option('--tick-ms <ms>', 'Raft tick (heartbeat 1 tick, election 10-20 ticks)', count('--tick-ms'), 100)
    .option('--snapshot-interval <entries>', 'Raft snapshot every N applied entries', count('--snapshot-interval'), 10_000)
    .option('--snapshot-keep <entries>', 'entries kept after a snapshot for slow followers', count('--snapshot-keep'), 500)
    .option('-d, --detach', 'run in the background (output in node.log in the state directory)');
}

/**
 * V8's interrupt budget for the node process (its default: 67,584): how much bytecode a function
 * runs between V8's checks of whether to compile it further (baseline, then optimized code).
 *
 * A node's hot paths run once per Raft round or per message, a few hundred times a second, not in
 * tight loops: with the default budget much of that code was still in the baseline tier under
 * load (a profile's frames). An eighth of the budget had the three managers spend 10-40% less CPU
 * per write in all 13 paired runs of bench/cluster.ts at 1 and 100 clients (bench/README.md), for
 * some more compiling on V8's background thread early on.
 */
export const NODE_INTERRUPT_BUDGET = 8192;

/**
 * Sets the node process's V8 tiering (NODE_INTERRUPT_BUDGET) before its code is loaded, unless
 * node was started with an `--interrupt-budget` of its own (`node --interrupt-budget=N swarm ...`),
 * which then stands.
 */
function tuneV8ForNode(): void {
  // V8 takes its flags with '-' or '_', with '=value' or the value as the next argument; its other
  // --interrupt-budget-* flags are not this one.
  if (process.execArgv.some((arg) => /^--interrupt[-_]budget(=|$)/.test(arg))) return;
  v8.setFlagsFromString(`--interrupt-budget=${NODE_INTERRUPT_BUDGET}`);
}

/** The node process's code, loaded only by the commands that run a node in the foreground. */
async function nodeProcess() {
  tuneV8ForNode();
  const [{ runForeground }, { SwarmNode }] = await Promise.all([import('./node/run.js'), import('./node/daemon.js')]);
  return { runForeground, SwarmNode };
}

async function inspectSwarm(stateDir: string): Promise<{ JoinTokens: { Worker: string; Manager: string } }> {
  return controlRequest(stateDir, 'GET', '/swarm');
}

export function registerClusterCommands(swarm: Command, out: Out): void {
  runOptions(swarm.command('init').description('create a swarm whose first manager is this node, and run it'))
    .option('--autolock', 'lock managers at rest: a restarted manager needs the unlock key (swarm unlock)')
    .addOption(new Option('--cert-expiry <duration>', 'node certificate life (renewed at 50-80% of it)').argParser(duration('--cert-expiry', CLUSTER_LIMITS.certExpiryMsMin))
      .default(duration('--cert-expiry')(DEFAULT_CERT_EXPIRY), DEFAULT_CERT_EXPIRY))
    .option('--dispatcher-heartbeat <duration>', 'how often agents send heartbeats; a node is down after about 3 missed (default 5s)',
      duration('--dispatcher-heartbeat', CLUSTER_LIMITS.heartbeatMsMin, CLUSTER_LIMITS.heartbeatMsMax))
    .action(async (opts: RunFlags & { autolock?: boolean; certExpiry: number; dispatcherHeartbeat?: number }) => {
      if (opts.detach === true) {
        process.exitCode = await runDetached(opts.stateDir, process.argv.slice(1), out);
        return;
      }
      const { runForeground, SwarmNode } = await nodeProcess();
      process.exitCode = await runForeground(opts.stateDir, async (log) => {
        const { node, unlockKey } = await SwarmNode.init(opts.stateDir, {
          listenAddr: opts.listenAddr, ...(opts.advertiseAddr === undefined ? {} : { advertiseAddr: opts.advertiseAddr }),
          ...(opts.controlAddr === undefined ? {} : { controlAddr: opts.controlAddr }), ...(opts.name === undefined ? {} : { name: opts.name }),
          ...(opts.dispatcherHeartbeat === undefined ? {} : { dispatcherHeartbeatMs: opts.dispatcherHeartbeat }),
          autolock: opts.autolock === true, certExpiryMs: opts.certExpiry, tickMs: opts.tickMs, snapshotIntervalEntries: opts.snapshotInterval, snapshotTailEntries: opts.snapshotKeep,
        }, log);
        const view = await node.readBarrier();
        const tokens = view.security!.tokens;
        const banner = [`Swarm initialized: current node (${node.nodeId}) is now a manager.`, '', ...joinBanner({ Worker: tokens.worker, Manager: tokens.manager }, node.file.advertiseAddr)];
        if (unlockKey !== undefined) banner.push('To unlock a swarm manager after it restarts, run `swarm unlock` and provide the following key:', '', `    ${unlockKey}`, '', 'Remember to store this key in a password manager: without it a restarted manager cannot be unlocked.');
        return { node, banner };
      }, out);
    });

  runOptions(swarm.command('join').description('join a swarm as a worker or a manager (the token decides), and run this node'))
    .requiredOption('--token <token>', 'the join token (swarm join-token worker|manager on a manager)')
    .argument('<addr>', 'a manager\'s host:port', address('ADDR'))
    .action(async (addr: string, opts: RunFlags & { token: string }) => {
      if (opts.detach === true) {
        process.exitCode = await runDetached(opts.stateDir, process.argv.slice(1), out);
        return;
      }
      const { runForeground, SwarmNode } = await nodeProcess();
      process.exitCode = await runForeground(opts.stateDir, async (log) => {
        const node = await SwarmNode.join(opts.stateDir, {
          token: opts.token, remote: addr, listenAddr: opts.listenAddr, ...(opts.advertiseAddr === undefined ? {} : { advertiseAddr: opts.advertiseAddr }),
          ...(opts.controlAddr === undefined ? {} : { controlAddr: opts.controlAddr }), ...(opts.name === undefined ? {} : { name: opts.name }),
          tickMs: opts.tickMs, snapshotIntervalEntries: opts.snapshotInterval, snapshotTailEntries: opts.snapshotKeep,
        }, log);
        return { node, banner: [`This node (${node.nodeId}) joined a swarm as a ${node.file.role}.`] };
      }, out);
    });

  swarm.command('start').description('start a node again from its state directory (after a stop or a crash)')
    .option('--state-dir <dir>', 'the node\'s state directory', DEFAULT_STATE_DIR)
    .option('--unlock-key <key>', 'the unlock key of an auto-locked manager (or unlock it later with swarm unlock)')
    .option('-d, --detach', 'run in the background')
    .action(async (opts: { stateDir: string; unlockKey?: string; detach?: boolean }) => {
      if (opts.detach === true) {
        process.exitCode = await runDetached(opts.stateDir, process.argv.slice(1), out);
        return;
      }
      const { runForeground, SwarmNode } = await nodeProcess();
      process.exitCode = await runForeground(opts.stateDir, async (log) => {
        const node = await SwarmNode.restart(opts.stateDir, opts.unlockKey === undefined ? {} : { unlockKey: opts.unlockKey }, log);
        return { node, banner: [`Node ${node.nodeId} started as a ${node.file.role}${node.locked ? ' (locked: run swarm unlock)' : ''}.`] };
      }, out);
    });

  const stateDirOption = (cmd: Command): Command => cmd.option('--state-dir <dir>', 'the node\'s state directory', DEFAULT_STATE_DIR);

  stateDirOption(swarm.command('leave').description('leave the swarm (a manager must be demoted first, unless --force)'))
    .option('-f, --force', 'leave even as a manager (removing the last manager erases the cluster state)')
    .action(async (opts: { stateDir: string; force?: boolean }) => {
      await controlRequest(opts.stateDir, 'POST', `/swarm/leave?force=${opts.force === true}`);
      out('Node left the swarm.');
    });

  formatOption(stateDirOption(swarm.command('info').description('what this node is: id, role, cluster, leader')), 'json: print the whole answer as JSON')
    .action(async (opts: { stateDir: string; format?: string }) => {
      const info = await controlRequest<{ Swarm: Record<string, unknown> }>(opts.stateDir, 'GET', '/info');
      if (opts.format === 'json') return out(JSON.stringify(info, null, 2));
      for (const [k, v] of Object.entries(info.Swarm)) out(`${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
    });

  stateDirOption(swarm.command('join-token').description('show (or rotate) the join token of workers or managers'))
    .argument('<role>', 'worker or manager', (v: string) => {
      if (v !== 'worker' && v !== 'manager') throw new InvalidArgumentError(`must be worker or manager, got '${v}'`);
      return v;
    })
    .option('--rotate', 'replace the token: the old one stops working')
    .option('-q, --quiet', 'only the token')
    .addOption(new Option('--format <format>', 'json: the role, the token and the address to join at, as JSON').argParser(jsonFormat).conflicts('quiet'))
    .action(async (role: 'worker' | 'manager', opts: { stateDir: string; rotate?: boolean; quiet?: boolean; format?: string }) => {
      if (opts.rotate === true) {
        await controlRequest(opts.stateDir, 'POST', `/swarm/update?${role === 'worker' ? 'rotateWorkerToken' : 'rotateManagerToken'}=true`, {});
        if (opts.quiet !== true && opts.format === undefined) out(`Successfully rotated ${role} join token.\n`);
      }
      const tokens = (await inspectSwarm(opts.stateDir)).JoinTokens;
      const token = role === 'worker' ? tokens.Worker : tokens.Manager;
      if (opts.quiet === true) return out(token);
      const info = await controlRequest<{ Swarm: { NodeAddr: string } }>(opts.stateDir, 'GET', '/info');
      if (opts.format === 'json') return out(JSON.stringify({ Role: role, Token: token, Addr: info.Swarm.NodeAddr }, null, 2));
      out(`To add a ${role} to this swarm, run the following command:\n\n    swarm join --token ${token} ${info.Swarm.NodeAddr}\n`);
    });

  stateDirOption(swarm.command('unlock').description('unlock a locked manager with the swarm\'s unlock key (read from stdin when --unlock-key is not given)'))
    .option('--unlock-key <key>', 'the unlock key (SWMKEY-1-...)')
    .action(async (opts: { stateDir: string; unlockKey?: string }) => {
      const key = opts.unlockKey ?? readFileSync(0, 'utf8').trim();
      if (key === '') throw new InvalidArgumentError('--unlock-key: no unlock key given');
      await controlRequest(opts.stateDir, 'POST', '/swarm/unlock', { UnlockKey: key });
      out('Manager unlocked.');
    });

  stateDirOption(swarm.command('unlock-key').description('show the swarm\'s unlock key'))
    .option('-q, --quiet', 'only the key')
    .action(async (opts: { stateDir: string; quiet?: boolean }) => {
      const { UnlockKey } = await controlRequest<{ UnlockKey: string }>(opts.stateDir, 'GET', '/swarm/unlockkey');
      if (UnlockKey === '') return out('No unlock key is set (auto-lock is off).');
      out(opts.quiet === true ? UnlockKey : `To unlock a swarm manager after it restarts, run \`swarm unlock\` and provide the following key:\n\n    ${UnlockKey}\n`);
    });

  stateDirOption(swarm.command('ca').description('show the root CA, or rotate it (--rotate)'))
    .option('--rotate', 'a new root CA, cross-signed by the current one; every node is given a new certificate, then the old root is dropped')
    .option('--cert-expiry <duration>', 'node certificate life from now on', duration('--cert-expiry', 10_000))
    .option('-d, --detach', 'do not wait for the rotation to finish')
    .action(async (opts: { stateDir: string; rotate?: boolean; certExpiry?: number; detach?: boolean }) => {
      if (opts.rotate === true || opts.certExpiry !== undefined) {
        await controlRequest(opts.stateDir, 'POST', '/swarm/update', { CAConfig: { ...(opts.rotate === true ? { ForceRotate: 1 } : {}), ...(opts.certExpiry === undefined ? {} : { NodeCertExpiry: opts.certExpiry * 1e6 }) } });
      }
      if (opts.rotate === true && opts.detach !== true) {
        for (let i = 0; i < 600; i++) {
          const swarmInfo = await controlRequest<{ RootRotationInProgress: boolean }>(opts.stateDir, 'GET', '/swarm');
          if (!swarmInfo.RootRotationInProgress) break;
          await new Promise<void>((resolve) => new RealClock().setTimeout(resolve, 200));
        }
      }
      const swarmInfo = await controlRequest<{ TLSInfo: { TrustRoot: string }; RootRotationInProgress: boolean }>(opts.stateDir, 'GET', '/swarm');
      out(swarmInfo.TLSInfo.TrustRoot.trimEnd());
      if (swarmInfo.RootRotationInProgress) out('(a root rotation is in progress)');
    });

  const cluster = swarm.command('cluster').description('the swarm\'s settings (on a manager): inspect them, or change them as docker swarm update does');
  formatOption(stateDirOption(cluster.command('inspect').description('the swarm: its id, versions and settings (with --format json, all of GET /swarm: join tokens and root CA too)')),
    'json: the whole of it (Docker\'s GET /swarm) as JSON')
    .action(async (opts: { stateDir: string; format?: string }) => {
      const info = await controlRequest<SwarmJson>(opts.stateDir, 'GET', '/swarm');
      if (opts.format === 'json') return out(JSON.stringify(info, null, 2));
      for (const line of swarmSummary(info)) out(line);
    });
  stateDirOption(cluster.command('update').description('change the swarm\'s settings (the flags given; the rest stays): they take effect without a restart'))
    .option('--cert-expiry <duration>', 'node certificate life, e.g. 90d or 12h (each node renews at 50-80% of it)', duration('--cert-expiry', CLUSTER_LIMITS.certExpiryMsMin))
    .option('--dispatcher-heartbeat <duration>', 'how often agents send heartbeats, e.g. 5s (agents take it at their next heartbeat; a node is down after about 3 missed)',
      duration('--dispatcher-heartbeat', CLUSTER_LIMITS.heartbeatMsMin, CLUSTER_LIMITS.heartbeatMsMax))
    .option('--task-history-limit <n>', `ended tasks kept per slot, -1 (all) to ${CLUSTER_LIMITS.taskHistoryMax}`, taskHistoryLimit)
    .action(async (opts: { stateDir: string; certExpiry?: number; dispatcherHeartbeat?: number; taskHistoryLimit?: number }) => {
      if (opts.certExpiry === undefined && opts.dispatcherHeartbeat === undefined && opts.taskHistoryLimit === undefined) {
        throw new InvalidArgumentError('nothing to change: give --cert-expiry, --dispatcher-heartbeat or --task-history-limit');
      }
      // Docker's body: the Spec's fields that change (the others keep their values), at the version read.
      const { Version } = await controlRequest<SwarmJson>(opts.stateDir, 'GET', '/swarm');
      await controlRequest(opts.stateDir, 'POST', `/swarm/update?version=${Version.Index}`, {
        ...(opts.taskHistoryLimit === undefined ? {} : { Orchestration: { TaskHistoryRetentionLimit: opts.taskHistoryLimit } }),
        ...(opts.dispatcherHeartbeat === undefined ? {} : { Dispatcher: { HeartbeatPeriod: opts.dispatcherHeartbeat * 1e6 } }),
        ...(opts.certExpiry === undefined ? {} : { CAConfig: { NodeCertExpiry: opts.certExpiry * 1e6 } }),
      });
      out('Swarm updated.');
    });

  const node = swarm.command('node').description('manage the swarm\'s nodes (on a manager)');
  formatOption(stateDirOption(node.command('ls').description('list nodes')))
    .action(async (opts: { stateDir: string; format?: string }) => {
      if (opts.format === 'json') return out(JSON.stringify(await controlRequest(opts.stateDir, 'GET', '/nodes'), null, 2));
      // Both at once: one round trip to the node less in the command's start-up budget.
      const [nodes, info] = await Promise.all([
        controlRequest<Array<Record<string, any>>>(opts.stateDir, 'GET', '/nodes'), // eslint-disable-line @typescript-eslint/no-explicit-any
        controlRequest<{ Swarm: { NodeID: string } }>(opts.stateDir, 'GET', '/info'),
      ]);
      const self = info.Swarm.NodeID;
      const rows = nodes.map((n) => [
        `${n.ID}${n.ID === self ? ' *' : ''}`, n.Spec.Name, n.Description.Hostname, cap(n.Status.State), cap(n.Spec.Availability),
        n.ManagerStatus === undefined ? '' : n.ManagerStatus.Leader ? 'Leader' : cap(n.ManagerStatus.Reachability), n.Status.Addr,
      ]);
      table(['ID', 'NAME', 'HOSTNAME', 'STATUS', 'AVAILABILITY', 'MANAGER STATUS', 'ADDRESS'], rows, out);
    });
  formatOption(stateDirOption(node.command('inspect').description('a node as JSON (id, name or id prefix)')), 'json (the default; as docker takes it)').argument('<node>')
    .action(async (ref: string, opts: { stateDir: string }) => out(JSON.stringify(await controlRequest(opts.stateDir, 'GET', `/nodes/${encodeURIComponent(ref)}`), null, 2)));
  for (const [verb, role] of [['promote', 'manager'], ['demote', 'worker']] as const) {
    stateDirOption(node.command(verb).description(verb === 'promote' ? 'make workers managers' : 'make managers workers (refused if it would break quorum, or for the last manager)'))
      .argument('<nodes...>')
      .action(async (refs: string[], opts: { stateDir: string }) => {
        for (const ref of refs) {
          const n = await controlRequest<{ ID: string; Version: { Index: number }; Spec: { Role: string } }>(opts.stateDir, 'GET', `/nodes/${encodeURIComponent(ref)}`);
          if (n.Spec.Role === role) {
            out(`Node ${n.ID} is already a ${role} in the swarm.`);
            continue;
          }
          await controlRequest(opts.stateDir, 'POST', `/nodes/${n.ID}/update?version=${n.Version.Index}`, { Role: role });
          out(`Node ${n.ID} ${verb}d to a ${role} in the swarm.`);
        }
      });
  }
  stateDirOption(node.command('update').description('change a node\'s availability or labels')).argument('<node>')
    .option('--availability <a>', 'active, pause or drain', (v: string) => {
      if (!['active', 'pause', 'drain'].includes(v)) throw new InvalidArgumentError(`--availability must be active, pause or drain, got '${v}'`);
      return v;
    })
    .option('--label-add <key=value>', 'add or change a label (repeatable)', (v: string, prev: string[] = []) => {
      if (!/^[^=]+=/.test(v)) throw new InvalidArgumentError(`--label-add must be key=value, got '${v}'`);
      return [...prev, v];
    })
    .option('--label-rm <key>', 'remove a label (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .action(async (ref: string, opts: { stateDir: string; availability?: string; labelAdd?: string[]; labelRm?: string[] }) => {
      const n = await controlRequest<{ ID: string; Version: { Index: number }; Spec: { Labels: Record<string, string> } }>(opts.stateDir, 'GET', `/nodes/${encodeURIComponent(ref)}`);
      const labels = { ...n.Spec.Labels };
      for (const kv of opts.labelAdd ?? []) labels[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
      for (const k of opts.labelRm ?? []) delete labels[k];
      await controlRequest(opts.stateDir, 'POST', `/nodes/${n.ID}/update?version=${n.Version.Index}`, { Labels: labels, ...(opts.availability === undefined ? {} : { Availability: opts.availability }) });
      out(n.ID);
    });
  stateDirOption(node.command('rm').description('remove nodes from the swarm; their certificates are refused from then on')).argument('<nodes...>')
    .option('-f, --force', 'remove a node that is still up')
    .action(async (refs: string[], opts: { stateDir: string; force?: boolean }) => {
      for (const ref of refs) {
        await controlRequest(opts.stateDir, 'DELETE', `/nodes/${encodeURIComponent(ref)}?force=${opts.force === true}`);
        out(ref);
      }
    });

  for (const kind of ['secret', 'config'] as const) {
    const group = swarm.command(kind).description(`manage ${kind}s`);
    stateDirOption(group.command('create').description(`create a ${kind} from a file ('-' for stdin)`)).argument('<name>').argument('<file>')
      .option('--label <key=value>', 'a label (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
      .action(async (name: string, file: string, opts: { stateDir: string; label?: string[] }) => {
        let data: Buffer;
        try {
          data = readFileSync(file === '-' ? 0 : file);
        } catch (error) {
          throw new InvalidArgumentError(`${file}: ${(error as Error).message}`);
        }
        const labels = Object.fromEntries((opts.label ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
        const { ID } = await controlRequest<{ ID: string }>(opts.stateDir, 'POST', `/${kind}s/create`, { Name: name, Labels: labels, Data: data.toString('base64') });
        out(ID);
      });
    formatOption(stateDirOption(group.command('ls').description(`list ${kind}s`)))
      .action(async (opts: { stateDir: string; format?: string }) => {
        const list = await controlRequest<Array<{ ID: string; CreatedAt: string; UpdatedAt: string; Spec: { Name: string } }>>(opts.stateDir, 'GET', `/${kind}s`);
        if (opts.format === 'json') return out(JSON.stringify(list, null, 2));
        table(['ID', 'NAME', 'CREATED', 'UPDATED'], list.map((o) => [o.ID, o.Spec.Name, o.CreatedAt, o.UpdatedAt]), out);
      });
    formatOption(stateDirOption(group.command('inspect').description(`a ${kind} as JSON${kind === 'secret' ? ' (never its data)' : ''}`)), 'json (the default; as docker takes it)').argument('<ref>')
      .action(async (ref: string, opts: { stateDir: string }) => out(JSON.stringify(await controlRequest(opts.stateDir, 'GET', `/${kind}s/${encodeURIComponent(ref)}`), null, 2)));
    stateDirOption(group.command('rm').description(`remove ${kind}s`)).argument('<refs...>')
      .action(async (refs: string[], opts: { stateDir: string }) => {
        for (const ref of refs) {
          await controlRequest(opts.stateDir, 'DELETE', `/${kind}s/${encodeURIComponent(ref)}`);
          out(ref);
        }
      });
  }
}

/** What `GET /swarm` answers (Docker's Swarm object), as far as the summary reads it. */
interface SwarmJson {
  ID: string;
  Version: { Index: number };
  CreatedAt: string;
  UpdatedAt: string;
  Spec: {
    Name: string;
    Labels: Record<string, string>;
    Orchestration?: { TaskHistoryRetentionLimit: number };
    Raft?: { SnapshotInterval: number; LogEntriesForSlowFollowers: number; ElectionTick: number; HeartbeatTick: number };
    Dispatcher?: { HeartbeatPeriod: number };
    CAConfig: { NodeCertExpiry: number };
    EncryptionConfig: { AutoLockManagers: boolean };
  };
  RootRotationInProgress: boolean;
}

/** `swarm cluster inspect`'s lines, laid out as `docker info`'s Swarm section; durations as the flags take them. */
export function swarmSummary(s: SwarmJson): string[] {
  const labels = Object.entries(s.Spec.Labels).map(([k, v]) => `${k}=${v}`).join(', ');
  const limit = s.Spec.Orchestration?.TaskHistoryRetentionLimit;
  return [
    `ID: ${s.ID}`,
    `Name: ${s.Spec.Name}`,
    ...(labels === '' ? [] : [`Labels: ${labels}`]),
    `Version: ${s.Version.Index}`,
    `Created: ${s.CreatedAt}`,
    `Updated: ${s.UpdatedAt}`,
    ...(limit === undefined ? [] : ['Orchestration:', ` Task History Retention Limit: ${limit}${limit < 0 ? ' (all)' : ''}`]),
    ...(s.Spec.Raft === undefined ? [] : [
      'Raft:', ` Snapshot Interval: ${s.Spec.Raft.SnapshotInterval}`, ` Log Entries For Slow Followers: ${s.Spec.Raft.LogEntriesForSlowFollowers}`,
      ` Heartbeat Tick: ${s.Spec.Raft.HeartbeatTick}`, ` Election Tick: ${s.Spec.Raft.ElectionTick}`,
    ]),
    ...(s.Spec.Dispatcher === undefined ? [] : ['Dispatcher:', ` Heartbeat Period: ${formatDuration(s.Spec.Dispatcher.HeartbeatPeriod / 1e6)}`]),
    'CA Configuration:',
    ` Expiry Duration: ${formatDuration(s.Spec.CAConfig.NodeCertExpiry / 1e6)}`,
    `Autolock Managers: ${s.Spec.EncryptionConfig.AutoLockManagers}`,
    `Root Rotation In Progress: ${s.RootRotationInProgress}`,
  ];
}

export function cap(s: string): string {
  return s.length === 0 ? s : s[0]!.toUpperCase() + s.slice(1);
}

/** A plain-text table: columns padded to their widest cell, three spaces apart. */
export function table(header: string[], rows: string[][], out: Out): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i]!)).join('   ').trimEnd();
  out(line(header));
  for (const r of rows) out(line(r));
}

/** Errors a user can act on: printed as one line, exit 1. */
export function isUserError(error: unknown): error is Error {
  return error instanceof ControlError || error instanceof NodeError || (error instanceof Error && 'code' in error && typeof (error as { code: unknown }).code === 'string' && (error as { code: string }).code !== 'INVARIANT_VIOLATION' && !(error instanceof TypeError));
}
