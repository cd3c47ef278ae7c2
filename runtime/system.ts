import type { AnyStateMachine } from 'xstate';
import type { ActorContext, AskOptions, Behaviour, Props, VirtualKind } from './actor.js';
import { type Address, ASK_PATH_PREFIX, assertValidSegment, isValidSegment, nodeOf } from './address.js';
import type { Envelope, Env, TimerId } from './env/types.js';
import {
  ActorNameTakenError,
  ActorStoppedError,
  AskTimeoutError,
  EscalatedFailure,
  InvalidAddressError,
  MailboxFullError,
  assert,
  describeError,
} from './errors.js';
import {
  type DeadLetter,
  type DeadLetterReason,
  type FailureDirective,
  type InspectionEvent,
  type InspectionListener,
  type StopReason,
  messageType,
} from './inspection.js';
import { Mailbox, type OverflowPolicy } from './mailbox.js';
import { DEFAULT_RESTART, RestartWindow, type SupervisionStrategy, backoffMs, validateStrategy } from './supervision.js';

export interface SystemOptions {
  readonly nodeId: string;
  readonly env: Env;
  /** Mailbox bound for actors that do not declare one. */
  readonly mailboxDepthMaxDefault?: number;
  /** Messages one actor handles before the dispatcher moves on to the next ready actor. */
  readonly throughputPerActor?: number;
  /** Messages handled per dispatcher turn before yielding to I/O and timers. */
  readonly messagesPerTurnMax?: number;
  /** Supervision for actors whose props declare none. */
  readonly supervisionDefault?: SupervisionStrategy;
  /** Dead letters kept for inspection (the counters keep counting past it). */
  readonly deadLettersKeptMax?: number;
}


/** A read-only view of one actor, for tests, tools and the visualizer. */
export interface ActorInfo {
  readonly address: Address;
  readonly kind: string;
  readonly status: 'running' | 'restarting' | 'stopped';
  readonly mailboxDepth: number;
  readonly restarts: number;
  readonly state: unknown;
  readonly children: ActorInfo[];
}

export interface DeadLetterStats {
  total: number;
  readonly byReason: Partial<Record<DeadLetterReason, number>>;
  /** The most recent dead letters, oldest first, at most `deadLettersKeptMax`. */
  readonly recent: DeadLetter[];
}

/** A failure that escalated past every supervisor to the root of the node. */
export interface RootFailure {
  readonly at: number;
  readonly address: Address;
  readonly error: unknown;
}

const RUNNING = 0;
const SUSPENDED = 1;
const STOPPED = 2;

type SysItem =
  | { readonly kind: 'message'; readonly message: unknown }
  | { readonly kind: 'fn'; readonly fn: () => void }
  | { readonly kind: 'childStopped'; readonly child: Address; readonly reason: StopReason };

const NO_FAILURE: unique symbol = Symbol('no failure');

class CellExtras {
  sys: SysItem[] | undefined;
  timers: Map<string, TimerId> | undefined;
  restarts: RestartWindow | undefined;
  pendingStop: StopReason | undefined;
  lastStateKey: string | undefined;
  /** Virtual actors only: idle time before passivation, and when the last message arrived. */
  idleMs = 0;
  lastActiveAt = 0;
  idleTimer: TimerId | undefined;
  /** The pending restart of a failed actor, cancelled if the actor stops first. */
  restartTimer: TimerId | undefined;
  anonymousTimers = 0;
}

/**
 * One actor's runtime record. It is also the actor's ActorContext: one object per actor keeps a
 * resident idle actor small (a million addresses must not mean a million big objects).
 */
class Cell implements ActorContext {
  behaviour: Behaviour | undefined;
  /** Created by the first message: an actor that is never messaged holds no mailbox. */
  mailbox: Mailbox | undefined;
  /** Children, in spawn order, as an intrusive list: no per-parent map to grow and rehash. */
  firstChild: Cell | undefined;
  lastChild: Cell | undefined;
  prevSibling: Cell | undefined;
  nextSibling: Cell | undefined;
  status = RUNNING;
  scheduled = false;
  incarnation = 0;
  sender: Address | undefined;
  pendingFailure: unknown = NO_FAILURE;
  /** What few actors need (timers, restart history, virtual-actor idling): allocated on first use. */
  x: CellExtras | undefined;

  constructor(
    readonly system: ActorSystem,
    readonly self: Address,
    readonly parentCell: Cell | undefined,
    readonly props: Props,
  ) {}

  extras(): CellExtras {
    return (this.x ??= new CellExtras());
  }

  get depth(): number {
    return this.mailbox === undefined ? 0 : this.mailbox.length;
  }

  hasSystemWork(): boolean {
    return this.x !== undefined && this.x.sys !== undefined && this.x.sys.length > 0;
  }

  get nodeId(): string {
    return this.system.nodeId;
  }
  get parent(): Address | undefined {
    return this.parentCell === undefined || this.parentCell.parentCell === undefined ? undefined : this.parentCell.self;
  }
  get env(): Env {
    return this.system.env;
  }
  send(to: Address, message: unknown): void {
    this.system.send(to, message, this.self);
  }
  ask<R = unknown>(to: Address, build: (replyTo: Address) => unknown, options?: AskOptions): Promise<R> {
    return this.system.ask<R>(to, build, options, this.self);
  }
  spawn<M>(name: string, props: Props<M>): Address {
    return this.system.spawnChild(this, name, props as Props);
  }
  spawnVirtual(name: string, kind: VirtualKind): Address {
    return this.system.spawnVirtualHome(this, name, kind);
  }
  stop(child?: Address): void {
    if (child === undefined) {
      this.system.stopCell(this, 'requested');
      return;
    }
    const target = this.system.cellAt(child);
    if (target === undefined) return;
    assert(target.parentCell === this, `${this.self} may stop only its children, not ${child}`);
    this.system.stopCell(target, 'requested');
  }
  children(): Address[] {
    return this.system.childrenOf(this).map((c) => c.self);
  }
  setTimer(key: string, delayMs: number, message: unknown): void {
    this.system.setCellTimer(this, key, delayMs, { kind: 'message', message });
  }
  cancelTimer(key: string): void {
    this.system.cancelCellTimer(this, key);
  }
}

/**
 * One node's actor system: the supervision tree, bounded mailboxes, a dispatcher that drains
 * ready mailboxes in turns on the Env clock, request/reply, dead letters, virtual actors and the
 * inspection stream. Single-threaded: every behaviour runs to completion on the dispatcher.
 */
export class ActorSystem {
  readonly nodeId: string;
  readonly env: Env;
  readonly deadLetters: DeadLetterStats;
  readonly rootFailures: RootFailure[] = [];

  private readonly registry = new Map<Address, Cell>();
  private readonly guardian: Cell;
  private readonly localPrefix: string;
  private readonly askPrefix: string;
  private readonly mailboxDepthMaxDefault: number;
  private readonly throughputPerActor: number;
  private readonly messagesPerTurnMax: number;
  private readonly supervisionDefault: SupervisionStrategy;
  private readonly deadLettersKeptMax: number;
  private readonly virtualKinds = new Map<Address, VirtualKind>();
  private readonly asks = new Map<Address, { resolve: (reply: never) => void; reject: (e: Error) => void; timer: TimerId }>();
  private readonly supervisionRandom;
  private listeners: InspectionListener[] = [];
  private rootFailureListeners: Array<(failure: RootFailure) => void> = [];
  private inspecting = false;
  private runQueue: Cell[] = [];
  private runHead = 0;
  private drainScheduled = false;
  private current: Cell | undefined;
  private stopsPending = 0;
  private askSeq = 0;
  private halted = false;
  private readonly unlisten: () => void;
  private readonly drainBound = (): void => this.drain();

  constructor(options: SystemOptions) {
    assertValidSegment(options.nodeId, 'node id');
    this.nodeId = options.nodeId;
    this.env = options.env;
    this.localPrefix = `${options.nodeId}/`;
    this.askPrefix = `${options.nodeId}/${ASK_PATH_PREFIX}`;
    this.mailboxDepthMaxDefault = options.mailboxDepthMaxDefault ?? 1000;
    this.throughputPerActor = options.throughputPerActor ?? 64;
    this.messagesPerTurnMax = options.messagesPerTurnMax ?? 20_000;
    this.supervisionDefault = options.supervisionDefault ?? DEFAULT_RESTART;
    validateStrategy(this.supervisionDefault);
    this.deadLettersKeptMax = options.deadLettersKeptMax ?? 100;
    this.deadLetters = { total: 0, byReason: {}, recent: [] };
    this.supervisionRandom = options.env.random.fork(`${options.nodeId}/supervision`);
    const guardianProps: Props = { kind: 'guardian', create: () => ({ receive: () => undefined }) };
    this.guardian = new Cell(this, this.localPrefix, undefined, guardianProps);
    this.guardian.behaviour = guardianProps.create(this.guardian);
    this.unlisten = options.env.transport.listen(options.nodeId, (envelope) => this.receiveRemote(envelope));
  }

  // ---- public API ---------------------------------------------------------------------------

  /** Spawns a top-level actor at `nodeId/name`. */
  spawn<M>(name: string, props: Props<M>): Address {
    return this.spawnChild(this.guardian, name, props as Props);
  }

  /** Sends a message; local delivery is a mailbox push, remote goes through the transport. */
  send(to: Address, message: unknown, from?: Address): void {
    if (this.halted) {
      this.deadLetter(from, to, message, 'systemHalted');
      return;
    }
    if (to.startsWith(this.localPrefix)) {
      this.deliverLocal(to, message, from, false);
      return;
    }
    const toNode = nodeOf(to);
    if (toNode.length === 0 || toNode === to) throw new InvalidAddressError(to, 'expected nodeId/path');
    this.env.transport.send(this.nodeId, toNode, { from: from ?? this.localPrefix, to, message });
  }

  /** Request/reply with a timeout on the Env clock; see ActorContext.ask. */
  ask<R = unknown>(to: Address, build: (replyTo: Address) => unknown, options?: AskOptions, from?: Address): Promise<R> {
    const timeoutMs = options?.timeoutMs ?? 5000;
    assert(timeoutMs > 0, 'ask timeoutMs must be positive');
    const replyTo = `${this.askPrefix}${++this.askSeq}`;
    return new Promise<R>((resolve, reject) => {
      const message = build(replyTo);
      const timer = this.env.clock.setTimeout(() => {
        if (this.asks.delete(replyTo)) reject(new AskTimeoutError(to, timeoutMs, messageType(message)));
      }, timeoutMs);
      this.asks.set(replyTo, { resolve: resolve as (reply: never) => void, reject, timer });
      try {
        this.send(to, message, from);
      } catch (error) {
        this.env.clock.clearTimeout(timer);
        this.asks.delete(replyTo);
        reject(error as Error);
      }
    });
  }

  /** Stops the actor at `address` (its children first). Unknown addresses are ignored. */
  stop(addr: Address): void {
    const cell = this.registry.get(addr);
    if (cell !== undefined) this.stopCell(cell, 'requested');
  }

  /**
   * Declares a virtual kind under the top-level path `prefix`: a message to `nodeId/prefix/name`
   * activates the actor from `kind.activate(name)`; it is passivated after `kind.idleMs` idle.
   */
  registerVirtual(prefix: string, kind: VirtualKind): Address {
    return this.spawnVirtualHome(this.guardian, prefix, kind);
  }

  /** @internal */
  spawnVirtualHome(parent: Cell, name: string, kind: VirtualKind): Address {
    assert(kind.idleMs > 0, 'virtual kind idleMs must be positive');
    const home = this.spawnChild(parent, name, { kind: `${name}-home`, create: () => ({ receive: () => undefined }) });
    this.virtualKinds.set(home, kind);
    return home;
  }

  /**
   * Subscribes to the inspection stream; returns the unsubscribe function. Listeners run inside
   * the runtime's own calls and must not throw.
   */
  inspect(listener: InspectionListener): () => void {
    this.listeners = [...this.listeners, listener];
    this.inspecting = true;
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
      this.inspecting = this.listeners.length > 0;
    };
  }

  /** Called when a failure escalates past every supervisor (the node should be considered failed). */
  onRootFailure(listener: (failure: RootFailure) => void): () => void {
    this.rootFailureListeners = [...this.rootFailureListeners, listener];
    return () => {
      this.rootFailureListeners = this.rootFailureListeners.filter((l) => l !== listener);
    };
  }

  has(addr: Address): boolean {
    return this.registry.has(addr);
  }

  /** Live actors on this node (virtual actors count only while active). */
  get actorCount(): number {
    return this.registry.size;
  }

  info(addr: Address): ActorInfo | undefined {
    const cell = this.registry.get(addr);
    return cell === undefined ? undefined : this.describe(cell, false);
  }

  /** The xstate machine an actor runs (for its statechart), if it runs one. */
  machineOf(addr: Address): AnyStateMachine | undefined {
    return this.registry.get(addr)?.props.machine;
  }

  /** The supervision tree below the node's root. */
  tree(): ActorInfo[] {
    return this.childrenOf(this.guardian).map((c) => this.describe(c, true));
  }

  /** Stops every actor (children first), rejects pending asks and stops listening. */
  shutdown(): void {
    if (this.halted) return;
    for (const child of this.childrenOf(this.guardian)) this.stopCell(child, 'systemShutdown');
    this.halt();
  }

  /** Stops at once without running any actor's stop hook: a crashed process. */
  halt(): void {
    if (this.halted) return;
    this.halted = true;
    this.unlisten();
    for (const cell of this.registry.values()) {
      this.clearTimers(cell);
      if (cell.x?.restartTimer !== undefined) this.env.clock.clearTimeout(cell.x.restartTimer);
      if (cell.x?.idleTimer !== undefined) this.env.clock.clearTimeout(cell.x.idleTimer);
    }
    for (const [replyTo, pending] of this.asks) {
      this.env.clock.clearTimeout(pending.timer);
      pending.reject(new ActorStoppedError(replyTo, 'ask'));
    }
    this.asks.clear();
    this.registry.clear();
    this.runQueue = [];
    this.runHead = 0;
  }

  get isHalted(): boolean {
    return this.halted;
  }

  // ---- spawning, delivery and dispatch --------------------------------------------------------

  /** @internal */
  spawnChild(parent: Cell, name: string, props: Props): Address {
    if (this.halted) throw new ActorStoppedError(this.nodeId, 'spawn');
    if (parent.status === STOPPED) throw new ActorStoppedError(parent.self, 'spawn');
    assertValidSegment(name, 'actor name');
    if (props.supervision !== undefined) validateStrategy(props.supervision);
    const addr = parent === this.guardian ? `${this.localPrefix}${name}` : `${parent.self}/${name}`;
    if (this.registry.has(addr)) throw new ActorNameTakenError(addr);
    const cell = new Cell(this, addr, parent, props);
    this.linkChild(parent, cell);
    this.registry.set(addr, cell);
    this.startCell(cell, false);
    return addr;
  }

  private startCell(cell: Cell, activated: boolean): void {
    if (this.inspecting) {
      this.emit({ type: 'actor.started', at: this.env.clock.now(), address: cell.self, kind: cell.props.kind, incarnation: cell.incarnation, activated });
    }
    this.guarded(cell, () => {
      const behaviour = cell.props.create(cell);
      cell.behaviour = behaviour;
      behaviour.started?.(cell);
    });
  }

  private deliverLocal(to: Address, message: unknown, from: Address | undefined, remote: boolean): void {
    let cell = this.registry.get(to);
    if (cell === undefined) {
      if (to.startsWith(this.askPrefix)) {
        this.resolveAsk(to, message, from);
        return;
      }
      cell = this.activate(to);
      if (cell === undefined) {
        this.deadLetter(from, to, message, 'noSuchActor');
        return;
      }
    }
    const mailbox = (cell.mailbox ??= new Mailbox(cell.props.mailboxDepthMax ?? this.mailboxDepthMaxDefault));
    if (!mailbox.push(message, from)) {
      this.overflow(cell, message, from, remote);
      return;
    }
    if (cell.status === RUNNING && !cell.scheduled) this.schedule(cell);
  }

  private overflow(cell: Cell, message: unknown, from: Address | undefined, remote: boolean): void {
    const policy: OverflowPolicy = cell.props.overflow ?? 'fail';
    switch (policy) {
      case 'fail':
        this.deadLetter(from, cell.self, message, 'mailboxFull');
        // A remote sender cannot catch an exception thrown here; it learns by timeout or retry.
        if (!remote) throw new MailboxFullError(cell.self, (cell.mailbox as Mailbox).depthMax);
        return;
      case 'dropNewest':
        this.deadLetter(from, cell.self, message, 'droppedNewest');
        return;
      case 'dropOldest': {
        const mailbox = cell.mailbox as Mailbox;
        const oldSender = mailbox.peekSender();
        const old = mailbox.shift();
        this.deadLetter(oldSender, cell.self, old, 'droppedOldest');
        mailbox.push(message, from);
        return;
      }
    }
  }

  private receiveRemote(envelope: Envelope): void {
    if (this.halted) return;
    if (typeof envelope.to !== 'string' || !envelope.to.startsWith(this.localPrefix)) {
      this.deadLetter(envelope.from, String(envelope.to), envelope.message, 'noSuchActor');
      return;
    }
    this.deliverLocal(envelope.to, envelope.message, envelope.from, true);
  }

  private resolveAsk(to: Address, message: unknown, from: Address | undefined): void {
    const pending = this.asks.get(to);
    if (pending === undefined) {
      this.deadLetter(from, to, message, 'lateReply');
      return;
    }
    this.asks.delete(to);
    this.env.clock.clearTimeout(pending.timer);
    pending.resolve(message as never);
  }

  private activate(to: Address): Cell | undefined {
    if (this.virtualKinds.size === 0) return undefined;
    const slash = to.lastIndexOf('/');
    const home = to.slice(0, slash);
    const kind = this.virtualKinds.get(home);
    if (kind === undefined) return undefined;
    const homeCell = this.registry.get(home);
    if (homeCell === undefined || homeCell.status !== RUNNING) return undefined;
    const name = to.slice(slash + 1);
    if (!isValidSegment(name)) return undefined;
    const cell = new Cell(this, to, homeCell, kind.activate(name));
    const extras = cell.extras();
    extras.idleMs = kind.idleMs;
    extras.lastActiveAt = this.env.clock.now();
    this.linkChild(homeCell, cell);
    this.registry.set(to, cell);
    this.startCell(cell, true);
    this.armIdleTimer(cell, kind.idleMs);
    return cell.status === STOPPED ? undefined : cell;
  }

  private armIdleTimer(cell: Cell, delayMs: number): void {
    const incarnation = cell.incarnation;
    const extras = cell.extras();
    extras.idleTimer = this.env.clock.setTimeout(() => {
      extras.idleTimer = undefined;
      if (cell.status === STOPPED) return;
      const idleFor = this.env.clock.now() - extras.lastActiveAt;
      const busy = cell.status !== RUNNING || cell.depth > 0 || cell.hasSystemWork() || cell.incarnation !== incarnation;
      if (!busy && idleFor >= extras.idleMs) this.stopCell(cell, 'passivated');
      else this.armIdleTimer(cell, Math.max(1, extras.idleMs - Math.max(0, idleFor)));
    }, delayMs);
  }

  private schedule(cell: Cell): void {
    cell.scheduled = true;
    this.runQueue.push(cell);
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      this.env.clock.defer(this.drainBound);
    }
  }

  private drain(): void {
    this.drainScheduled = false;
    if (this.halted) return;
    let budget = this.messagesPerTurnMax;
    const queue = this.runQueue;
    while (this.runHead < queue.length && budget > 0) {
      // An actor's turn may halt the whole node (a crash hook): nothing more runs then.
      if (this.halted) return;
      const cell = queue[this.runHead++] as Cell;
      cell.scheduled = false;
      if (cell.status !== RUNNING) continue;
      budget -= this.run(cell, Math.min(this.throughputPerActor, budget));
      if (cell.status === RUNNING && !cell.scheduled && (cell.depth > 0 || cell.hasSystemWork())) {
        cell.scheduled = true;
        queue.push(cell);
      }
    }
    if (this.runHead >= queue.length) {
      this.runQueue = [];
      this.runHead = 0;
    } else {
      if (this.runHead > 4096) {
        this.runQueue = queue.slice(this.runHead);
        this.runHead = 0;
      }
      this.drainScheduled = true;
      this.env.clock.defer(this.drainBound);
    }
  }

  /** Handles up to `max` messages of one actor; returns how many it handled. */
  private run(cell: Cell, max: number): number {
    let handled = 0;
    while (cell.status === RUNNING && cell.hasSystemWork()) {
      const item = (cell.x as CellExtras).sys?.shift() as SysItem;
      handled++;
      switch (item.kind) {
        case 'message':
          this.invoke(cell, item.message, cell.self);
          break;
        case 'fn':
          this.guarded(cell, item.fn);
          break;
        case 'childStopped': {
          const behaviour = cell.behaviour;
          if (behaviour?.childStopped) this.guarded(cell, () => behaviour.childStopped?.(item.child, item.reason, cell));
          break;
        }
      }
    }
    const mailbox = cell.mailbox;
    if (mailbox === undefined) return handled;
    while (handled < max && cell.status === RUNNING && mailbox.length > 0) {
      if (mailbox.length > 1 && max - handled > 1 && cell.behaviour?.receiveMany !== undefined) {
        const batch = new Array<unknown>(Math.min(mailbox.length, max - handled));
        for (let i = 0; i < batch.length; i++) {
          const from = this.inspecting ? mailbox.peekSender() : undefined;
          batch[i] = mailbox.shift();
          if (this.inspecting) this.emit({ type: 'message.delivered', at: this.env.clock.now(), from, to: cell.self, message: batch[i], depth: mailbox.length });
        }
        handled += batch.length;
        this.invokeMany(cell, batch);
        continue;
      }
      const sender = mailbox.peekSender();
      const message = mailbox.shift();
      handled++;
      this.invoke(cell, message, sender);
    }
    return handled;
  }

  private invoke(cell: Cell, message: unknown, sender: Address | undefined): void {
    if (this.inspecting) this.emit({ type: 'message.delivered', at: this.env.clock.now(), from: sender, to: cell.self, message, depth: cell.mailbox?.length ?? 0 });
    if (cell.x !== undefined && cell.x.idleMs > 0) cell.x.lastActiveAt = this.env.clock.now();
    const behaviour = cell.behaviour as Behaviour;
    const incarnation = cell.incarnation;
    cell.sender = sender;
    this.current = cell;
    try {
      const result = behaviour.receive(message, cell);
      if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
        (result as Promise<void>).then(undefined, (error: unknown) => {
          if (cell.incarnation === incarnation) this.fail(cell, error);
        });
      }
    } catch (error) {
      cell.pendingFailure = error;
    }
    this.current = undefined;
    cell.sender = undefined;
    this.afterTurn(cell);
  }

  /** One turn over several queued messages (see Behaviour.receiveMany). */
  private invokeMany(cell: Cell, messages: readonly unknown[]): void {
    if (cell.x !== undefined && cell.x.idleMs > 0) cell.x.lastActiveAt = this.env.clock.now();
    const behaviour = cell.behaviour as Behaviour;
    this.current = cell;
    try {
      behaviour.receiveMany?.(messages, cell);
    } catch (error) {
      cell.pendingFailure = error;
    }
    this.current = undefined;
    this.afterTurn(cell);
  }

  /** Runs `fn` as the actor's own turn: failures and stop requests are handled after it. */
  private guarded(cell: Cell, fn: () => void): void {
    const previous = this.current;
    this.current = cell;
    try {
      fn();
    } catch (error) {
      cell.pendingFailure = error;
    }
    this.current = previous;
    this.afterTurn(cell);
  }

  private afterTurn(cell: Cell): void {
    if (cell.pendingFailure !== NO_FAILURE) {
      const error = cell.pendingFailure;
      cell.pendingFailure = NO_FAILURE;
      this.handleFailure(cell, error);
    }
    if (this.stopsPending > 0) this.runPendingStops(cell);
    if (this.inspecting && cell.status === RUNNING) this.reportState(cell);
  }

  private runPendingStops(from: Cell): void {
    // A stop requested while the target (or one of its descendants) was mid-turn waits for that
    // turn to end; the ancestor nearest the root wins.
    let target: Cell | undefined;
    for (let c: Cell | undefined = from; c !== undefined; c = c.parentCell) if (c.x?.pendingStop !== undefined) target = c;
    if (target === undefined) return;
    const reason = target.x?.pendingStop as StopReason;
    this.stopCell(target, reason);
  }

  private reportState(cell: Cell): void {
    const inspectState = cell.behaviour?.inspectState;
    if (inspectState === undefined) return;
    const state = inspectState.call(cell.behaviour);
    const key = typeof state === 'string' ? state : JSON.stringify(state);
    const extras = cell.extras();
    if (key === extras.lastStateKey) return;
    extras.lastStateKey = key;
    this.emit({ type: 'snapshot.changed', at: this.env.clock.now(), address: cell.self, state });
  }

  // ---- supervision ----------------------------------------------------------------------------

  /** @internal Reports a failure that happened outside a turn (a timer, a rejected promise). */
  fail(cell: Cell, error: unknown): void {
    if (cell.status !== RUNNING) return;
    if (this.isInTurn(cell)) {
      if (cell.pendingFailure === NO_FAILURE) cell.pendingFailure = error;
      return;
    }
    this.handleFailure(cell, error);
  }

  private isInTurn(cell: Cell): boolean {
    return this.current === cell;
  }

  private handleFailure(cell: Cell, error: unknown): void {
    if (cell.status !== RUNNING) return;
    cell.status = SUSPENDED;
    this.clearTimers(cell);
    const strategy = cell.props.supervision ?? this.supervisionDefault;
    const now = this.env.clock.now();
    switch (strategy.kind) {
      case 'restart': {
        const extras = cell.extras();
        const restarts = (extras.restarts ??= new RestartWindow()).record(now, strategy.windowMs);
        if (restarts > strategy.restartsMax) {
          this.emitFailed(cell, error, 'gaveUp');
          if (strategy.onGiveUp === 'escalate') this.escalate(cell, error);
          else this.stopCell(cell, 'gaveUp');
          return;
        }
        this.emitFailed(cell, error, 'restart');
        const delay = backoffMs(strategy, restarts, this.supervisionRandom.float());
        const incarnation = cell.incarnation;
        extras.restartTimer = this.env.clock.setTimeout(() => {
          extras.restartTimer = undefined;
          this.restartCell(cell, incarnation);
        }, delay);
        return;
      }
      case 'stop':
        this.emitFailed(cell, error, 'stop');
        this.stopCell(cell, 'failed');
        return;
      case 'escalate':
        this.emitFailed(cell, error, 'escalate');
        this.escalate(cell, error);
        return;
    }
  }

  private escalate(cell: Cell, error: unknown): void {
    const parent = cell.parentCell as Cell;
    if (parent === this.guardian) {
      const failure: RootFailure = { at: this.env.clock.now(), address: cell.self, error };
      this.rootFailures.push(failure);
      this.stopCell(cell, 'failed');
      for (const listener of this.rootFailureListeners) listener(failure);
      return;
    }
    this.fail(parent, new EscalatedFailure(cell.self, error));
  }

  private restartCell(cell: Cell, incarnation: number): void {
    if (this.halted || cell.status !== SUSPENDED || cell.incarnation !== incarnation) return;
    for (const child of this.childrenOf(cell)) this.stopCell(child, 'parentStopped');
    this.runStoppedHook(cell, 'restarting');
    cell.incarnation++;
    cell.status = RUNNING;
    if (cell.x !== undefined) cell.x.lastStateKey = undefined;
    if (this.inspecting) {
      this.emit({ type: 'actor.restarted', at: this.env.clock.now(), address: cell.self, incarnation: cell.incarnation, restartsInWindow: cell.x?.restarts?.count ?? 0 });
    }
    this.guarded(cell, () => {
      const behaviour = cell.props.create(cell);
      cell.behaviour = behaviour;
      behaviour.started?.(cell);
    });
    if (cell.status === RUNNING && !cell.scheduled && cell.depth > 0) this.schedule(cell);
  }

  private emitFailed(cell: Cell, error: unknown, directive: FailureDirective): void {
    if (this.inspecting) this.emit({ type: 'actor.failed', at: this.env.clock.now(), address: cell.self, error: describeError(error), directive });
  }

  // ---- stopping -------------------------------------------------------------------------------

  /** @internal */
  stopCell(cell: Cell, reason: StopReason): void {
    if (cell.status === STOPPED) return;
    if (this.current !== undefined && this.isAncestorOrSelf(cell, this.current)) {
      const extras = cell.extras();
      if (extras.pendingStop === undefined) {
        extras.pendingStop = reason;
        this.stopsPending++;
      }
      return;
    }
    this.stopNow(cell, reason);
  }

  private stopNow(cell: Cell, reason: StopReason): void {
    if (cell.status === STOPPED) return;
    for (const child of this.childrenOf(cell)) this.stopNow(child, 'parentStopped');
    const wasRunning = cell.status === RUNNING;
    cell.status = STOPPED;
    if (cell.x?.pendingStop !== undefined) {
      cell.x.pendingStop = undefined;
      this.stopsPending--;
    }
    this.clearTimers(cell);
    if (cell.x?.idleTimer !== undefined) this.env.clock.clearTimeout(cell.x.idleTimer);
    if (wasRunning || reason !== 'failed') this.runStoppedHook(cell, reason);
    if (cell.mailbox !== undefined) for (const { message, sender } of cell.mailbox.drain()) this.deadLetter(sender, cell.self, message, 'actorStopped');
    if (cell.x !== undefined) cell.x.sys = undefined;
    this.registry.delete(cell.self);
    if (this.virtualKinds.size > 0) this.virtualKinds.delete(cell.self);
    const parent = cell.parentCell as Cell;
    this.unlinkChild(parent, cell);
    if (this.inspecting) this.emit({ type: 'actor.stopped', at: this.env.clock.now(), address: cell.self, reason });
    if (reason !== 'parentStopped' && parent !== this.guardian && parent.status !== STOPPED && parent.behaviour?.childStopped !== undefined) {
      this.enqueueSys(parent, { kind: 'childStopped', child: cell.self, reason });
    }
  }

  private runStoppedHook(cell: Cell, reason: StopReason): void {
    const behaviour = cell.behaviour;
    if (behaviour?.stopped === undefined) return;
    try {
      behaviour.stopped(cell, reason);
    } catch (error) {
      // The actor is going away regardless; the error is still worth seeing.
      this.emitFailed(cell, error, 'stop');
    }
  }

  private isAncestorOrSelf(ancestor: Cell, cell: Cell): boolean {
    for (let c: Cell | undefined = cell; c !== undefined; c = c.parentCell) if (c === ancestor) return true;
    return false;
  }

  /** @internal */
  childrenOf(cell: Cell): Cell[] {
    const out: Cell[] = [];
    for (let c = cell.firstChild; c !== undefined; c = c.nextSibling) out.push(c);
    return out;
  }

  private linkChild(parent: Cell, child: Cell): void {
    child.prevSibling = parent.lastChild;
    if (parent.lastChild === undefined) parent.firstChild = child;
    else parent.lastChild.nextSibling = child;
    parent.lastChild = child;
  }

  private unlinkChild(parent: Cell, child: Cell): void {
    if (child.prevSibling === undefined) parent.firstChild = child.nextSibling;
    else child.prevSibling.nextSibling = child.nextSibling;
    if (child.nextSibling === undefined) parent.lastChild = child.prevSibling;
    else child.nextSibling.prevSibling = child.prevSibling;
    child.prevSibling = undefined;
    child.nextSibling = undefined;
  }

  // ---- timers ---------------------------------------------------------------------------------

  /** @internal */
  setCellTimer(cell: Cell, key: string, delayMs: number, item: SysItem): void {
    if (cell.status === STOPPED) return;
    this.cancelCellTimer(cell, key);
    const incarnation = cell.incarnation;
    const timers = (cell.extras().timers ??= new Map());
    const id = this.env.clock.setTimeout(() => {
      if (timers.get(key) !== id) return;
      timers.delete(key);
      if (cell.status !== STOPPED && cell.incarnation === incarnation) this.enqueueSys(cell, item);
    }, delayMs);
    timers.set(key, id);
  }

  /** @internal */
  cancelCellTimer(cell: Cell, key: string): void {
    const timers = cell.x?.timers;
    const id = timers?.get(key);
    if (timers === undefined || id === undefined) return;
    this.env.clock.clearTimeout(id);
    timers.delete(key);
  }

  private clearTimers(cell: Cell): void {
    const extras = cell.x;
    if (extras === undefined) return;
    if (extras.restartTimer !== undefined && cell.status !== SUSPENDED) {
      this.env.clock.clearTimeout(extras.restartTimer);
      extras.restartTimer = undefined;
    }
    if (extras.timers === undefined) return;
    for (const id of extras.timers.values()) this.env.clock.clearTimeout(id);
    extras.timers.clear();
  }

  private enqueueSys(cell: Cell, item: SysItem): void {
    (cell.extras().sys ??= []).push(item);
    if (cell.status === RUNNING && !cell.scheduled) this.schedule(cell);
  }

  // ---- dead letters and inspection ------------------------------------------------------------

  private deadLetter(from: Address | undefined, to: Address, message: unknown, reason: DeadLetterReason): void {
    const stats = this.deadLetters;
    stats.total++;
    stats.byReason[reason] = (stats.byReason[reason] ?? 0) + 1;
    const at = this.env.clock.now();
    stats.recent.push({ at, from, to, message, reason });
    if (stats.recent.length > this.deadLettersKeptMax) stats.recent.shift();
    if (this.inspecting) this.emit({ type: 'message.deadLetter', at, from, to, message, reason });
  }

  private emit(event: InspectionEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  private describe(cell: Cell, deep: boolean): ActorInfo {
    return {
      address: cell.self,
      kind: cell.props.kind,
      status: cell.status === RUNNING ? 'running' : cell.status === SUSPENDED ? 'restarting' : 'stopped',
      mailboxDepth: cell.depth,
      restarts: cell.incarnation,
      state: cell.behaviour?.inspectState?.call(cell.behaviour),
      children: deep ? this.childrenOf(cell).map((c) => this.describe(c, true)) : [],
    };
  }

  /** @internal */
  cellAt(addr: Address): Cell | undefined {
    return this.registry.get(addr);
  }
}

export type { Cell };
