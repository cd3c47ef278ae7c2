// The xstate machines behind the actors, by the kind their actors report (fromMachine's `kind`),
// and their charts, built once per kind.
import type { AnyStateMachine } from 'xstate';
import { nodeMachine, runnerMachine, serviceMachine, taskMachine } from '../../actors/index.js';
import { peerMachine } from '../../raft/index.js';
import { machineChart, type Chart } from './chart.js';

export const MACHINES: Readonly<Record<string, AnyStateMachine>> = Object.freeze({
  'raft-peer': peerMachine,
  task: taskMachine,
  service: serviceMachine,
  node: nodeMachine,
  taskRunner: runnerMachine,
});

const charts = new Map<string, Chart>();

/** The chart of an actor kind's machine; undefined for a kind that is not a machine. */
export function chartFor(kind: string): Chart | undefined {
  if (!Object.hasOwn(MACHINES, kind)) return undefined;
  let chart = charts.get(kind);
  if (chart === undefined) {
    chart = machineChart(MACHINES[kind]!);
    charts.set(kind, chart);
  }
  return chart;
}
