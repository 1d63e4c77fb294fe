// What met's native scorer (scorer.cpp) and batched generator (generator.cpp) share: the backend's
// one-time set-up and the one log-softmax reduction, so a sampled token's logprob and a scored
// token's logprob are computed the same way.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "llama.h"

namespace met {

inline std::once_flag backendOnce;

inline void initBackends(const std::string& libDir) {
  std::call_once(backendOnce, [&]() {
    llama_backend_init();
    // node-llama-cpp may already have registered the CPU backend in this process (same libggml).
    if (ggml_backend_dev_count() == 0) ggml_backend_load_all_from_path(libDir.c_str());
  });
}

// Reduces one position's logits. Exact up to float32 logits: the sum runs in double.
inline void reduce(const float* logits, int32_t vocab, int32_t target, int32_t topK, bool wantRank, double* logprob,
            int32_t* rank, int32_t* topIds, double* topLogprobs, std::vector<int32_t>& scratch) {
  float maxLogit = logits[0];
  for (int32_t i = 1; i < vocab; i++) maxLogit = std::max(maxLogit, logits[i]);
  double sum = 0.0;
  for (int32_t i = 0; i < vocab; i++) sum += std::exp(static_cast<double>(logits[i]) - static_cast<double>(maxLogit));
  const double norm = static_cast<double>(maxLogit) + std::log(sum);
  const float t = logits[target];
  *logprob = static_cast<double>(t) - norm;
  if (wantRank) {
    int32_t above = 0;
    for (int32_t i = 0; i < vocab; i++) above += logits[i] > t ? 1 : 0;
    *rank = above + 1;
  }
  if (topK > 0) {
    const int32_t k = std::min(topK, vocab);
    scratch.resize(vocab);
    for (int32_t i = 0; i < vocab; i++) scratch[i] = i;
    auto higher = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
    std::partial_sort(scratch.begin(), scratch.begin() + k, scratch.end(), higher);
    for (int32_t j = 0; j < k; j++) {
      topIds[j] = scratch[j];
      topLogprobs[j] = static_cast<double>(logits[scratch[j]]) - norm;
    }
  }
}

}  // namespace met
