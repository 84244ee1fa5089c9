// LwM2M Security Object (ID 0), OMA-TS-LightweightM2M_Core-V1_1 Appendix E.1
// (urn:oma:lwm2m:oma:0:1.1). "These LwM2M Object Resources MUST only be
// changed by a LwM2M Bootstrap-Server or Bootstrap from Smartcard and MUST
// NOT be accessible by any other LwM2M Server" (SEC-1, SEC-2): the Object is
// OBJ_HIDDEN and no Resource carries RES_W. Resource 5 is RES_SECRET (SEC-3).
// Capacities below are the RAM knobs (each instance exists twice: active and
// bootstrap staging copy).
import { Cap } from "../../profile";
import {
  defineObject, setObjectHooks, findObject, instNext, slotIid, getInt, getBytes, found, valueLen,
  RES_R, RES_MANDATORY, RES_MULTIPLE, RES_SECRET, RES_INTERNAL, T_STRING, T_INT, T_UINT, T_BOOL, T_OPAQUE,
  OBJ_MULTI, OBJ_CONFIG, OBJ_HIDDEN, VER_1_1,
} from "../model";

export const SECURITY_OID: u32 = 0;
// Capacities per build profile (profiles.json, with the floor each may not go below)
export const MAX_SECURITY_INSTANCES: i32 = 1 + Cap.SERVERS; // one Bootstrap-Server account + the LwM2M Server accounts
export const URI_CAP: u32 = <u32>Cap.URI; // "0-255 bytes"
export const PUBLIC_KEY_CAP: u32 = <u32>Cap.PUBLIC_KEY; // PSK identity (>= 128, SEC-4), RPK public key, DER certificate
export const SERVER_KEY_CAP: u32 = <u32>Cap.SERVER_KEY; // server RPK, certificate or trust anchor
export const SECRET_KEY_CAP: u32 = <u32>Cap.SECRET_KEY; // PSK, or P-256 private key (raw 32 or DER SEC1 / PKCS#8)
export const SNI_CAP: u32 = 64;
export const MAX_CIPHERSUITES: u32 = 4;
export const DIGEST_LEN: i32 = 32;

/** Resource ids (E.1). */
export namespace Sec {
  export const Uri: u32 = 0;
  export const BootstrapServer: u32 = 1;
  export const SecurityMode: u32 = 2;
  export const PublicKeyOrIdentity: u32 = 3;
  export const ServerPublicKey: u32 = 4;
  export const SecretKey: u32 = 5;
  export const ShortServerId: u32 = 10;
  export const ClientHoldOffTime: u32 = 11;
  export const BootstrapServerAccountTimeout: u32 = 12;
  export const MatchingType: u32 = 13;
  export const Sni: u32 = 14;
  export const CertificateUsage: u32 = 15;
  export const Ciphersuite: u32 = 16;
  /** Internal: where resource 5 went (SE slot / store record from the custody hook), -1 = RAM. */
  export const KeyHandle: u32 = 0xff00;
  /** Internal: SHA-256 of resource 5 as last written (BS-4: "new account = different secret"). */
  export const KeyDigest: u32 = 0xff01;
}

/** Security Mode values (resource 2). */
export namespace SecurityMode {
  export const PSK: i32 = 0;
  export const RPK: i32 = 1;
  export const Certificate: i32 = 2;
  export const NoSec: i32 = 3;
  export const CertificateWithEst: i32 = 4;
}

const TABLE = memory.data<u32>([
  0 | T_STRING | RES_R | RES_MANDATORY, URI_CAP,
  1 | T_BOOL | RES_R | RES_MANDATORY, 0,
  2 | T_INT | RES_R | RES_MANDATORY, 0,
  3 | T_OPAQUE | RES_R | RES_MANDATORY, PUBLIC_KEY_CAP,
  4 | T_OPAQUE | RES_R | RES_MANDATORY, SERVER_KEY_CAP,
  5 | T_OPAQUE | RES_SECRET | RES_MANDATORY, SECRET_KEY_CAP, // no RES_R: never readable (SEC-3)
  10 | T_INT | RES_R, 0,
  11 | T_INT | RES_R, 0,
  12 | T_INT | RES_R, 0,
  13 | T_UINT | RES_R, 0,
  14 | T_STRING | RES_R, SNI_CAP,
  15 | T_UINT | RES_R, 0,
  16 | T_UINT | RES_R | RES_MULTIPLE, MAX_CIPHERSUITES << 16,
  0xff00 | T_INT | RES_INTERNAL, 0,
  0xff01 | T_OPAQUE | RES_INTERNAL, <u32>DIGEST_LEN,
]);

/** Value rules of E.1 (ranges); the URI and the credentials are checked at Bootstrap-Finish (BS-5). */
function securityCheck(rid: u32, iv: i64, ptr: usize, len: i32): bool {
  if (rid == Sec.SecurityMode) return iv >= 0 && iv <= 4;
  if (rid == Sec.ShortServerId) return iv >= 1 && iv <= 65534;
  if (rid == Sec.ClientHoldOffTime || rid == Sec.BootstrapServerAccountTimeout) return iv >= 0 && iv <= 0xffffffff;
  if (rid == Sec.MatchingType || rid == Sec.CertificateUsage) return <u64>iv <= 3;
  if (rid == Sec.Ciphersuite) return <u64>iv <= 0xffff;
  return true;
}

export function securityDefine(): i32 {
  const i = defineObject(SECURITY_OID, VER_1_1, TABLE, 15, MAX_SECURITY_INSTANCES, OBJ_MULTI | OBJ_CONFIG | OBJ_HIDDEN);
  if (i >= 0) setObjectHooks(SECURITY_OID, 0, changetype<usize>(securityCheck), 0, 0);
  return i;
}

// ---- accessors for the DTLS / registration glue (current view) ----

/** Security instance of the LwM2M Server with this Short Server ID, or of the Bootstrap-Server account (ssid 0); -1 none. */
export function securityFind(ssid: u32): i32 {
  const o = findObject(SECURITY_OID);
  if (!o) return -1;
  for (let s = instNext(o, -1); s; s = instNext(o, <i32>slotIid(s))) {
    const iid = slotIid(s);
    const bs = getInt(SECURITY_OID, iid, Sec.BootstrapServer) != 0;
    if (ssid == 0 ? bs : !bs && getInt(SECURITY_OID, iid, Sec.ShortServerId) == <i64>ssid) return <i32>iid;
  }
  return -1;
}

/** Resource 2, or -1 when absent. */
export function securityMode(iid: u32): i32 {
  const m = getInt(SECURITY_OID, iid, Sec.SecurityMode);
  return found ? <i32>m : -1;
}

/** Where the secret key is: >= 0 a handle from the custody hook, -1 in RAM (securitySecret), -2 none. */
export function securityKeyHandle(iid: u32): i32 {
  const h = getInt(SECURITY_OID, iid, Sec.KeyHandle);
  if (found) return <i32>h;
  getBytes(SECURITY_OID, iid, Sec.SecretKey);
  return found && valueLen > 0 ? -1 : -2;
}

/**
 * The RAM copy of the secret key (for the DTLS key schedule when no custody
 * hook took it): pointer, length in securitySecretLen. Never log it; firmware
 * glue only — no LwM2M operation returns it (SEC-3).
 */
export let securitySecretLen: i32 = 0;
export function securitySecret(iid: u32): usize {
  const p = getBytes(SECURITY_OID, iid, Sec.SecretKey);
  securitySecretLen = valueLen;
  return p;
}
