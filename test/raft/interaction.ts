// The interpreter of the Raft scenario files (test/raft/scenarios/*.txt), after etcd-io/raft's
// data-driven interaction tests: each block of a file is a command line, `----`, and the output
// the command must print. The output shows every Ready (soft and hard state, entries, committed
// entries, messages) and every message delivered, so that any change of the core's behaviour
// shows up as a diff that a reviewer reads against the Raft paper.
//
// The cluster is a RaftNetwork (test/raft/network.ts) whose cores draw their election timeouts
// from a PinnedRandom: a peer's randomized timeout is exactly `electionTicks` unless a scenario
// sets it, so that tick counts in the files mean the same thing on every run and every machine.
// After every step the environment checks Raft's safety properties (one leader per term, one
// entry applied per index, terms never decrease, applied <= commit <= lastIndex) and fails the
// scenario at the command that broke one. The commands: test/raft/scenarios/README.md.
import { MemoryLogStorage, type ConfState, type Entry, type PeerId, type Snapshot } from '../../journal/index.js';
import { decodeConfChange, DEFAULT_RAFT_CONFIG, RaftCore, type ConfChange, type Message, type RaftConfig, type Ready, type Role } from '../../raft/index.js';
import { assert, assertNever, RuntimeError, type Random } from '../../runtime/index.js';
import { RaftNetwork, type Peer } from './network.js';

// ---- the file format -------------------------------------------------------------------------

/** A mistake in a scenario file (unknown command, bad argument): names the file and line. */
export class ScenarioError extends Error {
  constructor(readonly file: string, readonly line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.name = 'ScenarioError';
  }
}

/** A bad command or argument, before the runner adds the file and line. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface ScenarioBlock {
  /** The command line's number, from 1. */
  readonly line: number;
  readonly command: string;
  /** The expected output; undefined for a command without `----` (allowed only when rewriting). */
  readonly expected: string | undefined;
  /** The block's lines in the file: [start, end), from 0. */
  readonly start: number;
  readonly end: number;
}

export interface ParsedScenario {
  readonly file: string;
  readonly lines: readonly string[];
  readonly blocks: readonly ScenarioBlock[];
}

export const SEPARATOR = '----';

/**
 * Splits a scenario into blocks. Blank lines and `#` comment lines between blocks are kept as they
 * are; a block is a command line, `----`, then its output up to the next blank line.
 */
export function parseScenario(file: string, text: string, options: { allowMissingOutput?: boolean } = {}): ParsedScenario {
  const lines = text.replace(/\n$/, '').split('\n');
  const blocks: ScenarioBlock[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] as string;
    if (line.trim() === '' || line.startsWith('#')) {
      i++;
      continue;
    }
    if (line === SEPARATOR) throw new ScenarioError(file, i + 1, `'${SEPARATOR}' without a command line above it`);
    const start = i;
    const next = lines[i + 1];
    if (next !== SEPARATOR) {
      if (options.allowMissingOutput === true && (next === undefined || next.trim() === '')) {
        blocks.push({ line: start + 1, command: line.trim(), expected: undefined, start, end: start + 1 });
        i = start + 1;
        continue;
      }
      throw new ScenarioError(file, start + 2, `the command on line ${start + 1} must be followed by '${SEPARATOR}' and its output`);
    }
    i += 2;
    const output: string[] = [];
    while (i < lines.length && (lines[i] as string).trim() !== '') output.push(lines[i++] as string);
    if (output.length === 0) throw new ScenarioError(file, start + 1, 'a block needs at least one line of output (a command that prints nothing prints "ok")');
    blocks.push({ line: start + 1, command: line.trim(), expected: output.join('\n'), start, end: i });
  }
  return { file, lines, blocks };
}

/** The file with every block's output replaced by `outputs[i]` (comments and spacing kept). */
export function renderScenario(parsed: ParsedScenario, outputs: readonly string[]): string {
  const out: string[] = [];
  let at = 0;
  parsed.blocks.forEach((block, n) => {
    out.push(...parsed.lines.slice(at, block.start));
    out.push(block.command, SEPARATOR, outputs[n] as string);
    at = block.end;
  });
  out.push(...parsed.lines.slice(at));
  return `${out.join('\n')}\n`;
}

/** A line diff of expected against actual (`-` expected only, `+` actual only). */
export function diffLines(expected: string, actual: string): string {
  const a = expected.split('\n');
  const b = actual.split('\n');
  // Longest common subsequence, table from the end.
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      const row = lcs[i] as number[];
      row[j] = a[i] === b[j] ? ((lcs[i + 1] as number[])[j + 1] as number) + 1 : Math.max((lcs[i + 1] as number[])[j] as number, row[j + 1] as number);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push(`  ${a[i]}`);
      i++;
      j++;
    } else if (i < a.length && (j >= b.length || ((lcs[i + 1] as number[])[j] as number) >= ((lcs[i] as number[])[j + 1] as number))) {
      out.push(`- ${a[i]}`);
      i++;
    } else {
      out.push(`+ ${b[j]}`);
      j++;
    }
  }
  return out.join('\n');
}

// ---- command lines ---------------------------------------------------------------------------

interface Args {
  readonly command: string;
  readonly positional: readonly string[];
  readonly named: ReadonlyMap<string, string>;
  /** The text after the command word, as written (for commands that take raw JSON). */
  readonly rest: string;
}

/** Splits a command line into words: `"..."` quotes a word with spaces, `(a, b)` is one word. */
export function tokenize(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let depth = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === '"') {
      let j = i + 1;
      let quoted = '';
      while (j < line.length && line[j] !== '"') {
        if (line[j] === '\\' && j + 1 < line.length) j++;
        quoted += line[j];
        j++;
      }
      if (j >= line.length) throw new UsageError(`unterminated quote in: ${line}`);
      word += quoted;
      inWord = true;
      i = j;
    } else if (c === '(') {
      depth++;
      word += c;
      inWord = true;
    } else if (c === ')') {
      depth--;
      if (depth < 0) throw new UsageError(`unbalanced ')' in: ${line}`);
      word += c;
    } else if (/\s/.test(c) && depth === 0) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (depth !== 0) throw new UsageError(`unbalanced '(' in: ${line}`);
  if (inWord) words.push(word);
  return words;
}

function parseArgs(line: string): Args {
  const trimmed = line.trim();
  const space = trimmed.search(/\s/);
  const command = space < 0 ? trimmed : trimmed.slice(0, space);
  const rest = space < 0 ? '' : trimmed.slice(space + 1).trim();
  const positional: string[] = [];
  const named = new Map<string, string>();
  if (command !== 'inject-msg') {
    for (const word of tokenize(rest)) {
      const eq = word.indexOf('=');
      if (eq > 0 && /^[a-zA-Z][\w-]*$/.test(word.slice(0, eq))) {
        const key = word.slice(0, eq);
        if (named.has(key)) throw new UsageError(`${command}: ${key}= given twice`);
        named.set(key, word.slice(eq + 1));
      } else {
        positional.push(word);
      }
    }
  }
  return { command, positional, named, rest };
}

/** `(1,2,3)` or `(1 2 3)` or `()` -> ids. */
function parseList(command: string, key: string, value: string): string[] {
  const m = /^\((.*)\)$/.exec(value.trim());
  if (m === null) throw new UsageError(`${command}: ${key}= takes a list like (1,2,3), got '${value}'`);
  return (m[1] as string).split(/[\s,]+/).filter((s) => s !== '');
}

function parseBool(command: string, key: string, value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new UsageError(`${command}: ${key}= takes true or false, got '${value}'`);
}

function parseCount(command: string, what: string, value: string | undefined, min = 0): number {
  if (value === undefined || !/^\d+$/.test(value)) throw new UsageError(`${command}: ${what} must be a whole number, got '${value ?? '(nothing)'}'`);
  const n = Number(value);
  if (n < min) throw new UsageError(`${command}: ${what} must be at least ${min}, got ${n}`);
  return n;
}

// ---- formatting ------------------------------------------------------------------------------

const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** Bytes as a quoted string when they are printable UTF-8, else as hex. */
export function formatBytes(data: Uint8Array): string {
  try {
    const s = decoder.decode(data);
    if (/^[\x20-\x7e]*$/.test(s)) return JSON.stringify(s);
  } catch {
    // Not UTF-8: hex below.
  }
  return `0x${Buffer.from(data).toString('hex')}`;
}

export const formatIds = (ids: readonly PeerId[]): string => `(${ids.join(',')})`;

export function formatConfChange(change: ConfChange): string {
  return change.type === 'forceVoters' ? `forceVoters ${formatIds(change.voters)}` : `${change.type} ${change.peer}`;
}

function formatPayload(type: Entry['type'], data: Uint8Array): string {
  if (type === 'normal') return `normal ${formatBytes(data)}`;
  try {
    return `confChange ${formatConfChange(decodeConfChange(data))}`;
  } catch {
    return `confChange (undecodable) ${formatBytes(data)}`;
  }
}

export const formatEntry = (e: Entry): string => `${e.term}/${e.index} ${formatPayload(e.type, e.data)}`;

const formatConf = (conf: ConfState): string => `voters=${formatIds(conf.voters)} learners=${formatIds(conf.learners)}`;

const formatPeer = (id: PeerId): string => (id === '' ? 'none' : id);

/** One message on one line: `1->2 app term=1 index=3 logTerm=1 entries=[1/4 normal "x"] commit=3`. */
export function formatMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} term=${m.term}`;
  switch (m.type) {
    case 'app': {
      const entries = m.entries.length > 0 ? ` entries=[${m.entries.map(formatEntry).join(', ')}]` : '';
      return `${head} index=${m.index} logTerm=${m.logTerm}${entries} commit=${m.commit}${m.quiet === true ? ' quiet' : ''}`;
    }
    case 'appResp':
      return m.reject ? `${head} index=${m.index} rejected hint=${m.rejectHint}` : `${head} index=${m.index}`;
    case 'heartbeat':
      return `${head} commit=${m.commit}${m.context === '' ? '' : ` ctx=${JSON.stringify(m.context)}`}`;
    case 'heartbeatResp':
      return `${head}${m.context === '' ? '' : ` ctx=${JSON.stringify(m.context)}`}`;
    case 'vote':
    case 'preVote':
      return `${head} index=${m.index} logTerm=${m.logTerm}${m.force ? ' force' : ''}`;
    case 'voteResp':
    case 'preVoteResp':
      return `${head} ${m.reject ? 'rejected' : 'granted'}`;
    case 'snap':
      return `${head} snapshot=${m.meta.term}/${m.meta.index} ${formatConf(m.meta.confState)} bytes=[${m.offset},${m.offset + m.chunk.byteLength})/${m.totalBytes}`;
    case 'snapResp':
      return `${head} snapshot=${m.snapshotIndex} offset=${m.offset}${m.reject ? ' rejected' : ''}${m.installedIndex > 0 ? ` installed=${m.installedIndex}` : ''}`;
    case 'timeoutNow':
      return head;
    case 'prop':
      return `${head} entries=[${m.entries.map((e) => formatPayload(e.type, e.data)).join(', ')}]`;
    case 'readIndex':
      return `${head} ctx=${JSON.stringify(m.context)}`;
    case 'readIndexResp':
      return `${head} index=${m.index} ctx=${JSON.stringify(m.context)}`;
    case 'transferLeader':
      return `${head} transferee=${m.transferee}`;
    default:
      return assertNever(m, 'message');
  }
}

function formatSnapshot(s: Snapshot): string {
  return `${s.meta.term}/${s.meta.index} ${formatConf(s.meta.confState)} data=${formatBytes(s.data)}`;
}

/**
 * Identical lines once each, where they first occur, with a count: an isolated leader's many
 * heartbeats say nothing more the tenth time.
 */
export function collapseRepeats(lines: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const line of lines) counts.set(line, (counts.get(line) ?? 0) + 1);
  const out: string[] = [];
  for (const [line, n] of counts) out.push(n > 1 ? `${line} (x${n})` : line);
  return out;
}

/** The Ready's non-empty parts, one item a line (indented under its heading). */
export function formatReady(rd: Ready): string[] {
  const out: string[] = [];
  if (rd.softState !== undefined) out.push(`State: role=${rd.softState.role} leader=${formatPeer(rd.softState.leader)}`);
  if (rd.hardState !== undefined) out.push(`HardState: term=${rd.hardState.term} vote=${formatPeer(rd.hardState.vote)} commit=${rd.hardState.commit}`);
  if (rd.snapshot !== undefined) out.push(`Snapshot: ${formatSnapshot(rd.snapshot)}`);
  const section = (title: string, items: readonly string[]) => {
    if (items.length === 0) return;
    out.push(`${title}:`);
    for (const item of items) out.push(`  ${item}`);
  };
  section('Entries', rd.entries.map(formatEntry));
  section('CommittedEntries', rd.committedEntries.map(formatEntry));
  section('Messages', collapseRepeats(rd.messages.map(formatMessage)));
  section('MessagesAfterPersist', collapseRepeats(rd.messagesAfterPersist.map(formatMessage)));
  section('ReadStates', rd.readStates.map((r) => `index=${r.index} ctx=${JSON.stringify(r.context)}`));
  return out;
}

// ---- the environment -------------------------------------------------------------------------

/**
 * Randomness that is not random: `int(min, max)` answers `min + offset` (clamped), which makes a
 * core's randomized election timeout exactly `electionTicks + offset`. Scenarios set the offset
 * with `set-randomized-timeout`, e.g. to break a split vote.
 */
export class PinnedRandom implements Random {
  readonly seed = 'pinned';
  offset = 0;
  uint32(): number {
    return 0;
  }
  float(): number {
    return 0;
  }
  int(min: number, max: number): number {
    return Math.min(max, min + this.offset);
  }
  chance(): boolean {
    return false;
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[0] as T;
  }
  bytes(length: number): Uint8Array {
    return new Uint8Array(length);
  }
  fork(): Random {
    return new PinnedRandom();
  }
}

/** What the scenario keeps beside each core: its config, its randomness and its state machine. */
interface PeerModel {
  config: Partial<RaftConfig>;
  readonly random: PinnedRandom;
  /** The state machine: the applied non-empty normal entries' values, with their indexes. */
  values: Array<{ index: number; value: string }>;
  /** The highest index the state machine holds (applied entry or installed snapshot). */
  appliedIndex: number;
  /** The configuration after each applied change (and at the snapshot), for `compact`. */
  confs: Array<{ index: number; conf: ConfState }>;
}

type Handler = (args: Args) => void;

const CONFIG_OPTIONS: Readonly<Record<string, { key: keyof RaftConfig; kind: 'bool' | 'count' }>> = {
  prevote: { key: 'preVote', kind: 'bool' },
  checkquorum: { key: 'checkQuorum', kind: 'bool' },
  electionTicks: { key: 'electionTicks', kind: 'count' },
  heartbeatTicks: { key: 'heartbeatTicks', kind: 'count' },
  inflightAppendsMax: { key: 'inflightAppendsMax', kind: 'count' },
  appendBytesMax: { key: 'appendBytesMax', kind: 'count' },
  uncommittedBytesMax: { key: 'uncommittedBytesMax', kind: 'count' },
  snapshotChunkBytes: { key: 'snapshotChunkBytes', kind: 'count' },
  disableProposalForwarding: { key: 'disableProposalForwarding', kind: 'bool' },
};

function parseConfigOptions(a: Args): Partial<RaftConfig> {
  const config: Record<string, unknown> = {};
  for (const [key, option] of Object.entries(CONFIG_OPTIONS)) {
    const value = a.named.get(key);
    if (value === undefined) continue;
    config[option.key] = option.kind === 'bool' ? parseBool(a.command, key, value) : parseCount(a.command, key, value, 1);
  }
  return config as Partial<RaftConfig>;
}

const CONF_CHANGE_TYPES = ['addVoter', 'addLearner', 'promoteLearner', 'removePeer'] as const;

/** Each command's usage, printed with a mistake. What they do: test/raft/scenarios/README.md. */
export const COMMANDS: Readonly<Record<string, string>> = {
  'add-nodes': 'add-nodes N [voters=(..)] [learners=(..)] [prevote=true|false] [checkquorum=true|false] [electionTicks=10] [heartbeatTicks=1] [snapshotChunkBytes=N] [inflightAppendsMax=N] [appendBytesMax=N] [uncommittedBytesMax=N] [disableProposalForwarding=true|false]',
  campaign: 'campaign ID',
  tick: 'tick ID [N]',
  'tick-election': 'tick-election ID',
  'tick-heartbeat': 'tick-heartbeat ID',
  'set-randomized-timeout': 'set-randomized-timeout ID TICKS',
  propose: 'propose ID DATA',
  'propose-conf-change': `propose-conf-change ID ${CONF_CHANGE_TYPES.join('|')} PEER`,
  'read-index': 'read-index ID CTX',
  'transfer-leader': 'transfer-leader FROM TO',
  'process-ready': 'process-ready ID [ID...]',
  'deliver-msgs': 'deliver-msgs [ID...] [from=ID] [type=TYPE] [drop=(ID,...)]',
  stabilize: 'stabilize [ID...]',
  partition: 'partition ID [ID...]',
  isolate: 'isolate ID',
  cut: 'cut FROM TO',
  heal: 'heal',
  status: 'status [ID...]',
  log: 'log ID',
  applied: 'applied [ID...]',
  compact: 'compact ID INDEX',
  restart: 'restart ID [config options of add-nodes, e.g. disableProposalForwarding=true]',
  'force-new-cluster': 'force-new-cluster ID',
  'inject-msg': 'inject-msg TO JSON',
};

export class InteractionEnv {
  readonly net = new RaftNetwork([]);
  private readonly models = new Map<PeerId, PeerModel>();
  /** Each peer's role and term as last printed, to print transitions as they happen. */
  private readonly seen = new Map<PeerId, { role: Role; term: number }>();
  private lastAddConfig: Partial<RaftConfig> = { electionTicks: 10, heartbeatTicks: 1 };
  /**
   * What the safety checks remember across the whole scenario (Raft paper, Figure 3): the leader
   * of each term (Election Safety) and the entry applied at each index by any peer (State
   * Machine Safety). A violation fails the scenario at the command that caused it.
   */
  private readonly leaderOfTerm = new Map<number, PeerId>();
  private readonly appliedAt = new Map<number, string>();
  private out: string[] = [];
  private indent = '';
  private readonly handlers: Readonly<Record<string, Handler>> = {
    'add-nodes': (a) => this.addNodes(a),
    campaign: (a) => this.onPeer(a, 1, (id) => this.core(id).campaign()),
    tick: (a) => this.tickCommand(a),
    'tick-election': (a) => this.onPeer(a, 1, (id) => this.tickPeer(id, this.config(id).electionTicks)),
    'tick-heartbeat': (a) => this.onPeer(a, 1, (id) => this.tickPeer(id, this.config(id).heartbeatTicks)),
    'set-randomized-timeout': (a) => this.setRandomizedTimeout(a),
    propose: (a) => this.propose(a),
    'propose-conf-change': (a) => this.proposeConfChange(a),
    'read-index': (a) => this.readIndex(a),
    'transfer-leader': (a) => this.transferLeader(a),
    'process-ready': (a) => this.processReadyCommand(a),
    'deliver-msgs': (a) => this.deliverCommand(a),
    stabilize: (a) => this.stabilize(a),
    partition: (a) => this.partition(a),
    isolate: (a) => this.onPeer(a, 1, (id) => this.net.isolate(id)),
    cut: (a) => this.cut(a),
    heal: (a) => this.noArgs(a, () => this.heal()),
    status: (a) => this.status(a),
    log: (a) => this.onPeer(a, 1, (id) => this.printLog(id)),
    applied: (a) => this.appliedCommand(a),
    compact: (a) => this.compact(a),
    restart: (a) => this.restartCommand(a),
    'force-new-cluster': (a) => this.onPeer(a, 1, (id) => this.restart(id, true)),
    'inject-msg': (a) => this.injectMessage(a),
  };

  /** Runs one command line; returns its output ("ok" when it prints nothing). */
  run(line: string): string {
    this.out = [];
    this.indent = '';
    const args = parseArgs(line);
    const handler = this.handlers[args.command];
    if (handler === undefined) throw new UsageError(`unknown command '${args.command}' (known: ${Object.keys(COMMANDS).join(', ')})`);
    handler(args);
    this.noteTransitions();
    const output = this.out.map((l) => l.replace(/\s+$/, ''));
    return output.length === 0 ? 'ok' : output.join('\n');
  }

  // ---- helpers ----

  private emit(line: string): void {
    this.out.push(`${this.indent}${line}`);
  }

  private nested(fn: () => void): void {
    const before = this.indent;
    this.indent += '  ';
    try {
      fn();
    } finally {
      this.indent = before;
    }
  }

  private core(id: PeerId): RaftCore {
    return this.net.core(id);
  }

  private model(id: PeerId): PeerModel {
    const m = this.models.get(id);
    if (m === undefined) throw new UsageError(`no peer ${id}`);
    return m;
  }

  private config(id: PeerId): RaftConfig {
    return { ...DEFAULT_RAFT_CONFIG, ...this.model(id).config, id };
  }

  private peerId(command: string, value: string | undefined): PeerId {
    if (value === undefined) throw new UsageError(`${command}: a peer id is required (usage: ${COMMANDS[command] ?? command})`);
    if (!this.models.has(value)) throw new UsageError(`${command}: no peer '${value}' (peers: ${[...this.models.keys()].join(', ') || 'none'})`);
    return value;
  }

  private expect(a: Args, positional: { min: number; max: number }, named: readonly string[] = []): void {
    const usage = COMMANDS[a.command] ?? a.command;
    if (a.positional.length < positional.min || a.positional.length > positional.max) {
      throw new UsageError(`${a.command}: expected ${positional.min === positional.max ? positional.min : `${positional.min} to ${positional.max === Infinity ? 'any' : positional.max}`} argument(s), got ${a.positional.length} (usage: ${usage})`);
    }
    for (const key of a.named.keys()) {
      if (!named.includes(key)) throw new UsageError(`${a.command}: unknown option ${key}= (usage: ${usage})`);
    }
  }

  private noArgs(a: Args, fn: () => void): void {
    this.expect(a, { min: 0, max: 0 });
    fn();
  }

  private onPeer(a: Args, count: number, fn: (id: PeerId) => void): void {
    this.expect(a, { min: count, max: count });
    fn(this.peerId(a.command, a.positional[0]));
  }

  /** Runs a call into the core, printing a typed error (a refused proposal, a bad message). */
  private guarded(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      if (error instanceof RuntimeError) this.emit(`error: ${error.code}: ${error.message}`);
      else throw error;
    }
  }

  /**
   * Prints role and term changes since they were last printed (like etcd's "became" logs), and
   * checks the invariants that hold at every step: a term never decreases, one leader per term,
   * commit within the log.
   */
  private noteTransitions(): void {
    for (const [id, peer] of this.net.peers) {
      const before = this.seen.get(id);
      const { role, term } = peer.core;
      assert(before === undefined || term >= before.term, () => `${id}'s term went back from ${before?.term} to ${term}`);
      if (before !== undefined && (before.role !== role || before.term !== term)) this.emit(`${id} became ${role} at term ${term}`);
      this.seen.set(id, { role, term });
      if (role === 'leader') {
        const other = this.leaderOfTerm.get(term);
        assert(other === undefined || other === id, () => `election safety: ${other} and ${id} both lead term ${term}`);
        this.leaderOfTerm.set(term, id);
      }
      const s = peer.core.status();
      assert(s.commit <= s.lastIndex && s.applied <= s.commit, () => `${id}: applied ${s.applied} <= commit ${s.commit} <= lastIndex ${s.lastIndex} fails`);
    }
  }

  // ---- commands ----

  private addNodes(a: Args): void {
    this.expect(a, { min: 1, max: 1 }, ['voters', 'learners', ...Object.keys(CONFIG_OPTIONS)]);
    const n = parseCount(a.command, 'N', a.positional[0], 1);
    const first = this.models.size + 1;
    const ids = Array.from({ length: n }, (_, i) => String(first + i));
    const votersArg = a.named.get('voters');
    const learnersArg = a.named.get('learners');
    // The first peers form the cluster; later ones join it knowing nothing until the leader
    // tells them (as a new manager does), unless the scenario gives their configuration.
    const voters = votersArg !== undefined ? parseList(a.command, 'voters', votersArg) : this.models.size === 0 ? ids : [];
    const learners = learnersArg !== undefined ? parseList(a.command, 'learners', learnersArg) : [];
    // Options not given are those of the previous add-nodes (the cluster's), else the defaults.
    const config: Partial<RaftConfig> = { ...this.lastAddConfig };
    Object.assign(config, parseConfigOptions(a));
    this.lastAddConfig = config;
    for (const id of ids) {
      const storage = MemoryLogStorage.create({ voters, learners });
      const model: PeerModel = { config, random: new PinnedRandom(), values: [], appliedIndex: 0, confs: [{ index: 0, conf: { voters, learners } }] };
      this.models.set(id, model);
      this.startCore(id, storage, {});
    }
    const c = this.config(ids[0] as string);
    this.emit(
      `added ${formatIds(ids)} voters=${formatIds(voters)} learners=${formatIds(learners)} prevote=${c.preVote} checkquorum=${c.checkQuorum} ` +
        `electionTicks=${c.electionTicks} heartbeatTicks=${c.heartbeatTicks}`,
    );
    const extra = Object.keys(CONFIG_OPTIONS).filter((k) => !['prevote', 'checkquorum', 'electionTicks', 'heartbeatTicks'].includes(k) && a.named.has(k));
    if (extra.length > 0) this.emit(`  ${extra.map((k) => `${k}=${a.named.get(k)}`).join(' ')}`);
  }

  /** A core on `storage`, replacing any earlier incarnation of the peer. */
  private startCore(id: PeerId, storage: MemoryLogStorage, once: Partial<RaftConfig>): Peer {
    const model = this.model(id);
    const core = new RaftCore({ ...model.config, ...once, id }, storage, model.random);
    const peer: Peer = { core, storage, applied: [], readStates: [] };
    this.net.peers.set(id, peer);
    this.seen.set(id, { role: core.role, term: core.term });
    return peer;
  }

  private tickCommand(a: Args): void {
    this.expect(a, { min: 1, max: 2 });
    const id = this.peerId(a.command, a.positional[0]);
    const n = a.positional[1] === undefined ? 1 : parseCount(a.command, 'N', a.positional[1], 1);
    this.tickPeer(id, n);
  }

  private tickPeer(id: PeerId, n: number): void {
    for (let i = 0; i < n; i++) {
      this.core(id).tick();
      this.noteTransitions();
    }
  }

  private setRandomizedTimeout(a: Args): void {
    this.expect(a, { min: 2, max: 2 });
    const id = this.peerId(a.command, a.positional[0]);
    const ticks = parseCount(a.command, 'TICKS', a.positional[1]);
    const { electionTicks } = this.config(id);
    if (ticks < electionTicks || ticks >= 2 * electionTicks) throw new UsageError(`${a.command}: TICKS must be in [${electionTicks}, ${2 * electionTicks}), got ${ticks}`);
    this.model(id).random.offset = ticks - electionTicks;
    this.emit(`${id}'s election timeout is ${ticks} ticks from its next reset`);
  }

  private propose(a: Args): void {
    this.expect(a, { min: 2, max: 2 });
    const id = this.peerId(a.command, a.positional[0]);
    this.guarded(() => this.core(id).propose(encoder.encode(a.positional[1] as string)));
  }

  private proposeConfChange(a: Args): void {
    this.expect(a, { min: 3, max: 3 });
    const id = this.peerId(a.command, a.positional[0]);
    const type = a.positional[1] as string;
    const peer = a.positional[2] as string;
    if (!(CONF_CHANGE_TYPES as readonly string[]).includes(type)) throw new UsageError(`${a.command}: unknown change '${type}' (usage: ${COMMANDS[a.command]})`);
    const change = { type, peer } as ConfChange;
    this.guarded(() => this.core(id).proposeConfChange(change));
  }

  private readIndex(a: Args): void {
    this.expect(a, { min: 2, max: 2 });
    const id = this.peerId(a.command, a.positional[0]);
    this.guarded(() => this.core(id).readIndex(a.positional[1] as string));
  }

  private transferLeader(a: Args): void {
    this.expect(a, { min: 2, max: 2 });
    const from = this.peerId(a.command, a.positional[0]);
    // Any id: transferring to a peer that is not a member is something the core must refuse.
    const to = a.positional[1] as string;
    this.guarded(() => this.core(from).transferLeadership(to));
  }

  private processReadyCommand(a: Args): void {
    this.expect(a, { min: 1, max: Infinity });
    const ids = a.positional.map((p) => this.peerId(a.command, p));
    for (const id of ids) {
      if (ids.length > 1) {
        this.emit(`> ${id} handling Ready`);
        this.nested(() => this.processReady(id));
      } else {
        this.processReady(id);
      }
    }
  }

  /**
   * Handles one Ready the way the shell does: persist (hard state, entries, snapshot in one
   * write), send, apply, advance. Prints it, and what applying it changed.
   */
  private processReady(id: PeerId): boolean {
    const peer = this.net.peer(id);
    if (!peer.core.hasReady()) {
      this.emit('no Ready');
      return false;
    }
    const confBefore = formatConf(peer.core.confState());
    const rd = peer.core.ready();
    for (const line of formatReady(rd)) this.emit(line);
    peer.storage.applyWrite({
      ...(rd.hardState !== undefined ? { hardState: rd.hardState } : {}),
      entries: rd.entries,
      ...(rd.snapshot !== undefined ? { snapshot: rd.snapshot } : {}),
    });
    for (const m of rd.messages) this.net.queue.push(m);
    for (const m of rd.messagesAfterPersist) this.net.queue.push(m);
    const model = this.model(id);
    if (rd.snapshot !== undefined) this.resetStateMachine(model, rd.snapshot);
    for (const entry of rd.committedEntries) this.apply(id, model, entry);
    peer.applied.push(...rd.committedEntries);
    peer.readStates.push(...rd.readStates);
    peer.core.advance();
    const confAfter = formatConf(peer.core.confState());
    if (confAfter !== confBefore) this.emit(`Conf: ${confAfter}`);
    this.noteTransitions();
    return true;
  }

  /** The state machine becomes the snapshot's state (on install, and on restart). */
  private resetStateMachine(model: PeerModel, snapshot: Snapshot): void {
    const data = new TextDecoder().decode(snapshot.data);
    model.values = data === '' ? [] : data.split(',').map((value) => ({ index: snapshot.meta.index, value }));
    model.appliedIndex = snapshot.meta.index;
    model.confs = [{ index: snapshot.meta.index, conf: snapshot.meta.confState }];
  }

  private apply(id: PeerId, model: PeerModel, entry: Entry): void {
    if (entry.index !== model.appliedIndex + 1) throw new Error(`${id} applies entry ${entry.index} after ${model.appliedIndex}: a gap or a repeat`);
    model.appliedIndex = entry.index;
    const key = formatEntry(entry);
    const other = this.appliedAt.get(entry.index);
    assert(other === undefined || other === key, () => `state machine safety: ${id} applies ${key} at index ${entry.index}, another peer applied ${other}`);
    this.appliedAt.set(entry.index, key);
    if (entry.type === 'normal' && entry.data.byteLength > 0) model.values.push({ index: entry.index, value: new TextDecoder().decode(entry.data) });
    // The core applies a conf change inside ready(); its configuration now includes it.
    if (entry.type === 'confChange') model.confs.push({ index: entry.index, conf: this.core(id).confState() });
  }

  private deliverCommand(a: Args): void {
    this.expect(a, { min: 0, max: Infinity }, ['from', 'type', 'drop']);
    const ids = a.positional.map((p) => this.peerId(a.command, p));
    const fromArg = a.named.get('from');
    const from = fromArg === undefined ? undefined : this.peerId(a.command, fromArg);
    const type = a.named.get('type');
    const dropArg = a.named.get('drop');
    const drop = new Set(dropArg === undefined ? [] : parseList(a.command, 'drop', dropArg));
    const n = this.deliver((m) => (ids.length === 0 || ids.includes(m.to) || drop.has(m.to)) && (from === undefined || m.from === from) && (type === undefined || m.type === type), drop);
    if (n === 0) this.emit('no messages');
  }

  /** Delivers (or drops) the queued messages that `select` picks, in the order they were sent. */
  private deliver(select: (m: Message) => boolean, drop: ReadonlySet<PeerId> = new Set()): number {
    const picked = this.net.queue.filter(select);
    this.net.queue = this.net.queue.filter((m) => !select(m));
    // A dropped message identical to one dropped before in this delivery only adds to its count.
    const droppedAt = new Map<string, { at: number; count: number }>();
    const dropped = (line: string) => {
      const seen = droppedAt.get(line);
      if (seen !== undefined) {
        seen.count++;
        this.out[seen.at] = `${this.indent}${line} (x${seen.count})`;
        return;
      }
      droppedAt.set(line, { at: this.out.length, count: 1 });
      this.emit(line);
    };
    let repeat: { line: string; at: number; count: number } | undefined;
    for (const m of picked) {
      const line = formatMessage(m);
      if (drop.has(m.to)) {
        dropped(`${line} (dropped)`);
        continue;
      }
      if (!this.net.peers.has(m.to)) {
        dropped(`${line} (dropped: no peer ${m.to})`);
        continue;
      }
      if (this.net.isLinkCut(m.from, m.to)) {
        dropped(`${line} (dropped: link cut)`);
        continue;
      }
      const at = this.out.length;
      this.emit(line);
      this.net.delivered.push(m);
      this.nested(() => {
        this.guarded(() => this.core(m.to).step(m));
        this.noteTransitions();
      });
      // A delivery that printed nothing more, right after the same one: count it instead.
      if (this.out.length === at + 1 && repeat !== undefined && repeat.line === line && repeat.at === at - 1) {
        this.out.pop();
        repeat.count++;
        this.out[repeat.at] = `${this.indent}${line} (x${repeat.count})`;
      } else {
        repeat = this.out.length === at + 1 ? { line, at, count: 1 } : undefined;
      }
    }
    return picked.length;
  }

  private stabilize(a: Args): void {
    this.expect(a, { min: 0, max: Infinity });
    const ids = a.positional.length > 0 ? a.positional.map((p) => this.peerId(a.command, p)) : [...this.net.peers.keys()];
    for (let round = 0; round < 1000; round++) {
      let moved = false;
      for (const id of ids) {
        if (!this.core(id).hasReady()) continue;
        moved = true;
        this.emit(`> ${id} handling Ready`);
        this.nested(() => this.processReady(id));
      }
      for (const id of ids) {
        if (!this.net.queue.some((m) => m.to === id)) continue;
        moved = true;
        this.emit(`> ${id} receiving messages`);
        this.nested(() => this.deliver((m) => m.to === id));
      }
      if (!moved) return;
    }
    throw new UsageError('stabilize: no quiescence after 1000 rounds');
  }

  private partition(a: Args): void {
    this.expect(a, { min: 1, max: Infinity });
    this.net.partition(a.positional.map((p) => this.peerId(a.command, p)));
  }

  /** Messages in flight on a cut link were lost with it: they are dropped before the links heal. */
  private heal(): void {
    this.deliver((m) => this.net.isLinkCut(m.from, m.to));
    this.net.heal();
  }

  private cut(a: Args): void {
    this.expect(a, { min: 2, max: 2 });
    this.net.cutLink(this.peerId(a.command, a.positional[0]), this.peerId(a.command, a.positional[1]));
  }

  private status(a: Args): void {
    this.expect(a, { min: 0, max: Infinity });
    const ids = a.positional.length > 0 ? a.positional.map((p) => this.peerId(a.command, p)) : [...this.net.peers.keys()];
    for (const id of ids) {
      const s = this.core(id).status();
      const transfer = s.leadTransferee === '' ? '' : ` transferee=${s.leadTransferee}`;
      this.emit(
        `${id} ${s.role} term=${s.term} vote=${formatPeer(s.vote)} leader=${formatPeer(s.leader)} commit=${s.commit} applied=${s.applied} ` +
          `lastIndex=${s.lastIndex} ${formatConf(s)}${transfer}`,
      );
      if (s.role !== 'leader') continue;
      for (const [peer, pr] of Object.entries(s.progress).sort(([x], [y]) => x.localeCompare(y, 'en', { numeric: true }))) {
        this.emit(`  ${peer}: match=${pr.match} next=${pr.next} ${pr.state}`);
      }
    }
  }

  private printLog(id: PeerId): void {
    const { core, storage } = this.net.peer(id);
    const first = core.log.firstIndex();
    const last = core.log.lastIndex();
    const snap = storage.snapshot();
    if (snap.meta.index > 0) this.emit(`snapshot: ${formatSnapshot(snap)}`);
    if (first > 1) this.emit(`compacted through ${core.log.termOrZero(first - 1)}/${first - 1}`);
    if (first > last) this.emit('(no entries)');
    const stable = core.log.stableLastIndex();
    for (const e of core.log.slice(first, last + 1)) this.emit(`${formatEntry(e)}${e.index > stable ? ' (unstable)' : ''}`);
  }

  private appliedCommand(a: Args): void {
    this.expect(a, { min: 0, max: Infinity });
    const ids = a.positional.length > 0 ? a.positional.map((p) => this.peerId(a.command, p)) : [...this.net.peers.keys()];
    for (const id of ids) {
      const m = this.model(id);
      this.emit(`${id}: applied=${m.appliedIndex} values=[${m.values.map((v) => v.value).join(',')}]`);
    }
  }

  /** A snapshot of the state machine at INDEX in the peer's storage, then the log compacted to it. */
  private compact(a: Args): void {
    this.expect(a, { min: 2, max: 2 });
    const id = this.peerId(a.command, a.positional[0]);
    const index = parseCount(a.command, 'INDEX', a.positional[1], 1);
    const { storage } = this.net.peer(id);
    const model = this.model(id);
    const snapIndex = storage.snapshot().meta.index;
    if (index <= snapIndex) throw new UsageError(`${a.command}: ${id} already has a snapshot at ${snapIndex}; INDEX must be above it`);
    if (index > model.appliedIndex) throw new UsageError(`${a.command}: ${id} has applied only up to ${model.appliedIndex}; INDEX ${index} is beyond it`);
    const values = model.values.filter((v) => v.index <= index).map((v) => v.value);
    const conf = [...model.confs].reverse().find((c) => c.index <= index)?.conf;
    assert(conf !== undefined, () => `${id} has no configuration recorded at or below ${index}`);
    const snapshot = storage.applyCreateSnapshot(index, conf, encoder.encode(values.join(',')));
    storage.applyCompact(index);
    this.emit(`snapshot: ${formatSnapshot(snapshot)}`);
    this.emit(`log: first=${storage.firstIndex()} last=${storage.lastIndex()}`);
  }

  private restartCommand(a: Args): void {
    this.expect(a, { min: 1, max: 1 }, Object.keys(CONFIG_OPTIONS));
    const id = this.peerId(a.command, a.positional[0]);
    const changed = parseConfigOptions(a);
    const model = this.model(id);
    model.config = { ...model.config, ...changed };
    this.restart(id, false);
    const keys = Object.keys(CONFIG_OPTIONS).filter((k) => a.named.has(k));
    if (keys.length > 0) this.emit(`  now ${keys.map((k) => `${k}=${a.named.get(k)}`).join(' ')}`);
  }

  /**
   * The peer crashes and restarts on its durable log: its unpersisted state is gone, and so are
   * the messages queued to it. Its state machine restarts from the stored snapshot; the core
   * hands out the committed entries after it again.
   */
  private restart(id: PeerId, forceNewCluster: boolean): void {
    const { storage } = this.net.peer(id);
    const lost = this.net.queue.filter((m) => m.to === id);
    this.net.queue = this.net.queue.filter((m) => m.to !== id);
    for (const m of lost) this.emit(`${formatMessage(m)} (lost: ${id} restarted)`);
    const model = this.model(id);
    this.resetStateMachine(model, storage.snapshot());
    const peer = this.startCore(id, storage, forceNewCluster ? { forceNewCluster: true } : {});
    const s = peer.core.status();
    this.emit(
      `${id} restarted${forceNewCluster ? ' (force-new-cluster)' : ''}: ${s.role} term=${s.term} vote=${formatPeer(s.vote)} commit=${s.commit} ` +
        `applied=${s.applied} lastIndex=${s.lastIndex} ${formatConf(s)}`,
    );
  }

  /**
   * Steps a message written as JSON straight into a peer, as a transport would hand it over.
   * `{"$text": "x"}` stands for the bytes of "x" (JSON has no byte arrays).
   */
  private injectMessage(a: Args): void {
    const space = a.rest.search(/\s/);
    if (space < 0) throw new UsageError(`${a.command}: usage: ${COMMANDS[a.command]}`);
    const to = this.peerId(a.command, a.rest.slice(0, space));
    let message: unknown;
    try {
      message = JSON.parse(a.rest.slice(space + 1), (_key, value: unknown) => {
        if (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 1 && typeof (value as { $text?: unknown }).$text === 'string') {
          return encoder.encode((value as { $text: string }).$text);
        }
        return value;
      });
    } catch (error) {
      throw new UsageError(`${a.command}: the message is not JSON: ${(error as Error).message}`);
    }
    const before = JSON.stringify(this.core(to).status());
    const hadReady = this.core(to).hasReady();
    let refused = false;
    try {
      this.core(to).step(message as Message);
    } catch (error) {
      if (!(error instanceof RuntimeError)) throw error;
      refused = true;
      this.emit(`refused: ${error.code}: ${error.message}`);
    }
    if (!refused) this.emit('accepted');
    const unchanged = JSON.stringify(this.core(to).status()) === before && this.core(to).hasReady() === hadReady;
    this.emit(unchanged ? `${to} is unchanged` : `${to} changed`);
  }
}
