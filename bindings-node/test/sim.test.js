'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');

const { VirtualDuo } = require('..');
const { tempDir, DEVICE_ID } = require('./helpers');

test('a factory Duo generates its key on first boot and keeps it on the next', async (t) => {
  const dir = path.join(tempDir(t), 'duo');
  const vd = VirtualDuo.create(dir, { deviceId: DEVICE_ID, timeFactor: 0.01 });
  assert.equal(vd.selector, `sim:${dir}`);
  assert.equal(vd.deviceId, DEVICE_ID);
  assert.equal(vd.status().mode, 'dfu');

  const first = await vd.boot();
  assert.equal(first.generatedKey, true);
  assert.equal(first.slotFirstByte, 0xff);
  assert.match(first.fingerprint, /^[0-9a-f]{64}$/);
  const status = vd.status();
  assert.equal(status.mode, 'firmware');
  assert.deepEqual(status.lastBoot, first);

  vd.enterDfu();
  assert.equal(vd.status().mode, 'dfu');
  const second = await vd.boot();
  assert.equal(second.generatedKey, false);
  assert.equal(second.fingerprint, first.fingerprint);
});

test('faults are armed in the CLI spelling and listed by status', (t) => {
  const vd = VirtualDuo.create(path.join(tempDir(t), 'duo'), { timeFactor: 0.01 });
  vd.armFault('write-error:1');
  vd.armFault('stall:3');
  assert.deepEqual(vd.status().armedFaults.length, 2);
  vd.clearFaults();
  assert.deepEqual(vd.status().armedFaults, []);
  assert.throws(() => vd.armFault('explode:1'), (err) => err.code === 'INVALID_ARGUMENT');
});

test('create refuses a directory that is not empty, and a bad id', (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'something'), 'x');
  assert.throws(() => VirtualDuo.create(dir), (err) => err instanceof Error && typeof err.code === 'string'
    && err.message.includes(dir));
  assert.throws(() => VirtualDuo.create(path.join(dir, 'new'), { deviceId: 'xyz' }),
    (err) => err.code === 'INVALID_DEVICE_ID');
});

test('VirtualDuo.open finds a device made before', async (t) => {
  const dir = path.join(tempDir(t), 'duo');
  VirtualDuo.create(dir, { deviceId: DEVICE_ID, timeFactor: 0.01 });
  const again = VirtualDuo.open(dir);
  assert.equal(again.deviceId, DEVICE_ID);
  assert.equal((await again.boot()).generatedKey, true);
});

test('boot reports the cloud connection: not tried for the factory server, rejected, then connected (REFERENCE §5)', async (t) => {
  const duo = require('..');
  const { TOKEN } = require('./helpers');
  const dir = path.join(tempDir(t), 'duo');
  const vd = VirtualDuo.create(dir, { deviceId: DEVICE_ID, timeFactor: 0.01 });
  const factory = await vd.boot();
  assert.equal(factory.connection.outcome, 'not_tried');
  assert.equal(factory.connection.host, 'device.spark.io');

  const cloud = duo.LocalCloud.start({ tokens: [TOKEN], devices: [DEVICE_ID] });
  t.after(() => cloud.stop());
  assert.match(cloud.deviceAddr, /^127\.0\.0\.1:\d+$/);
  const block = cloud.serverKeyBlock();
  const summary = duo.parseServerKey(block);
  assert.equal(`${summary.address.value}:${summary.port}`, cloud.deviceAddr);

  vd.enterDfu();
  const device = await duo.openDevice(vd.selector);
  await device.writeServerKey(block);
  const { der } = await device.readPrivateKey();
  device.close();

  // Seeded but its key never sent: the cloud refuses the identity.
  const never = await vd.boot();
  assert.equal(never.connection.outcome, 'rejected');
  assert.equal(never.connection.step, 'identity');
  assert.equal(`${never.connection.host}:${never.connection.port}`, cloud.deviceAddr);

  // Provisioned with the key the slot holds: the handshake completes.
  await duo.provision(DEVICE_ID, TOKEN, { apiUrl: cloud.url, publicKey: der, retries: 0 });
  vd.enterDfu();
  const connected = await vd.boot();
  assert.equal(connected.connection.outcome, 'connected');
  assert.equal(vd.status().lastBoot.connection.outcome, 'connected');
});

test('create starts from a given DCT image (fromDct) and refuses one of the wrong size', async (t) => {
  const duo = require('..');
  const dir = tempDir(t);
  const vd = VirtualDuo.create(path.join(dir, 'duo'), { fromDct: duo.factoryDct(), deviceId: DEVICE_ID, timeFactor: 0.01 });
  const device = await duo.openDevice(vd.selector);
  const dct = await device.readDct();
  device.close();
  const factory = duo.parseDct(duo.factoryDct());
  assert.deepEqual(dct.server, factory.server);
  assert.deepEqual(dct.devicePrivateKey, factory.devicePrivateKey);
  assert.throws(() => VirtualDuo.create(path.join(dir, 'short'), { fromDct: Buffer.alloc(100) }),
    (err) => err.code === 'INVALID_ARGUMENT' && /32768 bytes.*got 100/.test(err.message));
  assert.ok(!fs.existsSync(path.join(dir, 'short')));
});

test('LocalCloud.start with a fault answers every request with it', async (t) => {
  const duo = require('..');
  const { TOKEN } = require('./helpers');
  const cloud = duo.LocalCloud.start({ tokens: [TOKEN], devices: [DEVICE_ID], faults: { kind: 'status', status: 503 } });
  t.after(() => cloud.stop());
  await assert.rejects(duo.provision(DEVICE_ID, TOKEN, { apiUrl: cloud.url, retries: 0 }),
    (err) => err.status === 503 && typeof err.code === 'string');
  assert.equal(cloud.records().length, 0);
  cloud.setFault({ kind: 'none' });
  assert.equal((await duo.provision(DEVICE_ID, TOKEN, { apiUrl: cloud.url })).deviceId, DEVICE_ID);
});
