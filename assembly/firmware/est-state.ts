// Security Mode 4 state of the device (issue 8): the EST configuration
// (server URI, explicit EST trust anchor, renewal point; factory-provisioned
// through the est_configure export into RecordId.EstConfig) and the enrolled
// credential loaded from the store (assembly/est/credential.ts). Both live in
// one area allocated the first time an account in mode 4 is opened, once (a
// device without such an account never pays for it). The EST client's work
// area and its CoAP endpoint are not here: during an enrolment the EST client
// works in the account's handshake block (idle once the DTLS handshake with
// the EST server is over) and sends on the account's own CoAP endpoint
// (firmware/transport.ts), so an enrolment costs no RAM of its own.
/** The build has Security Mode 4 (EST). The one seam of the EST code: with false, every EST
 *  path in firmware/ is dead code the compiler drops, and a mode-4 account is refused
 *  (TransportError.SecureUnavailable); bench/est.ts measures the code EST adds this way. */
export const EST_ENABLED: bool = !isDefined(PROFILE_NO_EST); // profile.ts HAS_EST (profiles.json PROFILE_NO_EST), a compile-time constant

import { estCredentialLoad, estCredSlot, estCredCertLen, estRenewAt } from "../est/credential";
import { Cert, CERT_SIZE } from "../x509/cert";
import { storeGet, storePut, storeDelete, RecordId } from "../storage/store";

const CRED_CAP: i32 = 1028; // record header + a certificate up to 1 KiB
const URI_CAP: i32 = 128;
/** The explicit EST trust anchor: its own record (RecordId.EstTrust), read only while the
 *  handshake with the EST server needs it, into memory the caller lends (estCaLoad). */
export const EST_CA_MAX: i32 = 1024;
const CFG_CAP: i32 = 2 + URI_CAP + 2;
const A_CRED: i32 = 0;
const A_CFG: i32 = A_CRED + CRED_CAP;
const A_CERT: i32 = A_CFG + ((2 + CFG_CAP + 7) & ~7);
const AREA_SIZE: i32 = A_CERT + ((CERT_SIZE + 7) & ~7);

let area: usize = 0;
let cfgLoaded = false;
let credLoaded = false;

/** The EST area (allocated on first use). */
function estArea(): usize {
  if (area == 0) area = changetype<usize>(new ArrayBuffer(AREA_SIZE));
  return area;
}
function cfg(): usize { return estArea() + <usize>A_CFG; }

// ---- configuration ---------------------------------------------------------------
// RecordId.EstConfig: uriLen u16, uri, renew percent u8, flags u8 (1 = server-side key
// generation, /skg; 2 = discovery); RecordId.EstTrust: the anchor's DER.
// In RAM: byte 0 = 0xff when no EstConfig is stored, the record from byte 2.

function loadConfig(): void {
  if (cfgLoaded) return;
  const c = cfg();
  memory.fill(c, 0, <usize>(2 + CFG_CAP));
  // default: the account's own server at /.well-known/est, trust from resource 4, renew at 75 %
  const n = storeGet(RecordId.EstConfig, c + 2, CFG_CAP);
  if (n < 4 || n != 4 + <i32>load<u16>(c + 2)) { store<u8>(c, 0xff); store<u16>(c + 2, 0); store<u8>(c + 4, 75); store<u8>(c + 5, 0); }
  cfgLoaded = true;
}
export function estUriLen(): i32 { loadConfig(); return <i32>load<u16>(cfg() + 2); }
export function estUri(): usize { return cfg() + 4; }
export function estRenewPercent(): i32 {
  const p = <i32>load<u8>(estUri() + <usize>estUriLen());
  return p > 0 && p <= 100 ? p : 75;
}
/** The device asks the EST server for its key (/skg, RFC 7030 §4.4) instead of generating one. */
export function estServerKeygen(): bool { return (load<u8>(estUri() + <usize>estUriLen() + 1) & 1) != 0; }
/** The device discovers the EST resources first (GET /.well-known/core?rt=ace.est*, RFC 9148 §4.1). */
export function estDiscover(): bool { return (load<u8>(estUri() + <usize>estUriLen() + 1) & 2) != 0; }
/** The explicit EST trust anchor into [buf, buf + EST_CA_MAX): its length, 0 when none is configured. */
export function estCaLoad(buf: usize): i32 {
  const n = storeGet(RecordId.EstTrust, buf, EST_CA_MAX);
  return n > 0 ? n : 0;
}
/** est_configure: kind 1 the EST URI, 2 the EST trust anchor (DER; length 0 removes it), 3 the
 *  renewal percent, 4 server-side key generation on (1) or off (0), 5 discovery on (1) or off (0)
 *  (3, 4 and 5 travel as `len`).
 *  Stored at once; -1 for a bad value or a store status. */
export function estConfigure(kind: i32, p: usize, len: i32): i32 {
  if (kind == 2) {
    if (len < 0 || len > EST_CA_MAX) return -1;
    if (len == 0) { const r = storeDelete(RecordId.EstTrust); return r == -16 ? 0 : r; } // NotFound: nothing to remove
    return storePut(RecordId.EstTrust, p, len);
  }
  const c = cfg();
  const uriLen = estUriLen();
  const tail = load<u16>(c + 4 + <usize>uriLen); // percent, flags
  if (kind == 1) {
    if (len < 0 || len > URI_CAP) return -1;
    memory.copy(c + 4, p, <usize>len);
    store<u16>(c + 2, <u16>len);
    store<u16>(c + 4 + <usize>len, tail);
  } else if (kind == 3) {
    if (len <= 0 || len > 100) return -1;
    store<u8>(c + 4 + <usize>uriLen, <u8>len);
  } else if (kind == 4 || kind == 5) {
    if (len < 0 || len > 1) return -1;
    const bit = kind == 4 ? 1 : 2;
    const f = c + 5 + <usize>uriLen;
    store<u8>(f, len ? load<u8>(f) | bit : load<u8>(f) & ~bit);
  } else return -1;
  store<u8>(c, 0);
  const r = storePut(RecordId.EstConfig, c + 2, 4 + estUriLen());
  if (r < 0) { cfgLoaded = false; return r; } // not stored: read back from the store next time
  return 0;
}

// ---- the enrolled credential -------------------------------------------------------

/** Loads the credential from the store once (and after an install): true when one is there. */
export function estCredential(reload: bool): bool {
  if (credLoaded && !reload) return estCredSlot >= 0;
  credLoaded = true;
  // a credential loaded is parsed (estCredentialLoad checked it into the A_CERT work area)
  const ok = estCredentialLoad(estArea() + <usize>A_CRED, CRED_CAP, estArea() + <usize>A_CERT) > 0;
  renewTime = -1;
  notAfter = -1;
  if (ok) {
    const c = changetype<Cert>(estArea() + <usize>A_CERT);
    renewTime = estRenewAt(c.notBefore, c.notAfter, estRenewPercent());
    notBefore = c.notBefore;
    notAfter = c.notAfter;
  }
  return ok;
}
/** Renewal point and validity of the loaded credential (Unix seconds; -1 none). */
let renewTime: i64 = -1;
let notBefore: i64 = -1;
let notAfter: i64 = -1;
/** Install scratch (record image) and parse work for estCredentialInstall. */
export function estCredBuf(): usize { return estArea() + <usize>A_CRED; }
export function estCertWork(): usize { return estArea() + <usize>A_CERT; }
export function estCredCert(): usize { return estArea() + <usize>A_CRED + 4; }
export function estCredLen(): i32 { return estCredCertLen; }
export function estCredCap(): i32 { return CRED_CAP - 4; }

/** The enrolled certificate's renewal point has passed at `wall` (unknown time: never due). */
export function estRenewalDue(wall: i64): bool {
  return wall >= 0 && estCredSlot >= 0 && wall >= renewTime;
}
/** Still usable at `wall` (unknown time: yes). */
export function estCredValid(wall: i64): bool {
  if (estCredSlot < 0 || notAfter < 0) return false;
  return wall < 0 || (wall >= notBefore && wall <= notAfter);
}
