// met's batched generator: seeded samples from many sequences at once in one llama.cpp context.
//
// One context holds N sequence slots, each its own KV stream (kv_unified off: a sequence's cells
// never interleave with another's). Requests wait in a queue; one worker thread (never the event
// loop) prefills a queued request's prompt into a free slot, alone and in chunks of batchSize as
// node-llama-cpp does with one sequence, then decodes one token for every active slot per
// llama_decode. Each request samples with its own llama_sampler chain, in node-llama-cpp 3.22.1's
// order (AddonSampler::rebuildChainIfNeeded, as models/llama.ts configures it): penalties, then
// top-k, top-p, min-p, temperature and a dist draw seeded with the request's seed; temperature 0 is
// greedy. A sampled token's logprob is the full-vocabulary log-softmax of the logits it was sampled
// from (met::reduce, as the scorer computes it). A finished sequence's cells are removed and the
// next queued request takes its slot at once. Each request's result goes back to JavaScript through
// a thread-safe function, which settles that request's promise.
#include <napi.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <thread>

#include "shared.h"

namespace met {
namespace {

struct Request {
  std::vector<llama_token> prompt;
  uint32_t seed = 0;
  float temperature = 0, topP = 1, minP = 0;
  int32_t topK = 0, maxTokens = 0;
  float repeatPenalty = 1, presencePenalty = 0, frequencyPenalty = 0;
  int32_t penaltyWindow = 64;
  // Each sampled token's logprob costs a second pass over the vocabulary (262,144 exps in double on
  // Gemma) per token: asked by the batch-invariance check, not by sampling, whose stored logprobs
  // are re-scored by the scorer.
  bool wantLogprobs = true;
  Napi::Promise::Deferred deferred;  // settled on the JS thread only
  std::vector<int32_t> tokens;
  std::vector<double> logprobs;
  bool eog = false;
  std::string error;

  explicit Request(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
};

struct Slot {
  std::unique_ptr<Request> request;  // empty when free
  llama_sampler* chain = nullptr;
  llama_pos past = 0;   // positions in the KV stream
  llama_token next = 0; // sampled, not yet decoded
  bool done = false;
};

class Generator : public Napi::ObjectWrap<Generator> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports) {
    Napi::Function fn = DefineClass(env, "Generator",
                                    {InstanceMethod("generate", &Generator::Generate), InstanceMethod("close", &Generator::Close),
                                     InstanceAccessor("vocabularySize", &Generator::VocabularySize, nullptr)});
    exports.Set("Generator", fn);
    return exports;
  }

  Generator(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Generator>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsObject()) {
      Napi::TypeError::New(env, "Generator(path, options)").ThrowAsJavaScriptException();
      return;
    }
    const std::string path = info[0].As<Napi::String>();
    Napi::Object o = info[1].As<Napi::Object>();
    auto num = [&](const char* key, int32_t fallback) {
      return o.Has(key) && o.Get(key).IsNumber() ? o.Get(key).As<Napi::Number>().Int32Value() : fallback;
    };
    threads_ = std::max(1, num("threads", 1));
    contextSize_ = std::max(16, num("contextSize", 2048));
    batchSize_ = std::max(1, num("batchSize", 128));
    const int32_t slots = std::max(1, num("sequences", 1));
    const int32_t flashAttention = num("flashAttention", 0);
    const bool swaFull = o.Has("swaFull") && o.Get("swaFull").IsBoolean() && o.Get("swaFull").As<Napi::Boolean>().Value();
    initBackends(o.Has("libDir") ? o.Get("libDir").As<Napi::String>().Utf8Value() : std::string());

    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = num("gpuLayers", 0);
    // Repacked weights (llama.cpp's default on the CPU) are multiplied by a kernel chosen by how many
    // rows a decode holds, so a sequence's logits would depend on what else was in its step.
    mp.use_extra_bufts = o.Has("repack") && o.Get("repack").IsBoolean() && o.Get("repack").As<Napi::Boolean>().Value();
    model_ = llama_model_load_from_file(path.c_str(), mp);
    if (model_ == nullptr) {
      Napi::Error::New(env, "llama.cpp could not load the model file").ThrowAsJavaScriptException();
      return;
    }
    vocab_ = llama_model_get_vocab(model_);
    nVocab_ = llama_vocab_n_tokens(vocab_);

    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = static_cast<uint32_t>(contextSize_) * static_cast<uint32_t>(slots);  // each stream gets contextSize cells
    cp.n_batch = std::max(batchSize_, slots);
    cp.n_ubatch = cp.n_batch;
    cp.n_seq_max = slots;
    cp.kv_unified = false;
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
    slots_.resize(slots);
    // Delivers finished requests on the JS thread; referenced only while requests are pending, so an
    // idle generator does not keep the process alive.
    tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "met-generator", 0, 1);
    tsfn_.Unref(env);
    thread_ = std::thread([this]() { Loop(); });
  }

  ~Generator() { Stop(); }

 private:
  llama_model* model_ = nullptr;
  llama_context* ctx_ = nullptr;
  const llama_vocab* vocab_ = nullptr;
  int32_t nVocab_ = 0, threads_ = 1, contextSize_ = 2048, batchSize_ = 128;
  std::vector<Slot> slots_;  // the worker thread's, until it has stopped
  std::deque<std::unique_ptr<Request>> queue_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
  Napi::ThreadSafeFunction tsfn_;
  int32_t pending_ = 0;  // JS thread only: requests whose promise is unsettled
  bool closed_ = false;

  Napi::Value VocabularySize(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), nVocab_); }

  // generate(prompt: Int32Array, options) -> Promise<{ tokens: Int32Array, logprobs: Float64Array, eog: boolean }>
  Napi::Value Generate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto request = std::make_unique<Request>(env);
    Napi::Promise promise = request->deferred.Promise();
    if (closed_ || ctx_ == nullptr) {
      request->deferred.Reject(Napi::Error::New(env, "the generator is closed").Value());
      return promise;
    }
    if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsObject()) {
      Napi::TypeError::New(env, "generate(prompt: Int32Array, options)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    auto prompt = info[0].As<Napi::Int32Array>();
    request->prompt.assign(prompt.Data(), prompt.Data() + prompt.ElementLength());
    Napi::Object o = info[1].As<Napi::Object>();
    auto f = [&](const char* key, double fallback) { return o.Has(key) && o.Get(key).IsNumber() ? o.Get(key).As<Napi::Number>().DoubleValue() : fallback; };
    request->seed = o.Has("seed") && o.Get("seed").IsNumber() ? o.Get("seed").As<Napi::Number>().Uint32Value() : 0;
    request->temperature = static_cast<float>(f("temperature", 0));
    request->topK = static_cast<int32_t>(f("topK", 0));
    request->topP = static_cast<float>(f("topP", 1));
    request->minP = static_cast<float>(f("minP", 0));
    request->repeatPenalty = static_cast<float>(f("repetitionPenalty", 1));
    request->presencePenalty = static_cast<float>(f("presencePenalty", 0));
    request->frequencyPenalty = static_cast<float>(f("frequencyPenalty", 0));
    request->penaltyWindow = static_cast<int32_t>(f("penaltyWindow", 64));
    request->maxTokens = static_cast<int32_t>(f("maxTokens", 0));
    request->wantLogprobs = !(o.Has("logprobs") && o.Get("logprobs").IsBoolean() && !o.Get("logprobs").As<Napi::Boolean>().Value());
    std::string invalid;
    if (request->prompt.empty()) invalid = "the prompt has no tokens";
    for (llama_token t : request->prompt)
      if (invalid.empty() && (t < 0 || t >= nVocab_)) invalid = "token id " + std::to_string(t) + " is outside the vocabulary (0.." + std::to_string(nVocab_ - 1) + ")";
    if (invalid.empty() && request->maxTokens < 1) invalid = "maxTokens must be at least 1";
    if (invalid.empty() && static_cast<int64_t>(request->prompt.size()) + request->maxTokens > contextSize_)
      invalid = "prompt (" + std::to_string(request->prompt.size()) + " tokens) plus maxTokens (" + std::to_string(request->maxTokens) +
                ") exceed the context size " + std::to_string(contextSize_);
    if (!invalid.empty()) {
      request->deferred.Reject(Napi::Error::New(env, invalid).Value());
      return promise;
    }
    if (pending_++ == 0) tsfn_.Ref(env);
    Ref();  // the generator outlives its pending requests
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(request));
    }
    wake_.notify_one();
    return promise;
  }

  // Settles one request on the JS thread.
  void Settle(Napi::Env env, Request* raw) {
    std::unique_ptr<Request> request(raw);
    if (request->error.empty()) {
      Napi::Object out = Napi::Object::New(env);
      auto tokens = Napi::Int32Array::New(env, request->tokens.size());
      std::copy(request->tokens.begin(), request->tokens.end(), tokens.Data());
      auto logprobs = Napi::Float64Array::New(env, request->logprobs.size());
      std::copy(request->logprobs.begin(), request->logprobs.end(), logprobs.Data());
      out.Set("tokens", tokens);
      out.Set("logprobs", logprobs);
      out.Set("eog", Napi::Boolean::New(env, request->eog));
      request->deferred.Resolve(out);
    } else {
      request->deferred.Reject(Napi::Error::New(env, request->error).Value());
    }
    // After close() the function is released: results still in its queue settle without touching it.
    if (--pending_ == 0 && !closed_) tsfn_.Unref(env);
    Unref();
  }

  // From the worker thread: hands a finished request to the JS thread.
  void Deliver(std::unique_ptr<Request> request) {
    tsfn_.NonBlockingCall(request.release(), [this](Napi::Env env, Napi::Function, Request* r) { Settle(env, r); });
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (closed_) return env.Undefined();
    Stop();
    // The worker thread has stopped: what it held or had not started is refused here.
    for (Slot& slot : slots_)
      if (slot.request) {
        slot.request->error = "the generator was closed";
        Settle(env, slot.request.release());
      }
    for (auto& request : queue_) {
      request->error = "the generator was closed";
      Settle(env, request.release());
    }
    queue_.clear();
    tsfn_.Release();
    closed_ = true;
    return env.Undefined();
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
    for (Slot& slot : slots_) FreeChain(slot);
    if (ctx_ != nullptr) llama_free(ctx_);
    if (model_ != nullptr) llama_model_free(model_);
    ctx_ = nullptr;
    model_ = nullptr;
  }

  static void FreeChain(Slot& slot) {
    if (slot.chain != nullptr) llama_sampler_free(slot.chain);
    slot.chain = nullptr;
  }

  // node-llama-cpp's chain for models/llama.ts's settings: a sampler is left out where llama.ts
  // passes null (top-k <= 0, top-p >= 1) or node-llama-cpp skips it (min-p 0, no penalty).
  llama_sampler* BuildChain(const Request& r) {
    llama_sampler* chain = llama_sampler_chain_init(llama_sampler_chain_default_params());
    if (r.repeatPenalty != 1.0f || r.presencePenalty != 0.0f || r.frequencyPenalty != 0.0f) {
      llama_sampler* penalties = llama_sampler_init_penalties(nVocab_, r.penaltyWindow, r.repeatPenalty, r.frequencyPenalty, r.presencePenalty);
      // node-llama-cpp starts it on the last `penaltyWindow` tokens of the prompt.
      const size_t from = r.prompt.size() > static_cast<size_t>(r.penaltyWindow) ? r.prompt.size() - r.penaltyWindow : 0;
      for (size_t i = from; i < r.prompt.size(); i++) llama_sampler_accept(penalties, r.prompt[i]);
      llama_sampler_chain_add(chain, penalties);
    }
    if (r.temperature <= 0.0f) {
      llama_sampler_chain_add(chain, llama_sampler_init_greedy());
      return chain;
    }
    if (r.topK > 0) llama_sampler_chain_add(chain, llama_sampler_init_top_k(std::min(r.topK, nVocab_)));
    if (r.topP < 1.0f) llama_sampler_chain_add(chain, llama_sampler_init_top_p(r.topP, 1));
    if (r.minP > 0.0f) llama_sampler_chain_add(chain, llama_sampler_init_min_p(r.minP, 1));
    llama_sampler_chain_add(chain, llama_sampler_init_temp(r.temperature));
    llama_sampler_chain_add(chain, llama_sampler_init_dist(r.seed));
    return chain;
  }

  // Samples a slot's next token from `logits`; records it and its logprob, or ends the sequence.
  void Sample(Slot& slot, const float* logits, std::vector<llama_token_data>& candidates) {
    Request& r = *slot.request;
    candidates.resize(nVocab_);
    for (llama_token id = 0; id < nVocab_; id++) candidates[id] = llama_token_data{id, logits[id], 0.0f};
    llama_token_data_array array{candidates.data(), candidates.size(), -1, false};
    llama_sampler_apply(slot.chain, &array);
    if (array.selected < 0 || array.selected >= static_cast<int64_t>(array.size)) {
      r.error = "the sampler chain selected no token";
      slot.done = true;
      return;
    }
    const llama_token token = array.data[array.selected].id;
    llama_sampler_accept(slot.chain, token);  // the penalties' history
    if (llama_vocab_is_eog(vocab_, token)) {
      r.eog = true;
      slot.done = true;
      return;
    }
    if (r.wantLogprobs) {
      double logprob = 0;
      std::vector<int32_t> scratch;
      reduce(logits, nVocab_, token, 0, false, &logprob, nullptr, nullptr, nullptr, scratch);
      r.logprobs.push_back(logprob);
    }
    r.tokens.push_back(token);
    slot.next = token;
    slot.done = static_cast<int32_t>(r.tokens.size()) >= r.maxTokens;
  }

  // Decodes a request's prompt into its (empty) slot, alone, and samples its first token.
  std::string Prefill(Slot& slot, int32_t seq, llama_batch& batch, std::vector<llama_token_data>& candidates) {
    const auto& prompt = slot.request->prompt;
    const int32_t n = static_cast<int32_t>(prompt.size());
    for (int32_t start = 0; start < n; start += batchSize_) {
      const int32_t end = std::min(n, start + batchSize_);
      batch.n_tokens = 0;
      for (int32_t i = start; i < end; i++) {
        const int32_t k = batch.n_tokens++;
        batch.token[k] = prompt[i];
        batch.pos[k] = i;
        batch.n_seq_id[k] = 1;
        batch.seq_id[k][0] = seq;
        batch.logits[k] = i == n - 1 ? 1 : 0;
      }
      const int32_t rc = llama_decode(ctx_, batch);
      if (rc != 0) return "llama_decode failed (" + std::to_string(rc) + ") on the prompt's tokens " + std::to_string(start) + ".." + std::to_string(end - 1);
    }
    slot.past = n;
    Sample(slot, llama_get_logits_ith(ctx_, batch.n_tokens - 1), candidates);
    return std::string();
  }

  // Ends a slot's request (result or error) and frees its cells for the next one.
  void Finish(Slot& slot, int32_t seq) {
    llama_memory_seq_rm(llama_get_memory(ctx_), seq, -1, -1);
    FreeChain(slot);
    slot.done = false;
    slot.past = 0;
    Deliver(std::move(slot.request));
  }

  void Loop() {
    const int32_t nSlots = static_cast<int32_t>(slots_.size());
    llama_batch batch = llama_batch_init(std::max(batchSize_, nSlots), 0, 1);
    std::vector<std::vector<llama_token_data>> candidates(nSlots);
    while (true) {
      std::vector<int32_t> admitted;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        auto active = [&]() {
          for (const Slot& s : slots_)
            if (s.request) return true;
          return false;
        };
        auto free = [&]() {
          for (const Slot& s : slots_)
            if (!s.request) return true;
          return false;
        };
        wake_.wait(lock, [&]() { return stopping_ || active() || (!queue_.empty() && free()); });
        if (stopping_) break;
        for (int32_t s = 0; s < nSlots && !queue_.empty(); s++)
          if (!slots_[s].request) {
            slots_[s].request = std::move(queue_.front());
            queue_.pop_front();
            admitted.push_back(s);
          }
      }
      for (int32_t s : admitted) {
        Slot& slot = slots_[s];
        slot.chain = BuildChain(*slot.request);
        const std::string error = Prefill(slot, s, batch, candidates[s]);
        if (!error.empty()) slot.request->error = error;
        if (!error.empty() || slot.done) Finish(slot, s);
      }
      // One step: the last sampled token of every active slot, in one decode.
      std::vector<int32_t> stepping;
      batch.n_tokens = 0;
      for (int32_t s = 0; s < nSlots; s++) {
        Slot& slot = slots_[s];
        if (!slot.request) continue;
        const int32_t k = batch.n_tokens++;
        batch.token[k] = slot.next;
        batch.pos[k] = slot.past;
        batch.n_seq_id[k] = 1;
        batch.seq_id[k][0] = s;
        batch.logits[k] = 1;
        stepping.push_back(s);
      }
      if (stepping.empty()) continue;
      const int32_t rc = llama_decode(ctx_, batch);
      if (rc != 0) {
        for (int32_t s : stepping) {
          slots_[s].request->error = "llama_decode failed (" + std::to_string(rc) + ") on a step of " + std::to_string(stepping.size()) + " sequences";
          Finish(slots_[s], s);
        }
        continue;
      }
      // Logits are fetched here (llama_get_logits_ith may reorder outputs), then sampled on up to
      // `threads_` threads: each slot has its own chain and candidates, so the split changes nothing.
      std::vector<const float*> logits(stepping.size());
      for (size_t k = 0; k < stepping.size(); k++) logits[k] = llama_get_logits_ith(ctx_, static_cast<int32_t>(k));
      auto part = [&](size_t w, size_t workers) {
        for (size_t k = w; k < stepping.size(); k += workers) {
          Slot& slot = slots_[stepping[k]];
          slot.past++;
          Sample(slot, logits[k], candidates[stepping[k]]);
        }
      };
      const size_t workers = std::min<size_t>(static_cast<size_t>(threads_), stepping.size());
      std::vector<std::thread> pool;
      for (size_t w = 1; w < workers; w++) pool.emplace_back(part, w, workers);
      part(0, workers);
      for (auto& t : pool) t.join();
      for (int32_t s : stepping)
        if (slots_[s].done || !slots_[s].request->error.empty()) Finish(slots_[s], s);
    }
    llama_batch_free(batch);
  }
};

}  // namespace

Napi::Object InitGenerator(Napi::Env env, Napi::Object exports) { return Generator::Init(env, exports); }

}  // namespace met
