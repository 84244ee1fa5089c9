/* Forced before every WAMR source (boards/wamr/CMakeLists.txt, `-include`) of the interpreter
 * builds: WAMR's wasm.h defines V128 and WASMValue only `#ifndef WASM_VALUE_DEFINED`, so an
 * embedder may supply them. Ours is WAMR 2.4.5's union without its `V128 v128` member: with
 * SIMD off (WAMR_BUILD_SIMD=0) no value is ever a v128, and the member makes every WASMValue
 * 16 bytes instead of 8. WASMValue sits in each global of the loaded module (WASMGlobal's
 * initializer: 32 -> 24 B on 32-bit ARM) and of the instance (WASMGlobalInstance: 24 -> 16 B),
 * in each data and table segment's initializer; the firmware has 207 globals (boards/README.md,
 * "Where the WAMR classic pool goes"). V128 itself stays, as WAMR's inline helpers name it. */
#ifndef LWM2M_WASM_VALUE_H
#define LWM2M_WASM_VALUE_H
#include <stdint.h>
#define WASM_VALUE_DEFINED
typedef union V128 {
  int8_t i8x16[16];
  int16_t i16x8[8];
  int32_t i32x4[4];
  int64_t i64x2[2];
  float f32x4[4];
  double f64x2[2];
} V128;
typedef union WASMValue {
  int32_t i32;
  uint32_t u32;
  uint32_t global_index;
  uint32_t ref_index;
  int64_t i64;
  uint64_t u64;
  float f32;
  double f64;
} WASMValue;
#endif
