// EST enrolment runner: one DTLS 1.2 connection (X.509 client authentication
// with a factory "IDevID" certificate or the current enrolled certificate,
// server checked against an explicit EST trust anchor), one CoAP endpoint on
// it, and the EST client (assembly/est) on that endpoint. Sans-I/O like the
// rest of the firmware: the host delivers datagrams and timer expiries, each
// call returns the next deadline (monotonic ms, -1 none).
//
//   enrol_reset(); enrol_set_target(...); enrol_set_name(...)
//   enrol_import_identity(key) or enrol_use_identity(slot); enrol_add_own_certificate(der)
//   enrol_set_trust(caDer); enrol_connect(now)
//   once enrol_state() == Ready: enrol_op(EstOp, slot, wall, now), until Ready again (or Failed)
//   enrol_result(), enrol_code(), enrol_cert_ptr()/len() ...
//
// This runner is the EST path as the tests drive it directly (one EST server,
// any operation, interop knobs); the firmware's Security Mode 4 runs the same
// EST client from firmware/transport.ts on the account's connection slot.
import { HostStatus, net_open, net_close, net_send, se_import_p256, se_public_key, log_write, LogLevel, clock_wall_seconds } from "../host/abi";
import { logNum } from "../util/log";
import { DtlsConfig } from "../dtls/config";
import { DtlsConnection, ConnState } from "../dtls/connection";
import { DtlsEvent } from "../dtls/alert";
import { CertificateType } from "../dtls/extensions";
import { TrustConfig, TRUST_CONFIG_SIZE, CertUsage } from "../x509/trust";
import { VerifyFlag } from "../x509/verify";
import { CoapEndpoint, CoapEvent, coapEndpointInit, coapEndpointSize } from "../coap/endpoint";
import {
  EST_WORK_SIZE, EST_PENDING, estInit, estStart, estOnResponse, estOnTransportError, estTimer, estDeadline,
  estCert, estCertLen, estLastCode, estLastDetail, estCsr, estCsrLen, estPublicKey, estRetries, estCaCount,
  estSzx1, estSzx2, estAccept, estCsrFlags, estRequestFormat, estCaList, estSetWall, estDiscovered,
} from "../est/client";
import { EstError } from "../est/codec";

export namespace EnrolState {
  export const Idle: i32 = 0;
  export const Handshake: i32 = 1;
  export const Ready: i32 = 2;
  export const Busy: i32 = 3;
  export const Failed: i32 = 4;
}

const MSG_CAP: i32 = 1152; // a 1024-byte block with its options
const A_HOST: i32 = 0; // 64
const A_PATH: i32 = 64; // 64
const A_NAME: i32 = 128; // 64
const A_PUB: i32 = 192; // 72
const A_TRUST: i32 = 264; // 64
const A_INPUT: i32 = 328; // 2048: staging for the host
const A_CERTS: i32 = A_INPUT + 2048; // 2048: own certificate_list
const A_ANCHOR: i32 = A_CERTS + 2048; // 1536: EST trust anchor
const A_RX: i32 = A_ANCHOR + 1536; // 1536
const A_EST: i32 = A_RX + 1536;
const A_EP: i32 = A_EST + EST_WORK_SIZE;

let arena: usize = 0;
let cfg: DtlsConfig | null = null;
let conn: DtlsConnection | null = null;
let peer: i32 = -1;
let hostLen: i32 = 0;
let port: i32 = 0;
let pathLen: i32 = 0;
let nameLen: i32 = 0;
let state: i32 = EnrolState.Idle;
let result: i32 = 0;
let anchorLen: i32 = 0;
/** The operation was started with a known wall clock: answers are checked at the host's current time. */
let opWallKnown = false;

function ep(): CoapEndpoint { return changetype<CoapEndpoint>(arena + <usize>A_EP); }

export function enrol_reset(): void {
  if (arena == 0) arena = changetype<usize>(new ArrayBuffer(A_EP + coapEndpointSize(MSG_CAP, 1, 4)));
  if (peer >= 0) net_close(peer);
  peer = -1;
  memory.fill(arena, 0, <usize>A_EST);
  const c = new DtlsConfig();
  c.identitySlot = 1; // SeSlot plan: 1..7 provisioned keys (the IDevID)
  c.ephemeralSlot = 14;
  c.handshakeBufferSize = 2048;
  c.flightBufferSize = 2048;
  cfg = c;
  conn = null;
  hostLen = port = pathLen = nameLen = anchorLen = 0;
  ackTimeout = 2000;
  maxRetransmit = 4;
  state = EnrolState.Idle;
  result = 0;
}

export function enrol_input(): usize { return arena + <usize>A_INPUT; }
export function enrol_input_capacity(): i32 { return 2048; }

export function enrol_set_target(h: usize, hLen: i32, p: i32, path: usize, pLen: i32): i32 {
  if (hLen <= 0 || hLen > 64 || pLen < 0 || pLen > 64 || p <= 0 || p > 65535) return -1;
  memory.copy(arena + <usize>A_HOST, h, <usize>hLen);
  memory.copy(arena + <usize>A_PATH, path, <usize>pLen);
  hostLen = hLen; port = p; pathLen = pLen;
  return 0;
}

/** The endpoint name: the CSR's subject CN. */
export function enrol_set_name(n: usize, len: i32): i32 {
  if (len <= 0 || len > 64) return -1;
  memory.copy(arena + <usize>A_NAME, n, <usize>len);
  nameLen = len;
  return 0;
}

/** Factory provisioning of the IDevID key (32-byte scalar) into `slot`; the input is wiped. */
export function enrol_import_identity(slot: i32, key: usize, len: i32): i32 {
  const r = se_import_p256(slot, key, len, arena + <usize>A_PUB);
  memory.fill(key, 0, <usize>len);
  if (r != HostStatus.Ok) return r;
  cfg!.identitySlot = slot;
  cfg!.ownPublicKey = arena + <usize>A_PUB;
  return 0;
}

/** Client authentication with the key already in `slot` (the enrolled credential, for /sren). */
export function enrol_use_identity(slot: i32): i32 {
  const r = se_public_key(slot, arena + <usize>A_PUB);
  if (r != HostStatus.Ok) return r;
  cfg!.identitySlot = slot;
  cfg!.ownPublicKey = arena + <usize>A_PUB;
  return 0;
}

export function enrol_add_own_certificate(der: usize, len: i32): i32 {
  const c = cfg!;
  const used = c.ownCertificatesLen;
  if (len <= 0 || used + 3 + len > 2048) return -1;
  const p = arena + <usize>(A_CERTS + used);
  store<u8>(p, <u8>(len >> 16)); store<u8>(p + 1, <u8>(len >> 8)); store<u8>(p + 2, <u8>len);
  memory.copy(p + 3, der, <usize>len);
  c.ownCertificates = arena + <usize>A_CERTS;
  c.ownCertificatesLen = used + 3 + len;
  c.certificateType = CertificateType.X509;
  return 0;
}

/** The EST server's trust anchor (DER CA certificate): Certificate Usage 2, the
 *  server's name checked against the target host. Required: never unauthenticated. */
export function enrol_set_trust(der: usize, len: i32): i32 {
  if (len <= 0 || len > 1536) return -1;
  memory.copy(arena + <usize>A_ANCHOR, der, <usize>len);
  anchorLen = len;
  return 0;
}

/** Block1 / Block2 SZX (0..6 = 16..1024 bytes; Block2 -1 = the server's choice), Accept for /sen. */
export function enrol_set_blocks(szx1: i32, szx2: i32): void { estSzx1 = szx1; estSzx2 = szx2; }
export function enrol_set_accept(cf: i32): void { estAccept = cf; }
/** Interop tests only: the Content-Format put on CSR uploads (default 286). */
export function enrol_set_request_format(cf: i32): void { estRequestFormat = cf; }
export function enrol_set_csr_flags(f: i32): void { estCsrFlags = f; }
export function enrol_csr_flags(): i32 { return estCsrFlags; }
export function enrol_set_dtls_timers(initialMs: i64, maxMs: i64, count: i32): void {
  const c = cfg!;
  c.retransmitInitialMs = initialMs; c.retransmitMaxMs = maxMs; c.maxRetransmissions = count;
}

/** RFC 7252 4.8 ACK_TIMEOUT (ms) and MAX_RETRANSMIT of the EST requests (default 2000, 4). */
let ackTimeout: i32 = 2000;
let maxRetransmit: i32 = 4;
export function enrol_set_coap_timers(ackMs: i32, retransmit: i32): void { ackTimeout = ackMs; maxRetransmit = retransmit; }

function fail(r: i32): void { state = EnrolState.Failed; result = r; }

function flush(): void {
  const c = conn;
  if (c == null) return;
  let n = c.pollTransmit();
  while (n > 0) {
    net_send(peer, c.transmitPtr(), n);
    n = c.pollTransmit();
  }
}

function deadline(): i64 {
  if (state == EnrolState.Failed || state == EnrolState.Idle || conn == null) return -1;
  let d = conn!.nextDeadline();
  const e = ep().nextDeadline();
  if (e >= 0 && (d < 0 || e < d)) d = e;
  const x = estDeadline();
  if (x >= 0 && (d < 0 || x < d)) d = x;
  return d;
}

export function enrol_connect(now: i64): i64 {
  if (hostLen == 0 || nameLen == 0) { fail(EstError.Malformed); return -1; }
  if (anchorLen == 0) { fail(EstError.ChainUntrusted); return -1; } // never unauthenticated
  const c = cfg!;
  const t = changetype<TrustConfig>(arena + <usize>A_TRUST);
  if (TRUST_CONFIG_SIZE > 64) unreachable();
  t.usage = CertUsage.TRUST_ANCHOR_ASSERTION;
  t.matching = 0;
  t.serverKey = arena + <usize>A_ANCHOR;
  t.serverKeyLen = anchorLen;
  t.host = arena + <usize>A_HOST;
  t.hostLen = hostLen;
  t.ownPub = c.ownPublicKey;
  t.flags = VerifyFlag.ALLOW_TIME_LOWER_BOUND | VerifyFlag.SERVER_AUTH;
  c.trust = arena + <usize>A_TRUST;
  if (coapEndpointInit(arena + <usize>A_EP, MSG_CAP, 1, 4) != 0) { fail(EstError.Transport); return -1; }
  ep().setTransmission(ackTimeout, 1500, maxRetransmit);
  if (estInit(arena + <usize>A_EST, arena + <usize>A_PATH, pathLen, ep(), arena + <usize>A_NAME, nameLen) != 0) { fail(EstError.Csr); return -1; }
  peer = net_open(arena + <usize>A_HOST, hostLen, port);
  if (peer < 0) { fail(EstError.Transport); return -1; }
  conn = new DtlsConnection(c);
  state = EnrolState.Handshake;
  if (conn!.connect(now) != 0) { fail(EstError.Transport); return -1; }
  flush();
  return deadline();
}

const codeLine = memory.data(40);

/** The event log line of a failed operation: "EST failed: CoAP 4.06" (the server's
 *  code, when there was one) and "EST error -207" (EstError), no payload bytes. */
function logFailure(r: i32): void {
  const code = estLastCode;
  if (code >= 0) {
    const t = "EST failed: CoAP ";
    for (let i = 0; i < t.length; i++) store<u8>(codeLine + <usize>i, <u8>t.charCodeAt(i));
    const n = <usize>t.length;
    store<u8>(codeLine + n, <u8>(0x30 + (code >> 5)));
    store<u8>(codeLine + n + 1, 0x2e);
    store<u8>(codeLine + n + 2, <u8>(0x30 + (code & 31) / 10));
    store<u8>(codeLine + n + 3, <u8>(0x30 + (code & 31) % 10));
    log_write(LogLevel.Error, codeLine, <i32>n + 4);
  }
  logNum(LogLevel.Error, "EST error ", r);
  if (estLastDetail != 0) logNum(LogLevel.Error, "EST detail ", estLastDetail);
}

function finishOp(r: i32): void {
  if (r == EST_PENDING) return;
  result = r;
  state = r < 0 ? EnrolState.Failed : EnrolState.Ready;
  if (r < 0) logFailure(r);
}

/** CoAP datagrams queued by the endpoint go out through DTLS; endpoint events go to EST. */
function pump(now: i64): void {
  const e = ep();
  let n = e.pollTransmit();
  while (n > 0) {
    if (conn!.sendApplicationData(e.txPtr, n, now) != 0) { fail(EstError.Transport); return; }
    n = e.pollTransmit();
  }
  flush();
  for (;;) {
    const ev = e.pollEvent();
    if (ev == CoapEvent.None) break;
    if (e.eventSlot != 0) continue;
    if (opWallKnown) estSetWall(clock_wall_seconds());
    if (ev == CoapEvent.Response) finishOp(estOnResponse(now));
    else if (ev == CoapEvent.Timeout || ev == CoapEvent.Reset) finishOp(estOnTransportError(ev));
  }
  n = e.pollTransmit();
  while (n > 0) {
    if (conn!.sendApplicationData(e.txPtr, n, now) != 0) { fail(EstError.Transport); return; }
    n = e.pollTransmit();
  }
  flush();
}

function drain(now: i64): void {
  const c = conn!;
  for (;;) {
    const ev = c.pollEvent();
    if (ev == DtlsEvent.None) break;
    if (ev == DtlsEvent.HandshakeComplete) {
      if (state == EnrolState.Handshake) state = EnrolState.Ready;
    } else if (ev == DtlsEvent.ApplicationData) {
      ep().handleDatagram(c.appDataPtr(), c.appDataLen(), now);
      pump(now);
      memory.fill(c.appDataPtr(), 0, <usize>c.appDataLen()); // /skg: no key bytes left in the record buffer
    }
  }
  if (c.state == ConnState.Closed && state != EnrolState.Failed) {
    fail(EstError.Transport);
    logNum(LogLevel.Error, "EST DTLS closed, reason ", c.reason);
    if (c.detail != 0) logNum(LogLevel.Error, "EST DTLS x509 ", c.detail);
  }
}

/** Starts an EST operation (EstOp) on the connected session. The next deadline. */
export function enrol_op(operation: i32, slot: i32, wall: i64, now: i64): i64 {
  if (state != EnrolState.Ready) { result = EstError.Busy; return deadline(); }
  state = EnrolState.Busy;
  opWallKnown = wall >= 0;
  finishOp(estStart(operation, slot, wall, now));
  if (state != EnrolState.Failed) pump(now);
  return deadline();
}

export function enrol_rx_buffer(): usize { return arena + <usize>A_RX; }
export function enrol_rx_capacity(): i32 { return 1536; }

export function enrol_datagram(len: i32, now: i64): i64 {
  if (conn == null || len <= 0 || len > 1536 || state == EnrolState.Failed) return deadline();
  conn!.handleDatagram(arena + <usize>A_RX, len, now);
  drain(now);
  flush();
  return deadline();
}

export function enrol_timer(now: i64): i64 {
  if (conn == null || state == EnrolState.Failed) return -1;
  const c = conn!;
  const t = c.nextDeadline();
  if (t >= 0 && now >= t) { c.handleTimeout(now); drain(now); flush(); }
  if (state == EnrolState.Failed) return -1;
  const e = ep();
  const d = e.nextDeadline();
  if (d >= 0 && now >= d) { e.handleTimeout(now); pump(now); }
  const x = estDeadline();
  if (x >= 0 && now >= x && state == EnrolState.Busy) { finishOp(estTimer(now)); pump(now); }
  return deadline();
}

export function enrol_finish(now: i64): void {
  if (conn != null && conn!.state != ConnState.Closed && conn!.state != ConnState.Idle) { conn!.close(now); flush(); }
  if (peer >= 0) net_close(peer);
  peer = -1;
}

export function enrol_state(): i32 { return state; }
/** 0, or the EstError of the last operation. */
export function enrol_result(): i32 { return result; }
/** The last CoAP response code (-1 none) and the detail (X509Error / CoapError / HostStatus). */
export function enrol_code(): i32 { return estLastCode; }
export function enrol_detail(): i32 { return estLastDetail; }
export function enrol_retries(): i32 { return estRetries; }
export function enrol_ca_count(): i32 { return estCaCount(); }
/** EST resources the last EstOp.Discover found listed. */
export function enrol_discovered(): i32 { return estDiscovered; }
export function enrol_cert_ptr(): usize { return estCert; }
export function enrol_cert_len(): i32 { return estCertLen; }
export function enrol_csr_ptr(): usize { return estCsr(); }
export function enrol_csr_len(): i32 { return estCsrLen(); }
export function enrol_public_key(): usize { return estPublicKey(); }
export function enrol_dtls_reason(): i32 { return conn != null ? conn!.reason : 0; }
export function enrol_dtls_detail(): i32 { return conn != null ? conn!.detail : 0; }
export function enrol_alert(): i32 { return conn != null ? conn!.alertReceived : -1; }
/** 0 bytesSent, 1 bytesReceived, 2 datagramsSent, 3 datagramsReceived. */
export function enrol_stat(i: i32): i64 {
  if (conn == null) return 0;
  const c = conn!;
  return i == 0 ? c.bytesSent : i == 1 ? c.bytesReceived : i == 2 ? <i64>c.datagramsSent : <i64>c.datagramsReceived;
}
/** The i-th trust anchor /crts returned (DER), for tests and logs. */
export function enrol_ca_ptr(i: i32): usize { return i >= 0 && i < estCaCount() ? <usize>load<u32>(estCaList() + (<usize>i << 3)) : 0; }
export function enrol_ca_len(i: i32): i32 { return i >= 0 && i < estCaCount() ? load<i32>(estCaList() + (<usize>i << 3), 4) : 0; }
