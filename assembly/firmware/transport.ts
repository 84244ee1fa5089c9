// Per-account transports of the LwM2M client (the seam between the client's
// connections and the host's `net` service). A connection's channel is chosen
// by the Security Mode of its account (Security resource 2):
//   3 NoSec       -> CoAP datagrams straight to net_send / from
//                    datagram_received; allowed only when the account says
//                    mode 3 explicitly, and reported loudly (DTLS-11);
//   0 PSK, 1 RPK, 2 Certificate
//                 -> CoAP inside a DTLS 1.2 connection (DTLS-1): open()
//                    starts the handshake (Channel.Pending); the client is
//                    told clientTransportUp in the call that completes it (so
//                    the Register leaves in the same call), or
//                    clientTransportFailed with the reason logged. Nothing
//                    is ever sent in clear on such a channel;
//   4 Certificate with EST (issue 8) -> with an enrolled credential (the
//                    certificate and SE slot in RecordId.EstCredential) as
//                    mode 2 with that certificate; without one (or when its
//                    renewal point has passed) the connection first runs an
//                    EST-coaps enrolment (RFC 9148) on the same DTLS slot:
//                    DTLS to the EST server (client authentication with the
//                    factory IDevID certificate of resources 3/5, or the
//                    enrolled certificate for /sren; the server checked
//                    against the explicit EST trust anchor or resource 4),
//                    /crts then /sen or /sren, the result checked and
//                    installed in one store record, then DTLS to the LwM2M
//                    Server with the new certificate (EST-6).
// One DtlsConnection + DtlsSession per client connection, allocated at its
// first secure open (the stub runtime never frees: a connection never used
// costs nothing) and reused with reset(); its handshake buffers are lent from
// one pool for each handshake (PSK/RPK or certificate sizes: takeHandshakeBlock).
// The connections share one transmit buffer (the record store's, between its
// calls): every call into a connection is followed by flush() before
// anything else can use another connection or the store.
import { net_open, net_close, net_send, clock_wall_seconds } from "../host/abi";
import { setTransport, conn, connEp, connEpLend, connEpLent, connEpReset, MAX_CONNS, MAX_SZX, EP_SLOTS, BS_CONN, Channel, earliest } from "../lwm2m/client/conn";
import { clientDatagram, clientTransportUp, clientTransportFailed } from "../lwm2m/client/client";
import { SecurityMode, securityKeyHandle, securityFind, SECURITY_OID, Sec } from "../lwm2m/objects/security";
import { getBytes, found, valueLen } from "../lwm2m/model";
import { emit, ClientEvent, lb, ls, lbytes, lnum, lcode, linfo, lwarn, lerror, lineText, lineLen } from "../lwm2m/client/events";
import { HAS_RPK, HAS_X509, HAS_EST } from "../profile";
import { DtlsConnection, ConnState, handshakeBlockSize, helloEntryMax } from "../dtls/connection";
import { beforeKeyExchange } from "../dtls/order";
import { DtlsEvent, DtlsError } from "../dtls/alert";
import { CertificateType } from "../dtls/extensions";
import { wipe } from "../crypto/ct";
import { bytesEqual } from "../asn1/der";
import { isCoaps, uriSplit, uriHost, uriHostLen, uriPort, uriPath, uriPathLen } from "../util/uri";
import { STORE_SCRATCH_SIZE } from "../storage/store";
import { CoapEvent } from "../coap/endpoint";
import { CoapCode } from "../coap/message";
import { EstOp, EST_PENDING, EST_WORK_SIZE, estSzx1, estSzx2, estInit, estStart, estOnResponse, estOnTransportError, estTimer, estDeadline, estCert, estCertLen, estLastCode, estSetWall, estDiscovered } from "../est/client";
import { EstError } from "../est/codec";
import { estCredentialInstall, estCredSlot, estNextSlot } from "../est/credential";
import { EP_NAME, epNameLen, isRegistered, regRestartPending } from "../lwm2m/client/registration";
import {
  EST_ENABLED, estUri, estUriLen, estServerKeygen, estDiscover, estCredential, estCredBuf, estCertWork,
  estCredLen, estRenewalDue, estCredValid,
} from "./est-state";
import { sessionLoad, sessionSave, sessionDiscard, sessionLastDrop, SessionDrop, SESSION_TICKET_CAP } from "./session-store";
import { cfgOf, sessionOf, configure, configureEst, loadPsk, wipePsk, MTU } from "./dtls-account";
import { keepRestore, keepSave, keepReserve, keepAuthReserve, keepSent, keepConfirmed, keepDeadline, keepDrop, sleepMode, SleepMode } from "./keep";

export namespace TransportError {
  /** The Security Mode is not built into this firmware (profiles.json: RPK, X.509 or EST compiled out). */
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


// per connection: kind i32, peer i32
const T = memory.data(8 * MAX_CONNS, 4);
function kindOf(ci: i32): i32 { return load<i32>(T + <usize>(ci << 3)); }
function peerOf(ci: i32): i32 { return load<i32>(T + <usize>(ci << 3), 4); }
function setT(ci: i32, kind: i32, peer: i32): void {
  store<i32>(T + <usize>(ci << 3), kind);
  store<i32>(T + <usize>(ci << 3), peer, 4);
}

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
const PREV = memory.data(4 * MAX_CONNS, 4);

// The DtlsConnection of a connection: made at its first handshake (dtls-account.ts has its config and session).
const DTLS = memory.data(4 * MAX_CONNS, 4);
@inline function slot(table: usize, i: i32): usize { return table + (<usize>i << 2); }
/** Monotonic ms of the latest call into the transport (send() has no clock of its own). */
let lastNow: i64 = 0;

/** Connection ci's DTLS connection, made on first use from its config (cfgOf ran before: open()). */
function dtlsOf(ci: i32): DtlsConnection {
  let d = changetype<DtlsConnection | null>(load<usize>(slot(DTLS, ci)));
  if (d == null) {
    d = new DtlsConnection(cfgOf(ci));
    store<usize>(slot(DTLS, ci), changetype<usize>(d));
  }
  return d;
}

// Handshake buffers: a handshake needs them only while it runs, so the
// connections share a pool of blocks (the issue-11 rule: buffers never live
// at the same time share memory). A block is lent at the start of each
// handshake; it is taken back from a connection whose handshake is over
// (DtlsConnection.handshakeBuffersIdle) when another connection starts one,
// and a new block is made only when every block of the size needed is busy
// (handshakes running at the same time): at most one per connection and size.
const POOL: i32 = 2 * MAX_CONNS;
/** Per block: usize block (0 none), i32 holder (connection index, -1 none), i32 size class (BLOCK_*). */
const POOL_INFO = memory.data(12 * POOL, 4);
function blockAt(k: i32): ArrayBuffer | null { return changetype<ArrayBuffer | null>(load<usize>(POOL_INFO + <usize>(k * 12))); }
function holderOf(k: i32): i32 { return load<i32>(POOL_INFO + <usize>(k * 12), 4); }
function setHolder(k: i32, ci: i32): void { store<i32>(POOL_INFO + <usize>(k * 12), ci, 4); }
function classOf(k: i32): i32 { return load<i32>(POOL_INFO + <usize>(k * 12), 8); }
const BLOCK_PSK: i32 = 0;
const BLOCK_CERT: i32 = 1;
/** A certificate block that also holds the EST client's work area (EST_WORK_SIZE): a mode-4
 *  account's. The EST client works in it once the handshake with the EST server is over. */
const BLOCK_EST: i32 = 2;
/** The block an enrolment works in (pinned: not taken back while the enrolment runs); -1 none. */
let estBlock: i32 = -1;

/** Lends connection ci a block for its handshake (certificate-sized for X.509, with room for
 *  the EST work area for a mode-4 account); 0 or a DtlsError. */
function takeHandshakeBlock(ci: i32, cert: bool): i32 {
  // a mode-4 account's block is certificate-sized whatever the EST server's handshake (X.509 or PSK)
  const need = EST_ENABLED && load<u8>(MODE4 + <usize>ci) ? BLOCK_EST : cert ? BLOCK_CERT : BLOCK_PSK;
  if (need == BLOCK_EST) cert = true;
  const hs = cert ? CERT_HS_BUFFER : HS_BUFFER;
  // the flight takes our largest ClientHello too (255-byte server name, a session ticket)
  const fl = max(cert ? CERT_FLIGHT_BUFFER : FLIGHT_BUFFER, helloEntryMax(SESSION_TICKET_CAP));
  let free = -1;
  for (let k = 0; k < POOL; k++) {
    if (blockAt(k) == null) { if (free < 0) free = k; continue; }
    if (holderOf(k) == ci) { // ours from an earlier handshake: back to the pool first
      dtlsOf(ci).returnHandshakeBuffers();
      setHolder(k, -1);
    }
  }
  for (let k = 0; k < POOL; k++) {
    const b = blockAt(k);
    if (b == null || (need == BLOCK_PSK) != (classOf(k) == BLOCK_PSK) || classOf(k) < need || k == estBlock) continue;
    const h = holderOf(k);
    if (h >= 0) {
      const d = dtlsOf(h);
      if (!d.handshakeBuffersIdle()) continue;
      d.returnHandshakeBuffers();
    }
    setHolder(k, ci);
    return dtlsOf(ci).lendHandshakeBuffers(b, hs, fl);
  }
  if (free < 0) return DtlsError.Config; // cannot happen: POOL covers every connection at both sizes
  const b = new ArrayBuffer(need == BLOCK_EST ? max(handshakeBlockSize(hs, fl), EST_WORK_SIZE) : handshakeBlockSize(hs, fl));
  store<usize>(POOL_INFO + <usize>(free * 12), changetype<usize>(b));
  setHolder(free, ci);
  store<i32>(POOL_INFO + <usize>(free * 12), need, 8);
  return dtlsOf(ci).lendHandshakeBuffers(b, hs, fl);
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

/** SEC-3: the PSK is in RAM only during a call that may need it (ServerHelloDone builds the
 *  ClientKeyExchange flight inside handleDatagram); wiped right after (pskDone). */
function pskNeeded(ci: i32): bool {
  const d = dtlsOf(ci);
  return cfgOf(ci).pskLen > 0 && beforeKeyExchange(d.state);
}

/** Handshake from Idle; Channel.Pending or a TransportError (logged; PSK wiped). */
function startHandshake(ci: i32, now: i64): i32 {
  const d = dtlsOf(ci);
  d.reset();
  const s = sessionOf(ci);
  // DTLS-10 / LPWA-1: the session sealed in the store after the last handshake (this boot or an earlier one)
  sessionLoad(ci, conn(ci).ssid, <u32>conn(ci).secIid, cfgOf(ci), s, now);
  d.session = s;
  const c = cfgOf(ci);
  let e = takeHandshakeBlock(ci, c.ownPublicKey != 0 && c.certificateType == CertificateType.X509);
  if (e == 0) e = d.connect(now);
  if (e != 0) {
    wipePsk(ci);
    logReason(ci, "handshake refused locally", e);
    return TransportError.Handshake;
  }
  flush(ci);
  return Channel.Pending;
}

function open(ci: i32, secIid: u32, mode: i32, host: usize, hostLen: i32, port: i32, now: i64): i32 {
  lastNow = now;
  // a Security Mode compiled out of this build profile (profiles.json): refused and logged
  if (mode == SecurityMode.RPK && !HAS_RPK || mode == SecurityMode.Certificate && !HAS_X509 || mode == SecurityMode.CertificateWithEst && !HAS_EST) {
    lb("transport: refused, Security Mode ");
    lnum(mode);
    ls(" is not built into this firmware (build profile)");
    lerror();
    return TransportError.SecureUnavailable;
  }
  const secure = mode == SecurityMode.PSK || mode == SecurityMode.RPK || mode == SecurityMode.Certificate || mode == SecurityMode.CertificateWithEst;
  store<u8>(MODE4 + <usize>ci, mode == SecurityMode.CertificateWithEst ? 1 : 0);
  if (EST_ENABLED && mode == SecurityMode.CertificateWithEst && hostLen > 0 && hostLen <= 255) {
    // the account to renew in place (one per device: the last mode-4 account opened)
    m4Ci = ci;
    m4Sec = secIid;
    m4Port = port;
    m4HostLen = hostLen;
    if (host != M4_HOST) memory.copy(M4_HOST, host, <usize>hostLen);
  }
  if (EST_ENABLED && mode == SecurityMode.CertificateWithEst) {
    const wall = clock_wall_seconds();
    const have = estCredential(false);
    const usable = have && estCredValid(wall);
    if (!usable || (estRenewalDue(wall) && now >= estRetryAt)) {
      if (epNameLen <= 0) return TransportError.Credentials;
      return estOpen(ci, secIid, host, hostLen, port, now, usable);
    }
  }
  if (mode != SecurityMode.NoSec && !secure) {
    lb("transport: refused, Security Mode ");
    lnum(mode);
    ls(" is not a mode (NoSec is never assumed)");
    lerror();
    return TransportError.Mode;
  }
  if (secure) {
    if (!configure(ci, secIid, mode, host, hostLen)) return TransportError.Credentials;
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
    // LPWA-1: the connection kept across deep sleep carries on with no handshake
    const d = dtlsOf(ci);
    d.reset();
    if (keepRestore(ci, conn(ci).ssid, secIid, d, cfgOf(ci), now)) return Channel.Up;
    lb("DTLS: handshake with ");
    lbytes(host, hostLen);
    ls(":");
    lnum(port);
    ls(" ssid=");
    lnum(conn(ci).ssid);
    ls(mode == SecurityMode.PSK ? " (PSK)" : mode == SecurityMode.RPK ? " (RPK)" : mode == SecurityMode.Certificate ? " (X.509)" : " (X.509, EST-enrolled)");
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
  return Channel.Up;
}

// Queue Mode (LwM2M 1.1 Transport §6.5): monotonic ms of each connection's last datagram in or out
const ACTIVITY = memory.data(8 * MAX_CONNS, 8);
/** The last datagram sent or received on connection ci (0 none yet). */
export function transportLastActivity(ci: i32): i64 { return load<i64>(ACTIVITY + <usize>(ci << 3)); }

function send(ci: i32, p: usize, n: i32): i32 {
  const k = kindOf(ci);
  store<i64>(ACTIVITY + <usize>(ci << 3), lastNow);
  if (k == KIND_NOSEC) return net_send(peerOf(ci), p, n);
  if (k != KIND_DTLS) return -1;
  const d = dtlsOf(ci);
  // a kept connection: the sequence numbers reserved in the store before they are used (keep.ts)
  keepReserve(ci, d, <u32>conn(ci).secIid);
  let r = d.sendApplicationData(p, n, lastNow);
  if (r == DtlsError.Busy) {
    flush(ci);
    r = d.sendApplicationData(p, n, lastNow);
  }
  flush(ci);
  if (r == 0) keepSent(ci, lastNow);
  if (d.state == ConnState.Closed) events(ci, lastNow); // DTLS-10 limit reached while sending
  return r;
}

function close(ci: i32): void {
  if (estOn(ci)) estRelease(ci); // an enrolment in progress is dropped (nothing installed)
  const k = kindOf(ci);
  if (k == KIND_DTLS) {
    // RFC 5246 7.2.1: close_notify on De-register / shutdown / account gone
    const d = dtlsOf(ci);
    d.close(lastNow);
    flush(ci);
    d.reset();
    sessionOf(ci).clear();
    wipePsk(ci);
    keepDrop(ci);
  }
  if (k != KIND_NONE) net_close(peerOf(ci));
  setT(ci, KIND_NONE, -1);
}

/** Ends a DTLS channel that failed (the client reopens it on its next attempt). */
function failed(ci: i32, now: i64): void {
  wipePsk(ci);
  keepDrop(ci);
  sessionOf(ci).clear();
  net_close(peerOf(ci));
  setT(ci, KIND_NONE, -1);
  clientTransportFailed(ci, now);
}

/** ", suite 0xc0ae" (the negotiated cipher suite, IANA code). */
function lsSuite(d: DtlsConnection): void {
  ls(", suite 0x");
  const suite = d.negotiatedSuite();
  for (let i = 0; i < 4; i++) {
    const x = (suite >> <u32>(12 - 4 * i)) & 15;
    store<u8>(HEX + <usize>i, x < 10 ? 0x30 + x : 0x57 + x);
  }
  lbytes(HEX, 4);
}

/** Delivers connection ci's DTLS events to the client. */
function events(ci: i32, now: i64): void {
  const d = dtlsOf(ci);
  let e: i32;
  while (kindOf(ci) == KIND_DTLS && (e = d.pollEvent()) != DtlsEvent.None) {
    if (e == DtlsEvent.ApplicationData) {
      keepConfirmed(ci);
      if (estOn(ci)) {
        const ap = d.appDataPtr(), al = d.appDataLen();
        connEp(ci).handleDatagram(ap, al, now);
        estPump(ci, now);
        wipe(ap, al); // nothing of an EST answer (an /skg key) stays in the record buffer
        if (estCi != ci) return; // the enrolment ended: the channel was replaced or failed
      } else {
        clientDatagram(ci, d.appDataPtr(), d.appDataLen(), now);
      }
    } else if (e == DtlsEvent.HandshakeComplete && estOn(ci)) {
      lb("EST: DTLS established with the EST server ssid=");
      lnum(conn(ci).ssid);
      lsSuite(d);
      linfo();
      estBegin(ci, now);
      if (estCi != ci) return;
    } else if (e == DtlsEvent.HandshakeComplete) {
      lb("DTLS: established ssid=");
      lnum(conn(ci).ssid);
      lsSuite(d);
      if (d.isResumed()) ls(", resumed");
      if (d.cidOn) {
        // RFC 9146: the CID lengths (ours in the server's records, the server's in ours)
        ls(", connection ID ");
        lnum(d.ownCidLen);
        ls("/");
        lnum(d.peerCidLen);
      }
      linfo();
      // SE-2: the session (new, or a resumed one with a new ticket) sealed into the store, its
      // master secret wiped from RAM; a resumed one without changes is left as stored
      const ss = sessionOf(ci);
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
      if (conn(ci).transport == Channel.Pending) clientTransportUp(ci, now); // the Register goes out in this call
    } else if (e == DtlsEvent.Closed) {
      const r = d.eventReason();
      flush(ci); // our alert / close_notify
      if (conn(ci).transport == Channel.Up && (r == DtlsError.RecordLimit || r == DtlsError.SessionAge)) {
        // DTLS-10: a new handshake (resuming the session when it is still young enough)
        lb("DTLS: ssid=");
        lnum(conn(ci).ssid);
        ls(": ");
        lsReason(r);
        ls(", new handshake");
        linfo();
        conn(ci).transport = Channel.Pending;
        if (startHandshake(ci, now) < 0) failed(ci, now);
        return;
      }
      logReason(ci, estOn(ci) ? "EST server" : conn(ci).transport == Channel.Pending ? "handshake failed" : "connection closed", r);
      if (estOn(ci)) { estFailed(ci, now, -1); return; }
      // a handshake that offered the stored session and was refused (not a mere timeout):
      // the next attempt is a full handshake, never a loop on a session the server rejects
      if (conn(ci).transport == Channel.Pending && r != DtlsError.Timeout && sessionLastDrop(ci) == SessionDrop.None) sessionDiscard(ci);
      failed(ci, now);
      return;
    }
  }
  flush(ci);
}

export function transportInit(): void {
  if (MTU > STORE_SCRATCH_SIZE) unreachable(); // a build bug, not an input
  for (let i = 0; i < MAX_CONNS; i++) setT(i, KIND_NONE, -1);
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
      const ps = estOn(i) && estPskSec >= 0 ? <u32>estPskSec : <u32>conn(i).secIid; // whose PSK the channel uses
      if (pskNeeded(i) && loadPsk(i, ps, securityKeyHandle(ps)) != cfgOf(i).pskLen) {
        wipePsk(i); // the key changed or went: the handshake cannot finish with it
      }
      dtlsOf(i).handleDatagram(p, len, now);
      keepAuthReserve(i, dtlsOf(i), <u32>conn(i).secIid); // DTLS-10: failures stay counted across a reboot
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
    const k = keepDeadline(i);
    if (k >= 0 && k <= now) {
      // a kept connection the server does not answer (it lost it, or a new address without a
      // CID): dropped once; the next handshake resumes the sealed session (then a full one)
      lb("DTLS: ssid=");
      lnum(conn(i).ssid);
      ls(": no answer on the kept connection, new handshake");
      lwarn();
      keepDrop(i);
      d.reset();
      conn(i).transport = Channel.Pending;
      if (startHandshake(i, now) < 0) failed(i, now);
      continue;
    }
    const t = d.nextDeadline();
    if (t < 0 || t > now) continue;
    store<i32>(PREV + <usize>(i << 2), d.state);
    d.handleTimeout(now);
    flush(i);
    events(i, now);
  }
  // issue 8 step 9: a mode-4 channel whose certificate reached its renewal point is closed; the
  // client reconnects at once (regTransportFailed), and open() re-enrols with /sren first
  if (EST_ENABLED && estCi < 0 && now >= estRetryAt) {
    for (let i = 0; i < MAX_CONNS; i++) {
      // the renewal waits for the account's messages in flight (the EST requests use its endpoint)
      if (!load<u8>(MODE4 + <usize>i) || kindOf(i) != KIND_DTLS || conn(i).transport != Channel.Up || !epIdle(i, 1)) continue;
      const wall = clock_wall_seconds();
      if (!estRenewalDue(wall)) break;
      lb("EST: renewal point of the certificate reached ssid=");
      lnum(conn(i).ssid);
      ls(", re-enrolling");
      linfo();
      if (isRegistered(conn(i)) || i != m4Ci) {
        if (!epIdle(i, 0)) continue; // an Update in flight: after it
        // registered: the channel is closed and the client reconnects at once (regTransportFailed);
        // open() renews first, and the Register that follows shows the server the new certificate
        close(i);
        clientTransportFailed(i, now);
        break;
      }
      // the client holds its messages while the channel is pending (transport 2) and is told
      // when the channel with the renewed certificate is up, as after a DTLS-10 re-handshake
      conn(i).transport = Channel.Pending;
      regRestartPending(i); // a Register in flight is sent again on the renewed channel
      estClose(i);
      if (estOpen(i, m4Sec, M4_HOST, m4HostLen, m4Port, now, true) < 0) { conn(i).transport = Channel.Closed; clientTransportFailed(i, now); }
      break;
    }
  }
  if (EST_ENABLED && estCi >= 0 && estRunning) {
    const ci = estCi;
    const ep = connEp(ci);
    const t = ep.nextDeadline();
    if (t >= 0 && t <= now) ep.handleTimeout(now);
    const x = estDeadline();
    if (x >= 0 && x <= now) { if (estDone(ci, estTimer(now), now)) return; }
    estPump(ci, now);
  }
}

/** The earliest DTLS deadline (and EST's CoAP / 5.03 timers), -1 none. */
export function transportDeadline(): i64 {
  let t: i64 = -1;
  for (let i = 0; i < MAX_CONNS; i++) if (kindOf(i) == KIND_DTLS) t = earliest(earliest(t, dtlsOf(i).nextDeadline()), keepDeadline(i));
  if (EST_ENABLED && estCi >= 0 && estRunning) t = earliest(earliest(t, connEp(estCi).nextDeadline()), estDeadline());
  return t;
}

// ---- Security Mode 4: EST enrolment on the account's connection slot ------------------

let m4Ci: i32 = -1;
let m4Sec: u32 = 0;
let m4Port: i32 = 0;
let m4HostLen: i32 = 0;
// @ts-ignore: decorator
@lazy const M4_HOST = memory.data(256); // @lazy: none without EST (profiles.json)
/** Per connection: opened for a Security Mode 4 account. */
const MODE4 = memory.data(4);
/** The connection running an enrolment (-1 none; one at a time: the EST client is one). */
let estCi: i32 = -1;
// @ts-ignore: decorator
@inline function estOn(ci: i32): bool { return EST_ENABLED && estCi == ci; }
/** The CoAP endpoint and EST client are set up (after the EST handshake). */
let estRunning = false;
let estOp: i32 = 0;
let estRenewing = false;
/** The account's Security instance and LwM2M Server address, for the channel after enrolment. */
let estSec: u32 = 0;
let estPort: i32 = 0;
let estHostLen: i32 = 0;
/** The LwM2M Server's host: inside the account's Security object URI (or M4_HOST), which outlives the channel. */
let estHost: usize = 0;
/** Renewal back-off (issue 8 step 9): no new attempt before estRetryAt; the wait doubles per failure. */
let estRetryAt: i64 = 0;
let estBackoff: i64 = 60000;
const EST_BACKOFF_MAX: i64 = 86400000;
const WELL_KNOWN_EST = memory.data<u8>([0x2e, 0x77, 0x65, 0x6c, 0x6c, 0x2d, 0x6b, 0x6e, 0x6f, 0x77, 0x6e, 0x2f, 0x65, 0x73, 0x74]); // ".well-known/est"

/** The EST server: coaps://host[:port][/path] of est_configure, split (an IPv6 literal without
 *  its brackets; no path: /.well-known/est); false when it is not such a URI. */
let uHost: usize = 0;
let uHostLen: i32 = 0;
let uPort: i32 = 0;
let uPath: usize = 0;
let uPathLen: i32 = 0;
function splitUri(p: usize, n: i32): bool {
  if (!isCoaps(p, n) || !uriSplit(p, n, true)) return false;
  uHost = uriHost;
  uHostLen = uriHostLen;
  uPort = uriPort;
  uPath = uriPath;
  uPathLen = uriPathLen;
  if (uPathLen == 0) { uPath = WELL_KNOWN_EST; uPathLen = 15; }
  return true;
}

/** The Bootstrap-Server account's Security instance when its URI names host:port (an EST server
 *  there may be authenticated with that account's PSK, issue 8 §5); -1 otherwise. */
let estPskSec: i32 = -1;
function bootstrapServerAt(host: usize, hostLen: i32, port: i32): i32 {
  const bs = securityFind(0);
  if (bs < 0) return -1;
  const u = getBytes(SECURITY_OID, <u32>bs, Sec.Uri);
  if (!found || !isCoaps(u, valueLen) || !uriSplit(u, valueLen, true)) return -1;
  return uriHostLen == hostLen && uriPort == port && bytesEqual(uriHost, host, hostLen) ? bs : -1;
}

/** Nothing of the account's in flight on its CoAP endpoint (a request, a confirmable notification). */
function epIdle(ci: i32, first: i32): bool {
  for (let s = first; s < (ci == BS_CONN ? 1 : EP_SLOTS); s++) if (connEp(ci).slotBusy(s)) return false;
  return true;
}

/** Opens the DTLS channel to the EST server on connection ci (Channel.Pending or an error, logged). */
function estOpen(ci: i32, secIid: u32, host: usize, hostLen: i32, port: i32, now: i64, renewing: bool): i32 {
  if (estCi >= 0 && estCi != ci) {
    lb("EST: another enrolment runs; ssid=");
    lnum(conn(ci).ssid);
    ls(" waits");
    lwarn();
    return TransportError.Credentials;
  }
  if (hostLen <= 0 || hostLen > 255) return TransportError.Open;
  // the EST requests go out on the account's own CoAP endpoint: only while nothing of the
  // account's is in flight on it (the enrolment runs before the account registers)
  if (!epIdle(ci, 0)) {
    lb("EST: ssid=");
    lnum(conn(ci).ssid);
    ls(" has CoAP messages in flight; the enrolment waits for them");
    lwarn();
    return TransportError.Credentials;
  }
  estSec = secIid;
  estHost = host;
  estHostLen = hostLen;
  estPort = port;
  estRenewing = renewing;
  // where: the explicit EST URI, else the account's own server at /.well-known/est (RFC 9148 §5)
  if (estUriLen() > 0) {
    if (!splitUri(estUri(), estUriLen())) {
      lb("EST: the configured EST URI is not coaps://host[:port][/path]");
      lerror();
      return TransportError.Credentials;
    }
  } else {
    uHost = host; uHostLen = hostLen; uPort = port; uPath = WELL_KNOWN_EST; uPathLen = 15;
  }
  // the account's endpoint is lent to the enrolment from here: it holds the explicit EST trust
  // anchor during the handshake, then carries the EST requests (estBegin)
  connEpLend(ci, true);
  estPskSec = bootstrapServerAt(uHost, uHostLen, uPort);
  if (!configureEst(ci, secIid, renewing, uHost, uHostLen, changetype<usize>(connEp(ci)), estPskSec)) { estClose(ci); return TransportError.Credentials; }
  if (cfgOf(ci).pskLen == 0) estPskSec = -1;
  const peer = net_open(uHost, uHostLen, uPort);
  if (peer < 0) {
    lb("EST: cannot open ");
    lbytes(uHost, uHostLen);
    lerror();
    estClose(ci);
    return TransportError.Open;
  }
  setT(ci, KIND_DTLS, peer);
  estCi = ci;
  estRunning = false;
  lb("EST: ");
  ls(renewing ? "re-enrolment (/sren)" : "enrolment");
  ls(" for ssid=");
  lnum(conn(ci).ssid);
  ls(" at coaps://");
  lbytes(uHost, uHostLen);
  ls(":");
  lnum(uPort);
  ls("/");
  lbytes(uPath, uPathLen);
  linfo();
  const r = startHandshake(ci, now);
  if (r < 0) {
    net_close(peer);
    setT(ci, KIND_NONE, -1);
    estClose(ci);
  }
  return r;
}

/** The EST handshake completed: /crts first (the anchors the issued certificate must chain to).
 *  The EST client works in the handshake block (given back by the connection, pinned until the
 *  enrolment ends) and sends on the account's CoAP endpoint, 512-byte blocks both ways
 *  (RFC 7959 §2.2: the client chooses the Block2 size; the endpoint's messages hold 512). */
function estBegin(ci: i32, now: i64): void {
  let k = 0;
  while (k < POOL && !(holderOf(k) == ci && classOf(k) == BLOCK_EST)) k++;
  if (k == POOL) { estFailed(ci, now, -1); return; } // cannot happen: a mode-4 handshake takes a BLOCK_EST block
  dtlsOf(ci).returnHandshakeBuffers();
  estBlock = k;
  if (connEpReset(ci) != 0) { estFailed(ci, now, -1); return; } // the trust anchor out, the endpoint fresh
  estSzx1 = MAX_SZX;
  estSzx2 = MAX_SZX;
  if (estInit(changetype<usize>(blockAt(k)), uPath, uPathLen, connEp(ci), EP_NAME, epNameLen) != 0) { estFailed(ci, now, -1); return; }
  estRunning = true;
  // RFC 9148 §4.1: discovery when configured (est_configure kind 5), else the EST path at once
  estOp = estDiscover() ? EstOp.Discover : EstOp.Crts;
  estDone(ci, estStart(estOp, 0, clock_wall_seconds(), now), now);
  if (estCi == ci) estPump(ci, now);
}

/** EST CoAP datagrams out through DTLS; endpoint events into the EST client. */
function estPump(ci: i32, now: i64): void {
  const ep = connEp(ci);
  const d = dtlsOf(ci);
  for (let round = 0; round < 2 && estCi == ci; round++) {
    let n: i32;
    while ((n = ep.pollTransmit()) > 0) { d.sendApplicationData(ep.txPtr, n, now); flush(ci); }
    let ev: i32;
    while (estCi == ci && (ev = ep.pollEvent()) != CoapEvent.None) {
      if (ep.eventSlot != 0) continue;
      estSetWall(clock_wall_seconds()); // the answer is checked at the time it arrives
      if (ev == CoapEvent.Response) { if (estDone(ci, estOnResponse(now), now)) return; }
      else if (ev == CoapEvent.Timeout || ev == CoapEvent.Reset) { if (estDone(ci, estOnTransportError(ev), now)) return; }
    }
  }
}

/** One EST operation's result: the next step. True when the enrolment ended (ci replaced or failed). */
function estDone(ci: i32, r: i32, now: i64): bool {
  for (;;) {
    if (r == EST_PENDING) return false;
    let slot = 0;
    if (estOp == EstOp.Discover && r != EstError.Transport && r != EstError.GaveUp) {
      // a server that does not answer discovery (4.04 ...), answers it badly or lists no EST
      // resource: the EST path (/.well-known/est or the configured one) for every operation
      lb("EST: discovery ");
      if (r < 0) { ls("not answered ("); if (estLastCode >= 0 && (estLastCode >> 5) != 2) lcode(estLastCode); else lnum(r); ls(")"); }
      else { ls("listed "); lnum(estDiscovered); ls(" EST resources"); }
      ls("; the EST path for the others");
      linfo();
      estOp = EstOp.Crts;
    } else {
      // RFC 9148 §5: /att is optional; a server without it (4.04) gets a CSR without attributes
      if (r < 0 && estOp == EstOp.Att && estLastCode == CoapCode.NOT_FOUND) r = 0;
      if (r < 0) { estFailed(ci, now, estLastCode >= 0 && (estLastCode >> 5) >= 4 ? estLastCode : r); return true; }
      if (estOp == EstOp.Crts) {
        // RFC 7030 §4.5: the CSR attributes the server wants (subject fields, curve, hash), before
        // the CSR; what we cannot do (RSA, P-384, SHA-384 ...) ends the enrolment (AttUnsupported)
        estOp = EstOp.Att;
      } else if (estOp == EstOp.Att) {
        // the key: made in the SE (Sen, Sren), or by the server when so configured (Skg: imported
        // into the SE slot with se_import_p256 and wiped, est/client.ts)
        estOp = estRenewing ? EstOp.Sren : estServerKeygen() ? EstOp.Skg : EstOp.Sen;
        // issue 8 step 2/9: a fresh key in the slot not holding the current credential
        slot = estNextSlot();
      } else break;
    }
    r = estStart(estOp, slot, clock_wall_seconds(), now);
  }
  // step 7: checked by the EST client (key, chain, validity), installed in one store record
  const slot = estNextSlot();
  const wall = clock_wall_seconds();
  const st = estCredentialInstall(estCert, estCertLen, slot, wall, estCredBuf(), estCertWork());
  if (st < 0) {
    lb("EST: the issued certificate could not be installed, status ");
    lnum(st);
    lerror();
    estFailed(ci, now, st);
    return true;
  }
  estCredential(true);
  lb("EST: ");
  ls(estOp == EstOp.Sren ? "renewed" : "enrolled");
  ls(" ssid=");
  lnum(conn(ci).ssid);
  ls(", key in SE slot ");
  lnum(estCredSlot);
  ls(", certificate ");
  lnum(estCredLen());
  ls(" bytes installed");
  emit(ClientEvent.Enrolled, conn(ci).ssid, estOp == EstOp.Sren ? 1 : 0, lineText(), lineLen());
  linfo();
  if (estRenewalDue(clock_wall_seconds())) {
    // the new certificate is already past its renewal point (our clock runs ahead of the CA's?):
    // use it, and try again only after the back-off, never in a loop
    lb("EST: the new certificate is already past its renewal point; next attempt after the back-off");
    lwarn();
    estRetryAt = now + estBackoff;
    estBackoff = min(estBackoff << 1, EST_BACKOFF_MAX);
  } else {
    estBackoff = 60000;
    estRetryAt = 0;
  }
  estSwitch(ci, now);
  return true;
}

/** Closes the EST channel of ci (close_notify). */
function estClose(ci: i32): void {
  estRelease(ci);
  const d = dtlsOf(ci);
  if (kindOf(ci) == KIND_DTLS) {
    d.close(lastNow);
    flush(ci);
    d.reset();
    sessionOf(ci).clear();
    net_close(peerOf(ci));
  }
  setT(ci, KIND_NONE, -1);
}

/** Ends the enrolment's hold on ci's memory: the account's endpoint goes back to it as new
 *  (nothing of the EST exchange in flight or left in it), the work area is wiped and unpinned. */
function estRelease(ci: i32): void {
  if (connEpLent(ci)) {
    connEpReset(ci);
    connEpLend(ci, false);
  }
  if (estBlock >= 0) wipe(changetype<usize>(blockAt(estBlock)), EST_WORK_SIZE); // the CSR, answers: nothing left behind
  estBlock = -1;
  estCi = -1;
  estRunning = false;
}

/** EST-6: the channel to the LwM2M Server with the enrolled certificate (the client is told when it is up). */
function estSwitch(ci: i32, now: i64): void {
  estClose(ci);
  const r = open(ci, estSec, SecurityMode.CertificateWithEst, estHost, estHostLen, estPort, now);
  if (r < 0) clientTransportFailed(ci, now);
  else if (r == Channel.Up) clientTransportUp(ci, now);
}

/** The enrolment failed: the code in the event and the log (4.xx/5.xx as the server sent it). A renewal
 *  keeps the old certificate while it is valid and tries again after a back-off. */
function estFailed(ci: i32, now: i64, code: i32): void {
  lb("EST: ");
  ls(estRenewing ? "re-enrolment" : "enrolment");
  ls(" failed ssid=");
  lnum(conn(ci).ssid);
  if (code >= 0) { ls(", the EST server answered "); lcode(code); }
  else { ls(", status "); lnum(code); }
  emit(ClientEvent.EnrolFailed, conn(ci).ssid, code, lineText(), lineLen());
  lerror();
  estRetryAt = now + estBackoff;
  estBackoff = min(estBackoff << 1, EST_BACKOFF_MAX);
  if (estRenewing && estCredValid(clock_wall_seconds())) {
    lb("EST: keeping the current certificate until it expires");
    lwarn();
    estSwitch(ci, now); // the channel with the current certificate (the back-off above holds it there)
    return;
  }
  estClose(ci);
  clientTransportFailed(ci, now);
}

/**
 * Before deep sleep / power-off (host ABI prepare_sleep): every DTLS connection
 * ends with close_notify (RFC 5246 7.2.1; the session stays resumable and is
 * already sealed in the store), RAM keys wiped. The host power-cycles the
 * module afterwards; at wake the client resumes the stored sessions.
 */
export function transportSleep(now: i64): void {
  lastNow = now;
  for (let i = 0; i < MAX_CONNS; i++) {
    if (kindOf(i) != KIND_DTLS) continue;
    const d = dtlsOf(i);
    if (sleepMode == SleepMode.Keep && estCi != i && d.state == ConnState.Established) {
      // LPWA-1: the connection sealed (keys wiped from RAM), no close_notify: the wake sends with no handshake
      const r = keepSave(i, d, <u32>conn(i).secIid, now);
      if (r >= 0) {
        lb("DTLS: ssid=");
        lnum(conn(i).ssid);
        ls(": connection kept in the sealed store for the wake");
        linfo();
        d.reset();
        sessionOf(i).clear();
        wipePsk(i);
        net_close(peerOf(i));
        setT(i, KIND_NONE, -1);
        continue;
      }
      lb("DTLS: ssid=");
      lnum(conn(i).ssid);
      ls(": connection not kept, status ");
      lnum(r);
      lwarn();
    }
    close(i);
    if (sleepMode == SleepMode.Full) sessionDiscard(i); // a full handshake at wake
  }
}
