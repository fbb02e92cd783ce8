// onProgress and AbortSignal on the long calls: the core's Monitor and
// CancelToken, translated (progress events as callbacks, abort() as cancel).
// The work waits for each onProgress call, so an abort() made inside one is
// seen before the next block: no test here depends on timing.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');

const duo = require('..');
const { tempDir, DEVICE_ID, TOKEN } = require('./helpers');

async function bootedDuo(t) {
  const dir = tempDir(t);
  const vd = duo.VirtualDuo.create(path.join(dir, 'duo'), { deviceId: DEVICE_ID, timeFactor: 0.01 });
  const boot = await vd.boot();
  vd.enterDfu();
  const device = await duo.openDevice(vd.selector);
  t.after(() => device.close());
  const old = (await device.readPrivateKey()).der;
  return { vd, dir, boot, device, old };
}

/** Every phase starts at 0 and ends at its total, in order, in bytes. */
function assertPhases(events, expected) {
  assert.deepEqual([...new Set(events.map((e) => e.phase))], expected);
  for (const phase of expected) {
    const of = events.filter((e) => e.phase === phase);
    assert.equal(of[0].done, 0, `${phase} starts at 0`);
    assert.equal(of.at(-1).done, of.at(-1).total, `${phase} ends at its total`);
    assert.ok(of.every((e, i) => e.unit === 'bytes' && (i === 0 || e.done >= of[i - 1].done)));
  }
}

test('writePrivateKey reports backup, write and verify progress', async (t) => {
  const { dir, device } = await bootedDuo(t);
  const key = duo.generateKey();
  const events = [];
  const report = await device.writePrivateKey(key.der, { backupDir: dir, onProgress: (p) => events.push(p) });
  assert.equal(report.fingerprint, key.fingerprint);
  assertPhases(events, ['backup', 'write', 'verify']);
  assert.equal(events.find((e) => e.phase === 'write').total, 1216);
});

test('an abort in the middle of a key write leaves one whole key and names the backup', async (t) => {
  const { dir, device, old } = await bootedDuo(t);
  const key = duo.generateKey();
  const controller = new AbortController();
  const events = [];
  const onProgress = (p) => {
    events.push(p);
    if (p.phase === 'write') controller.abort();
  };
  const err = await device.writePrivateKey(key.der, { backupDir: dir, onProgress, signal: controller.signal })
    .then(() => assert.fail('the aborted write resolved'), (e) => e);
  assert.equal(err.code, 'CANCELLED');
  assert.equal(err.backupPath, path.join(dir, 'backup_rsa_key.der'));
  assert.deepEqual(fs.readFileSync(err.backupPath), old);
  assert.ok(events.some((e) => e.phase === 'write'));
  // The slot holds the old key or the new one, whole, and the error says which.
  const now = (await device.readPrivateKey()).der;
  assert.ok(now.equals(old) || now.equals(key.der), 'the slot holds neither key whole');
  assert.equal(err.slot, now.equals(old) ? 'old' : 'new');
});

test('a signal aborted before the call rejects with CANCELLED and writes nothing', async (t) => {
  const { dir, device, old } = await bootedDuo(t);
  const err = await device.writePrivateKey(duo.generateKey().der, { backupDir: dir, signal: AbortSignal.abort() })
    .then(() => assert.fail('resolved'), (e) => e);
  assert.equal(err.code, 'CANCELLED');
  assert.deepEqual((await device.readPrivateKey()).der, old);
  assert.ok(!fs.existsSync(path.join(dir, 'backup_rsa_key.der')));
  const reset = await device.resetPrivateKey({ backupDir: dir, signal: AbortSignal.abort() })
    .then(() => assert.fail('resolved'), (e) => e);
  assert.equal(reset.code, 'CANCELLED');
  assert.deepEqual((await device.readPrivateKey()).der, old);
});

test('resetPrivateKey reports progress; aborted during its write, the slot is whole', async (t) => {
  const { dir, device, old } = await bootedDuo(t);
  const controller = new AbortController();
  const events = [];
  const onProgress = (p) => {
    events.push(p);
    if (p.phase === 'write') controller.abort();
  };
  const err = await device.resetPrivateKey({ backupDir: dir, leave: false, onProgress, signal: controller.signal })
    .then(() => assert.fail('resolved'), (e) => e);
  assert.equal(err.code, 'CANCELLED');
  assert.equal(err.backupPath, path.join(dir, 'backup_rsa_reset.der'));
  const read = await device.readPrivateKey();
  if (err.slot === 'old') {
    assert.deepEqual(read.der, old);
  } else {
    assert.equal(read.report.state, 'reset-request');
  }
  // Not aborted: every phase is reported.
  const all = [];
  await device.writePrivateKey(old, { backupDir: dir });
  const done = await device.resetPrivateKey({ backupDir: path.join(dir), leave: false, onProgress: (p) => all.push(p) });
  assert.equal(done.verified, true);
  assertPhases(all, ['backup', 'write', 'verify']);
});

test('an aborted provisionMany resolves with the devices not done counted as cancelled', async (t) => {
  const ids = Array.from({ length: 40 }, (_, i) => i.toString(16).padStart(24, 'c'));
  const cloud = duo.LocalCloud.start({ tokens: [TOKEN], devices: ids });
  t.after(() => cloud.stop());
  const controller = new AbortController();
  const progress = [];
  const summary = await duo.provisionMany(ids, TOKEN, {
    apiUrl: cloud.url,
    concurrency: 1,
    retries: 0,
    signal: controller.signal,
    onProgress: (p) => {
      progress.push(p);
      if (p.done === 5) controller.abort();
    },
  });
  assert.equal(summary.total, ids.length);
  assert.ok(summary.ok >= 5, `${summary.ok} ok`);
  assert.ok(summary.cancelled > 0, 'nothing was cancelled');
  assert.equal(summary.ok + summary.failed + summary.cancelled, summary.total);
  assert.equal(summary.results.length, summary.total);
  assert.equal(summary.results.filter((r) => r.code === 'CANCELLED').length, summary.cancelled);
  // With one request in flight, at most one cancelled device may have
  // reached the cloud before it answered ("may or may not be provisioned").
  const records = cloud.records().length;
  assert.ok(records >= summary.ok && records <= summary.ok + 1, `${records} records, ${summary.ok} ok`);
  assert.ok(progress.every((p) => p.phase === 'provision' && p.unit === 'devices' && p.total === ids.length));
});

test('an aborted provision rejects with CANCELLED, also while the cloud is slow to answer', async (t) => {
  const cloud = duo.LocalCloud.start({ tokens: [TOKEN], devices: [DEVICE_ID] });
  t.after(() => cloud.stop());
  const before = await duo.provision(DEVICE_ID, TOKEN, { apiUrl: cloud.url, signal: AbortSignal.abort() })
    .then(() => assert.fail('resolved'), (e) => e);
  assert.equal(before.code, 'CANCELLED');
  assert.equal(cloud.records().length, 0);
  // The cloud holds the request for 10 minutes; the abort ends the wait.
  cloud.setFault({ kind: 'delay', ms: 600000 });
  const controller = new AbortController();
  const pending = duo.provision(DEVICE_ID, TOKEN, { apiUrl: cloud.url, retries: 0, timeoutMs: 900000, signal: controller.signal });
  setImmediate(() => controller.abort());
  const err = await pending.then(() => assert.fail('resolved'), (e) => e);
  assert.equal(err.code, 'CANCELLED');
  cloud.setFault({ kind: 'none' });
});
