#!/usr/bin/env node
// Drop-in for RedBear's device-provisioning-helper main.js (REFERENCE §4):
//
//   node main.js SOME_DEVICE_ID [SOME_KEY_FILE]
//
// prints the same lines as the original, but succeeds only on a real
// success: any failure prints `Provisioning Error:  …` and exits 1, and a
// key file that does not exist or holds no key is refused (the original
// silently sent the generic key instead).
//
// The access token: YOUR_ACCESS_TOKEN below once edited, else
// $PARTICLE_ACCESS_TOKEN, else particle-cli's login (`particle login`).
// The product id: $PARTICLE_PRODUCT_ID, else YOUR_PRODUCT_ID below.
// The API: $PARTICLE_API_URL, else particle-cli's apiUrl, else api.particle.io.
'use strict';

var YOUR_ACCESS_TOKEN = "YOUR_ACCESS_TOKEN";
var YOUR_PRODUCT_ID = 88;

const { provision } = require('./index.js');

const USAGE = [
  'Usage: node main.js SOME_DEVICE_ID [SOME_KEY_FILE]',
  '',
  '  SOME_DEVICE_ID  the 24 hexadecimal digits of the Duo\'s device id',
  '  SOME_KEY_FILE   a public (or private) key file to send; default: the generic public key',
  '',
  'Edit YOUR_ACCESS_TOKEN and YOUR_PRODUCT_ID at the top of main.js, or set',
  'PARTICLE_ACCESS_TOKEN (or log in with `particle login`) and PARTICLE_PRODUCT_ID.',
].join('\n');

async function main(argv) {
  const [deviceId, keyFile] = argv;
  if (!deviceId) {
    console.log(USAGE);
    return 1;
  }
  const token = YOUR_ACCESS_TOKEN === 'YOUR_ACCESS_TOKEN' ? undefined : YOUR_ACCESS_TOKEN;
  const productId = process.env.PARTICLE_PRODUCT_ID
    ? Number(process.env.PARTICLE_PRODUCT_ID)
    : YOUR_PRODUCT_ID;
  console.log(keyFile ? `using public key from ${keyFile}` : 'using generic public key');
  console.log(`attempting to add a new public key for device ${deviceId}`);
  try {
    await provision(deviceId, token, { productId, publicKey: keyFile });
  } catch (err) {
    console.log('Provisioning Error: ', err.message);
    return 1;
  }
  console.log('Success - Device Provisioned!');
  return 0;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
