// The cluster benchmark's responder: one process that answers the load generator's writes and
// does nothing else (no Raft, no disk), so that the load generator's own ceiling on this machine
// is measured in the same run as the clusters. Two listeners on 127.0.0.1, each shaped like the
// client path it stands in for:
//   - HTTPS with client certificates (TLS 1.3, as our control API over TCP): POST /configs/create,
//     a JSON body with string Name and Data, answered 201 with {"ID": ...};
//   - plain HTTP (as etcd's v3 JSON gateway): POST /v3/kv/put, a JSON body with string key and
//     value, answered 200 with {"header": {"revision": ...}}.
// Anything else is answered 400 or 404. Started by bench/cluster-ceiling.ts:
//   node --import tsx bench/cluster-responder.ts STATE_DIR
// with STATE_DIR holding a node's certificates as StateDir lays them out; it prints one line
// `listening <https port> <http port>` once both listen (ports chosen by the system).
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';

/** A body larger than this is refused (the benchmark's are about 400 bytes). */
const BODY_BYTES_MAX = 64 * 1024;

type Check = (body: unknown) => boolean;

function answer(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Reads the JSON body, checks its shape, and answers with `reply(n)` (n counts the writes). */
function handler(route: string, check: Check, status: number, reply: (n: number) => string): http.RequestListener {
  let n = 0;
  return (req, res) => {
    if (req.method !== 'POST' || req.url !== route) {
      req.resume();
      answer(res, 404, `{"message":"only POST ${route} is answered here"}`);
      return;
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      if (bytes <= BODY_BYTES_MAX) chunks.push(c);
    });
    req.on('end', () => {
      let body: unknown;
      try {
        body = bytes > BODY_BYTES_MAX ? undefined : JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = undefined;
      }
      if (!check(body)) {
        answer(res, 400, '{"message":"the body is not the JSON this route takes"}');
        return;
      }
      answer(res, status, reply(++n));
    });
  };
}

const strings = (...keys: string[]): Check => (body) =>
  typeof body === 'object' && body !== null && keys.every((k) => typeof (body as Record<string, unknown>)[k] === 'string');

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
}

const stateDir = process.argv[2];
if (stateDir === undefined) {
  console.error('usage: cluster-responder.ts STATE_DIR (a node state directory; its certificates are read from certs/ in it)');
  process.exit(2);
}
// StateDir.readTls's layout, read here by hand: importing the CLI (the only way in to StateDir)
// would add over a second to this process's start.
const read = (file: string): string => fs.readFileSync(path.join(stateDir, 'certs', file), 'utf8');
const tls = { keyPem: read('node.key'), certPem: read('node.crt'), rootsPem: read('ca.crt') };
const secure = https.createServer(
  { key: tls.keyPem, cert: tls.certPem, ca: tls.rootsPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' },
  handler('/configs/create', strings('Name', 'Data'), 201, (n) => `{"ID":"responder-${n}"}`),
);
const plain = http.createServer(handler('/v3/kv/put', strings('key', 'value'), 200, (n) => `{"header":{"revision":"${n}"}}`));
for (const server of [secure, plain]) server.keepAliveTimeout = 60_000;
const ports = await Promise.all([listen(secure), listen(plain)]);
console.log(`listening ${ports[0]} ${ports[1]}`);
process.on('SIGTERM', () => process.exit(0));
