// checkpoint.cc: see checkpoint.h.
#include "models/checkpoint.h"

#include <algorithm>
#include <filesystem>

#include "base/notes.h"
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

// Reads one metadata entry with `parse`; an entry that does not parse is not lightbox's (another
// tool's free text) and is noted and skipped: the tensors, not the metadata, say what the model is.
template <class Parse>
void read_entry(const std::map<std::string, std::string>& md, const char* key, const std::string& path, Parse parse,
                const char* fallback) {
  auto it = md.find(key);
  if (it == md.end() || it->second.empty()) return;
  try {
    parse(it->second);
  } catch (const std::exception&) {
    note(path + ": metadata " + key + " '" + it->second + "' is not lightbox's; ignored, " + fallback);
  }
}

ModelMeta parse_meta(const std::map<std::string, std::string>& md, const nn::StateDict& sd, const std::string& path) {
  ModelMeta m;
  Tensor conv1, fc;
  find_or_throw(sd, "conv1.weight", path, conv1);
  find_or_throw(sd, "fc.weight", path, fc);
  m.in_channels = conv1.size(1);
  m.num_classes = fc.size(0);
  m.width = conv1.size(0);
  // arch is free text in files from other tools ("torchvision resnet18, conv1 1->64, fc 512->2"):
  // remembered for the note load_checkpoint makes once every tensor has matched ResNet18's.
  auto arch = md.find("arch");
  if (arch != md.end() && arch->second != "resnet18") m.foreign_arch = arch->second;
  read_entry(
      md, "normalization", path,
      [&](const std::string& v) {
        const auto j = nlohmann::json::parse(v);
        const double mean = j.at("mean").get<double>(), std = j.at("std").get<double>();
        LB_CHECK(std > 0, "std must be positive");
        m.norm.mean = mean;
        m.norm.std = std;
      },
      "inputs are normalised with mean 0.5, std 0.5");
  m.task = m.num_classes > 2 ? data::Task::MultiClass : data::Task::Binary;
  read_entry(
      md, "task", path,
      [&](const std::string& v) {
        m.task = data::parse_task(v);
        m.task_stored = true;
      },
      "the task follows from the output count");
  read_entry(
      md, "class_names", path,
      [&](const std::string& v) { m.class_names = nlohmann::json::parse(v).get<std::vector<std::string>>(); },
      "classes are numbered");
  read_entry(
      md, "image_size", path,
      [&](const std::string& v) {
        size_t used = 0;
        const long long n = std::stoll(v, &used);
        LB_CHECK(used == v.size() && n > 0, "not a positive integer");
        m.image_size = n;
      },
      "the image size is taken as 28");
  read_entry(
      md, "config", path,
      [&](const std::string& v) {
        nlohmann::json j = nlohmann::json::parse(v);
        LB_CHECK(j.is_object(), "not an object");
        m.config = std::move(j);
      },
      "the training configuration is unknown");
  if (m.class_names.size() != static_cast<size_t>(m.num_classes))
    m.class_names = default_class_names("", m.num_classes);
  return m;
}

}  // namespace

namespace {

// MedMNIST's label names (medmnist/info.py, INFO[set]["label"], checked against medmnist 3.0.2),
// in label order. BloodMNIST's "immature granulocytes(myelocytes, metamyelocytes and
// promyelocytes)" is shortened to fit a figure's column; RetinaMNIST's grades are numbered
// ("class 0" ... "class 4") as MedMNIST names them "0" ... "4".
struct KnownSet {
  const char* name;
  std::vector<std::string> labels;
};
const std::vector<KnownSet>& medmnist_label_names() {
  static const std::vector<KnownSet> sets = {
      {"pneumoniamnist", {"normal", "pneumonia"}},
      {"breastmnist", {"malignant", "normal, benign"}},
      {"chestmnist",
       {"atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule", "pneumonia", "pneumothorax",
        "consolidation", "edema", "emphysema", "fibrosis", "pleural", "hernia"}},
      {"octmnist", {"choroidal neovascularization", "diabetic macular edema", "drusen", "normal"}},
      {"bloodmnist",
       {"basophil", "eosinophil", "erythroblast", "immature granulocytes", "lymphocyte", "monocyte", "neutrophil",
        "platelet"}},
      {"pathmnist",
       {"adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle", "normal colon mucosa",
        "cancer-associated stroma", "colorectal adenocarcinoma epithelium"}},
      {"dermamnist",
       {"actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma", "benign keratosis-like lesions",
        "dermatofibroma", "melanoma", "melanocytic nevi", "vascular lesions"}},
      {"tissuemnist",
       {"Collecting Duct, Connecting Tubule", "Distal Convoluted Tubule", "Glomerular endothelial cells",
        "Interstitial endothelial cells", "Leukocytes", "Podocytes", "Proximal Tubule Segments",
        "Thick Ascending Limb"}},
      {"organamnist",
       {"bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right", "liver", "lung-left",
        "lung-right", "pancreas", "spleen"}},
  };
  return sets;
}

}  // namespace

std::vector<std::string> default_class_names(const std::string& dataset_path, int64_t num_classes) {
  std::string lower = std::filesystem::path(dataset_path).filename().string();
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  for (const KnownSet& set : medmnist_label_names()) {
    const std::string stem = set.name;
    // organcmnist and organsmnist label the same 11 organs as organamnist.
    const bool organ = stem == "organamnist" && (lower.find("organcmnist") != std::string::npos ||
                                                 lower.find("organsmnist") != std::string::npos);
    if ((lower.find(stem) != std::string::npos || organ) && static_cast<int64_t>(set.labels.size()) == num_classes)
      return set.labels;
  }
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
  md["task"] = data::task_name(meta.task);
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
    LB_THROW(path << ": " << e.what()
                  << (ck.meta.foreign_arch.empty()
                          ? std::string()
                          : " (its metadata names the architecture '" + ck.meta.foreign_arch + "')"));
  }
  if (!ck.meta.foreign_arch.empty())
    note(path + ": metadata arch '" + ck.meta.foreign_arch +
         "' is not lightbox's 'resnet18'; ignored, since every tensor matches ResNet18's names and shapes");
  ck.model->eval();
  return ck;
}

}  // namespace lb::models
