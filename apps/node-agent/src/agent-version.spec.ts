import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_VERSION } from '@island/contracts';

describe('the version the agent reports in its heartbeat', () => {
  it("is the node agent package's own version", () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
    expect(AGENT_VERSION).toBe(pkg.version);
  });
});
