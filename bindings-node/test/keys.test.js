'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');

const duo = require('..');
const { tempDir, serverKey } = require('./helpers');

test('a generated key is a valid RSA-1024 device key in every form', () => {
  const key = duo.generateKey();
  assert.equal(key.bits, 1024);
  assert.match(key.fingerprint, /^[0-9a-f]{64}$/);
  assert.match(key.pem, /^-----BEGIN RSA PRIVATE KEY-----/);
  assert.match(key.publicPem, /^-----BEGIN PUBLIC KEY-----/);
  const report = duo.inspectKey(key.der);
  assert.equal(report.kind, 'private');
  assert.equal(report.state, 'valid');
  assert.equal(report.fingerprint, key.fingerprint);
  assert.equal(duo.inspectKey(Buffer.from(key.publicPem)).kind, 'public');
  assert.notEqual(duo.generateKey().fingerprint, key.fingerprint);
});

test('inspectKey reads a path and explains bytes that are not a key', (t) => {
  const dir = tempDir(t);
  const key = duo.generateKey();
  const file = path.join(dir, 'device.pem');
  fs.writeFileSync(file, key.pem);
  assert.equal(duo.inspectKey(file).fingerprint, key.fingerprint);
  assert.equal(duo.inspectKey(Buffer.alloc(1216, 0xff)).state, 'erased');
  const garbage = duo.inspectKey(Buffer.from('hello, not a key'));
  assert.equal(garbage.state, 'corrupt');
  assert.ok(garbage.reason.length > 0);
  assert.throws(() => duo.inspectKey(path.join(dir, 'missing.der')), (err) => {
    assert.equal(err.code, 'IO');
    assert.match(err.message, /missing\.der/);
    return true;
  });
});

test('a server key block round-trips its host and port', () => {
  const pem = serverKey();
  const key = { publicPem: pem, fingerprint: duo.inspectKey(Buffer.from(pem)).fingerprint };
  const block = duo.formatServerKey(Buffer.from(key.publicPem), { host: '127.0.0.1', port: 5684 });
  assert.ok(Buffer.isBuffer(block));
  const parsed = duo.parseServerKey(block);
  assert.deepEqual(parsed.address, { type: 'ipv4', value: '127.0.0.1' });
  assert.equal(parsed.port, 5684);
  assert.equal(parsed.fingerprint, key.fingerprint);
  const plain = duo.parseServerKey(duo.formatServerKey(Buffer.from(key.publicPem)));
  assert.equal(plain.storedAddress, null);
  assert.equal(plain.port, 5683);
  assert.deepEqual(plain.address, { type: 'domain', value: 'device.spark.io' });
});

test('bad server key input is refused with a code', () => {
  assert.throws(() => duo.formatServerKey(Buffer.from(serverKey()), { port: 0 }),
    (err) => err instanceof Error && err.code === 'INVALID_SERVER_KEY');
  // A device-sized key is not a server key: the firmware needs RSA-2048.
  assert.throws(() => duo.formatServerKey(Buffer.from(duo.generateKey().publicPem)),
    (err) => err.code === 'INVALID_SERVER_KEY' && /2048/.test(err.message));
  assert.throws(() => duo.parseServerKey(Buffer.alloc(10)),
    (err) => err.code === 'INVALID_SERVER_KEY' && /10/.test(err.message));
});

test('parseDct explains the factory image', () => {
  const report = duo.parseDct(duo.factoryDct());
  assert.equal(report.kind, 'image');
  assert.equal(report.platform, 'duo');
  assert.equal(report.devicePrivateKey.state, 'erased');
  assert.equal(report.server.state, 'valid');
  assert.ok(report.fields.some((f) => f.name === 'device_private_key' && f.offset === 34));
  assert.throws(() => duo.parseDct(Buffer.alloc(100)), (err) => err.code === 'INVALID_DCT');
});
