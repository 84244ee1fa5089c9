// `npm run size`: size of the release firmware (raw, gzip), its sections,
// code per layer (assembly/<folder>/, by function name) and largest functions,
// the probe module, and the release size of each module's test entry.
// Writes the same as JSON to build/size.json.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { execFileSync } from "node:child_process";
import { readLayout } from "./wasm-sections.mjs";
import { buildTest, testEntries, WASM_FEATURES, compileFirmwareWithNames } from "./build.mjs";

const BUDGET = 80 * 1024;

async function main() {
  const fw = readFileSync("build/firmware.wasm");
  const layout = readLayout(fw);
  // Function names come from a names-preserving build of the same release (identical code).
  mkdirSync("build/size", { recursive: true });
  await compileFirmwareWithNames("build/size/firmware.names.asc.wasm");
  execFileSync("node_modules/.bin/wasm-opt", ["build/size/firmware.names.asc.wasm", "-Oz", "--converge", "--strip-producers", "-g", ...WASM_FEATURES, "-o", "build/size/firmware.names.wasm"]);
  const named = readLayout(readFileSync("build/size/firmware.names.wasm"));
  const functions = named.functionBodies
    .map((size, i) => ({ name: named.functionNames.get(i + named.importedFunctions) ?? `#${i + named.importedFunctions}`, size }))
    .sort((a, b) => b.size - a.size);
  // Code per layer: functions named assembly/<folder>/..., the stdlib (~lib), the rest.
  const layerOf = (name) => name.match(/^assembly\/([^/]+)\//)?.[1] ?? (name.startsWith("~lib/") ? "~lib" : "other");
  const byLayer = new Map();
  for (const f of functions) byLayer.set(layerOf(f.name), (byLayer.get(layerOf(f.name)) ?? 0) + f.size);
  const layers = [...byLayer].map(([layer, code]) => ({ layer, code })).sort((a, b) => b.code - a.code);

  const modules = [];
  for (const name of testEntries()) {
    await buildTest(name, "build/size", true);
    const b = readFileSync(`build/size/${name}.wasm`);
    modules.push({ module: name, bytes: b.length, gzip: gzipSync(b, { level: 9 }).length });
  }

  const report = {
    firmware: { file: "build/firmware.wasm", bytes: fw.length, gzip: gzipSync(fw, { level: 9 }).length, budget: BUDGET, withinBudget: fw.length <= BUDGET },
    sections: layout.sections.map(({ name, size }) => ({ name, size })),
    layers,
    largestFunctions: functions.slice(0, 15),
    modules,
  };
  try {
    const probe = readFileSync("build/probe.wasm");
    report.probe = { file: "build/probe.wasm", bytes: probe.length, gzip: gzipSync(probe, { level: 9 }).length };
  } catch { /* not built */ }
  writeFileSync("build/size.json", JSON.stringify(report, null, 2) + "\n");

  const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
  console.log(`firmware.wasm  ${report.firmware.bytes} B (${kb(report.firmware.bytes)}), gzip ${report.firmware.gzip} B; budget ${kb(BUDGET)}: ${report.firmware.withinBudget ? "ok" : "OVER"}`);
  console.log("\nsections:");
  for (const s of report.sections) console.log(`  ${s.name.padEnd(16)} ${String(s.size).padStart(7)} B`);
  console.log("\ncode by layer (function bodies):");
  for (const l of report.layers) console.log(`  ${l.layer.padEnd(16)} ${String(l.code).padStart(7)} B`);
  console.log("\nlargest functions:");
  for (const f of report.largestFunctions) console.log(`  ${String(f.size).padStart(7)} B  ${f.name}`);
  if (report.probe) console.log(`\nprobe.wasm (lwm2m-wasm probe, not in the firmware)  ${report.probe.bytes} B, gzip ${report.probe.gzip} B`);
  console.log("\nmodules (test entry built like the release: -Oz, no asserts):");
  for (const m of modules) console.log(`  ${m.module.padEnd(16)} ${String(m.bytes).padStart(7)} B  gzip ${m.gzip} B`);
  console.log("\nwritten build/size.json");
}
main();
