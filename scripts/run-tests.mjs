// Runs every test/*.test.ts with node's test runner (Node 20 has no --test globs).
// A test file that never ends (a socket, timer or child process left open)
// must fail the run, not hang CI: each test has a time limit, and each run has
// a watchdog (TEST_WATCHDOG_MINUTES, default 30) that kills it loudly.
// TEST_TIMEOUT_MS sets the per-test limit (default 300000; 0 for none).
//
// Build profiles (issue 11, profiles.json): the whole suite (no file named)
// runs on the default profile `full`, then again on every other profile with
// LWM2M_PROFILE set (host-shim/node/profile.ts: its firmware and test-entry
// variants). A file whose header says `// @needs FEATURE` is left out of a
// profile that lacks the feature (one line says so); single tests skip
// themselves (test/helpers/profile.ts needs()). TEST_PROFILES=full,... picks
// the profiles; LWM2M_PROFILE=NAME runs just that one; named files run on
// `full` only unless one of these is set.
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { DEFAULT_PROFILE, profileNames, lackedFeatures, fileNeeds, flagOf } from "./profiles.mjs";

const only = process.argv.slice(2);
const files = only.length ? only : readdirSync("test").filter((f) => f.endsWith(".test.ts")).sort().map((f) => `test/${f}`);
const profiles = process.env.LWM2M_PROFILE ? [process.env.LWM2M_PROFILE]
  : process.env.TEST_PROFILES ? process.env.TEST_PROFILES.split(",").filter(Boolean)
  : only.length ? [DEFAULT_PROFILE] : profileNames();
const perTest = Number(process.env.TEST_TIMEOUT_MS ?? 300000); // 0: no limit
const limit = perTest > 0 ? [`--test-timeout=${perTest}`] : [];
const minutes = Number(process.env.TEST_WATCHDOG_MINUTES ?? 30);

function run(profile, list) {
  return new Promise((resolve) => {
    const env = { ...process.env, LWM2M_PROFILE: profile };
    // A TAP copy of the run beside the spec output: the failures are listed again at the very end
    // (CI shows only the tail of a long run).
    mkdirSync("build/test-results", { recursive: true });
    const tap = ["--test-reporter=spec", "--test-reporter-destination=stdout", "--test-reporter=tap", `--test-reporter-destination=${tapFile(profile)}`];
    const child = spawn(process.execPath, ["--import", "tsx", "--test", ...tap, ...limit, ...list], { stdio: "inherit", detached: true, env });
    const watchdog = setTimeout(() => {
      console.error(`\nrun-tests: WATCHDOG: the ${profile} run did not end within ${minutes} minutes; a test file left a handle open (socket, timer, child process). Killing it.`);
      try { process.kill(-child.pid, "SIGKILL"); } catch {}
      process.exit(1);
    }, minutes * 60_000);
    child.on("exit", (code, signal) => { clearTimeout(watchdog); resolve(code ?? (signal ? 1 : 0)); });
  });
}

const tapFile = (profile) => `build/test-results/${profile}.tap`;

// The failing tests of one run, from its TAP copy: name, where, and the error's first line.
function failuresOf(profile) {
  let lines;
  try { lines = readFileSync(tapFile(profile), "utf8").split("\n"); } catch { return ["(no TAP copy of the run)"]; }
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^(\s*)not ok \d+ - (.*)$/.exec(lines[i]);
    if (!m) continue;
    let where = "", error = "";
    for (let j = i + 1; j < lines.length && !/^\s*(not )?ok \d+/.test(lines[j]); j++) {
      const l = lines[j].trim();
      if (!where && l.startsWith("location:")) where = l.slice(9).trim().replace(/^'|'$/g, "");
      if (!error && l.startsWith("error:")) {
        // the message: inline, or the first non-empty lines of a block scalar (e.g. "Expected values…", "9 !== 21")
        error = l.slice(6).trim().replace(/^[|>]-?$/, "");
        if (!error) error = lines.slice(j + 1, j + 6).map((x) => x.trim()).filter((x) => x && !/^[a-z]+:/.test(x)).slice(0, 2).join(" ");
      }
    }
    out.push(`${m[1]}${m[2]}${where ? `  (${where})` : ""}${error ? `\n${m[1]}    ${error.slice(0, 300)}` : ""}`);
  }
  return out.length ? out : ["(no failing test in the TAP copy: the run itself failed)"];
}

let failed = 0;
const failures = [];
const summary = [];
for (const profile of profiles) {
  const lacked = new Set(lackedFeatures(profile));
  const list = [];
  for (const f of files) {
    const missing = fileNeeds(readFileSync(f, "utf8")).filter((x) => lacked.has(x));
    if (missing.length) console.log(`run-tests: ${profile}: skip ${f}: ${profile} lacks ${missing.map((x) => `${x} (${flagOf(x)})`).join(", ")}`);
    else list.push(f);
  }
  if (profiles.length > 1 || profile !== DEFAULT_PROFILE) console.log(`\nrun-tests: profile ${profile}: ${list.length} of ${files.length} test files\n`);
  const t0 = Date.now();
  const code = list.length ? await run(profile, list) : 0;
  summary.push(`run-tests: profile ${profile}: ${code === 0 ? "pass" : "FAIL"} (${list.length} files, ${((Date.now() - t0) / 60000).toFixed(1)} min)`);
  if (code !== 0) { failed++; failures.push(`run-tests: profile ${profile}: failing tests:`, ...failuresOf(profile)); }
}
if (failures.length) console.log(`\n${failures.join("\n")}`);
if (summary.length > 1) console.log(`\n${summary.join("\n")}`);
process.exit(failed ? 1 : 0);
