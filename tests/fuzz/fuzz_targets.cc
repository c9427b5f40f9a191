// fuzz_targets.cc: see fuzz_targets.h. The file readers take paths, so each input is written to a
// scratch file first (in /dev/shm when there is one: thousands of executions a second).
#include "tests/fuzz/fuzz_targets.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "base/common.h"
#include "engine/data/medmnist.h"
#include "engine/io/npy.h"
#include "engine/io/npz.h"
#include "engine/io/png.h"
#include "engine/io/safetensors.h"
#include "models/train.h"

namespace lb::fuzz {

namespace {

// A per-process scratch file holding the current input.
std::string scratch_file(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  std::error_code ec;
  static const std::string dir = fs::is_directory("/dev/shm", ec) ? "/dev/shm" : fs::temp_directory_path().string();
  const std::string path = dir + "/lb_fuzz_input." + std::to_string(::getpid());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("fuzz: cannot write " + path);  // the harness, not the parser
  if (size) std::fwrite(data, 1, size, f);
  std::fclose(f);
  return path;
}

// Runs one parse; lb::Error is the accepted way to refuse an input, everything else escapes.
template <class F>
bool refused_or_parsed(F&& f) {
  try {
    f();
    return true;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace

bool fuzz_npy(const uint8_t* data, size_t size) {
  const bool a = refused_or_parsed([&] { io::parse_npy(data, size, "fuzz.npy"); });
  const std::string path = scratch_file(data, size);
  const bool b = refused_or_parsed([&] { io::load_npy(path); });
  return a && b;
}

bool fuzz_npz(const uint8_t* data, size_t size) {
  const std::string path = scratch_file(data, size);
  bool members = true;
  const bool opened = refused_or_parsed([&] {
    io::NpzReader r(path);
    for (const std::string& k : r.keys()) members = refused_or_parsed([&] { r.get(k); }) && members;
  });
  // Not every valid .npz is a MedMNIST dataset, so only the archive and its members count.
  refused_or_parsed([&] { data::load_medmnist(path); });
  return opened && members;
}

bool fuzz_safetensors(const uint8_t* data, size_t size) {
  const std::string path = scratch_file(data, size);
  return refused_or_parsed([&] { io::load_safetensors(path); });
}

bool fuzz_png(const uint8_t* data, size_t size) {
  const std::string path = scratch_file(data, size);
  const bool a = refused_or_parsed([&] { io::load_png(path); });
  const bool b = refused_or_parsed([&] { io::load_png(path, 1); });
  return a && b;
}

bool fuzz_run_config(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  return refused_or_parsed([&] { models::parse_run_config(text, "config.json"); });
}

const std::vector<Target>& targets() {
  static const std::vector<Target> all = {{"npy", &fuzz_npy},
                                          {"npz", &fuzz_npz},
                                          {"safetensors", &fuzz_safetensors},
                                          {"png", &fuzz_png},
                                          {"run_config", &fuzz_run_config}};
  return all;
}

}  // namespace lb::fuzz
