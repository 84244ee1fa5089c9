// Loads a test module built from assembly/tests/NAME.ts (build/test/NAME.wasm)
// and gives typed access to its exports and a scratch area in linear memory.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_PROFILE, PROFILE } from "../../host-shim/node/profile";

export const ROOT = join(__dirname, "..", "..");

/** Thrown by the env.abort import: an AssemblyScript abort (assert/bounds) = a firmware bug. */
export class WasmAbort extends Error {}

function readAsString(mem: WebAssembly.Memory, ptr: number): string {
  if (!ptr) return "";
  const bytes = new Uint8Array(mem.buffer);
  const len = new Uint32Array(mem.buffer, ptr - 4, 1)[0];
  let s = "";
  for (let i = 0; i < len; i += 2) s += String.fromCharCode(bytes[ptr + i] | (bytes[ptr + i + 1] << 8));
  return s;
}

export interface TestModule<E = Record<string, any>> {
  exports: E & { memory: WebAssembly.Memory; scratch?: () => number; scratchSize?: () => number };
  /** A fresh view of linear memory (views go stale when memory grows). */
  mem(): Uint8Array;
  /** Copy bytes into linear memory at ptr (default: the scratch area). */
  write(bytes: Uint8Array, ptr?: number): number;
  read(ptr: number, len: number): Uint8Array;
  scratch: number;
}

export function loadWasm<E = Record<string, any>>(file: string, imports: WebAssembly.Imports = {}): TestModule<E> {
  const bin = readFileSync(file);
  let memory!: WebAssembly.Memory;
  const env = {
    abort(msg: number, fileName: number, line: number, col: number) {
      throw new WasmAbort(`wasm abort: ${readAsString(memory, msg)} at ${readAsString(memory, fileName)}:${line}:${col}`);
    },
    ...(imports.env as object),
  };
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bin), { ...imports, env });
  const exports = instance.exports as any;
  memory = exports.memory;
  if (typeof exports._initialize === "function") exports._initialize();
  const scratch = typeof exports.scratch === "function" ? exports.scratch() : 0;
  return {
    exports,
    scratch,
    mem: () => new Uint8Array(memory.buffer),
    write(bytes: Uint8Array, ptr = scratch) {
      new Uint8Array(memory.buffer).set(bytes, ptr);
      return ptr;
    },
    read(ptr: number, len: number) {
      return new Uint8Array(memory.buffer).slice(ptr, ptr + len);
    },
  };
}

/** build/test/NAME.wasm, or under LWM2M_PROFILE its profile's variant build/test/<profile>/NAME.wasm
 *  (scripts/build.mjs builds one for each entry that imports assembly/profile.ts). */
export function testModulePath(name: string): string {
  if (PROFILE !== DEFAULT_PROFILE) {
    const dir = join(ROOT, "build", "test", PROFILE);
    if (!existsSync(dir)) throw new Error(`LWM2M_PROFILE=${PROFILE}: no ${dir}; run 'node scripts/build.mjs tests'`);
    if (existsSync(join(dir, `${name}.wasm`))) return join(dir, `${name}.wasm`);
  }
  return join(ROOT, "build", "test", `${name}.wasm`);
}

export function loadTest<E = Record<string, any>>(name: string, imports: WebAssembly.Imports = {}): TestModule<E> {
  return loadWasm<E>(testModulePath(name), imports);
}

export const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
export const unhex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ""), "hex"));
