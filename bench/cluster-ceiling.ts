// The load generator's ceiling for bench/cluster.ts: the same generator, client code and requests
// as the two clusters' loads, sent to bench/cluster-responder.ts, a process that answers each
// write at once (no Raft, no disk). What it reaches is the most writes/s this generator can drive
// on this machine along each client path: ours' (HTTPS, TLS 1.3, client certificate from a cluster
// CA made with actors/ca, POST /configs/create) and etcd's (plain HTTP, POST /v3/kv/put). A cluster
// cannot be measured above its path's ceiling; the generator CPU beside it shows how much of the
// machine the generator alone takes at that rate.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { etcdTarget, procCpuMs, terminate, track, type StartedCluster, type WriteTarget } from './cluster-lib.js';
import { ourClientTarget } from './cluster-ours.js';
import { createRootCa, exportPrivateKeyPem, generateNodeKeyPair, issueNodeCertificate } from '../actors/index.js';
import { RealClock, secureRandomBytes } from '../runtime/env/real/index.js';
import { StateDir } from '../cli/index.js';

const RESPONDER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cluster-responder.ts');
/** The responder must say it listens within this long of being spawned. */
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;
/** Certificates live as long as a run could. */
const CERT_VALIDITY_MS = 24 * 60 * 60 * 1000;

/** The responder did not start. */
export class ResponderError extends Error {
  readonly code = 'RESPONDER_FAILED';
}

interface Responder {
  readonly dir: string;
  readonly httpsPort: number;
  readonly httpPort: number;
  /** The responder's CPU milliseconds so far, as a one-member list. */
  cpuMs(): number[];
  stop(): Promise<void>;
}

/** Gives the state directory `dir` a manager certificate of a fresh cluster CA, laid out as a node's. */
async function writeCertificates(dir: string): Promise<void> {
  const now = new RealClock().now();
  const ca = await createRootCa({ clusterId: 'bench-ceiling', now, validityMs: CERT_VALIDITY_MS, randomBytes: secureRandomBytes });
  const keys = await generateNodeKeyPair();
  const cert = await issueNodeCertificate(ca, { nodeId: 'responder', role: 'manager', publicKey: keys.publicKey, now, validityMs: CERT_VALIDITY_MS, randomBytes: secureRandomBytes });
  new StateDir(dir).writeTls({ keyPem: await exportPrivateKeyPem(keys.privateKey), certPem: cert, rootsPem: ca.certPem });
}

async function startResponder(baseDir: string): Promise<Responder> {
  const dir = fs.mkdtempSync(path.join(baseDir, 'swarm-bench-ceiling-'));
  let child: ChildProcess | undefined;
  try {
    await writeCertificates(dir);
    const started = spawn(process.execPath, ['--import', 'tsx', RESPONDER, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    track(started);
    const ports = await new Promise<[number, number]>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new ResponderError(`the responder did not listen within ${START_TIMEOUT_MS} ms; output:\n${output}`)), START_TIMEOUT_MS);
      const onData = (chunk: Buffer): void => {
        output += chunk.toString('utf8');
        const m = /^listening (\d+) (\d+)$/m.exec(output);
        if (m !== null) {
          clearTimeout(timer);
          started.off('exit', onExit);
          // From here on its output is not kept (it prints nothing more unless it fails).
          started.stdout?.off('data', onData).resume();
          started.stderr?.off('data', onData).resume();
          resolve([Number(m[1]), Number(m[2])]);
        }
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        clearTimeout(timer);
        reject(new ResponderError(`the responder exited (${signal ?? `code ${code}`}) before it listened; output:\n${output}`));
      };
      started.stdout?.on('data', onData);
      started.stderr?.on('data', onData);
      started.once('exit', onExit);
    });
    return {
      dir,
      httpsPort: ports[0],
      httpPort: ports[1],
      cpuMs: () => [procCpuMs(started.pid)],
      async stop() {
        await terminate(started, STOP_TIMEOUT_MS);
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    child?.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * The responder behind ours' client path (`which: 'ours'`) or etcd's (`'etcd'`): one process, so
 * every write goes to it whatever the endpoints setting. Each call starts a responder of its own.
 */
export async function startCeiling(which: 'ours' | 'etcd', options: { baseDir: string; clientsMax: number }): Promise<StartedCluster> {
  const responder = await startResponder(options.baseDir);
  const socketsMax = Math.max(1, options.clientsMax);
  let target: WriteTarget;
  try {
    target = which === 'ours'
      ? ourClientTarget({ name: 'responder', stateDir: responder.dir, controlPort: responder.httpsPort, cpuMs: () => responder.cpuMs() }, socketsMax)
      : etcdTarget({ members: [{ clientUrl: `http://127.0.0.1:${responder.httpPort}` }], cpuMs: () => responder.cpuMs() }, { endpoints: 'first', socketsMax });
  } catch (e) {
    await responder.stop();
    throw e;
  }
  return {
    target,
    description: which === 'ours'
      ? `one process answering POST /configs/create at once over HTTPS (TLS 1.3, client certificates) on 127.0.0.1:${responder.httpsPort}, driven by ours' client code`
      : `one process answering POST /v3/kv/put at once over plain HTTP on 127.0.0.1:${responder.httpPort}, driven by etcd's client code`,
    async stop() {
      await target.close();
      await responder.stop();
    },
  };
}
