#!/usr/bin/env node
'use strict';
// A committed launcher, so package managers can link `zdt` at install time, before the first build creates dist/.
require('../dist/cli.cjs');
