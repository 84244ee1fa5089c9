// Mutation run over the security checks (issue 7): every entry of
// test/mutations/mutations.mjs removes or weakens one check by a one-line
// edit; the test files listed with it must then fail ("killed"). A mutation
// that passes them ("survived") is a check that no test would notice
// missing.
//
// The working tree is never touched: each worker gets its own copy of the
// tree (sources, build/ and a node_modules link) under build/mutate/,
// applies one mutation there, rebuilds only the mutation's build targets
// (scripts/build.mjs, one target each), runs only its test files, then puts
// the source and the built modules back. Needs a built tree (npm run build).
//
//   npm run mutate                      all mutations, 2 workers
//   npm run mutate -- --only id1,id2    a subset
//   npm run mutate -- --jobs 1          one worker (at most 2)
//   npm run mutate -- --list            the list, with snippet checks only
//   npm run mutate -- --no-baseline     skip the first run of the listed test
//                                       files on the unmutated copy (without a
//                                       green baseline a "killed" means nothing)
//
// Prints a table and writes build/mutate.json. Exit code 1 when a snippet is
// missing or not unique, when a mutation survives, or when a build fails.
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const LIST = join(root, "test/mutations/mutations.mjs");
/** Per mutation: the build and the test run end after this (a hang counts as killed, and says so). */
const TEST_LIMIT_MS = Number(process.env.MUTATE_TEST_LIMIT_MS ?? 600_000);

function arg(name) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const only = arg("--only")?.split(",").map((s) => s.trim()).filter(Boolean);
const jobs = Math.max(1, Math.min(2, Number(arg("--jobs") ?? 2)));
const listOnly = process.argv.includes("--list");
const baseline = !process.argv.includes("--no-baseline");

/** Build targets of scripts/build.mjs and the files each one writes. */
function artifacts(target) {
  if (target === "firmware") return ["build/firmware.wasm"];
  if (target === "probe") return ["build/probe.wasm"];
  if (target.startsWith("test:")) return [`build/test/${target.slice(5)}.wasm`];
  throw new Error(`unknown build target ${target}`);
}
function buildArgs(target) {
  if (target === "firmware") return ["release"];
  if (target === "probe") return ["probe"];
  return ["tests", "--only", target.slice(5)];
}

const count = (hay, needle) => {
  let n = 0;
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + 1)) n++;
  return n;
};

// ---- the list, checked against the working tree before anything runs ----
const { mutations } = await import(pathToFileURL(LIST).href);
const ids = new Set();
const problems = [];
for (const m of mutations) {
  if (ids.has(m.id)) problems.push(`${m.id}: duplicate id`);
  ids.add(m.id);
  for (const k of ["id", "file", "find", "replace", "build", "tests"]) if (m[k] === undefined) problems.push(`${m.id}: no ${k}`);
  if (m.find === m.replace) problems.push(`${m.id}: replace equals find`);
  if (m.find?.includes("\n") || m.replace?.includes("\n")) problems.push(`${m.id}: not a one-line mutation`);
  const file = join(root, m.file);
  if (!existsSync(file)) { problems.push(`${m.id}: ${m.file} does not exist`); continue; }
  const n = count(readFileSync(file, "utf8"), m.find);
  if (n !== 1) problems.push(`${m.id}: the snippet occurs ${n} times in ${m.file} (must be exactly once): ${JSON.stringify(m.find)}`);
  for (const t of m.build ?? []) { try { artifacts(t); } catch (e) { problems.push(`${m.id}: ${e.message}`); } }
  for (const t of m.tests ?? []) if (!existsSync(join(root, t))) problems.push(`${m.id}: test file ${t} does not exist`);
}
for (const id of only ?? []) if (!ids.has(id)) problems.push(`--only: no mutation ${id}`);
if (problems.length) {
  console.error(`mutate: the mutation list does not match the tree (${LIST}):\n  ` + problems.join("\n  "));
  process.exit(1);
}
const todo = only ? mutations.filter((m) => only.includes(m.id)) : mutations;
if (listOnly) {
  for (const m of todo) console.log(`${m.id.padEnd(34)} ${m.file}  [${m.build.join(" ")}]  ${m.tests.join(" ")}`);
  console.log(`${todo.length} mutations, every snippet found exactly once`);
  process.exit(0);
}
for (const f of ["build/firmware.wasm", "build/probe.wasm", "build/test/dtls.wasm"]) {
  if (!existsSync(join(root, f))) { console.error(`mutate: ${f} is missing; run npm run build first`); process.exit(1); }
}

// ---- workers: one copy of the tree each ----
// The copies live in build/mutate/ (not the OS temp dir, where another
// process's clean-up can remove them mid-run).
const SKIP = new Set([".git", "node_modules", "build"]);
const WORK = join(root, "build/mutate");
// The copies are deeper than the checkout: the ../shared beside it (libest's CA scripts) is named for them.
const SHARED_DIR = process.env.SHARED_DIR ?? resolve(root, "../shared");
function makeCopy(i) {
  mkdirSync(WORK, { recursive: true });
  const dir = mkdtempSync(join(WORK, `w${i}-`));
  for (const e of readdirSync(root)) {
    if (SKIP.has(e)) continue;
    cpSync(join(root, e), join(dir, e), { recursive: true });
  }
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  mkdirSync(join(dir, "build"));
  for (const e of readdirSync(join(root, "build"))) {
    if (e === "mutate") continue;
    if (e === "peers") symlinkSync(join(root, "build/peers"), join(dir, "build/peers")); // large, read-only
    else cpSync(join(root, "build", e), join(dir, "build", e), { recursive: true });
  }
  return dir;
}

/** Process groups of the builds and test runs under way (killed on Ctrl-C). */
const running = new Set();

/** Runs a command in its own process group; resolves { code, ms, out } (code null: time limit). */
function run(cmd, args, cwd, limitMs) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    // A mutation that makes a test wait forever is caught by the per-test limit, sooner than by the default 300 s.
    const env = { ...process.env, FORCE_COLOR: "0", TEST_TIMEOUT_MS: process.env.TEST_TIMEOUT_MS ?? "90000", SHARED_DIR };
    const child = spawn(cmd, args, { cwd, detached: true, env });
    running.add(child.pid);
    let out = "";
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { out += d; });
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; try { process.kill(-child.pid, "SIGKILL"); } catch {} }, limitMs);
    child.on("error", (e) => { out += `\n${e.message}`; });
    child.on("exit", (code) => {
      running.delete(child.pid);
      clearTimeout(timer);
      resolve({ code: timedOut ? null : code, ms: Date.now() - t0, out });
    });
  });
}

/** The failing tests' names from node's spec reporter output. */
function failures(out) {
  const names = [];
  for (const line of out.split("\n")) {
    const m = /^\s*✖ (.+?)(?: \(\d[\d.]*m?s\))?$/.exec(line);
    if (m && !names.includes(m[1]) && !/^failing tests:/.test(m[1])) names.push(m[1]);
  }
  return names;
}

async function mutateOne(dir, m) {
  if (!existsSync(join(dir, "scripts/build.mjs"))) throw new Error(`mutate: the copy ${dir} disappeared during the run`);
  const file = join(dir, m.file);
  const original = readFileSync(file, "utf8");
  const saved = new Map();
  for (const t of m.build) for (const a of artifacts(t)) saved.set(a, readFileSync(join(dir, a)));
  const result = { id: m.id, file: m.file, area: m.area ?? "", status: "", buildMs: 0, testMs: 0, killedBy: [], note: "" };
  try {
    writeFileSync(file, original.replace(m.find, m.replace));
    for (const t of m.build) {
      const b = await run(process.execPath, [join(dir, "scripts/build.mjs"), ...buildArgs(t)], dir, TEST_LIMIT_MS);
      result.buildMs += b.ms;
      if (b.code !== 0) {
        result.status = "build-error";
        result.note = (b.out.split("\n").filter((l) => /ERROR|error/i.test(l)).slice(0, 3).join(" | ") || b.out.trim().split("\n").slice(-3).join(" | ")).slice(0, 300);
        return result;
      }
    }
    const r = await run(process.execPath, [join(dir, "scripts/run-tests.mjs"), ...m.tests], dir, TEST_LIMIT_MS);
    result.testMs = r.ms;
    if (r.code === 0) result.status = "survived";
    else {
      result.status = "killed";
      result.killedBy = failures(r.out).slice(0, 5);
      if (r.code === null) result.note = `test run stopped after ${TEST_LIMIT_MS / 1000} s`;
    }
    return result;
  } finally {
    writeFileSync(file, original);
    for (const [a, bytes] of saved) writeFileSync(join(dir, a), bytes);
  }
}

const t0 = Date.now();
const copies = [];
process.on("SIGINT", () => {
  for (const pid of running) try { process.kill(-pid, "SIGKILL"); } catch {}
  for (const d of copies) rmSync(d, { recursive: true, force: true });
  process.exit(130);
});
const results = [];
let next = 0;
try {
  for (let i = 0; i < Math.min(jobs, todo.length); i++) copies.push(makeCopy(i));
  if (baseline && copies.length) {
    const files = [...new Set(todo.flatMap((m) => m.tests))].sort();
    const b = await run(process.execPath, [join(copies[0], "scripts/run-tests.mjs"), ...files], copies[0], TEST_LIMIT_MS);
    console.log(`baseline: ${files.length} test files on the unmutated tree, ${(b.ms / 1000).toFixed(0)} s: ${b.code === 0 ? "green" : "FAILED"}`);
    if (b.code !== 0) {
      console.error(b.out.split("\n").filter((l) => /✖|not ok|Error/.test(l)).slice(0, 20).join("\n"));
      console.error("mutate: the listed tests fail without any mutation; fix the tree first (or --no-baseline)");
      process.exitCode = 1;
      throw new Error("baseline failed");
    }
  }
  await Promise.all(copies.map(async (dir) => {
    while (next < todo.length) {
      const m = todo[next++];
      const r = await mutateOne(dir, m);
      results.push(r);
      console.log(`${r.status.padEnd(11)} ${m.id.padEnd(34)} build ${(r.buildMs / 1000).toFixed(0).padStart(3)} s  tests ${(r.testMs / 1000).toFixed(0).padStart(3)} s` +
        (r.killedBy.length ? `  by: ${r.killedBy[0]}` : "") + (r.note ? `  (${r.note})` : ""));
    }
  }));
} catch (e) {
  if (e.message !== "baseline failed") throw e;
} finally {
  for (const d of copies) rmSync(d, { recursive: true, force: true });
  rmSync(WORK, { recursive: true, force: true });
}
if (process.exitCode) process.exit(process.exitCode);
const totalMs = Date.now() - t0;

// ---- report ----
const order = new Map(todo.map((m, i) => [m.id, i]));
results.sort((a, b) => order.get(a.id) - order.get(b.id));
const by = (s) => results.filter((r) => r.status === s).length;
console.log("\n| mutation | area | file | result | build s | tests s | caught by |");
console.log("|---|---|---|---|---|---|---|");
for (const r of results) {
  console.log(`| ${r.id} | ${r.area} | ${r.file} | ${r.status} | ${(r.buildMs / 1000).toFixed(0)} | ${(r.testMs / 1000).toFixed(0)} | ${r.killedBy[0] ?? r.note} |`);
}
const summary = { total: results.length, killed: by("killed"), survived: by("survived"), buildErrors: by("build-error"), jobs, totalSeconds: Math.round(totalMs / 1000) };
console.log(`\n${summary.killed} killed, ${summary.survived} survived, ${summary.buildErrors} build errors of ${summary.total} mutations; ${jobs} worker(s), ${summary.totalSeconds} s in all`);
mkdirSync(join(root, "build"), { recursive: true });
writeFileSync(join(root, "build/mutate.json"), JSON.stringify({ ...summary, date: new Date().toISOString(), results }, null, 2) + "\n");
process.exit(summary.survived || summary.buildErrors ? 1 : 0);
