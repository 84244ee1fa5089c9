// Builds the firmware (release of every build profile in profiles.json, the
// `full` debug build), the probe module of `lwm2m-wasm probe` and every test
// entry in assembly/tests.
// Usage: node scripts/build.mjs [firmware|tests|all] [--only NAME]
//        node scripts/build.mjs release [--profile NAME]   (one profile's release: build/firmware.wasm for `full`)
//        node scripts/build.mjs probe   (build/probe.wasm alone)
import asc from "assemblyscript/dist/asc.js";
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync, statSync, existsSync } from "node:fs";
import { dirname, join, basename } from "node:path";
import { fileURLToPath } from "node:url";
import { mergeDataSegments } from "./wasm-sections.mjs";
import heapExports from "./asc-transforms/heap-exports.mjs";
import { DEFAULT_PROFILE, profileNames, profileUseFlags, profileOutput, profileSensitive, testProfileFlags } from "./profiles.mjs";
import { splitLogDictionary } from "./log-dictionary.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);

// Features AssemblyScript emits; wasm-opt must be told (no feature section).
export const WASM_FEATURES = [
  "--enable-bulk-memory", "--enable-sign-ext", "--enable-mutable-globals",
  "--enable-nontrapping-float-to-int",
];

async function compile(args, label, transforms = []) {
  const { error, stderr } = await asc.main(args, { transforms });
  if (error) {
    process.stderr.write(stderr.toString());
    throw new Error(`asc failed for ${label}: ${error.message}`);
  }
}

/** wasm-opt, then adjacent data segments merged (same memory image, fewer segment headers). */
function wasmOpt(input, output, level = "-Oz") {
  const bin = join(root, "node_modules/.bin/wasm-opt");
  execFileSync(bin, [input, level, "--converge", "--strip-debug", "--strip-producers", ...WASM_FEATURES, "-o", output], { stdio: "inherit" });
  writeFileSync(output, mergeDataSegments(readFileSync(output)));
  splitLogDictionary(output);
}

// ---- build profiles: scripts/profiles.mjs reads profiles.json (issue 11) ----
export { readProfiles, DEFAULT_PROFILE, profileNames, profileUseFlags, checkProfile, profileOutput } from "./profiles.mjs";

/** One profile's release (scripts/mutate.mjs rebuilds just `full`: build/firmware.wasm). */
export async function buildFirmwareRelease(profile = DEFAULT_PROFILE) {
  mkdirSync("build", { recursive: true });
  const out = profileOutput(profile);
  const asmOut = out.replace(/\.wasm$/, ".asc.wasm");
  mkdirSync(dirname(out), { recursive: true });
  // __heap_base/__data_end exported for the C hosts (host-shim/ABI.md)
  await compile(["assembly/firmware/main.ts", "--config", "asconfig.json", "--target", "release", "-o", asmOut, ...profileUseFlags(profile)],
    `firmware release (${profile})`, [heapExports]);
  wasmOpt(asmOut, out);
}

export async function buildFirmware() {
  for (const p of profileNames()) await buildFirmwareRelease(p);
  await compile(["assembly/firmware/main.ts", "--config", "asconfig.json", "--target", "debug"], "firmware debug");
  await buildProbe();
}

/** asconfig.json's transforms (scripts/asc-transforms). */
export function firmwareTransforms() {
  return JSON.parse(readFileSync("asconfig.json", "utf8")).options.transform ?? [];
}

/** The options of asconfig.json's release target (and its shared options) as asc flags, without outFile. */
export function releaseFlags() {
  const cfg = JSON.parse(readFileSync("asconfig.json", "utf8"));
  const opts = { ...cfg.options, ...cfg.targets.release };
  delete opts.outFile;
  const flags = [];
  for (const [k, v] of Object.entries(opts)) {
    if (v === true) flags.push(`--${k}`);
    else if (Array.isArray(v)) for (const x of v) flags.push(`--${k}`, String(x));
    else if (v !== false) flags.push(`--${k}`, String(v));
  }
  return flags;
}

/** `lwm2m-wasm probe` (host-shim/node/probe.ts) runs assembly/probe/probe.ts as its own
 *  module, build/probe.wasm, compiled exactly like the firmware release (same flags, same
 *  wasm-opt pass); the shipped firmware does not carry it. */
export async function buildProbe(outFile = "build/probe.wasm") {
  const asmOut = outFile.replace(/\.wasm$/, ".asc.wasm");
  // The entry-less config: ./asconfig.json would add the firmware entry.
  await compile(["assembly/probe/probe.ts", "--config", "assembly/tests/asconfig.json", "-o", asmOut, ...releaseFlags()], "probe release");
  wasmOpt(asmOut, outFile);
}

/** The release build of a profile again with a name section (same code), for size reports. */
export async function compileFirmwareWithNames(outFile, profile = DEFAULT_PROFILE) {
  await compile(["assembly/firmware/main.ts", "--config", "asconfig.json", "--target", "release", "--debug", "-o", outFile, ...profileUseFlags(profile)],
    `firmware names (${profile})`);
}

/** Test entries keep asserts (a trap is a finding) but are optimised like shipped code. */
export function testEntries() {
  return readdirSync("assembly/tests").filter((f) => f.endsWith(".ts") && !f.startsWith("_")).map((f) => basename(f, ".ts"));
}

/** The capacities a test entry fixes itself (`@global const CAP_X`: storage-small's record size,
 *  the model entry's arena with room for its test Object); a profile's value does not replace them. */
function entryFixed(name) {
  return new Set([...readFileSync(join(root, "assembly/tests", `${name}.ts`), "utf8").matchAll(/@global\s+const\s+(\w+)/g)].map((m) => m[1]));
}

/** Where a profile's test entries go: build/test for the default profile, build/test/<profile>
 *  for the others (only the profile-sensitive entries; test/helpers/wasm.ts falls back). */
export function testOutDir(profile = DEFAULT_PROFILE) {
  return profile === DEFAULT_PROFILE ? "build/test" : `build/test/${profile}`;
}

export async function buildTest(name, outDir = "build/test", release = false, profile = DEFAULT_PROFILE) {
  mkdirSync(outDir, { recursive: true });
  // An entry-less config: otherwise asc reads ./asconfig.json and adds the firmware entry.
  const args = [`assembly/tests/${name}.ts`, "--config", "assembly/tests/asconfig.json", "-o", `${outDir}/${name}.wasm`, "--runtime", "stub", "--exportStart", "_initialize",
    // the firmware's transforms (asconfig.json), so that tested code is compiled like shipped code
    ...firmwareTransforms().flatMap((t) => ["--transform", t])];
  // Module sizes: like the release (no asserts, aborts become plain traps, no messages).
  if (release) args.push("-Oz", "--converge", "--noAssert", "--use", "abort=");
  else args.push("-O3", "--debug");
  args.push(...testProfileFlags(profile, entryFixed(name)));
  await compile(args, `test ${name}${profile === DEFAULT_PROFILE ? "" : ` (${profile})`}`);
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
async function cli() {
  const what = process.argv[2] ?? "all";
  const onlyIdx = process.argv.indexOf("--only");
  const only = onlyIdx > 0 ? process.argv[onlyIdx + 1] : null;
  if (what === "firmware" || what === "all") await buildFirmware();
  const profIdx = process.argv.indexOf("--profile");
  if (what === "release") await buildFirmwareRelease(profIdx > 0 ? process.argv[profIdx + 1] : DEFAULT_PROFILE);
  if (what === "probe") await buildProbe();
  if (what === "tests" || what === "all") {
    for (const t of testEntries()) if (!only || only === t) await buildTest(t);
    // every other profile's variant of the profile-sensitive entries (LWM2M_PROFILE runs load them)
    for (const p of profileNames()) if (p !== DEFAULT_PROFILE) {
      for (const t of testEntries()) if ((!only || only === t) && profileSensitive(t)) await buildTest(t, testOutDir(p), false, p);
    }
  }
  for (const f of [...profileNames().map(profileOutput), "build/probe.wasm"]) if (existsSync(f)) console.log(`${f} ${statSync(f).size} bytes`);
}
if (isMain) cli().catch((e) => { console.error(e.message); process.exit(1); });
