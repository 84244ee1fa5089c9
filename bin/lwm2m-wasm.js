#!/usr/bin/env node
// CLI entry (`npx lwm2m-wasm ...`): the host shim is TypeScript, run through tsx.
require("tsx/cjs");
require("../host-shim/node/cli.ts");
