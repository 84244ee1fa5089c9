// Firmware entry: the exports of host ABI v1 (host-shim/ABI.md). The host
// owns the loop: it calls init, datagram_received and timer_fired; each
// returns the next deadline in monotonic ms (-1 = none). Nothing here blocks.
//
// On top of the boot self-tests this is the LwM2M client's glue: the stored
// configuration is loaded at boot (firmware/persist.ts), the client
// (lwm2m/client/) registers or bootstraps, datagrams reach it through the
// per-account transports (firmware/transport.ts). Factory provisioning comes
// from the host through provision_begin / provision_write / provision_finish.
import { ABI_VERSION, LogLevel, HostStatus, clock_wall_seconds, se_destroy } from "../host/abi";
import { info, error, logNum } from "../util/log";
import { rngIsHealthy, seSelfTest, generateKeyPair } from "../se/keys";
import { mountFlash, MountResult } from "../storage/flash";
import { storeMount, storeFormat, storeRecordCount, storeBegin, storeCommit, StoreStatus } from "../storage/store";
import { LwPath, ContentFormat } from "../lwm2m/formats/entry";
import { setText, setInt, arenaBytes } from "../lwm2m/model";
import { lwHandle, lwDelete, Caller, Method, Code, NO_FORMAT } from "../lwm2m/operations";
import { provisionFinish, sessionAbort, lastConfigError } from "../lwm2m/bootstrap-config";
import { DEVICE_OID, Dev, setDeviceClock } from "../lwm2m/objects/device";
import { REPR, REPR_CAP, earliest } from "../lwm2m/client/conn";
import {
  clientInit, clientStart, clientStop, clientStep, clientShutdown, clientConfigured, clientState, setClientHooks,
  takeHostRequest,
} from "../lwm2m/client/client";
import { setEndpointName, epNameLen } from "../lwm2m/client/registration";
import { setPreferredBootstrapFormat, dropConfigChanged } from "../lwm2m/client/bootstrap";
import { eventNext, evSsid, evArg, evText, evLen } from "../lwm2m/client/events";
import { transportInit, transportDatagram, transportDeadline, transportStep, transportSleep, transportLastActivity } from "./transport";
import { conn, MAX_CONNS, Role } from "../lwm2m/client/conn";
import { queueModeOf, setRegistrationKeeper, isRegistered } from "../lwm2m/client/registration";
import { registrationKeep, registrationRestore } from "./session-store";
import { observationsKeep, observationsRestore } from "./observe-store";
import { setConnectionIdLength } from "./dtls-account";
import { setSleepMode } from "./keep";
import { persistInit, configBoot, persistNow, wipeConfig } from "./persist";
import { portfolioDefine } from "./portfolio";
import { estConfigure, EST_ENABLED } from "./est-state";

export function abi_version(): i32 { return ABI_VERSION; }

// One receive buffer the host writes datagrams into (RFC 6347 over IPv6 MTU 1280 fits).
const RX_CAPACITY: i32 = 1536;
const rxBuffer = memory.data(1536, 16);
export function rx_buffer(): usize { return rxBuffer; }
export function rx_capacity(): i32 { return RX_CAPACITY; }

/** Boot status bits, for the host and tests. */
namespace BootStatus {
  export const RngHealthy: i32 = 1;
  export const SeHealthy: i32 = 2;
  export const FlashMounted: i32 = 4;
}
let bootStatus: i32 = 0;
export function boot_status(): i32 { return bootStatus; }
/** The store's mount result at boot (StoreStatus: 0 mounted, 1 formatted, < 0 refused; docs/storage.md). */
let storeStatus: i32 = StoreStatus.NotMounted;
export function store_status(): i32 { return storeStatus; }
/** The stored configuration at boot: 1 loaded, 0 none, < 0 refused (a record failed; the device is not provisioned). */
let configStatus: i32 = 0;
export function config_status(): i32 { return configStatus; }

let clientReady = false;

function wallClock(): i64 { return clock_wall_seconds(); }

/** The LwM2M client's Objects and hooks (once per instance). */
function setupClient(): bool {
  if (clientReady) return true;
  if (clientInit() < 0 || portfolioDefine() < 0) return false;
  logNum(LogLevel.Info, "model: Object arena bytes used (profiles.json CAP_MODEL_ARENA): ", arenaBytes());
  transportInit();
  persistInit();
  setClientHooks(persistNow, wipeConfig);
  setRegistrationKeeper(wakeRestore);
  setDeviceClock(wallClock);
  setText(DEVICE_OID, 0, Dev.Manufacturer, "lwm2m-wasm");
  setText(DEVICE_OID, 0, Dev.ModelNumber, "wasm32 simulator");
  setText(DEVICE_OID, 0, Dev.FirmwareVersion, "0.1.0");
  clientReady = true;
  return true;
}

/** The wake's first request on server connection ci: the registration kept across sleep and its
 *  observations, both records used once (deleted in one store transaction, committed before anything
 *  is sent: a record that could not be deleted would bring back Observe numbers this wake then
 *  uses, so then Register). True: Update. */
function wakeRestore(ci: i32, now: i64): bool {
  if (storeBegin() != StoreStatus.Ok) return false;
  const ok = observationsRestore(ci, registrationRestore(ci), now);
  const r = storeCommit();
  if (r >= 0 || !ok) return ok;
  logNum(LogLevel.Warn, "registration: the records kept across sleep could not be deleted (store status), Register instead of Update: ", r);
  return false;
}

function step(now: i64): i64 {
  if (!clientReady) return -1;
  transportStep(now); // DTLS retransmissions / limits first: a handshake that completes lets the client send now
  return earliest(clientStep(now), transportDeadline());
}

export function init(now_ms: i64): i64 {
  bootStatus = 0;
  info("lwm2m-wasm firmware starting (host ABI v1)");
  if (rngIsHealthy()) {
    bootStatus |= BootStatus.RngHealthy;
    info("DRBG: health tests passed");
  } else {
    error("DRBG: health test failure; key generation disabled (EST-2)");
  }
  const se = seSelfTest();
  if (se == HostStatus.Ok) {
    bootStatus |= BootStatus.SeHealthy;
    info("SE: self-test passed (P-256 keygen, sign, verify, ECDH)");
  } else {
    logNum(LogLevel.Error, "SE: self-test failed, status ", se);
  }
  const m = mountFlash();
  storeStatus = StoreStatus.NotMounted;
  configStatus = 0;
  if (m < 0) {
    logNum(LogLevel.Error, "flash: mount failed, status ", m);
  } else {
    if (m == MountResult.Formatted) info("flash: no valid superblock, formatted");
    // SE-2: sealed, rollback-protected record store. A refused store is
    // reported, never silently re-formatted: that is a policy decision.
    const st = storeMount();
    storeStatus = st;
    if (st == StoreStatus.Ok || st == StoreStatus.Formatted) {
      bootStatus |= BootStatus.FlashMounted;
      if (st == StoreStatus.Formatted) info("store: empty, formatted");
      logNum(LogLevel.Info, "store: mounted, records: ", storeRecordCount());
    } else if (st == StoreStatus.RolledBack) {
      error("store: REFUSED, flash is older than the SE counter (rollback)");
    } else if (st == StoreStatus.AuthFailed) {
      error("store: REFUSED, newest commit failed authentication (another SE's key, or forged)");
    } else if (st == StoreStatus.Corrupt) {
      error("store: REFUSED, newest commit is damaged (CRC mismatch: a bit flip)");
    } else if (st == StoreStatus.ForeignStore) {
      error("store: REFUSED, the flash holds a sealed store this SE never committed (SE key store replaced or missing); not re-formatted: factory reset on request only");
    } else if (st == StoreStatus.Missing) {
      error("store: REFUSED, the SE has committed a store but the flash holds none (erased, zeroed or replaced)");
    } else {
      logNum(LogLevel.Error, "store: mount failed, status ", st);
    }
  }
  // The client runs only on a healthy device: a DRBG failure means predictable tokens / IDs (EST-2).
  const healthy = (bootStatus & (BootStatus.RngHealthy | BootStatus.FlashMounted)) == (BootStatus.RngHealthy | BootStatus.FlashMounted);
  if (!healthy || !setupClient()) {
    if (healthy) error("client: object table full");
    return -1;
  }
  configStatus = configBoot(now_ms);
  if (configStatus > 0 && clientConfigured()) {
    clientStart(now_ms);
  } else {
    info("client: not provisioned; waiting for the factory configuration");
  }
  return step(now_ms);
}

export function datagram_received(peer: i32, len: i32, now_ms: i64): i64 {
  if (!clientReady || len <= 0 || len > RX_CAPACITY) return step(now_ms);
  transportDatagram(peer, rxBuffer, len, now_ms); // a datagram from no connection of ours is dropped
  return step(now_ms);
}

export function timer_fired(now_ms: i64): i64 {
  return step(now_ms);
}

/** Runs what is due now (after provisioning, or a device-side change); returns the next deadline. */
export function poll(now_ms: i64): i64 {
  return step(now_ms);
}

/** De-register from every LwM2M Server (shutdown); the host keeps delivering responses until the deadline is -1 or it gives up. */
export function shutdown(now_ms: i64): i64 {
  if (clientReady) clientShutdown(now_ms);
  return step(now_ms);
}

/** RFC 9146 connection ID (a device setting, called before init and at every wake): -1 off
 *  (default); N = 0..32 the length of the CID we ask the server to use towards us (0: we
 *  send with the server's CID only); 0 accepted, -1 out of range (unchanged).
 *  Offered with the CCM_8 suites only (firmware/dtls-account.ts configure). */
export function set_connection_id(len: i32): i32 { return setConnectionIdLength(len) ? 0 : -1; }

/** What prepare_sleep does with the DTLS connections (a device setting, before prepare_sleep):
 *  0 resume (default: close_notify, the sealed session resumes at wake), 1 keep (the connection
 *  sealed, no handshake at wake: firmware/keep.ts), 2 full (the session dropped too: a full
 *  handshake at wake). 0 accepted, -1 unknown mode (unchanged). */
export function set_sleep_mode(mode: i32): i32 { return setSleepMode(mode) ? 0 : -1; }

// ---- Queue Mode (LwM2M 1.1 Transport §6.5) ----------------------------------------------

/** How long a Queue Mode client listens after its last message (default 93 s: CoAP MAX_TRANSMIT_WAIT, RFC 7252 4.8.2). */
let queueWindowMs: i64 = 93000;
export function set_queue_window(ms: i64): void { if (ms > 0) queueWindowMs = ms; }

/**
 * Until when the host must keep receiving (radio on), in monotonic ms: the latest
 * "last datagram + listen window" of the LwM2M Servers in Queue Mode (binding with Q);
 * -1 when no connection is in Queue Mode (listen always). After it the host may sleep
 * (prepare_sleep, or just stop receiving) until the deadline init/step returned: the
 * Server queues its requests meanwhile and delivers them when it next hears from us.
 */
export function queue_awake_until(): i64 {
  if (!clientReady) return -1;
  let until: i64 = -1;
  let any = false;
  for (let i = 0; i < MAX_CONNS; i++) {
    const c = conn(i);
    if (c.role != Role.Server || !queueModeOf(c.ssid)) continue;
    any = true;
    const t = transportLastActivity(i) + queueWindowMs;
    if (t > until) until = t;
  }
  return any ? until : -1;
}

/**
 * The host is about to power the module down (deep sleep, power-off): each DTLS
 * connection ends with close_notify, its session stays sealed in the store for
 * the abbreviated handshake at wake (DTLS-10, LPWA-1); no De-register. The host
 * re-instantiates the module (init) at wake. Returns -1 (nothing more to run).
 */
export function prepare_sleep(now_ms: i64): i64 {
  if (!clientReady) return -1;
  // LPWA-1: each registration sealed too: the wake's first request is an Update to it (no Register),
  // with its observations (Core §6.4): both in one store transaction, so a power cut leaves both
  // records or neither (then the wake registers again and the server observes anew)
  const txn = storeBegin() == StoreStatus.Ok; // both records of a server, or neither
  for (let i = 0; i < MAX_CONNS; i++) {
    const c = conn(i);
    if (c.role != Role.Server) continue;
    registrationKeep(i, isRegistered(c), now_ms);
    observationsKeep(i, isRegistered(c), now_ms);
  }
  if (txn && storeCommit() < 0) error("prepare_sleep: the registrations and observations could not be kept (store commit failed)");
  transportSleep(now_ms);
  return -1;
}

/**
 * Factory reset on explicit request only (docs/storage.md): every provisioned SE key
 * (slots 1..7) destroyed and the record store formatted under the current SE, also when
 * the mount refused it (ForeignStore, RolledBack, AuthFailed, Missing). Nothing keeps
 * running: the host restarts the module (init) afterwards. Formatted (1) or a StoreStatus.
 */
export function factory_reset(): i32 {
  if (clientReady) clientStop();
  for (let slot = 1; slot <= 7; slot++) se_destroy(slot);
  const st = storeFormat();
  if (st < 0) logNum(LogLevel.Error, "factory reset: store format failed, status ", st);
  else info("factory reset: store formatted, provisioned keys destroyed; restart the device");
  return st;
}

/** EST-1/EST-3: generate the device's own P-256 key pair in SE slot `slot`;
 *  the public key (65 bytes) is written to `pub_out`. Refused when the DRBG
 *  is unhealthy (EST-2). */
export function generate_device_key(slot: i32, pub_out: usize): i32 {
  return generateKeyPair(slot, pub_out);
}

// ---- factory provisioning ---------------------------------------------------------

/** Where the host writes provisioning payloads (and the endpoint name for provision_finish). */
export function config_buffer(): usize { return REPR; }
export function config_capacity(): i32 { return REPR_CAP; }

const PATH = memory.data(8, 8);

/** Starts factory provisioning: the client stops; the staged configuration starts empty. 2.02, or -1 (not booted). */
export function provision_begin(): i32 {
  if (!clientReady) return -1;
  clientStop();
  sessionAbort();
  const p = changetype<LwPath>(PATH);
  p.clear();
  return lwDelete(Caller.Factory, p).code;
}

/**
 * One factory write: `len` bytes at config_buffer() in Content-Format
 * `format` (TLV 11542, SenML-CBOR 112, SenML-JSON 110) to /oid or
 * /oid/iid (iid 65535 = Object level), as Caller.Factory: Objects 0 and 1 go
 * to the staging copy (checked at provision_finish), others (/3/0, /16)
 * directly. The CoAP code of the write (2.04 or an error).
 */
export function provision_write(oid: i32, iid: i32, format: i32, len: i32): i32 {
  if (!clientReady || len < 0 || len > REPR_CAP) return -1;
  const p = changetype<LwPath>(PATH);
  p.clear();
  p.set(<u32>oid & 0xffff, <u32>iid & 0xffff, 0xffff, 0xffff);
  // the write's scratch (the instance being written, issue 11) is the part of REPR after the payload
  const used = (len + 7) & ~7;
  return lwHandle(Caller.Factory, Method.PUT, p, format, NO_FORMAT, 0, 0, REPR, len, REPR + <usize>used, REPR_CAP - used).code;
}

/**
 * Ends factory provisioning: the endpoint name is the first `epLen` bytes of
 * config_buffer(); flags bit 0: the Bootstrap-Server account's secret is high
 * entropy (BS-4); bit 1: no "pct" in the Bootstrap-Request. Validates the
 * staged configuration, hands keys to the SE / sealed store, persists, and
 * starts the client (call poll() next). 2.04, 4.00 (endpoint name), 4.06
 * (configuration refused: config_error()), 5.00 (custody / storage failed).
 */
export function provision_finish(epLen: i32, flags: i32, now_ms: i64): i32 {
  if (!clientReady) return -1;
  if (!setEndpointName(REPR, epLen)) {
    error("provision: endpoint name must be 1..64 printable ASCII bytes without '&'");
    provision_abort(now_ms);
    return Code.BAD_REQUEST;
  }
  setPreferredBootstrapFormat(flags & 2 ? 0xffffffff : ContentFormat.SENML_CBOR);
  memory.fill(REPR, 0, <usize>epLen);
  const code = provisionFinish(now_ms, (flags & 1) != 0, REPR, REPR_CAP);
  dropConfigChanged();
  if (code != Code.CHANGED) {
    logNum(LogLevel.Error, "provision: factory configuration refused, config error ", lastConfigError);
    provision_abort(now_ms);
    return code;
  }
  info("provision: factory configuration committed to the sealed store");
  clientStart(now_ms);
  return code;
}

/**
 * Security Mode 4 factory settings (issue 8), `len` bytes at config_buffer():
 * kind 1 the EST server URI (coaps://host[:port][/path]; none = the account's
 * own server at /.well-known/est), 2 an explicit EST trust anchor (DER
 * certificate; none = resource 4), 3 the renewal point in percent of the
 * validity (the percent is `len`, nothing is read; default 75). Stored sealed
 * at once. 0, or -1 / a store error.
 */
export function est_configure(kind: i32, len: i32): i32 {
  if (!EST_ENABLED || !clientReady || len < 0 || (kind < 3 && len > REPR_CAP)) return -1;
  const r = estConfigure(kind, REPR, len);
  if (kind < 3) memory.fill(REPR, 0, <usize>len);
  return r;
}

/** Drops a factory provisioning that did not finish: the previous configuration (if any) runs again. */
export function provision_abort(now_ms: i64): i32 {
  if (!clientReady) return -1;
  sessionAbort();
  if (clientConfigured()) clientStart(now_ms);
  return 0;
}

export function provisioned(): i32 { return clientReady && clientConfigured() && epNameLen > 0 ? 1 : 0; }
export function config_error(): i32 { return lastConfigError; }

// ---- host-facing state ---------------------------------------------------------------

/** After any call: 1 reboot, 2 factory reset (then reboot) requested by a server's Execute; 0 none. */
export function host_request(): i32 { return takeHostRequest(); }

/** Next client event (lwm2m/client/events.ts ClientEvent), 0 none; details with event_*. */
export function event_next(): i32 { return eventNext(); }
export function event_ssid(): i32 { return evSsid; }
export function event_arg(): i32 { return evArg; }
export function event_text(): usize { return evText; }
export function event_text_len(): i32 { return evLen; }

/** State of the account ssid (0 = Bootstrap-Server): lwm2m/client/conn.ts St, -1 no connection. */
export function client_state(ssid: i32): i32 { return clientReady ? clientState(ssid) : -1; }

/** Device-side value change (e.g. a sensor / battery level); observers are notified by the next step. */
export function device_set_int(oid: i32, iid: i32, rid: i32, value: i64): i32 {
  return clientReady && setInt(<u32>oid, <u32>iid, <u32>rid, value) ? 0 : -1;
}

// The DTLS/CoAP probe (`npx lwm2m-wasm probe`) is not part of the firmware: it
// is its own module, build/probe.wasm, built from assembly/probe/probe.ts with the same
// release flags (scripts/build.mjs buildProbe; host-shim/node/probe.ts runs it).
