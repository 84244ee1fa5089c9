// What LwM2M operations (operations.ts) are asked and answer: the caller,
// the CoAP method, the response code, and the response value.

/** Who is asking. LwM2M Servers are identified by their Short Server ID (>= 1). */
export namespace Caller {
  export const Bootstrap: i32 = -1;
  export const Factory: i32 = -2;
}

/** CoAP request methods (RFC 7252 §12.1.1). */
export namespace Method {
  export const GET: i32 = 1;
  export const POST: i32 = 2;
  export const PUT: i32 = 3;
  export const DELETE: i32 = 4;
}

/** Response codes (RFC 7252 §12.1.2: class << 5 | detail), as the CoAP layer's CoapCode. */
export namespace Code {
  export const CREATED: i32 = 0x41; // 2.01
  export const DELETED: i32 = 0x42; // 2.02
  export const CHANGED: i32 = 0x44; // 2.04
  export const CONTENT: i32 = 0x45; // 2.05
  export const BAD_REQUEST: i32 = 0x80; // 4.00
  export const UNAUTHORIZED: i32 = 0x81; // 4.01
  export const NOT_FOUND: i32 = 0x84; // 4.04
  export const METHOD_NOT_ALLOWED: i32 = 0x85; // 4.05
  export const NOT_ACCEPTABLE: i32 = 0x86; // 4.06
  export const REQUEST_ENTITY_TOO_LARGE: i32 = 0x8d; // 4.13
  export const UNSUPPORTED_CONTENT_FORMAT: i32 = 0x8f; // 4.15
  export const INTERNAL_SERVER_ERROR: i32 = 0xa0; // 5.00
}

/** No Content-Format / Accept option. */
export const NO_FORMAT: i32 = -1;

/**
 * What an operation answered: the response code; `length` bytes of payload
 * in the caller's `out`, in Content-Format `format` (NO_FORMAT: none); after
 * a Create, the new instance's id for Location-Path (-1 otherwise).
 */
@unmanaged
export class LwResponse {
  code: i32 = 0;
  length: i32 = 0;
  format: i32 = NO_FORMAT;
  createdId: i32 = -1;
}
