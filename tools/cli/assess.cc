// assess.cc: `lightbox assess`: every explainer x every score of explain/assess.h in one table.
//
//   lightbox assess --weights runs/phantom/checkpoints/best.safetensors --data phantom.npz
//                   --methods gradient,deep,partition,ig --per-class 10 --out runs/phantom/assess
//   lightbox assess --weights W --data data/pneumoniamnist.npz --methods gradient,deep --layer layer3
//   lightbox assess ... --sanity cascade,labels --label-epochs 1      # also the label randomisation test
//
// Images: the first --per-class images of each class of --split, in file order. Localisation
// (where the .npz has {split}_masks): pneumonia (label 1) images with a lesion, the map of output 1.
// Faithfulness: every selected image, the map of the model's predicted class; the curves read
// that class's log-odds (log p - log(1 - p)). Sanity: the first --sanity-images selected pneumonia images,
// output 1. Writes (atomically) --out/assess.json (the table, mean curves, per-image scores,
// settings) and --out/curves.svg (mean deletion and insertion curves per method), and prints
// the table.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/strings.h"
#include "engine/autograd.h"
#include "engine/io/file.h"
#include "engine/io/npz.h"
#include "engine/nn/capture.h"
#include "engine/progress.h"
#include "explain/assess.h"
#include "explain/masker.h"
#include "explain/registry.h"
#include "models/checkpoint.h"
#include "models/evaluate/evaluate_model.h"
#include "models/trainer.h"
#include "tools/cli/assess_report.h"
#include "tools/cli/commands.h"
#include "tools/cli/train_printer.h"

namespace lb::cli {

namespace {

using nlohmann::json;

// Every registered explainer (explain/registry.h), comma-separated: --methods' default.
std::string all_methods() { return explain::join_names(explain::explainer_names(), ",", ","); }

struct AssessOptions {
  std::string weights, data, split = "test", methods = all_methods(), out, layer = "input", masker, sanity = "cascade",
                             label_weights;
  int64_t per_class = 10, background = 50, nsamples = 100, max_evals = 500, steps = 32, curve_steps = 28,
          sanity_images = 4, label_epochs = 1;
  uint64_t seed = 0;
  bool quiet = false;
  int threads = 0;
  DeviceOptions device;  // where every network pass runs (models, the shuffled-label training)
};

// What the whole run shares: the model, the images and what is known about them.
struct Study {
  models::Checkpoint ck;
  Tensor x;  // (N, C, H, W) model space
  std::vector<int64_t> index, label, pred;
  std::vector<std::vector<uint8_t>> mask;  // (N) x (H*W); empty without masks
  Tensor background;                       // (B, C, H, W)
  Tensor curve_reference;                  // (N, ...) the reference each image's curves move towards
};

// The lowest indices of each class, `per_class` of each; `label` gets the class each was taken
// for (a multi-label sample is taken for the first of its labels that still needs samples).
std::vector<int64_t> first_per_class(const data::Split& s, int64_t per_class, int64_t classes,
                                     std::vector<int64_t>& label) {
  std::vector<int64_t> idx, taken(classes, 0);
  const int64_t* l = s.labels.data<int64_t>();
  const int64_t width = s.multilabel() ? s.labels.size(1) : 1;
  for (int64_t i = 0; i < s.size(); ++i)
    for (int64_t k = 0; k < classes; ++k) {
      const bool member = s.multilabel() ? k < width && l[i * width + k] == 1 : l[i] == k;
      if (!member || taken[k] >= per_class) continue;
      idx.push_back(i), label.push_back(k), taken[k]++;
      break;
    }
  return idx;
}

Tensor sample_background(const data::Split& train, int64_t count, uint64_t seed, data::Normalization norm) {
  LB_CHECK(count > 0 && count <= train.size(),
           "--background must be 1.." << train.size() << " (the training images), got " << count);
  std::vector<int64_t> all(train.size());
  for (int64_t i = 0; i < train.size(); ++i) all[i] = i;
  Generator gen(seed ^ 0x9e3779b97f4a7c15ull);  // the same draw as `lightbox explain --background N`
  for (int64_t i = 0; i < count; ++i) std::swap(all[i], all[i + gen.next() % (train.size() - i)]);
  return data::to_model_space(train, std::vector<int64_t>(all.begin(), all.begin() + count), norm);
}

// The input of `layer` for every image of x, without autograd: run on the model's device, returned
// on the CPU.
Tensor layer_input(models::ResNet18& model, const std::string& layer, const Tensor& x) {
  NoGradGuard ng;
  nn::Capture cap({layer});
  model(x.to(explain::model_device(model)));
  return explain::on_cpu(cap.at(layer).input);
}

// Curves at the input move towards the masker's reference image; at a layer towards the
// background's mean activation.
Tensor curve_references(Study& st, const AssessOptions& o) {
  const Tensor& x = st.x;
  if (o.layer == "input") {
    const explain::Masker m = explain::Masker::parse(o.masker.empty() ? "blur:" + std::to_string(x.size(3)) : o.masker);
    return m.reference(x);
  }
  const Tensor hb = layer_input(*st.ck.model, o.layer, st.background);  // (B, C_l, h, w)
  const int64_t per = hb.numel() / hb.size(0);
  Shape shape = hb.shape();
  shape[0] = x.size(0);
  Tensor ref = Tensor::empty(shape);
  std::vector<double> mean(per, 0.0);
  for (int64_t b = 0; b < hb.size(0); ++b)
    for (int64_t e = 0; e < per; ++e) mean[e] += hb.data<float>()[b * per + e] / static_cast<double>(hb.size(0));
  for (int64_t n = 0; n < x.size(0); ++n)
    for (int64_t e = 0; e < per; ++e) ref.data<float>()[n * per + e] = static_cast<float>(mean[e]);
  return ref;
}

Study load_study(const AssessOptions& o, Device dev) {
  Study st;
  st.ck = models::load_checkpoint(o.weights);
  st.ck.model->eval();
  st.ck.model->to(dev);  // the images and maps stay on the CPU; Explained moves each batch
  const std::string path =
      o.data.empty() ? st.ck.meta.config.value("data", std::string("data/pneumoniamnist.npz")) : o.data;
  const data::Dataset ds = data::load_medmnist(path);
  eval::check_compatible(st.ck, ds, o.weights);
  LB_CHECK(o.per_class > 0, "assess: --per-class must be positive, got " << o.per_class);
  const data::Split& split = ds.split(o.split);
  st.index = first_per_class(split, o.per_class, st.ck.meta.num_classes, st.label);
  LB_CHECK(!st.index.empty(), "assess: the " << o.split << " split of " << path << " is empty");
  st.x = data::to_model_space(split, st.index, st.ck.meta.norm);
  io::NpzReader npz(path);
  if (npz.has(o.split + "_masks")) {
    const Tensor m = npz.get(o.split + "_masks");
    LB_CHECK(m.dtype() == DType::UInt8 && m.dim() == 3 && m.size(0) == split.size() && m.size(1) == split.height() &&
                 m.size(2) == split.width(),
             path << ":" << o.split << "_masks must be uint8 (" << split.size() << ", " << split.height() << ", "
                  << split.width() << "), got " << m.str() << "; rewrite it with lightbox phantom");
    const int64_t hw = m.size(1) * m.size(2);
    for (int64_t i : st.index) st.mask.emplace_back(m.data<uint8_t>() + i * hw, m.data<uint8_t>() + (i + 1) * hw);
  }
  st.background = sample_background(ds.train, o.background, o.seed, st.ck.meta.norm);
  const Tensor logits = explain::Explained{*st.ck.model, explain::ModelOutput::Logits}.evaluate(st.x);
  const int64_t K = logits.size(1);
  for (int64_t n = 0; n < st.x.size(0); ++n) {
    int64_t best = 0;
    for (int64_t k = 1; k < K; ++k)
      if (logits.at(n * K + k) > logits.at(n * K + best)) best = k;
    st.pred.push_back(best);
  }
  st.curve_reference = curve_references(st, o);
  return st;
}

// f for the curves: the log-odds of every class, log p_k - log(1 - p_k) = z_k - log sum_{j != k} e^z_j,
// from the image or from the layer's input. Log-odds, not probabilities: a confident model's
// probability sits at 1.000 along most of a curve (and the blurred reference itself is usually
// called pneumonia), so probability curves hide the differences between orderings.
explain::BatchFn curve_fn(models::ResNet18& model, const std::string& layer) {
  return [&model, layer](const Tensor& in) {
    Tensor logits;
    if (layer == "input") {
      logits = explain::Explained{model, explain::ModelOutput::Logits}.evaluate(in);
    } else {
      NoGradGuard ng;
      logits = explain::on_cpu(model.forward_from(layer, in.to(explain::model_device(model)))).to(DType::Float64);
    }
    const int64_t B = logits.size(0), K = logits.size(1);
    Tensor out = Tensor::empty({B, K}, DType::Float64);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t k = 0; k < K; ++k) {
        double mx = -1e300, z = 0;
        for (int64_t j = 0; j < K; ++j)
          if (j != k) mx = std::max(mx, logits.at(b * K + j));
        for (int64_t j = 0; j < K; ++j)
          if (j != k) z += std::exp(logits.at(b * K + j) - mx);
        out.data<double>()[b * K + k] = K == 1 ? logits.at(b) : logits.at(b * K + k) - (mx + std::log(z));
      }
    return out;
  };
}

explain::MethodSettings settings_of(const AssessOptions& o) {
  explain::MethodSettings s;
  s.layer = o.layer;
  s.nsamples = o.nsamples;
  s.max_evals = o.max_evals;
  s.masker = o.masker;
  s.steps = o.steps;
  s.seed = o.seed;
  s.progress = !o.quiet;
  return s;
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  int64_t n = 0;
  for (double x : v)
    if (std::isfinite(x)) s += x, ++n;
  return n ? s / static_cast<double>(n) : std::nan("");
}

// The median of the finite entries (the mean of the two middle ones for an even count).
double median_of(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// Localisation and faithfulness of one method's attributions.
json score_method(const std::string& method, const explain::Attribution& a, Study& st, const AssessOptions& o) {
  const int64_t N = st.x.size(0), H = st.x.size(2), W = st.x.size(3), K = a.values.size(1);
  const Tensor maps = explain::channel_sum_upsampled(a.values, H, W);  // (N, K, 1, H, W), signed
  const explain::BatchFn f = curve_fn(*st.ck.model, o.layer);
  std::vector<double> share, point, auc, del, ins, del_r, ins_r, gap;
  std::vector<std::vector<double>> curve_sum(4);
  std::vector<double> fraction;
  json per_image = json::array();
  ProgressBar bar("score " + method, N, "img", !o.quiet);
  for (int64_t n = 0; n < N; ++n) {
    json row = {{"index", st.index[n]}, {"label", st.label[n]}, {"pred", st.pred[n]}};
    const int64_t kl = std::min<int64_t>(1, K - 1);
    const bool lesion = !st.mask.empty() && st.label[n] == 1 &&
                        std::any_of(st.mask[n].begin(), st.mask[n].end(), [](uint8_t m) { return m != 0; });
    if (lesion) {
      const std::vector<double> m = explain::map_of(maps, n, kl);
      share.push_back(explain::positive_share(m, st.mask[n]));
      point.push_back(explain::pointing_game(m, st.mask[n]));
      auc.push_back(explain::detection_auc(m, st.mask[n]));
      row["share"] = num(share.back()), row["pointing"] = point.back(), row["auc"] = num(auc.back());
    }
    const int64_t k = st.pred[n];
    const std::vector<double> attr = explain::map_of(a, n, k);
    const Tensor xn = o.layer == "input" ? st.x.slice0(n, 1) : layer_input(*st.ck.model, o.layer, st.x.slice0(n, 1));
    const Tensor rn = st.curve_reference.slice0(n, 1);
    const auto ord = explain::attribution_order(attr), rnd = explain::random_order(xn.numel(), o.seed * 7919 + n);
    const int64_t steps = std::min<int64_t>(o.curve_steps, xn.numel());
    const explain::Curve c[4] = {explain::perturbation_curve(f, xn, rn, ord, k, explain::CurveKind::Deletion, steps),
                                 explain::perturbation_curve(f, xn, rn, ord, k, explain::CurveKind::Insertion, steps),
                                 explain::perturbation_curve(f, xn, rn, rnd, k, explain::CurveKind::Deletion, steps),
                                 explain::perturbation_curve(f, xn, rn, rnd, k, explain::CurveKind::Insertion, steps)};
    del.push_back(c[0].auc), ins.push_back(c[1].auc), del_r.push_back(c[2].auc), ins_r.push_back(c[3].auc);
    fraction = c[0].fraction;
    for (int q = 0; q < 4; ++q) {
      curve_sum[q].resize(c[q].output.size(), 0.0);
      for (size_t s = 0; s < c[q].output.size(); ++s) curve_sum[q][s] += c[q].output[s] / static_cast<double>(N);
    }
    row["deletion_auc"] = c[0].auc, row["insertion_auc"] = c[1].auc;
    if (a.gaps.defined()) {
      const double e = a.expected.dim() == 1 ? a.expected.at(k) : a.expected.at(n * K + k);
      const double denom = std::fabs(a.outputs.at(n * K + k) - e);
      gap.push_back(denom > 1e-9 ? std::fabs(a.gaps.at(n * K + k)) / denom : std::nan(""));
      row["gap_rel"] = num(gap.back());
    }
    per_image.push_back(row);
    bar.update(1, 1);
  }
  bar.finish();
  json s;
  s["localisation"] = {{"images", share.size()},
                       {"share", num(mean_of(share))},
                       {"pointing", num(mean_of(point))},
                       {"auc", num(mean_of(auc))}};
  s["faithfulness"] = {{"images", N},
                       {"deletion_auc", mean_of(del)},
                       {"deletion_auc_random", mean_of(del_r)},
                       {"insertion_auc", mean_of(ins)},
                       {"insertion_auc_random", mean_of(ins_r)},
                       {"completeness_gap_rel", a.gaps.defined() ? num(median_of(gap)) : json(nullptr)}};
  s["curves"] = {{"fraction", fraction},
                 {"deletion", curve_sum[0]},
                 {"insertion", curve_sum[1]},
                 {"deletion_random", curve_sum[2]},
                 {"insertion_random", curve_sum[3]}};
  s["per_image"] = per_image;
  return s;
}

// The images the sanity checks explain: the first selected pneumonia images (any if none).
std::vector<int64_t> sanity_rows(const Study& st, int64_t count) {
  std::vector<int64_t> rows;
  for (int64_t n = 0; n < static_cast<int64_t>(st.label.size()) && static_cast<int64_t>(rows.size()) < count; ++n)
    if (st.label[n] == 1) rows.push_back(n);
  for (int64_t n = 0; n < static_cast<int64_t>(st.label.size()) && static_cast<int64_t>(rows.size()) < count; ++n)
    if (st.label[n] != 1) rows.push_back(n);
  return rows;
}

Tensor gather_rows(const Tensor& x, const std::vector<int64_t>& rows) {
  Shape s = x.shape();
  s[0] = static_cast<int64_t>(rows.size());
  Tensor out = Tensor::empty(s);
  const int64_t per = x.numel() / x.size(0);
  for (size_t i = 0; i < rows.size(); ++i)
    std::copy(x.data<float>() + rows[i] * per, x.data<float>() + (rows[i] + 1) * per, out.data<float>() + i * per);
  return out;
}

// |maps| of output k for every image, as a person sees them (H x W).
std::vector<std::vector<double>> visual_maps(const explain::Attribution& a, int64_t k, int64_t H, int64_t W) {
  std::vector<std::vector<double>> out;
  const Tensor& v = a.values;
  for (int64_t n = 0; n < v.size(0); ++n)
    out.push_back(explain::abs_map(explain::map_of(a, n, k), v.size(2), v.size(3), v.size(4), H, W));
  return out;
}

// Mean Spearman and SSIM of two sets of maps, image by image.
json similarity(const std::vector<std::vector<double>>& a, const std::vector<std::vector<double>>& b, int64_t H,
                int64_t W) {
  std::vector<double> rho, s;
  for (size_t n = 0; n < a.size(); ++n) {
    rho.push_back(explain::spearman(a[n], b[n]));
    // SSIM on maps scaled to [0, 1] by their own maximum (Adebayo et al. normalise each map).
    auto scaled = [](std::vector<double> m) {
      const double mx = *std::max_element(m.begin(), m.end());
      if (mx > 0)
        for (double& v : m) v /= mx;
      return m;
    };
    int64_t window = std::min<int64_t>(7, std::min(H, W));
    if (window % 2 == 0) --window;
    s.push_back(explain::ssim(scaled(a[n]), scaled(b[n]), H, W, window));
  }
  return {{"spearman", num(mean_of(rho))}, {"ssim", num(mean_of(s))}};
}

// A model trained briefly on shuffled labels: --label-weights, or trained here on a copy of the
// data whose train and val labels are permuted (images untouched).
std::shared_ptr<models::ResNet18> label_random_model(const AssessOptions& o, const std::string& data_path, Device dev) {
  if (!o.label_weights.empty()) {
    auto m = models::load_checkpoint(o.label_weights).model;
    m->to(dev);
    return m;
  }
  LB_CHECK(!o.out.empty(),
           "assess --sanity labels: give --out (the shuffled-label model is trained there) or --label-weights W");
  const std::string dir = o.out + "/label-random";
  std::filesystem::create_directories(dir);
  io::NpzReader npz(data_path);
  std::vector<std::pair<std::string, Tensor>> arrays;
  for (const std::string& key : npz.keys()) {
    Tensor t = npz.get(key);
    if (key == "train_labels" || key == "val_labels") {
      const std::vector<int64_t> perm = explain::random_order(t.size(0), o.seed + 0x5eed);
      Tensor sh = t.clone();
      const int64_t per = t.numel() / t.size(0), bytes = per * static_cast<int64_t>(dtype_size(t.dtype()));
      for (int64_t i = 0; i < t.size(0); ++i)
        std::memcpy(static_cast<char*>(sh.raw_data()) + i * bytes,
                    static_cast<const char*>(t.raw_data()) + perm[i] * bytes, bytes);
      t = sh;
    }
    arrays.emplace_back(key, t);
  }
  io::save_npz(dir + "/shuffled.npz", arrays);
  models::TrainConfig cfg;
  cfg.data = dir + "/shuffled.npz";
  cfg.out = dir;
  cfg.epochs = o.label_epochs;
  cfg.seed = o.seed;
  cfg.device = dev.str();
  TrainPrinter printer(!o.quiet);
  const models::TrainResult r = models::train_model(cfg, &printer);
  auto m = models::load_checkpoint(r.best_path).model;  // the only epoch with --label-epochs 1
  m->to(dev);
  return m;
}

std::string data_path_of(const AssessOptions& o, const Study& st) {
  return o.data.empty() ? st.ck.meta.config.value("data", std::string("data/pneumoniamnist.npz")) : o.data;
}

// Cascading randomisation (and label randomisation) for every method on the sanity images.
json run_sanity(const AssessOptions& o, Study& st, const std::vector<std::string>& methods, Device dev) {
  const std::vector<std::string> checks = split(o.sanity, ',', Empty::Skip);
  json out = json::object();
  if (checks.empty() || o.sanity == "none") return out;
  const std::vector<int64_t> rows = sanity_rows(st, o.sanity_images);
  const Tensor xs = gather_rows(st.x, rows);
  const int64_t H = st.x.size(2), W = st.x.size(3), k = std::min<int64_t>(1, st.ck.meta.num_classes - 1);
  explain::MethodSettings s = settings_of(o);
  s.progress = false;
  std::map<std::string, std::vector<std::vector<double>>> base;
  for (const auto& m : methods)
    base[m] = visual_maps(
        explain::explain_for_assess(m, {*st.ck.model, explain::ModelOutput::Logits}, xs, st.background, s), k, H, W);
  out["images"] = rows.size();
  out["output"] = k;
  out["pass_below_spearman"] = explain::kSanityPass;
  if (std::find(checks.begin(), checks.end(), "cascade") != checks.end()) {
    models::Checkpoint fresh = models::load_checkpoint(o.weights);  // randomised stage by stage
    fresh.model->eval();
    fresh.model->to(dev);  // randomize_stage copies its fresh CPU weights in (load_state_dict)
    ProgressBar bar("cascade", static_cast<int64_t>(explain::cascade_stages().size() * methods.size()), "map set",
                    !o.quiet);
    json cascade = json::object();
    for (size_t i = 0; i < explain::cascade_stages().size(); ++i) {
      const std::string& stage = explain::cascade_stages()[i];
      explain::randomize_stage(*fresh.model, stage, o.seed + 1000 + i);
      for (const auto& m : methods) {
        const auto maps = visual_maps(
            explain::explain_for_assess(m, {*fresh.model, explain::ModelOutput::Logits}, xs, st.background, s), k, H,
            W);
        json sim = similarity(base[m], maps, H, W);
        sim["stage"] = stage;
        cascade[m].push_back(sim);
        bar.update(1, 1);
      }
    }
    bar.finish();
    for (const auto& m : methods) {
      const json& last = cascade[m].back();
      cascade[m] = {{"steps", cascade[m]},
                    {"pass", !last["spearman"].is_null() && last["spearman"].get<double>() < explain::kSanityPass}};
    }
    out["cascade"] = cascade;
  }
  if (std::find(checks.begin(), checks.end(), "labels") != checks.end()) {
    std::shared_ptr<models::ResNet18> rm = label_random_model(o, data_path_of(o, st), dev);
    rm->eval();
    json labels = json::object();
    for (const auto& m : methods) {
      const auto maps = visual_maps(
          explain::explain_for_assess(m, {*rm, explain::ModelOutput::Logits}, xs, st.background, s), k, H, W);
      json sim = similarity(base[m], maps, H, W);
      sim["pass"] = !sim["spearman"].is_null() && sim["spearman"].get<double>() < explain::kSanityPass;
      labels[m] = sim;
    }
    out["labels"] = labels;
  }
  return out;
}

int run_assess(const AssessOptions& o) {
  apply_threads(o.threads);
  const Device dev = apply_device_options(o.device);
  const std::vector<std::string> methods = split(o.methods, ',', Empty::Skip);
  const std::vector<std::string> names = explain::explainer_names();
  LB_CHECK(!methods.empty(), "assess: --methods needs at least one of " << explain::join_names(names, ", ", ", "));
  for (const auto& m : methods) {
    const explain::Explainer* e = explain::find_explainer(m);
    LB_CHECK(e != nullptr,
             "assess: unknown method '" << m << "' in --methods; use " << explain::join_names(names, ", ", " or "));
    LB_CHECK(o.layer == "input" || e->layers,
             "assess: " << m << " explains the input only; with --layer use "
                        << explain::join_names(explain::explainer_names(&explain::Explainer::layers), ",", ","));
  }
  for (const auto& c : split(o.sanity, ',', Empty::Skip))
    LB_CHECK(c == "cascade" || c == "labels" || c == "none",
             "assess: --sanity takes cascade, labels, cascade,labels or none, got '" << c << "'");
  LB_CHECK(o.curve_steps >= 1, "assess: --curve-steps must be positive, got " << o.curve_steps);
  LB_CHECK(o.sanity_images >= 1, "assess: --sanity-images must be positive, got " << o.sanity_images);
  Study st = load_study(o, dev);
  const explain::Explained f{*st.ck.model, explain::ModelOutput::Logits};
  json result;
  result["lightbox"] = "0.1.0";
  result["weights"] = o.weights;
  result["data"] = data_path_of(o, st);
  result["split"] = o.split;
  result["layer"] = o.layer;
  result["images"] = st.index.size();
  result["settings"] = {{"per_class", o.per_class},
                        {"background", o.background},
                        {"nsamples", o.nsamples},
                        {"max_evals", o.max_evals},
                        {"ig_steps", o.steps},
                        {"curve_steps", o.curve_steps},
                        {"masker", o.masker.empty() ? "blur:" + std::to_string(st.x.size(3)) : o.masker},
                        {"seed", o.seed},
                        {"curve_output", "log-odds of the predicted class"},
                        {"device", dev.str()}};
  result["has_masks"] = !st.mask.empty();
  json table = json::object();
  for (const auto& m : methods) {
    const auto t0 = std::chrono::steady_clock::now();
    const explain::Attribution a = explain::explain_for_assess(m, f, st.x, st.background, settings_of(o));
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    json s = score_method(m, a, st, o);
    s["seconds_per_image"] = secs / static_cast<double>(st.x.size(0));
    table[m] = s;
  }
  result["methods"] = table;
  result["sanity"] = run_sanity(o, st, methods, dev);
  print_assessment(result, methods, std::cout);
  if (!o.out.empty()) {
    std::filesystem::create_directories(o.out);
    io::write_file_atomic(o.out + "/assess.json", result.dump(2) + "\n");
    io::write_file_atomic(o.out + "/curves.svg", curves_svg(result, methods));
    std::cout << "wrote " << o.out << "/assess.json, curves.svg\n";
  }
  return 0;
}

}  // namespace

Command assess_command() {
  return {
      "assess", [](CLI::App& app) -> std::function<int()> {
        auto o = std::make_shared<AssessOptions>();
        CLI::App* sub =
            app.add_subcommand("assess", "judge explainers: lesion localisation, deletion/insertion, sanity checks");
        sub->add_option("--weights", o->weights, "checkpoint (.safetensors)")->required();
        sub->add_option("--data", o->data,
                        "MedMNIST .npz, with {split}_masks for localisation (default: the checkpoint's)");
        sub->add_option("--methods", o->methods, "comma-separated: " + all_methods())->capture_default_str();
        sub->add_option("--split", o->split, "split to assess")
            ->check(CLI::IsMember({"train", "val", "test"}))
            ->capture_default_str();
        sub->add_option("--per-class", o->per_class, "images per class (the first ones of the split)")
            ->capture_default_str();
        sub->add_option("--out", o->out, "folder for assess.json and curves.svg");
        sub->add_option("--layer", o->layer,
                        "input, or a stage whose input " +
                            explain::join_names(explain::explainer_names(&explain::Explainer::layers), "/", "/") +
                            " explain (layer1..layer4)")
            ->capture_default_str();
        sub->add_option(
               "--background", o->background,
               "random training images for " +
                   explain::join_names(explain::explainer_names(&explain::Explainer::needs_background), ", ", " and "))
            ->capture_default_str();
        sub->add_option("--nsamples", o->nsamples, "gradient: samples per image")->capture_default_str();
        sub->add_option("--max-evals", o->max_evals, "partition: model evaluations per image")->capture_default_str();
        sub->add_option("--masker", o->masker, "partition masker and the curves' reference (default blur:image size)");
        sub->add_option("--steps", o->steps, "ig: Gauss-Legendre steps")->capture_default_str();
        sub->add_option("--curve-steps", o->curve_steps, "points of each deletion/insertion curve (minus one)")
            ->capture_default_str();
        sub->add_option("--sanity", o->sanity, "cascade, labels (trains on shuffled labels), cascade,labels or none")
            ->capture_default_str();
        sub->add_option("--sanity-images", o->sanity_images, "images for the sanity checks")->capture_default_str();
        sub->add_option("--label-weights", o->label_weights,
                        "a checkpoint trained on shuffled labels (else trained here)");
        sub->add_option("--label-epochs", o->label_epochs, "epochs of the shuffled-label model")->capture_default_str();
        sub->add_option("--seed", o->seed, "seed (background, gradient draws, random orders)")->capture_default_str();
        sub->add_flag("--quiet", o->quiet, "no progress bars");
        add_threads_option(sub, &o->threads);
        add_device_options(sub, &o->device);
        return [o] { return run_assess(*o); };
      }};
}

}  // namespace lb::cli
