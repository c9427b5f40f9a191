// models_includes_explain.cc: planted on purpose. models/ sits below explain/.
// tests/layering/CMakeLists.txt compiles it with the include root of lb_models and expects
// the compiler to stop at the line below, unable to find the file.
#include "explain/explain.h"

int lb_layering_probe() { return 0; }
