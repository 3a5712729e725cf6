// Helpers shared by the reference model's source files (reference_model.cc,
// reference_model_transfers.cc, reference_model_queries.cc): flag tests and u128 arithmetic
// that checks every sum for overflow. Not for use outside the model.
#pragma once

#include <cstdint>

#include "base/assert.h"
#include "engine/types.h"

namespace ledger::testing::model_internal {

inline bool Has(uint16_t flags, uint16_t flag) { return (flags & flag) != 0; }

// a += b unless that overflows; says whether it fit.
inline bool AddChecked(Amount* a, u128 b) {
  const u128 sum = a->Get() + b;
  if (sum < b) return false;
  *a = Amount::From(sum);
  return true;
}

// a -= b where the model's own invariants say b <= a.
inline void SubtractExpected(Amount* a, u128 b) {
  LEDGER_ASSERT(b <= a->Get());  // the model itself is wrong if this fails
  *a = Amount::From(a->Get() - b);
}

// x - y - z floored at 0, without ever wrapping.
inline u128 FlooredDifference(u128 x, u128 y, u128 z) {
  if (y > x) return 0;
  if (z > x - y) return 0;
  return x - y - z;
}

inline bool SumOverflows(Amount a, Amount b) { return a.Get() + b.Get() < b.Get(); }

}  // namespace ledger::testing::model_internal
