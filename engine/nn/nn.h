// nn/nn.h: the module system in one include: Module and its state dict, the layers, the
// initialisers, the fusion and folding switches, batch norm folded into a conv.
#pragma once

#include "engine/nn/fold.h"
#include "engine/nn/fusion.h"
#include "engine/nn/init.h"
#include "engine/nn/layers.h"
#include "engine/nn/module.h"
