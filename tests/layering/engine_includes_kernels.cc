// engine_includes_kernels.cc: the control of tests/layering/: a downward include (the engine
// reaching its kernels and the foundation headers) compiles with lb_engine's include root, so a
// failing probe fails because its include runs upward and not because the probes cannot build.
#include "base/common.h"
#include "engine/tensor.h"
#include "kernels/shapes.h"

int lb_layering_control() { return 0; }
