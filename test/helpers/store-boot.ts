// One power-up of the secure record store (assembly/storage/store.ts) built as
// a test entry (assembly/tests/storage.ts, or storage-small.ts with a smaller
// CAP_STORE_VALUE) over the Node host's flash and SE: the harness that
// storage.test.ts, storage-powerfail.test.ts and storage-small.test.ts share.
// A new StoreBoot on the same flash and SE is a power cycle.
import { loadTest, hex, type TestModule } from "./wasm";
import { createHostImports, FirmwareFatal } from "../../host-shim/node/host";
import type { NorFlash } from "../../host-shim/node/flash";
import type { SimulatedSecureElement } from "../../host-shim/node/se";
import { DeviceRng } from "../../host-shim/node/drbg";

/** StoreStatus (assembly/storage/store.ts). */
export const StoreStatus = {
  Ok: 0, Formatted: 1, Invalid: -1, AuthFailed: -5, Io: -6, TooSmall: -7, NotFound: -16, RolledBack: -17,
  NoSpace: -18, NotMounted: -19, TxnState: -20, ForeignStore: -21, Missing: -22, Corrupt: -23,
} as const;

export interface StoreExports {
  mount(): number; format(): number; get(id: number, out: number, cap: number): number; size(id: number): number;
  put(id: number, ptr: number, len: number): number; del(id: number): number; begin(): number; commit(): number; abort(): number;
  freeBytes(): number; gcCount(): number; recordCount(): number;
  /** storage-small only: the value capacity it was built with. */
  maxValueLen?: WebAssembly.Global;
}

const rng = new DeviceRng();

export class StoreBoot {
  readonly m: TestModule<StoreExports>;
  constructor(readonly flash: NorFlash, readonly se: SimulatedSecureElement, entry: "storage" | "storage-small" = "storage") {
    let mod!: TestModule<StoreExports>;
    const imports = createHostImports({
      rng, se, flash,
      net: { open: () => -1, send: () => -6, close: () => {} },
      clock: { monotonicMs: () => 0, wallSeconds: () => -1 },
      log: () => {},
      fatal: (code, line) => { throw new FirmwareFatal(code, line); },
    }, () => mod.exports.memory);
    mod = loadTest<StoreExports>(entry, imports);
    this.m = mod;
  }
  get x() { return this.m.exports; }
  mount(): number { return this.x.mount(); }
  put(id: number, v: Uint8Array): number { this.m.write(v); return this.x.put(id, this.m.scratch, v.length); }
  get(id: number): Uint8Array | number {
    const n = this.x.get(id, this.m.scratch, 4096);
    return n < 0 ? n : this.m.read(this.m.scratch, n);
  }
  /** All ids 1..maxId: value hex or status; absent ids left out. */
  state(maxId = 12): Record<number, string | number> {
    const out: Record<number, string | number> = {};
    for (let id = 1; id <= maxId; id++) {
      const v = this.get(id);
      if (v !== StoreStatus.NotFound) out[id] = typeof v === "number" ? v : hex(v);
    }
    return out;
  }
}

/**
 * Clears one bit in the body of every stored data record `id` (store.ts: header 'D', version 1,
 * id u16; 16-byte header): in the first byte from the body's fourth on that has a bit to clear
 * (NOR flash only clears bits; a ciphertext byte is 0 one time in 256).
 */
export function flipDataRecord(flash: NorFlash, id: number): number {
  const img = flash.read(0, flash.size) as Uint8Array;
  let n = 0;
  for (let a = flash.sectorSize; a + 20 < flash.size; a += 4) {
    if (img[a] === 0x44 && img[a + 1] === 1 && img[a + 2] === (id & 255) && img[a + 3] === id >> 8) {
      let at = a + 16 + 3;
      while (at < a + 16 + 19 && at < flash.size && img[at] === 0) at++;
      const b = img[at] || 0;
      if (b && flash.program(at, Uint8Array.of(b & (b - 1))) === 0) n++;
    }
  }
  return n;
}
