// `npm pack`, then `npm install` of the tarball into a new project, built
// from source there, and a provisioning through it against a local cloud
// (issue 9 build item 1). The tarball's cargo build uses the repository's
// target/ (CARGO_TARGET_DIR), so the crates and the core built for the
// other tests are reused (scripts/vendor.js says how).
'use strict';

const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');

const { tempDir, DEVICE_ID, TOKEN } = require('./helpers');

const pkg = path.resolve(__dirname, '..');
const repo = path.resolve(pkg, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function run(cmd, args, cwd, env = {}) {
  const r = spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

test('the npm pack tarball installs into a new project, builds, and provisions', async (t) => {
  const dir = tempDir(t, 'duo-pack-');
  let packed;
  try {
    packed = run(npm, ['pack', '--json', '--pack-destination', dir], pkg);
  } finally {
    // postpack puts the repository layout back; this covers a failed pack.
    run(process.execPath, [path.join(pkg, 'scripts', 'vendor.js'), 'unpack'], pkg);
  }
  const [{ filename, files }] = JSON.parse(packed.stdout);
  const names = files.map((f) => f.path);
  for (const needed of ['Cargo.toml', 'Cargo.lock', 'core/Cargo.toml', 'core/src/lib.rs', 'src/lib.rs',
    'index.js', 'index.mjs', 'index.d.ts', 'main.js', 'scripts/build.js']) {
    assert.ok(names.includes(needed), `${needed} is not in the tarball`);
  }
  assert.ok(!names.some((n) => n.endsWith('.node')), 'no prebuilt addon is shipped');
  // The repository layout is back: no vendored core, no tarball left behind.
  assert.ok(!fs.existsSync(path.join(pkg, 'core')));
  assert.ok(!fs.existsSync(path.join(pkg, 'Cargo.toml.repo')));
  assert.ok(!fs.readdirSync(pkg).some((n) => n.endsWith('.tgz')));

  const project = path.join(dir, 'project');
  fs.mkdirSync(project);
  run(npm, ['init', '-y'], project);
  const cargoEnv = { CARGO_TARGET_DIR: path.join(repo, 'target'), CARGO_NET_OFFLINE: 'true' };
  run(npm, ['install', '--no-audit', '--no-fund', '--offline', '--ignore-scripts',
    path.join(dir, path.basename(filename))], project);
  // npm stamps extracted files with the time of extraction; cargo would take
  // the vendored core for changed and build it again. Give them a time
  // before the repository's build (their contents are the sources that build
  // was made from: `make test-node` builds the addon first), then run the
  // package's install script (`npm rebuild`), which builds from source.
  const installed = path.join(project, 'node_modules', 'duo-provisioning');
  const past = new Date('2000-01-01T00:00:00Z');
  for (const entry of fs.readdirSync(installed, { recursive: true })) {
    fs.utimesSync(path.join(installed, entry), past, past);
  }
  const install = run(npm, ['rebuild', '--foreground-scripts', 'duo-provisioning'], project, cargoEnv);
  const compiled = `${install.stdout}${install.stderr}`.split('\n').filter((l) => /^\s*Compiling /.test(l));
  t.diagnostic(`crates compiled for the tarball: ${compiled.length ? compiled.map((l) => l.trim()).join('; ') : 'none'}`);
  assert.ok(fs.existsSync(path.join(installed, 'duo-provisioning.node')));

  fs.writeFileSync(path.join(project, 'provision.js'), `
    const { LocalCloud, provision } = require('duo-provisioning');
    const cloud = LocalCloud.start({ tokens: [${JSON.stringify(TOKEN)}], devices: [${JSON.stringify(DEVICE_ID)}] });
    provision(${JSON.stringify(DEVICE_ID)}, ${JSON.stringify(TOKEN)}, { apiUrl: cloud.url })
      .then((r) => { console.log(JSON.stringify({ fingerprint: r.fingerprint, held: cloud.publicKey(r.deviceId) })); })
      .finally(() => cloud.stop());
  `);
  const out = run(process.execPath, ['provision.js'], project, { HOME: dir });
  const { fingerprint, held } = JSON.parse(out.stdout);
  const { inspectKey } = require('..');
  assert.equal(fingerprint, inspectKey(Buffer.from(held)).fingerprint);
  assert.equal(require(path.join(project, 'node_modules', 'duo-provisioning', 'package.json')).name, 'duo-provisioning');
});
