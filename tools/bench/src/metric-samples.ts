/** One sample of a process's /metrics (Prometheus text): `name{labels} value`, its labels as written between the braces. */
export interface MetricSample {
  name: string;
  labels: string;
  value: number;
}

/** The samples a process's /metrics on this host serves now. */
export async function metricSamples(port: number): Promise<MetricSample[]> {
  return parseMetricSamples(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
}

/** Every sample of a Prometheus text exposition (prom-client's: no timestamps), comments left out. */
export function parseMetricSamples(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const valueAt = line.lastIndexOf(' ');
    const brace = line.indexOf('{');
    const labelled = brace >= 0 && brace < valueAt;
    samples.push({
      name: line.slice(0, labelled ? brace : valueAt),
      labels: labelled ? line.slice(brace + 1, line.lastIndexOf('}', valueAt)) : '',
      value: Number(line.slice(valueAt + 1)),
    });
  }
  return samples;
}
