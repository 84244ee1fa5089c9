// Constant-time comparison and wiping of secrets.

/** True when [a, a+len) equals [b, b+len). Every byte is read whatever the
 *  content (no early exit), so the time depends on len only. len <= 0: true. */
export function ctEqual(a: usize, b: usize, len: i32): bool {
  let diff: u32 = 0;
  for (let i: i32 = 0; i < len; i++) {
    diff |= <u32>load<u8>(a + <usize>i) ^ <u32>load<u8>(b + <usize>i);
  }
  return diff == 0;
}

/** Zero [ptr, ptr+len): key material, pads, intermediate secrets. */
export function wipe(ptr: usize, len: i32): void {
  if (len > 0) memory.fill(ptr, 0, <usize>len);
}
