'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { test, before, after } = require('node:test');

const duo = require('..');
const { tempDir, everything, DEVICE_ID, OTHER_ID, PRODUCT6_ID, TOKEN } = require('./helpers');

const THEIR_ID = '0000000000000000000000b7';
const THEIR_TOKEN = 'their-token-99887766554433221100';

let cloud;
before(() => {
  // Token and URL discovery must not find the real ~/.particle.
  process.env.HOME = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'duo-home-'));
  delete process.env.PARTICLE_ACCESS_TOKEN;
  delete process.env.PARTICLE_API_URL;
  cloud = duo.LocalCloud.start({
    tokens: [TOKEN],
    accounts: [{ name: 'them', tokens: [THEIR_TOKEN] }],
    devices: [DEVICE_ID, { deviceId: PRODUCT6_ID, productId: 6 }, { deviceId: THEIR_ID, account: 'them' }],
  });
});
after(async () => {
  await cloud.stop();
  fs.rmSync(process.env.HOME, { recursive: true, force: true });
});

const opts = (extra = {}) => ({ apiUrl: cloud.url, retries: 0, ...extra });

test('provision sends the generic key and says where token and URL came from', async () => {
  const r = await duo.provision(DEVICE_ID, TOKEN, opts());
  assert.equal(r.deviceId, DEVICE_ID);
  assert.equal(r.productId, 88);
  assert.equal(r.attempts, 1);
  assert.deepEqual(r.keySource, { kind: 'generic' });
  assert.equal(r.fingerprint, duo.inspectKey(Buffer.from(cloud.publicKey(DEVICE_ID))).fingerprint);
  assert.equal(r.apiUrl, `${cloud.url}/`);
  assert.ok(r.tokenOrigin.kind);
  assert.ok(!JSON.stringify(r).includes(TOKEN));
  const record = cloud.records().at(-1);
  assert.equal(record.deviceId, DEVICE_ID);
  assert.equal(record.productId, 88);
});

test('provision sends a key given as PEM text, bytes or a file, and a product id', async (t) => {
  const key = duo.generateKey();
  for (const publicKey of [key.publicPem, key.der]) {
    const r = await duo.provision(PRODUCT6_ID, TOKEN, opts({ publicKey, productId: 6 }));
    assert.equal(r.fingerprint, key.fingerprint);
    assert.equal(r.productId, 6);
  }
  const file = path.join(tempDir(t), 'device.der');
  fs.writeFileSync(file, key.der);
  const r = await duo.provision(DEVICE_ID, TOKEN, opts({ publicKey: file }));
  assert.deepEqual(r.keySource, { kind: 'file', path: file });
  assert.equal(cloud.publicKey(DEVICE_ID), key.publicPem.replace(/\r/g, ''));
});

test('the token comes from PARTICLE_ACCESS_TOKEN when not given', async () => {
  process.env.PARTICLE_ACCESS_TOKEN = TOKEN;
  try {
    const r = await duo.provision(DEVICE_ID, undefined, opts());
    assert.deepEqual(r.tokenOrigin, { kind: 'env', name: 'PARTICLE_ACCESS_TOKEN' });
  } finally {
    delete process.env.PARTICLE_ACCESS_TOKEN;
  }
  await assert.rejects(duo.provision(DEVICE_ID, undefined, opts()), (err) => err.code === 'NO_TOKEN');
});

test('an unseeded device is PERMISSION_DENIED with a word about initial provisioning', async () => {
  await assert.rejects(duo.provision(OTHER_ID, TOKEN, opts()), (err) => {
    assert.ok(err instanceof Error);
    assert.equal(err.code, 'PERMISSION_DENIED');
    assert.equal(err.status, 403);
    assert.equal(err.deviceId, OTHER_ID);
    assert.match(err.message, /initial provisioning/);
    return true;
  });
});

test("another account's device and the wrong product are PERMISSION_DENIED", async () => {
  await assert.rejects(duo.provision(THEIR_ID, TOKEN, opts()), (err) => err.code === 'PERMISSION_DENIED');
  await assert.rejects(duo.provision(PRODUCT6_ID, TOKEN, opts()), (err) => err.code === 'PERMISSION_DENIED');
  const r = await duo.provision(THEIR_ID, THEIR_TOKEN, opts());
  assert.equal(r.deviceId, THEIR_ID);
});

test('a wrong token is INVALID_TOKEN and its text is nowhere in the error', async () => {
  const wrong = 'wrong-token-0a1b2c3d4e5f60718293';
  await assert.rejects(duo.provision(DEVICE_ID, wrong, opts()), (err) => {
    assert.equal(err.code, 'INVALID_TOKEN');
    assert.equal(err.status, 401);
    assert.ok(!everything(err).includes(wrong), everything(err));
    assert.ok(!everything(err).includes(TOKEN));
    return true;
  });
});

test('5xx, 429 and dropped connections are typed, with their facts', async () => {
  try {
    cloud.setFault({ kind: 'status', status: 500, body: 'html' });
    await assert.rejects(duo.provision(DEVICE_ID, TOKEN, opts()),
      (err) => err.code === 'SERVER_ERROR' && err.status === 500);
    cloud.setFault({ kind: 'status', status: 429, retryAfterSecs: 7 });
    await assert.rejects(duo.provision(DEVICE_ID, TOKEN, opts()),
      (err) => err.code === 'RATE_LIMITED' && err.retryAfter === 7);
    cloud.setFault({ kind: 'drop' });
    await assert.rejects(duo.provision(DEVICE_ID, TOKEN, opts()), (err) => err.code === 'NETWORK');
    cloud.setFault({ kind: 'sequence', steps: [{ kind: 'status', status: 503 }, { kind: 'none' }] });
    const r = await duo.provision(DEVICE_ID, TOKEN, opts({ retries: 2 }));
    assert.equal(r.attempts, 2);
  } finally {
    cloud.setFault({ kind: 'none' });
  }
  assert.throws(() => cloud.setFault({ kind: 'nonsense' }), (err) => err.code === 'INVALID_ARGUMENT');
});

test('bad input is refused before any request', async (t) => {
  const before = cloud.stats().requests;
  await assert.rejects(duo.provision('not-an-id', TOKEN, opts()), (err) => err.code === 'INVALID_DEVICE_ID');
  await assert.rejects(duo.provision(DEVICE_ID, TOKEN, opts({ publicKey: path.join(tempDir(t), 'nope.der') })),
    (err) => err.code === 'INVALID_KEY' && /nope\.der/.test(err.message));
  await assert.rejects(duo.provision(DEVICE_ID, TOKEN, opts({ publicKey: Buffer.from('not a key') })),
    (err) => err.code === 'INVALID_KEY');
  await assert.rejects(duo.provision(DEVICE_ID, TOKEN, { apiUrl: 'http://192.0.2.1:1' }),
    (err) => err.code === 'INVALID_URL' && /http/.test(err.message));
  assert.equal(cloud.stats().requests, before);
});

test('an aborted signal stops provision before it starts', async () => {
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(duo.provision(DEVICE_ID, TOKEN, opts({ signal: controller.signal })));
});

test('provisionMany reports every device, as it arrives and in the summary', async () => {
  const ids = Array.from({ length: 20 }, (_, i) => `aaaaaaaaaaaaaaaaaaaa${String(i).padStart(4, '0')}`);
  cloud.addDevices(ids.slice(0, 15));
  const seen = [];
  const summary = await duo.provisionMany(ids, TOKEN, {
    ...opts(),
    concurrency: 4,
    onResult: (r) => seen.push(r),
  });
  assert.equal(summary.total, 20);
  assert.equal(summary.ok, 15);
  assert.equal(summary.failed, 5);
  assert.equal(summary.concurrency, 4);
  assert.equal(summary.results.length, 20);
  const denied = summary.results.filter((r) => !r.ok);
  assert.ok(denied.every((r) => r.code === 'PERMISSION_DENIED' && ids.indexOf(r.deviceId) >= 15));
  // The callbacks are queued to the JS thread; let the queue drain.
  for (let i = 0; i < 1000 && seen.length < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(seen.length, 20);
  assert.deepEqual(new Set(seen.map((r) => r.deviceId)), new Set(ids));
});

test('provisionMany takes per-device key files and refuses a bad one before sending', async (t) => {
  const key = duo.generateKey();
  const file = path.join(tempDir(t), 'k.pem');
  fs.writeFileSync(file, key.publicPem);
  const summary = await duo.provisionMany([{ deviceId: DEVICE_ID, publicKey: file }], TOKEN, opts());
  assert.equal(summary.results[0].fingerprint, key.fingerprint);
  const before = cloud.stats().requests;
  await assert.rejects(duo.provisionMany([DEVICE_ID, { deviceId: DEVICE_ID, publicKey: `${file}.missing` }],
    TOKEN, opts()), (err) => err.code === 'INVALID_ARGUMENT' && /line 2/.test(err.message));
  assert.equal(cloud.stats().requests, before);
});
