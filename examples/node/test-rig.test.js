// A test rig in node:test: the seed guide's steps on a virtual Duo and a
// local cloud, with no board and no internet.
//
//   node --test examples/node/test-rig.test.js
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { test } = require('node:test');

const { VirtualDuo, LocalCloud, provision, inspectKey } = require('../../bindings-node');

test('a factory Duo generates a key, a new key is generated after a reset, and it provisions', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'duo-rig-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const deviceId = '2fff27fffc473530fff23637';
  const token = 'rig-token-00112233445566778899';

  // First power-on: the firmware finds an erased slot and makes a key.
  const duo = VirtualDuo.create(path.join(dir, 'duo'), { deviceId, timeFactor: 0.01 });
  const first = await duo.boot();
  assert.equal(first.generatedKey, true);

  // Back to DFU mode and boot again: the key is kept.
  duo.enterDfu();
  const again = await duo.boot();
  assert.equal(again.generatedKey, false);
  assert.equal(again.fingerprint, first.fingerprint);

  // Provision the device's key with the local cloud.
  const cloud = LocalCloud.start({ tokens: [token], devices: [deviceId] });
  t.after(() => cloud.stop());
  const result = await provision(deviceId, token, { apiUrl: cloud.url });
  assert.equal(result.deviceId, deviceId);
  assert.equal(inspectKey(Buffer.from(cloud.publicKey(deviceId))).fingerprint, result.fingerprint);
});
