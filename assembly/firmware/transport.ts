// Per-account transports of the LwM2M client (the seam between the client's
// connections and the host's `net` service). A connection's channel is chosen
// by the Security Mode of its account (Security resource 2):
//   3 NoSec       -> CoAP datagrams straight to net_send / from
//                    datagram_received; allowed only when the account says
//                    mode 3 explicitly, and reported loudly (DTLS-11);
//   0 PSK, 1 RPK, 2 Certificate
//                 -> CoAP inside a DTLS 1.2 connection (DTLS-1): open()
//                    starts the handshake (TRANSPORT_PENDING); the client is
//                    told clientTransportUp in the call that completes it (so
//                    the Register leaves in the same call), or
//                    clientTransportFailed with the reason logged. Nothing
//                    is ever sent in clear on such a channel;
//   4 Certificate with EST -> refused (EST enrolment is not in this build).
// One DtlsConnection + DtlsSession per client connection, allocated once at
// start-up (the stub runtime never frees) and reused with reset(), with
// handshake buffers for PSK and RPK; the first time a connection is
// configured for X.509 they grow to certificate sizes, once (growBuffers).
// The connections share one transmit buffer (the record store's, between its
// calls): every call into a connection is followed by flush() before
// anything else can use another connection or the store.
import {
  net_open, net_close, net_send, clock_wall_seconds, se_public_key, HostStatus,
} from "../host/abi";
import { setTransport, conn, MAX_CONNS, TRANSPORT_UP, TRANSPORT_PENDING, earliest } from "../lwm2m/client/conn";
import { clientDatagram, clientTransportUp, clientTransportFailed } from "../lwm2m/client/client";
import { SECURITY_OID, Sec, SecurityMode, securityKeyHandle, securitySecret, securitySecretLen } from "../lwm2m/objects/security";
import { findObject, instFind, resIndex, riCount, riIdAt, getInt, getBytes, found, valueLen } from "../lwm2m/model";
import { bsEntropyHigh } from "../lwm2m/bootstrap-config";
import { emit, ClientEvent, lb, ls, lbytes, lnum, linfo, lwarn, lerror, lineText, lineLen } from "../lwm2m/client/events";
import { DtlsConfig, MAX_PSK_LEN } from "../dtls/config";
import { DtlsConnection, ConnState } from "../dtls/connection";
import { beforeKeyExchange } from "../dtls/order";
import { DtlsSession } from "../dtls/session";
import { DtlsEvent, DtlsError } from "../dtls/alert";
import { SuiteBit, suiteBit } from "../dtls/suites";
import { CertificateType } from "../dtls/extensions";
import { TrustConfig, TRUST_CONFIG_SIZE } from "../x509/trust";
import { VerifyFlag } from "../x509/verify";
import { wipe } from "../crypto/ct";
import { keyLoad, keySlot } from "./persist";
import { STORE_SCRATCH, STORE_SCRATCH_SIZE } from "../storage/store";
import { sessionLoad, sessionSave, sessionDiscard, sessionLastDrop, SessionDrop, SESSION_TICKET_CAP } from "./session-store";

export namespace TransportError {
  /** Security Mode 4 (Certificate with EST): enrolment is not available in this build. */
  export const SecureUnavailable: i32 = -100;
  /** net_open refused the peer (bad host, no socket). */
  export const Open: i32 = -101;
  /** Security Mode absent or unknown: never falls back to NoSec (DTLS-11). */
  export const Mode: i32 = -102;
  /** The account's credentials are missing or unusable (no key, key not in the SE, ...). */
  export const Credentials: i32 = -103;
  /** The DTLS client refused the configuration (DtlsError in the log). */
  export const Handshake: i32 = -104;
}

const KIND_NONE: i32 = 0;
const KIND_NOSEC: i32 = 1;
const KIND_DTLS: i32 = 2;

/** Our ephemeral ECDHE slots, one per connection (se/keys.ts plan: 8..14). */
const EPHEMERAL_FIRST: i32 = 8;

// per connection: kind i32, peer i32
const T = memory.data(8 * 3, 4);
function kindOf(ci: i32): i32 { return load<i32>(T + <usize>(ci << 3)); }
function peerOf(ci: i32): i32 { return load<i32>(T + <usize>(ci << 3), 4); }
function setT(ci: i32, kind: i32, peer: i32): void {
  store<i32>(T + <usize>(ci << 3), kind);
  store<i32>(T + <usize>(ci << 3), peer, 4);
}

// Per-connection credential copies the DTLS config points at (the rest points
// into the Security Object, our certificate too): the PSK (wiped once the key
// schedule consumed it, SEC-3), our public key, the x509 trust decision inputs.
const PSK = memory.data(64 * 3, 8);
const OWN_PUB = memory.data(72 * 3, 8);
const TRUST = memory.data(TRUST_CONFIG_SIZE * 3, 8);

/** Largest datagram we send (DtlsConfig.mtu). */
const MTU: i32 = 1152;
/** The transmit buffer the connections share: the record store's buffer
 *  (storage/store.ts STORE_SCRATCH, 2,100 bytes), free between store calls.
 *  A datagram lives there from the DTLS call that builds it to the flush()
 *  right after that call, and no store call runs in between: the store is
 *  called (the PSK from its sealed record, persistence) only with every
 *  connection flushed. */
const TX: usize = STORE_SCRATCH;
/** Handshake buffers for PSK and RPK: the largest handshake message taken (a
 *  ServerHello, ServerKeyExchange, a raw public key: 768, the DTLS default),
 *  and our largest flight: a ClientHello with a 255-byte cookie and a 255-byte
 *  server name (668), or ClientKeyExchange + ChangeCipherSpec + Finished with
 *  a 512-byte PSK identity (Security PUBLIC_KEY_CAP, ECDHE-PSK: 634). */
const HS_BUFFER: i32 = 768;
const FLIGHT_BUFFER: i32 = 672;
/** X.509: a server chain up to 2 KiB; our 512-byte certificate in the flight. */
const CERT_HS_BUFFER: i32 = 2048;
const CERT_FLIGHT_BUFFER: i32 = 1024;

const HEX = memory.data(4);
/** Connection state before the last input (why a handshake ended). */
const PREV = memory.data(4 * 3, 4);

function pskBuf(ci: i32): usize { return PSK + <usize>(ci * MAX_PSK_LEN); }

let configs: StaticArray<DtlsConfig> | null = null;
let dtls: StaticArray<DtlsConnection> | null = null;
let sessions: StaticArray<DtlsSession> | null = null;
/** Monotonic ms of the latest call into the transport (send() has no clock of its own). */
let lastNow: i64 = 0;

function cfgOf(ci: i32): DtlsConfig { return unchecked(configs![ci]); }
function dtlsOf(ci: i32): DtlsConnection { return unchecked(dtls![ci]); }

function allocate(): void {
  if (configs != null) return;
  const cf = new StaticArray<DtlsConfig>(MAX_CONNS);
  const dc = new StaticArray<DtlsConnection>(MAX_CONNS);
  const ss = new StaticArray<DtlsSession>(MAX_CONNS);
  for (let i = 0; i < MAX_CONNS; i++) {
    const c = new DtlsConfig();
    c.mtu = MTU;
    c.txBuffer = TX;
    c.handshakeBufferSize = HS_BUFFER;
    c.flightBufferSize = FLIGHT_BUFFER;
    // RFC 5077 tickets and session IDs: the session is kept in the sealed store (session-store.ts)
    c.ticketCapacity = SESSION_TICKET_CAP;
    c.sessionTickets = true;
    c.ephemeralSlot = EPHEMERAL_FIRST + i;
    unchecked(cf[i] = c);
    unchecked(dc[i] = new DtlsConnection(c));
    unchecked(ss[i] = new DtlsSession(SESSION_TICKET_CAP));
  }
  configs = cf;
  dtls = dc;
  sessions = ss;
}

// ---- logging -------------------------------------------------------------------

/** Appends the reason in words (ls: the literals become ASCII bytes, util/log.ts). */
function lsReason(r: i32): void {
  switch (r) {
    case DtlsError.Config: ls("configuration refused"); return;
    case DtlsError.Rng: ls("DRBG unhealthy"); return;
    case DtlsError.LowEntropyPsk: ls("low-entropy PSK with a plain PSK suite (DTLS-3)"); return;
    case DtlsError.NoSuites: ls("no cipher suite for these credentials"); return;
    case DtlsError.SeFailure: ls("secure element refused"); return;
    case DtlsError.SuiteNotOffered: ls("server chose a suite we did not offer"); return;
    case DtlsError.BadSignature: ls("server signature does not verify"); return;
    case DtlsError.FinishedMismatch: ls("Finished mismatch (wrong key)"); return;
    case DtlsError.BadCertificate: ls("server certificate not trusted"); return;
    case DtlsError.RpkMismatch: ls("server raw public key differs from resource 4 (DTLS-4)"); return;
    case DtlsError.PeerUsesOwnKey: ls("server uses our own key (DTLS-8)"); return;
    case DtlsError.CertificateType: ls("certificate type not negotiated (RFC 7250)"); return;
    case DtlsError.Timeout: ls("no answer (retransmissions exhausted)"); return;
    case DtlsError.FinishedTimeout: ls("no answer to our Finished (wrong PSK or key?)"); return;
    case DtlsError.PeerAlert: ls("fatal alert from the server"); return;
    case DtlsError.PeerClosed: ls("close_notify from the server"); return;
    case DtlsError.AuthFailureLimit: ls("too many records failed authentication (DTLS-10)"); return;
    case DtlsError.RecordLimit: ls("record sequence limit (DTLS-10)"); return;
    case DtlsError.SessionAge: ls("session age limit (DTLS-10)"); return;
  }
  ls("protocol error");
}

/** "DTLS: <what> ssid=N: <reason> (reason R, alert A, x509 D)" */
function logReason<T>(ci: i32, what: T, r: i32): void {
  const d = dtlsOf(ci);
  lb("DTLS: ");
  ls<T>(what);
  ls(" ssid=");
  lnum(conn(ci).ssid);
  ls(": ");
  lsReason(r);
  ls(" (reason ");
  lnum(r);
  if (d.alertReceived >= 0) {
    ls(", alert received ");
    lnum(d.alertReceived);
  }
  if (d.detail != 0) {
    ls(", x509 ");
    lnum(d.detail);
  }
  ls(")");
  // our Finished went out and the server answered with anything but its own: it could not
  // verify it (RFC 5246 7.4.9), i.e. the two sides hold different keys
  if (load<i32>(PREV + <usize>(ci << 2)) == ConnState.WaitChangeCipherSpec && !d.isResumed() &&
      (r == DtlsError.PeerClosed || r == DtlsError.PeerAlert || r == DtlsError.FinishedTimeout)) {
    ls(": the server did not accept our Finished, wrong PSK or key");
  }
  lerror();
}

// ---- datagrams out ------------------------------------------------------------

function flush(ci: i32): void {
  const d = dtlsOf(ci);
  const peer = peerOf(ci);
  let n: i32;
  while ((n = d.pollTransmit()) > 0) net_send(peer, d.transmitPtr(), n);
}

function wipePsk(ci: i32): void {
  wipe(pskBuf(ci), MAX_PSK_LEN);
}

// ---- configuration from the Security Object --------------------------------------

/** The account's PSK into pskBuf(ci): its length, or <= 0. */
function loadPsk(ci: i32, secIid: u32, handle: i32): i32 {
  const k = pskBuf(ci);
  if (handle >= 0) return keyLoad(handle, k, MAX_PSK_LEN);
  if (handle != -1) return -1;
  const p = securitySecret(secIid);
  const n = securitySecretLen;
  if (n <= 0 || n > MAX_PSK_LEN) return -1;
  memory.copy(k, p, <usize>n);
  return n;
}

/** SEC-3: the PSK is in RAM only during a call that may need it (ServerHelloDone builds the
 *  ClientKeyExchange flight inside handleDatagram); wiped right after (pskDone). */
function pskNeeded(ci: i32): bool {
  const d = dtlsOf(ci);
  return cfgOf(ci).pskLen > 0 && beforeKeyExchange(d.state);
}

/** Resource 16 (IANA codes) as a SuiteBit mask; All when absent. */
function ciphersuites(secIid: u32): u32 {
  const o = findObject(SECURITY_OID);
  if (!o) return SuiteBit.All;
  const s = instFind(o, secIid);
  const idx = resIndex(o, Sec.Ciphersuite);
  if (!s || idx < 0) return SuiteBit.All;
  const n = riCount(o, s, idx);
  if (n == 0) return SuiteBit.All;
  let m: u32 = 0;
  for (let k = 0; k < n; k++) m |= suiteBit(<u32>getInt(SECURITY_OID, secIid, Sec.Ciphersuite, riIdAt(o, s, idx, k)));
  return m;
}

/** An IPv4 / IPv6 literal (RFC 6066 3: no SNI for those). */
function isIpLiteral(host: usize, n: i32): bool {
  if (n > 0 && load<u8>(host) == 0x5b) return true;
  for (let i = 0; i < n; i++) {
    const c = load<u8>(host + <usize>i);
    if (c != 0x2e && (c < 0x30 || c > 0x39)) return false;
  }
  return true;
}

/** Fills connection ci's DtlsConfig from Security instance secIid; 0 or a TransportError (logged). */
function configure(ci: i32, secIid: u32, mode: i32, host: usize, hostLen: i32): i32 {
  const c = cfgOf(ci);
  c.psk = 0;
  c.pskLen = 0;
  c.pskIdentity = 0;
  c.pskIdentityLen = 0;
  c.pskLowEntropy = false;
  c.ownPublicKey = 0;
  c.ownCertificates = 0;
  c.ownCertificatesLen = 0;
  c.ownCertificateDer = 0;
  c.ownCertificateDerLen = 0;
  c.serverPublicKey = 0;
  c.serverPublicKeyLen = 0;
  c.trust = 0;
  c.serverName = 0;
  c.serverNameLen = 0;
  let suites = ciphersuites(secIid);
  const sni = getBytes(SECURITY_OID, secIid, Sec.Sni);
  if (found && valueLen > 0) {
    c.serverName = sni;
    c.serverNameLen = valueLen;
  }
  const own = getBytes(SECURITY_OID, secIid, Sec.PublicKeyOrIdentity);
  const ownLen = found ? valueLen : 0;
  const srv = getBytes(SECURITY_OID, secIid, Sec.ServerPublicKey);
  const srvLen = found ? valueLen : 0;
  const handle = securityKeyHandle(secIid);
  if (mode == SecurityMode.PSK) {
    // RFC 4279 2: identity = resource 3; the key from the sealed store (SEC-3). Loaded here
    // to check it, then only around the calls that may build the key schedule (loadPsk).
    const k = pskBuf(ci);
    const n = loadPsk(ci, secIid, handle);
    wipePsk(ci);
    if (n <= 0) {
      lb("DTLS: ssid=");
      lnum(conn(ci).ssid);
      ls(": no usable PSK (resource 5), status ");
      lnum(n);
      lerror();
      return TransportError.Credentials;
    }
    c.psk = k;
    c.pskLen = n;
    c.pskIdentity = own;
    c.pskIdentityLen = ownLen;
    // DTLS-3 / BS-4: the factory Bootstrap-Server secret marked low entropy -> ECDHE-PSK only
    if (getInt(SECURITY_OID, secIid, Sec.BootstrapServer) != 0 && !bsEntropyHigh) {
      c.pskLowEntropy = true;
      suites &= SuiteBit.EcdhePskCbc;
    } else {
      suites &= SuiteBit.AnyPsk;
    }
  } else {
    // RPK / X.509: our private key stays in its SE slot; its public key from the SE
    const slot = keySlot(handle);
    const pub = OWN_PUB + <usize>(ci * 72);
    if (slot < 0 || se_public_key(slot, pub) != HostStatus.Ok) {
      lb("DTLS: ssid=");
      lnum(conn(ci).ssid);
      ls(": no private key in the secure element (resource 5)");
      lerror();
      return TransportError.Credentials;
    }
    c.identitySlot = slot;
    c.ownPublicKey = pub;
    suites &= SuiteBit.Ecdsa;
    if (mode == SecurityMode.RPK) {
      // DTLS-4: the server's key must equal resource 4 exactly
      c.certificateType = CertificateType.RawPublicKey;
      c.serverPublicKey = srv;
      c.serverPublicKeyLen = srvLen;
    } else {
      c.certificateType = CertificateType.X509;
      // the first X.509 account of this connection: certificate-sized handshake buffers, kept from now on
      if (c.handshakeBufferSize < CERT_HS_BUFFER) {
        c.handshakeBufferSize = CERT_HS_BUFFER;
        c.flightBufferSize = CERT_FLIGHT_BUFFER;
      }
      if (dtlsOf(ci).growBuffers() != 0) {
        lb("DTLS: ssid=");
        lnum(conn(ci).ssid);
        ls(": connection busy, cannot take certificate buffers");
        lerror();
        return TransportError.Credentials;
      }
      // our certificate (resource 3) goes into the Certificate message from where it is stored
      c.ownCertificateDer = ownLen > 0 ? own : 0;
      c.ownCertificateDerLen = ownLen;
      // DTLS-5/6/8: LwM2M certificate usage (15, default 3) and matching type (13, default 0)
      const t = changetype<TrustConfig>(TRUST + <usize>(ci * TRUST_CONFIG_SIZE));
      const usage = getInt(SECURITY_OID, secIid, Sec.CertificateUsage);
      t.usage = found ? <i32>usage : 3;
      const matching = getInt(SECURITY_OID, secIid, Sec.MatchingType);
      t.matching = found ? <i32>matching : 0;
      t.serverKey = srv;
      t.serverKeyLen = srvLen;
      // RFC 6125 / LwM2M resource 14: the SNI when present, else the URI host
      if (c.serverNameLen > 0) {
        t.host = c.serverName;
        t.hostLen = c.serverNameLen;
      } else {
        t.host = host;
        t.hostLen = hostLen;
        if (!isIpLiteral(host, hostLen)) {
          c.serverName = host;
          c.serverNameLen = hostLen;
        }
      }
      t.store = 0;
      t.storeCount = 0;
      t.ownPub = pub;
      // DTLS-6: no wall clock -> the build-time lower bound decides for indirect trust
      t.flags = clock_wall_seconds() < 0 ? VerifyFlag.ALLOW_TIME_LOWER_BOUND : 0;
      c.trust = changetype<usize>(t);
    }
  }
  c.suites = suites;
  return 0;
}

/** Handshake from Idle; TRANSPORT_PENDING or a TransportError (logged; PSK wiped). */
function startHandshake(ci: i32, now: i64): i32 {
  const d = dtlsOf(ci);
  d.reset();
  const s = unchecked(sessions![ci]);
  // DTLS-10 / LPWA-1: the session sealed in the store after the last handshake (this boot or an earlier one)
  sessionLoad(ci, conn(ci).ssid, <u32>conn(ci).secIid, cfgOf(ci), s, now);
  d.session = s;
  const e = d.connect(now);
  if (e != 0) {
    wipePsk(ci);
    logReason(ci, "handshake refused locally", e);
    return TransportError.Handshake;
  }
  flush(ci);
  return TRANSPORT_PENDING;
}

function open(ci: i32, secIid: u32, mode: i32, host: usize, hostLen: i32, port: i32, now: i64): i32 {
  lastNow = now;
  const secure = mode == SecurityMode.PSK || mode == SecurityMode.RPK || mode == SecurityMode.Certificate;
  if (mode == SecurityMode.CertificateWithEst) {
    lb("transport: Security Mode 4 (Certificate with EST) is not available in this build; nothing sent to ");
    lbytes(host, hostLen);
    lerror();
    return TransportError.SecureUnavailable;
  }
  if (mode != SecurityMode.NoSec && !secure) {
    lb("transport: refused, Security Mode ");
    lnum(mode);
    ls(" is not a mode (NoSec is never assumed)");
    lerror();
    return TransportError.Mode;
  }
  if (secure) {
    const r = configure(ci, secIid, mode, host, hostLen);
    if (r < 0) return r;
  }
  const peer = net_open(host, hostLen, port);
  if (peer < 0) {
    if (secure) wipePsk(ci);
    lb("transport: cannot open ");
    lbytes(host, hostLen);
    lerror();
    return TransportError.Open;
  }
  if (secure) {
    setT(ci, KIND_DTLS, peer);
    lb("DTLS: handshake with ");
    lbytes(host, hostLen);
    ls(":");
    lnum(port);
    ls(" ssid=");
    lnum(conn(ci).ssid);
    ls(mode == SecurityMode.PSK ? " (PSK)" : mode == SecurityMode.RPK ? " (RPK)" : " (X.509)");
    linfo();
    const r = startHandshake(ci, now);
    if (r < 0) {
      net_close(peer);
      setT(ci, KIND_NONE, -1);
    }
    return r;
  }
  setT(ci, KIND_NOSEC, peer);
  lb("coap://");
  lbytes(host, hostLen);
  ls(":");
  lnum(port);
  emit(ClientEvent.Insecure, conn(ci).ssid, 0, lineText(), lineLen());
  lb("DTLS-11: INSECURE channel (Security Mode 3, NoSec) to ");
  lbytes(host, hostLen);
  ls(":");
  lnum(port);
  ls(": no encryption, no authentication (configured explicitly)");
  lwarn();
  return TRANSPORT_UP;
}

// Queue Mode (LwM2M 1.1 Transport §6.5): monotonic ms of each connection's last datagram in or out
const ACTIVITY = memory.data(8 * 3, 8);
/** The last datagram sent or received on connection ci (0 none yet). */
export function transportLastActivity(ci: i32): i64 { return load<i64>(ACTIVITY + <usize>(ci << 3)); }

function send(ci: i32, p: usize, n: i32): i32 {
  const k = kindOf(ci);
  store<i64>(ACTIVITY + <usize>(ci << 3), lastNow);
  if (k == KIND_NOSEC) return net_send(peerOf(ci), p, n);
  if (k != KIND_DTLS) return -1;
  const d = dtlsOf(ci);
  let r = d.sendApplicationData(p, n, lastNow);
  if (r == DtlsError.Busy) {
    flush(ci);
    r = d.sendApplicationData(p, n, lastNow);
  }
  flush(ci);
  if (d.state == ConnState.Closed) events(ci, lastNow); // DTLS-10 limit reached while sending
  return r;
}

function close(ci: i32): void {
  const k = kindOf(ci);
  if (k == KIND_DTLS) {
    // RFC 5246 7.2.1: close_notify on De-register / shutdown / account gone
    const d = dtlsOf(ci);
    d.close(lastNow);
    flush(ci);
    d.reset();
    unchecked(sessions![ci]).clear();
    wipePsk(ci);
  }
  if (k != KIND_NONE) net_close(peerOf(ci));
  setT(ci, KIND_NONE, -1);
}

/** Ends a DTLS channel that failed (the client reopens it on its next attempt). */
function failed(ci: i32, now: i64): void {
  wipePsk(ci);
  unchecked(sessions![ci]).clear();
  net_close(peerOf(ci));
  setT(ci, KIND_NONE, -1);
  clientTransportFailed(ci, now);
}

/** Delivers connection ci's DTLS events to the client. */
function events(ci: i32, now: i64): void {
  const d = dtlsOf(ci);
  let e: i32;
  while (kindOf(ci) == KIND_DTLS && (e = d.pollEvent()) != DtlsEvent.None) {
    if (e == DtlsEvent.ApplicationData) {
      clientDatagram(ci, d.appDataPtr(), d.appDataLen(), now);
    } else if (e == DtlsEvent.HandshakeComplete) {
      lb("DTLS: established ssid=");
      lnum(conn(ci).ssid);
      ls(", suite 0x");
      const suite = d.negotiatedSuite();
      for (let i = 0; i < 4; i++) {
        const x = (suite >> <u32>(12 - 4 * i)) & 15;
        store<u8>(HEX + <usize>i, x < 10 ? 0x30 + x : 0x57 + x);
      }
      lbytes(HEX, 4);
      if (d.isResumed()) ls(", resumed");
      linfo();
      // SE-2: the session (new, or a resumed one with a new ticket) sealed into the store, its
      // master secret wiped from RAM; a resumed one without changes is left as stored
      const ss = unchecked(sessions![ci]);
      if (!d.isResumed() || ss.ticketLen > 0) {
        const st = sessionSave(ci, <u32>conn(ci).secIid, cfgOf(ci), ss, d.isResumed(), now);
        if (st < 0) {
          lb("DTLS: ssid=");
          lnum(conn(ci).ssid);
          ls(": session not stored, status ");
          lnum(st);
          lwarn();
        }
      } else {
        ss.clear();
      }
      if (conn(ci).transport == 2) clientTransportUp(ci, now); // the Register goes out in this call
    } else if (e == DtlsEvent.Closed) {
      const r = d.eventReason();
      flush(ci); // our alert / close_notify
      if (conn(ci).transport == 1 && (r == DtlsError.RecordLimit || r == DtlsError.SessionAge)) {
        // DTLS-10: a new handshake (resuming the session when it is still young enough)
        lb("DTLS: ssid=");
        lnum(conn(ci).ssid);
        ls(": ");
        lsReason(r);
        ls(", new handshake");
        linfo();
        conn(ci).transport = 2;
        if (startHandshake(ci, now) < 0) failed(ci, now);
        return;
      }
      logReason(ci, conn(ci).transport == 2 ? "handshake failed" : "connection closed", r);
      // a handshake that offered the stored session and was refused (not a mere timeout):
      // the next attempt is a full handshake, never a loop on a session the server rejects
      if (conn(ci).transport == 2 && r != DtlsError.Timeout && sessionLastDrop(ci) == SessionDrop.None) sessionDiscard(ci);
      failed(ci, now);
      return;
    }
  }
  flush(ci);
}

export function transportInit(): void {
  if (MTU > STORE_SCRATCH_SIZE) unreachable(); // a build bug, not an input
  for (let i = 0; i < MAX_CONNS; i++) setT(i, KIND_NONE, -1);
  allocate();
  setTransport(open, send, close);
}

/** A datagram from host peer `peer`: to the connection that owns it. False when no connection does (dropped). */
export function transportDatagram(peer: i32, p: usize, len: i32, now: i64): bool {
  lastNow = now;
  for (let i = 0; i < MAX_CONNS; i++) {
    const k = kindOf(i);
    if (k == KIND_NONE || peerOf(i) != peer) continue;
    store<i64>(ACTIVITY + <usize>(i << 3), now);
    if (k == KIND_NOSEC) clientDatagram(i, p, len, now);
    else {
      store<i32>(PREV + <usize>(i << 2), dtlsOf(i).state);
      if (pskNeeded(i) && loadPsk(i, <u32>conn(i).secIid, securityKeyHandle(<u32>conn(i).secIid)) != cfgOf(i).pskLen) {
        wipePsk(i); // the key changed or went: the handshake cannot finish with it
      }
      dtlsOf(i).handleDatagram(p, len, now);
      wipePsk(i);
      flush(i); // the shared transmit buffer is empty before the client may send on any connection
      events(i, now);
    }
    return true;
  }
  return false;
}

/** DTLS timers due at `now` (retransmissions, DTLS-10 age): run before the client's step. */
export function transportStep(now: i64): void {
  lastNow = now;
  for (let i = 0; i < MAX_CONNS; i++) {
    if (kindOf(i) != KIND_DTLS) continue;
    const d = dtlsOf(i);
    const t = d.nextDeadline();
    if (t < 0 || t > now) continue;
    store<i32>(PREV + <usize>(i << 2), d.state);
    d.handleTimeout(now);
    flush(i);
    events(i, now);
  }
}

/** The earliest DTLS deadline, -1 none. */
export function transportDeadline(): i64 {
  let t: i64 = -1;
  for (let i = 0; i < MAX_CONNS; i++) if (kindOf(i) == KIND_DTLS) t = earliest(t, dtlsOf(i).nextDeadline());
  return t;
}

/** Whether connection ci's channel is plain (NoSec). */
export function transportIsNoSec(ci: i32): bool { return kindOf(ci) == KIND_NOSEC; }

/**
 * Before deep sleep / power-off (host ABI prepare_sleep): every DTLS connection
 * ends with close_notify (RFC 5246 7.2.1; the session stays resumable and is
 * already sealed in the store), RAM keys wiped. The host power-cycles the
 * module afterwards; at wake the client resumes the stored sessions.
 */
export function transportSleep(now: i64): void {
  lastNow = now;
  for (let i = 0; i < MAX_CONNS; i++) if (kindOf(i) == KIND_DTLS) close(i);
}
