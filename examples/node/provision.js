// Provision a device from Node: start a local cloud (the real API's
// behaviour on loopback), provision a seeded device, and show what a
// refusal looks like. Against the real cloud, drop `apiUrl` and pass your
// token (or set PARTICLE_ACCESS_TOKEN, or `particle login`).
//
//   node examples/node/provision.js
'use strict';

const { provision, LocalCloud } = require('../../bindings-node');

const DEVICE_ID = '2fff27fffc473530fff23637';
const TOKEN = 'example-token-0123456789abcdef';

async function main() {
  const cloud = LocalCloud.start({ tokens: [TOKEN], devices: [DEVICE_ID] });
  try {
    const result = await provision(DEVICE_ID, TOKEN, { apiUrl: cloud.url });
    console.log(`provisioned ${result.deviceId}: key ${result.fingerprint.slice(0, 16)}…, ` +
      `${result.attempts} attempt(s), product ${result.productId}`);
    try {
      await provision('0123456789abcdef01234567', TOKEN, { apiUrl: cloud.url });
      throw new Error('an unseeded device was provisioned');
    } catch (err) {
      if (err.code !== 'PERMISSION_DENIED') throw err;
      console.log(`refused as expected (${err.code}): ${err.message}`);
    }
  } finally {
    await cloud.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
