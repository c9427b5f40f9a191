// engine_includes_models.cc: planted on purpose. engine/ sits below models/.
// tests/layering/CMakeLists.txt compiles it with the include root of lb_engine and expects
// the compiler to stop at the line below, unable to find the file.
#include "models/resnet.h"

int lb_layering_probe() { return 0; }
