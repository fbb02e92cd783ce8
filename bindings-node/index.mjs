// ES module entry: `import { provision } from 'duo-provisioning'`.
import { createRequire } from 'node:module';

const native = createRequire(import.meta.url)('./index.js');

export const {
  generateKey,
  inspectKey,
  formatServerKey,
  parseServerKey,
  parseDct,
  factoryDct,
  listDevices,
  openDevice,
  provision,
  provisionMany,
  VirtualDuo,
  Device,
  LocalCloud,
} = native;
export default native;
