// Bootstrap Interface, client side (OMA-TS-LightweightM2M_Core-V1_1 §6.1;
// BS-1, BS-2). Client-initiated: after the Client Hold Off Time (Security
// resource 11 of the Bootstrap-Server account) `POST /bs?ep=NAME&pct=112`;
// a 2.04 opens the bootstrap session. Server-initiated: Bootstrap-Write /
// -Delete / -Read / -Discover arriving on the Bootstrap-Server connection
// open it too (the connection is open during the hold-off for that). The
// operations themselves go to lwHandle(Caller.Bootstrap, ...) and land in the
// staging copy; Bootstrap-Finish (`POST /bs` from the server) validates and
// commits it (bootstrapFinish, BS-5): 2.04, or 4.06 with the previous
// configuration kept. A session quiet for MAX_TRANSMIT_WAIT after its last
// operation (before Finish) is dropped (sessionAbort) and retried later.
import { CoapType, CoapCode, CoapOption } from "../../coap/message";
import { clock_wall_seconds } from "../../host/abi";
import { ContentFormat } from "../formats/entry";
import { bootstrapFinish, sessionAbort, session, Session, lastConfigError } from "../bootstrap-config";
import { getInt, found, takeAction, postAction, Action } from "../model";
import { SECURITY_OID, Sec, securityFind } from "../objects/security";
import { conn, connEp, connAlloc, connFree, connOfRole, Role, St, Req, REPR, REPR_CAP } from "./conn";
import { connOpen, putPath, putEndpointQuery, logUri } from "./registration";
import { emit, ClientEvent, BsFail, lb, ls, lnum, lcode, linfo, lwarn, lerror } from "./events";

/** Preferred Content-Format announced in the Bootstrap-Request (§6.1.3 "pct"). */
export let preferredBootstrapFormat: u32 = ContentFormat.SENML_CBOR;
export function setPreferredBootstrapFormat(f: u32): void { preferredBootstrapFormat = f; }

/** The Bootstrap-Server connection stays this long after Finish (a lost 2.04 is answered again from the cache). */
export const BS_LINGER: i64 = 60000;
/** Retry back-off of a failed bootstrap: 15 s doubling, at most 1 h. */
const BS_RETRY_S: i64 = 15;

/** Client Hold Off Time of the Bootstrap-Server account (s). */
function holdOffOf(iid: i32): i64 {
  const t = getInt(SECURITY_OID, <u32>iid, Sec.ClientHoldOffTime);
  return found && t > 0 ? t : 0;
}

let finished = false;
/** A Bootstrap-Finish was accepted since the last call: the client starts over with the new servers. */
export function takeBootstrapFinished(): bool { const f = finished; finished = false; return f; }

/**
 * Client-initiated bootstrap is needed (no server, every registration failed,
 * or the Bootstrap-Request Trigger): opens the Bootstrap-Server connection and
 * waits the Client Hold Off Time (BS-2) when `holdOff`, then sends the request.
 */
export function bsStart(now: i64, holdOff: bool): void {
  const iid = securityFind(0);
  if (iid < 0) {
    lb("bootstrap: needed, but there is no Bootstrap-Server account");
    lerror();
    emit(ClientEvent.BootstrapFailed, 0, BsFail.NoAccount, 0, 0);
    return;
  }
  let ci = connOfRole(Role.Bootstrap);
  if (ci >= 0) {
    const c = conn(ci);
    if (c.state == St.Wait || c.state == St.BsRequesting || c.state == St.Bootstrapping) return; // under way
    if (c.secIid != iid) { connFree(ci); ci = -1; }
  }
  if (ci < 0) ci = connAlloc(Role.Bootstrap, iid, 0);
  if (ci < 0) {
    return;
  }
  const c = conn(ci);
  const r = connOpen(ci, now);
  if (r < 0) {
    c.state = St.Failed;
    c.timer = -1;
    lb("bootstrap: cannot open a channel to ");
    logUri(ci);
    lerror();
    emit(ClientEvent.BootstrapFailed, 0, BsFail.Transport, 0, 0);
    return;
  }
  const hold = holdOff ? holdOffOf(iid) : 0;
  c.state = St.Wait;
  c.timer = now + hold * 1000;
  if (hold > 0) {
    lb("bootstrap: Client Hold Off Time ");
    lnum(hold);
    ls(" s before the Bootstrap-Request");
    linfo();
  }
}

function sendRequest(ci: i32, now: i64): void {
  const c = conn(ci);
  const ep = connEp(ci);
  if (ep.slotBusy(0)) ep.cancel(0);
  const w = ep.beginRequest(CoapType.CON, CoapCode.POST);
  putPath(w, "bs");
  putEndpointQuery(w);
  if (preferredBootstrapFormat != 0xffffffff) {
    // "pct=112": one Uri-Query option
    const q = memory.data(16);
    let n = 4;
    store<u32>(q, 0x3d746370); // "pct="
    let v = preferredBootstrapFormat;
    let d = 1;
    for (let t = v; t >= 10; t /= 10) d++;
    for (let i = d - 1; i >= 0; i--) { store<u8>(q + <usize>(n + i), <u8>(0x30 + v % 10)); v /= 10; }
    n += d;
    w.option(CoapOption.URI_QUERY, q, n);
  }
  if (ep.send(now) < 0) { failed(ci, now, BsFail.Timeout); return; }
  c.pending = Req.BootstrapRequest;
  c.state = St.BsRequesting;
  c.timer = -1;
  lb("bootstrap: Bootstrap-Request to ");
  logUri(ci);
  linfo();
  emit(ClientEvent.BootstrapRequested, 0, 0, 0, 0);
}

/** A bootstrap attempt failed: the session (if any) is dropped, the old configuration stays; retry later. */
function failed(ci: i32, now: i64, why: i32): void {
  const c = conn(ci);
  if (session == Session.Bootstrap) sessionAbort();
  c.pending = Req.None;
  c.attempt++;
  let wait = BS_RETRY_S << <i64>min(c.attempt - 1, 8);
  if (wait > 3600) wait = 3600;
  c.state = St.Wait;
  c.timer = now + wait * 1000;
  lb("bootstrap: failed (");
  if (why > 0) lcode(why); else ls(why == BsFail.NoFinish ? "no Bootstrap-Finish in time" : "no answer");
  ls("), configuration unchanged; retry in ");
  lnum(wait);
  ls(" s");
  lwarn();
  emit(ClientEvent.BootstrapFailed, 0, why, 0, 0);
}

/** The state timer of the Bootstrap-Server connection fired. */
export function bsTimer(ci: i32, now: i64): void {
  const c = conn(ci);
  c.timer = -1;
  if (c.state == St.Wait) {
    if (c.transport == 2) return; // the handshake runs: bsTransportUp sends the request
    if (!c.transport && connOpen(ci, now) < 0) { failed(ci, now, BsFail.Transport); return; }
    if (c.transport == 1) sendRequest(ci, now);
  } else if (c.state == St.Bootstrapping) {
    failed(ci, now, BsFail.NoFinish);
  } else if (c.state == St.Lingering) {
    connFree(ci);
  }
}

export function bsTransportUp(ci: i32, now: i64): void {
  const c = conn(ci);
  if (c.state == St.Wait && c.timer < 0) sendRequest(ci, now);
}

export function bsTransportFailed(ci: i32, now: i64): void {
  const c = conn(ci);
  if (c.state == St.Wait || c.state == St.BsRequesting || c.state == St.Bootstrapping) failed(ci, now, BsFail.Transport);
}

/** Response (or -1 timeout / -3 reset) to the Bootstrap-Request. */
export function bsOnResponse(ci: i32, now: i64, code: i32): void {
  const c = conn(ci);
  if (c.pending != Req.BootstrapRequest) return;
  c.pending = Req.None;
  if (c.state != St.BsRequesting) return; // the server started the session before answering
  if (code == CoapCode.CHANGED) {
    bsActivity(ci, now);
    return;
  }
  failed(ci, now, code > 0 ? code : BsFail.Timeout);
}

/** A bootstrap operation arrived on the connection: the session is (still) alive. */
export function bsActivity(ci: i32, now: i64): void {
  const c = conn(ci);
  if (c.state != St.Bootstrapping && c.state != St.BsRequesting) {
    lb("bootstrap: server-initiated bootstrap from ");
    logUri(ci);
    linfo();
  }
  c.state = St.Bootstrapping;
  c.since = now;
  // A living Bootstrap-Server's next operation reaches us within MAX_TRANSMIT_WAIT
  // (RFC 7252 4.8.2, 93 s): its retransmissions of this one and of the next span
  // MAX_TRANSMIT_SPAN each. Past that, it has given up its exchange (it does so
  // MAX_TRANSMIT_WAIT after a first transmission) or cannot reach us: waiting for
  // EXCHANGE_LIFETIME (247 s) would only delay the new Bootstrap-Request.
  c.timer = now + <i64>connEp(ci).responseTimeout;
}

/** Drops the ConfigChanged action a commit posted (the commit already persisted the image). */
export function dropConfigChanged(): void {
  const keep = memory.data(32, 4);
  let n = 0;
  let a: i32;
  while ((a = takeAction()) != 0) if ((a & 0xff) != Action.ConfigChanged && n < 8) store<i32>(keep + <usize>(n++ << 2), a);
  for (let i = 0; i < n; i++) {
    const v = load<i32>(keep + <usize>(i << 2));
    postAction(v & 0xff, v >> 8);
  }
}

/** Bootstrap-Finish (`POST /bs` on the Bootstrap-Server connection): the response code. */
export function bsFinish(ci: i32, now: i64): i32 {
  const c = conn(ci);
  const code = bootstrapFinish(now, clock_wall_seconds(), REPR, REPR_CAP);
  if (code == CoapCode.CHANGED) {
    dropConfigChanged();
    c.state = St.Lingering;
    c.timer = now + BS_LINGER;
    c.attempt = 0;
    finished = true;
    emit(ClientEvent.Bootstrapped, 0, 0, 0, 0);
  } else {
    lb("bootstrap: Bootstrap-Finish refused (");
    lcode(code);
    ls(", config error ");
    lnum(lastConfigError);
    ls("), previous configuration kept");
    lerror();
    emit(ClientEvent.BootstrapFinishRefused, 0, lastConfigError, 0, 0);
  }
  return code;
}
