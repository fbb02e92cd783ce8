// Shared by the tests: temporary directories and secret-free error views.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

/** A fresh temporary directory, removed when the test ends. */
function tempDir(t, prefix = 'duo-node-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Everything an error shows: message, stack and every own property. */
function everything(err) {
  return JSON.stringify(err, Object.getOwnPropertyNames(err)) + String(err.stack);
}

const DEVICE_ID = '2fff27fffc473530fff23637';
const OTHER_ID = '0123456789abcdef01234567';
const TOKEN = 'local-test-token-6f1e2d3c4b5a';
/** A device of product 6 (not the Duo's 88), of the default account. */
const PRODUCT6_ID = '0000000000000000000000a6';

/** An RSA-2048 server public key (PEM SubjectPublicKeyInfo), as the firmware requires. */
function serverKey() {
  const { publicKey } = require('node:crypto').generateKeyPairSync('rsa', { modulusLength: 2048 });
  return publicKey.export({ type: 'spki', format: 'pem' });
}

module.exports = { tempDir, everything, serverKey, DEVICE_ID, OTHER_ID, PRODUCT6_ID, TOKEN };
