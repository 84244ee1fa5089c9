// Big-endian (network order) loads and stores on linear memory. WebAssembly
// is little-endian and allows unaligned access, so these are one load/store
// plus a byte swap; all are inlined.

// @ts-ignore: decorator
@inline export function loadBe16(p: usize): u32 {
  return <u32>bswap<u16>(load<u16>(p));
}

// @ts-ignore: decorator
@inline export function storeBe16(p: usize, v: u32): void {
  store<u16>(p, bswap<u16>(<u16>v));
}

// @ts-ignore: decorator
@inline export function loadBe24(p: usize): u32 {
  return (<u32>load<u8>(p) << 16) | loadBe16(p + 1);
}

// @ts-ignore: decorator
@inline export function storeBe24(p: usize, v: u32): void {
  store<u8>(p, <u8>(v >>> 16));
  storeBe16(p + 1, v);
}

// @ts-ignore: decorator
@inline export function loadBe32(p: usize): u32 {
  return bswap<u32>(load<u32>(p));
}

// @ts-ignore: decorator
@inline export function storeBe32(p: usize, v: u32): void {
  store<u32>(p, bswap<u32>(v));
}

// @ts-ignore: decorator
@inline export function loadBe48(p: usize): u64 {
  return (<u64>loadBe16(p) << 32) | <u64>loadBe32(p + 2);
}

// @ts-ignore: decorator
@inline export function storeBe48(p: usize, v: u64): void {
  storeBe16(p, <u32>(v >>> 32));
  storeBe32(p + 2, <u32>v);
}

// @ts-ignore: decorator
@inline export function loadBe64(p: usize): u64 {
  return bswap<u64>(load<u64>(p));
}

// @ts-ignore: decorator
@inline export function storeBe64(p: usize, v: u64): void {
  store<u64>(p, bswap<u64>(v));
}
