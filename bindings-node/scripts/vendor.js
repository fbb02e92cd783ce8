#!/usr/bin/env node
// `npm pack` support: a tarball cannot reach ../core, so prepack copies the
// core crate into ./core and points this package's Cargo.toml at it as a
// stand-alone workspace (no `*.workspace = true` inheritance, an empty
// `[workspace]`) with the repository's Cargo.lock; postpack puts the
// repository layout back. The copy sits at `core` relative to the
// stand-alone workspace root, as the core sits relative to the repository's:
// cargo names a path crate's build by that relative path, so a tarball
// install with CARGO_TARGET_DIR pointing at the repository's target/ reuses
// the core already built there instead of compiling it again.
//
//   node scripts/vendor.js pack | unpack
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const pkg = path.resolve(__dirname, '..');
const repo = path.resolve(pkg, '..');
const vendor = path.join(pkg, 'core');
const manifest = path.join(pkg, 'Cargo.toml');
const saved = path.join(pkg, 'Cargo.toml.repo');
const lock = path.join(pkg, 'Cargo.lock');

/** The `[workspace.package]` values the members inherit. */
function workspacePackage() {
  const text = fs.readFileSync(path.join(repo, 'Cargo.toml'), 'utf8');
  const section = text.split(/^\[workspace\.package\]$/m)[1].split(/^\[/m)[0];
  const values = {};
  for (const m of section.matchAll(/^([a-z-]+)\s*=\s*(.+)$/gm)) values[m[1]] = m[2].trim();
  return values;
}

/** The workspace's `[profile.*]` sections, so the tarball builds as the repository does. */
function profiles() {
  const text = fs.readFileSync(path.join(repo, 'Cargo.toml'), 'utf8');
  return text.split(/^(?=\[)/m).filter((section) => section.startsWith('[profile.')).join('');
}

/** Replace `key.workspace = true` lines by the workspace's values. */
function standalone(text, values) {
  return text.replace(/^([a-z-]+)\.workspace\s*=\s*true$/gm, (line, key) => {
    if (!(key in values)) throw new Error(`no workspace value for ${key}`);
    return `${key} = ${values[key]}`;
  });
}

/** Drop `[[bench]]` targets and dev-dependencies: their files are not vendored. */
function withoutBenches(text) {
  return text
    .split(/^(?=\[)/m)
    .filter((section) => !/^\[\[bench\]\]|^\[dev-dependencies\]/.test(section))
    .join('');
}

function pack() {
  if (fs.existsSync(saved)) throw new Error(`${saved} exists: run \`node scripts/vendor.js unpack\` first`);
  const values = workspacePackage();
  fs.rmSync(vendor, { recursive: true, force: true });
  const core = vendor;
  fs.mkdirSync(core, { recursive: true });
  for (const dir of ['src', 'assets']) {
    fs.cpSync(path.join(repo, 'core', dir), path.join(core, dir), { recursive: true });
  }
  const coreManifest = fs.readFileSync(path.join(repo, 'core', 'Cargo.toml'), 'utf8');
  fs.writeFileSync(path.join(core, 'Cargo.toml'), withoutBenches(standalone(coreManifest, values)));

  const original = fs.readFileSync(manifest, 'utf8');
  fs.writeFileSync(saved, original);
  const vendored = standalone(original, values)
    .replace('path = "../core"', 'path = "core"');
  fs.writeFileSync(manifest,
    `${vendored}\n# Built on its own from the npm tarball.\n[workspace]\n\n${profiles()}`);
  fs.copyFileSync(path.join(repo, 'Cargo.lock'), lock);
}

function unpack() {
  if (fs.existsSync(saved)) fs.renameSync(saved, manifest);
  fs.rmSync(vendor, { recursive: true, force: true });
  fs.rmSync(lock, { force: true });
}

const command = process.argv[2];
if (command === 'pack') pack();
else if (command === 'unpack') unpack();
else {
  console.error('usage: node scripts/vendor.js pack | unpack');
  process.exit(2);
}
