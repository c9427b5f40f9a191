// explain_includes_cli.cc: planted on purpose. Library code never reaches into the CLI.
// tests/layering/CMakeLists.txt compiles it with the include root of lb_explain and expects
// the compiler to stop at the line below, unable to find the file.
#include "tools/cli/commands.h"

int lb_layering_probe() { return 0; }
