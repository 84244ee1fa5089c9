// The DTLS connection kept across deep sleep (issue 10 §2 "Beyond resumption",
// LPWA-1): a wake sends its Update with no handshake at all. At prepare_sleep
// (sleep mode Keep) each established connection's state (both directions'
// keys, the CIDs, the replay window: DtlsConnection.keepState) is sealed into
// the store (record RecordId.DtlsKeptFirst + connection, AES-GCM by the SE like
// every record) and wiped from RAM; no close_notify. At the wake's open the
// record is checked (account binding, DTLS-10 age) and the connection
// restored (restoreKept).
//
// The nonce rule (CCM: a sequence number is never used twice with the same
// keys, whatever the power does): the record holds the first write sequence
// number that may be used after a reboot. Before a restored connection sends
// anything, the record is rewritten with that number moved on by SEQ_BLOCK,
// and the connection may seal only up to it (writeSeqLimit); when the block
// runs low it is reserved again before the next send. A power cut before the
// reservation's commit leaves the old record, and nothing was sent with the
// numbers it allows; after it, the numbers sent are below the new one.
// DTLS-10's authentication-failure count (RFC 9147 4.5.3: an integrity limit
// per key) holds across reboots the same way: the record holds the failures
// counted so far plus AUTH_BLOCK reserved; a restored connection starts from
// that count and opens no record once it reaches the reservation
// (DtlsConnection.authFailureLimit) until the next block is committed, so a
// power cut can only overstate the count, never reset it; at the limit the
// record is dropped (the session resumes: new keys, new counts). A
// record that does not open, is foreign, too old, or malformed is dropped
// (the sealed session then resumes); a kept connection the server no longer
// knows (no answer within KEPT_CONFIRM_MS, an alert) is dropped once: the
// next handshake resumes, then a full one (transport.ts), never a loop.
import { clock_wall_seconds } from "../host/abi";
import { storeGet, storePut, storeDelete, storeSize, RecordId, StoreStatus } from "../storage/store";
import { DtlsConnection, KEPT_STATE_SIZE } from "../dtls/connection";
import { DtlsConfig } from "../dtls/config";
import { ctEqual, wipe } from "../crypto/ct";
import { lb, ls, lnum, linfo, lwarn } from "../lwm2m/client/events";
import { REC, REC_CAP, KEEP_HEADER, KEEP_RECORD_SIZE, accountBinding } from "./session-store";

/** What prepare_sleep does with the DTLS connections (ABI set_sleep_mode). */
export namespace SleepMode {
  /** close_notify; the sealed session resumes at wake (abbreviated handshake). The default. */
  export const Resume: i32 = 0;
  /** The connection itself sealed: no handshake at wake. */
  export const Keep: i32 = 1;
  /** close_notify and the sealed session dropped: a full handshake at wake. */
  export const Full: i32 = 2;
}
export let sleepMode: i32 = SleepMode.Resume;
export function setSleepMode(m: i32): bool {
  if (m < SleepMode.Resume || m > SleepMode.Full) return false;
  sleepMode = m;
  return true;
}

/** Sequence numbers reserved per store write. */
export const SEQ_BLOCK: u64 = 64;
/** Authentication failures reserved per store write (of DtlsConfig.maxAuthFailures, 128 for CCM_8). */
export const AUTH_BLOCK: i32 = 8;
/** A restored connection must hear from the server this long after its first record
 *  (about the first CoAP retransmission, RFC 7252 4.8 ACK_TIMEOUT * ACK_RANDOM_FACTOR). */
export const KEPT_CONFIRM_MS: i64 = 3000;

const MAGIC: u32 = 0x434b574c; // "LWKC"
const VERSION: u8 = 2;
// header: magic u32, version u8, 3 x 0, created wall second (full handshake) i64 @8,
// next write sequence number u64 @16, account binding[32] @24, authentication failures
// (counted + reserved) i32 @56, 0 u32, the DTLS state @64
const O_WALL: usize = 8;
const O_SEQ: usize = 16;
const O_BIND: usize = 24;
const O_AUTH: usize = 56;
const O_STATE: usize = <usize>KEEP_HEADER;

// per connection: the reservation (0 = the connection is not a restored one), the wall second of
// its full handshake, and the monotonic ms by which the server must have answered (0 = it has);
// the authentication failures reserved
const LIMIT = memory.data(8 * 3, 8);
const AUTH = memory.data(4 * 3, 4);
const CREATED = memory.data(8 * 3, 8);
const CONFIRM = memory.data(8 * 3, 8);
function recordId(ci: i32): i32 { return RecordId.DtlsKeptFirst + ci; }

function seal(ci: i32, d: DtlsConnection, secIid: u32, created: i64, nextSeq: u64, authFailures: i32): i32 {
  if (KEEP_RECORD_SIZE > REC_CAP) unreachable(); // a build bug
  const n = d.keepState(REC + O_STATE);
  if (n < 0) return n;
  store<u32>(REC, MAGIC);
  store<u32>(REC, <u32>VERSION, 4);
  store<i64>(REC + O_WALL, created);
  store<u64>(REC + O_SEQ, nextSeq);
  memory.copy(REC + O_BIND, accountBinding(secIid), 32);
  store<i32>(REC + O_AUTH, authFailures);
  store<u32>(REC + O_AUTH, 0, 4);
  const r = storePut(recordId(ci), REC, KEEP_RECORD_SIZE);
  wipe(REC, KEEP_RECORD_SIZE); // SE-2: the keys are in the sealed store only
  return r;
}

/** prepare_sleep, mode Keep: connection ci (established) sealed; the caller then wipes it
 *  (reset) without close_notify. The store status (0 ok), or a DtlsError. */
export function keepSave(ci: i32, d: DtlsConnection, secIid: u32, now: i64): i32 {
  const wall = clock_wall_seconds();
  let created = load<i64>(CREATED + <usize>(ci << 3));
  if (created <= 0) created = wall >= 0 ? wall - (now - d.sessionStart) / 1000 : 0;
  const r = seal(ci, d, secIid, created, d.writeSequence(), d.authFailures);
  store<u64>(LIMIT + <usize>(ci << 3), 0);
  return r;
}

function drop(ci: i32, ssid: i32, why: string): bool {
  lb("DTLS: ssid=");
  lnum(ssid);
  ls(": kept connection dropped, ");
  ls(why);
  ls(": resuming the sealed session");
  lwarn();
  keepDrop(ci);
  return false;
}

/**
 * At open: connection ci restored from its kept record (d Idle, cfg configured): the next
 * SEQ_BLOCK sequence numbers reserved in the store first, then the connection Established.
 * False when there is none or it was dropped (logged; the record deleted).
 */
export function keepRestore(ci: i32, ssid: i32, secIid: u32, d: DtlsConnection, cfg: DtlsConfig, now: i64): bool {
  const n = storeGet(recordId(ci), REC, REC_CAP);
  if (n == StoreStatus.NotFound) return false;
  if (n < 0) return drop(ci, ssid, "the record failed authentication (tampered or corrupt)");
  let why = "";
  const wall = clock_wall_seconds();
  const created = load<i64>(REC + O_WALL);
  const seq = load<u64>(REC + O_SEQ);
  const auth = load<i32>(REC + O_AUTH);
  if (n != KEEP_RECORD_SIZE || load<u32>(REC) != MAGIC || load<u8>(REC, 4) != VERSION) why = "malformed record";
  else if (!ctEqual(accountBinding(secIid), REC + O_BIND, 32)) why = "it belongs to another server, identity or endpoint";
  else if (wall < 0 || created <= 0) why = "no wall clock to bound its age (DTLS-10)";
  else if (wall < created || cfg.maxSessionAgeMs > 0 && (wall - created) * 1000 >= cfg.maxSessionAgeMs) why = "older than the session-age limit (DTLS-10)";
  else if (seq > cfg.maxRecordSequence - SEQ_BLOCK) why = "record sequence limit (DTLS-10)";
  else if (auth < 0 || auth >= cfg.maxAuthFailures) why = "authentication-failure limit (DTLS-10)";
  if (why.length > 0) {
    wipe(REC, REC_CAP);
    return drop(ci, ssid, why);
  }
  // the reservations are committed before anything is sent or opened with these keys
  const limit = seq + SEQ_BLOCK;
  const authLimit = auth + AUTH_BLOCK;
  store<u64>(REC + O_SEQ, limit);
  store<i32>(REC + O_AUTH, authLimit);
  const r = storePut(recordId(ci), REC, KEEP_RECORD_SIZE); // the reservation, committed before any record is sealed
  const e = r < 0 ? r : d.restoreKept(REC + O_STATE, seq, limit, now - (wall - created) * 1000);
  wipe(REC, REC_CAP);
  if (e != 0) return drop(ci, ssid, r < 0 ? "the sequence numbers could not be reserved" : "malformed record");
  d.authFailures = auth;
  d.authFailureLimit = authLimit;
  store<u64>(LIMIT + <usize>(ci << 3), limit);
  store<i32>(AUTH + <usize>(ci << 2), authLimit);
  store<i64>(CREATED + <usize>(ci << 3), created);
  store<i64>(CONFIRM + <usize>(ci << 3), 0);
  lb("DTLS: ssid=");
  lnum(ssid);
  ls(": connection kept across sleep, no handshake (sequence numbers ");
  lnum(<i64>seq);
  ls(" to ");
  lnum(<i64>limit - 1);
  ls(" reserved; ");
  lnum(auth);
  ls(" records failed authentication so far)");
  linfo();
  return true;
}

/** A restored connection's record rewritten with new reservations (sequence numbers below seqLimit,
 *  authFailures failures), then kept as its limits; false (nothing changed) when the store failed. */
function reserve(ci: i32, d: DtlsConnection, secIid: u32, seqLimit: u64, authFailures: i32): bool {
  if (seal(ci, d, secIid, load<i64>(CREATED + <usize>(ci << 3)), seqLimit, authFailures) < 0) return false;
  store<u64>(LIMIT + <usize>(ci << 3), seqLimit);
  store<i32>(AUTH + <usize>(ci << 2), authFailures);
  d.writeSeqLimit = seqLimit;
  d.authFailureLimit = authFailures;
  return true;
}

/** Before a record goes out on connection ci: the next block reserved when this one runs
 *  out. False when it could not be (the record is not sent: the connection stops at its limit). */
export function keepReserve(ci: i32, d: DtlsConnection, secIid: u32): bool {
  const limit = load<u64>(LIMIT + <usize>(ci << 3));
  if (limit == 0 || d.writeSequence() + 2 < limit) return true;
  const next = d.writeSequence() + SEQ_BLOCK;
  if (!reserve(ci, d, secIid, next, load<i32>(AUTH + <usize>(ci << 2)))) return false;
  lb("DTLS: kept connection: sequence numbers reserved up to ");
  lnum(<i64>next - 1);
  linfo();
  return true;
}

/** After a datagram on connection ci: when a restored connection has used up the authentication
 *  failures reserved, the next AUTH_BLOCK reserved (until then it opens no record). */
export function keepAuthReserve(ci: i32, d: DtlsConnection, secIid: u32): void {
  const limit = load<u64>(LIMIT + <usize>(ci << 3));
  if (limit == 0 || d.authFailures < load<i32>(AUTH + <usize>(ci << 2))) return;
  const next = d.authFailures + AUTH_BLOCK;
  if (!reserve(ci, d, secIid, limit, next)) return;
  lb("DTLS: kept connection: ");
  lnum(d.authFailures);
  ls(" records failed authentication, reserved up to ");
  lnum(next);
  linfo();
}

/** A restored connection's first record went out: the server must answer by now + KEPT_CONFIRM_MS. */
export function keepSent(ci: i32, now: i64): void {
  if (load<u64>(LIMIT + <usize>(ci << 3)) != 0 && load<i64>(CONFIRM + <usize>(ci << 3)) == 0) {
    store<i64>(CONFIRM + <usize>(ci << 3), now + KEPT_CONFIRM_MS);
  }
}
/** An authenticated record from the server: the kept connection is alive. */
export function keepConfirmed(ci: i32): void { store<i64>(CONFIRM + <usize>(ci << 3), -1); }
/** When a restored connection that has not heard from the server gives up (-1 none). */
export function keepDeadline(ci: i32): i64 {
  const t = load<i64>(CONFIRM + <usize>(ci << 3));
  return load<u64>(LIMIT + <usize>(ci << 3)) != 0 && t > 0 ? t : -1;
}

/** The connection ended (closed, failed, dropped): its kept record goes. */
export function keepDrop(ci: i32): void {
  store<u64>(LIMIT + <usize>(ci << 3), 0);
  store<i64>(CONFIRM + <usize>(ci << 3), 0);
  store<i64>(CREATED + <usize>(ci << 3), 0);
  if (storeSize(recordId(ci)) != StoreStatus.NotFound) storeDelete(recordId(ci));
}
