// DTLS sessions across sleep and reboot (DTLS-10, SE-2, LPWA-1): the
// resumable session of a client connection (RFC 5246 7.3 session ID and/or
// RFC 5077 ticket, master secret, suite, EMS) lives in the sealed store
// (storage/store.ts, record RecordId.DtlsSessionFirst + connection index),
// never in RAM between handshakes:
//   sessionSave  after a handshake completes (a new session, or a resumed one
//                that received a new ticket): the record is sealed by the SE
//                (AES-GCM under the device key) and committed atomically; the
//                RAM copy, master secret included, is wiped at once.
//   sessionLoad  before a handshake: the record is opened, checked, and put
//                into the DtlsSession the ClientHello offers. A record that is
//                tampered (the SE refuses to open it), for another server or
//                identity (binding hash), older than the session-age limit,
//                or whose age cannot be bounded (no wall clock) is dropped:
//                full handshake, with a log line saying why.
// The session age spans reboots: it is counted from the wall-clock second of
// the full handshake stored in the record. A rolled-back flash image is
// refused by the store as a whole at mount (docs/storage.md).
import { clock_wall_seconds } from "../host/abi";
import { storeGet, storePut, storeDelete, storeSize, RecordId, StoreStatus } from "../storage/store";
import { DtlsSession, MAX_SESSION_ID_LEN, MASTER_SECRET_LEN } from "../dtls/session";
import { DtlsConfig } from "../dtls/config";
import { sha256Init, sha256Update, sha256Final } from "../crypto/sha256";
import { ctEqual, wipe } from "../crypto/ct";
import { getBytes, found, valueLen } from "../lwm2m/model";
import { SECURITY_OID, Sec } from "../lwm2m/objects/security";
import { EP_NAME, epNameLen } from "../lwm2m/client/registration";
import { lb, ls, lnum, linfo, lwarn } from "../lwm2m/client/events";
import { conn, connLoc, LOC_CAP } from "../lwm2m/client/conn";
import { KEPT_STATE_SIZE } from "../dtls/connection";

/** A kept connection's record (keep.ts): 64-byte header and the DTLS state. */
export const KEEP_HEADER: i32 = 64;
export const KEEP_RECORD_SIZE: i32 = KEEP_HEADER + KEPT_STATE_SIZE;

/** Largest RFC 5077 ticket kept (OpenSSL 3 issues ~200 bytes for a PSK session). */
export const SESSION_TICKET_CAP: i32 = 384;

const MAGIC: u32 = 0x5344574c; // "LWDS"
const VERSION: u8 = 1;
// Record layout (little-endian): magic u32, version u8, ems u8, u16 0,
// suite u32, idLen u16, ticketLen u16, createdWall i64, ticketLifetimeHint u32,
// binding[32], id[32], masterSecret[48], ticket[ticketLen]
const O_SUITE: i32 = 8;
const O_IDLEN: i32 = 12;
const O_TLEN: i32 = 14;
const O_WALL: i32 = 16;
const O_HINT: i32 = 24;
const O_BIND: i32 = 28;
const O_ID: i32 = 60;
const O_MS: i32 = O_ID + MAX_SESSION_ID_LEN;
const O_TICKET: i32 = O_MS + MASTER_SECRET_LEN;
/** The record buffer, shared with the connection kept across sleep (keep.ts): the larger of a
 *  session (O_TICKET + SESSION_TICKET_CAP = 524) and a kept connection (KEEP_RECORD_SIZE = 600;
 *  keep.ts checks it). */
export const REC_CAP: i32 = 600;

export const REC = memory.data(REC_CAP, 8);
const BIND = memory.data(32, 8);
const CTX = memory.data(128, 8);

/** Why sessionLoad did not resume (tests and logs). */
export namespace SessionDrop {
  export const None: i32 = 0;
  export const Absent: i32 = 1;
  export const Tampered: i32 = 2;
  export const Foreign: i32 = 3;
  export const TooOld: i32 = 4;
  export const NoClock: i32 = 5;
  export const Malformed: i32 = 6;
}

function recordId(ci: i32): i32 { return RecordId.DtlsSessionFirst + ci; }

function hashField(p: usize, n: i32): void {
  const l = memory.data(4, 4);
  store<u32>(l, <u32>n);
  sha256Update(CTX, l, 4);
  if (n > 0) sha256Update(CTX, p, n);
}

/** The account a session belongs to: SHA-256 over the endpoint name, the server URI,
 *  our identity (PSK identity / certificate / public key) and the server's key (resource 4). */
function binding(secIid: u32): void {
  sha256Init(CTX);
  store<u32>(BIND, MAGIC);
  sha256Update(CTX, BIND, 4);
  hashField(EP_NAME, epNameLen);
  const uri = getBytes(SECURITY_OID, secIid, Sec.Uri);
  hashField(uri, found ? valueLen : 0);
  const own = getBytes(SECURITY_OID, secIid, Sec.PublicKeyOrIdentity);
  hashField(own, found ? valueLen : 0);
  const srv = getBytes(SECURITY_OID, secIid, Sec.ServerPublicKey);
  hashField(srv, found ? valueLen : 0);
  sha256Final(CTX, BIND);
}

/** The account binding of Security instance secIid (32 bytes, valid until the next call). */
export function accountBinding(secIid: u32): usize {
  binding(secIid);
  return BIND;
}

function logDrop(ssid: i32, why: i32, detail: i64): void {
  lb("DTLS: ssid=");
  lnum(ssid);
  ls(": stored session dropped, ");
  switch (why) {
    case SessionDrop.Tampered: ls("the record failed authentication (tampered or corrupt), status "); lnum(detail); break;
    case SessionDrop.Foreign: ls("the record belongs to another server, identity or endpoint"); break;
    case SessionDrop.TooOld: ls("older than the session-age limit (DTLS-10), age "); lnum(detail); ls(" s"); break;
    case SessionDrop.NoClock: ls("no wall clock to bound its age (DTLS-10)"); break;
    default: ls("malformed record"); break;
  }
  ls(": full handshake");
  lwarn();
}

/** Last outcome of sessionLoad per connection (SessionDrop). */
const LAST = memory.data(4 * 4, 4);
export function sessionLastDrop(ci: i32): i32 { return load<i32>(LAST + <usize>(ci << 2)); }

/**
 * Loads connection ci's stored session into `s` (cleared first). True when a
 * session is offered; otherwise the record (if any) was dropped and logged.
 */
export function sessionLoad(ci: i32, ssid: i32, secIid: u32, cfg: DtlsConfig, s: DtlsSession, now: i64): bool {
  s.clear();
  const why = load1(ci, secIid, cfg, s, now);
  store<i32>(LAST + <usize>(ci << 2), why);
  if (why == SessionDrop.None) {
    lb("DTLS: ssid=");
    lnum(ssid);
    ls(": offering the stored session (");
    ls(s.ticketLen > 0 ? "ticket" : "session ID");
    ls(", age ");
    lnum((now - s.createdAt) / 1000);
    ls(" s)");
    linfo();
    return true;
  }
  s.clear();
  if (why != SessionDrop.Absent) {
    logDrop(ssid, why, lastDetail);
    storeDelete(recordId(ci)); // never offered again
  }
  return false;
}

let lastDetail: i64 = 0;

function load1(ci: i32, secIid: u32, cfg: DtlsConfig, s: DtlsSession, now: i64): i32 {
  const n = storeGet(recordId(ci), REC, REC_CAP);
  if (n == StoreStatus.NotFound) return SessionDrop.Absent;
  if (n < 0) { lastDetail = n; return SessionDrop.Tampered; }
  const r = check(n, secIid, cfg, s, now);
  wipe(REC, REC_CAP);
  return r;
}

function check(n: i32, secIid: u32, cfg: DtlsConfig, s: DtlsSession, now: i64): i32 {
  if (n < O_TICKET || load<u32>(REC) != MAGIC || load<u8>(REC, 4) != VERSION) return SessionDrop.Malformed;
  const idLen = <i32>load<u16>(REC, O_IDLEN);
  const tLen = <i32>load<u16>(REC, O_TLEN);
  if (idLen > MAX_SESSION_ID_LEN || tLen > s.ticketCapacity || n != O_TICKET + tLen || idLen + tLen == 0) return SessionDrop.Malformed;
  binding(secIid);
  if (!ctEqual(BIND, REC + <usize>O_BIND, 32)) return SessionDrop.Foreign;
  // DTLS-10: the age counts from the full handshake, across reboots, by the wall clock
  const wall = clock_wall_seconds();
  const created = load<i64>(REC, O_WALL);
  if (wall < 0 || created <= 0) return SessionDrop.NoClock;
  const ageMs = (wall - created) * 1000;
  lastDetail = wall - created;
  if (ageMs < 0 || (cfg.maxSessionAgeMs > 0 && ageMs >= cfg.maxSessionAgeMs)) return SessionDrop.TooOld;
  s.suite = load<u32>(REC, O_SUITE);
  s.ems = load<u8>(REC, 5) != 0;
  if (!s.ems) return SessionDrop.Malformed; // RFC 7627 5.3: never stored without EMS
  s.idLen = idLen;
  memory.copy(s.id(), REC + <usize>O_ID, <usize>idLen);
  memory.copy(s.masterSecret(), REC + <usize>O_MS, <usize>MASTER_SECRET_LEN);
  s.ticketLen = tLen;
  if (tLen > 0) memory.copy(s.ticket(), REC + <usize>O_TICKET, <usize>tLen);
  s.ticketLifetimeHint = load<u32>(REC, O_HINT);
  s.createdAt = now - ageMs;
  s.valid = true;
  return SessionDrop.None;
}

/** Wall second of the full handshake of the session in RAM, per connection (kept for resumed ones). */
const CREATED = memory.data(8 * 4, 8);

/**
 * After a handshake completed: the session is sealed into the store (a new
 * session, or a changed ticket), then wiped from RAM. `resumed`: the created
 * time of the stored record is kept. Returns the store status (0 ok).
 */
export function sessionSave(ci: i32, secIid: u32, cfg: DtlsConfig, s: DtlsSession, resumed: bool, now: i64): i32 {
  if (!s.valid || !s.ems) {
    s.clear();
    return storeSize(recordId(ci)) >= 0 ? storeDelete(recordId(ci)) : 0;
  }
  let created = load<i64>(CREATED + <usize>(ci << 3));
  if (!resumed) {
    const w = clock_wall_seconds();
    created = w >= 0 ? w : 0;
  } else if (created <= 0) {
    created = clock_wall_seconds() - (now - s.createdAt) / 1000;
  }
  store<i64>(CREATED + <usize>(ci << 3), created);
  memory.fill(REC, 0, <usize>O_TICKET);
  store<u32>(REC, MAGIC);
  store<u8>(REC, VERSION, 4);
  store<u8>(REC, 1, 5);
  store<u32>(REC, s.suite, O_SUITE);
  store<u16>(REC, <u16>s.idLen, O_IDLEN);
  const tLen = min(s.ticketLen, SESSION_TICKET_CAP);
  store<u16>(REC, <u16>tLen, O_TLEN);
  store<i64>(REC, created, O_WALL);
  store<u32>(REC, s.ticketLifetimeHint, O_HINT);
  binding(secIid);
  memory.copy(REC + <usize>O_BIND, BIND, 32);
  memory.copy(REC + <usize>O_ID, s.id(), <usize>s.idLen);
  memory.copy(REC + <usize>O_MS, s.masterSecret(), <usize>MASTER_SECRET_LEN);
  if (tLen > 0) memory.copy(REC + <usize>O_TICKET, s.ticket(), <usize>tLen);
  const r = storePut(recordId(ci), REC, O_TICKET + tLen);
  wipe(REC, REC_CAP);
  s.clear(); // SE-2: the master secret is in the sealed store only
  return r;
}

/** A stored session the server refused: deleted (the next handshake is a full one). */
export function sessionDiscard(ci: i32): void {
  store<i32>(LAST + <usize>(ci << 2), SessionDrop.Absent);
  if (storeSize(recordId(ci)) != StoreStatus.NotFound) storeDelete(recordId(ci));
}

// ---- the registration across reboot (LPWA-1; lwm2m/client/registration.ts setRegistrationKeeper) ----
// Record RecordId.DtlsSessionFirst + 3 + ci (6..8), sealed like every record: magic "LWRG" u32,
// lifetime i32, binding u64, bindingLen u8, locLen u8, u16 0, wall second of the last 2.01/2.04 i64,
// account binding[32], Location-Path[locLen] as (len, bytes)*
const REG_MAGIC: u32 = 0x4752574c; // "LWRG"
const R_WALL: i32 = 20;
const R_BIND: i32 = 28;
const R_LOC: i32 = 60;
function regRecordId(ci: i32): i32 { return RecordId.DtlsSessionFirst + 3 + ci; }

/** Before deep sleep (prepare_sleep): the registration of connection ci sealed into the store
 *  (`registered`: it has a 2.01 and no De-register), or any older record deleted. */
export function registrationKeep(ci: i32, registered: bool, now: i64): void {
  const c = conn(ci);
  const id = regRecordId(ci);
  const wall = clock_wall_seconds();
  if (!registered || wall < 0 || c.locLen <= 0 || c.locLen > LOC_CAP) {
    if (storeSize(id) != StoreStatus.NotFound) storeDelete(id);
    return;
  }
  memory.fill(REC, 0, <usize>R_LOC);
  store<u32>(REC, REG_MAGIC);
  store<i32>(REC, c.lifetime, 4);
  store<u64>(REC, c.binding, 8);
  store<u8>(REC, <u8>c.bindingLen, 16);
  store<u8>(REC, <u8>c.locLen, 17);
  // §6.2.2: the lifetime runs from the last 2.01 / 2.04 (Conn.since, monotonic), by the wall clock
  store<i64>(REC, wall - (now - c.since) / 1000, R_WALL);
  binding(<u32>c.secIid);
  memory.copy(REC + <usize>R_BIND, BIND, 32);
  memory.copy(REC + <usize>R_LOC, connLoc(ci), <usize>c.locLen);
  const r = storePut(id, REC, R_LOC + c.locLen);
  if (r < 0) {
    lb("registration: ssid=");
    lnum(c.ssid);
    ls(": not kept across a reboot, store status ");
    lnum(r);
    lwarn();
  }
}

/** At the first request of a channel after a wake: the kept registration into conn(ci) when it
 *  belongs to this account and its lifetime has not run out by the wall clock; true then (an Update
 *  follows). The record is used once (deleted here). */
export function registrationRestore(ci: i32): bool {
  const c = conn(ci);
  const id = regRecordId(ci);
  const n = storeGet(id, REC, REC_CAP);
  if (n == StoreStatus.NotFound) return false;
  let ok = n >= R_LOC && load<u32>(REC) == REG_MAGIC;
  const locLen = ok ? <i32>load<u8>(REC, 17) : 0;
  ok = ok && locLen > 0 && locLen <= LOC_CAP && n == R_LOC + locLen;
  if (ok) {
    binding(<u32>c.secIid);
    ok = ctEqual(BIND, REC + <usize>R_BIND, 32);
  }
  const wall = clock_wall_seconds();
  // §6.2.2: the registration lives `lifetime` s after the last 2.01/2.04; 10 % margin for the trip
  ok = ok && wall >= 0 && (wall - load<i64>(REC, R_WALL)) * 10 < <i64>load<i32>(REC, 4) * 9;
  if (ok) {
    c.lifetime = load<i32>(REC, 4);
    c.binding = load<u64>(REC, 8);
    c.bindingLen = <i32>load<u8>(REC, 16);
    c.locLen = locLen;
    memory.copy(connLoc(ci), REC + <usize>R_LOC, <usize>locLen);
  }
  storeDelete(id); // used once; expired, foreign or unreadable: Register
  memory.fill(REC, 0, <usize>R_LOC + <usize>LOC_CAP);
  return ok;
}
