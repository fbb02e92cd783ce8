// The original helper's shape, for the benchmark only: load particle-api-js,
// read the generic public key, send it, print the original's lines.
//   node original-main.js DEVICE_ID   (PARTICLE_ACCESS_TOKEN, PARTICLE_API_URL)
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const Particle = require('particle-api-js');

const deviceId = process.argv[2];
const key = fs.readFileSync(path.join(__dirname, '..', '..', 'core', 'assets', 'generic_public_key.pem'));
const particle = new Particle({ baseUrl: process.env.PARTICLE_API_URL });
console.log('using generic public key');
console.log(`attempting to add a new public key for device ${deviceId}`);
particle.sendPublicKey({ deviceId, key, auth: process.env.PARTICLE_ACCESS_TOKEN })
  .then(() => console.log('Success - Device Provisioned!'))
  .catch((err) => { console.log('Provisioning Error: ', err.message); process.exitCode = 1; })
  .finally(() => console.error(`maxrss_kib=${process.resourceUsage().maxRSS}`));
