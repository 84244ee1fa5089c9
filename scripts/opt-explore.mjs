// Optimiser settings explored for build/firmware.wasm (issue 11 §3): each asc
// level pair compiled once (same entry, transforms and --use as the release),
// then each wasm-opt pass list run on it; prints bytes (total, code, data) and
// writes build/opt/explore.json. Results: docs/bench.md "Code size: optimiser settings".
// Usage: [OPT_ONLY=Oz+converge,...] node scripts/opt-explore.mjs [asc-variant ...]
import asc from "assemblyscript/dist/asc.js";
import { Module } from "assemblyscript";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { readLayout, mergeDataSegments } from "./wasm-sections.mjs";
import { WASM_FEATURES } from "./build.mjs";
import heapExports from "./asc-transforms/heap-exports.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);
mkdirSync("build/opt", { recursive: true });

const O3S2 = ["--optimizeLevel", "3", "--shrinkLevel", "2", "--converge"];
// asc turns any optimizeLevel >= 3 or shrinkLevel >= 2 into Binaryen level 4 and
// sets the inliner itself (always-inline 2, flexible 65, one-caller 80, partial
// inlining of 4 ifs, no functions with loops); `tune` overrides those setters
// of assemblyscript's Module for one compile (exploration only).
const ASC = {
  o0: { flags: ["-O0"] }, // asc optimizeLevel 0 shrinkLevel 0: Binaryen's passes only from wasm-opt
  o3s2: { flags: O3S2 }, // the release
  o2s2: { flags: ["--optimizeLevel", "2", "--shrinkLevel", "2", "--converge"] },
  o1s2: { flags: ["--optimizeLevel", "1", "--shrinkLevel", "2", "--converge"] },
  o3s1: { flags: ["--optimizeLevel", "3", "--shrinkLevel", "1", "--converge"] },
  "o3s2-pii0": { flags: O3S2, tune: { setPartialInliningIfs: 0 } },
  "o3s2-fimfs0": { flags: O3S2, tune: { setFlexibleInlineMaxSize: 0 } },
  "o3s2-aimfs1": { flags: O3S2, tune: { setAlwaysInlineMaxSize: 1 } },
  "o3s2-ocimfs40": { flags: O3S2, tune: { setOneCallerInlineMaxSize: 40 } },
  "o3s2-ocimfs150": { flags: O3S2, tune: { setOneCallerInlineMaxSize: 150 } },
  "o3s2-ocimfs-all": { flags: O3S2, tune: { setOneCallerInlineMaxSize: -1 } },
  "o3s2-loops": { flags: O3S2, tune: { setAllowInliningFunctionsWithLoops: true } },
};

/** Runs fn with the given Module setters pinned to the given values. */
async function tuned(tune, fn) {
  const saved = {};
  for (const [name, value] of Object.entries(tune ?? {})) {
    saved[name] = Module.prototype[name];
    Module.prototype[name] = function () { return saved[name].call(this, value); };
  }
  try { return await fn(); } finally { Object.assign(Module.prototype, saved); }
}
const OPT = {
  none: null,
  "Oz+converge": ["-Oz", "--converge"],
  Os: ["-Os", "--converge"],
  "Oz+Oz": ["-Oz", "-Oz", "--converge"],
  "Oz-noinline": ["-Oz", "--converge", "--inlining-optimizing", "-fimfs", "0", "--one-caller-inline-max-function-size", "0"],
  "Oz-fimfs10": ["-Oz", "--converge", "-fimfs", "10"],
  "Oz-ocimfs20": ["-Oz", "--converge", "--one-caller-inline-max-function-size", "20"],
  "Oz+msf": ["-Oz", "--merge-similar-functions", "--duplicate-function-elimination", "--converge"],
  "Oz+gufa": ["--gufa", "-Oz", "--converge"],
  "Oz+cse": ["-Oz", "--local-cse", "--converge"],
  "Oz+iit": ["-Oz", "--ignore-implicit-traps", "--converge"],
  "Oz+lmu": ["--low-memory-unused", "-Oz", "--converge"],
  "O3+Oz": ["-O3", "-Oz", "--converge"],
  "O4+Oz": ["-O4", "-Oz", "--converge"],
  "Oz+mono": ["--monomorphize", "-Oz", "--converge"],
  "Oz+tnh": ["-Oz", "--traps-never-happen", "--converge"],
  "Oz+zfm": ["--zero-filled-memory", "-Oz", "--converge"],
};

function layout(file) {
  const b = readFileSync(file);
  const l = readLayout(b);
  const sec = (n) => l.sections.filter((s) => s.name === n).reduce((a, s) => a + s.size, 0);
  return { bytes: b.length, code: sec("code"), data: sec("data") };
}

const variants = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(ASC);
for (const v of variants) if (!ASC[v]) throw new Error(`unknown asc variant ${v}: ${Object.keys(ASC).join(", ")}`);
const rows = [];
for (const v of variants) {
  const out = `build/opt/${v}.asc.wasm`;
  const args = ["assembly/firmware/main.ts", "--config", "asconfig.json", "--target", "release", "-o", out, ...ASC[v].flags];
  // The release target's levels are overridden by the flags after it.
  const { error, stderr } = await tuned(ASC[v].tune, () => asc.main(args, { transforms: [heapExports] }));
  if (error) { process.stderr.write(stderr.toString()); throw error; }
  // OPT_ONLY=name,name limits the wasm-opt lists (each run takes 10–20 s).
  const only = process.env.OPT_ONLY?.split(",");
  for (const [name, passes] of Object.entries(OPT).filter(([n]) => !only || only.includes(n))) {
    const file = `build/opt/${v}.${name}.wasm`;
    const t0 = Date.now();
    if (passes) execFileSync("node_modules/.bin/wasm-opt", [out, ...passes, "--strip-debug", "--strip-producers", ...WASM_FEATURES, "-o", file]);
    else writeFileSync(file, readFileSync(out));
    writeFileSync(file, mergeDataSegments(readFileSync(file)));
    const r = { asc: v, wasmOpt: name, ...layout(file), seconds: (Date.now() - t0) / 1000 };
    rows.push(r);
    console.log(`${v.padEnd(6)} ${name.padEnd(14)} ${String(r.bytes).padStart(7)} B  code ${r.code}  data ${r.data}  (${r.seconds}s)`);
  }
}
writeFileSync("build/opt/explore.json", JSON.stringify(rows, null, 2) + "\n");
