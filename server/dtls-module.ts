// The firmware's DTLS server role for the development servers: the entry
// assembly/server/dtls_server.ts compiled with a GC runtime
// (`--runtime incremental`), so one instance serves many clients, creating a
// connection per client and freeing it (srvNew / srvFree). Built on first use
// into build/server/dtls-server.wasm (rebuilt when any assembly/ source
// changed: a content hash).
// Host services: a DRBG and a simulated SE of its own (the server's keys are
// imported into slot 0; ECDHE keys use slots 8..15).
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { createHostImports } from "../host-shim/node/host";
import { DeviceRng } from "../host-shim/node/drbg";
import { SimulatedSecureElement } from "../host-shim/node/se";
import { NorFlash } from "../host-shim/node/flash";
import { readNamespace } from "./as-constants";

const ROOT = join(__dirname, "..");
export const DTLS_SERVER_WASM = join(ROOT, "build", "server", "dtls-server.wasm");

/** SuiteBit, DtlsEvent and ConnState of the AssemblyScript sources. */
export const ServerSuite = readNamespace("assembly/dtls/suites.ts", "SuiteBit");
export const ServerEvent = readNamespace("assembly/dtls/alert.ts", "DtlsEvent");
export const ServerState = readNamespace("assembly/dtls/order.ts", "ConnState");

/** sha256 over every AssemblyScript source (path and content): what the server module is built from. */
function sourceHash(): string {
  const h = createHash("sha256");
  const walk = (dir: string): void => {
    for (const f of readdirSync(dir).sort()) {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith(".ts") || p.endsWith(".json")) h.update(p.slice(ROOT.length)).update(readFileSync(p));
    }
  };
  walk(join(ROOT, "assembly"));
  return h.digest("hex");
}

/** Compile the server module when missing or built from other sources (a content hash, not
 *  mtimes: a copied tree, e.g. npm run mutate's, must not reuse a stale module). */
export async function buildDtlsServerModule(force = false): Promise<string> {
  const stamp = DTLS_SERVER_WASM + ".sha256";
  const hash = sourceHash();
  if (!force && existsSync(DTLS_SERVER_WASM) && existsSync(stamp) && readFileSync(stamp, "utf8") === hash) return DTLS_SERVER_WASM;
  mkdirSync(join(ROOT, "build", "server"), { recursive: true });
  const asc = (await import("assemblyscript/dist/asc.js")).default;
  const { error, stderr } = await asc.main([
    "assembly/server/dtls_server.ts", "--config", "assembly/server/asconfig.json", "-o", DTLS_SERVER_WASM,
    "--runtime", "incremental", "--exportStart", "_initialize", "-O3", "--noAssert",
  ], { readFile: (name: string, base: string) => { try { return readFileSync(join(base === "." ? ROOT : join(ROOT, base), name), "utf8"); } catch { return null; } } } as any);
  if (error) throw new Error(`building the DTLS server module failed: ${error.message}\n${stderr.toString()}`);
  writeFileSync(stamp, hash);
  return DTLS_SERVER_WASM;
}

export interface DtlsServerModule {
  x: Record<string, any>;
  memory: WebAssembly.Memory;
  se: SimulatedSecureElement;
  scratch: number;
  write(b: Uint8Array, off?: number): number;
  read(ptr: number, len: number): Uint8Array;
}

export async function loadDtlsServerModule(): Promise<DtlsServerModule> {
  const file = await buildDtlsServerModule();
  const se = new SimulatedSecureElement();
  let memory!: WebAssembly.Memory;
  const imports = createHostImports({
    rng: new DeviceRng(), se, flash: new NorFlash(),
    net: { open: () => -1, send: () => -1, close: () => {} },
    clock: { monotonicMs: () => Math.floor(performance.now()), wallSeconds: () => Math.floor(Date.now() / 1000) },
    log: () => {},
    fatal: (code: number, line: number) => { throw new Error(`DTLS server module fatal ${code}: ${line}`); },
  }, () => memory) as WebAssembly.Imports;
  const env = { abort: () => { throw new Error("DTLS server module abort"); }, ...(imports.env as object) };
  const instance = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(file)), { ...imports, env });
  const x = instance.exports as Record<string, any>;
  memory = x.memory;
  if (typeof x._initialize === "function") x._initialize();
  const scratch: number = x.scratch();
  return {
    x, memory, se, scratch,
    write(b, off = 0) { new Uint8Array(memory.buffer).set(b, scratch + off); return scratch + off; },
    read(ptr, len) { return new Uint8Array(memory.buffer).slice(ptr, ptr + len); },
  };
}
