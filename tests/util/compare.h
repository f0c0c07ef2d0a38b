// Comparison of a computed f32 tensor with a reference: max |a - ref| (and where), max |ref| and
// the normalized MSE Σ(a - ref)² / Σ ref², the figures the golden tests gate on.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace fastvlm::testing {

struct Diff {
  double max_abs = 0, max_ref = 0, nmse = 0;
  size_t worst = 0;  // index of max_abs
};

inline Diff Compare(const float* a, const float* ref, size_t n) {
  Diff d;
  double se = 0, ss = 0;
  for (size_t i = 0; i < n; ++i) {
    const double e = std::fabs(double{a[i]} - ref[i]);
    if (e > d.max_abs) {
      d.max_abs = e;
      d.worst = i;
    }
    d.max_ref = std::max(d.max_ref, std::fabs(double{ref[i]}));
    se += e * e;
    ss += double{ref[i]} * ref[i];
  }
  d.nmse = se / std::max(ss, 1e-30);
  return d;
}

}  // namespace fastvlm::testing
