// medmnist.cc: see medmnist.h.
#include "engine/data/medmnist.h"

#include <algorithm>
#include <cmath>

#include "engine/io/npz.h"

namespace lb::data {

namespace {

constexpr int64_t kMaxClasses = 1024;

// (N, 1) or (N) class indices -> int64 (N); (N, L > 1) multi-label flags -> int64 (N, L).
Tensor labels_to_int64(const Tensor& raw, const std::string& what) {
  LB_CHECK(raw.dim() == 1 || raw.dim() == 2,
           what << ": labels must be (N, 1) class indices or (N, L) multi-label flags, got " << shape_str(raw.shape()));
  LB_CHECK(raw.dtype() == DType::UInt8 || raw.dtype() == DType::Int64,
           what << ": labels must be integers, got " << dtype_name(raw.dtype()));
  const bool multilabel = raw.dim() == 2 && raw.size(1) > 1;
  LB_CHECK(!multilabel || raw.size(1) <= kMaxClasses,
           what << ": " << raw.size(1) << " labels per sample is more than " << kMaxClasses
                << " (ChestMNIST has 14); the file is corrupt, re-download it");
  Tensor out =
      multilabel ? Tensor::empty({raw.size(0), raw.size(1)}, DType::Int64) : Tensor::empty({raw.size(0)}, DType::Int64);
  int64_t* o = out.data<int64_t>();
  const int64_t per_row = multilabel ? raw.size(1) : 1;
  for (int64_t i = 0; i < out.numel(); ++i) {
    const double v = raw.at(i);
    const int64_t row = i / per_row;
    if (multilabel) {
      LB_CHECK(v == 0 || v == 1, what << ": label " << i % per_row << " of row " << row << " is " << v
                                      << "; multi-label flags must be 0 or 1");
    } else {
      LB_CHECK(v >= 0, what << ": label " << v << " at row " << row << " is negative");
      // Labels size per-class tables (class_counts): a corrupt one must not become a huge allocation.
      LB_CHECK(v < kMaxClasses,
               what << ": label " << v << " at row " << row << " is not below " << kMaxClasses
                    << " (MedMNIST sets have at most 11 classes); the file is corrupt, re-download it");
    }
    o[i] = static_cast<int64_t>(v);
  }
  return out;
}

Split load_split(const io::NpzReader& npz, const std::string& path, const std::string& name) {
  const std::string ik = name + "_images", lk = name + "_labels";
  for (const std::string& k : {ik, lk})
    LB_CHECK(npz.has(k), path << ": missing array '" << k << "'; a MedMNIST .npz has train/val/test _images and "
                              << "_labels (download the official file)");
  Split s;
  s.name = name;
  Tensor img = npz.get(ik);
  LB_CHECK(img.dtype() == DType::UInt8, path << ":" << ik << ": images must be uint8, got " << dtype_name(img.dtype()));
  LB_CHECK(img.dim() == 3 || (img.dim() == 4 && (img.size(3) == 1 || img.size(3) == 3)),
           path << ":" << ik << ": images must be (N, H, W) or (N, H, W, 3), got " << shape_str(img.shape()));
  LB_CHECK(img.size(1) > 0 && img.size(2) > 0,
           path << ":" << ik << ": images of " << shape_str(img.shape()) << " have no pixels; re-download the file");
  s.images = img.dim() == 3 ? img.view({img.size(0), img.size(1), img.size(2), 1}) : img;
  s.labels = labels_to_int64(npz.get(lk), path + ":" + lk);
  LB_CHECK(s.labels.size(0) == s.images.size(0),
           path << ": " << s.images.size(0) << " " << name << " images but " << s.labels.size(0) << " labels");
  return s;
}

}  // namespace

std::vector<int64_t> Split::class_counts(int64_t num_classes) const {
  std::vector<int64_t> counts(num_classes, 0);
  const int64_t* l = labels.data<int64_t>();
  if (multilabel()) {
    const int64_t width = labels.size(1);
    for (int64_t i = 0; i < labels.numel(); ++i)
      if (i % width < num_classes) counts[i % width] += l[i];
    return counts;
  }
  for (int64_t i = 0; i < labels.numel(); ++i)
    if (l[i] >= 0 && l[i] < num_classes) counts[l[i]]++;
  return counts;
}

const char* task_name(Task t) {
  switch (t) {
    case Task::Binary:
      return "binary-class";
    case Task::MultiClass:
      return "multi-class";
    case Task::MultiLabel:
      return "multi-label, binary-class";
  }
  return "?";
}

Task parse_task(const std::string& s) {
  if (s == "binary" || s == "binary-class") return Task::Binary;
  if (s == "multi-class" || s == "multiclass") return Task::MultiClass;
  if (s == "multi-label" || s == "multi-label, binary-class" || s == "multilabel") return Task::MultiLabel;
  LB_THROW("unknown task '" << s << "'; use binary-class, multi-class or multi-label, binary-class");
}

const Split& Dataset::split(const std::string& name) const {
  if (name == "train") return train;
  if (name == "val") return val;
  if (name == "test") return test;
  LB_THROW("unknown split '" << name << "'; use train, val or test");
}

Dataset load_medmnist(const std::string& path) {
  io::NpzReader npz(path);
  Dataset d;
  d.path = path;
  d.train = load_split(npz, path, "train");
  d.val = load_split(npz, path, "val");
  d.test = load_split(npz, path, "test");
  for (const Split* s : {&d.val, &d.test})
    LB_CHECK(s->images.shape()[1] == d.train.height() && s->images.shape()[2] == d.train.width() &&
                 s->images.shape()[3] == d.train.channels(),
             path << ": " << s->name << " images " << shape_str(s->images.shape()) << " do not match train images "
                  << shape_str(d.train.images.shape()));
  for (const Split* s : {&d.val, &d.test})
    LB_CHECK(
        s->multilabel() == d.train.multilabel() && (!s->multilabel() || s->labels.size(1) == d.train.labels.size(1)),
        path << ": " << s->name << " labels " << shape_str(s->labels.shape()) << " do not match train labels "
             << shape_str(d.train.labels.shape()) << "; every split must have the same label layout");
  LB_CHECK(d.train.size() > 0, path << ": the train split is empty");
  if (d.train.multilabel()) {
    d.task = Task::MultiLabel;
    d.num_classes = d.train.labels.size(1);
    return d;
  }
  for (const Split* s : {&d.train, &d.val, &d.test}) {
    const int64_t* l = s->labels.data<int64_t>();
    for (int64_t i = 0; i < s->size(); ++i) d.num_classes = std::max(d.num_classes, l[i] + 1);
  }
  d.task = d.num_classes > 2 ? Task::MultiClass : Task::Binary;
  return d;
}

Tensor to_model_space(const Split& s, const std::vector<int64_t>& idx, Normalization norm, const AugmentConfig* aug,
                      uint64_t seed, int64_t epoch) {
  const int64_t h = s.height(), w = s.width(), c = s.channels(), plane = h * w;
  const int64_t batch = static_cast<int64_t>(idx.size());
  for (int64_t i : idx)
    LB_CHECK(i >= 0 && i < s.size(),
             "to_model_space: index " << i << " outside the " << s.name << " split of " << s.size());
  Tensor out = Tensor::empty({batch, c, h, w});  // (B, C, H, W)
  float* o = out.data<float>();
  const uint8_t* px = s.images.data<uint8_t>();  // (N, H, W, C)
  const bool augment = aug != nullptr && aug->enabled();
#pragma omp parallel if (batch * c * plane > (1 << 16))
  {
    std::vector<float> scratch(augment ? c * plane : 0);
#pragma omp for
    for (int64_t b = 0; b < batch; ++b) {
      const uint8_t* img = px + idx[b] * plane * c;
      float* dst = o + b * c * plane;
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t i = 0; i < plane; ++i) dst[ch * plane + i] = img[i * c + ch] / 255.0f;
      if (augment) {
        Generator gen(sample_seed(seed, epoch, idx[b]));
        augment_image(dst, c, h, w, *aug, gen, scratch.data());
      }
      const float inv_std = static_cast<float>(1.0 / norm.std), mean = static_cast<float>(norm.mean);
      for (int64_t i = 0; i < c * plane; ++i) dst[i] = (dst[i] - mean) * inv_std;
    }
  }
  return out;
}

Tensor gather_labels(const Split& s, const std::vector<int64_t>& idx) {
  const int64_t batch = static_cast<int64_t>(idx.size()), width = s.multilabel() ? s.labels.size(1) : 1;
  Tensor out = s.multilabel() ? Tensor::empty({batch, width}, DType::Int64) : Tensor::empty({batch}, DType::Int64);
  const int64_t* l = s.labels.data<int64_t>();
  int64_t* o = out.data<int64_t>();
  for (int64_t b = 0; b < batch; ++b) {
    LB_CHECK(idx[b] >= 0 && idx[b] < s.size(),
             "gather_labels: index " << idx[b] << " outside the " << s.name << " split of " << s.size());
    std::copy(l + idx[b] * width, l + (idx[b] + 1) * width, o + b * width);
  }
  return out;
}

Normalization split_statistics(const Split& s) {
  const uint8_t* px = s.images.data<uint8_t>();
  double sum = 0.0, sq = 0.0;
  const int64_t n = s.images.numel();
  for (int64_t i = 0; i < n; ++i) {
    const double v = px[i] / 255.0;
    sum += v;
    sq += v * v;
  }
  const double mean = sum / n;
  return {mean, std::sqrt(std::max(sq / n - mean * mean, 1e-12))};
}

}  // namespace lb::data
