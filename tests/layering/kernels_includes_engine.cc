// kernels_includes_engine.cc: planted on purpose. kernels/ sits below engine/: a kernel never sees a tensor.
// tests/layering/CMakeLists.txt compiles it with the include root of lb_kernels and expects
// the compiler to stop at the line below, unable to find the file.
#include "engine/tensor.h"

int lb_layering_probe() { return 0; }
