// LwM2M data model (OMA-TS-LightweightM2M_Core-V1_1 §7.1 Resource Model):
// Objects, Object Instances, Resources and Resource Instances, declared as
// TABLES. An Object is a resource table (memory.data<u32>, two words per
// Resource) plus optional handlers; its instances live in a fixed pool inside
// one static arena, values at fixed offsets, so no request allocates.
//
// Resource descriptor (two u32 words):
//   word 0: rid (bits 0-15) | LwType << 16 (bits 16-19) | RES_* flags (bits 20-31)
//   word 1: value capacity in bytes (String / Opaque / Corelnk; scalars use 8)
//           | maximum Resource Instances << 16 (Multiple Resources)
// e.g. `memory.data<u32>([0 | T_STRING | RES_R | RES_MANDATORY, 255, ...])`.
//
// Instance slot: iid u16, used u8, pad u8, presence bitmap u32 (bit = table
// index), then each Resource in table order:
//   scalar (Integer, Unsigned, Float, Boolean, Time, Objlnk): 8 bytes (i64 / f64 bits)
//   bytes (String, Opaque, Corelnk): length u16 + capacity bytes
//   multiple: count u8 + max x (riid u16 + value), sorted by riid
//   executable: nothing
// Configuration Objects (OBJ_CONFIG: Security, Server) have a second pool,
// the bootstrap STAGING copy (BS-5, see bootstrap-config.ts); `viewStaging`
// selects which copy the accessors see.
import { Cap } from "../profile";
import { LwType, ID_NONE } from "./formats/entry";

// ---------------------------------------------------------------------------
// Declarations

/** Resource flags (descriptor word 0, bits 20-31). */
export const RES_R: u32 = 1 << 20; // Read (LwM2M Servers; also Observe / Write-Attributes)
export const RES_W: u32 = 2 << 20; // Write by LwM2M Servers
export const RES_E: u32 = 4 << 20; // Execute
export const RES_MANDATORY: u32 = 8 << 20;
export const RES_MULTIPLE: u32 = 16 << 20;
/** Never readable by anyone, never encoded (SEC-3: Security Secret Key). */
export const RES_SECRET: u32 = 32 << 20;
/** Model bookkeeping kept with the instance (custody handle, digest): no operation sees it. */
export const RES_INTERNAL: u32 = 64 << 20;

/** LwType in descriptor position. */
export const T_STRING: u32 = 1 << 16;
export const T_INT: u32 = 2 << 16;
export const T_UINT: u32 = 3 << 16;
export const T_FLOAT: u32 = 4 << 16;
export const T_BOOL: u32 = 5 << 16;
export const T_OPAQUE: u32 = 6 << 16;
export const T_TIME: u32 = 7 << 16;
export const T_OBJLNK: u32 = 8 << 16;
export const T_CORELNK: u32 = 9 << 16;

/** Object flags. */
export const OBJ_MULTI: u32 = 1; // Multiple-instance Object
export const OBJ_CONFIG: u32 = 2; // written by bootstrap through the staging copy, persisted (BS-5)
export const OBJ_HIDDEN: u32 = 4; // invisible to LwM2M Servers (SEC-2: Security Object)
export const OBJ_SERVER_CREATE: u32 = 8; // LwM2M Servers may Create / Delete instances

/** Version value for ObjectDef.version: major << 8 | minor (1.0 is not announced). */
export const VER_1_0: u32 = 0x100;
export const VER_1_1: u32 = 0x101;

export const MAX_OBJECTS: i32 = 8;
/** Bytes for every pool (active + staging); defineObject fails beyond it. The
 *  firmware's Objects take 11,191 (Security 9,960 with its staging copy, Server
 *  424, Device 313, Portfolio 494); the model tests' Object instead of Portfolio
 *  makes 11,365. A new Object needs room here first. */
export const ARENA_CAP: i32 = Cap.MODEL_ARENA; // profiles.json
/** Largest instance slot (the write engine works on one scratch slot). */
export const SLOT_CAP: i32 = 1664;
export const MAX_RESOURCES: i32 = 32; // per Object (presence bitmap)
const SLOT_HDR: i32 = 8;

/** Handlers, all optional (0): plain functions, no closures. */
/** Before a Resource is read or encoded: refresh a dynamic value (use putInt & co, no change events). */
export type ReadHook = (iid: u32, rid: u32) => void;
/** Range / syntax rules for a value about to be written (Integer-like in iv; bytes at ptr, len): false -> 4.00. */
export type CheckHook = (rid: u32, iv: i64, ptr: usize, len: i32) => bool;
/** Execute with the arguments string (§6.3 "Execute" argument grammar already checked); returns a CoAP code. */
export type ExecHook = (iid: u32, rid: u32, args: usize, len: i32) => i32;
/** After a committed write of a Resource (active copy only). */
export type WrittenHook = (iid: u32, rid: u32) => void;
/** Global: a value / an instance changed (rid ID_NONE: instance created or deleted). For Observe. */
export type ChangeListener = (oid: u32, iid: u32, rid: u32) => void;

@unmanaged
export class ObjectDef {
  oid: u16 = 0;
  version: u16 = 0;
  nRes: u16 = 0;
  maxInst: u16 = 0;
  flags: u32 = 0;
  instSize: u32 = 0;
  table: usize = 0;
  active: usize = 0;
  staging: usize = 0;
  readHook: usize = 0;
  checkHook: usize = 0;
  execHook: usize = 0;
  writtenHook: usize = 0;
}

// @ts-ignore: decorator
@inline const DEF_SIZE: usize = 48;
const defs = memory.data(<i32>DEF_SIZE * MAX_OBJECTS, 8);
const arena = memory.data(ARENA_CAP, 8);
let nObjects: i32 = 0;
let arenaUsed: i32 = 0;
let changeListener: usize = 0;

/** Which copy of configuration Objects the accessors see (BS-5 staging during a bootstrap session). */
export let viewStaging: bool = false;
export function setViewStaging(on: bool): void { viewStaging = on; }

export function objectCount(): i32 { return nObjects; }
export function objectAt(i: i32): ObjectDef { return changetype<ObjectDef>(defs + <usize>i * DEF_SIZE); }

/** The Object with this id, or null. */
export function findObject(oid: u32): ObjectDef | null {
  for (let i = 0; i < nObjects; i++) {
    const o = objectAt(i);
    if (<u32>o.oid == oid) return o;
  }
  return null;
}

function valueSize(d0: u32, d1: u32): i32 {
  const t = (d0 >> 16) & 15;
  if (t == <u32>LwType.None) return 0;
  if (t == <u32>LwType.String || t == <u32>LwType.Opaque || t == <u32>LwType.Corelnk) return 2 + <i32>(d1 & 0xffff);
  return 8;
}

function resSize(d0: u32, d1: u32): i32 {
  const v = valueSize(d0, d1);
  return d0 & RES_MULTIPLE ? 1 + <i32>(d1 >>> 16) * (2 + v) : v;
}

/**
 * Declares an Object: `table` holds nRes descriptors (see top). Returns the
 * Object index, or -1 (too many Objects or Resources, duplicate id, slot
 * larger than SLOT_CAP, arena full).
 */
export function defineObject(oid: u32, version: u32, table: usize, nRes: i32, maxInst: i32, flags: u32): i32 {
  if (nObjects >= MAX_OBJECTS || nRes > MAX_RESOURCES || maxInst < 1 || findObject(oid)) return -1;
  let size = SLOT_HDR;
  for (let i = 0; i < nRes; i++) size += resSize(load<u32>(table + (<usize>i << 3)), load<u32>(table + (<usize>i << 3) + 4));
  if (size > SLOT_CAP) return -1;
  const pool = size * maxInst;
  const need = flags & OBJ_CONFIG ? pool * 2 : pool;
  if (arenaUsed + need > ARENA_CAP) return -1;
  const o = objectAt(nObjects);
  memory.fill(changetype<usize>(o), 0, DEF_SIZE);
  o.oid = <u16>oid;
  o.version = <u16>version;
  o.nRes = <u16>nRes;
  o.maxInst = <u16>(flags & OBJ_MULTI ? maxInst : 1);
  o.flags = flags;
  o.instSize = <u32>size;
  o.table = table;
  o.active = arena + <usize>arenaUsed;
  o.staging = flags & OBJ_CONFIG ? o.active + <usize>pool : 0;
  arenaUsed += need;
  return nObjects++;
}

/** Installs the handlers of an Object (pass changetype<usize>(fn), or 0). */
export function setObjectHooks(oid: u32, readHook: usize, checkHook: usize, execHook: usize, writtenHook: usize): void {
  const o = findObject(oid);
  if (!o) return;
  o.readHook = readHook;
  o.checkHook = checkHook;
  o.execHook = execHook;
  o.writtenHook = writtenHook;
}

export function setChangeListener(fn: ChangeListener): void { changeListener = changetype<usize>(fn); }

/** Arena bytes in use (for size reports). */
export function arenaBytes(): i32 { return arenaUsed; }

// ---------------------------------------------------------------------------
// Descriptors

export function resIndex(o: ObjectDef, rid: u32): i32 {
  const n = <i32>o.nRes;
  for (let i = 0; i < n; i++) if ((load<u32>(o.table + (<usize>i << 3)) & 0xffff) == rid) return i;
  return -1;
}
export function desc0(o: ObjectDef, idx: i32): u32 { return load<u32>(o.table + (<usize>idx << 3)); }
export function desc1(o: ObjectDef, idx: i32): u32 { return load<u32>(o.table + (<usize>idx << 3) + 4); }
export function resId(o: ObjectDef, idx: i32): u32 { return desc0(o, idx) & 0xffff; }
export function resType(o: ObjectDef, idx: i32): i32 { return <i32>((desc0(o, idx) >> 16) & 15); }
/** Value capacity: bytes for String / Opaque / Corelnk, 8 for scalars. */
export function resCap(o: ObjectDef, idx: i32): i32 {
  const d0 = desc0(o, idx);
  const t = (d0 >> 16) & 15;
  return t == <u32>LwType.String || t == <u32>LwType.Opaque || t == <u32>LwType.Corelnk ? <i32>(desc1(o, idx) & 0xffff) : 8;
}
export function resMaxInstances(o: ObjectDef, idx: i32): i32 { return <i32>(desc1(o, idx) >>> 16); }
/** Bytes of one Resource Instance record (riid + value) of a Multiple Resource. */
export function recordSize(o: ObjectDef, idx: i32): i32 { return 2 + valueSize(desc0(o, idx), desc1(o, idx)); }
/** Bytes of a present Resource's storage that carry data (what an image keeps). */
export function storageUsed(o: ObjectDef, s: usize, idx: i32): i32 {
  const d0 = desc0(o, idx);
  const v = s + resOffset(o, idx);
  if (d0 & RES_MULTIPLE) return 1 + <i32>load<u8>(v) * recordSize(o, idx);
  return isBytesType(<i32>((d0 >> 16) & 15)) ? 2 + <i32>load<u16>(v) : valueSize(d0, desc1(o, idx));
}
export function isBytesType(t: i32): bool { return t == LwType.String || t == LwType.Opaque || t == LwType.Corelnk; }

/** Byte offset of a Resource's storage in a slot (for a Multiple Resource: its count byte). */
export function resOffset(o: ObjectDef, idx: i32): usize {
  let off = SLOT_HDR;
  for (let i = 0; i < idx; i++) off += resSize(desc0(o, i), desc1(o, i));
  return <usize>off;
}

// ---------------------------------------------------------------------------
// Instances

export function pool(o: ObjectDef): usize { return viewStaging && o.staging ? o.staging : o.active; }
export function slotIid(slot: usize): u32 { return <u32>load<u16>(slot); }

/** The slot of instance iid in the current view, or 0. */
export function instFind(o: ObjectDef, iid: u32): usize {
  const base = pool(o);
  const size = <usize>o.instSize;
  for (let i: i32 = 0; i < <i32>o.maxInst; i++) {
    const s = base + <usize>i * size;
    if (load<u8>(s + 2) && <u32>load<u16>(s) == iid) return s;
  }
  return 0;
}

export function instCount(o: ObjectDef): i32 {
  const base = pool(o);
  let n = 0;
  for (let i: i32 = 0; i < <i32>o.maxInst; i++) if (load<u8>(base + <usize>i * <usize>o.instSize + 2)) n++;
  return n;
}

/** The used slot with the smallest iid above `after` (-1: the first), or 0: instances in id order. */
export function instNext(o: ObjectDef, after: i32): usize {
  const base = pool(o);
  let best: usize = 0;
  let bestId: i32 = 0x10000;
  for (let i: i32 = 0; i < <i32>o.maxInst; i++) {
    const s = base + <usize>i * <usize>o.instSize;
    const id = <i32>load<u16>(s);
    if (load<u8>(s + 2) && id > after && id < bestId) { best = s; bestId = id; }
  }
  return best;
}

/** The lowest free Object Instance id, or -1 when the pool is full. */
export function newInstanceId(o: ObjectDef): i32 {
  if (instCount(o) >= <i32>o.maxInst) return -1;
  let id: u32 = 0;
  while (instFind(o, id)) id++;
  return <i32>id;
}

/** A blank slot for iid in the current view (0 when full). */
export function instAlloc(o: ObjectDef, iid: u32): usize {
  const base = pool(o);
  for (let i: i32 = 0; i < <i32>o.maxInst; i++) {
    const s = base + <usize>i * <usize>o.instSize;
    if (!load<u8>(s + 2)) {
      slotInit(o, s, iid);
      return s;
    }
  }
  return 0;
}

export function slotInit(o: ObjectDef, s: usize, iid: u32): void {
  memory.fill(s, 0, o.instSize);
  store<u16>(s, <u16>iid);
  store<u8>(s + 2, 1);
}

/** Frees a slot, wiping every value (secrets included). */
export function instFree(o: ObjectDef, s: usize): void { memory.fill(s, 0, o.instSize); }

// ---------------------------------------------------------------------------
// Values inside a slot

export function isPresent(s: usize, idx: i32): bool { return (load<u32>(s + 4) >> <u32>idx) & 1 ? true : false; }
export function setPresent(s: usize, idx: i32, on: bool): void {
  const m = load<u32>(s + 4);
  store<u32>(s + 4, on ? m | (<u32>1 << <u32>idx) : m & ~(<u32>1 << <u32>idx));
}

/** Removes a Resource (all of its instances) and wipes its storage. */
export function clearRes(o: ObjectDef, s: usize, idx: i32): void {
  const d0 = desc0(o, idx);
  memory.fill(s + resOffset(o, idx), 0, resSize(d0, desc1(o, idx)));
  setPresent(s, idx, false);
}

/** Number of Resource Instances of a Multiple Resource. */
export function riCount(o: ObjectDef, s: usize, idx: i32): i32 { return <i32>load<u8>(s + resOffset(o, idx)); }
/** riid of the k-th Resource Instance (ascending). */
export function riIdAt(o: ObjectDef, s: usize, idx: i32, k: i32): u32 {
  const rec = 2 + valueSize(desc0(o, idx), desc1(o, idx));
  return <u32>load<u16>(s + resOffset(o, idx) + 1 + <usize>(k * rec));
}

/**
 * Value storage of a present Resource (riid ID_NONE) or Resource Instance, or
 * 0. Scalars: 8 bytes (load<i64> / load<f64>); bytes: length u16 then data.
 */
export function valueAt(o: ObjectDef, s: usize, idx: i32, riid: u32): usize {
  if (!isPresent(s, idx)) return 0;
  const d0 = desc0(o, idx);
  const at = s + resOffset(o, idx);
  if (!(d0 & RES_MULTIPLE)) return riid == ID_NONE ? at : 0;
  const rec = 2 + valueSize(d0, desc1(o, idx));
  const n = <i32>load<u8>(at);
  for (let k = 0; k < n; k++) {
    const r = at + 1 + <usize>(k * rec);
    if (<u32>load<u16>(r) == riid) return r + 2;
  }
  return 0;
}

/**
 * Storage for a value about to be written: the Resource, or its Resource
 * Instance riid (inserted in order when new). Marks it present. 0 when the
 * Multiple Resource is full.
 */
export function valueSlot(o: ObjectDef, s: usize, idx: i32, riid: u32): usize {
  const d0 = desc0(o, idx);
  const at = s + resOffset(o, idx);
  setPresent(s, idx, true);
  if (!(d0 & RES_MULTIPLE)) return at;
  const rec = 2 + valueSize(d0, desc1(o, idx));
  const n = <i32>load<u8>(at);
  let k = 0;
  for (; k < n; k++) {
    const r = at + 1 + <usize>(k * rec);
    const id = <u32>load<u16>(r);
    if (id == riid) return r + 2;
    if (id > riid) break;
  }
  if (n >= resMaxInstances(o, idx)) return 0;
  const r = at + 1 + <usize>(k * rec);
  memory.copy(r + <usize>rec, r, <usize>((n - k) * rec));
  memory.fill(r, 0, rec);
  store<u16>(r, <u16>riid);
  store<u8>(at, <u8>(n + 1));
  return r + 2;
}

/** Removes one Resource Instance (wiped). */
export function riRemove(o: ObjectDef, s: usize, idx: i32, riid: u32): bool {
  const v = valueAt(o, s, idx, riid);
  if (!v || !(desc0(o, idx) & RES_MULTIPLE)) return false;
  const at = s + resOffset(o, idx);
  const rec = 2 + valueSize(desc0(o, idx), desc1(o, idx));
  const n = <i32>load<u8>(at);
  const end = at + 1 + <usize>(n * rec);
  memory.copy(v - 2, v - 2 + <usize>rec, end - (v - 2 + <usize>rec));
  memory.fill(end - <usize>rec, 0, rec);
  store<u8>(at, <u8>(n - 1));
  return true;
}

/**
 * A mandatory Resource with a value type is absent from a slot (executables
 * have no value); `writableOnly`: only those an LwM2M Server can give (Create).
 */
export function mandatoryMissing(o: ObjectDef, s: usize, writableOnly: bool = false): bool {
  for (let i = 0; i < <i32>o.nRes; i++) {
    const d = desc0(o, i);
    if (writableOnly && !(d & RES_W)) continue;
    if ((d & RES_MANDATORY) && ((d >> 16) & 15) != <u32>LwType.None && !isPresent(s, i)) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Accessors for objects, the firmware glue and the upper layers (the current
// view; no access rules here: operations.ts applies them to requests).

/** Set by getInt / getBytes: the value was there. */
export let found: bool = false;
/** Length of the value returned by getBytes. */
export let valueLen: i32 = 0;

function locate(oid: u32, iid: u32, rid: u32, riid: u32): usize {
  found = false;
  const o = findObject(oid);
  if (!o) return 0;
  const s = instFind(o, iid);
  if (!s) return 0;
  const idx = resIndex(o, rid);
  if (idx < 0) return 0;
  const v = valueAt(o, s, idx, riid);
  found = v != 0;
  return v;
}

/** Integer, Unsigned (bits), Time, Boolean (0/1), Objlnk (oid << 16 | iid); 0 and found=false when absent. */
export function getInt(oid: u32, iid: u32, rid: u32, riid: u32 = ID_NONE): i64 {
  const v = locate(oid, iid, rid, riid);
  return v ? load<i64>(v) : 0;
}
export function getFloat(oid: u32, iid: u32, rid: u32, riid: u32 = ID_NONE): f64 {
  const v = locate(oid, iid, rid, riid);
  return v ? load<f64>(v) : 0;
}
/** Pointer to the bytes (valueLen of them), or 0. */
export function getBytes(oid: u32, iid: u32, rid: u32, riid: u32 = ID_NONE): usize {
  const v = locate(oid, iid, rid, riid);
  valueLen = v ? <i32>load<u16>(v) : 0;
  return v ? v + 2 : 0;
}

/** A numeric Resource (Integer, Unsigned, Float, Time) as f64, NaN otherwise (gt / lt / st checks). */
export function getNumber(oid: u32, iid: u32, rid: u32, riid: u32 = ID_NONE): f64 {
  const v = locate(oid, iid, rid, riid);
  if (!v) return NaN;
  const o = findObject(oid)!;
  const t = resType(o, resIndex(o, rid));
  if (t == LwType.Float) return load<f64>(v);
  if (t == LwType.UnsignedInteger) return <f64>load<u64>(v);
  if (t == LwType.Integer || t == LwType.Time) return <f64>load<i64>(v);
  return NaN;
}

function slotFor(oid: u32, iid: u32, rid: u32, riid: u32): usize {
  const o = findObject(oid);
  if (!o) return 0;
  const s = instFind(o, iid);
  const idx = resIndex(o, rid);
  if (!s || idx < 0) return 0;
  const multi = (desc0(o, idx) & RES_MULTIPLE) != 0;
  if (multi != (riid != ID_NONE)) return 0;
  return valueSlot(o, s, idx, riid);
}

/** Sets a scalar without change events (read hooks). Returns false when the path is not there. */
export function putInt(oid: u32, iid: u32, rid: u32, v: i64, riid: u32 = ID_NONE): bool {
  const p = slotFor(oid, iid, rid, riid);
  if (p) store<i64>(p, v);
  return p != 0;
}

/** Device-side setters (battery level, versions, ...): store and report the change. */
export function setInt(oid: u32, iid: u32, rid: u32, v: i64, riid: u32 = ID_NONE): bool {
  const ok = putInt(oid, iid, rid, v, riid);
  if (ok) notifyChange(oid, iid, rid);
  return ok;
}
export function setFloat(oid: u32, iid: u32, rid: u32, v: f64, riid: u32 = ID_NONE): bool {
  return setInt(oid, iid, rid, reinterpret<i64>(v), riid);
}
/** Bytes for a String / Opaque / Corelnk Resource; false when the path is not there or len > capacity. */
export function setBytes(oid: u32, iid: u32, rid: u32, ptr: usize, len: i32, riid: u32 = ID_NONE): bool {
  const o = findObject(oid);
  if (!o) return false;
  const idx = resIndex(o, rid);
  if (idx < 0 || len < 0 || len > resCap(o, idx) || !isBytesType(resType(o, idx))) return false;
  const p = slotFor(oid, iid, rid, riid);
  if (!p) return false;
  memory.fill(p + 2, 0, resCap(o, idx));
  store<u16>(p, <u16>len);
  memory.copy(p + 2, ptr, len);
  notifyChange(oid, iid, rid);
  return true;
}
/** ASCII literal convenience for setBytes. */
export function setText(oid: u32, iid: u32, rid: u32, s: string): bool {
  const n = s.length;
  const tmp = memory.data(64);
  if (n > 64) return false;
  for (let i = 0; i < n; i++) store<u8>(tmp + <usize>i, <u8>s.charCodeAt(i));
  return setBytes(oid, iid, rid, tmp, n);
}
/** Removes a Resource from an instance (an optional Resource becomes absent). */
export function unsetResource(oid: u32, iid: u32, rid: u32): bool {
  const o = findObject(oid);
  if (!o) return false;
  const s = instFind(o, iid);
  const idx = resIndex(o, rid);
  if (!s || idx < 0) return false;
  clearRes(o, s, idx);
  notifyChange(oid, iid, rid);
  return true;
}
/** Creates an instance directly (device side: the Device Object instance at start-up). */
export function createInstance(oid: u32, iid: u32): bool {
  const o = findObject(oid);
  if (!o || iid >= ID_NONE || instFind(o, iid)) return false;
  const s = instAlloc(o, iid);
  if (s) notifyChange(oid, iid, ID_NONE);
  return s != 0;
}

export function notifyChange(oid: u32, iid: u32, rid: u32): void {
  if (changeListener && !viewStaging) changetype<ChangeListener>(changeListener)(oid, iid, rid);
}

// ---------------------------------------------------------------------------
// Actions for the firmware glue (Execute handlers post them; the glue polls
// after sending the response). The model never calls the host.

export namespace Action {
  export const None: i32 = 0;
  export const Reboot: i32 = 1; // /3/0/4
  export const FactoryReset: i32 = 2; // /3/0/5
  export const RegistrationUpdate: i32 = 3; // /1/x/8, arg = Short Server ID
  export const Disable: i32 = 4; // /1/x/4, arg = Short Server ID
  export const BootstrapRequest: i32 = 5; // /1/x/9, arg = Short Server ID
  export const ConfigChanged: i32 = 6; // the configuration Objects changed: persist (configImage) and re-evaluate
  export const ServerChanged: i32 = 7; // an LwM2M Server wrote its Server Object (lifetime, binding): Update; arg = SSID
}

const QCAP: i32 = 8;
const queue = memory.data(8 * 4, 4);
let qHead: i32 = 0;
let qLen: i32 = 0;
let deviceAction: i32 = 0;

/** Queues an action (kind | arg << 8); an identical pending one is not repeated. */
export function postAction(kind: i32, arg: i32): void {
  const v = kind | (arg << 8);
  if (kind == Action.Reboot || kind == Action.FactoryReset) {
    if (deviceAction != Action.FactoryReset) deviceAction = kind;
  }
  for (let i = 0; i < qLen; i++) if (load<i32>(queue + (<usize>((qHead + i) % QCAP) << 2)) == v) return;
  if (qLen == QCAP) { qHead = (qHead + 1) % QCAP; qLen--; } // drop the oldest
  store<i32>(queue + (<usize>((qHead + qLen) % QCAP) << 2), v);
  qLen++;
}

/** Next queued action as kind | arg << 8 (Action.*), or 0. */
export function takeAction(): i32 {
  if (!qLen) return 0;
  const v = load<i32>(queue + (<usize>qHead << 2));
  qHead = (qHead + 1) % QCAP;
  qLen--;
  return v;
}

/** Reboot (1) / Factory Reset (2) requested by Execute on /3/0/4 or /3/0/5, or 0; clears it. */
export function pendingDeviceAction(): i32 {
  const a = deviceAction;
  deviceAction = 0;
  return a;
}
