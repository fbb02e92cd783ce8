// `make bench` figures for the Node binding (no assertions), one run, one
// local cloud:
// - provisionMany of 1,000 devices at concurrency 32 vs particle-api-js
//   sendPublicKey with 32 requests in flight;
// - a fresh node process that loads the package and provisions one device
//   vs the original-style main.js (wall time, peak RSS);
// - the addon's load time.
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const Particle = require('particle-api-js');

const duo = require('..');

const DEVICES = 1000;
const CONCURRENCY = 32;
const TOKEN = 'bench-token-0123456789abcdef';
const ids = Array.from({ length: DEVICES }, (_, i) => i.toString(16).padStart(24, 'b'));
const key = fs.readFileSync(path.join(__dirname, '..', '..', 'core', 'assets', 'generic_public_key.pem'), 'utf8');

async function particleApiJs(cloud) {
  const particle = new Particle({ baseUrl: cloud.url });
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < ids.length) {
      const deviceId = ids[next++];
      try {
        await particle.sendPublicKey({ deviceId, key, auth: TOKEN });
      } catch {
        failed++;
      }
    }
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  return { rate: ids.length / secs, secs, failed };
}

function fresh(args, env) {
  const t0 = process.hrtime.bigint();
  const run = spawnSync(process.execPath, args, { env: { ...process.env, ...env }, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const rss = Number((/maxrss_kib=(\d+)/.exec(run.stderr) || [])[1]);
  const requireMs = Number((/require_ms=([\d.]+)/.exec(run.stderr) || [])[1]);
  const provisionMs = Number((/provision_ms=([\d.]+)/.exec(run.stderr) || [])[1]);
  return { ms, rssMiB: rss / 1024, requireMs, provisionMs, ok: run.status === 0 };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main() {
  const cloud = duo.LocalCloud.start({ tokens: [TOKEN], devices: ids });
  try {
    const ours = await duo.provisionMany(ids, TOKEN, { apiUrl: cloud.url, concurrency: CONCURRENCY, retries: 0 });
    const theirs = await particleApiJs(cloud);
    console.log(`provisionMany: ${DEVICES} devices at concurrency ${CONCURRENCY} in ${ours.elapsedSecs.toFixed(2)} s: ` +
      `${ours.ratePerSec.toFixed(0)} devices/s (${ours.failed} failed, p50 ${ours.p50Ms.toFixed(1)} ms, p99 ${ours.p99Ms.toFixed(1)} ms)`);
    console.log(`particle-api-js sendPublicKey: ${DEVICES} devices, ${CONCURRENCY} in flight, in ${theirs.secs.toFixed(2)} s: ` +
      `${theirs.rate.toFixed(0)} devices/s (${theirs.failed} failed)`);
    console.log(`ratio provisionMany / particle-api-js: ${(ours.ratePerSec / theirs.rate).toFixed(2)}x (target >= 5x)`);

    const env = { PARTICLE_ACCESS_TOKEN: TOKEN, PARTICLE_API_URL: cloud.url };
    const pkg = path.join(__dirname, '..');
    // Inside the child: the time to require the package and to provision
    // (token/URL discovery, client and runtime start, one request).
    const oursOne = 'const t0 = process.hrtime.bigint(); const ms = () => Number(process.hrtime.bigint() - t0) / 1e6;' +
      `const d = require(${JSON.stringify(pkg)}); const loaded = ms();` +
      `d.provision(${JSON.stringify(ids[0])}, undefined, {})` +
      '.then(() => console.error(`maxrss_kib=${process.resourceUsage().maxRSS} require_ms=${loaded} provision_ms=${ms() - loaded}`))';
    const bareOne = 'console.error(`maxrss_kib=${process.resourceUsage().maxRSS}`)';
    // Interleaved, so a load change on the machine hits all three alike.
    const runs = 9;
    const a = [];
    const b = [];
    const bare = [];
    for (let i = 0; i < runs; i++) {
      a.push(fresh(['-e', oursOne], env));
      b.push(fresh([path.join(__dirname, 'original-main.js'), ids[1]], env));
      bare.push(fresh(['-e', bareOne], env));
    }
    const am = median(a.map((r) => r.ms));
    const bm = median(b.map((r) => r.ms));
    const ar = median(a.map((r) => r.rssMiB));
    const br = median(b.map((r) => r.rssMiB));
    console.log(`fresh process, load + provision one device (median of ${runs}): duo-provisioning ${am.toFixed(0)} ms, ` +
      `${ar.toFixed(1)} MiB peak RSS${a.every((r) => r.ok) ? '' : ' (FAILED)'}; original-style main.js ` +
      `${bm.toFixed(0)} ms, ${br.toFixed(1)} MiB${b.every((r) => r.ok) ? '' : ' (FAILED)'} ` +
      `(time ${(am / bm).toFixed(2)}, memory ${(ar / br).toFixed(2)} of the original's; target <= 0.33)`);
    console.log(`  inside the duo-provisioning process (median): require ${median(a.map((r) => r.requireMs)).toFixed(1)} ms, ` +
      `provision ${median(a.map((r) => r.provisionMs)).toFixed(1)} ms; a bare \`node -e\` process: ` +
      `${median(bare.map((r) => r.ms)).toFixed(0)} ms, ${median(bare.map((r) => r.rssMiB)).toFixed(1)} MiB peak RSS (the floor of any Node process)`);

    const load = Array.from({ length: runs }, () => {
      const run = spawnSync(process.execPath, ['-e',
        `const t=process.hrtime.bigint(); require(${JSON.stringify(pkg)}); ` +
        'console.log(Number(process.hrtime.bigint()-t)/1e6)'], { encoding: 'utf8' });
      return Number(run.stdout);
    });
    console.log(`addon load time (require, median of ${runs} fresh processes): ${median(load).toFixed(2)} ms`);
  } finally {
    await cloud.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
