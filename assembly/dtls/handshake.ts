// DTLS handshake message framing (RFC 6347 4.2.2): the 12-byte header with
// message_seq / fragment_offset / fragment_length, and reassembly of one
// message from fragments that may arrive out of order, overlapping or
// duplicated (RFC 6347 4.2.3).
//
//   struct { HandshakeType msg_type; uint24 length; uint16 message_seq;
//            uint24 fragment_offset; uint24 fragment_length; body } Handshake;
import { storeBe16, storeBe24 } from "../util/bytes";

export const HS_HEADER_LEN: i32 = 12;

/** RFC 5246 7.4 / RFC 6347 4.3.2 / RFC 5077 3.3 HandshakeType. */
export namespace HandshakeType {
  export const hello_request: u8 = 0;
  export const client_hello: u8 = 1;
  export const server_hello: u8 = 2;
  export const hello_verify_request: u8 = 3;
  export const new_session_ticket: u8 = 4;
  export const certificate: u8 = 11;
  export const server_key_exchange: u8 = 12;
  export const certificate_request: u8 = 13;
  export const server_hello_done: u8 = 14;
  export const certificate_verify: u8 = 15;
  export const client_key_exchange: u8 = 16;
  export const finished: u8 = 20;
}

/** Header of an unfragmented message (fragment_offset 0, fragment_length = length):
 *  the form that enters the transcript hash (RFC 6347 4.2.6). */
export function writeHandshakeHeader(p: usize, type: u8, length: i32, seq: u32): void {
  store<u8>(p, type);
  storeBe24(p + 1, <u32>length);
  storeBe16(p + 4, seq);
  storeBe24(p + 6, 0);
  storeBe24(p + 9, <u32>length);
}

/** Reassembles one handshake message into a caller-owned buffer of
 *  HS_HEADER_LEN + capacity bytes plus a bitmap of (capacity + 7) / 8 bytes
 *  (one bit per body byte received). */
@final
export class HandshakeReassembler {
  /** The message: a 12-byte unfragmented header, then the body. */
  buf: usize;
  capacity: i32;
  bitmap: usize;
  active: bool = false;
  type: u8 = 0;
  length: i32 = 0;
  received: i32 = 0;

  constructor(buf: usize, capacity: i32, bitmap: usize) {
    this.buf = buf;
    this.capacity = capacity;
    this.bitmap = bitmap;
  }

  reset(): void {
    if (this.active) memory.fill(this.bitmap, 0, <usize>((this.length + 7) >> 3));
    this.active = false;
    this.received = 0;
  }

  body(): usize {
    return this.buf + <usize>HS_HEADER_LEN;
  }

  /** Adds a fragment (its bounds checked by the caller: offset + len <= length).
   *  Returns 1 when the message is complete, 0 when more is needed, -1 when
   *  the message is longer than the buffer, -2 when the fragment contradicts
   *  the message being assembled (other type or length: dropped). */
  add(type: u8, length: i32, seq: u32, offset: i32, frag: usize, len: i32): i32 {
    if (!this.active) {
      if (length > this.capacity) return -1;
      this.active = true;
      this.type = type;
      this.length = length;
      this.received = 0;
      writeHandshakeHeader(this.buf, type, length, seq);
    } else if (type != this.type || length != this.length) {
      return -2;
    }
    const body = this.body();
    memory.copy(body + <usize>offset, frag, <usize>len);
    let got = this.received;
    for (let i = offset; i < offset + len; i++) {
      const b = this.bitmap + <usize>(i >> 3);
      const m = <u32>1 << <u32>(i & 7);
      const v = <u32>load<u8>(b);
      if ((v & m) == 0) {
        store<u8>(b, <u8>(v | m));
        got++;
      }
    }
    this.received = got;
    return got == length ? 1 : 0;
  }
}
