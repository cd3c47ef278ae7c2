// The control API's client: HTTP + JSON over the node's unix socket.
import http from 'node:http';
import { existsSync } from 'node:fs';
import { StateDir } from './state-dir.js';

/** A refusal from the node (its message is shown as is), or a node that does not answer. */
export class ControlError extends Error {
  constructor(message: string, readonly status: number, readonly code: string) {
    super(message);
    this.name = 'ControlError';
  }
}

export async function controlRequest<T = unknown>(stateDir: string, method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<T> {
  const socketPath = new StateDir(stateDir).controlSocket;
  if (!existsSync(socketPath)) {
    throw new ControlError(`no node is running with --state-dir ${stateDir} (no ${socketPath}); start one with swarm init, swarm join or swarm start`, 0, 'NOT_RUNNING');
  }
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise<T>((resolve, reject) => {
    const req = http.request({ socketPath, method, path, timeout: timeoutMs, headers: payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        if ((res.headers['content-type'] ?? '').includes('json') && text !== '') parsed = JSON.parse(text);
        if ((res.statusCode ?? 500) >= 400) {
          const p = parsed as { message?: string; code?: string };
          reject(new ControlError(p?.message ?? text, res.statusCode ?? 500, p?.code ?? 'ERROR'));
        } else resolve(parsed as T);
      });
    });
    req.on('timeout', () => req.destroy(new ControlError(`the node did not answer ${method} ${path} within ${timeoutMs} ms`, 0, 'TIMEOUT')));
    req.on('error', (error) => reject(error instanceof ControlError ? error : new ControlError(`cannot reach the node at ${socketPath}: ${error.message}`, 0, 'UNREACHABLE')));
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}
