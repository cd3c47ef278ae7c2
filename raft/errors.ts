import { RuntimeError } from '../runtime/index.js';
import type { PeerId } from '../journal/index.js';

/** A proposal reached a peer that is not the leader (and could not forward it). */
export class NotLeaderError extends RuntimeError {
  readonly code = 'NOT_LEADER';
  constructor(readonly peer: PeerId, readonly leader: PeerId) {
    super(leader === '' ? `${peer} is not the leader and knows of none` : `${peer} is not the leader; the leader is ${leader}`);
  }
}

/** The leader refused a proposal: a transfer is under way, or too many bytes are uncommitted. */
export class ProposalDroppedError extends RuntimeError {
  readonly code = 'PROPOSAL_DROPPED';
  constructor(reason: string) {
    super(`proposal dropped: ${reason}`);
  }
}

/** A membership change was refused (one is pending, it would remove the last voter, ...). */
export class ConfChangeRefusedError extends RuntimeError {
  readonly code = 'CONF_CHANGE_REFUSED';
  constructor(reason: string) {
    super(`membership change refused: ${reason}`);
  }
}

/** A message that is malformed or of an unknown type: refused and counted, never a crash. */
export class BadMessageError extends RuntimeError {
  readonly code = 'BAD_MESSAGE';
  constructor(reason: string) {
    super(`bad raft message: ${reason}`);
  }
}
