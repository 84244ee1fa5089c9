// `npm run size`: size of the release firmware (raw, gzip), its sections and
// largest functions, and the release size of each module's test entry.
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

  const modules = [];
  for (const name of testEntries()) {
    await buildTest(name, "build/size", true);
    const b = readFileSync(`build/size/${name}.wasm`);
    modules.push({ module: name, bytes: b.length, gzip: gzipSync(b, { level: 9 }).length });
  }

  const report = {
    firmware: { file: "build/firmware.wasm", bytes: fw.length, gzip: gzipSync(fw, { level: 9 }).length, budget: BUDGET, withinBudget: fw.length <= BUDGET },
    sections: layout.sections.map(({ name, size }) => ({ name, size })),
    largestFunctions: functions.slice(0, 15),
    modules,
  };
  writeFileSync("build/size.json", JSON.stringify(report, null, 2) + "\n");

  const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
  console.log(`firmware.wasm  ${report.firmware.bytes} B (${kb(report.firmware.bytes)}), gzip ${report.firmware.gzip} B; budget ${kb(BUDGET)}: ${report.firmware.withinBudget ? "ok" : "OVER"}`);
  console.log("\nsections:");
  for (const s of report.sections) console.log(`  ${s.name.padEnd(16)} ${String(s.size).padStart(7)} B`);
  console.log("\nlargest functions:");
  for (const f of report.largestFunctions) console.log(`  ${String(f.size).padStart(7)} B  ${f.name}`);
  console.log("\nmodules (test entry built like the release: -Oz, no asserts):");
  for (const m of modules) console.log(`  ${m.module.padEnd(16)} ${String(m.bytes).padStart(7)} B  gzip ${m.gzip} B`);
  console.log("\nwritten build/size.json");
}
main();
