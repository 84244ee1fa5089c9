// Security Mode 4 state of the device (issue 8): the EST configuration
// (server URI, explicit EST trust anchor, renewal point; factory-provisioned
// through the est_configure export into RecordId.EstConfig), the enrolled
// credential loaded from the store (assembly/est/credential.ts), and the
// memory the EST client needs. All of it lives in one area allocated the
// first time an account in mode 4 is opened, once (a device without such an
// account never pays for it).
import { CoapEndpoint, coapEndpointSize } from "../coap/endpoint";
import { EST_WORK_SIZE } from "../est/client";
import { estCredentialLoad, estCredSlot, estCredCertLen, estRenewAt } from "../est/credential";
import { Cert, CERT_SIZE, x509Parse } from "../x509/cert";
import { storeGet, storePut, RecordId } from "../storage/store";

export const EST_MSG_CAP: i32 = 1152; // a 1024-byte block with its options
const CRED_CAP: i32 = 1028; // record header + a certificate up to 1 KiB
const URI_CAP: i32 = 128;
const CA_CAP: i32 = 1024;
const CFG_CAP: i32 = 2 + URI_CAP + 2 + CA_CAP + 1;
const A_EP: i32 = EST_WORK_SIZE;
const A_CRED: i32 = A_EP + ((coapEndpointSize(EST_MSG_CAP, 1, 4) + 7) & ~7);
const A_CFG: i32 = A_CRED + CRED_CAP;
const A_CERT: i32 = A_CFG + ((CFG_CAP + 7) & ~7);
const AREA_SIZE: i32 = A_CERT + ((CERT_SIZE + 7) & ~7);

let area: usize = 0;
let cfgLoaded = false;
let credLoaded = false;

/** The EST area (allocated on first use). */
export function estArea(): usize {
  if (area == 0) area = changetype<usize>(new ArrayBuffer(AREA_SIZE));
  return area;
}
export function estWork(): usize { return estArea(); }
export function estEndpoint(): CoapEndpoint { return changetype<CoapEndpoint>(estArea() + <usize>A_EP); }
function cfg(): usize { return estArea() + <usize>A_CFG; }

// ---- configuration ---------------------------------------------------------------
// record value: uriLen u16, uri, caLen u16, ca, renew percent u8

function loadConfig(): void {
  if (cfgLoaded) return;
  const c = cfg();
  memory.fill(c, 0, <usize>CFG_CAP);
  // default: the account's own server at /.well-known/est, trust from resource 4, renew at 75 %
  const n = storeGet(RecordId.EstConfig, c + 2, CFG_CAP - 2);
  if (n < 5) store<u8>(c, 0xff); // none stored
  cfgLoaded = true;
}
function uriAt(): usize { return cfg() + 2 + 2; }
export function estUriLen(): i32 { loadConfig(); return load<u8>(cfg()) == 0xff ? 0 : <i32>load<u16>(cfg() + 2); }
export function estUri(): usize { return uriAt(); }
export function estCaLen(): i32 { const n = estUriLen(); return load<u8>(cfg()) == 0xff ? 0 : <i32>load<u16>(uriAt() + <usize>n); }
export function estCa(): usize { return uriAt() + <usize>estUriLen() + 2; }
export function estRenewPercent(): i32 {
  if (estUriLen() == 0 && load<u8>(cfg()) == 0xff) return 75;
  const p = <i32>load<u8>(estCa() + <usize>estCaLen());
  return p > 0 && p <= 100 ? p : 75;
}
/** Stored copy of the three fields (kind 1 URI, 2 trust anchor, 3 renewal percent) of est_configure. */
export function estConfigure(kind: i32, p: usize, len: i32): i32 {
  loadConfig();
  const c = cfg();
  const none = load<u8>(c) == 0xff;
  let uriLen = none ? 0 : estUriLen(), caLen = none ? 0 : estCaLen(), pct = none ? 75 : estRenewPercent();
  const tmp = estWork(); // staging (the EST client is idle during provisioning)
  let q = tmp;
  const uri = kind == 1 ? p : uriAt(), ul = kind == 1 ? len : uriLen;
  if (ul < 0 || ul > URI_CAP) return -1;
  store<u16>(q, <u16>ul); memory.copy(q + 2, uri, <usize>ul); q += 2 + <usize>ul;
  const ca = kind == 2 ? p : estCa(), cl = kind == 2 ? len : caLen;
  if (cl < 0 || cl > CA_CAP) return -1;
  store<u16>(q, <u16>cl); memory.copy(q + 2, ca, <usize>cl); q += 2 + <usize>cl;
  if (kind == 3) { if (len <= 0 || len > 100) return -1; pct = len; } // the percent travels as `len`
  else if (kind != 1 && kind != 2) return -1;
  store<u8>(q, <u8>pct); q += 1;
  const total = <i32>(q - tmp);
  const r = storePut(RecordId.EstConfig, tmp, total);
  if (r < 0) return r;
  memory.copy(c + 2, tmp, <usize>total);
  store<u8>(c, 0);
  return 0;
}

// ---- the enrolled credential -------------------------------------------------------

/** Loads the credential from the store once (and after an install): true when one is there. */
export function estCredential(reload: bool): bool {
  if (credLoaded && !reload) return estCredSlot >= 0;
  credLoaded = true;
  const ok = estCredentialLoad(estArea() + <usize>A_CRED, CRED_CAP, estArea() + <usize>A_CERT) > 0;
  renewTime = -1;
  notAfter = -1;
  if (ok) {
    const c = changetype<Cert>(estArea() + <usize>A_CERT);
    if (x509Parse(estCredCert(), estCredCertLen, c) >= 0) {
      renewTime = estRenewAt(c.notBefore, c.notAfter, estRenewPercent());
      notBefore = c.notBefore;
      notAfter = c.notAfter;
    }
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
