// CBOR (RFC 8949) shared definitions: error codes, item types, constants.
// Modelled on Intel tinycbor (CborError, CborType), reshaped for a heap-free
// AssemblyScript build: every state struct lives in caller-owned memory.

/** Error codes (negative i32; 0 = no error). Hostile input only ever yields one of these. */
export namespace CborError {
  export const None: i32 = 0;
  /** Input ends inside an item (RFC 8949 §3: truncated head, string or container). */
  export const UnexpectedEof: i32 = -1;
  /** Reserved additional information 28-30, or length 31 on major type 0, 1 or 6 (§3, §3.2.4). */
  export const IllegalType: i32 = -2;
  /** "break" (0xff) where no indefinite-length item is open, after a tag, or after a map key (§3.2.1). */
  export const IllegalBreak: i32 = -3;
  /** Chunk of an indefinite-length string that is not a definite string of the same major type (§3.2.3). */
  export const IllegalIndefinite: i32 = -4;
  /** Simple value 0..31 in the two-byte form 0xf8 xx (§3.3). */
  export const IllegalSimple: i32 = -5;
  /** Containers nested deeper than the configured limit. */
  export const NestingTooDeep: i32 = -6;
  /** Declared length/count above 2^31-1 (cannot fit any input or output we handle). */
  export const LengthTooLarge: i32 = -7;
  /** cborValidate: bytes left after the one data item. */
  export const TrailingData: i32 = -8;
  /** Encoder (or copy) buffer too small; the encoder keeps counting the bytes it needed. */
  export const OutOfSpace: i32 = -9;
  /** Operation not valid for the current item's type (or the iterator is at the end / in error). */
  export const WrongType: i32 = -10;
  /** The value does not fit the requested integer type (e.g. a negative below -2^63 as i64). */
  export const Overflow: i32 = -11;
}

/** Type of the item under a CborValue cursor. 0..6 are the major types. */
export namespace CborType {
  export const UnsignedInteger: i32 = 0;
  export const NegativeInteger: i32 = 1; // value = -1 - arg
  export const ByteString: i32 = 2;
  export const TextString: i32 = 3;
  export const Array: i32 = 4;
  export const Map: i32 = 5;
  export const Tag: i32 = 6;
  /** Major type 7 simple value (false/true/null/undefined = 20..23, others); arg = the value. */
  export const Simple: i32 = 7;
  /** Major type 7 half/single/double (ai 25/26/27); arg = the raw bits. */
  export const Float: i32 = 8;
  /** No more items in the current container (or after the top-level item). */
  export const End: i32 = 9;
  /** The cursor hit an error. */
  export const Invalid: i32 = -1;
}

/** RFC 8949 §3.3 simple values with names. */
export namespace CborSimple {
  export const False: u32 = 20;
  export const True: u32 = 21;
  export const Null: u32 = 22;
  export const Undefined: u32 = 23;
}

/** Hard ceiling for the configurable nesting limit (sizes the static skip stack). */
export const CBOR_MAX_DEPTH_LIMIT: i32 = 32;
/** Nesting limit used when none is given. */
export const CBOR_DEFAULT_MAX_DEPTH: i32 = 16;

/** Additional information values (RFC 8949 §3). */
export const CBOR_AI_HALF: u32 = 25;
export const CBOR_AI_SINGLE: u32 = 26;
export const CBOR_AI_DOUBLE: u32 = 27;
export const CBOR_AI_INDEFINITE: u32 = 31;
export const CBOR_BREAK: u32 = 0xff;
