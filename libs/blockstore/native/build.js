// Builds island's addon (AES-256-GCM: aead.c; MD5 in lanes: md5_lanes.c; memory alignment: memory.c) with node-gyp when its binary is missing or older than its sources; run by the
// blockstore library's build target. Needs a C compiler, make and python3 (scripts/ensure-deps.sh installs them).
const { spawnSync } = require('node:child_process');
const { existsSync, statSync } = require('node:fs');
const path = require('node:path');

const here = __dirname;
const binary = path.join(here, 'build', 'Release', 'island_native.node');
const sources = ['addon.c', 'addon.h', 'aead.c', 'md5_lanes.c', 'md5_lanes.h', 'md5_napi.c', 'memory.c', 'binding.gyp', 'build.js'].map((name) =>
  path.join(here, name),
);

const newestSource = Math.max(...sources.map((file) => statSync(file).mtimeMs));
if (existsSync(binary) && statSync(binary).mtimeMs >= newestSource) process.exit(0);

// the headers of the Node.js running this, where its installation ships them: node-gyp would download them otherwise
const prefix = path.resolve(path.dirname(process.execPath), '..');
const nodedir = existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
const result = spawnSync(process.execPath, [nodeGyp, 'rebuild', '--loglevel=warn', ...nodedir], { cwd: here, stdio: 'inherit' });
if (result.status !== 0) {
  console.error(`[blockstore] building ${path.relative(process.cwd(), binary)} failed (node-gyp exit ${result.status ?? result.signal})`);
  process.exit(1);
}
