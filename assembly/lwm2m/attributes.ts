// Write-Attributes state (OMA-TS-LightweightM2M_Core-V1_1 §5.1.2 <NOTIFICATION>
// Class Attributes, §6.3 "Write-Attributes"): pmin, pmax, gt, lt, st,
// epmin, epmax per LwM2M Server (Short Server ID) and path, in a fixed table.
// A request is applied to a candidate copy, validated, then stored whole:
// nothing half-applied. Rules (§5.1.2): gt / lt / st only on numeric
// Resources (Resource or Resource Instance level); "lt" < "gt"; "lt" + 2*"st"
// < "gt" when all three are set (4.00 otherwise). A query parameter without a
// value removes that attribute.
import { Cap } from "../profile";
import { LwPath, ID_NONE } from "./formats/entry";
import { parseAttribute, attrHasValue, attrInt, attrFloat, Attr, LinkWriter } from "./formats/link";

export const MAX_ATTR_ENTRIES: i32 = Cap.ATTRIBUTES; // profiles.json

// Entry (56 bytes): ssid u16 @0, path (oid, iid, rid, riid u16) @2, mask u16 @10 (bit = Attr id),
// pmin u32 @12, pmax @16, epmin @20, epmax @24, pad, gt f64 @32, lt @40, st @48.
const ENTRY: i32 = 56;
const table = memory.data(56 * MAX_ATTR_ENTRIES, 8);
const cand = memory.data(56, 8);

function entryAt(i: i32): usize { return table + <usize>(i * ENTRY); }
function samePath(e: usize, p: LwPath): bool { return load<u64>(e + 2) == load<u64>(changetype<usize>(p)); }

/** The entry of (ssid, path), or 0. */
export function attrEntry(ssid: u32, p: LwPath): usize {
  for (let i = 0; i < MAX_ATTR_ENTRIES; i++) {
    const e = entryAt(i);
    if (load<u16>(e + 10) && <u32>load<u16>(e) == ssid && samePath(e, p)) return e;
  }
  return 0;
}

/** Query errors. */
export const ATTR_BAD: i32 = -1; // 4.00 Bad Request
export const ATTR_FULL: i32 = -2; // no room: 5.00

/**
 * Applies the Uri-Query of a Write-Attributes request: options joined by '&'
 * ("pmin=10&gt=25.5&st"). `numeric` tells whether the target is a numeric
 * Resource / Resource Instance (gt, lt, st are refused elsewhere). Returns 0,
 * ATTR_BAD or ATTR_FULL; the table is unchanged on error.
 */
export function attrWrite(ssid: u32, p: LwPath, numeric: bool, q: usize, qlen: i32): i32 {
  const old = attrEntry(ssid, p);
  if (old) memory.copy(cand, old, ENTRY);
  else {
    memory.fill(cand, 0, ENTRY);
    store<u16>(cand, <u16>ssid);
    store<u64>(cand + 2, load<u64>(changetype<usize>(p)));
  }
  let start = 0;
  let any = false;
  for (let i = 0; i <= qlen; i++) {
    if (i < qlen && load<u8>(q + <usize>i) != 0x26) continue; // '&'
    const n = i - start;
    if (n > 0) {
      const id = parseAttribute(q + <usize>start, n);
      if (id < 0) return ATTR_BAD;
      if (id >= Attr.Gt && id <= Attr.St && !numeric) return ATTR_BAD;
      const bit = <u16>(<u32>1 << <u32>id);
      let mask = load<u16>(cand + 10);
      if (attrHasValue) {
        mask |= bit;
        if (id <= Attr.Pmax) store<u32>(cand + 12 + <usize>((id - Attr.Pmin) << 2), attrInt);
        else if (id >= Attr.Epmin) store<u32>(cand + 20 + <usize>((id - Attr.Epmin) << 2), attrInt);
        else store<f64>(cand + 32 + <usize>((id - Attr.Gt) << 3), attrFloat);
      } else mask &= ~bit;
      store<u16>(cand + 10, mask);
      any = true;
    }
    start = i + 1;
  }
  if (!any) return ATTR_BAD;
  // §5.1.2: "lt" < "gt" and "lt" + 2 * "st" < "gt"
  const mask = <u32>load<u16>(cand + 10);
  const gtBit: u32 = 1 << Attr.Gt;
  const ltBit: u32 = 1 << Attr.Lt;
  const stBit: u32 = 1 << Attr.St;
  if ((mask & gtBit) && (mask & ltBit)) {
    const gt = load<f64>(cand + 32);
    const lt = load<f64>(cand + 40);
    if (!(lt < gt)) return ATTR_BAD;
    if ((mask & stBit) && !(lt + 2 * load<f64>(cand + 48) < gt)) return ATTR_BAD;
  }
  let dst = old;
  if (!dst) {
    if (!mask) return 0;
    for (let i = 0; i < MAX_ATTR_ENTRIES && !dst; i++) if (!load<u16>(entryAt(i) + 10)) dst = entryAt(i);
    if (!dst) return ATTR_FULL;
  }
  memory.copy(dst, cand, ENTRY);
  if (!mask) memory.fill(dst, 0, ENTRY);
  return 0;
}

/** Value globals filled by attrGet. */
export let attrU32: u32 = 0;
export let attrF64: f64 = 0;

/** Attribute `id` (Attr.*) set on exactly this path for this server (no inheritance). */
export function attrGet(ssid: u32, p: LwPath, id: i32): bool {
  const e = attrEntry(ssid, p);
  if (!e || !(load<u16>(e + 10) & <u16>(<u32>1 << <u32>id))) return false;
  if (id <= Attr.Pmax) attrU32 = load<u32>(e + 12 + <usize>((id - Attr.Pmin) << 2));
  else if (id >= Attr.Epmin) attrU32 = load<u32>(e + 20 + <usize>((id - Attr.Epmin) << 2));
  else attrF64 = load<f64>(e + 32 + <usize>((id - Attr.Gt) << 3));
  return true;
}

const up = memory.data(8, 8);

/**
 * Effective attribute for Observe / Notify (§5.1.1 inheritance: Resource
 * Instance, Resource, Object Instance, Object); pmin / pmax then fall back to
 * the Server Object's Default Minimum / Maximum Period (the caller's job).
 * gt / lt / st are never inherited (they only exist at the Resource levels).
 */
export function attrEffective(ssid: u32, p: LwPath, id: i32): bool {
  const q = changetype<LwPath>(up);
  q.copyFrom(p);
  for (let lvl = q.level(); lvl >= 1; lvl--) {
    if (attrGet(ssid, q, id)) return true;
    if (id >= Attr.Gt && id <= Attr.St && lvl <= 3) return false;
    q.setId(lvl - 1, ID_NONE);
  }
  return false;
}

/** Appends this path's attributes (this server, this level) to a Discover link (§6.3 "Discover"). */
export function attrLinkAttrs(w: LinkWriter, ssid: u32, p: LwPath): void {
  const e = attrEntry(ssid, p);
  if (!e) return;
  const m = <u32>load<u16>(e + 10);
  if (m & (1 << Attr.Pmin)) w.attrUint(<u64>0x6e696d70 /* pmin */, load<u32>(e + 12));
  if (m & (1 << Attr.Pmax)) w.attrUint(<u64>0x78616d70 /* pmax */, load<u32>(e + 16));
  if (m & (1 << Attr.Gt)) w.attrFloat(<u64>0x7467 /* gt */, load<f64>(e + 32));
  if (m & (1 << Attr.Lt)) w.attrFloat(<u64>0x746c /* lt */, load<f64>(e + 40));
  if (m & (1 << Attr.St)) w.attrFloat(<u64>0x7473 /* st */, load<f64>(e + 48));
  if (m & (1 << Attr.Epmin)) w.attrUint(<u64>0x6e696d7065 /* epmin */, load<u32>(e + 20));
  if (m & (1 << Attr.Epmax)) w.attrUint(<u64>0x78616d7065 /* epmax */, load<u32>(e + 24));
}

/**
 * Drops attributes at or below a path (oid / iid ID_NONE = any): an instance
 * deleted, or ssid != 0 only that server's (an account removed: path "/").
 */
export function attrRemove(ssid: u32, p: LwPath): void {
  for (let i = 0; i < MAX_ATTR_ENTRIES; i++) {
    const e = entryAt(i);
    if (!load<u16>(e + 10)) continue;
    if (ssid && <u32>load<u16>(e) != ssid) continue;
    if (p.isPrefixOf(changetype<LwPath>(e + 2))) memory.fill(e, 0, ENTRY);
  }
}

export function attrCount(): i32 {
  let n = 0;
  for (let i = 0; i < MAX_ATTR_ENTRIES; i++) if (load<u16>(entryAt(i) + 10)) n++;
  return n;
}

// ---- across deep sleep (firmware/observe-store.ts) ----

/** Size of one attribute entry as attrExport writes it. */
export const ATTR_ENTRY_SIZE: i32 = ENTRY;

/** Copies server ssid's entries to out (room for `cap` entries); their number. */
export function attrExport(ssid: u32, out: usize, cap: i32): i32 {
  let n = 0;
  for (let i = 0; i < MAX_ATTR_ENTRIES && n < cap; i++) {
    const e = entryAt(i);
    if (!load<u16>(e + 10) || <u32>load<u16>(e) != ssid) continue;
    memory.copy(out + <usize>(n * ENTRY), e, ENTRY);
    n++;
  }
  return n;
}

/** Puts back an entry of attrExport for server ssid: false when it is not one (another
 *  server, an unknown attribute bit, an lt/gt/st rule broken) or there is no room. */
export function attrImport(ssid: u32, src: usize): bool {
  const mask = <u32>load<u16>(src + 10);
  if (<u32>load<u16>(src) != ssid || mask == 0 || (mask & ~<u32>0xfe) != 0) return false;
  if (attrEntry(ssid, changetype<LwPath>(src + 2))) return false; // one entry per path
  const gtBit: u32 = 1 << Attr.Gt;
  const ltBit: u32 = 1 << Attr.Lt;
  if ((mask & gtBit) && (mask & ltBit) && !(load<f64>(src + 40) < load<f64>(src + 32))) return false;
  for (let i = 0; i < MAX_ATTR_ENTRIES; i++) {
    const e = entryAt(i);
    if (load<u16>(e + 10)) continue;
    memory.copy(e, src, ENTRY);
    return true;
  }
  return false;
}
