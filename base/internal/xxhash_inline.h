// xxhash.h, inlined, for base/hash.h's short inputs. Include base/hash.h, not this.
//
// XXH_VECTOR: xxhash.h compiles its long-input loop for the build's target ISA, and under
// -march=x86-64-v4 GCC 12 warns falsely inside its own AVX-512 intrinsics
// (-Wmaybe-uninitialized on the self-initialised _mm512_undefined_epi32), which -Werror makes
// fatal. Long inputs never take this inlined path (they go to libxxhash's run-time dispatch),
// so it is pinned to SSE2, which every x86-64 CPU has, and the warnings stay xxHash's.
#pragma once

#define XXH_INLINE_ALL
#if defined(__x86_64__) && !defined(XXH_VECTOR)
#define XXH_VECTOR 1  // XXH_SSE2
#endif
// GCC's warning only (clang has no such group and, with -Werror, would refuse the pragma).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "xxhash.h"
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
