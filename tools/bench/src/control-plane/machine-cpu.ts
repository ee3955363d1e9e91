import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** CPU seconds all cores spent busy so far (/proc/stat: everything but idle and iowait, ticks of 1/100 s). */
export function machineBusySeconds(): number {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const values = ticks.map(Number);
  const total = values.reduce((a, b) => a + b, 0);
  return (total - values[3] - values[4]) / 100;
}

/** The RabbitMQ node's process on this machine (rabbitmqctl runs a beam.smp of its own for a moment: not that one). */
export function brokerPid(): number {
  const pids = execFileSync('pgrep', ['-f', 'beam.smp.* -s rabbit boot'], { encoding: 'utf8' }).trim().split('\n').map(Number);
  if (pids.length !== 1) throw new Error(`expected one beam.smp process, found ${pids.length}`);
  return pids[0];
}
