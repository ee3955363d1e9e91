/**
 * The sum, over the given /metrics ports, of a Prometheus counter across all its label sets, or across those whose
 * labels include `label` (e.g. `kind="major"`).
 */
export async function counterTotal(ports: number[], name: string, label?: string): Promise<number> {
  let total = 0;
  for (const port of ports) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const line of text.split('\n')) if (isSample(line, name, label)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

function isSample(line: string, name: string, label: string | undefined): boolean {
  if (label === undefined) return line.startsWith(`${name}{`) || line.startsWith(`${name} `);
  return line.startsWith(`${name}{`) && line.slice(0, line.indexOf('}')).includes(label);
}
