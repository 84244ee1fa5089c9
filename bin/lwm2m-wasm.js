#!/usr/bin/env node
// CLI entry (`npx lwm2m-wasm ...`): the host shim and servers are TypeScript, run through tsx.
if (process.argv[2] === "fleet" && !process.execArgv.includes("--max-semi-space-size=1")) {
  // Thousands of devices in one process: a small young generation keeps V8 from holding tens of MiB of
  // semi-space (about 30 KiB a device at 1,000), and --expose-gc lets the fleet collect before it measures.
  // Ctrl-C reaches both processes (one process group); the child de-registers its devices and exits.
  const child = require("node:child_process").spawn(process.execPath,
    ["--max-semi-space-size=1", "--expose-gc", ...process.execArgv, __filename, ...process.argv.slice(2)], { stdio: "inherit" });
  for (const sig of ["SIGINT", "SIGTERM", "SIGUSR2"]) process.on(sig, () => child.kill(sig));
  child.on("exit", (code, signal) => { process.exitCode = code ?? (signal ? 1 : 0); });
  return;
}
require("tsx/cjs");
if (process.argv[2] === "server") {
  // The development servers (LwM2M Bootstrap-Server + LwM2M Server): server/README.md.
  const { runServerCli } = require("../server/cli.ts");
  Promise.resolve(runServerCli(process.argv.slice(3))).then(
    () => {},
    (err) => { console.error(err.message); process.exitCode = 1; },
  );
} else if (process.argv[2] === "probe") {
  // One DTLS handshake + CoAP GET with the firmware in the simulator: host-shim/node/probe.ts.
  require("../host-shim/node/probe.ts").runProbe(process.argv.slice(3)).then((c) => { process.exitCode = c; });
} else if (process.argv[2] === "demo") {
  // `npm start`: development servers + one device, the whole flow printed step by step.
  const { runDemo, DEFAULT_DEMO } = require("../host-shim/node/demo.ts");
  runDemo(DEFAULT_DEMO).then((code) => { process.exitCode = code; }, (err) => { console.error(err); process.exitCode = 1; });
} else {
  require("../host-shim/node/cli.ts");
}
