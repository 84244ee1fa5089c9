// Registration Interface (OMA-TS-LightweightM2M_Core-V1_1 §6.2; Transport
// §6.2): Register `POST /rd?ep=NAME&lt=LIFETIME&lwm2m=1.1&b=BINDING` with
// the link-format list of Objects and Object Instances (Object 0 never listed,
// SEC-2), the Location-Path the server answers kept for Update
// `POST /{location}[?lt=..&b=..]` and De-register `DELETE /{location}`.
// Registration retries follow the Server Object's communication resources
// (§6.2.1.2): Communication Retry Count (17) attempts per sequence, waiting
// Communication Retry Timer (18) * 2^(attempt-1) s between them; then
// Communication Sequence Delay Timer (19) s before the next sequence, up to
// Communication Sequence Retry Count (20) sequences. When every server has
// failed, the client falls back to bootstrap (BS-2; client.ts).
import { CoapType, CoapCode, CoapOption, CoapOptionIter, CoapWriter, COAP_OPTION_ITER_SIZE } from "../../coap/message";
import { ContentFormat } from "../formats/entry";
import { registerObjectLinks, linkWriter } from "../object-links";
import { getBytes, found, valueLen } from "../model";
import { SECURITY_OID, Sec, securityMode } from "../objects/security";
import { uriSplit, uriHost, uriHostLen, uriPort } from "../../util/uri";
import { Srv, serverValue, serverBinding, retryCount, retryTimer, sequenceDelayTimer, sequenceRetryCount } from "../objects/server";
import {
  conn, connEp, connObsClear, connLoc, Conn, St, Req, Role, LOC_CAP, U_LIFETIME, U_BINDING, U_OBJECTS,
  transportOpen, transportClose, Channel,
} from "./conn";
import { emit, ClientEvent, AttemptFail, lb, ls, lbytes, lnum, lcode, linfo, lwarn, lerror, lineText, lineLen } from "./events";

// ---------------------------------------------------------------------------
// Endpoint Client Name (§6.2.1 "ep"), set by factory provisioning

export const EP_NAME_CAP: i32 = 64;
export const EP_NAME = memory.data(64);
export let epNameLen: i32 = 0;

/** The Register / Update payload (registerObjectLinks) into out: its length, or a negative FormatError (out too small). */
export function registerPayload(out: usize, cap: i32): i32 {
  const w = linkWriter(out, cap);
  registerObjectLinks(w);
  return w.finish();
}

/** 1..64 printable ASCII bytes without '&' (it travels as one Uri-Query value, "ep=NAME"). */
export function setEndpointName(p: usize, n: i32): bool {
  if (n < 1 || n > EP_NAME_CAP) return false;
  for (let i = 0; i < n; i++) {
    const c = <u32>load<u8>(p + <usize>i);
    if (c <= 0x20 || c >= 0x7f || c == 0x26) return false;
  }
  memory.copy(EP_NAME, p, <usize>n);
  epNameLen = n;
  return true;
}

export function clearEndpointName(): void {
  memory.fill(EP_NAME, 0, EP_NAME_CAP);
  epNameLen = 0;
}

// ---------------------------------------------------------------------------
// Transport

/**
 * Opens the account's channel (host and port from the Security URI, checked
 * at Bootstrap-Finish / load by uriScheme). Channel.Up / Channel.Pending,
 * or a negative error. The host is passed where it is, inside the URI
 * (Security resource 0): the DTLS config keeps pointing at it (server name,
 * X.509 host check) for as long as the account's connection lives, so each
 * connection has its own.
 */
export function connOpen(ci: i32, now: i64): i32 {
  const c = conn(ci);
  if (c.transport != Channel.Closed) return c.transport;
  const u = getBytes(SECURITY_OID, <u32>c.secIid, Sec.Uri);
  const n = valueLen;
  if (!found) return -1;
  if (!uriSplit(u, n, false)) return -1; // RFC 7252 §6.1, §6.2: the default port by the scheme
  const r = transportOpen(ci, <u32>c.secIid, securityMode(<u32>c.secIid), uriHost, uriHostLen, uriPort, now);
  if (r < 0) return r;
  c.transport = r;
  return r;
}

/** Log text: the account's URI. */
export function logUri(ci: i32): void {
  const u = getBytes(SECURITY_OID, <u32>conn(ci).secIid, Sec.Uri);
  if (found) lbytes(u, valueLen);
}

// ---------------------------------------------------------------------------
// Messages

const QBUF = memory.data(96);
let qn: i32 = 0;
function qs(s: string): void {
  for (let i = 0; i < s.length && qn < 96; i++) store<u8>(QBUF + <usize>(qn++), <u8>s.charCodeAt(i));
}
function qb(p: usize, n: i32): void {
  const k = min(n, 96 - qn);
  memory.copy(QBUF + <usize>qn, p, <usize>k);
  qn += k;
}
function qnum(v: i64): void {
  let d: i32 = 1;
  for (let t = v; t >= 10; t /= 10) d++;
  if (qn + d > 96) return;
  for (let i = d - 1; i >= 0; i--) { store<u8>(QBUF + <usize>(qn + i), <u8>(0x30 + <i32>(v % 10))); v /= 10; }
  qn += d;
}
function qput(w: CoapWriter): void { w.option(CoapOption.URI_QUERY, QBUF, qn); qn = 0; }

/** "ep=NAME" as a Uri-Query option (Register, Bootstrap-Request). */
export function putEndpointQuery(w: CoapWriter): void {
  qn = 0;
  qs("ep=");
  qb(EP_NAME, epNameLen);
  qput(w);
}

/** Uri-Path options from a string literal ("rd", "bs"). */
export function putPath(w: CoapWriter, s: string): void {
  const n = s.length;
  qn = 0;
  qs(s);
  w.option(CoapOption.URI_PATH, QBUF, n);
  qn = 0;
}

const BINDING_TMP = memory.data(8, 8);

/** The account's Lifetime (s) now (§6.2.1: lt; at least 1). */
function lifetimeOf(c: Conn): i32 { return <i32>max<i64>(1, min<i64>(serverValue(<u32>c.ssid, Srv.Lifetime, 86400), 0x7fffffff)); }

/** The account's Binding now, in BINDING_TMP (u64 value, bytes zero-padded); its length. */
function bindingOf(c: Conn): i32 {
  store<u64>(BINDING_TMP, 0);
  const p = serverBinding(<u32>c.ssid);
  const n = p ? min(valueLen, 8) : 0;
  if (n > 0) memory.copy(BINDING_TMP, p, <usize>n);
  return n;
}

function putLifetime(w: CoapWriter, lt: i32): void { qn = 0; qs("lt="); qnum(lt); qput(w); }
/** The Binding (§6.2.1 "b") and, for a binding with Q (Queue Mode, the 1.0 "UQ" form of Server
 *  resource 7), the separate LwM2M 1.1 Queue Mode parameter "Q" (Transport §6.5): `b=U&Q`. */
function putBinding(w: CoapWriter, n: i32): void {
  qn = 0;
  qs("b=");
  let q = false;
  for (let i = 0; i < n; i++) {
    const ch = load<u8>(BINDING_TMP + <usize>i);
    if (ch == 0x51) q = true;
    else qb(BINDING_TMP + <usize>i, 1);
  }
  qput(w);
  if (q) { qn = 0; qs("Q"); qput(w); }
}

/** Queue Mode: the account's binding asks for it (a "Q" in Server resource 7). */
export function queueModeOf(ssid: i32): bool {
  const p = serverBinding(<u32>ssid);
  if (!p) return false;
  const n = valueLen;
  for (let i = 0; i < n; i++) if (load<u8>(p + <usize>i) == 0x51) return true;
  return false;
}

function putLocation(w: CoapWriter, ci: i32): void {
  const loc = connLoc(ci);
  const n = conn(ci).locLen;
  let i = 0;
  while (i < n) {
    const l = <i32>load<u8>(loc + <usize>i);
    w.option(CoapOption.URI_PATH, loc + <usize>i + 1, l);
    i += 1 + l;
  }
}

/** Sends Register; false when it could not be built (then the attempt failed). */
function sendRegister(ci: i32, now: i64): bool {
  const c = conn(ci);
  const ep = connEp(ci);
  if (ep.slotBusy(0)) ep.cancel(0);
  const w = ep.beginRequest(CoapType.CON, CoapCode.POST);
  putPath(w, "rd");
  w.optionUint(CoapOption.CONTENT_FORMAT, ContentFormat.LINK);
  putEndpointQuery(w);
  const lt = lifetimeOf(c);
  putLifetime(w, lt);
  qn = 0;
  qs("lwm2m=1.1");
  qput(w);
  const bl = bindingOf(c);
  if (bl > 0) putBinding(w, bl);
  const n = registerPayload(w.payloadPtr(), w.payloadRoom());
  if (n > 0) w.commitPayload(n);
  if (n < 0 || ep.send(now) < 0) return false;
  c.pending = Req.Register;
  c.state = St.Registering;
  c.lifetime = lt;
  c.binding = load<u64>(BINDING_TMP);
  c.bindingLen = bl;
  c.timer = -1;
  lb("registration: Register to ");
  logUri(ci);
  ls(" ep=");
  lbytes(EP_NAME, epNameLen);
  ls(" lt=");
  lnum(lt);
  linfo();
  return true;
}

/** Sends Update with what changed (c.update); §6.2.2 "Update". */
export function sendUpdate(ci: i32, now: i64): bool {
  const c = conn(ci);
  const ep = connEp(ci);
  if (ep.slotBusy(0)) return false;
  const w = ep.beginRequest(CoapType.CON, CoapCode.POST);
  putLocation(w, ci);
  const objects = (c.update & U_OBJECTS) != 0;
  if (objects) w.optionUint(CoapOption.CONTENT_FORMAT, ContentFormat.LINK);
  const lt = lifetimeOf(c);
  const bl = bindingOf(c);
  if (c.update & U_LIFETIME) putLifetime(w, lt);
  if ((c.update & U_BINDING) && bl > 0) putBinding(w, bl);
  if (objects) {
    const n = registerPayload(w.payloadPtr(), w.payloadRoom());
    if (n > 0) w.commitPayload(n);
  }
  if (ep.send(now) < 0) return false;
  c.pending = Req.Update;
  c.state = St.Updating;
  c.lifetime = lt;
  c.binding = load<u64>(BINDING_TMP);
  c.bindingLen = bl;
  c.update = 0;
  c.timer = -1;
  return true;
}

/** Sends De-register (§6.2.3); `after` says what follows it (Conn.afterDereg). */
export function sendDeregister(ci: i32, now: i64, after: i32): bool {
  const c = conn(ci);
  const ep = connEp(ci);
  c.afterDereg = after;
  if (c.state != St.Registered && c.state != St.Updating) return false;
  if (ep.slotBusy(0)) ep.cancel(0);
  const w = ep.beginRequest(CoapType.CON, CoapCode.DELETE);
  putLocation(w, ci);
  if (ep.send(now) < 0) { deregistered(ci, now); return false; }
  c.pending = Req.Deregister;
  c.state = St.Deregistering;
  c.timer = -1;
  return true;
}

// ---------------------------------------------------------------------------
// Procedure

/** Starts (or restarts) the registration procedure of a server connection. */
export function regBegin(ci: i32, now: i64): void {
  const c = conn(ci);
  c.state = St.Wait;
  c.timer = now;
  c.attempt = 0;
  c.sequence = 0;
}

/** The server is registered only after a 2.01 to Register, and until De-register / failure. */
export function isRegistered(c: Conn): bool { return c.state == St.Registered || c.state == St.Updating; }

let fallback = false;
/** Some server connection just failed for good: the client checks whether all did (BS-2). */
export function takeFallbackCheck(): bool { const f = fallback; fallback = false; return f; }

// ---------------------------------------------------------------------------
// The registration across deep sleep (LPWA-1): before the module is powered
// down (main.ts prepare_sleep) the firmware seals each registration (Location-
// Path, lifetime, binding) in its store; at wake the channel's first request is
// an Update to that location (§6.2.2) instead of a Register, while the lifetime
// has not run out. The record is used once. A 4.04 (the server forgot the
// registration) registers again, as for any failed Update.

/** Restore the registration kept across sleep into conn(ci) (location, lifetime, binding), and the
 *  observations that go with it (firmware/observe-store.ts); true when valid. */
export type RegRestore = (ci: i32, now: i64) => bool;
function noRestore(ci: i32, now: i64): bool { return false; }
let regRestore: RegRestore = noRestore;
export function setRegistrationKeeper(restore: RegRestore): void { regRestore = restore; }

/** The first request of a channel: an Update of the registration kept across a reboot, else Register. */
function registerOrUpdate(ci: i32, now: i64): bool {
  const c = conn(ci);
  if (regRestore(ci, now)) {
    c.update = 0;
    if (sendUpdate(ci, now)) {
      lb("registration: Update to ");
      logUri(ci);
      ls(" (the registration kept across the reboot, ");
      logLocation(ci);
      ls(")");
      linfo();
      return true;
    }
  }
  c.locLen = 0;
  connObsClear(ci); // observations kept across sleep belong to the old registration (2.01 clears them too)
  return sendRegister(ci, now);
}

/** One attempt: open the channel (if needed) and send Register. */
function attempt(ci: i32, now: i64): void {
  const c = conn(ci);
  const r = connOpen(ci, now);
  if (r < 0) {
    // the channel cannot exist (e.g. secure transport unavailable): no retry helps until the configuration changes
    c.state = St.Failed;
    c.timer = -1;
    lb("registration: ssid=");
    lnum(c.ssid);
    ls(" cannot open a channel to ");
    logUri(ci);
    lerror();
    emit(ClientEvent.RegistrationFailed, c.ssid, -2, 0, 0);
    fallback = true;
    return;
  }
  if (r == Channel.Pending) { c.state = St.Connecting; c.timer = -1; return; }
  if (!registerOrUpdate(ci, now)) attemptFailed(ci, now, AttemptFail.NotSent);
}

/** A communication attempt failed (why: a response code or an AttemptFail). */
export function attemptFailed(ci: i32, now: i64, why: i32): void {
  const c = conn(ci);
  const ssid = <u32>c.ssid;
  c.pending = Req.None;
  c.attempt++;
  lb("registration: ssid=");
  lnum(ssid);
  ls(" attempt ");
  lnum(c.attempt);
  ls(" failed (");
  if (why > 0) lcode(why);
  else ls(why == AttemptFail.Timeout ? "timeout" : why == AttemptFail.Transport ? "transport" : why == AttemptFail.Reset ? "reset" : "not sent");
  ls(")");
  lwarn();
  const count = max<i64>(retryCount(ssid), 1);
  if (<i64>c.attempt < count) {
    // Communication Retry Timer * 2^(attempt - 1)
    let wait = retryTimer(ssid);
    for (let k = 1; k < c.attempt && wait < 0x100000000; k++) wait <<= 1;
    c.state = St.Wait;
    c.timer = now + wait * 1000;
    return;
  }
  c.attempt = 0;
  c.sequence++;
  if (<i64>c.sequence < max<i64>(sequenceRetryCount(ssid), 1)) {
    c.state = St.Wait;
    c.timer = now + sequenceDelayTimer(ssid) * 1000;
    return;
  }
  c.state = St.Failed;
  c.timer = -1;
  lb("registration: ssid=");
  lnum(ssid);
  ls(" failed, every retry used");
  lerror();
  emit(ClientEvent.RegistrationFailed, c.ssid, why, 0, 0);
  fallback = true;
}

/** When the next Update is due: before the lifetime runs out (90 % of it). */
function scheduleUpdate(c: Conn, now: i64): void {
  c.since = now;
  c.timer = now + <i64>c.lifetime * 900;
}

/** Keeps the Location-Path segments of a 2.01 (Register). False when there are too many bytes. */
function keepLocation(ci: i32): bool {
  const m = connEp(ci).rx;
  const it = changetype<CoapOptionIter>(IT);
  it.begin(m);
  const loc = connLoc(ci);
  let n = 0;
  while (it.nextOf(CoapOption.LOCATION_PATH)) {
    if (n + 1 + it.length > LOC_CAP) return false;
    // RFC 7252 §5.10.7: a Location-Path segment is never "." or ".."
    if (it.length <= 2 && load<u8>(it.value) == 0x2e && (it.length == 1 || load<u8>(it.value + 1) == 0x2e)) {
      conn(ci).locLen = 0;
      lb("registration: ssid=");
      lnum(conn(ci).ssid);
      ls(": Location-Path segment '.' or '..' refused (RFC 7252 5.10.7)");
      lerror();
      return false;
    }
    store<u8>(loc + <usize>n, <u8>it.length);
    memory.copy(loc + <usize>n + 1, it.value, <usize>it.length);
    n += 1 + it.length;
  }
  conn(ci).locLen = n;
  return n > 0;
}
const IT = memory.data(COAP_OPTION_ITER_SIZE, 8);

/** "/rd/abc" of the registration into the log line. */
function logLocation(ci: i32): void {
  const loc = connLoc(ci);
  const n = conn(ci).locLen;
  let i = 0;
  while (i < n) {
    const l = <i32>load<u8>(loc + <usize>i);
    ls("/");
    lbytes(loc + <usize>i + 1, l);
    i += 1 + l;
  }
}

/** The response (code) or failure (AttemptFail.Timeout / Reset) of the request in slot 0 of a server connection. */
export function regOnResponse(ci: i32, now: i64, code: i32): void {
  const c = conn(ci);
  const kind = c.pending;
  c.pending = Req.None;
  if (kind == Req.Register) {
    if (code == CoapCode.CREATED && keepLocation(ci)) {
      c.state = St.Registered;
      c.attempt = 0;
      c.sequence = 0;
      c.update = 0;
      scheduleUpdate(c, now);
      connObsClear(ci); // a new registration starts without observations
      lb("");
      logLocation(ci);
      emit(ClientEvent.Registered, c.ssid, c.lifetime, lineText(), lineLen());
    } else attemptFailed(ci, now, code);
    return;
  }
  if (kind == Req.Update) {
    if (code == CoapCode.CHANGED) {
      c.state = St.Registered;
      c.obsHeld = 0; // the server knows our address now: the observations kept across sleep go on
      scheduleUpdate(c, now);
      emit(ClientEvent.Updated, c.ssid, c.lifetime, 0, 0);
      if (c.update) sendUpdate(ci, now);
    } else {
      // §6.2.2: a failed Update (e.g. 4.04: the registration is gone) -> register again
      lb("registration: Update failed (");
      if (code > 0) lcode(code); else ls("timeout");
      ls("), registering again");
      lwarn();
      c.state = St.Wait;
      c.timer = now;
      c.attempt = 0;
      c.sequence = 0;
    }
    return;
  }
  if (kind == Req.Deregister) deregistered(ci, now);
}

/** Disable (E.2 resource 4): De-register, then offline for Disable Timeout. */
export function regDisable(ci: i32, now: i64): void {
  if (sendDeregister(ci, now, 1)) return;
  const c = conn(ci);
  if (c.pending != Req.None) connEp(ci).cancel(0);
  c.pending = Req.None;
  disabled(ci, now);
}

function disabled(ci: i32, now: i64): void {
  const c = conn(ci);
  const t = serverValue(<u32>c.ssid, Srv.DisableTimeout, 86400);
  c.state = St.Disabled;
  c.timer = now + t * 1000;
  emit(ClientEvent.Disabled, c.ssid, <i32>t, 0, 0);
}

function deregistered(ci: i32, now: i64): void {
  const c = conn(ci);
  c.pending = Req.None;
  c.locLen = 0;
  connObsClear(ci);
  // the channel ends with the registration: close_notify over DTLS (RFC 5246 7.2.1), no timers left
  if (c.transport != Channel.Closed) { transportClose(ci); c.transport = Channel.Closed; }
  emit(ClientEvent.Deregistered, c.ssid, 0, 0, 0);
  if (c.afterDereg == 1) disabled(ci, now); // Disable Timeout: resource 5, default 86400 s
  else {
    c.state = St.Idle;
    c.timer = -1;
  }
}

/** The state timer of a server connection fired. */
export function regTimer(ci: i32, now: i64): void {
  const c = conn(ci);
  if (c.state == St.Wait || c.state == St.Disabled) { attempt(ci, now); return; }
  if (c.state == St.Registered) {
    // lifetime refresh (an Update without parameters keeps the registration alive)
    if (!sendUpdate(ci, now)) c.timer = now + 1000;
    return;
  }
  c.timer = -1;
}

/** The transport finished opening (DTLS handshake done). */
export function regTransportUp(ci: i32, now: i64): void {
  const c = conn(ci);
  if (c.state == St.Connecting && !registerOrUpdate(ci, now)) attemptFailed(ci, now, AttemptFail.NotSent);
}

/** The transport replaces the channel of ci before the account registered (an EST renewal on
 *  the account's endpoint): the Register in flight is abandoned and sent again once the new
 *  channel is up (regTransportUp). */
export function regRestartPending(ci: i32): void {
  const c = conn(ci);
  connEp(ci).cancel(0);
  if (c.state == St.Registering) { c.state = St.Connecting; c.pending = Req.None; }
}

/** The transport failed (handshake refused, alert): the attempt failed; the next one reopens it. */
export function regTransportFailed(ci: i32, now: i64): void {
  const c = conn(ci);
  if (c.state == St.Connecting || c.state == St.Registering) attemptFailed(ci, now, AttemptFail.Transport);
  else if (isRegistered(c)) { c.state = St.Wait; c.timer = now; c.attempt = 0; c.sequence = 0; }
}

/** The server changed its Server Object (Lifetime, Binding): Update with the new values (§6.2.2). */
export function serverChanged(ci: i32, now: i64): void {
  const c = conn(ci);
  if (lifetimeOf(c) != c.lifetime) c.update |= U_LIFETIME;
  const bl = bindingOf(c);
  if (bl != c.bindingLen || load<u64>(BINDING_TMP) != c.binding) c.update |= U_BINDING;
  if (c.update && c.state == St.Registered) sendUpdate(ci, now);
}
