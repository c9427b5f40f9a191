// checkpoint.cc: see checkpoint.h.
#include "models/checkpoint.h"

#include <algorithm>

#include "engine/io/safetensors.h"

namespace lb::models {

namespace {

const nn::StateDict& find_or_throw(const nn::StateDict& sd, const std::string& key, const std::string& path,
                                   Tensor& out) {
  for (const auto& [k, t] : sd)
    if (k == key) {
      out = t;
      return sd;
    }
  LB_THROW(path << ": no tensor '" << key << "', so this is not a ResNet18 checkpoint; "
                << "train one with `lightbox train` or convert torchvision weights with tools/convert_weights.py");
}

ModelMeta parse_meta(const std::map<std::string, std::string>& md, const nn::StateDict& sd, const std::string& path) {
  ModelMeta m;
  Tensor conv1, fc;
  find_or_throw(sd, "conv1.weight", path, conv1);
  find_or_throw(sd, "fc.weight", path, fc);
  m.in_channels = conv1.size(1);
  m.num_classes = fc.size(0);
  m.width = conv1.size(0);
  try {
    auto get = [&](const char* k) { return md.count(k) ? md.at(k) : std::string(); };
    if (!get("arch").empty()) m.arch = get("arch");
    if (!get("normalization").empty()) {
      auto j = nlohmann::json::parse(get("normalization"));
      m.norm.mean = j.at("mean").get<double>();
      m.norm.std = j.at("std").get<double>();
    }
    if (!get("class_names").empty())
      m.class_names = nlohmann::json::parse(get("class_names")).get<std::vector<std::string>>();
    if (!get("image_size").empty()) m.image_size = std::stoll(get("image_size"));
    if (!get("config").empty()) m.config = nlohmann::json::parse(get("config"));
  } catch (const std::exception& e) {
    LB_THROW(path << ": unreadable lightbox metadata (" << e.what() << "); re-save the checkpoint");
  }
  LB_CHECK(m.arch == "resnet18",
           path << ": architecture '" << m.arch << "' is not resnet18, the only one lightbox builds");
  LB_CHECK(m.norm.std > 0, path << ": normalization std must be positive");
  if (m.class_names.size() != static_cast<size_t>(m.num_classes))
    m.class_names = default_class_names("", m.num_classes);
  return m;
}

}  // namespace

std::vector<std::string> default_class_names(const std::string& dataset_path, int64_t num_classes) {
  std::string lower = dataset_path;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  if (lower.find("pneumoniamnist") != std::string::npos && num_classes == 2) return {"normal", "pneumonia"};
  std::vector<std::string> names;
  for (int64_t i = 0; i < num_classes; ++i) names.push_back("class " + std::to_string(i));
  return names;
}

void save_checkpoint(const std::string& path, const ResNet18& model, const ModelMeta& meta) {
  std::map<std::string, std::string> md;
  md["format"] = "pt";  // what safetensors' PyTorch loader expects to see
  md["arch"] = meta.arch;
  md["in_channels"] = std::to_string(meta.in_channels);
  md["num_classes"] = std::to_string(meta.num_classes);
  md["normalization"] = nlohmann::json{{"mean", meta.norm.mean}, {"std", meta.norm.std}}.dump();
  md["class_names"] = nlohmann::json(meta.class_names).dump();
  md["image_size"] = std::to_string(meta.image_size);
  md["config"] = meta.config.dump();
  io::save_safetensors(path, model.state_dict(), md);
}

Checkpoint load_checkpoint(const std::string& path) {
  io::SafeTensors st = io::load_safetensors(path);
  Checkpoint ck;
  ck.meta = parse_meta(st.metadata, st.tensors, path);
  Generator gen(0);
  ck.model = std::make_shared<ResNet18>(ck.meta.in_channels, ck.meta.num_classes, gen, ck.meta.width);
  try {
    ck.model->load_state_dict(st.tensors, /*strict=*/true);
  } catch (const Error& e) {
    LB_THROW(path << ": " << e.what());
  }
  ck.model->eval();
  return ck;
}

}  // namespace lb::models
