// cpu_includes_engine.cc: planted on purpose. The CPU backend (engine/cpu/) sits below the rest of
// engine/: its loops take pointers and argument structs and never see a tensor.
// tests/layering/CMakeLists.txt compiles it with the include root of lb_cpu and expects
// the compiler to stop at the line below, unable to find the file.
#include "engine/tensor.h"

int lb_layering_probe() { return 0; }
