// A node's state directory: who it is (node.json), its TLS identity (certs/), its journal (raft/,
// managers only; the same layout `swarm journal` reads) and its control socket.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, rmSync, chmodSync } from 'node:fs';
import path from 'node:path';
import type { NodeRole } from '../../actors/index.js';

/** The cluster port a node listens on unless told otherwise (Docker's). */
export const DEFAULT_CLUSTER_PORT = 2377;
export const NODE_FILE = 'node.json';
export const CONTROL_SOCKET = 'control.sock';
export const LOG_FILE = 'node.log';
export const PID_FILE = 'node.pid';

export interface ManagerAddress {
  readonly id: string;
  readonly addr: string;
}

/** node.json: what a node needs to restart. Certificates and keys are in certs/, the journal in raft/. */
export interface NodeFile {
  readonly v: 1;
  readonly nodeId: string;
  readonly clusterId: string;
  readonly role: NodeRole;
  /** host:port the cluster transport listens on. */
  readonly listenAddr: string;
  /** host:port other nodes reach this one at. */
  readonly advertiseAddr: string;
  /** Managers last known, for renewals and reconnects (workers have no store to look them up in). */
  readonly managers: readonly ManagerAddress[];
  /** host:port of the optional TCP control API (client certificates required), or ''. */
  readonly controlAddr: string;
  /** Raft settings this node runs with (tests shorten them). */
  readonly tickMs: number;
  readonly snapshotIntervalEntries: number;
  readonly snapshotTailEntries: number;
}

export interface TlsFiles {
  readonly keyPem: string;
  /** The node certificate, followed by a cross-signed intermediate during a root rotation. */
  readonly certPem: string;
  /** The roots this node trusts, concatenated. */
  readonly rootsPem: string;
}

export class StateDir {
  constructor(readonly dir: string) {}

  get controlSocket(): string {
    return path.join(this.dir, CONTROL_SOCKET);
  }
  get logFile(): string {
    return path.join(this.dir, LOG_FILE);
  }
  get raftDir(): string {
    return path.join(this.dir, 'raft');
  }
  private get certsDir(): string {
    return path.join(this.dir, 'certs');
  }

  exists(): boolean {
    return existsSync(path.join(this.dir, NODE_FILE));
  }

  readNode(): NodeFile {
    const file = path.join(this.dir, NODE_FILE);
    const node = JSON.parse(readFileSync(file, 'utf8')) as NodeFile;
    if (node.v !== 1) throw new Error(`${file}: unknown version ${String(node.v)}`);
    return node;
  }

  writeNode(node: NodeFile): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    atomicWrite(path.join(this.dir, NODE_FILE), `${JSON.stringify(node, null, 2)}\n`, 0o600);
  }

  readTls(): TlsFiles {
    return {
      keyPem: readFileSync(path.join(this.certsDir, 'node.key'), 'utf8'),
      certPem: readFileSync(path.join(this.certsDir, 'node.crt'), 'utf8'),
      rootsPem: readFileSync(path.join(this.certsDir, 'ca.crt'), 'utf8'),
    };
  }

  writeTls(files: TlsFiles): void {
    mkdirSync(this.certsDir, { recursive: true, mode: 0o700 });
    // The key first: a crash between the writes leaves a new key with an old certificate, which a
    // restart detects (the pair does not match) rather than a certificate whose key is lost.
    atomicWrite(path.join(this.certsDir, 'node.key'), files.keyPem, 0o600);
    atomicWrite(path.join(this.certsDir, 'node.crt'), files.certPem, 0o644);
    atomicWrite(path.join(this.certsDir, 'ca.crt'), files.rootsPem, 0o644);
  }

  /** Forgets the swarm (after `swarm leave`): everything but the log file goes. */
  clear(): void {
    for (const name of [NODE_FILE, 'certs', 'raft', CONTROL_SOCKET, PID_FILE]) rmSync(path.join(this.dir, name), { recursive: true, force: true });
  }
}

function atomicWrite(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

/** Splits concatenated PEM certificates. */
export function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g)?.map((c) => (c.endsWith('\n') ? c : `${c}\n`)) ?? [];
}
