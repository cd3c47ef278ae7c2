// A virtual-time test bench for the runtime: systems on a SimLoop, connected by a MemoryTransport.
import { ActorSystem, MemoryStorage, MemoryTransport, SeededRandom, type Env, type InspectionEvent, type SystemOptions } from '../../runtime/index.js';
import { SimClock, SimLoop } from '../../simulations/index.js';

export class Bench {
  readonly loop = new SimLoop();
  readonly clock = new SimClock(this.loop);
  readonly transport = new MemoryTransport({ defer: (fn) => this.clock.defer(fn) });
  readonly events: InspectionEvent[] = [];

  env(seed = 'test'): Env {
    return { clock: this.clock, random: new SeededRandom(seed), transport: this.transport, storage: new MemoryStorage() };
  }

  system(nodeId = 'n1', options: Partial<SystemOptions> = {}): ActorSystem {
    const system = new ActorSystem({ nodeId, env: this.env(nodeId), ...options });
    system.inspect((e) => this.events.push(e));
    return system;
  }

  /** Runs until nothing is left to do (or `maxMs` of virtual time has passed). */
  async settle(maxMs = 60_000): Promise<void> {
    await this.loop.run({ untilMs: this.loop.now() + maxMs });
  }

  async advance(ms: number): Promise<void> {
    await this.loop.run({ untilMs: this.loop.now() + ms });
  }

  ofType<T extends InspectionEvent['type']>(type: T): Array<Extract<InspectionEvent, { type: T }>> {
    return this.events.filter((e): e is Extract<InspectionEvent, { type: T }> => e.type === type);
  }
}
