import assert from 'node:assert/strict';
import { test } from 'node:test';

import duo, * as named from 'duo-provisioning';
import { provision, VirtualDuo, generateKey } from 'duo-provisioning';

test('the ES module entry exports the same functions', () => {
  assert.equal(typeof provision, 'function');
  assert.equal(VirtualDuo, duo.VirtualDuo);
  assert.equal(generateKey().bits, 1024);
  // Every export of the CommonJS entry is a named export too.
  for (const name of Object.keys(duo)) assert.equal(named[name], duo[name], name);
});
