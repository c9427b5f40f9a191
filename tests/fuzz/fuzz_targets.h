// fuzz_targets.h: one entry point per file parser that reads untrusted bytes, for libFuzzer
// (fuzz_main.cc, built with -DLB_FUZZ=ON and run by tools/fuzz.sh) and for the replay suite
// (test_fuzz_replay.cc, every build) that runs every kept input in tests/fuzz/corpus/<target>/.
//
// The contract each target checks: any input either parses or is refused with an lb::Error.
// A crash, a sanitizer report, an allocation over the fuzzer's -malloc_limit_mb, a hang, or any
// other exception (std::bad_alloc, nlohmann's type_error, std::out_of_range, ...) is a bug.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lb::fuzz {

// Returns true when every parse it tried accepted the input (a seed must), false when one refused it.
using TargetFn = bool (*)(const uint8_t* data, size_t size);

struct Target {
  const char* name;  // the folder under tests/fuzz/corpus and the binary lb_fuzz_<name>
  TargetFn fn;
};

bool fuzz_npy(const uint8_t* data, size_t size);          // parse_npy and load_npy
bool fuzz_npz(const uint8_t* data, size_t size);          // NpzReader, every member, load_medmnist
bool fuzz_safetensors(const uint8_t* data, size_t size);  // load_safetensors
bool fuzz_png(const uint8_t* data, size_t size);          // load_png as stored and as grey
bool fuzz_run_config(const uint8_t* data, size_t size);   // parse_run_config (config.json of --resume)

const std::vector<Target>& targets();

}  // namespace lb::fuzz
