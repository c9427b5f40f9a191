// optim/optim.h: the optimizers and learning-rate schedules in one include.
#pragma once

#include "engine/optim/adamw.h"
#include "engine/optim/lr_schedule.h"
#include "engine/optim/optimizer.h"
#include "engine/optim/sgd.h"
