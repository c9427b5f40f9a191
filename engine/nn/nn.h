// nn/nn.h: the module system in one include: Module and its state dict, the layers, the
// initialisers.
#pragma once

#include "engine/nn/init.h"
#include "engine/nn/layers.h"
#include "engine/nn/module.h"
