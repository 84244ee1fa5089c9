// Builds the firmware (release + debug) and every test entry in assembly/tests.
// Usage: node scripts/build.mjs [firmware|tests|all] [--only NAME]
import asc from "assemblyscript/dist/asc.js";
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, statSync, existsSync } from "node:fs";
import { dirname, join, basename } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);

// Features AssemblyScript emits; wasm-opt must be told (no feature section).
export const WASM_FEATURES = [
  "--enable-bulk-memory", "--enable-sign-ext", "--enable-mutable-globals",
  "--enable-nontrapping-float-to-int",
];

async function compile(args, label) {
  const { error, stderr } = await asc.main(args, {});
  if (error) {
    process.stderr.write(stderr.toString());
    throw new Error(`asc failed for ${label}: ${error.message}`);
  }
}

function wasmOpt(input, output, level = "-Oz") {
  const bin = join(root, "node_modules/.bin/wasm-opt");
  execFileSync(bin, [input, level, "--converge", "--strip-debug", "--strip-producers", ...WASM_FEATURES, "-o", output], { stdio: "inherit" });
}

export async function buildFirmware() {
  mkdirSync("build", { recursive: true });
  await compile(["assembly/firmware/main.ts", "--config", "asconfig.json", "--target", "release"], "firmware release");
  wasmOpt("build/firmware.asc.wasm", "build/firmware.wasm");
  await compile(["assembly/firmware/main.ts", "--config", "asconfig.json", "--target", "debug"], "firmware debug");
}

/** The release build again with a name section (same code), for size reports. */
export async function compileFirmwareWithNames(outFile) {
  await compile(["assembly/firmware/main.ts", "--config", "asconfig.json", "--target", "release", "--debug", "-o", outFile], "firmware names");
}

/** Test entries keep asserts (a trap is a finding) but are optimised like shipped code. */
export function testEntries() {
  return readdirSync("assembly/tests").filter((f) => f.endsWith(".ts") && !f.startsWith("_")).map((f) => basename(f, ".ts"));
}

export async function buildTest(name, outDir = "build/test", release = false) {
  mkdirSync(outDir, { recursive: true });
  // An entry-less config: otherwise asc reads ./asconfig.json and adds the firmware entry.
  const args = [`assembly/tests/${name}.ts`, "--config", "assembly/tests/asconfig.json", "-o", `${outDir}/${name}.wasm`, "--runtime", "stub", "--exportStart", "_initialize"];
  // Module sizes: like the release (no asserts, aborts become plain traps, no messages).
  if (release) args.push("-Oz", "--converge", "--noAssert", "--use", "abort=");
  else args.push("-O3", "--debug");
  await compile(args, `test ${name}`);
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
async function cli() {
  const what = process.argv[2] ?? "all";
  const onlyIdx = process.argv.indexOf("--only");
  const only = onlyIdx > 0 ? process.argv[onlyIdx + 1] : null;
  if (what === "firmware" || what === "all") await buildFirmware();
  if (what === "tests" || what === "all") {
    for (const t of testEntries()) if (!only || only === t) await buildTest(t);
  }
  if (existsSync("build/firmware.wasm")) console.log(`build/firmware.wasm ${statSync("build/firmware.wasm").size} bytes`);
}
if (isMain) cli().catch((e) => { console.error(e.message); process.exit(1); });
