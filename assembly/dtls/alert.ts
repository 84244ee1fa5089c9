// Alerts (RFC 5246 7.2, RFC 6347 4.1.2.7) and the precise internal reasons
// a connection reports. Every failure carries one DtlsError reason; the alert
// sent to the peer (if any) is derived from it by alertFor().

export namespace AlertLevel {
  export const Warning: u8 = 1;
  export const Fatal: u8 = 2;
}

/** RFC 5246 7.2 AlertDescription (+ RFC 4279 unknown_psk_identity). */
export namespace AlertDescription {
  export const close_notify: u8 = 0;
  export const unexpected_message: u8 = 10;
  export const bad_record_mac: u8 = 20;
  export const record_overflow: u8 = 22;
  export const handshake_failure: u8 = 40;
  export const bad_certificate: u8 = 42;
  export const unsupported_certificate: u8 = 43;
  export const certificate_expired: u8 = 45;
  export const certificate_unknown: u8 = 46;
  export const illegal_parameter: u8 = 47;
  export const unknown_ca: u8 = 48;
  export const access_denied: u8 = 49;
  export const decode_error: u8 = 50;
  export const decrypt_error: u8 = 51;
  export const protocol_version: u8 = 70;
  export const insufficient_security: u8 = 71;
  export const internal_error: u8 = 80;
  export const no_renegotiation: u8 = 100;
  export const unsupported_extension: u8 = 110;
  export const unknown_psk_identity: u8 = 115;
}

/** Events a connection reports through pollEvent(). */
export namespace DtlsEvent {
  export const None: i32 = 0;
  export const HandshakeComplete: i32 = 1;
  /** Plaintext at appDataPtr()/appDataLen(), valid until the next call into the connection. */
  export const ApplicationData: i32 = 2;
  /** The peer sent an alert; its description is in eventReason() (>= 0). */
  export const AlertReceived: i32 = 3;
  /** We sent an alert; eventReason() is the DtlsError that caused it. */
  export const AlertSent: i32 = 4;
  /** The connection is over; eventReason() says why (DtlsError). */
  export const Closed: i32 = 5;
  /** Server: the client's PSK identity is at appDataPtr()/appDataLen(); answer with serverSupplyPsk() (server.ts). */
  export const PskIdentity: i32 = 6;
}

/** Precise reasons (negative). Names say what happened, comments where the rule comes from. */
export namespace DtlsError {
  export const None: i32 = 0;
  // ---- API use and local policy (nothing is sent) ----
  export const BadState: i32 = -1; // call not valid in the connection's state
  export const Busy: i32 = -2; // drain pollTransmit() first
  export const TooLarge: i32 = -3; // data longer than one record may carry (MFL)
  export const Config: i32 = -4; // configuration incomplete or inconsistent
  export const Rng: i32 = -5; // DRBG unhealthy (EST-2): no randoms, no handshake
  export const LowEntropyPsk: i32 = -6; // DTLS-3: a low-entropy PSK with a plain PSK suite
  export const NoSuites: i32 = -7; // no suite enabled for the configured credentials
  export const BufferTooSmall: i32 = -8; // an outgoing message does not fit the configured buffers
  export const SeFailure: i32 = -9; // the secure element refused (ECDH, sign, keygen)
  // ---- the peer broke the protocol (a fatal alert is sent) ----
  export const Decode: i32 = -20; // malformed message (decode_error)
  export const UnexpectedMessage: i32 = -21; // message out of order
  export const ProtocolVersion: i32 = -22; // below DTLS 1.2 (0xFEFD)
  export const SuiteNotOffered: i32 = -23; // server chose a suite we did not offer
  export const Compression: i32 = -24; // compression other than null
  export const ExtensionNotOffered: i32 = -25; // RFC 5246 7.4.1.4: unsolicited extension
  export const IllegalExtension: i32 = -26; // duplicate or malformed extension content
  export const RenegotiationInfo: i32 = -27; // RFC 5746 3.4: renegotiated_connection not empty
  export const ExtendedMasterSecret: i32 = -28; // RFC 7627 5.3: resumption without EMS
  export const ResumptionMismatch: i32 = -29; // resumed session with another suite
  export const MessageTooLarge: i32 = -30; // a handshake message above the reassembly buffer
  export const TooManyHelloVerify: i32 = -31; // HelloVerifyRequest loop
  export const UnsupportedCurve: i32 = -32; // DTLS-7: not secp256r1
  export const BadPoint: i32 = -33; // not an uncompressed P-256 point
  export const UnsupportedSignature: i32 = -34; // DTLS-7: not ecdsa_secp256r1_sha256
  export const BadSignature: i32 = -35; // ServerKeyExchange signature does not verify
  export const FinishedMismatch: i32 = -36; // RFC 5246 7.4.9 verify_data differs
  export const BadCertificate: i32 = -37; // chain rejected; the x509 reason is in detail()
  export const RpkMismatch: i32 = -38; // DTLS-4: server RPK differs from the configured key
  export const PeerUsesOwnKey: i32 = -39; // DTLS-8: server key equals our own key
  export const NoRenegotiation: i32 = -40; // RFC 5746 / DTLS-9: renegotiation refused
  export const CertificateType: i32 = -41; // RFC 7250 type not offered
  export const MissingExtension: i32 = -42; // an extension the negotiated mode requires
  export const RecordOverflow: i32 = -43; // record longer than the negotiated MFL / 2^14
  export const UnknownCertificateType: i32 = -44; // CertificateRequest without ecdsa_sign
  // ---- server role ----
  export const UnknownPskIdentity: i32 = -45; // RFC 4279 2: no key for the client's PSK identity
  export const NoCommonSuite: i32 = -46; // no offered suite is enabled and usable with our credentials
  export const PeerCertificateMissing: i32 = -47; // RFC 5246 7.4.6: client authentication required, none sent
  export const HandshakeDecrypt: i32 = -48; // the client's Finished record failed authentication (PSK / key mismatch)
  // ---- runtime ----
  export const Timeout: i32 = -50; // RFC 6347 4.2.4: retransmissions exhausted
  export const FinishedTimeout: i32 = -51; // no answer to our Finished: the peer could not decrypt it (PSK/key mismatch)
  export const PeerAlert: i32 = -52; // peer sent a fatal alert (alertReceived())
  export const PeerClosed: i32 = -53; // peer sent close_notify
  export const AuthFailureLimit: i32 = -54; // DTLS-10: too many records failed authentication
  export const RecordLimit: i32 = -55; // DTLS-10: record sequence number limit reached
  export const SessionAge: i32 = -56; // DTLS-10: session age limit reached
  export const LocalClose: i32 = -57; // close() was called
}

/** No alert for this reason (a local failure, or the peer's own alert / silence). */
const NONE: u8 = 0xff;
// The alert each DtlsError sends (RFC 5246 7.2.2), indexed by -reason, 0..-57.
const ALERT_FOR = memory.data<u8>([
  NONE,                                      // 0 None
  NONE,                                      // -1 BadState
  NONE,                                      // -2 Busy
  NONE,                                      // -3 TooLarge
  NONE,                                      // -4 Config
  AlertDescription.internal_error,           // -5 Rng
  NONE,                                      // -6 LowEntropyPsk
  NONE,                                      // -7 NoSuites
  AlertDescription.internal_error,           // -8 BufferTooSmall
  AlertDescription.internal_error,           // -9 SeFailure
  NONE,                                      // -10 (unused)
  NONE,                                      // -11 (unused)
  NONE,                                      // -12 (unused)
  NONE,                                      // -13 (unused)
  NONE,                                      // -14 (unused)
  NONE,                                      // -15 (unused)
  NONE,                                      // -16 (unused)
  NONE,                                      // -17 (unused)
  NONE,                                      // -18 (unused)
  NONE,                                      // -19 (unused)
  AlertDescription.decode_error,             // -20 Decode
  AlertDescription.unexpected_message,       // -21 UnexpectedMessage
  AlertDescription.protocol_version,         // -22 ProtocolVersion
  AlertDescription.illegal_parameter,        // -23 SuiteNotOffered
  AlertDescription.illegal_parameter,        // -24 Compression
  AlertDescription.unsupported_extension,    // -25 ExtensionNotOffered
  AlertDescription.decode_error,             // -26 IllegalExtension
  AlertDescription.handshake_failure,        // -27 RenegotiationInfo
  AlertDescription.handshake_failure,        // -28 ExtendedMasterSecret
  AlertDescription.illegal_parameter,        // -29 ResumptionMismatch
  AlertDescription.internal_error,           // -30 MessageTooLarge
  AlertDescription.unexpected_message,       // -31 TooManyHelloVerify
  AlertDescription.illegal_parameter,        // -32 UnsupportedCurve
  AlertDescription.illegal_parameter,        // -33 BadPoint
  AlertDescription.illegal_parameter,        // -34 UnsupportedSignature
  AlertDescription.decrypt_error,            // -35 BadSignature
  AlertDescription.decrypt_error,            // -36 FinishedMismatch
  AlertDescription.bad_certificate,          // -37 BadCertificate
  AlertDescription.bad_certificate,          // -38 RpkMismatch
  AlertDescription.bad_certificate,          // -39 PeerUsesOwnKey
  AlertDescription.no_renegotiation,         // -40 NoRenegotiation
  AlertDescription.illegal_parameter,        // -41 CertificateType
  AlertDescription.handshake_failure,        // -42 MissingExtension
  AlertDescription.record_overflow,          // -43 RecordOverflow
  AlertDescription.unsupported_certificate,  // -44 UnknownCertificateType
  AlertDescription.unknown_psk_identity,     // -45 UnknownPskIdentity
  AlertDescription.handshake_failure,        // -46 NoCommonSuite
  AlertDescription.handshake_failure,        // -47 PeerCertificateMissing
  AlertDescription.bad_record_mac,           // -48 HandshakeDecrypt
  NONE,                                      // -49 (unused)
  NONE,                                      // -50 Timeout
  NONE,                                      // -51 FinishedTimeout
  NONE,                                      // -52 PeerAlert
  AlertDescription.close_notify,             // -53 PeerClosed
  AlertDescription.bad_record_mac,           // -54 AuthFailureLimit
  AlertDescription.close_notify,             // -55 RecordLimit
  AlertDescription.close_notify,             // -56 SessionAge
  AlertDescription.close_notify,             // -57 LocalClose
]);

/** The alert for a failure, or -1 for none. */
export function alertFor(reason: i32): i32 {
  if (reason > 0 || reason < -57) return -1;
  const a = load<u8>(ALERT_FOR + <usize>(-reason));
  return a == NONE ? -1 : <i32>a;
}
