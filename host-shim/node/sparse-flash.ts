// A lazily backed NOR flash for fleets: the same behaviour as NorFlash
// (erased state 0xFF, programming only clears bits, whole-sector erase, the
// same status codes and file format) but memory is held in 256-byte pages,
// taken when something is programmed into them and given back when their
// sector is erased. A device's store writes a few hundred bytes into two of
// its sixteen 4 KiB sectors, so a thousand devices do not hold 64 MiB of 0xFF.
// File-backed images are the same 64 KiB files as NorFlash's (a `device
// --state` folder and a fleet's per-device folder are interchangeable); each
// operation is written through, opening the file for the write only, so a
// fleet of thousands holds no file descriptors.
// No power-cut simulation: that stays NorFlash's (test/storage-powerfail).
import { closeSync, existsSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { FlashStatus } from "./flash";
import type { FlashService } from "./host";

/** Granularity of the memory taken (a sector size that is not a multiple of it is used whole). */
const PAGE = 256;

export interface SparseNorFlashOptions {
  /** Backing file (NorFlash's format); created erased if missing. In memory when absent. */
  path?: string;
  size?: number; // default 64 KiB
  sectorSize?: number; // default 4 KiB
}

export class SparseNorFlash implements FlashService {
  readonly size: number;
  readonly sectorSize: number;
  readonly path?: string;
  readonly stats = { reads: 0, programs: 0, erases: 0, bytesProgrammed: 0 };
  /** Programmed pages; undefined = erased (all 0xFF, no memory). */
  private readonly pages: (Uint8Array | undefined)[];
  private readonly pageSize: number;

  constructor(opts: SparseNorFlashOptions = {}) {
    this.size = opts.size ?? 64 * 1024;
    this.sectorSize = opts.sectorSize ?? 4096;
    if (!(Number.isInteger(this.sectorSize) && this.sectorSize > 0 && Number.isInteger(this.size)
      && this.size > 0 && this.size % this.sectorSize === 0 && this.size <= 0x7fffffff)) {
      throw new RangeError("flash size must be a positive multiple of the sector size");
    }
    this.pageSize = this.sectorSize % PAGE === 0 ? PAGE : this.sectorSize;
    this.pages = new Array(this.size / this.pageSize).fill(undefined);
    this.path = opts.path;
    if (opts.path === undefined) return;
    if (existsSync(opts.path)) {
      if (statSync(opts.path).size !== this.size) throw new RangeError(`flash image ${opts.path} does not have the configured size ${this.size}`);
      const image = readFileSync(opts.path);
      for (let p = 0; p < this.pages.length; p++) {
        const part = image.subarray(p * this.pageSize, (p + 1) * this.pageSize);
        if (part.some((b) => b !== 0xff)) this.pages[p] = new Uint8Array(part);
      }
    } else {
      this.writeThrough(0, new Uint8Array(this.size).fill(0xff));
    }
  }

  /** Bytes of flash image held in memory (programmed pages). */
  get residentBytes(): number { return this.pages.filter((p) => p).length * this.pageSize; }

  private inBounds(addr: number, len: number): boolean {
    return Number.isInteger(addr) && Number.isInteger(len) && addr >= 0 && len >= 0 && addr + len <= this.size;
  }

  private byteAt(a: number): number {
    const p = this.pages[Math.floor(a / this.pageSize)];
    return p ? p[a % this.pageSize] : 0xff;
  }

  private writeThrough(addr: number, bytes: Uint8Array): void {
    if (this.path === undefined || bytes.length === 0) return;
    const fd = openSync(this.path, existsSync(this.path) ? "r+" : "w+");
    try { writeSync(fd, bytes, 0, bytes.length, addr); } finally { closeSync(fd); }
  }

  read(addr: number, len: number): Uint8Array | number {
    if (!this.inBounds(addr, len)) return FlashStatus.Invalid;
    this.stats.reads++;
    const out = new Uint8Array(len).fill(0xff);
    for (let o = 0; o < len;) {
      const a = addr + o, pi = Math.floor(a / this.pageSize), off = a % this.pageSize;
      const n = Math.min(len - o, this.pageSize - off);
      const p = this.pages[pi];
      if (p) out.set(p.subarray(off, off + n), o);
      o += n;
    }
    return out;
  }

  /** new = old & data; NotPermitted (nothing written) if any bit would go 0 -> 1. */
  program(addr: number, data: Uint8Array): number {
    if (!(data instanceof Uint8Array) || !this.inBounds(addr, data.length)) return FlashStatus.Invalid;
    for (let i = 0; i < data.length; i++) if (data[i] & ~this.byteAt(addr + i)) return FlashStatus.NotPermitted;
    if (data.length === 0) return FlashStatus.Ok;
    for (let i = 0; i < data.length; i++) {
      const a = addr + i, pi = Math.floor(a / this.pageSize);
      const p = this.pages[pi] ?? (this.pages[pi] = new Uint8Array(this.pageSize).fill(0xff));
      p[a % this.pageSize] &= data[i];
    }
    this.writeThrough(addr, this.read(addr, data.length) as Uint8Array);
    this.stats.reads--; // the write-through's own read
    this.stats.programs++;
    this.stats.bytesProgrammed += data.length;
    return FlashStatus.Ok;
  }

  /** Nothing to release: the backing file is opened for each write only. */
  close(): void {}

  /** Erase the sector starting at addr (must be sector-aligned): its memory is released. */
  eraseSector(addr: number): number {
    if (!this.inBounds(addr, this.sectorSize) || addr % this.sectorSize !== 0) return FlashStatus.Invalid;
    const first = addr / this.pageSize;
    this.pages.fill(undefined, first, first + this.sectorSize / this.pageSize);
    this.writeThrough(addr, new Uint8Array(this.sectorSize).fill(0xff));
    this.stats.erases++;
    return FlashStatus.Ok;
  }
}
