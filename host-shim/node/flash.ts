// Simulated NOR flash behind the flash_* host imports: erased state 0xFF,
// programming only clears bits, erase works on whole sectors. File-backed
// images are written through on every operation, so a simulated reboot that
// reopens the file sees exactly what a power cut left behind.
import { EventEmitter } from "node:events";
import { closeSync, existsSync, fstatSync, openSync, readFileSync, writeSync } from "node:fs";
import { DeviceStateError } from "./status";

/** HostStatus values from assembly/host/abi.ts. */
export const FlashStatus = { Ok: 0, Invalid: -1, Io: -6, NotPermitted: -8 } as const;

export interface NorFlashOptions {
  /** Backing file; created erased if missing. In-memory when absent. */
  path?: string;
  size?: number; // default 64 KiB
  sectorSize?: number; // default 4 KiB
  /** Source of the torn length on a power cut, in [0, 1). Default Math.random. */
  random?: () => number;
}

/** Emits "powerlost" (with the torn operation's kind and address) when a cut fires. */
export class NorFlash extends EventEmitter {
  readonly size: number;
  readonly sectorSize: number;
  readonly path?: string;
  /** Operation counters (failed/rejected calls are not counted). */
  readonly stats = { reads: 0, programs: 0, erases: 0, bytesProgrammed: 0 };
  /** Erase count per sector (wear). */
  readonly sectorErases: Uint32Array;
  private image: Uint8Array;
  private fd: number | null = null;
  private random: () => number;
  private cutCountdown = 0; // 0 = no cut armed
  private lost = false;

  constructor(opts: NorFlashOptions = {}) {
    super();
    this.size = opts.size ?? 64 * 1024;
    this.sectorSize = opts.sectorSize ?? 4096;
    if (!(Number.isInteger(this.sectorSize) && this.sectorSize > 0 && Number.isInteger(this.size)
      && this.size > 0 && this.size % this.sectorSize === 0 && this.size <= 0x7fffffff)) {
      throw new RangeError("flash size must be a positive multiple of the sector size");
    }
    this.random = opts.random ?? Math.random;
    this.sectorErases = new Uint32Array(this.size / this.sectorSize);
    this.path = opts.path;
    if (opts.path === undefined) {
      this.image = new Uint8Array(this.size).fill(0xff);
    } else if (existsSync(opts.path)) {
      this.fd = openSync(opts.path, "r+");
      const n = fstatSync(this.fd).size;
      if (n !== this.size) {
        closeSync(this.fd);
        throw new DeviceStateError(`flash image ${opts.path} is ${n < this.size ? "truncated" : "extended"}: ${n} bytes, expected ${this.size}; refused (nothing was changed)`);
      }
      this.image = new Uint8Array(readFileSync(opts.path));
    } else {
      this.image = new Uint8Array(this.size).fill(0xff);
      this.fd = openSync(opts.path, "w+");
      this.writeThrough(0, this.size);
    }
  }

  get powerLost(): boolean { return this.lost; }

  /** The n-th subsequent program/erase (n ≥ 1) is torn; then every operation fails with Io. */
  cutPowerAfter(n: number): void {
    if (!(Number.isInteger(n) && n >= 1)) throw new RangeError("n must be an integer ≥ 1");
    this.cutCountdown = n;
  }

  /** Power back on (the torn state stays, as on real hardware); disarms any pending cut. */
  restorePower(): void {
    this.lost = false;
    this.cutCountdown = 0;
  }

  private inBounds(addr: number, len: number): boolean {
    return Number.isInteger(addr) && Number.isInteger(len) && addr >= 0 && len >= 0 && addr + len <= this.size;
  }

  /** True when this operation is the one the armed power cut tears. */
  private tearsNow(): boolean {
    if (this.cutCountdown === 0) return false;
    return --this.cutCountdown === 0;
  }

  /** Random length in [0, n): a torn operation never completes. */
  private tornLength(n: number): number {
    return Math.min(n - 1, Math.floor(this.random() * n));
  }

  private losePower(kind: string, addr: number): number {
    this.lost = true;
    this.emit("powerlost", kind, addr);
    return FlashStatus.Io;
  }

  private writeThrough(addr: number, len: number): void {
    if (this.fd !== null && len > 0) writeSync(this.fd, this.image, addr, len, addr);
  }

  /** A copy of [addr, addr+len), or Invalid / Io. */
  read(addr: number, len: number): Uint8Array | number {
    if (this.lost) return FlashStatus.Io;
    if (!this.inBounds(addr, len)) return FlashStatus.Invalid;
    this.stats.reads++;
    return this.image.slice(addr, addr + len);
  }

  /** new = old & data; NotPermitted (nothing written) if any bit would go 0 -> 1. */
  program(addr: number, data: Uint8Array): number {
    if (this.lost) return FlashStatus.Io;
    if (!(data instanceof Uint8Array) || !this.inBounds(addr, data.length)) return FlashStatus.Invalid;
    for (let i = 0; i < data.length; i++) {
      if (data[i] & ~this.image[addr + i]) return FlashStatus.NotPermitted;
    }
    if (data.length === 0) return FlashStatus.Ok;
    const torn = this.tearsNow();
    const n = torn ? this.tornLength(data.length) : data.length;
    for (let i = 0; i < n; i++) this.image[addr + i] &= data[i];
    this.writeThrough(addr, n);
    this.stats.programs++;
    this.stats.bytesProgrammed += n;
    return torn ? this.losePower("program", addr) : FlashStatus.Ok;
  }

  /** Erase the sector starting at addr (must be sector-aligned). */
  eraseSector(addr: number): number {
    if (this.lost) return FlashStatus.Io;
    if (!this.inBounds(addr, this.sectorSize) || addr % this.sectorSize !== 0) return FlashStatus.Invalid;
    const torn = this.tearsNow();
    const n = torn ? this.tornLength(this.sectorSize) : this.sectorSize;
    this.image.fill(0xff, addr, addr + n);
    this.writeThrough(addr, n);
    this.stats.erases++;
    this.sectorErases[addr / this.sectorSize]++;
    return torn ? this.losePower("erase", addr) : FlashStatus.Ok;
  }

  /** Close the backing file (the image stays readable in memory). */
  close(): void {
    if (this.fd !== null) { closeSync(this.fd); this.fd = null; }
  }
}
