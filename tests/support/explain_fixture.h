// explain_fixture.h: the model every explain/ golden file was made with
// (tests/fixtures/explain/make_model.py): a width-8 ResNet18, 1 channel, 2 logits, in eval mode.
#pragma once

#include <memory>
#include <string>

#include "models/checkpoint.h"

namespace lb::test {

inline std::string explain_fixture(const std::string& name) {
  return std::string(LB_FIXTURES_DIR) + "/explain/" + name;
}

inline models::Checkpoint explain_fixture_checkpoint() {
  return models::load_checkpoint(explain_fixture("model.safetensors"));  // eval mode
}

}  // namespace lb::test
