// CBOR codec (RFC 8949), tinycbor-style, heap-free. See encoder.ts / decoder.ts.
export * from "./common";
export * from "./encoder";
export * from "./decoder";
