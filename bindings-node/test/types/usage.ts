// Compiled with `tsc --noEmit --strict` against the shipped index.d.ts.
import { provision, openDevice, VirtualDuo, LocalCloud, type DuoError, type ProvisionResult, type Progress } from 'duo-provisioning';

async function rig(dir: string): Promise<string> {
  const duo: VirtualDuo = VirtualDuo.create(dir, { deviceId: '2fff27fffc473530fff23637', timeFactor: 0.01 });
  const boot = await duo.boot();
  const generated: boolean = boot.generatedKey;
  duo.enterDfu();
  const device = await openDevice(duo.selector);
  const key = await device.readPrivateKey();
  const fingerprint: string | undefined = key.report.state === 'valid' ? key.report.fingerprint : undefined;
  const steps: string[] = [];
  const load = await device.writePrivateKey(key.slot, {
    backupDir: dir,
    onProgress: (p: Progress) => steps.push(`${p.phase} ${p.done}/${p.total} ${p.unit}`),
    signal: new AbortController().signal,
  });
  const verified: boolean = load.verified;
  device.close();
  const block: Buffer = LocalCloud.start({}).serverKeyBlock();
  const outcome: string | undefined = (await duo.boot()).connection?.outcome;
  void [steps, verified, block, outcome];

  const cloud = LocalCloud.start({ tokens: ['t'], devices: [duo.deviceId] });
  const controller = new AbortController();
  try {
    const result: ProvisionResult = await provision(duo.deviceId, 't', {
      apiUrl: cloud.url,
      productId: 88,
      signal: controller.signal,
    });
    return `${generated} ${fingerprint} ${result.fingerprint} ${result.attempts}`;
  } catch (e) {
    const err = e as DuoError;
    return `${err.code}: ${err.message} ${err.status ?? ''}`;
  } finally {
    await cloud.stop();
  }
}

void rig;
