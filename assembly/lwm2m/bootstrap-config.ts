// The LwM2M configuration (Security Object 0 + Server Object 1): the
// bootstrap staging copy and its atomic commit (BS-5), the Bootstrap-Server
// account clean-up by key entropy (BS-4), custody of secret keys (SEC-3), and
// the persisted image.
//
// OMA-TS-LightweightM2M_Core-V1_1 §6.1 "Bootstrap Interface": the
// Bootstrap-Server writes / deletes through Bootstrap-Write / Bootstrap-Delete,
// then Bootstrap-Finish; "If the LwM2M Client detects an inconsistency ... it
// MUST respond with 4.06 Not Acceptable". Here every Bootstrap-Write /
// Bootstrap-Delete (and every factory-provisioning write) goes to the STAGING
// copy; Finish validates it and commits it whole, or refuses and leaves the
// active configuration untouched.
//
// The model never calls the host or the store (lower layer than storage/):
// the firmware glue installs hooks —
//   custody(secIid, mode, key, len) -> handle >= 0 (the key went to the SE
//     with se_import_p256, or to a sealed store record), -1 keep it in RAM,
//     < -1 failure;
//   release(handle): a key no longer referenced (se_destroy / storeDelete);
//   persist(image, len) -> 0 / < 0: write the configuration image (e.g.
//     storePut(RecordId.Lwm2mConfig) + storeCommit);
//   abort(): a Finish failed after custody / persist calls (storeAbort).
// After custody the RAM copy of the key is wiped (SEC-3).
import {
  ObjectDef, objectCount, objectAt, findObject, pool, instFind, instNext, instFree, instCount, slotIid, resIndex, desc0, desc1,
  valueAt, valueSlot, clearRes, isPresent, resCap, resType, resMaxInstances, isBytesType, setViewStaging, resOffset,
  recordSize, storageUsed, mandatoryMissing,
  getInt, getBytes, found, valueLen, putInt, postAction, Action, OBJ_CONFIG, RES_MULTIPLE,
} from "./model";
import { SECURITY_OID, Sec, SecurityMode, DIGEST_LEN } from "./objects/security";
import { SERVER_OID, Srv } from "./objects/server";
import { LwType, LwPath } from "./formats/entry";
import { attrRemove } from "./attributes";
import { sha256 } from "../crypto/sha256";
import { ctEqual } from "../crypto/ct";
import { HAS_RPK, HAS_X509, HAS_EST } from "../profile";

// ---------------------------------------------------------------------------
// Hooks

export type KeyCustodyHook = (secIid: u32, mode: i32, key: usize, len: i32) => i32;
export type KeyReleaseHook = (handle: i32) => void;
export type PersistHook = (image: usize, len: i32) => i32;
export type AbortHook = () => void;

/** custody: keep the key in RAM (no SE / store glue installed). */
export const KEEP_IN_RAM: i32 = -1;

function noCustody(secIid: u32, mode: i32, key: usize, len: i32): i32 { return KEEP_IN_RAM; }
function noRelease(handle: i32): void {}
function noPersist(image: usize, len: i32): i32 { return 0; }
function noAbort(): void {}

let custodyHook: KeyCustodyHook = noCustody;
let releaseHook: KeyReleaseHook = noRelease;
let persistHook: PersistHook = noPersist;
let abortHook: AbortHook = noAbort;

export function setConfigHooks(custody: KeyCustodyHook, release: KeyReleaseHook, persist: PersistHook, abort: AbortHook): void {
  custodyHook = custody;
  releaseHook = release;
  persistHook = persist;
  abortHook = abort;
}

// ---------------------------------------------------------------------------
// Session (staging copy)

export namespace Session {
  export const None: i32 = 0;
  export const Bootstrap: i32 = 1;
  export const Factory: i32 = 2;
}
export let session: i32 = Session.None;

/** Opens the staging copy (a copy of the active configuration) if it is not open. */
export function sessionBegin(kind: i32): void {
  if (session != Session.None) return;
  for (let i = 0; i < objectCount(); i++) {
    const o = objectAt(i);
    if (o.flags & OBJ_CONFIG) memory.copy(o.staging, o.active, <usize>o.instSize * o.maxInst);
  }
  session = kind;
}

/** Drops the staging copy (wiped: it may hold keys). The active configuration is unchanged. */
export function sessionAbort(): void {
  wipeStaging();
  session = Session.None;
}

function wipeStaging(): void {
  for (let i = 0; i < objectCount(); i++) {
    const o = objectAt(i);
    if (o.flags & OBJ_CONFIG) memory.fill(o.staging, 0, <usize>o.instSize * o.maxInst);
  }
}

// ---------------------------------------------------------------------------
// BS-4 state (persisted in the image header)

/** Factory marking of the Bootstrap-Server account's secret (BS-4). */
export let bsEntropyHigh: bool = false;
/** The Bootstrap-Server account is to be purged at purgeDeadline (ms, monotonic). */
export let purgePending: bool = false;
let purgeDeadline: i64 = -1;

// ---------------------------------------------------------------------------
// Validation (BS-5)

/** Why a configuration was refused (lastConfigError), for logs and tests. */
export namespace ConfigError {
  export const None: i32 = 0;
  export const NoServerAccount: i32 = -1; // no LwM2M Server account after bootstrap (§6.1: at least one)
  export const MissingResource: i32 = -2; // a mandatory Resource is absent
  export const BadUri: i32 = -3; // resource 0 not a coap:// or coaps:// URI
  export const UriModeMismatch: i32 = -4; // coap:// needs NoSec, coaps:// a secured mode
  export const MissingCredential: i32 = -5; // the Security Mode lacks a key or certificate it needs
  export const BadShortServerId: i32 = -6; // LwM2M Server account without resource 10 (1..65534)
  export const DuplicateShortServerId: i32 = -7;
  export const NoServerObject: i32 = -8; // a Security account without its Server Object instance
  export const OrphanServerObject: i32 = -9; // a Server Object instance without its Security account
  export const BootstrapAccounts: i32 = -10; // more than one Bootstrap-Server account (E.1 "at most one")
  export const Empty: i32 = -11; // no account at all
  export const Persist: i32 = -12; // the image did not fit or the persist hook failed
  export const Custody: i32 = -13; // the custody hook failed
  export const Image: i32 = -14; // configLoad: not a valid image
  export const ModeNotBuilt: i32 = -15; // a Security Mode this build profile does not carry (profiles.json)
}
export let lastConfigError: i32 = 0;

/** "coap://" (0) or "coaps://" (1) with a host and an optional port <= 65535; -1 when malformed (RFC 7252 §6). */
export function uriScheme(p: usize, n: i32): i32 {
  let i = 0;
  while (i < n && load<u8>(p + <usize>i) != 0x3a) i++; // ':'
  if (i + 3 > n || load<u8>(p + <usize>(i + 1)) != 0x2f || load<u8>(p + <usize>(i + 2)) != 0x2f) return -1;
  let secure = -1;
  if (i == 4 && (load<u32>(p) | 0x20202020) == 0x70616f63) secure = 0; // "coap"
  if (i == 5 && (load<u32>(p) | 0x20202020) == 0x70616f63 && (load<u8>(p + 4) | 0x20) == 0x73) secure = 1;
  if (secure < 0) return -1;
  let h = i + 3;
  let hostEnd = h;
  if (h < n && load<u8>(p + <usize>h) == 0x5b) { // "[" IPv6 literal "]"
    while (hostEnd < n && load<u8>(p + <usize>hostEnd) != 0x5d) hostEnd++;
    if (hostEnd == n || hostEnd == h + 1) return -1;
    hostEnd++;
  } else {
    while (hostEnd < n) {
      const c = <u32>load<u8>(p + <usize>hostEnd);
      if (c == 0x3a || c == 0x2f) break;
      // reg-name / IPv4: unreserved, sub-delims, pct-encoded (RFC 3986 §3.2.2); no "@" userinfo
      if (c <= 0x20 || c >= 0x7f || c == 0x40 || c == 0x5b || c == 0x5d || c == 0x3f || c == 0x23) return -1;
      hostEnd++;
    }
    if (hostEnd == h) return -1;
  }
  let q = hostEnd;
  if (q < n && load<u8>(p + <usize>q) == 0x3a) {
    q++;
    let port: u32 = 0;
    let digits = 0;
    while (q < n && load<u8>(p + <usize>q) != 0x2f) {
      const d = <u32>load<u8>(p + <usize>q) - 0x30;
      if (d > 9 || ++digits > 5) return -1;
      port = port * 10 + d;
      q++;
    }
    if (digits == 0 || port > 65535) return -1;
  }
  for (; q < n; q++) {
    const c = <u32>load<u8>(p + <usize>q);
    if (c <= 0x20 || c >= 0x7f || c == 0x23) return -1; // path: printable, no fragment
  }
  return secure;
}

function bytesLen(oid: u32, iid: u32, rid: u32): i32 {
  getBytes(oid, iid, rid);
  return found ? valueLen : -1;
}

function hasSecret(iid: u32): bool {
  if (bytesLen(SECURITY_OID, iid, Sec.SecretKey) > 0) return true;
  getInt(SECURITY_OID, iid, Sec.KeyHandle);
  return found;
}

/**
 * BS-5 rules on the current view: every Security instance has 0, 1, 2 and a
 * well-formed URI whose scheme matches the mode (coap <-> NoSec); the mode's
 * credentials (PSK: 3 + 5; RPK and Certificate: 3 + 4 + 5; Certificate with
 * EST: 4, the key pair is generated later; NoSec: none); LwM2M Server
 * accounts have a unique Short Server ID and a Server Object instance with
 * it, and every Server Object instance has its account; at least one LwM2M
 * Server account when `requireServer` (after a bootstrap), at least one
 * account of any kind otherwise. Security instance `skipSecIid` is ignored
 * (an account about to be replaced). Returns 0 or a ConfigError.
 */
export function validateConfig(requireServer: bool, skipSecIid: i32 = -1): i32 {
  const sec = findObject(SECURITY_OID);
  const srv = findObject(SERVER_OID);
  if (!sec || !srv) return ConfigError.Empty;
  let servers = 0;
  let accounts = 0;
  let bsAccounts = 0;
  for (let s = instNext(sec, -1); s; s = instNext(sec, <i32>slotIid(s))) {
    const iid = slotIid(s);
    if (<i32>iid == skipSecIid) continue;
    accounts++;
    const mode = getInt(SECURITY_OID, iid, Sec.SecurityMode);
    if (!found) return ConfigError.MissingResource;
    const bs = getInt(SECURITY_OID, iid, Sec.BootstrapServer) != 0;
    if (!found) return ConfigError.MissingResource;
    const u = getBytes(SECURITY_OID, iid, Sec.Uri);
    if (!found) return ConfigError.MissingResource;
    const scheme = uriScheme(u, valueLen);
    if (scheme < 0) return ConfigError.BadUri;
    if ((scheme == 0) != (mode == SecurityMode.NoSec)) return ConfigError.UriModeMismatch;
    const id = bytesLen(SECURITY_OID, iid, Sec.PublicKeyOrIdentity) > 0;
    const srvKey = bytesLen(SECURITY_OID, iid, Sec.ServerPublicKey) > 0;
    const key = hasSecret(iid);
    let ok = true;
    if (mode == SecurityMode.RPK && !HAS_RPK || mode == SecurityMode.Certificate && !HAS_X509 || mode == SecurityMode.CertificateWithEst && !HAS_EST) {
      return ConfigError.ModeNotBuilt;
    }
    if (mode == SecurityMode.PSK) ok = id && key;
    else if (mode == SecurityMode.RPK || mode == SecurityMode.Certificate) ok = id && srvKey && key;
    else if (mode == SecurityMode.CertificateWithEst) ok = srvKey;
    if (!ok) return ConfigError.MissingCredential;
    if (bs) { bsAccounts++; continue; }
    const ssid = getInt(SECURITY_OID, iid, Sec.ShortServerId);
    if (!found || ssid < 1 || ssid > 65534) return ConfigError.BadShortServerId;
    for (let t = instNext(sec, <i32>iid); t; t = instNext(sec, <i32>slotIid(t))) {
      const j = slotIid(t);
      if (getInt(SECURITY_OID, j, Sec.BootstrapServer) == 0 && getInt(SECURITY_OID, j, Sec.ShortServerId) == ssid && found) {
        return ConfigError.DuplicateShortServerId;
      }
    }
    if (serverInstanceOf(ssid) < 0) return ConfigError.NoServerObject;
    servers++;
  }
  for (let s = instNext(srv, -1); s; s = instNext(srv, <i32>slotIid(s))) {
    const iid = slotIid(s);
    const m = mandatoryMissing(srv, s);
    if (m) return ConfigError.MissingResource;
    const ssid = getInt(SERVER_OID, iid, Srv.ShortServerId);
    for (let t = instNext(srv, <i32>iid); t; t = instNext(srv, <i32>slotIid(t))) {
      if (getInt(SERVER_OID, slotIid(t), Srv.ShortServerId) == ssid) return ConfigError.DuplicateShortServerId;
    }
    if (!accountOf(ssid)) return ConfigError.OrphanServerObject;
  }
  if (bsAccounts > 1) return ConfigError.BootstrapAccounts;
  if (requireServer && servers == 0) return ConfigError.NoServerAccount;
  if (accounts == 0) return ConfigError.Empty;
  return 0;
}

function serverInstanceOf(ssid: i64): i32 {
  const srv = findObject(SERVER_OID)!;
  for (let s = instNext(srv, -1); s; s = instNext(srv, <i32>slotIid(s))) {
    if (getInt(SERVER_OID, slotIid(s), Srv.ShortServerId) == ssid && found) return <i32>slotIid(s);
  }
  return -1;
}

function accountOf(ssid: i64): bool {
  const sec = findObject(SECURITY_OID)!;
  for (let s = instNext(sec, -1); s; s = instNext(sec, <i32>slotIid(s))) {
    const iid = slotIid(s);
    if (getInt(SECURITY_OID, iid, Sec.BootstrapServer) == 0 && getInt(SECURITY_OID, iid, Sec.ShortServerId) == ssid && found) return true;
  }
  return false;
}

/** Bootstrap-Server account instance in the current view, or -1. */
function bsAccount(after: i32): i32 {
  const sec = findObject(SECURITY_OID)!;
  for (let s = instNext(sec, after); s; s = instNext(sec, <i32>slotIid(s))) {
    if (getInt(SECURITY_OID, slotIid(s), Sec.BootstrapServer) != 0) return <i32>slotIid(s);
  }
  return -1;
}

// ---------------------------------------------------------------------------
// Finish

const oldDigest = memory.data(32, 8);
const MAX_HANDLES: i32 = 8;
const newHandles = memory.data(8 * 4, 4);
let nNew: i32 = 0;
const oldHandles = memory.data(8 * 4, 4);
let nOld: i32 = 0;
const oldSsids = memory.data(8 * 4, 4);
let nOldSsids: i32 = 0;

/** Digest of the key as last written (internal resource), copied to dst; false when there is none. */
function digestOf(iid: u32, dst: usize): bool {
  const p = getBytes(SECURITY_OID, iid, Sec.KeyDigest);
  if (!found || valueLen != DIGEST_LEN) return false;
  memory.copy(dst, p, DIGEST_LEN);
  return true;
}

function removeSecurity(iid: u32): void {
  const sec = findObject(SECURITY_OID)!;
  const s = instFind(sec, iid);
  if (s) instFree(sec, s);
}

/**
 * Bootstrap-Finish (BS-5, BS-4): validate the staging copy, hand new secret
 * keys to custody, persist the image (written into buf, cap bytes), commit.
 * `now` (monotonic ms) starts the BS-4 purge timer; `wallSeconds` (-1 unknown)
 * sets Last Bootstrapped (/1/x/12). Returns 2.04, 4.06 (refused, staging kept
 * for a corrected retry, active configuration untouched) or 5.00 (custody or
 * persistence failed: session dropped, active configuration untouched).
 */
export function bootstrapFinish(now: i64, wallSeconds: i64, buf: usize, cap: i32): i32 {
  return finish(Session.Bootstrap, now, wallSeconds, false, buf, cap);
}

/** Factory provisioning done (writes made with Caller.Factory): as Finish, no LwM2M Server required. */
export function provisionFinish(now: i64, bsSecretHighEntropy: bool, buf: usize, cap: i32): i32 {
  return finish(Session.Factory, now, -1, bsSecretHighEntropy, buf, cap);
}

function finish(kind: i32, now: i64, wall: i64, high: bool, buf: usize, cap: i32): i32 {
  sessionBegin(kind);
  // digests of the keys written in this session (a custodied key has length 0 in RAM)
  setViewStaging(true);
  const sec = findObject(SECURITY_OID)!;
  for (let s = instNext(sec, -1); s; s = instNext(sec, <i32>slotIid(s))) {
    const iid = slotIid(s);
    const k = getBytes(SECURITY_OID, iid, Sec.SecretKey);
    if (found && valueLen > 0) {
      const d = valueSlot(sec, s, resIndex(sec, Sec.KeyDigest), 0xffff);
      store<u16>(d, <u16>DIGEST_LEN);
      sha256(k, valueLen, d + 2);
      clearRes(sec, s, resIndex(sec, Sec.KeyHandle)); // the handle of the key it replaces is stale
    }
  }
  // BS-4 analysis, before any change: does a Bootstrap-Server account with a new secret replace the old one?
  setViewStaging(false);
  const oldBs = bsAccount(-1);
  hadOldDigest = oldBs >= 0 && digestOf(<u32>oldBs, oldDigest);
  hadOldBs = oldBs >= 0;
  setViewStaging(true);
  const b1 = bsAccount(-1);
  const b2 = b1 >= 0 ? bsAccount(b1) : -1;
  let dropOld = -1;
  let newAccount = false;
  let err = 0;
  if (kind == Session.Bootstrap && b1 >= 0) {
    const same1 = isOldAccount(<u32>b1);
    if (b2 >= 0) {
      // two accounts: only "the old one + its replacement" (E.1: at most one Bootstrap-Server account)
      if (bsAccount(b2) >= 0 || same1 == isOldAccount(<u32>b2)) err = ConfigError.BootstrapAccounts;
      else { dropOld = same1 ? b1 : b2; newAccount = true; }
    } else newAccount = !same1;
  }
  if (!err) err = validateConfig(kind == Session.Bootstrap, dropOld);
  if (err) {
    setViewStaging(false);
    lastConfigError = err;
    return 0x86; // 4.06 Not Acceptable (§6.1 Bootstrap-Finish); staging kept, active untouched
  }
  // ---- from here the staging copy changes; a failure drops the session ----
  let purge = false;
  let deadline: i64 = -1;
  let entropyHigh = kind == Session.Factory ? high : bsEntropyHigh;
  if (kind == Session.Bootstrap && b1 >= 0) {
    if (newAccount) {
      if (dropOld >= 0) removeSecurity(<u32>dropOld); // BS-4: replaced by the new account
      entropyHigh = true; // generated by the Bootstrap-Server: the replacement account of BS-4
    } else if (!entropyHigh) {
      const t = getInt(SECURITY_OID, <u32>b1, Sec.BootstrapServerAccountTimeout);
      if (found && t > 0) { purge = true; deadline = now + t * 1000; } // BS-4: purged after resource 12
      else removeSecurity(<u32>b1); // BS-4: purged at once when there is no timeout
    }
  }
  if (kind == Session.Bootstrap && wall >= 0) {
    const srv = findObject(SERVER_OID)!;
    for (let s = instNext(srv, -1); s; s = instNext(srv, <i32>slotIid(s))) putInt(SERVER_OID, slotIid(s), Srv.LastBootstrapped, wall);
  }
  // custody of the keys still in RAM (SEC-3)
  nNew = 0;
  for (let s = instNext(sec, -1); s; s = instNext(sec, <i32>slotIid(s))) {
    const iid = slotIid(s);
    const k = getBytes(SECURITY_OID, iid, Sec.SecretKey);
    if (!found || valueLen == 0) continue;
    const h = custodyHook(iid, <i32>getInt(SECURITY_OID, iid, Sec.SecurityMode), k, valueLen);
    if (h < KEEP_IN_RAM || (h >= 0 && nNew >= MAX_HANDLES)) {
      if (h >= 0) releaseHook(h);
      return fail(ConfigError.Custody, 0xa0);
    }
    if (h >= 0) {
      store<i32>(newHandles + (<usize>(nNew++) << 2), h);
      putInt(SECURITY_OID, iid, Sec.KeyHandle, h);
      const v = valueAt(sec, s, resIndex(sec, Sec.SecretKey), 0xffff);
      memory.fill(v, 0, 2 + resCap(sec, resIndex(sec, Sec.SecretKey))); // SEC-3: RAM copy wiped, length 0
    }
  }
  // persist the image, then commit
  const n = configImage(buf, cap, (entropyHigh ? 1 : 0) | (purge ? 2 : 0));
  const ok = n >= 0 && persistHook(buf, n) >= 0;
  if (n > 0) memory.fill(buf, 0, n); // the image may hold keys kept in RAM
  if (!ok) return fail(ConfigError.Persist, 0xa0);
  commitStaging();
  bsEntropyHigh = entropyHigh;
  purgePending = purge;
  purgeDeadline = deadline;
  lastConfigError = 0;
  return 0x44; // 2.04 Changed
}

let hadOldDigest = false;
let hadOldBs = false;

/** The account carries the old Bootstrap-Server secret (same digest; or neither has a key). */
function isOldAccount(iid: u32): bool {
  const scratch = memory.data(32, 8);
  if (!digestOf(iid, scratch)) return hadOldBs && !hadOldDigest;
  return hadOldDigest && ctEqual(scratch, oldDigest, DIGEST_LEN);
}

function fail(err: i32, code: i32): i32 {
  for (let i = 0; i < nNew; i++) releaseHook(load<i32>(newHandles + (<usize>i << 2)));
  nNew = 0;
  abortHook();
  setViewStaging(false);
  sessionAbort();
  lastConfigError = err;
  return code;
}

/** Staging becomes active; keys and attributes of accounts that are gone are released. */
function commitStaging(): void {
  setViewStaging(false);
  collectOld();
  for (let i = 0; i < objectCount(); i++) {
    const o = objectAt(i);
    if (o.flags & OBJ_CONFIG) memory.copy(o.active, o.staging, <usize>o.instSize * o.maxInst);
  }
  releaseGone();
  wipeStaging();
  session = Session.None;
  nNew = 0;
  postAction(Action.ConfigChanged, 0);
}

function collectOld(): void {
  const sec = findObject(SECURITY_OID)!;
  const srv = findObject(SERVER_OID)!;
  nOld = 0;
  for (let s = instNext(sec, -1); s; s = instNext(sec, <i32>slotIid(s))) {
    const h = getInt(SECURITY_OID, slotIid(s), Sec.KeyHandle);
    if (found && nOld < MAX_HANDLES) store<i32>(oldHandles + (<usize>(nOld++) << 2), <i32>h);
  }
  nOldSsids = 0;
  for (let s = instNext(srv, -1); s; s = instNext(srv, <i32>slotIid(s))) {
    if (nOldSsids < MAX_HANDLES) store<i32>(oldSsids + (<usize>(nOldSsids++) << 2), <i32>getInt(SERVER_OID, slotIid(s), Srv.ShortServerId));
  }
}

function releaseGone(): void {
  const sec = findObject(SECURITY_OID)!;
  for (let i = 0; i < nOld; i++) {
    const h = load<i32>(oldHandles + (<usize>i << 2));
    let kept = false;
    for (let s = instNext(sec, -1); s && !kept; s = instNext(sec, <i32>slotIid(s))) {
      kept = getInt(SECURITY_OID, slotIid(s), Sec.KeyHandle) == <i64>h && found;
    }
    if (!kept) releaseHook(h);
  }
  nOld = 0;
  const root = changetype<LwPath>(memory.data(8, 8));
  root.clear();
  for (let i = 0; i < nOldSsids; i++) {
    const ssid = load<i32>(oldSsids + (<usize>i << 2));
    if (serverInstanceOf(ssid) < 0) attrRemove(<u32>ssid, root);
  }
  nOldSsids = 0;
}

// ---------------------------------------------------------------------------
// BS-4 clean-up timer (driven by the upper layer)

/** When bootstrapAccountCleanup must run (ms, monotonic), or -1. */
export function nextCleanupDeadline(): i64 {
  return purgePending && session == Session.None ? purgeDeadline : -1;
}

/**
 * Purges the low-entropy Bootstrap-Server account once its Bootstrap-Server
 * Account Timeout (resource 12) has passed since Bootstrap-Finish (BS-4).
 * Returns 1 when it was purged (Action.ConfigChanged posted: persist), else 0.
 */
export function bootstrapAccountCleanup(now: i64): i32 {
  if (!purgePending || session != Session.None || now < purgeDeadline) return 0;
  setViewStaging(false);
  collectOld();
  nOldSsids = 0;
  const b = bsAccount(-1);
  if (b >= 0) removeSecurity(<u32>b);
  releaseGone();
  purgePending = false;
  purgeDeadline = -1;
  postAction(Action.ConfigChanged, 0);
  return 1;
}

// ---------------------------------------------------------------------------
// Persisted image: "LWC1", flags u8 (1 entropy high, 2 purge pending), object
// count u8, then per configuration Object: oid u16, instance count u8, and per
// instance: iid u16, presence u32, then each present Resource's storage
// (scalar 8 bytes; bytes: length u16 + data; multiple: count u8 + records).
// Keys held by custody are not in it (their RAM copy is wiped).

const MAGIC: u32 = 0x3143574c; // "LWC1"

/** Writes the image of the active configuration (flags: 1 entropy high, 2 purge pending); its length, or -1 (too small). */
export function configImage(buf: usize, cap: i32, flags: i32 = -1): i32 {
  if (flags < 0) flags = (bsEntropyHigh ? 1 : 0) | (purgePending ? 2 : 0);
  let w = 6;
  if (cap < w) return -1;
  store<u32>(buf, MAGIC);
  store<u8>(buf + 4, <u8>flags);
  let nObj = 0;
  for (let i = 0; i < objectCount(); i++) {
    const o = objectAt(i);
    if (!(o.flags & OBJ_CONFIG)) continue;
    nObj++;
    if (w + 3 > cap) return -1;
    store<u16>(buf + <usize>w, o.oid);
    store<u8>(buf + <usize>w + 2, <u8>instCount(o));
    w += 3;
    for (let s = instNext(o, -1); s; s = instNext(o, <i32>slotIid(s))) {
      if (w + 6 > cap) return -1;
      store<u16>(buf + <usize>w, load<u16>(s));
      store<u32>(buf + <usize>w + 2, load<u32>(s + 4));
      w += 6;
      for (let idx = 0; idx < <i32>o.nRes; idx++) {
        if (!isPresent(s, idx)) continue;
        const v = s + resOffset(o, idx);
        const n = storageUsed(o, s, idx);
        if (w + n > cap) return -1;
        memory.copy(buf + <usize>w, v, n);
        w += n;
      }
    }
  }
  store<u8>(buf + 5, <u8>nObj);
  return w;
}

/**
 * Loads an image (from the sealed store, at boot or factory reset) into the
 * active configuration: parsed into the staging copy, checked (structure,
 * capacities, validateConfig without requiring an LwM2M Server), committed.
 * A pending BS-4 purge restarts its timer from `now`. Returns 0, or a
 * ConfigError with the active configuration unchanged.
 */
export function configLoad(ptr: usize, len: i32, now: i64): i32 {
  if (session != Session.None) return ConfigError.Image;
  wipeStaging();
  setViewStaging(true);
  session = Session.Factory;
  let err = parseImage(ptr, len);
  if (!err) err = validateConfig(false);
  if (err) {
    setViewStaging(false);
    sessionAbort();
    return lastConfigError = err;
  }
  const flags = load<u8>(ptr + 4);
  commitStaging();
  bsEntropyHigh = (flags & 1) != 0;
  purgePending = (flags & 2) != 0;
  purgeDeadline = -1;
  if (purgePending) {
    const b = bsAccount(-1);
    const t = b >= 0 ? getInt(SECURITY_OID, <u32>b, Sec.BootstrapServerAccountTimeout) : 0;
    purgeDeadline = now + (t > 0 ? t * 1000 : 0);
  }
  return 0;
}

function parseImage(p: usize, len: i32): i32 {
  if (len < 6 || load<u32>(p) != MAGIC) return ConfigError.Image;
  let r = 6;
  const nObj = <i32>load<u8>(p + 5);
  for (let k = 0; k < nObj; k++) {
    if (r + 3 > len) return ConfigError.Image;
    const o = findObject(<u32>load<u16>(p + <usize>r));
    const nInst = <i32>load<u8>(p + <usize>r + 2);
    r += 3;
    if (!o || !(o.flags & OBJ_CONFIG) || instCount(o) != 0 || nInst > <i32>o.maxInst) return ConfigError.Image;
    for (let j = 0; j < nInst; j++) {
      if (r + 6 > len) return ConfigError.Image;
      const iid = <u32>load<u16>(p + <usize>r);
      const present = load<u32>(p + <usize>r + 2);
      r += 6;
      if (iid >= 0xffff || instFind(o, iid) || (o.nRes < 32 && (present >> o.nRes) != 0)) return ConfigError.Image;
      // a free slot of the (blank) staging pool
      let s: usize = 0;
      for (let i = 0; i < <i32>o.maxInst && !s; i++) {
        const c = pool(o) + <usize>i * <usize>o.instSize;
        if (!load<u8>(c + 2)) s = c;
      }
      store<u16>(s, <u16>iid);
      store<u8>(s + 2, 1);
      store<u32>(s + 4, present);
      for (let idx = 0; idx < <i32>o.nRes; idx++) {
        if (!((present >> <u32>idx) & 1)) continue;
        const n = parseResource(o, idx, p + <usize>r, len - r, s + resOffset(o, idx));
        if (n < 0) return ConfigError.Image;
        r += n;
      }
    }
  }
  return r == len ? 0 : ConfigError.Image;
}

/** One Resource's storage from the image into dst, checked against the table; bytes consumed or -1. */
function parseResource(o: ObjectDef, idx: i32, src: usize, avail: i32, dst: usize): i32 {
  const d0 = desc0(o, idx);
  const t = resType(o, idx);
  if (t == LwType.None) return 0;
  const cap = resCap(o, idx);
  if (!(d0 & RES_MULTIPLE)) {
    if (!isBytesType(t)) {
      if (avail < 8) return -1;
      memory.copy(dst, src, 8);
      return 8;
    }
    if (avail < 2) return -1;
    const n = <i32>load<u16>(src);
    if (n > cap || 2 + n > avail) return -1;
    memory.copy(dst, src, 2 + n);
    return 2 + n;
  }
  if (avail < 1) return -1;
  const count = <i32>load<u8>(src);
  const rec = recordSize(o, idx);
  if (count > resMaxInstances(o, idx) || 1 + count * rec > avail) return -1;
  let last: i32 = -1;
  for (let k = 0; k < count; k++) {
    const r = src + 1 + <usize>(k * rec);
    const riid = <i32>load<u16>(r);
    if (riid <= last || riid >= 0xffff) return -1;
    if (isBytesType(t) && <i32>load<u16>(r + 2) > cap) return -1;
    last = riid;
  }
  memory.copy(dst, src, 1 + count * rec);
  return 1 + count * rec;
}

/** Factory reset of the configuration in RAM (active and staging wiped; handles are the glue's to destroy). */
export function configReset(): void {
  for (let i = 0; i < objectCount(); i++) {
    const o = objectAt(i);
    if (o.flags & OBJ_CONFIG) memory.fill(o.active, 0, <usize>o.instSize * o.maxInst);
  }
  wipeStaging();
  session = Session.None;
  bsEntropyHigh = false;
  purgePending = false;
  purgeDeadline = -1;
  postAction(Action.ConfigChanged, 0);
}
