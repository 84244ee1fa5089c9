// The handshake message order of DTLS 1.2 (RFC 5246 7.3, RFC 6347 4.2.4) as
// data: for each state, the messages the peer may send next, and the state
// each one leads to, by suite class. connection.ts looks every received
// handshake message (and ChangeCipherSpec) up here before its handler runs,
// and moves to the row's next state; a message without a row is
// unexpected_message. Handlers add no order checks of their own; the few
// transitions that depend on a message's contents are listed below the table.
import { HandshakeType } from "./handshake";
import { SuiteBit } from "./suites";
import { DtlsError } from "./alert";
import { DTLS_SERVER_ROLE } from "./config";

export namespace ConnState {
  export const Idle: u8 = 0;
  /** Client: ClientHello sent, waiting for HelloVerifyRequest or ServerHello. */
  export const WaitServerHello: u8 = 1;
  /** Client, full handshake: ServerHello received, the first message of the rest of the server's flight next. */
  export const WaitServerFlight: u8 = 2;
  /** Waiting for the peer's ChangeCipherSpec (and a NewSessionTicket before it). */
  export const WaitChangeCipherSpec: u8 = 3;
  /** ChangeCipherSpec received, waiting for the peer's Finished. */
  export const WaitFinished: u8 = 4;
  export const Established: u8 = 5;
  export const Closed: u8 = 6;
  /** Client, ECDSA: the server's Certificate received, its ServerKeyExchange next. */
  export const WaitServerKeyExchange: u8 = 7;
  /** Client, ECDSA: ServerKeyExchange received, CertificateRequest or ServerHelloDone next. */
  export const WaitCertificateRequest: u8 = 8;
  /** Client: ServerHelloDone next. */
  export const WaitServerHelloDone: u8 = 9;
  // ---- server role ----
  /** Server: ServerHello flight sent; waiting for the ClientKeyExchange. */
  export const WaitClientKeyExchange: u8 = 16;
  /** Server: the client's PSK identity is with the host (DtlsEvent.PskIdentity); supplyPsk() continues. */
  export const NeedPsk: u8 = 17;
  /** Server: client Certificate and ClientKeyExchange received; waiting for CertificateVerify. */
  export const WaitCertificateVerify: u8 = 18;
  /** Server: ServerHello flight with a CertificateRequest sent; waiting for the client's Certificate. */
  export const WaitClientCertificate: u8 = 19;
}

/** Client states of the server's first flight (before our ClientKeyExchange). */
export function beforeKeyExchange(state: i32): bool {
  return state == ConnState.WaitServerHello || state == ConnState.WaitServerFlight ||
    <u32>(state - ConnState.WaitServerKeyExchange) <= <u32>(ConnState.WaitServerHelloDone - ConnState.WaitServerKeyExchange);
}

/** Suite classes: the columns of the table (bits, so that a row names several). */
export namespace SuiteClass {
  /** No suite chosen yet (before ServerHello). */
  export const None: u8 = 1;
  /** PSK without ECDHE (RFC 4279 2, RFC 6655): ServerKeyExchange only with a hint. */
  export const Psk: u8 = 2;
  /** ECDHE_PSK (RFC 5489). */
  export const EcdhePsk: u8 = 4;
  /** ECDHE_ECDSA (RFC 8422), server authentication only. */
  export const Ecdsa: u8 = 8;
  /** ECDHE_ECDSA with a CertificateRequest (the server role's view: client authentication required). */
  export const EcdsaMutual: u8 = 16;
  export const AnyEcdsa: u8 = Ecdsa | EcdsaMutual;
  export const Any: u8 = None | Psk | EcdhePsk | Ecdsa | EcdsaMutual;
}

export function suiteClass(suite: u32, certRequested: bool): i32 {
  if (suite == 0) return SuiteClass.None;
  if (suite & SuiteBit.Ecdsa) return certRequested ? SuiteClass.EcdsaMutual : SuiteClass.Ecdsa;
  return (suite & SuiteBit.Ecdhe) != 0 ? SuiteClass.EcdhePsk : SuiteClass.Psk;
}

/** ChangeCipherSpec is a record, not a handshake message: its row uses this
 *  type, outside the HandshakeType range. */
export const CHANGE_CIPHER_SPEC: u8 = 0xff;

// One row (a byte each): state, suite classes, message, next state or REFUSED. The server's rows are a table
// of their own, so that a client-only build (DTLS_CLIENT_ONLY) does not carry them.
const ROW: i32 = 4;
/** Next "state" of a message that is recognised there but refused: RFC 5246
 *  7.4.6, a ClientKeyExchange without the Certificate the server asked for. */
const REFUSED: u8 = 0xfe;
const CLIENT_ORDER = memory.data<u8>([
  // ---- client (RFC 5246 7.3 figure 1; RFC 6347 4.2.1) ----
  ConnState.WaitServerHello,          SuiteClass.Any,                        HandshakeType.hello_verify_request,   ConnState.WaitServerHello,
  ConnState.WaitServerHello,          SuiteClass.Any,                        HandshakeType.server_hello,           ConnState.WaitServerFlight,
  ConnState.WaitServerFlight,         SuiteClass.AnyEcdsa,                   HandshakeType.certificate,            ConnState.WaitServerKeyExchange,
  ConnState.WaitServerFlight,         SuiteClass.Psk | SuiteClass.EcdhePsk,  HandshakeType.server_key_exchange,    ConnState.WaitServerHelloDone,
  // RFC 4279 2: a plain PSK server sends a ServerKeyExchange only with a hint
  ConnState.WaitServerFlight,         SuiteClass.Psk,                        HandshakeType.server_hello_done,      ConnState.WaitChangeCipherSpec,
  ConnState.WaitServerKeyExchange,    SuiteClass.AnyEcdsa,                   HandshakeType.server_key_exchange,    ConnState.WaitCertificateRequest,
  ConnState.WaitCertificateRequest,   SuiteClass.AnyEcdsa,                   HandshakeType.certificate_request,    ConnState.WaitServerHelloDone,
  ConnState.WaitCertificateRequest,   SuiteClass.AnyEcdsa,                   HandshakeType.server_hello_done,      ConnState.WaitChangeCipherSpec,
  ConnState.WaitServerHelloDone,      SuiteClass.Any,                        HandshakeType.server_hello_done,      ConnState.WaitChangeCipherSpec,
  // RFC 5077 3.3: a promised NewSessionTicket comes before the ChangeCipherSpec
  ConnState.WaitChangeCipherSpec,     SuiteClass.Any,                        HandshakeType.new_session_ticket,     ConnState.WaitChangeCipherSpec,
  // ---- both roles: the end of every handshake ----
  ConnState.WaitChangeCipherSpec,     SuiteClass.Any,                        CHANGE_CIPHER_SPEC,                   ConnState.WaitFinished,
  ConnState.WaitFinished,             SuiteClass.Any,                        HandshakeType.finished,               ConnState.Established,
]);
const CLIENT_ROWS: i32 = 12;
// @ts-ignore: decorator
@lazy const SERVER_ORDER = memory.data<u8>([
  // ---- server (the client's second flight) ----
  // RFC 5246 7.4.6: the client's Certificate first when one was requested
  ConnState.WaitClientCertificate,    SuiteClass.EcdsaMutual,                HandshakeType.certificate,            ConnState.WaitClientKeyExchange,
  ConnState.WaitClientCertificate,    SuiteClass.EcdsaMutual,                HandshakeType.client_key_exchange,    REFUSED,
  ConnState.WaitClientKeyExchange,    SuiteClass.Psk | SuiteClass.EcdhePsk | SuiteClass.Ecdsa, HandshakeType.client_key_exchange,    ConnState.WaitChangeCipherSpec,
  ConnState.WaitClientKeyExchange,    SuiteClass.EcdsaMutual,                HandshakeType.client_key_exchange,    ConnState.WaitCertificateVerify,
  ConnState.WaitCertificateVerify,    SuiteClass.EcdsaMutual,                HandshakeType.certificate_verify,     ConnState.WaitChangeCipherSpec,
  // ---- both roles: the end of every handshake ----
  ConnState.WaitChangeCipherSpec,     SuiteClass.Any,                        CHANGE_CIPHER_SPEC,                   ConnState.WaitFinished,
  ConnState.WaitFinished,             SuiteClass.Any,                        HandshakeType.finished,               ConnState.Established,
]);
const SERVER_ROWS: i32 = 7;
// Transitions that depend on a message's contents, made by its handler:
// - ServerHello that resumes our session (RFC 5246 7.3 figure 2): WaitChangeCipherSpec.
// - The server's ClientHello (accept()): WaitClientCertificate when it requests a
//   certificate, WaitClientKeyExchange otherwise, WaitChangeCipherSpec when it resumes.
// - ClientKeyExchange with a PSK identity the host looks up: NeedPsk, then
//   supplyPsk() goes on to WaitChangeCipherSpec.
// - NewSessionTicket only when the ServerHello promised one, once (RFC 5077 3.3),
//   and the ChangeCipherSpec only after it.

/** The state after `type` in `state` for this suite class: >= 0 a state, < 0 a
 *  DtlsError (UnexpectedMessage when the table has no row). */
export function nextState(state: i32, cls: i32, type: i32, server: bool): i32 {
  const srv = DTLS_SERVER_ROLE && server;
  const t = srv ? SERVER_ORDER : CLIENT_ORDER;
  const end = t + <usize>((srv ? SERVER_ROWS : CLIENT_ROWS) * ROW);
  for (let r = t; r < end; r += ROW) {
    if (<i32>load<u8>(r) == state && (<i32>load<u8>(r, 1) & cls) != 0 && <i32>load<u8>(r, 2) == type) {
      const next = <i32>load<u8>(r, 3);
      return srv && next == REFUSED ? DtlsError.PeerCertificateMissing : next;
    }
  }
  return DtlsError.UnexpectedMessage;
}
