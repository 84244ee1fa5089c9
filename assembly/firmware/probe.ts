// `lwm2m-wasm probe`: one DTLS 1.2 handshake (or a NoSec channel) and ONE
// CoAP GET, driven by the host like the rest of the firmware (sans-I/O: the
// host delivers datagrams and timer expiries; every call returns the next
// deadline in monotonic ms, -1 = none). Used by host-shim/node/probe.ts to
// check a server's DTLS set-up before provisioning a device for it.
//
//   probe_reset(); probe_set_psk(...) / probe_import_key(...) + probe_set_server_rpk(...) / ...
//   probe_set_target(host, port, path); probe_start(now)
//   loop: write a datagram at probe_rx_buffer(), probe_datagram(len, now); probe_timer(now) at the deadline
//   until probe_state() is Done or Failed: probe_failure(), probe_dtls_reason(), probe_response_code(), ...
//
// Memory: nothing static beyond a few words; one arena and one DtlsConnection
// are allocated on first use (the stub runtime never frees: a probe runs once
// per instance, a second probe_start() reuses the arena but allocates a new
// connection).
import { HostStatus, net_open, net_close, net_send, rng_fill, se_import_p256, se_generate_p256, se_destroy } from "../host/abi";
import { DtlsConfig, MaxFragmentLength } from "../dtls/config";
import { DtlsConnection, ConnState } from "../dtls/connection";
import { DtlsSession } from "../dtls/session";
import { DtlsEvent } from "../dtls/alert";
import { CertificateType } from "../dtls/extensions";
import { SuiteBit } from "../dtls/suites";
import { TrustConfig, TRUST_CONFIG_SIZE } from "../x509/trust";
import { VerifyFlag } from "../x509/verify";
import { CoapWriter, CoapMessage, CoapType, CoapCode, CoapOption, coapParse, coapBytesEqual } from "../coap/message";

namespace ProbeState {
  export const Idle: i32 = 0;
  export const Handshake: i32 = 1;
  /** GET sent, waiting for the response (piggybacked or separate, RFC 7252 5.2). */
  export const Request: i32 = 2;
  export const Done: i32 = 3;
  export const Failed: i32 = 4;
}

/** Why a probe failed (probe_failure()). */
namespace ProbeError {
  export const None: i32 = 0;
  /** Configuration incomplete or too large for the arena (target, path, credentials). */
  export const Config: i32 = -1;
  /** net_open refused the target. */
  export const NetOpen: i32 = -2;
  /** net_send failed. */
  export const NetSend: i32 = -3;
  /** The DTLS connection refused the config, failed or closed: probe_dtls_reason() (DtlsError),
   *  probe_dtls_detail() (X509Error), probe_alert() (alert received). */
  export const Dtls: i32 = -4;
  /** RFC 7252 4.2: no ACK / response after MAX_RETRANSMIT retransmissions. */
  export const CoapTimeout: i32 = -5;
  /** RFC 7252 4.2: the server answered the GET with a Reset. */
  export const CoapReset: i32 = -6;
  /** The request could not be encoded (path segment > 255 bytes, too many). */
  export const CoapEncode: i32 = -7;
  /** The DRBG is unhealthy: no token / message ID (EST-2). */
  export const Rng: i32 = -8;
  /** The own private key could not be imported / generated in the SE. */
  export const SeKey: i32 = -9;
}

// RFC 7252 4.8 transmission parameters (ACK_TIMEOUT, ACK_RANDOM_FACTOR 1.5, MAX_RETRANSMIT).
let ackTimeoutMs: i64 = 2000;
let maxRetransmit: i32 = 4;

// ---- arena (allocated once) ------------------------------------------------------
const A_IDENTITY: i32 = 0; // 256: PSK identity
const A_PSK: i32 = 256; // 64
const A_SNI: i32 = 320; // 256
const A_HOST: i32 = 576; // 256: target host (also the name checked when no SNI)
const A_PATH: i32 = 832; // 256
const A_OWN_PUB: i32 = 1088; // 72
const A_SERVER_KEY: i32 = 1160; // 184: RPK (SPKI) or point
const A_TRUST: i32 = 1344; // 64: TrustConfig
const A_STORE_LIST: i32 = 1408; // 32: 4 (ptr, len) pairs
const A_TOKEN: i32 = 1440; // 8
const A_WRITER: i32 = 1448; // 32
const A_MSG: i32 = 1480; // 56
const A_RX: i32 = 1536; // 1536: receive buffer
const A_REQ: i32 = 3072; // 512: the CoAP request (kept for retransmission)
const A_RESP: i32 = 3584; // 1024: the response payload
const A_OWN_CERTS: i32 = 4608; // 2048: certificate_list (3-byte length + DER each)
const A_TRUST_KEY: i32 = 6656; // 1536: Security resource 4 (certificate / hash)
const A_STORE: i32 = 8192; // 3072: PKIX anchors
const ARENA_SIZE: i32 = 11264;

const RX_CAP: i32 = 1536;
const REQ_CAP: i32 = 512;
const RESP_CAP: i32 = 1024;
const STORE_CAP: i32 = 3072;
const MAX_ANCHORS: i32 = 4;
/** SE slots of the probe: a provisioned-key slot (SeSlot plan: 1..7) and the last ephemeral one. */
const KEY_SLOT: i32 = 7;
const EPHEMERAL_SLOT: i32 = 14;

let arenaBuf: ArrayBuffer | null = null;
let A: usize = 0;
let cfg: DtlsConfig | null = null;
let conn: DtlsConnection | null = null;

// ---- target / request -------------------------------------------------------------
let hostLen: i32 = 0;
let port: i32 = 0;
let pathLen: i32 = 0;
let noSec: bool = false;
let storeUsed: i32 = 0;
let storeCount: i32 = 0;
let trustSet: bool = false;

// ---- run state --------------------------------------------------------------------
let state: i32 = ProbeState.Idle;
let failure: i32 = ProbeError.None;
let peer: i32 = -1;
let mid: i32 = 0;
let reqLen: i32 = 0;
let reqSends: i32 = 0;
let reqTimeout: i64 = 0;
let reqDeadline: i64 = -1;
let acked: bool = false;
/** Last DTLS ConnState seen before the connection closed (where a handshake failed). */
let hsStage: i32 = 0;
let respCode: i32 = -1;
let respType: i32 = -1;
let respFormat: i32 = -1;
let respLen: i32 = 0;
let respTruncated: bool = false;
let respBlock2: i32 = -1;
// NoSec counters (DTLS keeps its own)
let nsBytesSent: i64 = 0;
let nsBytesReceived: i64 = 0;
let nsDatagramsSent: i32 = 0;
let nsDatagramsReceived: i32 = 0;

function config(): DtlsConfig { return cfg!; }

/** Fresh configuration (RFC 7925 defaults), target cleared. Allocates the arena once. */
export function probe_reset(): void {
  if (arenaBuf == null) {
    const b = new ArrayBuffer(ARENA_SIZE);
    arenaBuf = b;
    A = changetype<usize>(b);
  }
  if (peer >= 0) net_close(peer);
  peer = -1;
  memory.fill(A, 0, <usize>ARENA_SIZE); // wipes the PSK copy too
  cfg = new DtlsConfig();
  const c = config();
  c.identitySlot = KEY_SLOT;
  c.ephemeralSlot = EPHEMERAL_SLOT;
  c.handshakeBufferSize = 2048; // certificate chains
  c.flightBufferSize = 2048; // our own chain
  hostLen = 0;
  port = 0;
  pathLen = 0;
  noSec = false;
  storeUsed = 0;
  storeCount = 0;
  trustSet = false;
  ackTimeoutMs = 2000;
  maxRetransmit = 4;
  state = ProbeState.Idle;
  failure = ProbeError.None;
  respCode = -1;
  respLen = 0;
}

/** Where the host stages inputs for the setters (the response area; 1024 bytes). */
export function probe_input(): usize { return A + <usize>A_RESP; }
export function probe_input_capacity(): i32 { return RESP_CAP; }

function copyIn(off: i32, cap: i32, p: usize, len: i32): bool {
  if (len < 0 || len > cap) return false;
  memory.copy(A + <usize>off, p, <usize>len);
  return true;
}

/** coaps://host:port/path (or coap:// with noSec). The path without the leading '/'. 0 or ProbeError.Config. */
export function probe_set_target(host: usize, hLen: i32, p: i32, path: usize, pLen: i32, nosec: bool): i32 {
  if (hLen <= 0 || p <= 0 || p > 65535 || !copyIn(A_HOST, 255, host, hLen) || !copyIn(A_PATH, 255, path, pLen)) return ProbeError.Config;
  hostLen = hLen;
  port = p;
  pathLen = pLen;
  noSec = nosec;
  return 0;
}

/** PSK identity (up to 255 bytes here) and key (up to 64); DTLS-3 flag. The input key is wiped. */
export function probe_set_psk(id: usize, idLen: i32, key: usize, keyLen: i32, lowEntropy: bool): i32 {
  if (keyLen <= 0 || !copyIn(A_IDENTITY, 255, id, idLen) || !copyIn(A_PSK, 64, key, keyLen)) return ProbeError.Config;
  memory.fill(key, 0, <usize>keyLen);
  const c = config();
  c.pskIdentity = A + <usize>A_IDENTITY;
  c.pskIdentityLen = idLen;
  c.psk = A + <usize>A_PSK;
  c.pskLen = keyLen;
  c.pskLowEntropy = lowEntropy;
  return 0;
}

/** Our own P-256 private key (32-byte scalar) into the probe's SE slot; the input is wiped. */
export function probe_import_key(key: usize, len: i32): i32 {
  const r = se_import_p256(KEY_SLOT, key, len, A + <usize>A_OWN_PUB);
  memory.fill(key, 0, <usize>len);
  if (r != HostStatus.Ok) return ProbeError.SeKey;
  config().ownPublicKey = A + <usize>A_OWN_PUB;
  return 0;
}

/** A fresh key pair in the probe's SE slot (RPK mode without a provisioned key). */
export function probe_generate_key(): i32 {
  if (se_generate_p256(KEY_SLOT, A + <usize>A_OWN_PUB) != HostStatus.Ok) return ProbeError.SeKey;
  config().ownPublicKey = A + <usize>A_OWN_PUB;
  return 0;
}

/** Our public key (65 bytes) after probe_import_key / probe_generate_key. */
export function probe_own_public_key(): usize { return A + <usize>A_OWN_PUB; }

/** Appends one DER certificate of our chain (leaf first): X.509 mode. */
export function probe_add_own_certificate(der: usize, len: i32): i32 {
  const c = config();
  const used = c.ownCertificatesLen;
  if (len <= 0 || used + 3 + len > 2048) return ProbeError.Config;
  const p = A + <usize>(A_OWN_CERTS + used);
  store<u8>(p, <u8>(len >> 16));
  store<u8>(p + 1, <u8>(len >> 8));
  store<u8>(p + 2, <u8>len);
  memory.copy(p + 3, der, <usize>len);
  c.ownCertificates = A + <usize>A_OWN_CERTS;
  c.ownCertificatesLen = used + 3 + len;
  c.certificateType = CertificateType.X509;
  return 0;
}

/** RPK mode (DTLS-4): the server's key, SubjectPublicKeyInfo DER or a 65-byte point. */
export function probe_set_server_rpk(key: usize, len: i32): i32 {
  if (len <= 0 || !copyIn(A_SERVER_KEY, 184, key, len)) return ProbeError.Config;
  const c = config();
  c.serverPublicKey = A + <usize>A_SERVER_KEY;
  c.serverPublicKeyLen = len;
  c.certificateType = CertificateType.RawPublicKey;
  return 0;
}

/** X.509 trust: Security resource 4 (a DER certificate, or its SHA-256 with matching 1),
 *  Certificate Usage (0..3), Matching Type. Name checks use the SNI, else the target host. */
export function probe_set_trust(key: usize, len: i32, usage: i32, matching: i32): i32 {
  if (len <= 0 || usage < 0 || usage > 3 || matching < 0 || matching > 1 || !copyIn(A_TRUST_KEY, 1536, key, len)) return ProbeError.Config;
  const t = changetype<TrustConfig>(A + <usize>A_TRUST);
  t.usage = usage;
  t.matching = matching;
  t.serverKey = A + <usize>A_TRUST_KEY;
  t.serverKeyLen = len;
  // Direct trust ignores validity (DTLS-6); indirect trust uses the wall clock, or the build-time bound.
  t.flags = VerifyFlag.ALLOW_TIME_LOWER_BOUND | VerifyFlag.SERVER_AUTH;
  trustSet = true;
  return 0;
}

/** One PKIX trust anchor (DER) for usages 0 and 1 (up to 4). */
export function probe_add_anchor(der: usize, len: i32): i32 {
  if (len <= 0 || storeCount >= MAX_ANCHORS || storeUsed + len > STORE_CAP) return ProbeError.Config;
  const p = A + <usize>(A_STORE + storeUsed);
  memory.copy(p, der, <usize>len);
  const e = A + <usize>(A_STORE_LIST + (storeCount << 3));
  store<u32>(e, <u32>p);
  store<i32>(e, len, 4);
  storeUsed += len;
  storeCount++;
  return 0;
}

/** SuiteBit mask (assembly/dtls/suites.ts). */
export function probe_set_suites(mask: u32): void { config().suites = mask & SuiteBit.All; }
/** RFC 6066 4 code 1..4 (512..4096), 0 = none. */
export function probe_set_mfl(code: i32): i32 {
  if (code < MaxFragmentLength.None || code > MaxFragmentLength.L4096) return ProbeError.Config;
  config().maxFragmentLength = code;
  return 0;
}
export function probe_set_sni(name: usize, len: i32): i32 {
  if (!copyIn(A_SNI, 255, name, len)) return ProbeError.Config;
  const c = config();
  c.serverName = len > 0 ? A + <usize>A_SNI : 0;
  c.serverNameLen = len;
  return 0;
}
export function probe_set_key_log(on: bool): void { config().keyLog = on; }
/** RFC 6347 4.2.4 timer (defaults: RFC 7925 11, 9 s doubling to 60 s). */
export function probe_set_dtls_timers(initialMs: i64, maxMs: i64, count: i32): void {
  const c = config();
  c.retransmitInitialMs = initialMs;
  c.retransmitMaxMs = maxMs;
  c.maxRetransmissions = count;
}
/** RFC 7252 4.8 ACK_TIMEOUT and MAX_RETRANSMIT (defaults 2 s, 4). */
export function probe_set_coap_timers(ackMs: i64, retransmit: i32): void {
  ackTimeoutMs = ackMs;
  maxRetransmit = retransmit;
}

// ---- run ----------------------------------------------------------------------------

function fail(e: i32): void {
  state = ProbeState.Failed;
  failure = e;
  reqDeadline = -1;
}

function deadline(): i64 {
  if (state != ProbeState.Handshake && state != ProbeState.Request) return -1;
  let d = reqDeadline;
  if (!noSec && conn != null) {
    const t = conn!.nextDeadline();
    if (t >= 0 && (d < 0 || t < d)) d = t;
  }
  return d;
}

/** Sends what the DTLS connection has queued. */
function flush(): bool {
  if (noSec || conn == null) return true;
  const c = conn!;
  let n = c.pollTransmit();
  while (n > 0) {
    if (net_send(peer, c.transmitPtr(), n) != HostStatus.Ok) {
      fail(ProbeError.NetSend);
      return false;
    }
    n = c.pollTransmit();
  }
  return true;
}

/** Builds the CON GET (RFC 7252 5.8.1): random MID and 4-byte token, one Uri-Path per segment. */
function buildRequest(): i32 {
  if (rng_fill(A + <usize>A_TOKEN, 6) != HostStatus.Ok) return ProbeError.Rng;
  mid = (<i32>load<u8>(A + <usize>A_TOKEN, 4) << 8) | <i32>load<u8>(A + <usize>A_TOKEN, 5);
  const w = changetype<CoapWriter>(A + <usize>A_WRITER);
  w.begin(A + <usize>A_REQ, REQ_CAP, CoapType.CON, CoapCode.GET, mid, A + <usize>A_TOKEN, 4);
  const path = A + <usize>A_PATH;
  let s: i32 = 0;
  for (let i: i32 = 0; i <= pathLen; i++) {
    if (i == pathLen || load<u8>(path + <usize>i) == 0x2f) { // '/'
      if (i > s) w.option(CoapOption.URI_PATH, path + <usize>s, i - s);
      s = i + 1;
    }
  }
  const n = w.finish();
  return n < 0 ? ProbeError.CoapEncode : n;
}

function sendRequest(now: i64): void {
  let r: i32;
  if (noSec) {
    r = net_send(peer, A + <usize>A_REQ, reqLen);
    if (r == HostStatus.Ok) {
      nsBytesSent += reqLen;
      nsDatagramsSent++;
    }
  } else {
    r = conn!.sendApplicationData(A + <usize>A_REQ, reqLen, now);
    if (r != 0) {
      fail(ProbeError.Dtls);
      return;
    }
    if (!flush()) return;
    r = HostStatus.Ok;
  }
  if (r != HostStatus.Ok) {
    fail(ProbeError.NetSend);
    return;
  }
  reqSends++;
  reqDeadline = now + reqTimeout;
}

function startRequest(now: i64): void {
  const n = buildRequest();
  if (n < 0) {
    fail(n);
    return;
  }
  reqLen = n;
  reqSends = 0;
  acked = false;
  // RFC 7252 4.2: initial timeout random in [ACK_TIMEOUT, ACK_TIMEOUT * 1.5).
  const r = <i64>load<u8>(A + <usize>A_TOKEN, 3);
  reqTimeout = ackTimeoutMs + (ackTimeoutMs * r) / 512;
  state = ProbeState.Request;
  sendRequest(now);
}

// ---- resumption (`probe --resume`, DTLS-10): two connections, the second resumes the first's session
const TICKET_CAP: i32 = 512;
let resumeSession: DtlsSession | null = null;

/** Offer RFC 5077 tickets and keep the session of a connection for the next probe_start (after probe_reset). */
export function probe_set_resume(on: bool): void {
  const c = config();
  c.sessionTickets = on;
  c.ticketCapacity = on ? TICKET_CAP : 0;
  if (on && resumeSession == null) resumeSession = new DtlsSession(TICKET_CAP);
  if (!on && resumeSession != null) resumeSession!.clear();
}

/** A resumable session is held (session ID or ticket, EMS). */
export function probe_session_valid(): bool { return resumeSession != null && resumeSession!.valid; }

/** Ends the current connection (close_notify) but keeps the credentials and the session: probe_start again resumes. */
export function probe_end_connection(now: i64): void {
  if (conn != null && conn!.state != ConnState.Closed && conn!.state != ConnState.Idle) {
    conn!.close(now);
    flush();
  }
  if (peer >= 0) net_close(peer);
  peer = -1;
}

/** Starts the probe: opens the target, starts the handshake (or sends the GET for NoSec). The next deadline. */
export function probe_start(now: i64): i64 {
  if (cfg == null) probe_reset();
  if (hostLen <= 0) {
    fail(ProbeError.Config);
    return -1;
  }
  const c = config();
  if (trustSet) {
    const t = changetype<TrustConfig>(A + <usize>A_TRUST);
    t.store = A + <usize>A_STORE_LIST;
    t.storeCount = storeCount;
    t.ownPub = c.ownPublicKey;
    t.host = c.serverNameLen > 0 ? c.serverName : A + <usize>A_HOST;
    t.hostLen = c.serverNameLen > 0 ? c.serverNameLen : hostLen;
    c.trust = A + <usize>A_TRUST;
  }
  state = ProbeState.Handshake;
  failure = ProbeError.None;
  respCode = -1;
  respType = -1;
  respFormat = -1;
  respLen = 0;
  respTruncated = false;
  respBlock2 = -1;
  nsBytesSent = nsBytesReceived = 0;
  nsDatagramsSent = nsDatagramsReceived = 0;
  reqDeadline = -1;
  if (peer >= 0) net_close(peer);
  peer = net_open(A + <usize>A_HOST, hostLen, port);
  if (peer < 0) {
    fail(ProbeError.NetOpen);
    return -1;
  }
  if (noSec) {
    conn = null;
    startRequest(now);
    return deadline();
  }
  conn = new DtlsConnection(c);
  if (c.sessionTickets && resumeSession != null) conn!.session = resumeSession;
  const r = conn!.connect(now);
  hsStage = conn!.state;
  if (r != 0) {
    fail(ProbeError.Dtls);
    return -1;
  }
  flush();
  return deadline();
}

/** The CoAP response (or ACK / Reset) to our request. */
function onCoap(p: usize, len: i32, now: i64): void {
  if (state != ProbeState.Request) return;
  const m = changetype<CoapMessage>(A + <usize>A_MSG);
  if (coapParse(m, p, len) < 0) return; // RFC 7252 4.2: silently ignored
  if (m.type == CoapType.RST) {
    if (m.mid == mid) fail(ProbeError.CoapReset);
    return;
  }
  if (m.type == CoapType.ACK && m.mid == mid && m.code == CoapCode.EMPTY) {
    acked = true; // separate response follows (RFC 7252 5.2.2): stop retransmitting
    reqDeadline = now + 8 * ackTimeoutMs;
    return;
  }
  if (!m.isResponse() || m.tkl != 4 || !coapBytesEqual(m.token, A + <usize>A_TOKEN, 4)) return;
  if (m.type == CoapType.ACK && m.mid != mid) return;
  if (m.type == CoapType.CON) {
    // RFC 7252 5.2.2: acknowledge a separate response.
    const w = changetype<CoapWriter>(A + <usize>A_WRITER);
    w.begin(A + <usize>A_REQ, REQ_CAP, CoapType.ACK, CoapCode.EMPTY, m.mid, 0, 0);
    const n = w.finish();
    if (noSec) net_send(peer, A + <usize>A_REQ, n);
    else if (conn!.sendApplicationData(A + <usize>A_REQ, n, now) == 0) flush();
  }
  respCode = m.code;
  respType = m.type;
  respFormat = m.contentFormat();
  respBlock2 = m.block2();
  respLen = m.payloadLen < RESP_CAP ? m.payloadLen : RESP_CAP;
  respTruncated = m.payloadLen > RESP_CAP;
  memory.copy(A + <usize>A_RESP, m.payload, <usize>respLen);
  state = ProbeState.Done;
  reqDeadline = -1;
  if (!noSec) {
    conn!.close(now); // close_notify
    flush();
  }
}

function drainEvents(now: i64): void {
  const c = conn!;
  if (c.state != ConnState.Closed) hsStage = c.state;
  for (;;) {
    const ev = c.pollEvent();
    if (ev == DtlsEvent.None) break;
    if (ev == DtlsEvent.HandshakeComplete) {
      if (state == ProbeState.Handshake) startRequest(now);
    } else if (ev == DtlsEvent.ApplicationData) {
      onCoap(c.appDataPtr(), c.appDataLen(), now);
    }
  }
  if (c.state == ConnState.Closed && (state == ProbeState.Handshake || state == ProbeState.Request)) fail(ProbeError.Dtls);
}

/** Receive buffer: the host writes a datagram here, then calls probe_datagram. */
export function probe_rx_buffer(): usize { return A + <usize>A_RX; }
export function probe_rx_capacity(): i32 { return RX_CAP; }

export function probe_datagram(len: i32, now: i64): i64 {
  if (len <= 0 || len > RX_CAP || (state != ProbeState.Handshake && state != ProbeState.Request)) return deadline();
  const p = A + <usize>A_RX;
  if (noSec) {
    nsBytesReceived += len;
    nsDatagramsReceived++;
    onCoap(p, len, now);
    return deadline();
  }
  if (conn!.state != ConnState.Closed) hsStage = conn!.state;
  conn!.handleDatagram(p, len, now);
  drainEvents(now);
  flush();
  return deadline();
}

export function probe_timer(now: i64): i64 {
  if (state != ProbeState.Handshake && state != ProbeState.Request) return -1;
  if (!noSec) {
    const c = conn!;
    const t = c.nextDeadline();
    if (t >= 0 && now >= t) {
      hsStage = c.state;
      c.handleTimeout(now);
      drainEvents(now);
      flush();
    }
  }
  if (state == ProbeState.Request && reqDeadline >= 0 && now >= reqDeadline) {
    if (acked || reqSends > maxRetransmit) {
      fail(ProbeError.CoapTimeout);
    } else {
      reqTimeout <<= 1; // RFC 7252 4.2: the timeout doubles
      sendRequest(now);
    }
  }
  return deadline();
}

/** Ends the probe: close_notify when a DTLS connection is up, the peer closed, the SE slots wiped. */
export function probe_finish(now: i64): void {
  if (conn != null && conn!.state != ConnState.Closed && conn!.state != ConnState.Idle) {
    conn!.close(now);
    flush();
  }
  if (peer >= 0) net_close(peer);
  peer = -1;
  se_destroy(KEY_SLOT);
  memory.fill(A + <usize>A_PSK, 0, 64);
  if (resumeSession != null) resumeSession!.clear(); // the master secret does not outlive the probe
}

// ---- results ---------------------------------------------------------------------------
export function probe_state(): i32 { return state; }
export function probe_failure(): i32 { return failure; }
export function probe_dtls_reason(): i32 { return conn != null ? conn!.reason : 0; }
export function probe_dtls_detail(): i32 { return conn != null ? conn!.detail : 0; }
/** The DTLS ConnState the handshake had reached when it failed (e.g. 3/4: after our Finished). */
export function probe_handshake_stage(): i32 { return hsStage; }
export function probe_alert(): i32 { return conn != null ? conn!.alertReceived : -1; }
/** IANA code of the negotiated suite (0 = NoSec / none). */
export function probe_suite(): u32 { return conn != null ? conn!.negotiatedSuite() : 0; }
export function probe_resumed(): bool { return conn != null && conn!.isResumed(); }
export function probe_ems(): bool { return conn != null && conn!.extendedMasterSecret(); }
export function probe_max_plaintext(): i32 { return conn != null ? conn!.maxPlaintext() : 0; }
/** CoAP response code (class << 5 | detail), -1 none. */
export function probe_response_code(): i32 { return respCode; }
export function probe_response_type(): i32 { return respType; }
export function probe_response_format(): i32 { return respFormat; }
/** Block2 option of the response (RFC 7959; more blocks are not fetched), -1 none. */
export function probe_response_block2(): i32 { return respBlock2; }
export function probe_payload_ptr(): usize { return A + <usize>A_RESP; }
export function probe_payload_len(): i32 { return respLen; }
export function probe_payload_truncated(): bool { return respTruncated; }
/** CoAP transmissions of the GET (1 = no retransmission). */
export function probe_request_sends(): i32 { return reqSends; }
/** 0 bytesSent, 1 bytesReceived, 2 datagramsSent, 3 datagramsReceived (UDP payload, whole exchange). */
export function probe_stat(i: i32): i64 {
  if (noSec || conn == null) {
    if (i == 0) return nsBytesSent;
    if (i == 1) return nsBytesReceived;
    if (i == 2) return <i64>nsDatagramsSent;
    if (i == 3) return <i64>nsDatagramsReceived;
    return -1;
  }
  const c = conn!;
  if (i == 0) return c.bytesSent;
  if (i == 1) return c.bytesReceived;
  if (i == 2) return <i64>c.datagramsSent;
  if (i == 3) return <i64>c.datagramsReceived;
  return -1;
}
/** The NSS key log line (probe_set_key_log(true) only), 0 length when none. */
export function probe_key_log_ptr(): usize { return conn != null ? conn!.keyLogPtr() : 0; }
export function probe_key_log_len(): i32 { return conn != null ? conn!.keyLogLength() : 0; }
