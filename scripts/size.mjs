// `npm run size`: for every build profile (profiles.json) the size of its
// release firmware (raw, gzip) against the profile's budget, its sections,
// code per layer (assembly/<folder>/, by function name) and largest
// functions; the probe module, and the release size of each module's test
// entry. Writes the same as JSON to build/size.json (`firmware` = the `full`
// profile, `profiles` = every profile).
//   node scripts/size.mjs [--no-modules]   (skip the test entries' release builds)
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { execFileSync } from "node:child_process";
import { readLayout } from "./wasm-sections.mjs";
import { buildTest, testEntries, WASM_FEATURES, compileFirmwareWithNames, profileNames, profileOutput, readProfiles, DEFAULT_PROFILE } from "./build.mjs";

/** One profile's release: bytes, gzip, budget, sections, code per layer, largest functions. */
async function profileReport(name) {
  const file = profileOutput(name);
  const budget = readProfiles().profiles[name].budgets?.moduleBytes ?? null;
  const fw = readFileSync(file);
  const layout = readLayout(fw);
  // Function names come from a names-preserving build of the same release (identical code).
  mkdirSync("build/size", { recursive: true });
  const stem = name === DEFAULT_PROFILE ? "firmware" : `firmware-${name}`;
  await compileFirmwareWithNames(`build/size/${stem}.names.asc.wasm`, name);
  execFileSync("node_modules/.bin/wasm-opt", [`build/size/${stem}.names.asc.wasm`, "-Oz", "--converge", "--strip-producers", "-g", ...WASM_FEATURES, "-o", `build/size/${stem}.names.wasm`]);
  const named = readLayout(readFileSync(`build/size/${stem}.names.wasm`));
  const functions = named.functionBodies
    .map((size, i) => ({ name: named.functionNames.get(i + named.importedFunctions) ?? `#${i + named.importedFunctions}`, size }))
    .sort((a, b) => b.size - a.size);
  // Code per layer: functions named assembly/<folder>/..., the stdlib (~lib), the rest.
  const layerOf = (name) => name.match(/^assembly\/([^/]+)\//)?.[1] ?? (name.startsWith("~lib/") ? "~lib" : "other");
  const byLayer = new Map();
  for (const f of functions) byLayer.set(layerOf(f.name), (byLayer.get(layerOf(f.name)) ?? 0) + f.size);
  const layers = [...byLayer].map(([layer, code]) => ({ layer, code })).sort((a, b) => b.code - a.code);
  return {
    profile: name, file, bytes: fw.length, gzip: gzipSync(fw, { level: 9 }).length, budget, withinBudget: budget === null || fw.length <= budget,
    sections: layout.sections.map(({ name, size }) => ({ name, size })),
    layers,
    largestFunctions: functions.slice(0, 15),
  };
}

async function main() {
  const profiles = [];
  for (const name of profileNames()) profiles.push(await profileReport(name));
  const full = profiles.find((p) => p.profile === DEFAULT_PROFILE);
  const modules = [];
  if (!process.argv.includes("--no-modules")) for (const name of testEntries()) {
    await buildTest(name, "build/size", true);
    const b = readFileSync(`build/size/${name}.wasm`);
    modules.push({ module: name, bytes: b.length, gzip: gzipSync(b, { level: 9 }).length });
  }

  const report = {
    firmware: { file: full.file, bytes: full.bytes, gzip: full.gzip, budget: full.budget, withinBudget: full.withinBudget },
    sections: full.sections,
    layers: full.layers,
    largestFunctions: full.largestFunctions,
    profiles,
    modules,
  };
  try {
    const probe = readFileSync("build/probe.wasm");
    report.probe = { file: "build/probe.wasm", bytes: probe.length, gzip: gzipSync(probe, { level: 9 }).length };
  } catch { /* not built */ }
  writeFileSync("build/size.json", JSON.stringify(report, null, 2) + "\n");

  const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
  console.log("profile      file                               bytes      gzip  budget");
  for (const p of profiles) {
    console.log(`${p.profile.padEnd(12)} ${p.file.padEnd(32)} ${String(p.bytes).padStart(8)} ${String(p.gzip).padStart(9)}  ${p.budget === null ? "-" : `${kb(p.budget)}: ${p.withinBudget ? "ok" : `OVER by ${p.bytes - p.budget} B`}`}`);
  }
  for (const p of profiles) {
    console.log(`\n== ${p.profile}: ${p.file} ${p.bytes} B (${kb(p.bytes)}), gzip ${p.gzip} B`);
    console.log("sections:");
    for (const s of p.sections) console.log(`  ${s.name.padEnd(16)} ${String(s.size).padStart(7)} B`);
    console.log("code by layer (function bodies):");
    for (const l of p.layers) console.log(`  ${l.layer.padEnd(16)} ${String(l.code).padStart(7)} B`);
    console.log("largest functions:");
    for (const f of p.largestFunctions) console.log(`  ${String(f.size).padStart(7)} B  ${f.name}`);
  }
  if (report.probe) console.log(`\nprobe.wasm (lwm2m-wasm probe, not in the firmware)  ${report.probe.bytes} B, gzip ${report.probe.gzip} B`);
  console.log("\nmodules (test entry built like the release: -Oz, no asserts):");
  for (const m of modules) console.log(`  ${m.module.padEnd(16)} ${String(m.bytes).padStart(7)} B  gzip ${m.gzip} B`);
  console.log("\nwritten build/size.json");
}
main();
