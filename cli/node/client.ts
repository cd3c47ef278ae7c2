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

/**
 * A streaming GET (the logs endpoints): calls `onLine` with each JSON line of the answer as it
 * comes; resolves when the node ends the answer. A refusal rejects as in controlRequest. With
 * `idleTimeoutMs` 0 (following), it waits as long as the node keeps the answer open.
 */
/** A refusal's body (the node's `{ message, code }`, or plain text) as the error it names. */
export function refusal(body: string, status: number): ControlError {
  let parsed: { message?: string; code?: string } = {};
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    parsed = { message: body };
  }
  return new ControlError(parsed.message ?? body, status, parsed.code ?? 'ERROR');
}

export async function controlStream(stateDir: string, path: string, onLine: (value: unknown) => void, idleTimeoutMs = 0, signal?: AbortSignal): Promise<void> {
  const socketPath = new StateDir(stateDir).controlSocket;
  if (!existsSync(socketPath)) {
    throw new ControlError(`no node is running with --state-dir ${stateDir} (no ${socketPath}); start one with swarm init, swarm join or swarm start`, 0, 'NOT_RUNNING');
  }
  return new Promise<void>((resolve, reject) => {
    // Its own connection (agent: false): the shared agent's idle timeout would cut a quiet stream.
    const req = http.request({ socketPath, method: 'GET', path, agent: false, ...(idleTimeoutMs > 0 ? { timeout: idleTimeoutMs } : {}) }, (res) => {
      const status = res.statusCode ?? 500;
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        buffered += text;
        if (status >= 400) return;
        let newline = buffered.indexOf('\n');
        while (newline >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          if (line.trim() !== '') onLine(JSON.parse(line));
          newline = buffered.indexOf('\n');
        }
      });
      res.on('end', () => {
        if (status >= 400) {
          reject(refusal(buffered, status));
          return;
        }
        if (buffered.trim() !== '') onLine(JSON.parse(buffered));
        resolve();
      });
      res.on('error', (error) => {
        if (signal?.aborted === true) resolve();
        else reject(new ControlError(`the node's answer to GET ${path} broke off: ${error.message}`, 0, 'UNREACHABLE'));
      });
    });
    req.on('timeout', () => req.destroy(new ControlError(`the node sent nothing for GET ${path} within ${idleTimeoutMs} ms`, 0, 'TIMEOUT')));
    req.on('error', (error) => {
      if (signal?.aborted === true) resolve();
      else reject(error instanceof ControlError ? error : new ControlError(`cannot reach the node at ${socketPath}: ${error.message}`, 0, 'UNREACHABLE'));
    });
    // Aborting ends the stream quietly: the caller asked for it.
    const abort = (): void => {
      req.destroy();
      resolve();
    };
    if (signal?.aborted === true) abort();
    else signal?.addEventListener('abort', abort, { once: true });
    req.end();
  });
}
