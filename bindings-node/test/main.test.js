'use strict';
// bindings-node/main.js, the drop-in for the original helper, as a child process.

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { test, before, after } = require('node:test');

const duo = require('..');
const { tempDir, DEVICE_ID, OTHER_ID, PRODUCT6_ID, TOKEN } = require('./helpers');

const MAIN = path.join(__dirname, '..', 'main.js');
let cloud;
let home;

before(() => {
  cloud = duo.LocalCloud.start({ tokens: [TOKEN], devices: [DEVICE_ID, { deviceId: PRODUCT6_ID, productId: 6 }] });
  home = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'duo-home-'));
});
after(async () => {
  await cloud.stop();
  fs.rmSync(home, { recursive: true, force: true });
});

function run(args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], {
      env: { PATH: process.env.PATH, HOME: home, PARTICLE_API_URL: cloud.url, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('no arguments: the usage text, exit 1', async () => {
  const r = await run([]);
  assert.match(r.stdout, /node main\.js SOME_DEVICE_ID \[SOME_KEY_FILE\]/);
  assert.equal(r.code, 1);
});

test('success prints exactly the original three lines', async () => {
  const r = await run([DEVICE_ID], { PARTICLE_ACCESS_TOKEN: TOKEN });
  assert.equal(r.stdout, [
    'using generic public key',
    `attempting to add a new public key for device ${DEVICE_ID}`,
    'Success - Device Provisioned!',
    '',
  ].join('\n'));
  assert.equal(r.stderr, '');
  assert.equal(r.code, 0);
});

test('PARTICLE_PRODUCT_ID and a key file are used', async (t) => {
  const key = duo.generateKey();
  const file = path.join(tempDir(t), 'device.der');
  fs.writeFileSync(file, key.der);
  const r = await run([PRODUCT6_ID, file], { PARTICLE_ACCESS_TOKEN: TOKEN, PARTICLE_PRODUCT_ID: '6' });
  assert.equal(r.code, 0, r.stdout);
  assert.match(r.stdout, /Success - Device Provisioned!/);
  const record = cloud.records().at(-1);
  assert.equal(record.productId, 6);
  assert.equal(duo.inspectKey(Buffer.from(record.publicKey)).fingerprint, key.fingerprint);
});

for (const [name, args, env, pattern] of [
  ['a bad token', [DEVICE_ID], { PARTICLE_ACCESS_TOKEN: 'bad-token-1234abcd' }, /access token/],
  ['permission denied', [OTHER_ID], { PARTICLE_ACCESS_TOKEN: TOKEN }, /initial provisioning/],
  ['a missing key file', [DEVICE_ID, '/nonexistent/key.der'], { PARTICLE_ACCESS_TOKEN: TOKEN }, /key\.der/],
  ['no token anywhere', [DEVICE_ID], {}, /particle login/],
]) {
  test(`${name}: a Provisioning Error line, no Success, exit 1`, async () => {
    const r = await run(args, env);
    assert.match(r.stdout, /^Provisioning Error: {2}.+$/m);
    assert.match(r.stdout, pattern);
    assert.doesNotMatch(r.stdout, /Success/);
    assert.ok(!r.stdout.includes('bad-token-1234abcd'));
    assert.equal(r.code, 1);
  });
}

test('a 5xx reply is a failure, not a success', async () => {
  cloud.setFault({ kind: 'status', status: 500, body: 'html' });
  try {
    const r = await run([DEVICE_ID], { PARTICLE_ACCESS_TOKEN: TOKEN });
    assert.match(r.stdout, /^Provisioning Error: {2}.*HTTP 500/m);
    assert.doesNotMatch(r.stdout, /Success/);
    assert.equal(r.code, 1);
  } finally {
    cloud.setFault({ kind: 'none' });
  }
});

test('a file that holds no key is refused, not replaced by the generic key', async (t) => {
  const file = path.join(tempDir(t), 'notes.txt');
  fs.writeFileSync(file, 'not a key at all');
  const before = cloud.stats().requests;
  const r = await run([DEVICE_ID, file], { PARTICLE_ACCESS_TOKEN: TOKEN });
  assert.match(r.stdout, /^Provisioning Error: /m);
  assert.equal(r.code, 1);
  assert.equal(cloud.stats().requests, before);
});
