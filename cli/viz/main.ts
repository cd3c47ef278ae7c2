// `swarm viz`'s action: opens the source (a trace file, or live nodes), serves the page, prints its
// address, and runs until Ctrl-C.
import { DEFAULT_STATE_DIR, type Out } from '../cluster-commands.js';
import { ControlError, controlRequest } from '../node/client.js';
import type { VizFlags } from '../viz-commands.js';
import type { TraceRecord } from './history.js';
import { openLiveSource } from './live-source.js';
import { startVizServer } from './server.js';
import { LiveSource, TraceFileSource, type Source } from './sources.js';

export async function viz(opts: VizFlags, out: Out): Promise<void> {
  if (opts.trace !== undefined && opts.stateDir !== undefined) {
    throw new ControlError('swarm viz: give either --trace FILE (a recorded run) or --state-dir DIR (a live node), not both', 0, 'USAGE');
  }
  let source: Source;
  if (opts.trace !== undefined) {
    try {
      source = new TraceFileSource(opts.trace);
    } catch (error) {
      throw new ControlError(`swarm viz: cannot open the trace ${opts.trace}: ${(error as Error).message}`, 0, 'USAGE');
    }
  } else {
    const dirs = opts.stateDir ?? [DEFAULT_STATE_DIR];
    // A node that is not there is the caller's error now, not a message in a page.
    for (const stateDir of dirs) await controlRequest(stateDir, 'GET', '/_ping', undefined, 5_000);
    const live = new LiveSource(`live: ${dirs.join(', ')}`);
    for (const stateDir of dirs) {
      const stream = openLiveSource({ stateDir }, (records) => live.push(records as TraceRecord[]), (error) => live.ended(error, stateDir));
      live.own(() => stream.close());
    }
    source = live;
  }
  const server = await startVizServer(source, opts.port === undefined ? {} : { port: opts.port });
  out(`swarm viz: ${source.status().description}`);
  out(`open ${server.url} (Ctrl-C stops)`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  source.close();
}
