// Observations across deep sleep (LwM2M 1.1 Core §6.4, Transport §6.5; RFC 7641).
// A wake that continues the registration (an Update, session-store.ts
// registrationRestore) continues its observations too: the server keeps
// receiving notifications on the tokens it registered, with Observe sequence
// numbers that keep increasing (RFC 7641 §4.4), under the Write-Attributes it
// set (§5.1.2), and what became due while the device slept goes out on wake.
//
// When: the table is sealed at prepare_sleep only, in the same store
// transaction as the registration (main.ts): one flash commit per sleep, none
// per notification (a notification moves the Observe counter; writing it each
// time would be a flash write per notification). A power loss while awake (no
// prepare_sleep) leaves no registration record, so the wake registers again
// and the observations end with the old registration, as they must.
//
// Record RecordId.ObservationsFirst + ci, sealed by the SE like every record,
// used once (deleted at the wake that reads it, with the registration record).
// Layout (little-endian):
//   magic "LWOB" u32, version u8, observations u8, attribute entries u8, locLen u8,
//   wall second at prepare_sleep i64 @8, account binding[32] @16, Location-Path[LOC_CAP] @48,
//   then per observation (OBS_REC bytes): tkl u8, pathLen u8, dirty u8, 0, Observe seq u32,
//   token u64 @8, Content-Format i32 @16, 0 @20, ms since the last notification i64 @24,
//   ms since the observer last confirmed (CON ACK) i64 @32, last notified value f64 @40,
//   LwPath @48, Uri-Path bytes[OBS_PATH_MAX] @56;
//   then the server's Write-Attributes entries (ATTR_ENTRY_SIZE bytes each).
// A record that does not open (tampered, corrupt: the SE refuses it), is not
// for this account or registration, or is malformed: the registration is not
// continued either (Register, with a log line): a new registration tells the
// server its observations ended, so it observes again (Core §6.4.1), instead
// of an Update after which it would wait for notifications that never come.
import { clock_wall_seconds } from "../host/abi";
import { storeGet, storePut, storeDelete, storeSize, RecordId, StoreStatus, MAX_VALUE_LEN } from "../storage/store";
import { ctEqual } from "../crypto/ct";
import { coapBytesEqual } from "../coap/message";
import {
  obsActive, obsTkl, obsToken, obsSeq, obsContentFormat, obsLastConAt, obsOutstanding, obsPath, obsPathLen, obsRestore, OBS_PATH_MAX,
} from "../coap/observe";
import { attrExport, attrImport, attrRemove, ATTR_ENTRY_SIZE, MAX_ATTR_ENTRIES } from "../lwm2m/attributes";
import { LwPath } from "../lwm2m/formats/entry";
import { conn, connEp, connObs, connObsClear, connLoc, obsState, LOC_CAP, OBS_PER_CONN, MAX_CONNS, REPR, REPR_CAP } from "../lwm2m/client/conn";
import { lb, ls, lnum, linfo, lwarn } from "../lwm2m/client/events";
import { accountBinding } from "./session-store";

const MAGIC: u32 = 0x424f574c; // "LWOB"
const VERSION: u8 = 1;
const O_WALL: i32 = 8;
const O_BIND: i32 = 16;
const O_LOC: i32 = 48;
const HEADER: i32 = O_LOC + LOC_CAP;
const OBS_REC: i32 = 56 + OBS_PATH_MAX;
/** Largest record: every observation and every attribute entry of the profile (profiles.json
 *  CAP_OBSERVATIONS, CAP_ATTRIBUTES): 1,312 B in `full`, 480 B in `psk-lpwa`. */
export const OBS_RECORD_MAX: i32 = HEADER + OBS_PER_CONN * OBS_REC + MAX_ATTR_ENTRIES * ATTR_ENTRY_SIZE;

function recordId(ci: i32): i32 { return RecordId.ObservationsFirst + ci; }

function dropRecord(ci: i32): void {
  if (storeSize(recordId(ci)) != StoreStatus.NotFound) storeDelete(recordId(ci));
}

/**
 * prepare_sleep (inside the store transaction of the registration): the observations and
 * Write-Attributes of server connection ci sealed, or its record deleted when the registration
 * is not kept or there is nothing to keep. The store status (0 ok) or a negative error.
 */
export function observationsKeep(ci: i32, registered: bool, now: i64): i32 {
  if (OBS_RECORD_MAX > MAX_VALUE_LEN || OBS_RECORD_MAX > REPR_CAP
      || RecordId.ObservationsFirst + MAX_CONNS - 1 > RecordId.ObservationsLast) unreachable(); // a build bug (profiles.json)
  if (ci <= 0 || ci >= MAX_CONNS) return 0;
  const c = conn(ci);
  const wall = clock_wall_seconds();
  if (!registered || wall < 0 || c.locLen <= 0 || c.locLen > LOC_CAP) { dropRecord(ci); return 0; }
  const t = connObs(ci);
  const ep = connEp(ci);
  const p = REPR;
  memory.fill(p, 0, <usize>HEADER);
  let n = 0;
  let q = p + <usize>HEADER;
  for (let k = 0; k < OBS_PER_CONN; k++) {
    if (!obsActive(t, k)) continue;
    const s = obsState(ci, k);
    memory.fill(q, 0, <usize>OBS_REC);
    store<u8>(q, <u8>obsTkl(t, k));
    store<u8>(q, <u8>obsPathLen(t, k), 1);
    // a CON notification not yet acknowledged at power-off: its value goes again at wake, with the
    // next sequence number (RFC 7641 §4.5.2: a newer notification replaces an outstanding one)
    const unacked = obsOutstanding(t, ep, k);
    store<u8>(q, s.dirty != 0 || unacked ? 1 : 0, 2);
    store<u32>(q, <u32>obsSeq(t, k), 4);
    store<u64>(q, obsToken(t, k), 8);
    store<i32>(q, obsContentFormat(t, k), 16);
    store<i64>(q, max<i64>(now - s.lastSent, 0), 24);
    store<i64>(q, max<i64>(now - obsLastConAt(t, k), 0), 32);
    store<f64>(q, unacked ? NaN : s.lastValue, 40); // NaN: any value qualifies (gt / lt / st)
    memory.copy(q + 48, changetype<usize>(s), 8); // the LwPath
    memory.copy(q + 56, obsPath(t, k), <usize>obsPathLen(t, k));
    q += <usize>OBS_REC;
    n++;
  }
  const na = attrExport(<u32>c.ssid, q, MAX_ATTR_ENTRIES);
  if (n == 0 && na == 0) { dropRecord(ci); return 0; }
  store<u32>(p, MAGIC);
  store<u8>(p, VERSION, 4);
  store<u8>(p, <u8>n, 5);
  store<u8>(p, <u8>na, 6);
  store<u8>(p, <u8>c.locLen, 7);
  store<i64>(p, wall, O_WALL);
  memory.copy(p + <usize>O_BIND, accountBinding(<u32>c.secIid), 32);
  memory.copy(p + <usize>O_LOC, connLoc(ci), <usize>c.locLen);
  const len = HEADER + n * OBS_REC + na * ATTR_ENTRY_SIZE;
  const r = storePut(recordId(ci), p, len);
  memory.fill(p, 0, <usize>len);
  lb("observations: ssid=");
  lnum(c.ssid);
  if (r < 0) {
    ls(": not kept across the sleep, store status ");
    lnum(r);
    lwarn();
  } else {
    ls(": ");
    lnum(n);
    ls(" observations and ");
    lnum(na);
    ls(" attribute entries kept for the wake");
    linfo();
  }
  return r;
}

function refuse(ci: i32, why: string, status: i32): bool {
  dropRecord(ci);
  connObsClear(ci);
  attrRemove(<u32>conn(ci).ssid, changetype<LwPath>(ROOT));
  lb("observations: ssid=");
  lnum(conn(ci).ssid);
  ls(": kept observations dropped, ");
  ls(why);
  if (status < 0) { ls(", status "); lnum(status); }
  ls(": Register instead of Update (the server observes again)");
  lwarn();
  return false;
}
const ROOT = memory.data<u16>([0xffff, 0xffff, 0xffff, 0xffff]);

/**
 * At the wake's first request, after registrationRestore (`registered`: it restored the
 * registration of connection ci): the kept observations and attributes restored, held until the
 * Update is acknowledged (Conn.obsHeld). True when the registration goes on (Update): restored, or
 * there was no record. False (Register) when `registered` was false or the record is refused
 * (logged). The record is used once: deleted here in every case.
 */
export function observationsRestore(ci: i32, registered: bool, now: i64): bool {
  if (ci <= 0 || ci >= MAX_CONNS) return registered;
  const id = recordId(ci);
  if (!registered) { dropRecord(ci); return false; }
  const c = conn(ci);
  const p = REPR;
  const len = storeGet(id, p, min(REPR_CAP, OBS_RECORD_MAX));
  if (len == StoreStatus.NotFound) return true; // nothing was observed
  if (len < 0) return refuse(ci, "the record failed authentication (tampered or corrupt)", len);
  const r = restore(ci, c.ssid, len, now);
  memory.fill(p, 0, <usize>len);
  if (r.length > 0) return refuse(ci, r, 0);
  storeDelete(id);
  return true;
}

function restore(ci: i32, ssid: i32, len: i32, now: i64): string {
  const p = REPR;
  const c = conn(ci);
  const n = <i32>load<u8>(p, 5);
  const na = <i32>load<u8>(p, 6);
  if (len < HEADER || load<u32>(p) != MAGIC || load<u8>(p, 4) != VERSION || n > OBS_PER_CONN || na > MAX_ATTR_ENTRIES
      || len != HEADER + n * OBS_REC + na * ATTR_ENTRY_SIZE) return "malformed record";
  if (!ctEqual(accountBinding(<u32>c.secIid), p + <usize>O_BIND, 32)) return "the record belongs to another server, identity or endpoint";
  const locLen = <i32>load<u8>(p, 7);
  if (locLen != c.locLen || !coapBytesEqual(p + <usize>O_LOC, connLoc(ci), locLen)) return "the record belongs to another registration";
  const wall = clock_wall_seconds();
  const slept = load<i64>(p, O_WALL);
  if (wall < 0 || wall < slept) return "no wall clock to bound the time asleep";
  const asleep = (wall - slept) * 1000;
  const t = connObs(ci);
  connObsClear(ci);
  let q = p + <usize>HEADER;
  for (let k = 0; k < n; k++) {
    if (!obsRestore(t, k, <i32>load<u8>(q), load<u64>(q, 8), <i32>load<u32>(q, 4), load<i32>(q, 16),
      now - load<i64>(q, 32) - asleep, q + 56, <i32>load<u8>(q, 1))) { connObsClear(ci); return "malformed record"; }
    const s = obsState(ci, k);
    memory.copy(changetype<usize>(s), q + 48, 8);
    s.dirty = load<u8>(q, 2) != 0 ? 1 : 0;
    s.lastSent = now - load<i64>(q, 24) - asleep; // pmin / pmax run on across the sleep
    s.lastValue = load<f64>(q, 40);
    s.holdUntil = 0;
    q += <usize>OBS_REC;
  }
  attrRemove(<u32>ssid, changetype<LwPath>(ROOT));
  for (let j = 0; j < na; j++) {
    if (!attrImport(<u32>ssid, q)) {
      connObsClear(ci);
      attrRemove(<u32>ssid, changetype<LwPath>(ROOT));
      return "malformed record";
    }
    q += <usize>ATTR_ENTRY_SIZE;
  }
  c.obsHeld = n > 0 ? 1 : 0;
  lb("observations: ssid=");
  lnum(ssid);
  ls(": ");
  lnum(n);
  ls(" observations and ");
  lnum(na);
  ls(" attribute entries kept across the reboot (asleep ");
  lnum(asleep / 1000);
  ls(" s), held until the Update is acknowledged");
  linfo();
  return "";
}
