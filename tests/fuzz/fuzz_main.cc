// fuzz_main.cc: the libFuzzer entry point of lb_fuzz_<target>; LB_FUZZ_TARGET names the function
// (tests/CMakeLists.txt builds one binary per target). Run them with tools/fuzz.sh.
#include <omp.h>

#include "tests/fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  omp_set_num_threads(1);  // one input at a time; a thread team would only add noise
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lb::fuzz::LB_FUZZ_TARGET(data, size);
  return 0;
}
