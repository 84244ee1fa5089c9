// Runs every test/*.test.ts with node's test runner (Node 20 has no --test globs).
// A test file that never ends (a socket, timer or child process left open)
// must fail the run, not hang CI: each test has a time limit, and the whole
// run has a watchdog (TEST_WATCHDOG_MINUTES, default 30) that kills it loudly.
// TEST_TIMEOUT_MS sets the per-test limit (default 300000; 0 for none).
import { readdirSync } from "node:fs";
import { spawn } from "node:child_process";
const only = process.argv.slice(2);
const files = only.length ? only : readdirSync("test").filter((f) => f.endsWith(".test.ts")).sort().map((f) => `test/${f}`);
const perTest = Number(process.env.TEST_TIMEOUT_MS ?? 300000); // 0: no limit
const limit = perTest > 0 ? [`--test-timeout=${perTest}`] : [];
const child = spawn(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", ...limit, ...files], { stdio: "inherit", detached: true });
const minutes = Number(process.env.TEST_WATCHDOG_MINUTES ?? 30);
const watchdog = setTimeout(() => {
  console.error(`\nrun-tests: WATCHDOG: the test run did not end within ${minutes} minutes; a test file left a handle open (socket, timer, child process). Killing it.`);
  try { process.kill(-child.pid, "SIGKILL"); } catch {}
  process.exit(1);
}, minutes * 60_000);
child.on("exit", (code, signal) => { clearTimeout(watchdog); process.exit(code ?? (signal ? 1 : 0)); });
