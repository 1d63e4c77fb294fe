// met's native scorer: teacher-forced token logprobs under the full-vocabulary log-softmax.
//
// Why it exists: node-llama-cpp hands logits to JavaScript one position at a time (a Map of the
// whole vocabulary, or a float32 running sum of exp(logit - max) whose rounding moves a logprob by
// up to ~5e-4 on a 262,144-token vocabulary). This addon links the same prebuilt llama.cpp that
// node-llama-cpp ships, decodes many positions of a sequence per llama_decode, and reduces
// each position's logits natively: max in float, sum of exp(logit - max) in double, the target's
// logprob = logit - max - log(sum), its 1-based rank (logits strictly greater, plus one) and,
// when asked, the top-k alternatives. Work runs on a libuv thread, never on the event loop.
//
// The module also exports the batched generator (generator.cpp).
// Built by models/native/build.ts against the headers of the exact llama.cpp release in
// node-llama-cpp's source bundle; loaded by models/nativeScorer.ts.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ggml-backend.h"
#include "llama.h"
#include "shared.h"

namespace {

using met::initBackends;
using met::reduce;

struct Position {
  int32_t batchIndex;   // the token's index in the decoded batch
  int32_t target;       // the token whose logprob is wanted
  size_t slot;          // where the result goes
};

struct Result {
  std::vector<double> logprobs;
  std::vector<int32_t> ranks;
  std::vector<int32_t> topIds;
  std::vector<double> topLogprobs;
};

class Scorer : public Napi::ObjectWrap<Scorer> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function fn = DefineClass(env, "Scorer",
                                    {InstanceMethod("score", &Scorer::Score), InstanceMethod("close", &Scorer::Close),
                                     InstanceAccessor("vocabularySize", &Scorer::VocabularySize, nullptr)});
    exports.Set("Scorer", fn);
    return exports;
  }

  Scorer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Scorer>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsObject()) {
      Napi::TypeError::New(env, "Scorer(path, options)").ThrowAsJavaScriptException();
      return;
    }
    const std::string path = info[0].As<Napi::String>();
    Napi::Object o = info[1].As<Napi::Object>();
    auto num = [&](const char* key, int32_t fallback) {
      return o.Has(key) && o.Get(key).IsNumber() ? o.Get(key).As<Napi::Number>().Int32Value() : fallback;
    };
    const std::string libDir = o.Has("libDir") ? o.Get("libDir").As<Napi::String>().Utf8Value() : std::string();
    threads_ = std::max(1, num("threads", 1));
    contextSize_ = std::max(16, num("contextSize", 2048));
    batchSize_ = std::max(1, num("batchSize", 128));
    sequences_ = std::max(1, num("sequences", 1));
    // -1 llama.cpp's auto, 0 off, 1 on; the decode configuration met checks (models/decodeCheck.ts).
    const int32_t flashAttention = num("flashAttention", -1);
    const bool swaFull = o.Has("swaFull") && o.Get("swaFull").IsBoolean() && o.Get("swaFull").As<Napi::Boolean>().Value();
    // One KV cache shared by the sequences of a decode (llama.cpp's default here), or a stream per
    // sequence: with separate streams a sequence's attention sees only its own cells.
    kvUnified_ = !(o.Has("kvUnified") && o.Get("kvUnified").IsBoolean()) || o.Get("kvUnified").As<Napi::Boolean>().Value();
    initBackends(libDir);

    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = num("gpuLayers", 0);
    // llama.cpp's CPU weight repacking, on unless asked off (met's stored route keeps it on).
    if (o.Has("repack") && o.Get("repack").IsBoolean()) mp.use_extra_bufts = o.Get("repack").As<Napi::Boolean>().Value();
    model_ = llama_model_load_from_file(path.c_str(), mp);
    if (model_ == nullptr) {
      Napi::Error::New(env, "llama.cpp could not load the model file").ThrowAsJavaScriptException();
      return;
    }
    vocab_ = llama_vocab_n_tokens(llama_model_get_vocab(model_));

    llama_context_params cp = llama_context_default_params();
    // `sequences` sequences per decode, contextSize cells each (one shared cache or a stream apiece).
    // Whether packing changes the numbers depends on the configuration (flash attention, the
    // sliding-window cache, the batch size): models/decodeCheck.ts measures it, a worker refuses a
    // configuration that moves logprobs by more than 1e-3 nats. met scores one sequence per decode;
    // several are for measuring (met doctor, bench/score/batched.ts): none was exact (docs/decoding.md).
    cp.n_ctx = contextSize_ * sequences_;
    cp.n_batch = batchSize_;
    cp.n_ubatch = batchSize_;
    cp.n_seq_max = sequences_;
    cp.kv_unified = kvUnified_;
    cp.flash_attn_type = static_cast<llama_flash_attn_type>(flashAttention);
    cp.swa_full = swaFull;
    cp.n_threads = threads_;
    cp.n_threads_batch = threads_;
    cp.no_perf = true;
    ctx_ = llama_init_from_model(model_, cp);
    if (ctx_ == nullptr) {
      llama_model_free(model_);
      model_ = nullptr;
      Napi::Error::New(env, "llama.cpp could not create a context").ThrowAsJavaScriptException();
      return;
    }
  }

  ~Scorer() { Free(); }

  void Free() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (ctx_ != nullptr) llama_free(ctx_);
    if (model_ != nullptr) llama_model_free(model_);
    ctx_ = nullptr;
    model_ = nullptr;
  }

  // score(tokens: Int32Array, starts: Int32Array (n + 1 offsets), from: Int32Array (n), options)
  // For sequence s and every i in [from[s], len_s - 1): logprob of token i + 1 given tokens 0..i.
  Napi::Value Score(const Napi::CallbackInfo& info);

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Free();
    return info.Env().Undefined();
  }

  Napi::Value VocabularySize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), vocab_); }

  // Runs on a libuv thread. Returns an error message, or empty.
  std::string Run(const std::vector<int32_t>& tokens, const std::vector<int32_t>& starts, const std::vector<int32_t>& from,
                  int32_t topK, bool wantRanks, Result& out);

 private:
  llama_model* model_ = nullptr;
  llama_context* ctx_ = nullptr;
  int32_t vocab_ = 0;
  int32_t threads_ = 1;
  int32_t contextSize_ = 2048;
  int32_t batchSize_ = 128;
  int32_t sequences_ = 1;
  bool kvUnified_ = true;
  std::mutex mutex_;
};

class ScoreWorker : public Napi::AsyncWorker {
 public:
  ScoreWorker(Napi::Env env, Scorer* scorer, Napi::ObjectReference self, std::vector<int32_t> tokens, std::vector<int32_t> starts,
              std::vector<int32_t> from, int32_t topK, bool wantRanks)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        scorer_(scorer),
        self_(std::move(self)),
        tokens_(std::move(tokens)),
        starts_(std::move(starts)),
        from_(std::move(from)),
        topK_(topK),
        wantRanks_(wantRanks) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    const std::string error = scorer_->Run(tokens_, starts_, from_, topK_, wantRanks_, result_);
    if (!error.empty()) SetError(error);
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object out = Napi::Object::New(env);
    auto f64 = [&](const std::vector<double>& v) {
      auto a = Napi::Float64Array::New(env, v.size());
      std::copy(v.begin(), v.end(), a.Data());
      return a;
    };
    auto i32 = [&](const std::vector<int32_t>& v) {
      auto a = Napi::Int32Array::New(env, v.size());
      std::copy(v.begin(), v.end(), a.Data());
      return a;
    };
    out.Set("logprobs", f64(result_.logprobs));
    out.Set("ranks", i32(result_.ranks));
    out.Set("topIds", i32(result_.topIds));
    out.Set("topLogprobs", f64(result_.topLogprobs));
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Scorer* scorer_;
  Napi::ObjectReference self_;  // keeps the scorer alive while the work runs
  std::vector<int32_t> tokens_, starts_, from_;
  int32_t topK_;
  bool wantRanks_;
  Result result_;
};

std::vector<int32_t> toVector(const Napi::Value& v) {
  auto a = v.As<Napi::Int32Array>();
  return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
}

Napi::Value Scorer::Score(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsTypedArray() || !info[2].IsTypedArray()) {
    Napi::TypeError::New(env, "score(tokens: Int32Array, starts: Int32Array, from: Int32Array, options?)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int32_t topK = 0;
  bool wantRanks = false;
  if (info.Length() > 3 && info[3].IsObject()) {
    Napi::Object o = info[3].As<Napi::Object>();
    if (o.Has("top") && o.Get("top").IsNumber()) topK = std::max(0, o.Get("top").As<Napi::Number>().Int32Value());
    if (o.Has("ranks") && o.Get("ranks").IsBoolean()) wantRanks = o.Get("ranks").As<Napi::Boolean>().Value();
  }
  auto* worker = new ScoreWorker(env, this, Napi::Persistent(Value()), toVector(info[0]), toVector(info[1]), toVector(info[2]), topK,
                                 wantRanks);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

std::string Scorer::Run(const std::vector<int32_t>& tokens, const std::vector<int32_t>& starts, const std::vector<int32_t>& from,
                        int32_t topK, bool wantRanks, Result& out) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (ctx_ == nullptr) return "the scorer is closed";
  const size_t n = from.size();
  if (starts.size() != n + 1 || starts[0] != 0 || static_cast<size_t>(starts[n]) != tokens.size()) return "starts must hold n + 1 offsets into tokens";

  // Where each sequence's results go, and validation before any work.
  std::vector<size_t> firstSlot(n + 1, 0);
  for (size_t s = 0; s < n; s++) {
    const int32_t len = starts[s + 1] - starts[s];
    if (len < 0) return "starts must not decrease";
    if (len > contextSize_) return "sequence " + std::to_string(s) + " has " + std::to_string(len) + " tokens, more than the context size " + std::to_string(contextSize_);
    const int32_t first = std::max<int32_t>(0, from[s]);
    firstSlot[s + 1] = firstSlot[s] + static_cast<size_t>(std::max<int32_t>(0, len - 1 - first));
    for (int32_t i = starts[s]; i < starts[s + 1]; i++)
      if (tokens[i] < 0 || tokens[i] >= vocab_) return "token id " + std::to_string(tokens[i]) + " is outside the vocabulary (0.." + std::to_string(vocab_ - 1) + ")";
  }
  const size_t total = firstSlot[n];
  out.logprobs.assign(total, 0.0);
  if (wantRanks) out.ranks.assign(total, 0);
  out.topIds.assign(total * static_cast<size_t>(topK), 0);
  out.topLogprobs.assign(total * static_cast<size_t>(topK), 0.0);

  llama_memory_t memory = llama_get_memory(ctx_);
  llama_batch batch = llama_batch_init(batchSize_, 0, sequences_);
  std::vector<Position> positions;
  std::string error;

  // Reduces the outputs of the last decode on `threads_` threads (positions split evenly).
  auto reduceAll = [&]() {
    const size_t count = positions.size();
    const size_t workers = std::min<size_t>(static_cast<size_t>(threads_), std::max<size_t>(1, count / 4));
    auto part = [&](size_t w) {
      std::vector<int32_t> scratch;
      for (size_t p = w; p < count; p += workers) {
        const Position& pos = positions[p];
        const float* logits = llama_get_logits_ith(ctx_, pos.batchIndex);
        int32_t rank = 0;
        reduce(logits, vocab_, pos.target, topK, wantRanks, &out.logprobs[pos.slot], &rank,
               topK > 0 ? &out.topIds[pos.slot * topK] : nullptr, topK > 0 ? &out.topLogprobs[pos.slot * topK] : nullptr, scratch);
        if (wantRanks) out.ranks[pos.slot] = rank;
      }
    };
    if (workers <= 1) {
      part(0);
    } else {
      std::vector<std::thread> pool;
      for (size_t w = 1; w < workers; w++) pool.emplace_back(part, w);
      part(0);
      for (auto& t : pool) t.join();
    }
    positions.clear();
  };

  auto decode = [&]() -> bool {
    if (batch.n_tokens == 0) return true;
    const int32_t rc = llama_decode(ctx_, batch);
    if (rc != 0) {
      error = "llama_decode failed (" + std::to_string(rc) + ")";
      return false;
    }
    reduceAll();
    batch.n_tokens = 0;
    return true;
  };

  // Adds token i of sequence s to the batch, on seq id `seq`.
  auto add = [&](size_t s, int32_t i, llama_seq_id seq) {
    const int32_t len = starts[s + 1] - starts[s];
    const int32_t first = std::max<int32_t>(0, from[s]);
    const int32_t k = batch.n_tokens;
    batch.token[k] = tokens[starts[s] + i];
    batch.pos[k] = i;
    batch.n_seq_id[k] = 1;
    batch.seq_id[k][0] = seq;
    const bool want = i >= first && i + 1 < len;
    batch.logits[k] = want ? 1 : 0;
    // llama_get_logits_ith takes the token's index in the batch.
    if (want) positions.push_back({k, tokens[starts[s] + i + 1], firstSlot[s] + static_cast<size_t>(i - first)});
    batch.n_tokens++;
  };

  if (!kvUnified_ && sequences_ > 1) {
    // A KV stream per slot: llama.cpp splits such a batch into ubatches holding as many tokens of
    // each of consecutive seq ids, so every decode takes an equal share of batchSize_ from each busy
    // slot (one ubatch, not many small ones); a finished sequence's cells are removed and the next
    // sequence takes its slot, starting at position 0 of an empty stream as it would alone. A
    // stream near its end still leaves ubatches of 1-2 of its tokens, whose numbers differ.
    const size_t slots = static_cast<size_t>(sequences_);
    std::vector<size_t> slotSeq(slots, n);
    std::vector<int32_t> slotAt(slots, 0);
    size_t next = 0;
    llama_memory_clear(memory, true);
    while (error.empty()) {
      size_t busy = 0;
      for (size_t k = 0; k < slots; k++) {
        if (slotSeq[k] == n && next < n) {
          slotSeq[k] = next++;
          slotAt[k] = 0;
        }
        if (slotSeq[k] != n) busy++;
      }
      if (busy == 0) break;
      const int32_t share = std::max<int32_t>(1, batchSize_ / static_cast<int32_t>(busy));
      for (size_t k = 0; k < slots; k++) {
        if (slotSeq[k] == n) continue;
        const size_t s = slotSeq[k];
        const int32_t end = std::min(starts[s + 1] - starts[s], slotAt[k] + share);
        while (slotAt[k] < end && batch.n_tokens < batchSize_) add(s, slotAt[k]++, static_cast<llama_seq_id>(k));
      }
      if (!decode()) break;
      for (size_t k = 0; k < slots; k++) {
        if (slotSeq[k] == n || slotAt[k] < starts[slotSeq[k] + 1] - starts[slotSeq[k]]) continue;
        llama_memory_seq_rm(memory, static_cast<llama_seq_id>(k), -1, -1);
        slotSeq[k] = n;
      }
    }
    llama_batch_free(batch);
    llama_memory_clear(memory, true);
    return error;
  }

  // Sequences in groups of sequences_, each on its own seq id, packed one after another into
  // decodes of up to batchSize_ positions; the cache is cleared between groups.
  for (size_t g = 0; g < n && error.empty(); g += static_cast<size_t>(sequences_)) {
    llama_memory_clear(memory, true);
    const size_t end = std::min(n, g + static_cast<size_t>(sequences_));
    for (size_t s = g; s < end && error.empty(); s++) {
      const int32_t len = starts[s + 1] - starts[s];
      for (int32_t i = 0; i < len && error.empty(); i++) {
        if (batch.n_tokens == batchSize_ && !decode()) break;
        add(s, i, static_cast<llama_seq_id>(s - g));
      }
    }
    if (error.empty()) decode();
  }
  llama_batch_free(batch);
  llama_memory_clear(memory, true);
  return error;
}

}  // namespace

namespace met {
Napi::Object InitGenerator(Napi::Env env, Napi::Object exports);  // generator.cpp
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) { return met::InitGenerator(env, Scorer::Init(env, exports)); }

NODE_API_MODULE(met_scorer, Init)
