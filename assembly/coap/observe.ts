// Observe, server side (RFC 7641): the LwM2M client is the CoAP server that
// LwM2M Servers observe. A fixed table of observations in caller memory
// (coapObserveSize(n) bytes); each entry keeps the token, the target path
// (Uri-Path segments as length-prefixed bytes), the content format, a 24-bit
// sequence counter, and the MID/slot of its last notification so that a RST
// or a timed-out CON ends it.
//
//   GET with Observe=0 -> i = obsRegister(t, ep.rx, cf, now); respond 2.05
//       with Observe = obsNextSeq(t, i) (written before Content-Format)
//   GET with Observe=1 -> obsDeregister(t, ep.rx); respond as a plain GET
//   new value          -> w = obsBeginNotify(t, ep, i, CoapCode.CONTENT, now);
//                         add Content-Format + payload; ep.send(now)
//   every ep event     -> obsOnEvent(t, kind, ep.eventSlot, ep.eventMid)
import { CoapMessage, CoapWriter, CoapOptionIter, CoapError, CoapOption, CoapType, COAP_OPTION_ITER_SIZE, coapBytesEqual } from "./message";
import { CoapEndpoint, CoapEvent } from "./endpoint";

export const OBS_PATH_MAX: i32 = 24;

@unmanaged class Observation {
  active: i32;
  tkl: i32;
  token: u64;
  seq: i32;
  lastMid: i32; // -1 none
  slot: i32; // endpoint slot of an outstanding CON notification, -1 none
  contentFormat: i32;
  lastConAt: i64; // last time the observer confirmed interest (registration or ACK)
  pathLen: i32;
  pad: i32;
  // path bytes follow (OBS_PATH_MAX)
}
const ENTRY_HDR: i32 = 48;
export const COAP_OBSERVE_ENTRY_SIZE: i32 = ENTRY_HDR + OBS_PATH_MAX;
const ENTRY_SIZE: i32 = COAP_OBSERVE_ENTRY_SIZE;

@unmanaged export class CoapObserveTable {
  count: i32;
  /** Send every notification as CON (default false: NON, with a CON at least every conInterval). */
  alwaysCon: i32;
  /** RFC 7641 §4.5: a CON at least every 24 h (ms). */
  conInterval: i64;
}
export const COAP_OBSERVE_HDR: i32 = 16;
const TABLE_HDR: i32 = COAP_OBSERVE_HDR;

export function coapObserveSize(n: i32): i32 { return TABLE_HDR + n * ENTRY_SIZE; }

export function obsInit(t: CoapObserveTable, n: i32): void {
  memory.fill(changetype<usize>(t), 0, <usize>coapObserveSize(n));
  t.count = n;
  t.conInterval = 24 * 3600 * 1000;
}

function entry(t: CoapObserveTable, i: i32): Observation {
  return changetype<Observation>(changetype<usize>(t) + <usize>(TABLE_HDR + i * ENTRY_SIZE));
}
function entryPath(t: CoapObserveTable, i: i32): usize {
  return changetype<usize>(t) + <usize>(TABLE_HDR + i * ENTRY_SIZE + ENTRY_HDR);
}

const IT = memory.data(COAP_OPTION_ITER_SIZE, 8);
const PATH = memory.data(OBS_PATH_MAX);
const TOK = memory.data(8, 8);

/** Encodes the Uri-Path segments of m as (len, bytes)*; PathTooLong beyond cap. */
export function coapEncodePath(m: CoapMessage, out: usize, cap: i32): i32 {
  const it = changetype<CoapOptionIter>(IT);
  it.begin(m);
  let n = 0;
  while (it.nextOf(CoapOption.URI_PATH)) {
    if (it.length + 1 > cap - n) return CoapError.PathTooLong;
    store<u8>(out + <usize>n, <u8>it.length);
    memory.copy(out + <usize>n + 1, it.value, <usize>it.length);
    n += 1 + it.length;
  }
  return n;
}

function tokenOf(m: CoapMessage): u64 {
  store<u64>(TOK, 0);
  memory.copy(TOK, m.token, <usize>m.tkl);
  return load<u64>(TOK);
}

/** Active entry with this path (from index `from` on), -1 when none. */
export function obsFind(t: CoapObserveTable, path: usize, pathLen: i32, from: i32): i32 {
  for (let i = max(from, 0); i < t.count; i++) {
    const e = entry(t, i);
    if (e.active && e.pathLen == pathLen && coapBytesEqual(entryPath(t, i), path, pathLen)) return i;
  }
  return -1;
}

function findToken(t: CoapObserveTable, tkl: i32, tok: u64): i32 {
  for (let i = 0; i < t.count; i++) {
    const e = entry(t, i);
    if (e.active && e.tkl == tkl && e.token == tok) return i;
  }
  return -1;
}

/**
 * Adds the observer of request m (Observe = 0). An entry with the same token,
 * or for the same target (the client is already in the list, §4.1), is
 * replaced and keeps its sequence counter. Returns the index, ObserveFull or
 * PathTooLong (then answer as a plain GET, §4.1).
 */
export function obsRegister(t: CoapObserveTable, m: CoapMessage, contentFormat: i32, now: i64): i32 {
  const n = coapEncodePath(m, PATH, OBS_PATH_MAX);
  if (n < 0) return n;
  const tok = tokenOf(m);
  let i = findToken(t, m.tkl, tok);
  if (i < 0) i = obsFind(t, PATH, n, 0);
  if (i < 0) {
    for (let k = 0; k < t.count; k++) if (!entry(t, k).active) { i = k; entry(t, k).seq = 0; break; }
    if (i < 0) return CoapError.ObserveFull;
  }
  occupy(t, i, m.tkl, tok, contentFormat, now, PATH, n);
  return i;
}

/** Entry i observed by token `token` for the target at `path`, nothing outstanding (the sequence counter is the caller's). */
function occupy(t: CoapObserveTable, i: i32, tkl: i32, token: u64, contentFormat: i32, lastConAt: i64, path: usize, pathLen: i32): void {
  const e = entry(t, i);
  e.active = 1;
  e.tkl = tkl;
  e.token = token;
  e.lastMid = -1;
  e.slot = -1;
  e.contentFormat = contentFormat;
  e.lastConAt = lastConAt;
  e.pathLen = pathLen;
  memory.copy(entryPath(t, i), path, <usize>pathLen);
}

/** Removes the observation with m's token (GET with Observe = 1, §3.6). Index or -1. */
export function obsDeregister(t: CoapObserveTable, m: CoapMessage): i32 {
  const i = findToken(t, m.tkl, tokenOf(m));
  if (i >= 0) entry(t, i).active = 0;
  return i;
}

export function obsActive(t: CoapObserveTable, i: i32): bool { return <u32>i < <u32>t.count && entry(t, i).active != 0; }
export function obsContentFormat(t: CoapObserveTable, i: i32): i32 { return entry(t, i).contentFormat; }
export function obsPath(t: CoapObserveTable, i: i32): usize { return entryPath(t, i); }
export function obsPathLen(t: CoapObserveTable, i: i32): i32 { return entry(t, i).pathLen; }
export function obsCancel(t: CoapObserveTable, i: i32): void { if (<u32>i < <u32>t.count) entry(t, i).active = 0; }

// ---- across deep sleep (firmware/observe-store.ts): the entry's fields out and back in ----

export function obsTkl(t: CoapObserveTable, i: i32): i32 { return entry(t, i).tkl; }
export function obsToken(t: CoapObserveTable, i: i32): u64 { return entry(t, i).token; }
/** The last Observe sequence number sent (the next one is one more). */
export function obsSeq(t: CoapObserveTable, i: i32): i32 { return entry(t, i).seq; }
export function obsLastConAt(t: CoapObserveTable, i: i32): i64 { return entry(t, i).lastConAt; }
/** A CON notification of observation i still waits for its ACK. */
export function obsOutstanding(t: CoapObserveTable, ep: CoapEndpoint, i: i32): bool {
  const e = entry(t, i);
  return e.slot >= 0 && ep.slotBusy(e.slot) && ep.slotMid(e.slot) == e.lastMid;
}

/**
 * Puts an observation back into free entry i (a wake that continues the registration):
 * same token, Observe counter and target; nothing outstanding. False when a field is out
 * of range (tkl > 8, a path longer than OBS_PATH_MAX, a sequence number over 24 bits) or
 * the entry is in use: nothing is changed then.
 */
export function obsRestore(t: CoapObserveTable, i: i32, tkl: i32, token: u64, seq: i32, contentFormat: i32,
  lastConAt: i64, path: usize, pathLen: i32): bool {
  if (<u32>i >= <u32>t.count || entry(t, i).active != 0) return false;
  if (<u32>tkl > 8 || <u32>pathLen > <u32>OBS_PATH_MAX || <u32>seq > 0xffffff || <u32>contentFormat > 0xffff) return false;
  if (tkl < 8 && (token >> (<u64>tkl << 3)) != 0) return false; // bytes beyond the token length
  occupy(t, i, tkl, token, contentFormat, lastConAt, path, pathLen);
  entry(t, i).seq = seq;
  return true;
}

/** Next sequence number of observation i (24 bits, increasing, §4.4). */
export function obsNextSeq(t: CoapObserveTable, i: i32): i32 {
  const e = entry(t, i);
  e.seq = (e.seq + 1) & 0xffffff;
  return e.seq;
}

/**
 * Begins a notification of observation i: CON when configured, when the
 * last confirmation is conInterval old, or when a CON notification is still
 * outstanding (it is replaced, keeping its retransmission state, §4.5.2);
 * NON otherwise. A 2.xx carries the next Observe number; any other code ends
 * the observation (§4.2) and carries none. Add Content-Format and payload,
 * then ep.send(now). writer.err tells Busy / NoRequest (inactive entry).
 */
export function obsBeginNotify(t: CoapObserveTable, ep: CoapEndpoint, i: i32, code: i32, now: i64): CoapWriter {
  if (!obsActive(t, i)) return ep.failWrite(CoapError.NoRequest);
  const e = entry(t, i);
  const outstanding = e.slot >= 0 && ep.slotBusy(e.slot) && ep.slotMid(e.slot) == e.lastMid;
  const con = t.alwaysCon != 0 || outstanding || now - e.lastConAt >= t.conInterval;
  const w = ep.beginSeparate(con ? CoapType.CON : CoapType.NON, code,
    changetype<usize>(e) + offsetof<Observation>("token"), e.tkl, outstanding ? e.slot : -1);
  if (w.err) return w;
  e.lastMid = (<i32>load<u8>(w.buf + 2) << 8) | <i32>load<u8>(w.buf + 3);
  e.slot = con ? ep.wSlot : -1;
  if (code >> 5 == 2) w.optionUint(CoapOption.OBSERVE, <u32>obsNextSeq(t, i));
  else e.active = 0;
  return w;
}

/**
 * Feeds an endpoint event: a RST to a notification or a CON notification
 * that timed out ends the observation (§3.6, §4.5); an ACK confirms the
 * observer. Returns the index of an ended observation, else -1.
 */
export function obsOnEvent(t: CoapObserveTable, kind: i32, slot: i32, mid: i32, now: i64): i32 {
  for (let i = 0; i < t.count; i++) {
    const e = entry(t, i);
    if (!e.active || e.lastMid != mid) continue;
    if (kind == CoapEvent.Reset || (kind == CoapEvent.Timeout && slot == e.slot)) {
      e.active = 0;
      return i;
    }
    if (kind == CoapEvent.Acked && slot == e.slot) {
      e.slot = -1;
      e.lastConAt = now;
    }
  }
  return -1;
}
