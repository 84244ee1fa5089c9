// The LwM2M client state machine, sans-I/O (OMA-TS-LightweightM2M_Core-V1_1
// §6.1 - §6.4). The firmware glue drives it:
//   clientInit()                       once (Objects 0, 1, 3 and the app's own)
//   clientStart(now)                   with a configuration: register with every
//                                      LwM2M Server account, or bootstrap (BS-2)
//   clientDatagram(ci, ptr, len, now)  a CoAP message arrived on connection ci
//   clientStep(now) -> deadline        after every input and at the deadline
//   clientShutdown(now)                De-register everywhere
// Output goes through the transport hooks (conn.ts setTransport); host-facing
// results through events (events.ts) and hostRequest (reboot).
import { CoapEvent } from "../../coap/endpoint";
import { obsOnEvent } from "../../coap/observe";
import { ID_NONE } from "../formats/entry";
import { setChangeListener, takeAction, Action, findObject, instNext, slotIid, getInt, found } from "../model";
import { nextCleanupDeadline, bootstrapAccountCleanup, session, Session, sessionAbort } from "../bootstrap-config";
import { SECURITY_OID, Sec, securityDefine } from "../objects/security";
import { SERVER_OID, serverDefine, serverFind } from "../objects/server";
import { deviceDefine } from "../objects/device";
import {
  conn, connEp, connEpLent, connObs, connsInit, connAlloc, connFree, connOfSsid, connOfRole, Role, St, Req, MAX_CONNS, U_OBJECTS,
  U_TRIGGER, transportSend, earliest, Channel,
} from "./conn";
import {
  regBegin, regOnResponse, regTimer, regTransportUp, regTransportFailed, sendUpdate, sendDeregister, serverChanged,
  isRegistered, takeFallbackCheck, regDisable,
} from "./registration";
import { bsStart, bsTimer, bsOnResponse, bsTransportUp, bsTransportFailed, takeBootstrapFinished } from "./bootstrap";
import { handleRequest, requestsInit, requestsConnGone } from "./requests";
import { reportChange, reportStep, reportDeadline, reportEnded } from "./reporting";
import { emit, ClientEvent, AttemptFail, lb, ls, lnum, linfo, lwarn } from "./events";

/** What the host should do after this call (host_request export). */
export namespace HostRequest {
  export const None: i32 = 0;
  export const Reboot: i32 = 1; // Execute /3/0/4: restart the firmware (state persists)
  export const FactoryReset: i32 = 2; // Execute /3/0/5: the configuration is wiped; restart
}
export let hostRequest: i32 = HostRequest.None;
export function takeHostRequest(): i32 { const r = hostRequest; hostRequest = 0; return r; }

/** Glue hooks: persist the configuration (ConfigChanged), wipe it (Factory Reset). */
export type GlueHook = () => void;
function nothing(): void {}
let persistConfig: GlueHook = nothing;
let factoryReset: GlueHook = nothing;
export function setClientHooks(persist: GlueHook, reset: GlueHook): void {
  persistConfig = persist;
  factoryReset = reset;
}

let objectsChanged = false;

function onChange(oid: u32, iid: u32, rid: u32): void {
  if (rid == ID_NONE && oid != SECURITY_OID) objectsChanged = true; // an instance came or went: Update (§6.2.2)
  reportChange(oid, iid, rid);
}

/** Declares Objects 0, 1, 3 and wires the model to the client. Other Objects may be declared after it. */
export function clientInit(): i32 {
  if (securityDefine() < 0 || serverDefine() < 0 || deviceDefine() < 0) return -1;
  setChangeListener(onChange);
  connsInit();
  requestsInit();
  return 0;
}

/** Any account configured? */
export function clientConfigured(): bool {
  const o = findObject(SECURITY_OID);
  return o != null && instNext(o, -1) != 0;
}

/** Closes every connection (no De-register) and drops a running bootstrap session. */
export function clientStop(): void {
  for (let i = 0; i < MAX_CONNS; i++) {
    requestsConnGone(i);
    connFree(i);
  }
  if (session == Session.Bootstrap) sessionAbort();
}

/** Server connections for every LwM2M Server account; 0 when there is none. */
function startServers(now: i64): i32 {
  const sec = findObject(SECURITY_OID)!;
  let n = 0;
  for (let s = instNext(sec, -1); s; s = instNext(sec, <i32>slotIid(s))) {
    const iid = slotIid(s);
    if (getInt(SECURITY_OID, iid, Sec.BootstrapServer) != 0) continue;
    const ssid = <i32>getInt(SECURITY_OID, iid, Sec.ShortServerId);
    if (!found || serverFind(<u32>ssid) < 0) continue;
    const ci = connAlloc(Role.Server, <i32>iid, ssid);
    if (ci < 0) continue;
    regBegin(ci, now);
    n++;
  }
  return n;
}

/** (Re)starts from the active configuration: Register with each server, or bootstrap when there is none (BS-2). */
export function clientStart(now: i64): void {
  clientStop();
  objectsChanged = false;
  if (!clientConfigured()) return;
  if (startServers(now) == 0) {
    lb("client: no LwM2M Server account, bootstrap");
    linfo();
    bsStart(now, true);
  }
}

/** After a Bootstrap-Finish: servers start over with the new configuration; the Bootstrap-Server connection lingers. */
function restartServers(now: i64): void {
  for (let i = 0; i < MAX_CONNS; i++) {
    if (conn(i).role == Role.Server) { requestsConnGone(i); connFree(i); }
  }
  objectsChanged = false;
  if (startServers(now) == 0) bsStart(now, true);
}

/** BS-2: bootstrap when registration with every configured server has failed. */
function checkFallback(now: i64): void {
  for (let i = 0; i < MAX_CONNS; i++) {
    const c = conn(i);
    if (c.role == Role.Server && c.state != St.Failed) return;
  }
  lb("client: registration failed with every server, bootstrap");
  lwarn();
  bsStart(now, true);
}

function onResponse(ci: i32, now: i64, code: i32): void {
  if (conn(ci).role == Role.Bootstrap) bsOnResponse(ci, now, code);
  else regOnResponse(ci, now, code);
}

function processEvents(ci: i32, now: i64): void {
  const ep = connEp(ci);
  let e: i32;
  while ((e = ep.pollEvent()) != CoapEvent.None) {
    const slot = ep.eventSlot;
    if (e == CoapEvent.Request) handleRequest(ci, now);
    else if (slot == 0 && conn(ci).pending != Req.None) {
      if (e == CoapEvent.Response) onResponse(ci, now, ep.rx.code);
      else if (e == CoapEvent.Timeout) onResponse(ci, now, AttemptFail.Timeout);
      else if (e == CoapEvent.Reset) onResponse(ci, now, AttemptFail.Reset);
    }
    if (e >= CoapEvent.Timeout) {
      const k = obsOnEvent(connObs(ci), e, slot, ep.eventMid, now);
      if (k >= 0) reportEnded(ci, k);
    }
  }
}

/** A CoAP message from connection ci's transport. */
export function clientDatagram(ci: i32, p: usize, len: i32, now: i64): void {
  if (<u32>ci >= <u32>MAX_CONNS || conn(ci).role == Role.None) return;
  const ep = connEp(ci);
  ep.handleDatagram(p, len, now); // format errors: RST for a CON or dropped, inside the endpoint
  processEvents(ci, now);
  // the endpoint's contract: drained after every call. One DTLS datagram may carry several
  // records, each a CoAP message (RFC 6347 4.1.1): each answer leaves before the next is read.
  let n: i32;
  while ((n = ep.pollTransmit()) > 0) if (conn(ci).transport == Channel.Up) transportSend(ci, ep.txPtr, n);
}

/** The transport of ci finished opening (DTLS handshake complete). */
export function clientTransportUp(ci: i32, now: i64): void {
  if (<u32>ci >= <u32>MAX_CONNS) return;
  const c = conn(ci);
  if (c.transport == Channel.Pending) c.transport = Channel.Up;
  if (c.role == Role.Bootstrap) bsTransportUp(ci, now);
  else if (c.role == Role.Server) regTransportUp(ci, now);
}

/** The transport of ci failed (handshake refused, fatal alert); the next attempt reopens it. */
export function clientTransportFailed(ci: i32, now: i64): void {
  if (<u32>ci >= <u32>MAX_CONNS) return;
  const c = conn(ci);
  c.transport = Channel.Closed;
  if (c.role == Role.Bootstrap) bsTransportFailed(ci, now);
  else if (c.role == Role.Server) regTransportFailed(ci, now);
}

/** De-register from every server (shutdown); the connections then stay idle. */
export function clientShutdown(now: i64): void {
  for (let i = 0; i < MAX_CONNS; i++) {
    const c = conn(i);
    if (c.role != Role.Server) continue;
    if (!sendDeregister(i, now, 2)) { c.state = St.Idle; c.timer = -1; }
  }
  const b = connOfRole(Role.Bootstrap);
  if (b >= 0) connFree(b);
  if (session == Session.Bootstrap) sessionAbort();
}

function runActions(now: i64): void {
  let a: i32;
  while ((a = takeAction()) != 0) {
    const kind = a & 0xff;
    const arg = a >> 8;
    const ci = connOfSsid(arg);
    if (kind == Action.Reboot) {
      emit(ClientEvent.Reboot, 0, 0, 0, 0);
      if (hostRequest == 0) hostRequest = HostRequest.Reboot;
    } else if (kind == Action.FactoryReset) {
      for (let i = 0; i < MAX_CONNS; i++) if (conn(i).role == Role.Server) sendDeregister(i, now, 2);
      factoryReset();
      emit(ClientEvent.FactoryReset, 0, 0, 0, 0);
      hostRequest = HostRequest.FactoryReset;
    } else if (kind == Action.RegistrationUpdate) {
      if (ci >= 0) {
        conn(ci).update |= U_TRIGGER;
        if (conn(ci).state == St.Registered) sendUpdate(ci, now);
      }
    } else if (kind == Action.Disable) {
      if (ci >= 0) regDisable(ci, now);
    } else if (kind == Action.BootstrapRequest) {
      lb("client: Bootstrap-Request Trigger executed by ssid=");
      lnum(arg);
      linfo();
      bsStart(now, false);
    } else if (kind == Action.ConfigChanged) {
      persistConfig();
    } else if (kind == Action.ServerChanged) {
      if (ci >= 0) serverChanged(ci, now);
    }
  }
}

function stateTimer(ci: i32, now: i64): void {
  const c = conn(ci);
  if (c.timer < 0 || c.timer > now) return;
  if (c.role == Role.Bootstrap) bsTimer(ci, now);
  else regTimer(ci, now);
}

/** Everything due at `now`; flushes the transmit queues; returns the next deadline (-1 none). */
export function clientStep(now: i64): i64 {
  for (let i = 0; i < MAX_CONNS; i++) {
    if (conn(i).role == Role.None || connEpLent(i)) continue;
    connEp(i).handleTimeout(now);
    processEvents(i, now);
  }
  // twice: what the actions start (a Bootstrap-Request Trigger, a Disable) goes out in this step
  for (let pass = 0; pass < 2; pass++) {
    if (takeBootstrapFinished()) restartServers(now);
    for (let i = 0; i < MAX_CONNS; i++) if (conn(i).role != Role.None) stateTimer(i, now);
    if (takeFallbackCheck()) {
      checkFallback(now);
      for (let i = 0; i < MAX_CONNS; i++) if (conn(i).role == Role.Bootstrap) stateTimer(i, now);
    }
    if (objectsChanged) {
      objectsChanged = false;
      for (let i = 0; i < MAX_CONNS; i++) {
        const c = conn(i);
        if (c.role != Role.Server) continue;
        c.update |= U_OBJECTS;
        if (c.state == St.Registered) sendUpdate(i, now);
      }
    }
    for (let i = 0; i < MAX_CONNS; i++) if (!connEpLent(i)) reportStep(i, now);
    // BS-4: the low-entropy Bootstrap-Server account goes when its timeout has passed
    const cd = nextCleanupDeadline();
    if (cd >= 0 && cd <= now && bootstrapAccountCleanup(now)) {
      lb("bootstrap: Bootstrap-Server Account Timeout passed, low-entropy account purged (BS-4)");
      linfo();
    }
    runActions(now);
  }
  // flush
  let d: i64 = nextCleanupDeadline();
  for (let i = 0; i < MAX_CONNS; i++) {
    const c = conn(i);
    if (c.role == Role.None) continue;
    d = earliest(d, c.timer);
    if (connEpLent(i)) continue; // the transport drives it (and reports its deadline)
    const ep = connEp(i);
    let n: i32;
    while ((n = ep.pollTransmit()) > 0) if (c.transport == Channel.Up) transportSend(i, ep.txPtr, n);
    d = earliest(d, ep.nextDeadline());
    d = earliest(d, reportDeadline(i));
  }
  return d;
}

/** Registration state of the account ssid (St.*), -1 when it has no connection (tests, CLI). */
export function clientState(ssid: i32): i32 {
  const ci = ssid == 0 ? connOfRole(Role.Bootstrap) : connOfSsid(ssid);
  return ci < 0 ? -1 : conn(ci).state;
}
