// Per-account transports of the LwM2M client (the seam between the client's
// connections and the host's `net` service). A connection's channel is chosen
// by the Security Mode of its account (Security resource 2):
//   3 NoSec       -> CoAP datagrams straight to net_send / from
//                    datagram_received; allowed only when the account says
//                    mode 3 explicitly, and reported loudly (DTLS-11);
//   0 PSK, 1 RPK, 2 Certificate, 4 Certificate with EST
//                 -> CoAP inside a DTLS 1.2 connection (DTLS-1). The DTLS
//                    client is not wired in yet: opening such a channel
//                    fails with TransportError.SecureUnavailable. The hooks
//                    for it are marked "DTLS:" below — only this file
//                    changes when it lands (the client sees
//                    TRANSPORT_PENDING, then clientTransportUp /
//                    clientTransportFailed, and CoAP messages in and out).
import { net_open, net_close, net_send } from "../host/abi";
import { setTransport, conn, MAX_CONNS, TRANSPORT_UP } from "../lwm2m/client/conn";
import { clientDatagram } from "../lwm2m/client/client";
import { SecurityMode } from "../lwm2m/objects/security";
import { emit, ClientEvent, lb, ls, lbytes, lnum, lwarn, lerror, lineText, lineLen } from "../lwm2m/client/events";

export namespace TransportError {
  /** Security Mode 0/1/2/4: needs DTLS, which is not available in this build yet. */
  export const SecureUnavailable: i32 = -100;
  /** net_open refused the peer (bad host, no socket). */
  export const Open: i32 = -101;
  /** Security Mode absent or unknown: never falls back to NoSec (DTLS-11). */
  export const Mode: i32 = -102;
}

const KIND_NONE: i32 = 0;
const KIND_NOSEC: i32 = 1;
const KIND_DTLS: i32 = 2;

// per connection: kind i32, peer i32
const T = memory.data(8 * 3, 4);
function kindOf(ci: i32): i32 { return load<i32>(T + <usize>(ci << 3)); }
function peerOf(ci: i32): i32 { return load<i32>(T + <usize>(ci << 3), 4); }
function setT(ci: i32, kind: i32, peer: i32): void {
  store<i32>(T + <usize>(ci << 3), kind);
  store<i32>(T + <usize>(ci << 3), peer, 4);
}

function open(ci: i32, secIid: u32, mode: i32, host: usize, hostLen: i32, port: i32, now: i64): i32 {
  if (mode == SecurityMode.NoSec) {
    const peer = net_open(host, hostLen, port);
    if (peer < 0) {
      lb("transport: cannot open ");
      lbytes(host, hostLen);
      lerror();
      return TransportError.Open;
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
  if (mode == SecurityMode.PSK || mode == SecurityMode.RPK || mode == SecurityMode.Certificate
      || mode == SecurityMode.CertificateWithEst) {
    // DTLS: setT(ci, KIND_DTLS, net_open(host, hostLen, port)); a DtlsConnection (assembly/dtls/
    // connection.ts) per connection, configured from the account: PSK identity = resource 3 and the
    // PSK from keyLoad(securityKeyHandle(secIid)) (wiped after the handshake), or the SE slot
    // keySlot(handle) + own key / certificate (3) + server key / trust anchor (4); then connect(now)
    // and return TRANSPORT_PENDING.
    lb("transport: secure transport not yet available (Security Mode ");
    lnum(mode);
    ls(" needs DTLS) for ");
    lbytes(host, hostLen);
    lerror();
    return TransportError.SecureUnavailable;
  }
  lb("transport: refused, Security Mode ");
  lnum(mode);
  ls(" is not a mode (NoSec is never assumed)");
  lerror();
  return TransportError.Mode;
}

function send(ci: i32, p: usize, n: i32): i32 {
  const k = kindOf(ci);
  if (k == KIND_NOSEC) return net_send(peerOf(ci), p, n);
  // DTLS: dtls.sendApplicationData(p, n, now), then net_send every dtls.pollTransmit() record.
  return -1;
}

function close(ci: i32): void {
  if (kindOf(ci) != KIND_NONE) net_close(peerOf(ci));
  // DTLS: close_notify first, and keep the session for resumption (DTLS-10).
  setT(ci, KIND_NONE, -1);
}

export function transportInit(): void {
  for (let i = 0; i < MAX_CONNS; i++) setT(i, KIND_NONE, -1);
  setTransport(open, send, close);
}

/** A datagram from host peer `peer`: to the connection that owns it. False when no connection does (dropped). */
export function transportDatagram(peer: i32, p: usize, len: i32, now: i64): bool {
  for (let i = 0; i < MAX_CONNS; i++) {
    const k = kindOf(i);
    if (k == KIND_NONE || peerOf(i) != peer) continue;
    if (k == KIND_NOSEC) clientDatagram(i, p, len, now);
    // DTLS: dtls.handleDatagram(p, len, now); then per dtls.pollEvent(): application data ->
    // clientDatagram(i, data, n, now); established -> clientTransportUp(i, now); fatal alert / closed ->
    // clientTransportFailed(i, now); and net_send what dtls.pollTransmit() gives.
    return true;
  }
  return false;
}

/** DTLS retransmission timers (none yet; DTLS: the earliest dtls.nextDeadline(), and a transportTimer(now)
 *  that runs dtls.handleTimeout for each connection from timer_fired). */
export function transportDeadline(): i64 { return -1; }

/** Whether connection ci's channel is plain (NoSec). */
export function transportIsNoSec(ci: i32): bool { return kindOf(ci) == KIND_NOSEC; }
