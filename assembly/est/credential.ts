// The enrolled credential (issue 8 steps 6, 7, 9): the certificate EST issued
// and the SE slot of its key, stored together in ONE sealed record of the
// store (RecordId.EstCredential), so a power cut leaves the old credential or
// the new one, never the certificate of one with the key slot of the other.
// Two persistent SE slots take turns (EST_SLOT_A / EST_SLOT_B): a renewal
// generates its key in the slot not in use; the old slot is destroyed only
// after the new record is committed, and estCredentialLoad() destroys a slot
// that no committed record names (a renewal cut short).
//
// Record value: version u8 (1), slot u8, certificate length u16 (LE), DER.
import { se_public_key, se_destroy, HostStatus } from "../host/abi";
import { storePut, storeGet, RecordId, MAX_VALUE_LEN } from "../storage/store";
import { Cert, x509Parse } from "../x509/cert";
import { x509CheckTime, VerifyFlag } from "../x509/verify";
import { bytesEqual } from "../asn1/der";
import { EstError } from "./codec";

/** The SE slots of the enrolled key (SeSlot plan: 1..7 provisioned, persistent). */
export const EST_SLOT_A: i32 = 2;
export const EST_SLOT_B: i32 = 3;
const VERSION: u8 = 1;
const HDR: i32 = 4;
export const EST_CERT_MAX: i32 = MAX_VALUE_LEN - HDR;

const pubTmp = memory.data(65);

/** After estCredentialLoad(): the slot (-1 none) and the certificate in the caller's buffer. */
export let estCredSlot: i32 = -1;
export let estCredCertLen: i32 = 0;

/** The slot a new enrolment / renewal uses: the one not holding the current credential. */
export function estNextSlot(): i32 { return estCredSlot == EST_SLOT_A ? EST_SLOT_B : EST_SLOT_A; }

/**
 * Checks and installs: the certificate parses, its public key is the key in
 * `slot` (issue 8 step 6), it is valid at `wall` when the time is known; then
 * one store put (its own transaction) commits certificate + slot. Only after
 * that commit is the previous credential's slot destroyed. `buf` is scratch of
 * HDR + certLen bytes (may be the caller's record image). 0 or an error.
 */
export function estCredentialInstall(cert: usize, certLen: i32, slot: i32, wall: i64, buf: usize, work: usize): i32 {
  if (certLen <= 0 || certLen > EST_CERT_MAX || (slot != EST_SLOT_A && slot != EST_SLOT_B)) return EstError.Malformed;
  const c = changetype<Cert>(work);
  if (x509Parse(cert, certLen, c) < 0) return EstError.Malformed;
  if (se_public_key(slot, pubTmp) != HostStatus.Ok) return EstError.Se;
  if (!bytesEqual(c.pub, pubTmp, 65)) return EstError.CertKeyMismatch;
  if (wall >= 0 && x509CheckTime(c, wall, 0) < 0) return EstError.CertExpired;
  store<u8>(buf, VERSION);
  store<u8>(buf + 1, <u8>slot);
  store<u16>(buf + 2, <u16>certLen);
  memory.copy(buf + HDR, cert, <usize>certLen);
  const old = estCredSlot;
  const r = storePut(RecordId.EstCredential, buf, HDR + certLen);
  if (r < 0) return r; // not committed: the old credential stays; the new slot is cleaned up at the next load
  estCredSlot = slot;
  estCredCertLen = certLen;
  if (old >= 0 && old != slot) se_destroy(old); // step 9: only after the new credential is committed
  return 0;
}

/**
 * Loads the committed credential into [buf, buf+cap): returns the certificate
 * length (the DER at buf + 4) and sets estCredSlot, or NotFound (-16) /
 * another store error. Destroys an EST slot that the record does not name
 * (the new key of a renewal that was not committed), and refuses a record
 * whose slot no longer holds the certificate's key.
 */
export function estCredentialLoad(buf: usize, cap: i32, work: usize): i32 {
  estCredSlot = -1;
  estCredCertLen = 0;
  const n = storeGet(RecordId.EstCredential, buf, cap);
  if (n < 0) {
    if (n == -16) { se_destroy(EST_SLOT_A); se_destroy(EST_SLOT_B); } // no credential: no enrolled key either
    return n;
  }
  if (n < HDR || load<u8>(buf) != VERSION) return EstError.Malformed;
  const slot = <i32>load<u8>(buf + 1);
  const len = <i32>load<u16>(buf + 2);
  if (len != n - HDR || (slot != EST_SLOT_A && slot != EST_SLOT_B)) return EstError.Malformed;
  const c = changetype<Cert>(work);
  if (x509Parse(buf + HDR, len, c) < 0) return EstError.Malformed;
  if (se_public_key(slot, pubTmp) != HostStatus.Ok || !bytesEqual(c.pub, pubTmp, 65)) return EstError.CertKeyMismatch;
  se_destroy(slot == EST_SLOT_A ? EST_SLOT_B : EST_SLOT_A);
  estCredSlot = slot;
  estCredCertLen = len;
  return len;
}

/** Seconds after notBefore when renewal starts: `percent` of the validity (default 75, issue 8 step 9). */
export function estRenewAt(notBefore: i64, notAfter: i64, percent: i32): i64 {
  if (percent <= 0 || percent > 100 || notAfter <= notBefore) return notBefore;
  return notBefore + (notAfter - notBefore) * <i64>percent / 100;
}
