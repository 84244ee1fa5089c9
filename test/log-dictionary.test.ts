// The log dictionary of the release module (scripts/asc-transforms/ascii-literals.mjs
// LOG_DICTIONARY, scripts/log-dictionary.mjs): the module carries tokens, not
// the texts; the file beside it belongs to that module only; the hosts decode.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LogDictionary } from "../host-shim/node/log-dictionary";
import { Device, FIRMWARE_PATH } from "../host-shim/node/device";

test("log dictionary: the release module holds no log text, its .logdict holds it, and a booting device prints the texts", () => {
  const wasm = readFileSync(FIRMWARE_PATH);
  const dict = LogDictionary.forModule(FIRMWARE_PATH, wasm);
  assert.ok(dict, "build/firmware.wasm.logdict exists beside the release module");
  assert.ok(dict.texts.length > 100, `${dict.texts.length} texts`);
  for (const t of ["DRBG: health tests passed", "store: mounted, records: "]) {
    assert.ok(dict.texts.includes(t), `"${t}" is in the dictionary`);
    assert.equal(wasm.indexOf(Buffer.from(t, "latin1")), -1, `"${t}" is not in the module`);
  }
  assert.equal(WebAssembly.Module.customSections(new WebAssembly.Module(wasm), "lwm2m.logdict").length, 0, "the section was moved out");
  const dev = new Device({ manualTimers: true });
  try {
    dev.start();
    const text = dev.logs.map((l) => l.text).join("\n");
    assert.match(text, /DRBG: health tests passed/);
    assert.match(text, /store: mounted, records: \d+/);
    assert.doesNotMatch(text, /<#\d+>|[\x80-\xff]/, "every token decoded");
  } finally {
    dev.stop();
  }
});

test("log dictionary: a dictionary of another build is refused; tokens decode to their text, <#id> when unknown, <#?> when cut", () => {
  const dir = mkdtempSync(join(tmpdir(), "logdict-"));
  try {
    const wasm = readFileSync(FIRMWARE_PATH);
    const other = join(dir, "firmware.wasm");
    const changed = Buffer.from(wasm);
    changed[changed.length - 1] ^= 1;
    writeFileSync(other, changed);
    copyFileSync(`${FIRMWARE_PATH}.logdict`, `${other}.logdict`);
    assert.throws(() => LogDictionary.forModule(other, changed), /belongs to another build/);
    assert.equal(LogDictionary.matching(changed, [other, FIRMWARE_PATH]), null);
    const d = LogDictionary.forModule(FIRMWARE_PATH, wasm)!;
    const id = d.texts.indexOf("DRBG: health tests passed");
    const line = Uint8Array.from([0x41, 0x80 | (id >> 8), id & 0xff, 0x42, 0xff, 0xff, 0x43, 0x80]);
    assert.equal(LogDictionary.decode(line, d), "ADRBG: health tests passedB<#32767>C<#?>");
    assert.equal(LogDictionary.decode(line, null), `A<#${id}>B<#32767>C<#?>`);
    assert.equal(LogDictionary.decodeMarkers(`x <#${id}> <#32767>`, d), "x DRBG: health tests passed <#32767>");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
