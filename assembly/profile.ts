// The build profile (issue 11): compile-time flags and capacities. The
// profiles and what each flag removes are listed in /profiles.json;
// scripts/build.mjs passes them as asc `--use NAME=1` / `--use NAME=value`.
// Without them (a test entry, asc run by hand) this is the `full` profile:
// the fallbacks below equal profiles.json's defaults (test/profiles.test.ts).
// Every flag and capacity is a compile-time constant, so code behind
// `if (!HAS_X)` folds away. Leaf module: imports nothing.

// ---- features (false = compiled out) ----
// @ts-ignore: compile-time builtin
export const HAS_X509: bool = !isDefined(PROFILE_NO_X509);
// @ts-ignore: compile-time builtin
export const HAS_RPK: bool = !isDefined(PROFILE_NO_RPK);
/** The ECDHE-ECDSA suites: needed by RPK or X.509. */
export const HAS_ECDSA: bool = HAS_X509 || HAS_RPK;
// @ts-ignore: compile-time builtin
export const HAS_EST: bool = !isDefined(PROFILE_NO_EST) && HAS_X509;
// @ts-ignore: compile-time builtin
export const HAS_SENML_JSON: bool = !isDefined(PROFILE_NO_SENML_JSON);

// ---- capacities (profiles.json "capacities": the floor and its reason there) ----
export namespace Cap {
  /** LwM2M Server accounts (Core 6.2: at least 1). */
  // @ts-ignore: compile-time builtin
  export const SERVERS: i32 = isDefined(CAP_SERVERS) ? CAP_SERVERS : 2;
  /** Security /0/x/0 URI (Core E.1: 0-255 bytes). */
  // @ts-ignore: compile-time builtin
  export const URI: i32 = isDefined(CAP_URI) ? CAP_URI : 255;
  /** Security /0/x/3 (PSK identity >= 128, RFC 7925 4.2; RPK; DER certificate). */
  // @ts-ignore: compile-time builtin
  export const PUBLIC_KEY: i32 = isDefined(CAP_PUBLIC_KEY) ? CAP_PUBLIC_KEY : 512;
  /** Security /0/x/4 (unused in PSK mode). */
  // @ts-ignore: compile-time builtin
  export const SERVER_KEY: i32 = isDefined(CAP_SERVER_KEY) ? CAP_SERVER_KEY : 512;
  /** Security /0/x/5 (PSK <= 64; P-256 key as PKCS#8 160). */
  // @ts-ignore: compile-time builtin
  export const SECRET_KEY: i32 = isDefined(CAP_SECRET_KEY) ? CAP_SECRET_KEY : 160;
  /** Bytes for every Object's instances (lwm2m/model.ts). */
  // @ts-ignore: compile-time builtin
  export const MODEL_ARENA: i32 = isDefined(CAP_MODEL_ARENA) ? CAP_MODEL_ARENA : 11392;
  /** A whole representation (lwm2m/client/conn.ts REPR). */
  // @ts-ignore: compile-time builtin
  export const REPR: i32 = isDefined(CAP_REPR) ? CAP_REPR : 4096;
  /** A Block1 upload (lwm2m/client/requests.ts). */
  // @ts-ignore: compile-time builtin
  export const UPLOAD: i32 = isDefined(CAP_UPLOAD) ? CAP_UPLOAD : 2048;
  /** Largest CoAP message per transmit slot. */
  // @ts-ignore: compile-time builtin
  export const COAP_MSG: i32 = isDefined(CAP_COAP_MSG) ? CAP_COAP_MSG : 640;
  /** Block size exponent served and accepted (RFC 7959 2.2). */
  // @ts-ignore: compile-time builtin
  export const COAP_SZX: i32 = isDefined(CAP_COAP_SZX) ? CAP_COAP_SZX : 5;
  /** Transmit slots of an LwM2M Server endpoint. */
  // @ts-ignore: compile-time builtin
  export const COAP_EXCHANGES: i32 = isDefined(CAP_COAP_EXCHANGES) ? CAP_COAP_EXCHANGES : 3;
  /** Deduplication entries per endpoint (RFC 7252 4.5). */
  // @ts-ignore: compile-time builtin
  export const COAP_DEDUP: i32 = isDefined(CAP_COAP_DEDUP) ? CAP_COAP_DEDUP : 8;
  /** Observations per LwM2M Server. */
  // @ts-ignore: compile-time builtin
  export const OBSERVATIONS: i32 = isDefined(CAP_OBSERVATIONS) ? CAP_OBSERVATIONS : 4;
  /** Largest value of a store record; its buffer is also the DTLS transmit buffer (storage/store.ts). */
  // @ts-ignore: compile-time builtin
  export const STORE_VALUE: i32 = isDefined(CAP_STORE_VALUE) ? CAP_STORE_VALUE : 2048;
  /** Write-Attributes entries (lwm2m/attributes.ts), all servers together. */
  // @ts-ignore: compile-time builtin
  export const ATTRIBUTES: i32 = isDefined(CAP_ATTRIBUTES) ? CAP_ATTRIBUTES : 16;
  /** Host event ring entries (a power of two). */
  // @ts-ignore: compile-time builtin
  export const EVENTS: i32 = isDefined(CAP_EVENTS) ? CAP_EVENTS : 16;
}
