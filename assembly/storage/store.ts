// Secure record store on raw NOR flash (SE-2, SE-3, DTLS-10, BS-5).
// A log of sealed records in sectors 1.. of the flash (sector 0 is the
// superblock of ./flash.ts). Every change is a transaction: data records
// (value sealed by the SE, AAD = label, header with id and generation, store
// epoch), then one commit record whose manifest lists the (id, generation)
// of every live record, authenticated by the SE. The commit is bound to the
// SE's monotonic counter, which moves twice per commit (odd = commit in
// flight, even = stable), so an older flash image is refused (RolledBack) and
// a power cut leaves the state before or after the interrupted operation.
// GC copies live records, still sealed, into a fresh sector and erases the
// oldest one (the scheme of Zephyr NVS/ZMS). Format on flash: docs/storage.md.
// The store never holds plaintext: values go straight from the caller's
// buffer into se_seal and from se_open into the caller's buffer (SE-3).
import {
  flash_read, flash_program, flash_erase_sector, flash_size, flash_sector_size,
  se_seal, se_open, se_counter, HostStatus, SE_SEAL_OVERHEAD,
} from "../host/abi";
import { crc32 } from "../util/crc32";
import { Cap } from "../profile";

/** Results: a length or Ok/Formatted (>= 0), or an error (< 0). */
export namespace StoreStatus {
  export const Ok: i32 = 0;
  export const Formatted: i32 = 1; // mount: no store of ours was there; an empty one was made
  export const Invalid: i32 = HostStatus.Invalid; // bad id/length/buffer, or unusable flash geometry
  export const AuthFailed: i32 = HostStatus.AuthFailed; // record (or the newest commit) tampered or missing
  export const Io: i32 = HostStatus.Io; // flash or SE failure, power cut: mount again
  export const TooSmall: i32 = HostStatus.TooSmall; // get: output buffer too small
  export const NotFound: i32 = -16;
  export const RolledBack: i32 = -17; // the flash is older (or other) than the SE counter says: refused
  export const NoSpace: i32 = -18; // store full (nothing changed)
  export const NotMounted: i32 = -19; // mount first (again after an Io failure)
  export const TxnState: i32 = -20; // begin inside a transaction, commit/abort outside one
  /** mount: the flash holds a committed store, but this SE never committed anything (its key
   *  store was replaced or lost): refused, never re-formatted silently; storeFormat() on request. */
  export const ForeignStore: i32 = -21;
  /** mount: the SE has committed a store, but the flash holds none (erased, zeroed, replaced). */
  export const Missing: i32 = -22;
  /** mount: the newest commit record is damaged (its CRC fails: a bit flip), an older one is not newest. */
  export const Corrupt: i32 = -23;
}

/** Record ids used by the firmware (1..0xFFFE are valid). */
export namespace RecordId {
  export const FactoryBootstrap: i32 = 1; // factory Bootstrap-Server account (SEC-1)
  export const Lwm2mConfig: i32 = 2; // Security/Server objects written by bootstrap (BS-5)
  export const DtlsSessionFirst: i32 = 3; // DTLS session state per server, 3..8 (DTLS-10)
  export const DtlsSessionLast: i32 = 8;
  export const EstCredential: i32 = 9; // EST-enrolled certificate + its SE key slot (assembly/est/credential.ts)
  export const EstConfig: i32 = 10; // EST server URI, renewal point (firmware/est-state.ts)
  export const EstTrust: i32 = 11; // the explicit EST trust anchor, DER (firmware/est-state.ts)
  export const DtlsKeptFirst: i32 = 12; // a DTLS connection kept across deep sleep per connection, 12..14 (firmware/keep.ts)
  export const ObservationsFirst: i32 = 18; // observations kept across deep sleep per server connection (1..): 19.. (firmware/observe-store.ts)
  export const ObservationsLast: i32 = 23; // (16, 17 and 24.. are firmware/persist.ts's)
}

export const MAX_VALUE_LEN: i32 = Cap.STORE_VALUE; // profiles.json (2048 in `full`)
export const MAX_RECORDS: i32 = 32; // live ids
export const MAX_TXN_RECORDS: i32 = 12; // ids changed in one transaction

const FIRST_SECTOR: i32 = 1; // sector 0 belongs to flash.ts (superblock)
const MAX_SECTORS: i32 = 64;
const SECTOR_MAGIC: u32 = 0x5353574c; // "LWSS"
const LABEL: u32 = 0x3153574c; // "LWS1": domain of our se_seal AAD
const FORMAT_VERSION: u8 = 1;
const KIND_DATA: u8 = 0x44; // 'D'
const KIND_COMMIT: u8 = 0x43; // 'C'
const HDR: i32 = 16; // sector header and record header size
const ENTRY: i32 = 6; // manifest entry: id u16, generation u32
const COMMIT_MIN: i32 = 4 + SE_SEAL_OVERHEAD; // epoch + tag
const MAX_DATA_BODY: i32 = MAX_VALUE_LEN + SE_SEAL_OVERHEAD;
// The record buffer holds the largest data record (any MAX_VALUE_LEN a profile sets, padded
// to 4) and the largest commit record; every flash read into it stays within REC_MAX.
const REC_DATA_MAX: i32 = HDR + ((MAX_DATA_BODY + 3) & ~3) + 4;
const REC_COMMIT_MAX: i32 = HDR + ((COMMIT_MIN + MAX_RECORDS * ENTRY + 3) & ~3) + 4;
const REC_MAX: i32 = REC_DATA_MAX > REC_COMMIT_MAX ? REC_DATA_MAX : REC_COMMIT_MAX;
const MAX_COUNTER: i64 = 0xfffffff0; // generations are u32 on flash
const NO_ADDR: i32 = -1; // manifest entry whose record was not found (tampered)
const DELETED: i32 = -2; // pending entry: delete

const recRaw = memory.data(4 + REC_MAX, 4); // LABEL, then one record
const rec: usize = recRaw + 4;
/** The record buffer is scratch inside each store call: nothing in it is
 *  kept from one call to the next. Between calls a caller may borrow it
 *  (STORE_SCRATCH_SIZE bytes) for data that no store call outlives
 *  (firmware/transport.ts: the DTLS transmit buffer). */
export const STORE_SCRATCH: usize = recRaw;
export const STORE_SCRATCH_SIZE: i32 = 4 + REC_MAX;
const hdr = memory.data(HDR, 4);
const aad = memory.data(4 + HDR + 4, 4); // LABEL, data record header, epoch
// Index entries (12 bytes): id u16, body length u16, generation u32, flash address i32.
const committed = memory.data(MAX_RECORDS * 12, 4); // sorted by id
const pending = memory.data(MAX_TXN_RECORDS * 12, 4);
const sectorSeq = memory.data(MAX_SECTORS * 4, 4); // 0 = free (erased or dirty)

let mounted = false;
let notMountedStatus: i32 = StoreStatus.NotMounted;
let base: i32 = 0; // flash address of the first store sector
let secSize: i32 = 0;
let nSectors: i32 = 0;
let freeSectors: i32 = 0;
let maxSeq: u32 = 0;
let head: i32 = -1; // sector being appended to
let headPos: i32 = 0; // next free offset in the head sector
let value: i64 = 0; // counter value of the newest commit (even)
let seOdd = false; // SE counter = value + 1: a commit is in flight
let epoch: u32 = 0; // value of the commit that formatted the store
let commitAddr: i32 = -1;
let commitBody: i32 = 0;
let nCommitted: i32 = 0;
let nPending: i32 = 0;
let inTxn = false;
let wipeAll = false;
let gcRounds: i32 = 0;
// mount scan results
let bestValue: u32 = 0;
let bestAddr: i32 = -1;
let damagedValue: u32 = 0; // newest commit record whose CRC fails (bit flip, tampering)

// ---- small helpers --------------------------------------------------------

function recSize(bodyLen: i32): i32 { return HDR + ((bodyLen + 3) & ~3) + 4; }
function sectorAddr(i: i32): i32 { return base + i * secSize; }
function seqOf(i: i32): u32 { return load<u32>(sectorSeq + (<usize>i << 2)); }
function setSeq(i: i32, s: u32): void { store<u32>(sectorSeq + (<usize>i << 2), s); }
function entryAt(table: usize, i: i32): usize { return table + <usize>(i * 12); }
function commitBodyLen(k: i32): i32 { return COMMIT_MIN + k * ENTRY; }

/** Index of `id` in the sorted committed table, or -(insertion point) - 1. */
function findCommitted(id: i32): i32 {
  let i = 0;
  for (; i < nCommitted; i++) {
    const e = <i32>load<u16>(entryAt(committed, i));
    if (e == id) return i;
    if (e > id) break;
  }
  return -i - 1;
}

function findPending(id: i32): i32 {
  for (let i = 0; i < nPending; i++) if (<i32>load<u16>(entryAt(pending, i)) == id) return i;
  return -1;
}

/** After a failure that may leave RAM and flash apart: every call returns `st` until the next mount. */
function fail(st: i32): i32 {
  mounted = false;
  inTxn = false;
  notMountedStatus = st == StoreStatus.RolledBack || st == StoreStatus.AuthFailed || st == StoreStatus.Invalid ||
    st == StoreStatus.Corrupt || st == StoreStatus.ForeignStore || st == StoreStatus.Missing ? st : StoreStatus.NotMounted;
  return st;
}

/** Offset just past the last byte that is not 0xFF in sector `i` (0 = erased), or -1 on Io. */
function usedExtent(i: i32): i32 {
  let end = secSize;
  while (end > 0) {
    const n = end < REC_MAX ? end : REC_MAX; // `rec` holds REC_MAX bytes: fewer than 2048 when a profile sets a smaller MAX_VALUE_LEN
    const start = end - n;
    if (flash_read(sectorAddr(i) + start, rec, n) != HostStatus.Ok) return -1;
    for (let j = n - 1; j >= 0; j--) if (load<u8>(rec + <usize>j) != 0xff) return start + j + 1;
    end = start;
  }
  return 0;
}

/** Body length of the record header in `hdr` when it is well formed and the
 *  record fits in `room` bytes, else -1. */
function headerBodyLen(room: i32): i32 {
  const kind = load<u8>(hdr);
  const id = <i32>load<u16>(hdr, 2);
  const len = <i32>load<u16>(hdr, 4);
  if (load<u8>(hdr, 1) != FORMAT_VERSION || load<u16>(hdr, 6) != 0 || load<u32>(hdr, 12) != crc32(hdr, 12)) return -1;
  if (kind == KIND_DATA) {
    if (id == 0 || id == 0xffff || len < SE_SEAL_OVERHEAD || len > MAX_DATA_BODY) return -1;
  } else if (kind == KIND_COMMIT) {
    if (id != 0 || len < COMMIT_MIN || len > commitBodyLen(MAX_RECORDS) || (len - COMMIT_MIN) % ENTRY != 0) return -1;
  } else {
    return -1;
  }
  return recSize(len) <= room ? len : -1;
}

/** 1 when the record at `addr` (of `size` bytes) has a good CRC, 0 if not, -1 on Io. Leaves it in `rec`. */
function checkRecord(addr: i32, size: i32): i32 {
  if (flash_read(addr, rec, size) != HostStatus.Ok) return -1;
  return load<u32>(rec + <usize>(size - 4)) == crc32(rec, size - 4) ? 1 : 0;
}

/** Write a record header (with its CRC) at `rec`. */
function finishRecord(kind: u8, id: i32, len: i32, gen: u32): void {
  store<u8>(rec, kind);
  store<u8>(rec, FORMAT_VERSION, 1);
  store<u16>(rec, <u16>id, 2);
  store<u16>(rec, <u16>len, 4);
  store<u16>(rec, 0, 6);
  store<u32>(rec, gen, 8);
  store<u32>(rec, crc32(rec, 12), 12);
}

/** Zero padding and the trailer CRC of the record in `rec`; returns its size. */
function trailer(len: i32): i32 {
  const size = recSize(len);
  memory.fill(rec + <usize>(HDR + len), 0, <usize>(size - 4 - HDR - len));
  store<u32>(rec + <usize>(size - 4), crc32(rec, size - 4));
  return size;
}

/** AAD of a data record: LABEL, its 16-byte header (in `rec`), the store epoch. */
function dataAad(): void {
  store<u32>(aad, LABEL);
  memory.copy(aad + 4, rec, HDR);
  store<u32>(aad + 4 + HDR, epoch);
}

// ---- sectors and space ----------------------------------------------------

/** Read the sector headers; pick the head. Returns Ok or an error. */
function layout(): i32 {
  const size = flash_size(), ss = flash_sector_size();
  if (ss < 512 || ss > 0x100000 || size <= 0 || size % ss != 0 || size / ss < FIRST_SECTOR + 2) return StoreStatus.Invalid;
  secSize = ss;
  base = ss * FIRST_SECTOR;
  nSectors = min(size / ss - FIRST_SECTOR, MAX_SECTORS);
  freeSectors = 0;
  maxSeq = 0;
  for (let i = 0; i < nSectors; i++) {
    if (flash_read(sectorAddr(i), hdr, HDR) != HostStatus.Ok) return StoreStatus.Io;
    let s = load<u32>(hdr, 4);
    // (a sequence number near 2^32 cannot come from us: ignore such a sector)
    if (load<u32>(hdr) != SECTOR_MAGIC || load<u32>(hdr, 8) != <u32>FORMAT_VERSION || load<u32>(hdr, 12) != crc32(hdr, 12) || s > 0xf0000000) s = 0;
    setSeq(i, s);
    if (s == 0) freeSectors++;
    if (s > maxSeq) maxSeq = s;
  }
  pickHead();
  // No free sector: a GC round was cut after opening its destination. The
  // destination holds only copies of the victim, which is intact: drop it.
  if (freeSectors == 0) {
    if (flash_erase_sector(sectorAddr(head)) != HostStatus.Ok) return StoreStatus.Io;
    setSeq(head, 0);
    freeSectors = 1;
    pickHead();
  }
  return StoreStatus.Ok;
}

function pickHead(): void {
  head = -1;
  let best: u32 = 0;
  for (let i = 0; i < nSectors; i++) if (seqOf(i) > best) { best = seqOf(i); head = i; }
  headPos = secSize; // closed until the scan finds its end
}

/** The in-use sector after sequence number `after` (ascending order), or -1. */
function nextSector(after: u32): i32 {
  let found = -1;
  let best: u32 = 0xffffffff;
  for (let i = 0; i < nSectors; i++) {
    const s = seqOf(i);
    if (s > after && s <= best && s != 0) { best = s; found = i; }
  }
  return found;
}

/** Erase a free sector if needed and make it the head. */
function openSector(): i32 {
  let i = head;
  let tries = nSectors;
  do { i = i + 1 >= nSectors ? 0 : i + 1; } while (seqOf(i) != 0 && --tries > 0);
  if (seqOf(i) != 0) return StoreStatus.NoSpace;
  const used = usedExtent(i);
  if (used < 0) return StoreStatus.Io;
  if (used > 0 && flash_erase_sector(sectorAddr(i)) != HostStatus.Ok) return StoreStatus.Io;
  maxSeq++;
  store<u32>(hdr, SECTOR_MAGIC);
  store<u32>(hdr, maxSeq, 4);
  store<u32>(hdr, <u32>FORMAT_VERSION, 8);
  store<u32>(hdr, crc32(hdr, 12), 12);
  if (flash_program(sectorAddr(i), hdr, HDR) != HostStatus.Ok) return StoreStatus.Io;
  setSeq(i, maxSeq);
  freeSectors--;
  head = i;
  headPos = HDR;
  return StoreStatus.Ok;
}

/** Program the `size`-byte record in `rec` at the head; returns its address or Io. */
function append(size: i32): i32 {
  const addr = sectorAddr(head) + headPos;
  if (flash_program(addr, rec, size) != HostStatus.Ok) return StoreStatus.Io;
  headPos += size;
  return addr;
}

/** Copy the live record of index entry `e` (when it lies in [lo, lo+secSize)) to the head. */
function moveEntry(e: usize, lo: i32): i32 {
  const addr = load<i32>(e, 8);
  if (addr < lo || addr >= lo + secSize) return StoreStatus.Ok;
  const size = recSize(<i32>load<u16>(e, 2));
  if (headPos + size > secSize) return StoreStatus.NoSpace;
  if (flash_read(addr, rec, size) != HostStatus.Ok) return StoreStatus.Io;
  const to = append(size);
  if (to < 0) return to;
  store<i32>(e, to, 8);
  return StoreStatus.Ok;
}

/** One GC round: copy the live records of the oldest sector into a fresh head, erase it. */
function collect(): i32 {
  const victim = nextSector(0);
  if (victim < 0) return StoreStatus.NoSpace;
  let st = openSector();
  if (st < 0) return st;
  const lo = sectorAddr(victim);
  for (let i = 0; i < nCommitted && st >= 0; i++) st = moveEntry(entryAt(committed, i), lo);
  for (let i = 0; i < nPending && st >= 0; i++) st = moveEntry(entryAt(pending, i), lo);
  if (st >= 0 && commitAddr >= lo && commitAddr < lo + secSize) {
    // the newest commit is live too: as an index entry of body length commitBody
    store<u16>(hdr, <u16>commitBody, 2);
    store<i32>(hdr, commitAddr, 8);
    st = moveEntry(hdr, lo);
    commitAddr = load<i32>(hdr, 8);
  }
  if (st < 0) return st;
  if (flash_erase_sector(lo) != HostStatus.Ok) return StoreStatus.Io;
  setSeq(victim, 0);
  freeSectors++;
  gcRounds++;
  return StoreStatus.Ok;
}

/** Make room for an `n`-byte record at the head: a new sector while two are
 *  free, else GC rounds (one free sector is always kept for GC). */
function ensureSpace(n: i32): i32 {
  for (let round = 0; round <= 2 * nSectors; round++) {
    if (head >= 0 && headPos + n <= secSize) return StoreStatus.Ok;
    const st = freeSectors >= 2 ? openSector() : collect();
    if (st < 0) return st;
  }
  return StoreStatus.NoSpace;
}

/** Bytes of every record GC must keep: committed, pending, the newest commit. */
function liveBytes(): i32 {
  let n = commitAddr >= 0 ? recSize(commitBody) : 0;
  for (let i = 0; i < nCommitted; i++) {
    const e = entryAt(committed, i);
    if (load<i32>(e, 8) >= 0) n += recSize(<i32>load<u16>(e, 2));
  }
  for (let i = 0; i < nPending; i++) {
    const e = entryAt(pending, i);
    if (load<i32>(e, 8) >= 0) n += recSize(<i32>load<u16>(e, 2));
  }
  return n;
}

/** Admission: with live bytes L and the largest record n of an operation,
 *  L <= (S - 1) * (C - n) means some in-use sector holds at most C - n live
 *  bytes, so GC rounds (oldest first) always make room (S sectors of C bytes). */
function admits(extra: i32, largest: i32): bool {
  return liveBytes() + extra <= (nSectors - 1) * (secSize - HDR - largest);
}

// ---- the SE counter and commits --------------------------------------------

/** Move the SE counter to odd (commit in flight) before the first write of an operation. */
function ensureOdd(): i32 {
  if (seOdd) return StoreStatus.Ok;
  if (se_counter(1) != value + 1) return StoreStatus.Io;
  seOdd = true;
  return StoreStatus.Ok;
}

/** Live ids after the pending changes are applied. */
function countAfter(): i32 {
  if (wipeAll) return 0;
  let k = nCommitted;
  for (let i = 0; i < nPending; i++) {
    const e = entryAt(pending, i);
    const found = findCommitted(<i32>load<u16>(e)) >= 0;
    if (load<i32>(e, 8) == DELETED) { if (found) k--; } else if (!found) k++;
  }
  return k;
}

function applyPending(): void {
  for (let p = 0; p < nPending; p++) {
    const e = entryAt(pending, p);
    let i = findCommitted(<i32>load<u16>(e));
    if (load<i32>(e, 8) == DELETED) {
      if (i >= 0) {
        memory.copy(entryAt(committed, i), entryAt(committed, i + 1), <usize>((nCommitted - i - 1) * 12));
        nCommitted--;
      }
      continue;
    }
    if (i < 0) {
      i = -i - 1;
      memory.copy(entryAt(committed, i + 1), entryAt(committed, i), <usize>((nCommitted - i) * 12));
      nCommitted++;
    }
    memory.copy(entryAt(committed, i), e, 12);
  }
  nPending = 0;
}

/** Write the commit record of the pending changes (or, with none, of the
 *  current manifest: a re-anchor after an abort or an interrupted commit),
 *  then move the SE counter to the commit's (even) value. */
function commitNow(): i32 {
  const k = countAfter();
  const len = commitBodyLen(k);
  let st = ensureOdd();
  if (st >= 0) st = ensureSpace(recSize(len));
  if (st < 0) return fail(st);
  if (wipeAll) { nCommitted = 0; nPending = 0; epoch = 0; wipeAll = false; }
  applyPending();
  const v = value + 2;
  if (epoch == 0) epoch = <u32>v;
  finishRecord(KIND_COMMIT, 0, len, <u32>v);
  store<u32>(rec + HDR, epoch);
  for (let i = 0; i < nCommitted; i++) {
    const e = entryAt(committed, i), m = rec + <usize>(HDR + 4 + i * ENTRY);
    store<u16>(m, load<u16>(e));
    store<u32>(m, load<u32>(e, 4), 2);
  }
  // The manifest is authenticated, not secret: seal an empty plaintext with
  // AAD = LABEL || header || epoch || manifest (all contiguous at recRaw).
  store<u32>(recRaw, LABEL);
  const tagAt = rec + <usize>(HDR + len - SE_SEAL_OVERHEAD);
  if (se_seal(rec, 0, recRaw, <i32>(tagAt - recRaw), tagAt, SE_SEAL_OVERHEAD) != SE_SEAL_OVERHEAD) return fail(StoreStatus.Io);
  const addr = append(trailer(len));
  if (addr < 0) return fail(addr);
  if (se_counter(1) != v) return fail(StoreStatus.Io);
  value = v;
  seOdd = false;
  commitAddr = addr;
  commitBody = len;
  return StoreStatus.Ok;
}

/** Seal `len` bytes at `ptr` as a data record for `id` and append it (pending until commit). */
function stagePut(id: i32, ptr: usize, len: i32): i32 {
  if (id <= 0 || id >= 0xffff || len < 0 || len > MAX_VALUE_LEN) return StoreStatus.Invalid;
  if (value + 2 > MAX_COUNTER) return StoreStatus.NoSpace;
  const p = findPending(id);
  if (p < 0 && nPending == MAX_TXN_RECORDS) return StoreStatus.NoSpace;
  const grows = p < 0 ? findCommitted(id) < 0 : load<i32>(entryAt(pending, p), 8) == DELETED;
  const k = countAfter() + (grows ? 1 : 0);
  if (k > MAX_RECORDS) return StoreStatus.NoSpace;
  const body = len + SE_SEAL_OVERHEAD;
  const size = recSize(body), commitSize = recSize(commitBodyLen(k));
  if (!admits(size + commitSize, max(size, commitSize))) return StoreStatus.NoSpace;
  let st = ensureSpace(size); // may run GC: no logical change
  if (st < 0) return fail(st);
  const gen = <u32>(value + 2);
  finishRecord(KIND_DATA, id, body, gen);
  dataAad();
  st = se_seal(ptr, len, aad, 4 + HDR + 4, rec + HDR, body);
  if (st != body) return st < 0 ? st : StoreStatus.Invalid; // bad caller buffer: nothing changed
  st = ensureOdd();
  if (st < 0) return fail(st);
  const addr = append(trailer(body));
  if (addr < 0) return fail(addr);
  const e = entryAt(pending, p < 0 ? nPending++ : p);
  store<u16>(e, <u16>id);
  store<u16>(e, <u16>body, 2);
  store<u32>(e, gen, 4);
  store<i32>(e, addr, 8);
  return StoreStatus.Ok;
}

function stageDelete(id: i32): i32 {
  if (id <= 0 || id >= 0xffff) return StoreStatus.Invalid;
  if (value + 2 > MAX_COUNTER) return StoreStatus.NoSpace;
  const p = findPending(id);
  if (p >= 0 ? load<i32>(entryAt(pending, p), 8) == DELETED : findCommitted(id) < 0) return StoreStatus.NotFound;
  if (p < 0 && nPending == MAX_TXN_RECORDS) return StoreStatus.NoSpace;
  const size = recSize(commitBodyLen(countAfter())); // a delete only shrinks the manifest
  if (!admits(size, size)) return StoreStatus.NoSpace;
  const e = entryAt(pending, p < 0 ? nPending++ : p);
  store<u16>(e, <u16>id);
  store<u16>(e, 0, 2);
  store<i32>(e, DELETED, 8);
  return StoreStatus.Ok;
}

// ---- mount ------------------------------------------------------------------

/** Walk the records of sector `i`. Mode 0: find the newest commit with a good
 *  CRC; mode 1: locate the records the manifest names (later copies win).
 *  Returns the sector's append offset, or -1 on Io. Hostile contents only
 *  make records invisible: every step moves on by >= 4 bytes. */
function scanSector(i: i32, mode: i32): i32 {
  const used = usedExtent(i);
  if (used < 0) return -1;
  const a0 = sectorAddr(i);
  let pos = HDR;
  while (pos < used && pos + HDR <= secSize) {
    if (flash_read(a0 + pos, hdr, HDR) != HostStatus.Ok) return -1;
    const len = headerBodyLen(secSize - pos);
    if (len < 0) { pos += 4; continue; } // torn or damaged header: resynchronise
    const size = recSize(len);
    const gen = load<u32>(hdr, 8);
    let want = false;
    let c = -1;
    if (mode == 0) {
      want = load<u8>(hdr) == KIND_COMMIT && gen > bestValue;
    } else if (mode == 1 && load<u8>(hdr) == KIND_DATA) {
      c = findCommitted(<i32>load<u16>(hdr, 2));
      want = c >= 0 && load<u32>(entryAt(committed, c), 4) == gen;
    }
    if (want) {
      const ok = checkRecord(a0 + pos, size);
      if (ok < 0) return -1;
      if (ok > 0 && mode == 0) { bestValue = gen; bestAddr = a0 + pos; }
      if (ok == 0 && mode == 0 && gen > damagedValue) damagedValue = gen;
      if (ok > 0 && mode == 1) {
        const e = entryAt(committed, c);
        store<u16>(e, <u16>len, 2);
        store<i32>(e, a0 + pos, 8);
      }
    }
    pos += size;
  }
  const end = (used + 3) & ~3;
  return pos > end ? pos : end;
}

/** Authenticate the commit at `addr` with the SE and load its manifest. */
function loadCommit(addr: i32): i32 {
  if (flash_read(addr, rec, HDR) != HostStatus.Ok) return StoreStatus.Io;
  const len = <i32>load<u16>(rec, 4);
  if (len < COMMIT_MIN || len > commitBodyLen(MAX_RECORDS)) return StoreStatus.AuthFailed;
  if (flash_read(addr, rec, HDR + len) != HostStatus.Ok) return StoreStatus.Io;
  store<u32>(recRaw, LABEL);
  const tagAt = rec + <usize>(HDR + len - SE_SEAL_OVERHEAD);
  if (se_open(tagAt, SE_SEAL_OVERHEAD, recRaw, <i32>(tagAt - recRaw), aad, 0) != 0) return StoreStatus.AuthFailed;
  const v = load<u32>(rec, 8);
  const ep = load<u32>(rec, HDR);
  const k = (len - COMMIT_MIN) / ENTRY;
  if (ep == 0 || ep > v) return StoreStatus.AuthFailed;
  let last = 0;
  for (let i = 0; i < k; i++) {
    const m = rec + <usize>(HDR + 4 + i * ENTRY), e = entryAt(committed, i);
    const id = <i32>load<u16>(m);
    const gen = load<u32>(m, 2);
    if (id <= last || id == 0xffff || gen == 0 || gen > v) return StoreStatus.AuthFailed;
    last = id;
    store<u16>(e, <u16>id);
    store<u16>(e, 0, 2);
    store<u32>(e, gen, 4);
    store<i32>(e, NO_ADDR, 8);
  }
  nCommitted = k;
  value = v;
  epoch = ep;
  commitAddr = addr;
  commitBody = len;
  return StoreStatus.Ok;
}

/** Commit an empty manifest under a new epoch; then erase every other
 *  sector, and move the commit out of the head by one GC round, so that no
 *  old record (sealed) stays on flash. */
function formatNow(): i32 {
  wipeAll = true;
  nPending = 0;
  inTxn = false;
  let st = commitNow();
  if (st < 0) return st;
  for (let i = 0; i < nSectors; i++) {
    if (i == head || seqOf(i) == 0) continue;
    if (flash_erase_sector(sectorAddr(i)) != HostStatus.Ok) return fail(StoreStatus.Io);
    setSeq(i, 0);
    freeSectors++;
  }
  st = collect();
  return st < 0 ? fail(st) : StoreStatus.Formatted;
}

function resetState(): void {
  mounted = false;
  notMountedStatus = StoreStatus.NotMounted;
  nCommitted = 0;
  nPending = 0;
  inTxn = false;
  wipeAll = false;
  seOdd = false;
  value = 0;
  epoch = 0;
  commitAddr = -1;
  commitBody = 0;
  gcRounds = 0;
}

/** Scan the head sector for its append offset. */
function findHeadEnd(): i32 {
  if (head < 0) return StoreStatus.Ok;
  const end = scanSector(head, 2);
  if (end < 0) return StoreStatus.Io;
  headPos = end;
  return StoreStatus.Ok;
}

/** Mount: rebuild the index by scanning, authenticate the newest commit,
 *  check it against the SE counter and finish or roll back an interrupted
 *  commit. Ok, Formatted (nothing of ours was there: an empty store now),
 *  or RolledBack / AuthFailed / Io / Invalid. */
export function storeMount(): i32 {
  resetState();
  let st = layout();
  if (st < 0) return fail(st);
  const s = se_counter(0);
  if (s < 0 || s > MAX_COUNTER) return fail(StoreStatus.Io);
  if (findHeadEnd() < 0) return fail(StoreStatus.Io);
  mounted = true;
  bestValue = 0;
  bestAddr = -1;
  damagedValue = 0;
  for (let i = nextSector(0); i >= 0; i = nextSector(seqOf(i))) {
    if (scanSector(i, 0) < 0) return fail(StoreStatus.Io);
  }
  // Counter 0: this SE never committed anything. An empty (or never finished) store is
  // formatted; a committed one is another SE's (a replaced or lost key store): refused
  // loudly, like a changed SE key, until formatted on explicit request (storeFormat).
  if (s == 0) return bestAddr >= 0 || damagedValue > 0 ? fail(StoreStatus.ForeignStore) : formatNow();
  if (bestAddr >= 0) {
    st = loadCommit(bestAddr);
    if (st < 0) return fail(st);
    for (let i = nextSector(0); i >= 0; i = nextSector(seqOf(i))) {
      if (scanSector(i, 1) < 0) return fail(StoreStatus.Io);
    }
  }
  if (s == value && (s & 1) == 0) return StoreStatus.Ok;
  if ((s & 1) != 0 && s == value + 1) {
    // Cut after the SE moved to odd, before the commit landed: the state
    // before. Re-anchor it with a commit of its own (a fresh value).
    seOdd = true;
    return bestAddr < 0 ? formatNow() : commitNow();
  }
  if ((s & 1) != 0 && s + 1 == value) {
    // Cut after the commit landed, before the SE moved to even: the state after.
    if (se_counter(1) != value) return fail(StoreStatus.Io);
    return StoreStatus.Ok;
  }
  // The SE has committed, but no sector of ours is left: the flash was erased or replaced.
  if (maxSeq == 0) return fail(StoreStatus.Missing);
  // A newer commit than the one found is there but damaged: corruption, not a rollback.
  if (<i64>damagedValue > value) return fail(StoreStatus.Corrupt);
  return fail(StoreStatus.RolledBack);
}

/** Erase the store and start an empty one under a new epoch (factory reset,
 *  or the way out after RolledBack/AuthFailed). A cut leaves the state
 *  before (when mounted) or a store that is refused until format runs again. */
export function storeFormat(): i32 {
  if (!mounted) {
    resetState();
    let st = layout();
    if (st < 0) return fail(st);
    if (findHeadEnd() < 0) return fail(StoreStatus.Io);
    const s = se_counter(0);
    if (s < 0 || s > MAX_COUNTER) return fail(StoreStatus.Io);
    value = s & ~1;
    seOdd = (s & 1) != 0;
    mounted = true;
  }
  return formatNow();
}

// ---- records ----------------------------------------------------------------

/** Length of the value stored under `id`, NotFound, or AuthFailed when its record is missing. */
export function storeSize(id: i32): i32 {
  if (!mounted) return notMountedStatus;
  const c = findCommitted(id);
  if (c < 0) return StoreStatus.NotFound;
  const e = entryAt(committed, c);
  return load<i32>(e, 8) < 0 ? StoreStatus.AuthFailed : <i32>load<u16>(e, 2) - SE_SEAL_OVERHEAD;
}

/** Open the committed value of `id` into out[0..cap): its length, or NotFound,
 *  AuthFailed (tampered, moved or missing), TooSmall, RolledBack, Io. */
export function storeGet(id: i32, out: usize, cap: i32): i32 {
  const n = storeSize(id);
  if (n < 0) return n;
  if (cap < n) return StoreStatus.TooSmall;
  const e = entryAt(committed, findCommitted(id));
  const body = <i32>load<u16>(e, 2);
  if (flash_read(load<i32>(e, 8), rec, HDR + body) != HostStatus.Ok) return StoreStatus.Io;
  if (<i32>load<u16>(rec, 2) != id || load<u32>(rec, 8) != load<u32>(e, 4)) return StoreStatus.AuthFailed;
  dataAad();
  const r = se_open(rec + HDR, body, aad, 4 + HDR + 4, out, cap);
  if (r == n) return n;
  if (r == StoreStatus.AuthFailed) { memory.fill(out, 0, <usize>n); return r; }
  return r < 0 ? r : StoreStatus.AuthFailed;
}

/** Store `len` bytes at `ptr` under `id` (1..0xFFFE, len <= MAX_VALUE_LEN).
 *  Outside a transaction it is committed on return (Ok); inside one it is
 *  staged until storeCommit. */
export function storePut(id: i32, ptr: usize, len: i32): i32 {
  if (!mounted) return notMountedStatus;
  const st = stagePut(id, ptr, len);
  if (st < 0 || inTxn) return st;
  return commitNow();
}

/** Delete `id` (NotFound when absent); staged when inside a transaction. */
export function storeDelete(id: i32): i32 {
  if (!mounted) return notMountedStatus;
  const st = stageDelete(id);
  if (st < 0 || inTxn) return st;
  return commitNow();
}

/** Start a transaction: puts and deletes are staged and become visible
 *  together at storeCommit, or not at all (abort, power cut) — BS-5. */
export function storeBegin(): i32 {
  if (!mounted) return notMountedStatus;
  if (inTxn) return StoreStatus.TxnState;
  inTxn = true;
  nPending = 0;
  return StoreStatus.Ok;
}

export function storeCommit(): i32 {
  if (!mounted) return notMountedStatus;
  if (!inTxn) return StoreStatus.TxnState;
  inTxn = false;
  if (nPending == 0 && !seOdd) return StoreStatus.Ok;
  return commitNow();
}

/** Drop the staged changes; records already written are re-anchored away. */
export function storeAbort(): i32 {
  if (!mounted) return notMountedStatus;
  if (!inTxn) return StoreStatus.TxnState;
  inTxn = false;
  nPending = 0;
  return seOdd ? commitNow() : StoreStatus.Ok;
}

// ---- stats ------------------------------------------------------------------

/** Admission headroom in bytes for maximum-size records (record overheads included). */
export function storeFreeBytes(): i32 {
  if (!mounted) return notMountedStatus;
  const n = (nSectors - 1) * (secSize - HDR - REC_MAX) - liveBytes();
  return n > 0 ? n : 0;
}

/** GC rounds (sector copies + erases) since mount. */
export function storeGcCount(): i32 { return gcRounds; }

/** Committed record ids. */
export function storeRecordCount(): i32 { return mounted ? nCommitted : notMountedStatus; }
