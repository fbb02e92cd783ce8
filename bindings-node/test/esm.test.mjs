import assert from 'node:assert/strict';
import { test } from 'node:test';

import duo, { provision, VirtualDuo, generateKey } from 'duo-provisioning';

test('the ES module entry exports the same functions', () => {
  assert.equal(typeof provision, 'function');
  assert.equal(VirtualDuo, duo.VirtualDuo);
  assert.equal(generateKey().bits, 1024);
});
