// Flash mount: a superblock in sector 0 says the image is ours and which
// layout version it has. Torn or foreign contents are detected by CRC and the
// superblock is rewritten. It is written only then (no erase per boot); the
// sealed record store (store.ts) owns sectors 1.. .
import { flash_read, flash_program, flash_erase_sector, flash_size, flash_sector_size, HostStatus } from "../host/abi";
import { crc32 } from "../util/crc32";

const SUPERBLOCK_MAGIC: u32 = 0x464d574c; // "LWMF" little-endian
const LAYOUT_VERSION: u32 = 1;
const SB_LEN: i32 = 16; // magic(4) version(4) reserved(4) crc(4)
const sb = memory.data(16);

export namespace MountResult {
  export const Mounted: i32 = 0;
  export const Formatted: i32 = 1;
}

/** Mount the flash image: returns MountResult or a negative HostStatus. */
export function mountFlash(): i32 {
  const size = flash_size(), sector = flash_sector_size();
  if (size <= 0 || sector <= 0 || sector > size || size % sector != 0) return HostStatus.Invalid;
  const st = flash_read(0, sb, SB_LEN);
  if (st != HostStatus.Ok) return st;
  if (load<u32>(sb) == SUPERBLOCK_MAGIC && load<u32>(sb, 4) == LAYOUT_VERSION && load<u32>(sb, 12) == crc32(sb, 12)) {
    return MountResult.Mounted;
  }
  const e = flash_erase_sector(0);
  if (e != HostStatus.Ok) return e;
  store<u32>(sb, SUPERBLOCK_MAGIC);
  store<u32>(sb, LAYOUT_VERSION, 4);
  store<u32>(sb, 0, 8);
  store<u32>(sb, crc32(sb, 12), 12);
  const p = flash_program(0, sb, SB_LEN);
  return p != HostStatus.Ok ? p : MountResult.Formatted;
}
