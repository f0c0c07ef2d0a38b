// FastViTHD benchmarks at the real FastVLM-0.5B shapes (spec §1.3): the 1×1-conv GEMMs, the
// fused ConvFFN, the attention blocks and depthwise convs per stage, and the whole encoder on a
// full-size random checkpoint (written to a temp folder), with f32 and bf16 weights.
// Prints medians, GFLOP/s and the fraction of the machine peak given by --peak-f32 / --peak-bf16
// (default: the 2-core Zen 4 development machine, 215 / 430 GFLOP/s on 2 threads).
//
//   build/vision_bench [--threads 2] [--reps 5] [--size 1024] [--skip-layers] [--skip-encoder]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "base/float16.h"
#include "base/thread_pool.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "kernels/ops.h"
#include "vision/fastvithd_blocks.h"
#include "vision/vision.h"

using namespace fastvlm;
using namespace fastvlm::vision::internal;

namespace {

int g_reps = 5;
double g_peak_f32 = 215, g_peak_bf16 = 430;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
double Time(const std::function<void()>& f) {
  f();  // warm-up
  std::vector<double> t;
  for (int i = 0; i < g_reps; ++i) {
    const auto a = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  }
  return Median(t);
}
void Report(const std::string& name, double flops, double sec, bool bf16) {
  const double gf = flops / sec * 1e-9;
  std::printf("%-44s %9.3f ms %8.1f GFLOP/s  %5.1f%% of %s peak\n", name.c_str(), sec * 1e3, gf,
              100 * gf / (bf16 ? g_peak_bf16 : g_peak_f32), bf16 ? "bf16" : "f32");
}

std::vector<float> Rand(size_t n, float a, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-a, a);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

struct Weights {
  std::vector<float> f32;
  std::vector<uint16_t> bf16;
  kernels::Matrix m;
};
Weights MakeW(int64_t out, int64_t in, bool bf16, uint32_t seed) {
  Weights w;
  w.f32 = Rand(out * in, std::sqrt(3.0f / in), seed);
  if (bf16) {
    w.bf16.resize(w.f32.size());
    for (size_t i = 0; i < w.f32.size(); ++i) w.bf16[i] = F32ToBF16(w.f32[i]);
    w.m = {kernels::WType::kBF16, w.bf16.data(), out, in};
  } else {
    w.m = {kernels::WType::kF32, w.f32.data(), out, in};
  }
  return w;
}

void MakeFFN(int64_t C, bool bf16, ConvFFN* f) {
  const auto w = Rand(C * 49, 0.2f, 1), one = std::vector<float>(C, 1.0f), zero = std::vector<float>(C, 0.0f);
  MakeConvFFNConv(w.data(), C, 7, one.data(), zero.data(), zero.data(), one.data(), 1e-5f, &f->conv);
  MakeLinear(MakeW(4 * C, C, bf16, 2).m, Rand(4 * C, 0.1f, 3), &f->fc1);
  MakeLinear(MakeW(C, 4 * C, bf16, 4).m, Rand(C, 0.1f, 5), &f->fc2);
  f->layer_scale = Rand(C, 0.5f, 6);
}

void BenchLayers(ThreadPool& pool, int size) {
  const int64_t widths[5] = {96, 192, 384, 768, 1536};
  for (bool bf16 : {false, true}) {
    std::printf("\n--- layers, %s weights, %d threads, image %d ---\n", bf16 ? "bf16" : "f32",
                pool.size(), size);
    for (int s = 0; s < 5; ++s) {
      const int64_t C = widths[s], side = size / 4 >> s, N = side * side;
      Workspace ws;
      ws.ReserveBlock(N, C, pool.size(), s >= 3);
      ws.ReserveGemm(N, 4 * C, pool.size());
      std::vector<float> x = Rand(N * C, 1.0f, 7), y(N * C), tmp(N * C), h(N * 4 * C);
      ConvFFN f;
      MakeFFN(C, bf16, &f);
      char name[128];
      // The two 1×1 convs of a ConvFFN as separate layer-wise GEMMs.
      kernels::GemmEpilogue e1;
      e1.gelu = true;
      double t = Time([&] { GemmParallel(x.data(), C, N, f.fc1, e1, h.data(), 4 * C, ws, pool); });
      std::snprintf(name, sizeof name, "stage%d 1x1 fc1 [%lld x %lld] -> %lld", s, (long long)N,
                    (long long)C, (long long)(4 * C));
      Report(name, 2.0 * N * C * 4 * C, t, bf16);
      t = Time([&] { GemmParallel(h.data(), 4 * C, N, f.fc2, {}, y.data(), C, ws, pool); });
      std::snprintf(name, sizeof name, "stage%d 1x1 fc2 [%lld x %lld] -> %lld", s, (long long)N,
                    (long long)(4 * C), (long long)C);
      Report(name, 2.0 * N * C * 4 * C, t, bf16);
      t = Time([&] { ConvFFNForward(f, side, side, x.data(), y.data(), ws, pool); });
      std::snprintf(name, sizeof name, "stage%d ConvFFN (dw7x7+fc1+GELU+fc2) C=%lld", s, (long long)C);
      Report(name, 2.0 * N * C * (8 * C + 49), t, bf16);
      if (!bf16) {
        t = Time([&] { DwConvParallel(x.data(), side, side, f.conv, false, y.data(), pool); });
        std::snprintf(name, sizeof name, "stage%d dw7x7 %lldx%lldx%lld", s, (long long)side,
                      (long long)side, (long long)C);
        Report(name, 2.0 * N * C * 49, t, false);
      }
      if (s >= 3) {
        AttentionBlock ab;
        ab.norm_w.assign(C, 1.0f);
        ab.norm_b.assign(C, 0.0f);
        MakeLinear(MakeW(3 * C, C, bf16, 8).m, {}, &ab.qkv);
        MakeLinear(MakeW(C, C, bf16, 9).m, Rand(C, 0.1f, 10), &ab.proj);
        ab.ls1 = Rand(C, 0.5f, 11);
        MakeFFN(C, bf16, &ab.ffn);
        std::vector<float> xa = x;
        t = Time([&] {
          std::memcpy(xa.data(), x.data(), x.size() * 4);
          AttentionBlockForward(ab, side, side, xa.data(), y.data(), ws, pool);
        });
        const double flops = 2.0 * N * C * (3 * C + C + 8 * C + 49) + 4.0 * N * N * C;
        std::snprintf(name, sizeof name, "stage%d attention block C=%lld N=%lld", s, (long long)C,
                      (long long)N);
        Report(name, flops, t, bf16);
      }
    }
  }
}

// A full-size random FastVLM-0.5B vision tower + projector in Apple's layout.
std::string WriteCheckpoint(const std::string& dir, bool bf16) {
  struct T {
    std::string name;
    std::vector<int64_t> shape;
    bool matrix;  // stored in the weight dtype (else f32)
  };
  std::vector<T> ts;
  const std::string P = "model.vision_tower.vision_tower.model.";
  const int64_t w[5] = {96, 192, 384, 768, 1536}, d[5] = {2, 12, 24, 4, 2};
  auto conv = [&](const std::string& n, std::vector<int64_t> s) {
    ts.push_back({n + ".weight", s, s.size() == 4 && s[1] > 1 && s[2] == 1});
    ts.push_back({n + ".bias", {s[0]}, false});
  };
  conv(P + "patch_embed.0.reparam_conv", {96, 3, 3, 3});
  conv(P + "patch_embed.1.reparam_conv", {96, 1, 3, 3});
  conv(P + "patch_embed.2.reparam_conv", {96, 96, 1, 1});
  const int net_stage[5] = {0, 2, 4, 7, 10}, net_down[5] = {-1, 1, 3, 5, 8}, net_cpe[5] = {-1, -1, -1, 6, 9};
  for (int s = 0; s < 5; ++s) {
    const int64_t C = w[s];
    if (net_down[s] >= 0) {
      const std::string p = P + "network." + std::to_string(net_down[s]) + ".proj.";
      conv(p + "0.lkb_reparam", {C, 1, 7, 7});
      conv(p + "1.reparam_conv", {C, C, 1, 1});
    }
    if (net_cpe[s] >= 0) conv(P + "network." + std::to_string(net_cpe[s]) + ".reparam_conv", {C, 1, 7, 7});
    for (int b = 0; b < d[s]; ++b) {
      const std::string p = P + "network." + std::to_string(net_stage[s]) + "." + std::to_string(b) + ".";
      if (s < 3) {
        conv(p + "token_mixer.reparam_conv", {C, 1, 3, 3});
        ts.push_back({p + "layer_scale", {C, 1, 1}, false});
      } else {
        ts.push_back({p + "norm.weight", {C}, false});
        ts.push_back({p + "norm.bias", {C}, false});
        ts.push_back({p + "token_mixer.qkv.weight", {3 * C, C}, true});
        ts.push_back({p + "token_mixer.proj.weight", {C, C}, true});
        ts.push_back({p + "token_mixer.proj.bias", {C}, false});
        ts.push_back({p + "layer_scale_1", {C, 1, 1}, false});
        ts.push_back({p + "layer_scale_2", {C, 1, 1}, false});
      }
      ts.push_back({p + "convffn.conv.conv.weight", {C, 1, 7, 7}, false});
      for (const char* bn : {"weight", "bias", "running_mean", "running_var"})
        ts.push_back({p + "convffn.conv.bn." + bn, {C}, false});
      conv(p + "convffn.fc1", {4 * C, C, 1, 1});
      conv(p + "convffn.fc2", {C, 4 * C, 1, 1});
    }
  }
  conv(P + "conv_exp.reparam_conv", {3072, 1, 3, 3});
  conv(P + "conv_exp.se.reduce", {192, 3072, 1, 1});
  conv(P + "conv_exp.se.expand", {3072, 192, 1, 1});
  ts.push_back({"model.mm_projector.0.weight", {896, 3072}, true});
  ts.push_back({"model.mm_projector.0.bias", {896}, false});
  ts.push_back({"model.mm_projector.2.weight", {896, 896}, true});
  ts.push_back({"model.mm_projector.2.bias", {896}, false});

  nlohmann::json header = nlohmann::json::object();
  std::vector<std::vector<uint8_t>> blobs;
  size_t off = 0;
  uint32_t seed = 1;
  for (const T& t : ts) {
    int64_t n = 1;
    for (auto s : t.shape) n *= s;
    const int64_t fan_in = t.shape.size() > 1 ? n / t.shape[0] : 1;
    std::vector<float> v;
    const bool is_var = t.name.find("running_var") != std::string::npos ||
                        t.name.find("bn.weight") != std::string::npos ||
                        t.name.find("norm.weight") != std::string::npos;
    if (is_var) {
      v.assign(n, 1.0f);
    } else if (t.name.find("layer_scale") != std::string::npos) {
      v = Rand(n, 0.1f, ++seed);
    } else {
      v = Rand(n, t.shape.size() > 1 ? std::sqrt(3.0f / fan_in) : 0.05f, ++seed);
    }
    std::vector<uint8_t> bytes;
    const bool half = bf16 && t.matrix;
    if (half) {
      bytes.resize(n * 2);
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = F32ToBF16(v[i]);
        std::memcpy(bytes.data() + 2 * i, &h, 2);
      }
    } else {
      bytes.resize(n * 4);
      std::memcpy(bytes.data(), v.data(), n * 4);
    }
    header[t.name] = {{"dtype", half ? "BF16" : "F32"}, {"shape", t.shape}, {"data_offsets", {off, off + bytes.size()}}};
    off += bytes.size();
    blobs.push_back(std::move(bytes));
  }
  std::string h = header.dump();
  while (h.size() % 8) h += ' ';
  std::ofstream f(dir + "/model.safetensors", std::ios::binary);
  const uint64_t hl = h.size();
  f.write(reinterpret_cast<const char*>(&hl), 8);
  f.write(h.data(), h.size());
  for (const auto& b : blobs) f.write(reinterpret_cast<const char*>(b.data()), b.size());
  return dir;
}

void BenchEncoder(ThreadPool& pool, int size) {
  std::ifstream cf(std::string(FASTVLM_SOURCE_DIR) + "/tests/fixtures/configs/llava_qwen2_0.5b.json");
  const std::string config((std::istreambuf_iterator<char>(cf)), std::istreambuf_iterator<char>());
  for (bool bf16 : {true, false}) {
    char tmpl[] = "/tmp/vision_bench_XXXXXX";
    const std::string dir = mkdtemp(tmpl);
    std::ofstream(dir + "/config.json") << config;
    WriteCheckpoint(dir, bf16);
    auto ck = io::Checkpoint::Open(dir);
    if (!ck.ok()) {
      std::fprintf(stderr, "%s\n", ck.status().message().c_str());
      std::exit(1);
    }
    auto cfg = io::ParseModelConfig((*ck)->config_json(), dir);
    if (!cfg.ok()) {
      std::fprintf(stderr, "%s\n", cfg.status().message().c_str());
      std::exit(1);
    }
    auto vm = vision::VisionModel::Load(**ck, *cfg, size);
    if (!vm.ok()) {
      std::fprintf(stderr, "%s\n", vm.status().message().c_str());
      std::exit(1);
    }
    std::vector<float> px = Rand(size_t(size) * size * 3, 0.5f, 99), out(size_t((*vm)->num_tokens()) * (*vm)->embed_dim());
    for (auto& v : px) v += 0.5f;
    std::vector<double> enc, proj;
    vision::VisionTimings tm;
    (void)(*vm)->Encode(px.data(), out.data(), pool, &tm);  // warm-up
    for (int i = 0; i < g_reps; ++i) {
      (void)(*vm)->Encode(px.data(), out.data(), pool, &tm);
      enc.push_back(tm.encoder);
      proj.push_back(tm.projector);
    }
    const double gflop = 486.7 * (size / 1024.0) * (size / 1024.0);
    std::printf("\nwhole encoder %dx%d, %s weights, %d threads: median %.3f s (min %.3f, max %.3f) "
                "= %.1f GFLOP/s (%.1f%% of %s peak); projector %.2f ms\n",
                size, size, bf16 ? "bf16" : "f32", pool.size(), Median(enc),
                *std::min_element(enc.begin(), enc.end()), *std::max_element(enc.begin(), enc.end()),
                gflop / Median(enc), 100 * gflop / Median(enc) / (bf16 ? g_peak_bf16 : g_peak_f32),
                bf16 ? "bf16" : "f32", Median(proj) * 1e3);
    std::filesystem::remove_all(dir);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, size = 1024;
  bool layers = true, encoder = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--reps" && i + 1 < argc) g_reps = std::atoi(argv[++i]);
    else if (a == "--size" && i + 1 < argc) size = std::atoi(argv[++i]);
    else if (a == "--peak-f32" && i + 1 < argc) g_peak_f32 = std::atof(argv[++i]);
    else if (a == "--peak-bf16" && i + 1 < argc) g_peak_bf16 = std::atof(argv[++i]);
    else if (a == "--skip-layers") layers = false;
    else if (a == "--skip-encoder") encoder = false;
    else {
      std::fprintf(stderr, "unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  ThreadPool pool(threads);
  std::printf("target %s, %d threads\n", kernels::ActiveTargetName().c_str(), threads);
  if (layers) BenchLayers(pool, size);
  if (encoder) BenchEncoder(pool, size);
  return 0;
}
