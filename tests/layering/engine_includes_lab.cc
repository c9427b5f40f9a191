// engine_includes_lab.cc: planted on purpose. The kernel lab sits above the engine, not inside it.
// tests/layering/CMakeLists.txt compiles it with the include root of lb_engine and expects
// the compiler to stop at the line below, unable to find the file.
#include "lab/cases.h"

int lb_layering_probe() { return 0; }
