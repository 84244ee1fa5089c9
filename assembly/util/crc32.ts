// CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320): integrity of flash
// headers against torn writes. Not a security check: sealing (se_seal) is.
export function crc32(ptr: usize, len: i32): u32 {
  let crc: u32 = 0xffffffff;
  for (let i = 0; i < len; i++) {
    crc ^= <u32>load<u8>(ptr + <usize>i);
    for (let b = 0; b < 8; b++) crc = (crc >>> 1) ^ (0xedb88320 & (0 - (crc & 1)));
  }
  return ~crc;
}
