// The HTTP service of examples/stack.yml: answers GET / with a line naming its port and pid, and
// GET /health with "ok". Its tasks run as host processes (x-runtime: process) that share the
// host's ports. The process executor tells a task its slot (SWARM_TASK_SLOT), so replica N
// listens on PORT + N - 1 (PORT default 18080) and its health check asks that port alone. Run
// without a slot (by hand), it takes the first free port from PORT on, trying PORT_SPAN ports
// (default 16), and its check passes if any of them answers.
//
//   node web.mjs            serve
//   node web.mjs --check    the health check: exit 0 if this replica (or, without a slot, any) answers /health
import http from 'node:http';
import process from 'node:process';

const host = '127.0.0.1';
const base = Number(process.env.PORT ?? '18080');
const span = Number(process.env.PORT_SPAN ?? '16');
const checkTimeoutMs = 2_000;

function fail(message) {
  process.stderr.write(`web: ${message}\n`);
  process.exit(1);
}

const slot = process.env.SWARM_TASK_SLOT === undefined ? undefined : Number(process.env.SWARM_TASK_SLOT);

if (!Number.isInteger(base) || base < 1 || base > 65535) fail(`PORT must be a port number, got '${process.env.PORT}'`);
if (slot !== undefined && (!Number.isInteger(slot) || slot < 1)) fail(`SWARM_TASK_SLOT must be a slot number (1, 2, ...), got '${process.env.SWARM_TASK_SLOT}'`);
/** This replica's port when it knows its slot. */
const own = slot === undefined ? undefined : base + slot - 1;
if (!Number.isInteger(span) || span < 1) fail(`PORT_SPAN must be a positive whole number, got '${process.env.PORT_SPAN}'`);

function healthy(port) {
  return new Promise((resolve) => {
    const request = http.get({ host, port, path: '/health', timeout: checkTimeoutMs }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(false));
  });
}

async function check() {
  if (own !== undefined) {
    if (await healthy(own)) process.exit(0);
    fail(`replica ${slot} does not answer /health on ${host}:${own}`);
  }
  for (let port = base; port < base + span; port++) {
    if (await healthy(port)) process.exit(0);
  }
  fail(`no replica answers /health on ${host}:${base}-${base + span - 1}`);
}

function listen(port) {
  if (port >= base + span) fail(`ports ${base} to ${base + span - 1} are all taken`);
  const server = http.createServer((request, response) => {
    if (request.url === '/health') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    response.writeHead(200, { 'content-type': 'text/plain' }).end(`hello from web on port ${port} (pid ${process.pid})\n`);
  });
  server.once('error', (error) => {
    if (error.code === 'EADDRINUSE' && own === undefined) listen(port + 1);
    else fail(error.message);
  });
  server.listen(port, host, () => {
    process.stdout.write(`web: listening on http://${host}:${port}\n`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv.includes('--check')) await check();
else listen(own ?? base);
