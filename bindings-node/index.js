// duo-provisioning: the native addon built by `npm install` (scripts/build.js).
'use strict';

module.exports = require('./duo-provisioning.node');
