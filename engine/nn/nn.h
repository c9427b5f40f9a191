// nn/nn.h: the module system in one include: Module and its state dict, the layers, the
// initialisers, the fusion switch.
#pragma once

#include "engine/nn/fusion.h"
#include "engine/nn/init.h"
#include "engine/nn/layers.h"
#include "engine/nn/module.h"
