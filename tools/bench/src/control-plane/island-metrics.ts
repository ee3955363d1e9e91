/** The sum, over the given /metrics ports, of a Prometheus counter across all its label sets. */
export async function counterTotal(ports: number[], name: string): Promise<number> {
  let total = 0;
  for (const port of ports) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    for (const line of text.split('\n')) {
      if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}
