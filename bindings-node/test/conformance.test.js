'use strict';
// Particle's own client, particle-api-js, against the local cloud: the
// request it sends is accepted and stored as our own client's is.

const assert = require('node:assert/strict');
const { test, before, after } = require('node:test');
const Particle = require('particle-api-js');

const duo = require('..');
const { DEVICE_ID, OTHER_ID, TOKEN } = require('./helpers');

let cloud;
before(() => { cloud = duo.LocalCloud.start({ tokens: [TOKEN], devices: [DEVICE_ID] }); });
after(() => cloud.stop());

test('particle-api-js sendPublicKey provisions a seeded device', async () => {
  const key = duo.generateKey();
  const particle = new Particle({ baseUrl: cloud.url });
  const reply = await particle.sendPublicKey({ deviceId: DEVICE_ID, key: key.publicPem, auth: TOKEN });
  assert.equal(reply.statusCode, 200);
  const record = cloud.records().at(-1);
  assert.equal(record.deviceId, DEVICE_ID);
  assert.equal(record.filename, 'particle-api');
  assert.match(record.order, /^manual_\d+$/);
  assert.equal(duo.inspectKey(Buffer.from(cloud.publicKey(DEVICE_ID))).fingerprint, key.fingerprint);
});

test('particle-api-js sees the same 401 and 403 as our client', async () => {
  const particle = new Particle({ baseUrl: cloud.url });
  const key = duo.generateKey();
  await assert.rejects(particle.sendPublicKey({ deviceId: DEVICE_ID, key: key.publicPem, auth: 'wrong' }),
    (err) => err.statusCode === 401);
  await assert.rejects(particle.sendPublicKey({ deviceId: OTHER_ID, key: key.publicPem, auth: TOKEN }),
    (err) => err.statusCode === 403);
  await assert.rejects(duo.provision(OTHER_ID, TOKEN, { apiUrl: cloud.url }),
    (err) => err.code === 'PERMISSION_DENIED');
});
