// Bounds-checked reading and plain writing of TLS presentation-language
// fields (RFC 5246 4). The reader never reads past its end: any overrun sets
// rdFail and yields zeros, so a parser checks rdFail once at the end.
// Module state, not reentrant (one message is parsed at a time).
import { loadBe16, loadBe24, storeBe16, storeBe24 } from "../util/bytes";

export let rdPos: usize = 0;
export let rdEnd: usize = 0;
export let rdFail: bool = false;
/** Start of the vector returned by the last rdVec*(). */
export let vecPtr: usize = 0;

export function rdStart(p: usize, len: i32): void {
  rdPos = p;
  rdEnd = p + <usize>(len < 0 ? 0 : len);
  rdFail = len < 0;
}

export function rdLeft(): i32 {
  return <i32>(rdEnd - rdPos);
}

/** Skip n bytes; returns their start (or rdEnd on overrun). */
export function rdSkip(n: i32): usize {
  if (n < 0 || n > rdLeft()) {
    rdFail = true;
    rdPos = rdEnd;
    return rdEnd;
  }
  const p = rdPos;
  rdPos += <usize>n;
  return p;
}

export function rd8(): u32 {
  const p = rdSkip(1);
  return rdFail ? 0 : <u32>load<u8>(p);
}

export function rd16(): u32 {
  const p = rdSkip(2);
  return rdFail ? 0 : loadBe16(p);
}

export function rd24(): u32 {
  const p = rdSkip(3);
  return rdFail ? 0 : loadBe24(p);
}

/** A vector with a lengthBytes-byte length prefix (1, 2 or 3): returns its
 *  length (within [min, max], else rdFail) and sets vecPtr. */
export function rdVec(lengthBytes: i32, min: i32, max: i32): i32 {
  const n = <i32>(lengthBytes == 1 ? rd8() : lengthBytes == 2 ? rd16() : rd24());
  if (n < min || n > max) rdFail = true;
  vecPtr = rdSkip(rdFail ? 0 : n);
  return rdFail ? 0 : n;
}

/** True when the whole input was consumed without overrun. */
export function rdDone(): bool {
  return !rdFail && rdPos == rdEnd;
}

// ---- writing (the caller checked the room) ----
export let wrPos: usize = 0;

export function wr8(v: u32): void {
  store<u8>(wrPos, <u8>v);
  wrPos += 1;
}

export function wr16(v: u32): void {
  storeBe16(wrPos, v);
  wrPos += 2;
}

export function wr24(v: u32): void {
  storeBe24(wrPos, v);
  wrPos += 3;
}

export function wrBytes(src: usize, len: i32): void {
  memory.copy(wrPos, src, <usize>len);
  wrPos += <usize>len;
}

/** Writes the ASCII of a string literal (labels); returns its length. */
export function asciiTo(dst: usize, s: string): i32 {
  const n = s.length;
  for (let i = 0; i < n; i++) store<u8>(dst + <usize>i, <u8>s.charCodeAt(i));
  return n;
}
