// Information Reporting Interface (OMA-TS-LightweightM2M_Core-V1_1 §6.4,
// <NOTIFICATION> attributes §5.1.2; RFC 7641). Observe registers through the
// CoAP observe table of the connection (token, path, Content-Format,
// sequence numbers); this file keeps, per observation, the LwM2M path, the
// time and numeric value of the last notification and a "changed" flag set by
// the data model's change listener. A notification goes out when
//   - the value changed, pmin has passed since the last one, and the change
//     qualifies: with gt / lt, the value crossed a threshold; with st, it moved
//     by at least st from the last notified value (numeric Resources); with
//     none of them any change qualifies;
//   - or pmax has passed (pmax > pmin), changed or not.
// pmin / pmax come from Write-Attributes (attrEffective: Resource Instance,
// Resource, Object Instance, Object) or else the Server Object's Default
// Minimum / Maximum Period (resources 2 / 3). Observations end on Cancel
// (GET Observe=1), RST, an unacknowledged CON notification, or an error
// reading the target (4.04 after a Delete: the final notification carries it).
import { CoapCode, CoapOption } from "../../coap/message";
import { CoapObserveTable, obsActive, obsContentFormat, obsBeginNotify, obsCancel } from "../../coap/observe";
import { block2Begin, block2Offset } from "../../coap/block";
import { LwPath, ID_NONE, pathFormat } from "../formats/entry";
import { Attr } from "../formats/link";
import { attrEffective, attrU32, attrF64 } from "../attributes";
import { getNumber } from "../model";
import { lwHandle, Method, NO_FORMAT } from "../operations";
import { Srv, serverValue } from "../objects/server";
import { conn, connEp, connObs, obsState, obsPathOf, ObsState, MAX_CONNS, OBS_PER_CONN, MAX_SZX, Role, REPR, REPR_CAP, earliest } from "./conn";
import { isRegistered } from "./registration";
import { emit, ClientEvent } from "./events";

const PTEXT = memory.data(32);

function eventPath(kind: i32, ci: i32, k: i32, arg: i32): void {
  const n = pathFormat(obsPathOf(obsState(ci, k)), PTEXT);
  emit(kind, conn(ci).ssid, arg, PTEXT, n);
}

/** A single numeric Resource (or Resource Instance) value, NaN otherwise. */
function numberAt(p: LwPath): f64 {
  const lvl = p.level();
  if (lvl < 3) return NaN;
  return getNumber(p.oid, p.iid, p.rid, lvl == 4 ? <u32>p.riid : ID_NONE);
}

/** An observation was accepted (its 2.05 carries the first value): start its reporting state. */
export function reportStarted(ci: i32, k: i32, p: LwPath, now: i64): void {
  const s = obsState(ci, k);
  obsPathOf(s).copyFrom(p);
  s.dirty = 0;
  s.lastSent = now;
  s.lastValue = numberAt(p);
  s.holdUntil = 0;
  eventPath(ClientEvent.ObservationStarted, ci, k, 0);
}

export function reportEnded(ci: i32, k: i32): void { eventPath(ClientEvent.ObservationEnded, ci, k, 0); }

/** Data model change listener: marks the observations the change touches (either path inside the other). */
export function reportChange(oid: u32, iid: u32, rid: u32): void {
  for (let ci = 0; ci < MAX_CONNS; ci++) {
    if (conn(ci).role != Role.Server) continue;
    const t = connObs(ci);
    for (let k = 0; k < OBS_PER_CONN; k++) {
      if (!obsActive(t, k)) continue;
      const s = obsState(ci, k);
      if (<u32>s.oid != oid) continue;
      if (s.iid != <u16>ID_NONE && <u32>s.iid != iid) continue;
      if (s.rid != <u16>ID_NONE && rid != ID_NONE && <u32>s.rid != rid) continue;
      s.dirty = 1;
    }
  }
}

function pminOf(ssid: i32, p: LwPath): i64 {
  return attrEffective(<u32>ssid, p, Attr.Pmin) ? <i64>attrU32 : serverValue(<u32>ssid, Srv.DefaultMinimumPeriod, 0);
}
/** pmax in s, 0 = none (absent, or not above pmin: §5.1.2). */
function pmaxOf(ssid: i32, p: LwPath, pmin: i64): i64 {
  const v = attrEffective(<u32>ssid, p, Attr.Pmax) ? <i64>attrU32 : serverValue(<u32>ssid, Srv.DefaultMaximumPeriod, 0);
  return v > 0 && v >= pmin ? v : 0;
}

/** gt / lt / st (§5.1.2): does the change from the last notified value qualify? */
function changeQualifies(ssid: i32, s: ObsState): bool {
  const p = obsPathOf(s);
  const hasGt = attrEffective(<u32>ssid, p, Attr.Gt);
  const gt = attrF64;
  const hasLt = attrEffective(<u32>ssid, p, Attr.Lt);
  const lt = attrF64;
  const hasSt = attrEffective(<u32>ssid, p, Attr.St);
  const st = attrF64;
  if (!hasGt && !hasLt && !hasSt) return true;
  const v = numberAt(p);
  const last = s.lastValue;
  if (isNaN(v)) return true; // not numeric (any more): report it
  if (isNaN(last)) return true;
  if (hasGt && (last > gt) != (v > gt)) return true; // crossed the high threshold, upwards or downwards
  if (hasLt && (last < lt) != (v < lt)) return true;
  if (hasSt && abs(v - last) >= st) return true;
  return false;
}

/** Sends a notification of observation k now. False when the endpoint had no free slot. */
function notify(ci: i32, k: i32, now: i64): bool {
  const c = conn(ci);
  const t = connObs(ci);
  const ep = connEp(ci);
  const s = obsState(ci, k);
  const p = obsPathOf(s);
  const res = lwHandle(c.ssid, Method.GET, p, NO_FORMAT, obsContentFormat(t, k), 0, 0, 0, 0, REPR, REPR_CAP);
  const code = res.code;
  const ok = code == CoapCode.CONTENT;
  const w = obsBeginNotify(t, ep, k, code, now);
  if (w.err) {
    if (!ok) obsCancel(t, k);
    return false;
  }
  let seq = -1;
  if (ok) { // the Observe option is the first one (number 6): header, then 0..3 value bytes
    const o = w.buf + 4 + <usize>(load<u8>(w.buf) & 15);
    const n = <i32>load<u8>(o) & 15;
    seq = 0;
    for (let i = 1; i <= n; i++) seq = (seq << 8) | <i32>load<u8>(o + <usize>i);
  }
  if (ok) {
    w.optionUint(CoapOption.CONTENT_FORMAT, <u32>res.format);
    // a larger value goes as its first block; the observer fetches the rest (RFC 7959 §2.6)
    const n = block2Begin(w, MAX_SZX, res.length);
    if (n > 0) w.payload(REPR + <usize>block2Offset, n);
  }
  const r = ep.send(now);
  if (r < 0) return false;
  s.dirty = 0;
  s.lastSent = now;
  s.lastValue = numberAt(p);
  if (ok) eventPath(ClientEvent.NotificationSent, ci, k, seq);
  else reportEnded(ci, k);
  return true;
}

/** Sends the notifications that are due on a server connection. */
export function reportStep(ci: i32, now: i64): void {
  const c = conn(ci);
  if (c.role != Role.Server || !isRegistered(c) || c.obsHeld != 0) return;
  const t = connObs(ci);
  for (let k = 0; k < OBS_PER_CONN; k++) {
    if (!obsActive(t, k)) continue;
    const s = obsState(ci, k);
    if (now < s.holdUntil) continue;
    const p = obsPathOf(s);
    const pmin = pminOf(c.ssid, p);
    const pmax = pmaxOf(c.ssid, p, pmin);
    let due = pmax > 0 && now >= s.lastSent + pmax * 1000;
    if (!due && s.dirty && now >= s.lastSent + pmin * 1000) {
      if (changeQualifies(c.ssid, s)) due = true;
      else s.dirty = 0; // not enough of a change: wait for the next one
    }
    if (due && !notify(ci, k, now)) s.holdUntil = now + 1000;
  }
}

/** When reportStep has something to do next on this connection, -1 never. */
export function reportDeadline(ci: i32): i64 {
  const c = conn(ci);
  if (c.role != Role.Server || !isRegistered(c) || c.obsHeld != 0) return -1;
  const t = connObs(ci);
  let d: i64 = -1;
  for (let k = 0; k < OBS_PER_CONN; k++) {
    if (!obsActive(t, k)) continue;
    const s = obsState(ci, k);
    const p = obsPathOf(s);
    const pmin = pminOf(c.ssid, p);
    const pmax = pmaxOf(c.ssid, p, pmin);
    let e: i64 = -1;
    // (after a wake, lastSent may lie before the boot: a deadline already past is "now", 0)
    if (s.dirty) e = max<i64>(s.lastSent + pmin * 1000, 0);
    if (pmax > 0) e = earliest(e, max<i64>(s.lastSent + pmax * 1000, 0));
    if (e >= 0 && e < s.holdUntil) e = s.holdUntil;
    d = earliest(d, e);
  }
  return d;
}
