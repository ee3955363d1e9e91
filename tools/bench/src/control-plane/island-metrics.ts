import { metricSamples } from '../metric-samples';

/**
 * The sum, over the given /metrics ports, of a Prometheus counter across all its label sets, or across those whose
 * labels include `label` (e.g. `kind="major"`).
 */
export async function counterTotal(ports: number[], name: string, label?: string): Promise<number> {
  let total = 0;
  for (const port of ports) {
    for (const sample of await metricSamples(port)) if (sample.name === name && (label === undefined || sample.labels.includes(label))) total += sample.value;
  }
  return total;
}
