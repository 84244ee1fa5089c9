// Persistence and key custody of the LwM2M configuration (SE-2, SEC-3, BS-5).
// The data model calls these hooks (bootstrap-config.ts setConfigHooks) at
// Bootstrap-Finish / factory provisioning:
//   custody   a Security Secret Key (resource 5) leaves RAM: a P-256 private
//             key (RPK, Certificate modes) goes into an SE slot with
//             se_import_p256; any other secret (PSK) into its own sealed store
//             record. The model then wipes its RAM copy and keeps only the
//             handle. Nothing secret stays in linear memory.
//   persist   the configuration image (no keys in it) + the client record go
//             into the sealed store in the SAME transaction as the key
//             records: all of it commits, or none (a power cut or failure
//             leaves the previous configuration).
//   release   a key no longer referenced: se_destroy / record deleted.
//   abort     Finish failed after custody: the transaction is dropped.
// At boot configBoot() loads the image back, so a reboot is registered-capable
// without the host provisioning again.
import { se_import_p256, se_destroy, HostStatus } from "../host/abi";
import {
  storeGet, storePut, storeDelete, storeBegin, storeCommit, storeAbort, storeSize, RecordId, MAX_VALUE_LEN, StoreStatus,
} from "../storage/store";
import { setConfigHooks, configLoad, configImage, configReset } from "../lwm2m/bootstrap-config";
import { SECURITY_OID, Sec, SecurityMode } from "../lwm2m/objects/security";
import { findObject, instNext, slotIid, getInt, found } from "../lwm2m/model";
import { REPR, REPR_CAP } from "../lwm2m/client/conn";
import { EP_NAME, epNameLen, setEndpointName, clearEndpointName } from "../lwm2m/client/registration";
import { preferredBootstrapFormat, setPreferredBootstrapFormat, dropConfigChanged } from "../lwm2m/client/bootstrap";
import { lb, ls, lnum, linfo, lerror } from "../lwm2m/client/events";

/** Store record ids of the client beyond storage/store.ts RecordId (which keeps 1..8). */
export namespace ClientRecord {
  export const ConfigPart2: i32 = 16; // the configuration image beyond MAX_VALUE_LEN bytes
  export const Client: i32 = 17; // endpoint name, Bootstrap-Request content format
  export const KeyFirst: i32 = 24; // sealed secret keys (PSK), one per record: 24..31
}
const KEY_RECORDS: i32 = 8;

/** Key handle = kind | index. */
const HANDLE_SE: i32 = 0x100; // SE slot 1..7 (se/keys.ts slot plan: provisioned keys)
const HANDLE_STORE: i32 = 0x200; // ClientRecord.KeyFirst + index
const SE_FIRST: i32 = 1;
const SE_LAST: i32 = 7;

let seUsed: u32 = 0;
let recUsed: u32 = 0;
let txn = false;

function begin(): bool {
  if (txn) return true;
  if (storeBegin() < 0) return false;
  txn = true;
  return true;
}

const PUB = memory.data(65);

/** The 32-byte P-256 scalar of a raw key or a DER SEC1 ECPrivateKey (RFC 5915, also inside PKCS#8 / RFC 5208): 0 if none. */
function p256Scalar(p: usize, n: i32): usize {
  if (n == 32) return p;
  if (n < 37 || load<u8>(p) != 0x30) return 0;
  // ECPrivateKey ::= SEQUENCE { version INTEGER (1), privateKey OCTET STRING (32 bytes), ... }
  for (let i = 2; i + 37 <= n; i++) {
    if (load<u32>(p + <usize>i) == 0x04010102 && load<u8>(p + <usize>i + 4) == 0x20) return p + <usize>i + 5;
  }
  return 0;
}

function custody(secIid: u32, mode: i32, key: usize, len: i32): i32 {
  if (mode == SecurityMode.RPK || mode == SecurityMode.Certificate || mode == SecurityMode.CertificateWithEst) {
    const k = p256Scalar(key, len);
    if (!k) return -2;
    let slot = SE_FIRST;
    while (slot <= SE_LAST && (seUsed >> <u32>slot) & 1) slot++;
    if (slot > SE_LAST) return -3;
    const r = se_import_p256(slot, k, 32, PUB);
    if (r != HostStatus.Ok) return -4;
    seUsed |= <u32>1 << <u32>slot;
    return HANDLE_SE | slot;
  }
  // PSK (and any other secret): sealed by the SE into its own store record
  let i = 0;
  while (i < KEY_RECORDS && (recUsed >> <u32>i) & 1) i++;
  if (i == KEY_RECORDS || !begin()) return -5;
  if (storePut(ClientRecord.KeyFirst + i, key, len) < 0) return -6;
  recUsed |= <u32>1 << <u32>i;
  return HANDLE_STORE | i;
}

function release(h: i32): void {
  const i = h & 0xff;
  if ((h & ~0xff) == HANDLE_SE) {
    se_destroy(i);
    seUsed &= ~(<u32>1 << <u32>i);
  } else if ((h & ~0xff) == HANDLE_STORE && i < KEY_RECORDS) {
    storeDelete(ClientRecord.KeyFirst + i); // staged inside a transaction, committed at once outside
    recUsed &= ~(<u32>1 << <u32>i);
  }
}

const CLIENT_MAGIC: u32 = 0x4c43574c; // "LWCL"
const REC = memory.data(8 + 64, 4);

function putClientRecord(): i32 {
  store<u32>(REC, CLIENT_MAGIC);
  store<u32>(REC, preferredBootstrapFormat, 4);
  memory.copy(REC + 8, EP_NAME, <usize>epNameLen);
  return storePut(ClientRecord.Client, REC, 8 + epNameLen);
}

function persist(image: usize, len: i32): i32 {
  if (len > 2 * MAX_VALUE_LEN || !begin()) return -1;
  let r = storePut(RecordId.Lwm2mConfig, image, min(len, MAX_VALUE_LEN));
  if (r >= 0) {
    if (len > MAX_VALUE_LEN) r = storePut(ClientRecord.ConfigPart2, image + <usize>MAX_VALUE_LEN, len - MAX_VALUE_LEN);
    else if (storeSize(ClientRecord.ConfigPart2) >= 0) r = storeDelete(ClientRecord.ConfigPart2);
  }
  if (r >= 0) r = putClientRecord();
  if (r < 0) {
    storeAbort();
    txn = false;
    return r;
  }
  txn = false;
  return storeCommit();
}

function abort(): void {
  if (txn) storeAbort();
  txn = false;
}

/** Marks the keys the active configuration references (after a load). */
function rebuildKeyMasks(): void {
  seUsed = 0;
  recUsed = 0;
  const sec = findObject(SECURITY_OID);
  if (!sec) return;
  for (let s = instNext(sec, -1); s; s = instNext(sec, <i32>slotIid(s))) {
    const h = <i32>getInt(SECURITY_OID, slotIid(s), Sec.KeyHandle);
    if (!found) continue;
    if ((h & ~0xff) == HANDLE_SE) seUsed |= <u32>1 << <u32>(h & 7);
    else if ((h & ~0xff) == HANDLE_STORE) recUsed |= <u32>1 << <u32>(h & 7);
  }
}

// ---- credentials for the DTLS transport (firmware/transport.ts) ----

/** SE slot of a private key handle (DtlsConfig.identitySlot), -1 when the handle is not an SE key. */
export function keySlot(handle: i32): i32 { return (handle & ~0xff) == HANDLE_SE ? handle & 0xff : -1; }

/**
 * A sealed secret (PSK) into out[0..cap): its length, or a negative StoreStatus.
 * For the DTLS key schedule only; the caller wipes `out` as soon as the handshake has used it (SEC-3).
 */
export function keyLoad(handle: i32, out: usize, cap: i32): i32 {
  if ((handle & ~0xff) != HANDLE_STORE || (handle & 0xff) >= KEY_RECORDS) return StoreStatus.NotFound;
  return storeGet(ClientRecord.KeyFirst + (handle & 0xff), out, cap);
}

export function persistInit(): void {
  setConfigHooks(custody, release, persist, abort);
}

/**
 * Loads the stored configuration and client record (boot). 1 when a
 * configuration is active, 0 when none is stored, < 0 when the stored one was
 * refused (then the device is unprovisioned; nothing is guessed).
 */
export function configBoot(now: i64): i32 {
  const n0 = storeGet(RecordId.Lwm2mConfig, REPR, MAX_VALUE_LEN);
  if (n0 == StoreStatus.NotFound) return 0;
  if (n0 < 0) {
    lb("config: stored configuration unreadable, status ");
    lnum(n0);
    lerror();
    return n0;
  }
  let n = n0;
  // Every record of the configuration is checked: one that fails (bit flip, tampering,
  // missing) refuses the whole configuration loudly; nothing is guessed (e.g. an empty ep=).
  if (n0 == MAX_VALUE_LEN) {
    const n1 = storeGet(ClientRecord.ConfigPart2, REPR + <usize>n0, REPR_CAP - n0);
    if (n1 < 0 && n1 != StoreStatus.NotFound) return bootRefused(ClientRecord.ConfigPart2, n1, n);
    if (n1 > 0) n += n1;
  }
  const c = storeGet(ClientRecord.Client, REC, 8 + 64);
  if (c < 9 || load<u32>(REC) != CLIENT_MAGIC || !setEndpointName(REC + 8, c - 8)) {
    memory.fill(REC, 0, 8 + 64);
    return bootRefused(ClientRecord.Client, c < 0 ? c : StoreStatus.AuthFailed, n);
  }
  setPreferredBootstrapFormat(load<u32>(REC, 4));
  const err = configLoad(REPR, n, now);
  memory.fill(REPR, 0, <usize>n);
  dropConfigChanged();
  if (err) {
    lb("config: stored configuration refused, error ");
    lnum(err);
    lerror();
    return err;
  }
  rebuildKeyMasks();
  lb("config: configuration loaded from the sealed store (");
  lnum(n);
  ls(" bytes)");
  linfo();
  return 1;
}

/** A configuration record failed at boot: logged, nothing loaded, the device stays unprovisioned. */
function bootRefused(record: i32, status: i32, wipeLen: i32): i32 {
  memory.fill(REPR, 0, <usize>wipeLen);
  clearEndpointName();
  lb("config: REFUSED, stored record ");
  lnum(record);
  ls(record == ClientRecord.Client ? " (endpoint name)" : " (configuration part 2)");
  ls(" unreadable, status ");
  lnum(status);
  ls(": storage corrupt, not provisioned");
  lerror();
  return status < 0 ? status : StoreStatus.AuthFailed;
}

/** ConfigChanged (a server wrote its Server Object, BS-4 purge): the image is stored again. */
export function persistNow(): void {
  const n = configImage(REPR, REPR_CAP);
  const r = n < 0 ? -1 : persist(REPR, n);
  if (n > 0) memory.fill(REPR, 0, <usize>n);
  if (r < 0) {
    lb("config: could not store the configuration, status ");
    lnum(r);
    lerror();
  }
}

/** Factory Reset: every key destroyed, every client record deleted, the configuration wiped; unprovisioned. */
export function wipeConfig(): void {
  for (let i = SE_FIRST; i <= SE_LAST; i++) if ((seUsed >> <u32>i) & 1) se_destroy(i);
  seUsed = 0;
  abort();
  if (begin()) {
    for (let i = 0; i < KEY_RECORDS; i++) if (storeSize(ClientRecord.KeyFirst + i) >= 0) storeDelete(ClientRecord.KeyFirst + i);
    if (storeSize(RecordId.Lwm2mConfig) >= 0) storeDelete(RecordId.Lwm2mConfig);
    if (storeSize(ClientRecord.ConfigPart2) >= 0) storeDelete(ClientRecord.ConfigPart2);
    if (storeSize(ClientRecord.Client) >= 0) storeDelete(ClientRecord.Client);
    txn = false;
    storeCommit();
  }
  // the DTLS sessions and registrations kept across sleep (session-store.ts) are forgotten too
  for (let id = RecordId.DtlsSessionFirst; id <= RecordId.DtlsSessionLast; id++) if (storeSize(id) >= 0) storeDelete(id);
  for (let id = RecordId.ObservationsFirst; id <= RecordId.ObservationsLast; id++) if (storeSize(id) >= 0) storeDelete(id);
  recUsed = 0;
  configReset();
  dropConfigChanged();
  clearEndpointName();
}
