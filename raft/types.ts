// The Raft core's messages, configuration and output. Messages are plain, CBOR-able objects of a
// discriminated union, so that the shell can send them over any transport unchanged.
import type { ConfState, Entry, HardState, PeerId, Snapshot, SnapshotMeta } from '../journal/index.js';

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

interface Base {
  readonly from: PeerId;
  readonly to: PeerId;
  /** The sender's term; 0 for local messages (proposals, ticks routed as messages). */
  readonly term: number;
}

/** Leader -> follower: entries after (index, logTerm), and the leader's commit index. */
export interface AppendMessage extends Base {
  readonly type: 'app';
  readonly index: number;
  readonly logTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  /**
   * Set on an append without entries that only carries a new commit index to a follower the
   * leader already knows holds its log up to `index`: accepted, it is not answered (the answer
   * would tell the leader nothing it does not know). Refusals are still answered.
   */
  readonly quiet?: true;
}

/** Follower -> leader. On success `index` is the follower's last index now matching the leader. */
export interface AppendResponse extends Base {
  readonly type: 'appResp';
  readonly index: number;
  readonly reject: boolean;
  /** On reject: the follower's guess of the highest index that may match (its last index). */
  readonly rejectHint: number;
}

export interface HeartbeatMessage extends Base {
  readonly type: 'heartbeat';
  readonly commit: number;
  /** A ReadIndex round this heartbeat confirms leadership for, or '' */
  readonly context: string;
}

export interface HeartbeatResponse extends Base {
  readonly type: 'heartbeatResp';
  readonly context: string;
}

export interface VoteMessage extends Base {
  readonly type: 'vote' | 'preVote';
  readonly index: number;
  readonly logTerm: number;
  /** A vote caused by leadership transfer: granted even by followers that hear a leader. */
  readonly force: boolean;
}

export interface VoteResponse extends Base {
  readonly type: 'voteResp' | 'preVoteResp';
  readonly reject: boolean;
}

/** One chunk of a snapshot. Chunks are sent one at a time; each is acknowledged. */
export interface SnapshotMessage extends Base {
  readonly type: 'snap';
  readonly meta: SnapshotMeta;
  readonly offset: number;
  readonly totalBytes: number;
  readonly chunk: Uint8Array;
}

/** Acknowledges snapshot bytes up to `offset` (or rejects, to restart from 0). */
export interface SnapshotResponse extends Base {
  readonly type: 'snapResp';
  readonly snapshotIndex: number;
  readonly offset: number;
  readonly reject: boolean;
  /** After the whole snapshot was installed: the follower's last index. */
  readonly installedIndex: number;
}

export interface TimeoutNowMessage extends Base {
  readonly type: 'timeoutNow';
}

/** A follower forwards a proposal to the leader. */
export interface ProposeMessage extends Base {
  readonly type: 'prop';
  readonly entries: readonly { readonly type: Entry['type']; readonly data: Uint8Array }[];
}

/** A linearizable read request (from a follower to the leader, or local). */
export interface ReadIndexMessage extends Base {
  readonly type: 'readIndex';
  readonly context: string;
}

export interface ReadIndexResponse extends Base {
  readonly type: 'readIndexResp';
  readonly context: string;
  readonly index: number;
}

export interface TransferLeaderMessage extends Base {
  readonly type: 'transferLeader';
  readonly transferee: PeerId;
}

export type Message =
  | AppendMessage
  | AppendResponse
  | HeartbeatMessage
  | HeartbeatResponse
  | VoteMessage
  | VoteResponse
  | SnapshotMessage
  | SnapshotResponse
  | TimeoutNowMessage
  | ProposeMessage
  | ReadIndexMessage
  | ReadIndexResponse
  | TransferLeaderMessage;

export type MessageType = Message['type'];

export const MESSAGE_TYPES: readonly MessageType[] = [
  'app', 'appResp', 'heartbeat', 'heartbeatResp', 'vote', 'preVote', 'voteResp', 'preVoteResp',
  'snap', 'snapResp', 'timeoutNow', 'prop', 'readIndex', 'readIndexResp', 'transferLeader',
];

/** A membership change, carried by a 'confChange' entry. One at a time. */
export type ConfChange =
  | { readonly type: 'addVoter'; readonly peer: PeerId }
  | { readonly type: 'addLearner'; readonly peer: PeerId }
  | { readonly type: 'promoteLearner'; readonly peer: PeerId }
  | { readonly type: 'removePeer'; readonly peer: PeerId }
  /** Written by force-new-cluster: the configuration becomes exactly these voters. */
  | { readonly type: 'forceVoters'; readonly voters: readonly PeerId[] };

/** A linearizable read may be served once the state machine has applied `index`. */
export interface ReadState {
  readonly index: number;
  readonly context: string;
}

export interface SoftState {
  readonly leader: PeerId;
  readonly role: Role;
}

/**
 * One batch of work for the shell, in this order: persist `hardState`, `entries` and `snapshot`
 * in one atomic synced write; send `messages` (allowed at once, even before the write) and, only
 * once the write is durable, `messagesAfterPersist`; apply `committedEntries`; then `advance()`.
 */
export interface Ready {
  readonly softState: SoftState | undefined;
  readonly hardState: HardState | undefined;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | undefined;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly messagesAfterPersist: readonly Message[];
  readonly readStates: readonly ReadState[];
}

export interface RaftConfig {
  readonly id: PeerId;
  /** Ticks without hearing a leader before a follower campaigns: randomized in [n, 2n). */
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** Appends in flight to one follower in the replicate state. */
  readonly inflightAppendsMax: number;
  /** Entry bytes per append message (at least one entry is always sent). */
  readonly appendBytesMax: number;
  /** Bytes of proposed but uncommitted entries the leader accepts before refusing proposals. */
  readonly uncommittedBytesMax: number;
  /** Snapshot bytes per chunk. */
  readonly snapshotChunkBytes: number;
  /** Discard committed-but-not-yet-known-leader's proposals instead of forwarding them. */
  readonly disableProposalForwarding: boolean;
  /** On restart: keep only this peer as a voter (recovery from a lost quorum). */
  readonly forceNewCluster: boolean;
  /**
   * Asynchronous storage writes (etcd raft's AsyncStorageWrites): the shell may take the next
   * Ready while earlier ones are still being persisted, in order, and calls `advance()` once per
   * Ready as each write becomes durable, oldest first. A Ready then hands out only committed
   * entries that are already durable here, so they may be applied as soon as they are handed out.
   */
  readonly asyncStorageWrites: boolean;
}

export const DEFAULT_RAFT_CONFIG: Omit<RaftConfig, 'id'> = {
  electionTicks: 10,
  heartbeatTicks: 1,
  preVote: true,
  checkQuorum: true,
  inflightAppendsMax: 256,
  appendBytesMax: 1024 * 1024,
  uncommittedBytesMax: 64 * 1024 * 1024,
  snapshotChunkBytes: 512 * 1024,
  disableProposalForwarding: false,
  forceNewCluster: false,
  asyncStorageWrites: false,
};

export type { ConfState, Entry, HardState, PeerId, Snapshot, SnapshotMeta };
