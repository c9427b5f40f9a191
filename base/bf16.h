// bf16.h: rounding a float32 to the nearest bfloat16 value, kept in a float.
//
// bfloat16 is float32 with the low 16 mantissa bits dropped: 1 sign, 8 exponent, 7 mantissa bits,
// so it has float32's range (max finite 3.3895e38, the same subnormals down to 2^-133) and about
// 3 significant decimal digits. MathMode::Bf16 (kernels/shapes.h) rounds the operands of every
// conv2d and linear GEMM with this function; the CPU backend calls it on its GEMM buffers
// (engine/cpu/conv2d.cc, linear.cc) and the CUDA kernels do the same with __float2bfloat16_rn, so
// both devices see the same bf16 operands.
//
// Rounding is to nearest, ties to even, exactly as CUDA's __float2bfloat16_rn and PyTorch's
// tensor.to(torch.bfloat16): add 0x7fff plus the lowest kept bit, then truncate. A carry out of the
// mantissa correctly bumps the exponent, and values at or above the midpoint between bf16's max
// finite and 2^128 become inf. inf stays inf; NaN stays NaN (made quiet, sign kept), since the
// add could otherwise carry a NaN payload into inf.
//
// The result is a float whose low 16 bits are zero; the product of two such floats has at most
// 16 significant bits and is exact in float32 (24 bits), which is why the CPU emulation and the
// tensor cores agree up to the order of the fp32 additions.
#pragma once

#include <cstdint>
#include <cstring>

namespace lb {

inline float round_to_bf16(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    u = (u | 0x00400000u) & 0xffff0000u;  // NaN: quiet it, keep sign and the top payload bits
  } else {
    u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
    u &= 0xffff0000u;
  }
  std::memcpy(&v, &u, sizeof v);
  return v;
}

// Rounds n floats in place (the GEMM operand buffers of the CPU backend).
inline void round_to_bf16(float* p, int64_t n) {
  for (int64_t i = 0; i < n; ++i) p[i] = round_to_bf16(p[i]);
}

// True when v is exactly a bfloat16 value (its low 16 bits are zero); NaN counts as not.
inline bool is_bf16(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return (u & 0xffffu) == 0 && (u & 0x7fffffffu) <= 0x7f800000u;
}

}  // namespace lb
