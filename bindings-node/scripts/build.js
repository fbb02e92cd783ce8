#!/usr/bin/env node
// The install step: build the addon from source with cargo (release) and
// copy the cdylib to duo-provisioning.node beside index.js. Cargo's
// --message-format=json output names the library, wherever the target
// directory is (the workspace's target/, CARGO_TARGET_DIR, or this
// package's own target/ when installed from a tarball).
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'duo-provisioning.node');
const cargo = process.env.CARGO || 'cargo';

const run = spawnSync(
  cargo,
  ['build', '--release', '--lib', '--message-format=json-render-diagnostics',
    '--manifest-path', path.join(root, 'Cargo.toml')],
  { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 256 * 1024 * 1024 },
);
if (run.error) {
  console.error(`duo-provisioning: cannot run ${cargo} (${run.error.message}); ` +
    'install Rust (https://rustup.rs) and try again');
  process.exit(1);
}
if (run.status !== 0) {
  console.error(`duo-provisioning: cargo build failed (exit ${run.status}); see the messages above`);
  process.exit(1);
}

let library;
for (const line of run.stdout.toString().split('\n')) {
  if (!line.startsWith('{')) continue;
  const msg = JSON.parse(line);
  if (msg.reason === 'compiler-artifact' && msg.target.name === 'duo_provisioning_node' &&
      msg.target.kind.includes('cdylib')) {
    library = msg.filenames.find((f) => /\.(so|dylib|dll)$/.test(f));
  }
}
if (!library) {
  console.error('duo-provisioning: cargo built no duo_provisioning_node library');
  process.exit(1);
}
// Replace by rename: a running process may have the old file mapped.
const tmp = `${out}.${process.pid}.tmp`;
fs.copyFileSync(library, tmp);
// The workspace's release profile keeps line tables (debug = 1) for the CLI's
// backtraces; the addon does not need them: without them the .node is a
// fraction of the size (less to read at require time). Where there is no
// `strip` (binutils), the copy is used as built.
const strip = spawnSync(process.env.STRIP || 'strip', ['--strip-debug', tmp], { stdio: 'ignore' });
const stripped = !strip.error && strip.status === 0;
fs.renameSync(tmp, out);
console.log(`duo-provisioning: built ${path.relative(root, out)} from ${library}` +
  `${stripped ? ' (debug info stripped)' : ''}, ${(fs.statSync(out).size / 2 ** 20).toFixed(1)} MiB`);
