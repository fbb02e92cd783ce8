'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');

const duo = require('..');
const { tempDir, serverKey, DEVICE_ID } = require('./helpers');

/** A virtual Duo that has booted once (so it has a key), back in DFU mode. */
async function bootedDuo(t) {
  const dir = tempDir(t);
  const vd = duo.VirtualDuo.create(path.join(dir, 'duo'), { deviceId: DEVICE_ID, timeFactor: 0.01 });
  const boot = await vd.boot();
  vd.enterDfu();
  return { vd, dir, boot };
}

test('listDevices and openDevice find a virtual Duo by its selector', async (t) => {
  const { vd } = await bootedDuo(t);
  const [listed] = await duo.listDevices(vd.selector);
  assert.equal(listed.selector, vd.selector);
  assert.equal(listed.usbId, '2b04:d058');
  assert.equal(listed.virtual, true);
  assert.ok(listed.altSettings.length >= 2);
  const device = await duo.openDevice(vd.selector);
  assert.match(device.description, /virtual/);
  device.close();
  device.close();
  await assert.rejects(device.readDct(), (err) => err.code === 'INVALID_ARGUMENT' && /closed/.test(err.message));
});

test('the key the firmware made is read back, and the DCT agrees', async (t) => {
  const { vd, boot } = await bootedDuo(t);
  const device = await duo.openDevice(vd.selector);
  t.after(() => device.close());
  const read = await device.readPrivateKey();
  assert.equal(read.slot.length, 1216);
  assert.equal(read.report.state, 'valid');
  assert.equal(read.report.fingerprint, boot.fingerprint);
  assert.equal(duo.inspectKey(read.der).fingerprint, boot.fingerprint);
  const dct = await device.readDct();
  assert.equal(dct.kind, 'app');
  assert.equal(dct.devicePrivateKey.state, 'valid');
});

test('writePrivateKey keeps a backup of the old key and verifies the new one', async (t) => {
  const { vd, dir, boot } = await bootedDuo(t);
  const key = duo.generateKey();
  const file = path.join(dir, 'new.der');
  fs.writeFileSync(file, key.der);
  const device = await duo.openDevice(vd.selector);
  t.after(() => device.close());
  const report = await device.writePrivateKey(file);
  assert.equal(report.verified, true);
  assert.equal(report.fingerprint, key.fingerprint);
  assert.equal(report.bytesWritten, 1216);
  assert.equal(report.backup, path.join(dir, 'backup_rsa_new.der'));
  assert.equal(duo.inspectKey(report.backup).fingerprint, boot.fingerprint);
  assert.equal((await device.readPrivateKey()).report.fingerprint, key.fingerprint);
});

test('a failed write puts the old key back and names the backup', async (t) => {
  const { vd, dir, boot } = await bootedDuo(t);
  const file = path.join(dir, 'new.der');
  fs.writeFileSync(file, duo.generateKey().der);
  vd.armFault('write-error:1');
  const device = await duo.openDevice(vd.selector);
  t.after(() => device.close());
  await assert.rejects(device.writePrivateKey(file), (err) => {
    assert.equal(typeof err.code, 'string');
    assert.match(err.message, /backup_rsa_new\.der/);
    return true;
  });
  assert.equal((await device.readPrivateKey()).report.fingerprint, boot.fingerprint);
});

test('a file that holds no key is refused before the device is touched', async (t) => {
  const { vd, dir } = await bootedDuo(t);
  const file = path.join(dir, 'junk.der');
  fs.writeFileSync(file, 'junk');
  const device = await duo.openDevice(vd.selector);
  t.after(() => device.close());
  await assert.rejects(device.writePrivateKey(file), (err) => err.code === 'INVALID_KEY');
  assert.ok(!fs.existsSync(path.join(dir, 'backup_rsa_junk.der')));
});

test('resetPrivateKey keeps the key in backupDir and the next boot makes a new one', async (t) => {
  const { vd, dir, boot } = await bootedDuo(t);
  const device = await duo.openDevice(vd.selector);
  const report = await device.resetPrivateKey({ backupDir: dir });
  device.close();
  assert.equal(report.verified, true);
  assert.equal(report.leftDfu, true);
  assert.equal(report.backup, path.join(dir, 'backup_rsa_reset.der'));
  assert.equal(duo.inspectKey(report.backup).fingerprint, boot.fingerprint);
  // Leaving DFU mode booted the firmware, which found the reset request.
  const status = vd.status();
  assert.equal(status.mode, 'firmware');
  assert.equal(status.lastBoot.generatedKey, true);
  assert.notEqual(status.lastBoot.fingerprint, boot.fingerprint);
});

test('writeServerKey stores a block pointing at the local cloud', async (t) => {
  const { vd } = await bootedDuo(t);
  const pem = serverKey();
  const server = duo.inspectKey(Buffer.from(pem));
  const block = duo.formatServerKey(Buffer.from(pem), { host: '127.0.0.1', port: 5683 });
  const device = await duo.openDevice(vd.selector);
  t.after(() => device.close());
  const summary = await device.writeServerKey(block);
  assert.deepEqual(summary.address, { type: 'ipv4', value: '127.0.0.1' });
  const dct = await device.readDct();
  assert.equal(dct.server.fingerprint, server.fingerprint);
});

test('a board in firmware mode cannot be opened', async (t) => {
  const { vd } = await bootedDuo(t);
  await vd.boot();
  await assert.rejects(duo.openDevice(vd.selector), (err) => err.code === 'NOT_IN_DFU_MODE');
  await assert.rejects(duo.openDevice('bogus'), (err) => err.code === 'INVALID_ARGUMENT');
});

test('writePrivateKey takes a Buffer (DER or PEM) and keeps the backup in backupDir', async (t) => {
  const { vd, dir, boot } = await bootedDuo(t);
  const backups = path.join(dir, 'backups');
  fs.mkdirSync(backups);
  const device = await duo.openDevice(vd.selector);
  t.after(() => device.close());
  const der = duo.generateKey();
  const first = await device.writePrivateKey(der.der, { backupDir: backups });
  assert.equal(first.verified, true);
  assert.equal(first.fingerprint, der.fingerprint);
  assert.equal(first.backup, path.join(backups, 'backup_rsa_key.der'));
  assert.equal(duo.inspectKey(first.backup).fingerprint, boot.fingerprint);
  const pem = duo.generateKey();
  const second = await device.writePrivateKey(Buffer.from(pem.pem), { backupDir: backups });
  assert.equal(second.fingerprint, pem.fingerprint);
  // The first backup is kept; the second is numbered beside it.
  assert.notEqual(second.backup, first.backup);
  assert.equal(duo.inspectKey(second.backup).fingerprint, der.fingerprint);
  assert.deepEqual((await device.readPrivateKey()).der, pem.der);
});

test('writePrivateKey from a path with backupDir writes nothing beside the key file', async (t) => {
  const { vd, dir } = await bootedDuo(t);
  const keyDir = path.join(dir, 'keys');
  const backups = path.join(dir, 'backups');
  fs.mkdirSync(keyDir);
  fs.mkdirSync(backups);
  const key = duo.generateKey();
  fs.writeFileSync(path.join(keyDir, 'new.pem'), key.pem);
  const device = await duo.openDevice(vd.selector);
  t.after(() => device.close());
  const report = await device.writePrivateKey(path.join(keyDir, 'new.pem'), { backupDir: backups });
  assert.equal(report.backup, path.join(backups, 'backup_rsa_new.pem'.replace('.pem', '.der')));
  assert.deepEqual(fs.readdirSync(keyDir), ['new.pem']);
  await assert.rejects(device.writePrivateKey(Buffer.from('junk'), { backupDir: backups }),
    (err) => err.code === 'INVALID_KEY');
});

test('readPrivateKey returns the key in memory and writes no file', async (t) => {
  const { vd, dir, boot } = await bootedDuo(t);
  const before = fs.readdirSync(dir).sort();
  const cwd = fs.readdirSync(process.cwd()).sort();
  const device = await duo.openDevice(vd.selector);
  t.after(() => device.close());
  const read = await device.readPrivateKey();
  assert.ok(Buffer.isBuffer(read.der));
  assert.equal(duo.inspectKey(read.der).fingerprint, boot.fingerprint);
  assert.deepEqual(read.slot.subarray(0, read.der.length), read.der);
  assert.deepEqual(fs.readdirSync(dir).sort(), before);
  assert.deepEqual(fs.readdirSync(process.cwd()).sort(), cwd);
});
