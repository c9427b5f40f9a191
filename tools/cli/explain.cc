// explain.cc: `lightbox explain`: SHAP-style attributions for chosen or automatically selected
// images, with any of lightbox's explainers, at the input or at a layer.
//
//   lightbox explain --method deep --weights W.safetensors --data data/pneumoniamnist.npz
//                    --select tp,fp,fn,tn --per-cell 1 --background 100 --out runs/x/deep
//   lightbox explain --method gradient --layer layer1 --weights W --input X.npy --background BG.npy --out DIR
//   lightbox explain --method partition --masker blur:28 --max-evals 300 --batch-size 100 --image x.png ...
//
// The methods, their flags (--nsamples, --max-evals, --steps, ...) and their help come from the
// table of explainers (explain/registry.h); run_explain goes through the steps below in order.
//
// Writes into --out (every file atomically):
//   values.npy     (N, K, C, H, W) float64: every output k of the model, in output order
//                  (a layer: (N, K, C_l, H_l, W_l), the layer's input space)
//   values_image.npy  layers only: (N, K, 1, H, W), summed over channels and upsampled (nearest)
//   expected.npy   (K,) E f(background) for gradient and deep; (N, K) f(reference) for partition, ig
//   outputs.npy    (N, K) f(x);  gaps.npy (N, K) f(x) - expected - sum(values) where defined
//   variances.npy  gradient only (shap's var / sqrt(nsamples))
//   inputs.npy     (N, C, H, W) the explained images in model space
//   grid.png       rows = images, columns = image + one map per output, one shared scale
//   grid-<type>.png  with --simulate protanopia,deuteranopia,tritanopia: grid.png as a dichromat
//                  sees it (explain/colorvision.h)
//   figure.svg     the same with labels: rows (TP/FP/FN/TN, index, score), columns, a numbered
//                  colourbar, the lung-field outline, and under every map its numbers and force bar
//   summary.json   per sample and output: positive, negative, net, gap, lung_share, lung_area
//                  (explain/summary.h), with the samples
//   meta.json      every setting, the samples (index, cell, label, score), timings, the scale
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/strings.h"
#include "engine/backend.h"
#include "engine/io/file.h"
#include "engine/io/npy.h"
#include "engine/io/png.h"
#include "engine/ops/ops.h"
#include "explain/colorvision.h"
#include "explain/deep.h"
#include "explain/gradient.h"
#include "explain/integrated_gradients.h"
#include "explain/masker.h"
#include "explain/partition.h"
#include "explain/render.h"
#include "explain/select.h"
#include "explain/summary.h"
#include "models/checkpoint.h"
#include "models/evaluate/evaluate_model.h"
#include "models/predict.h"
#include "tools/cli/commands.h"
#include "tools/cli/explain_run.h"

namespace lb::cli {

namespace {

// The explained images and what is known about them.
struct Inputs {
  Tensor x;  // (N, C, H, W) float32, model space
  nlohmann::json samples = nlohmann::json::array();
};

Tensor png_to_model_space(const std::string& path, const models::ModelMeta& meta) {
  Tensor img = io::load_png(path, static_cast<int>(meta.in_channels));  // (H, W) or (H, W, C) uint8
  const int64_t H = img.size(0), W = img.size(1), C = meta.in_channels;
  LB_CHECK(H == meta.image_size && W == meta.image_size, path << ": the image is " << H << "x" << W
                                                              << " but the model was trained on " << meta.image_size
                                                              << "x" << meta.image_size << "; resize it first");
  Tensor x = Tensor::empty({1, C, H, W});
  const uint8_t* p = img.data<uint8_t>();
  for (int64_t c = 0; c < C; ++c)
    for (int64_t i = 0; i < H * W; ++i)
      x.data<float>()[c * H * W + i] = static_cast<float>((p[i * C + c] / 255.0 - meta.norm.mean) / meta.norm.std);
  return x;
}

Tensor load_model_space_npy(const std::string& path, const models::ModelMeta& meta, const char* flag) {
  Tensor x = io::load_npy(path);
  LB_CHECK(x.dtype() == DType::Float32 && x.dim() == 4 && x.size(1) == meta.in_channels,
           flag << " " << path << ": expected float32 (N, " << meta.in_channels << ", H, W) in model space, got "
                << x.str() << "; convert with x.astype(np.float32)");
  return x;
}

// The class the cells of sample i are about: --class K, class 1 of a binary model, or else the
// sample's own predicted class.
int64_t class_of(const models::Predictions& p, int64_t cls, int64_t i) {
  if (cls >= 0) return cls;
  return p.probs.size(1) == 2 && !p.multilabel ? 1 : p.predicted(i);
}

// The one-vs-rest view the TP/FP/FN/TN cells are drawn from (explain/select.h).
explain::OneVsRest one_vs_rest(const models::Predictions& p, const ExplainOptions& o,
                               const std::vector<explain::Cell>& cells) {
  const int64_t K = p.probs.size(1), n = p.size();
  const bool binary = K == 2 && !p.multilabel;
  LB_CHECK(o.cls < K, "--class " << o.cls << ": the model has " << K << " outputs (0 to " << K - 1 << ")");
  if (o.cls < 0 && !binary)
    for (explain::Cell c : cells)
      LB_CHECK(c == explain::Cell::TP || c == explain::Cell::FP,
               "explain --select " << o.select << ": without --class K each sample of a " << K
                                   << "-output model is judged on its own predicted class, so it is tp (right) or "
                                      "fp (wrong); give --class K for fn and tn (one-vs-rest for class K)");
  explain::OneVsRest r;
  r.threshold = o.threshold;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = class_of(p, o.cls, i);
    const double score = p.probs.data<float>()[i * K + k];
    const int64_t* y = p.labels.data<int64_t>();
    r.positive.push_back(p.multilabel ? static_cast<int>(y[i * K + k]) : static_cast<int>(y[i] == k));
    r.predicted.push_back(binary || p.multilabel ? score >= o.threshold : p.predicted(i) == k);
    r.score.push_back(score);
  }
  return r;
}

Inputs gather_inputs(const ExplainOptions& o, models::Checkpoint& ck, const data::Dataset* ds) {
  const int given = !o.select.empty() + !o.input.empty() + !o.image.empty();
  LB_CHECK(given == 1, "explain: give exactly one of --select (with --data), --input X.npy or --image x.png");
  Inputs in;
  if (!o.input.empty()) {
    in.x = load_model_space_npy(o.input, ck.meta, "--input");
    for (int64_t i = 0; i < in.x.size(0); ++i) in.samples.push_back({{"source", o.input}, {"index", i}});
  } else if (!o.image.empty()) {
    in.x = png_to_model_space(o.image, ck.meta);
    in.samples.push_back({{"source", o.image}, {"index", 0}});
  } else {
    LB_CHECK(ds != nullptr, "explain: --select needs --data");
    const data::Split& split = ds->split(o.split);
    const models::Predictions pred = models::predict(*ck.model, split, ck.meta.norm, 256, !o.quiet);
    const std::vector<explain::Cell> cells = explain::parse_cells(o.select);
    const explain::OneVsRest ovr = one_vs_rest(pred, o, cells);
    const explain::Selection sel =
        explain::select_cells(ovr, cells, o.per_cell, explain::parse_select_order(o.select_order));
    for (const auto& s : sel.short_cells)
      std::cerr << "note: the " << o.split << " split has too few samples in " << s << "\n";
    LB_CHECK(!sel.samples.empty(), "explain --select "
                                       << o.select << ": no " << o.split
                                       << " sample falls in those cells; try other cells or --threshold");
    const auto label_rows = pred.multilabel ? pred.label_rows() : std::vector<std::vector<int>>();
    const auto true_class = pred.multilabel ? std::vector<int>() : pred.int_labels();
    std::vector<int64_t> idx;
    for (const auto& s : sel.samples) {
      idx.push_back(s.index);
      nlohmann::json smp = {{"source", o.data},
                            {"split", o.split},
                            {"index", s.index},
                            {"cell", explain::cell_name(s.cell)},
                            {"class", class_of(pred, o.cls, s.index)},
                            {"score", s.score}};
      if (pred.multilabel) {
        smp["label"] = s.label;  // the flag of "class"
        smp["labels"] = label_rows[s.index];
      } else {
        smp["label"] = true_class[s.index];
      }
      in.samples.push_back(std::move(smp));
    }
    in.x = data::to_model_space(split, idx, ck.meta.norm);
  }
  return in;
}

Tensor gather_background(const ExplainOptions& o, const models::Checkpoint& ck, const data::Dataset* ds,
                         nlohmann::json& meta) {
  if (!o.background_file.empty()) {
    meta["background"] = {{"file", o.background_file}};
    return load_model_space_npy(o.background_file, ck.meta, "--background");
  }
  LB_CHECK(ds != nullptr, "explain --method "
                              << o.method
                              << ": a background set is needed: --background N (with --data) or --background BG.npy");
  LB_CHECK(o.background > 0, "--background must be a positive count or a .npy file");
  const data::Split& train = ds->train;
  LB_CHECK(o.background <= train.size(),
           "--background " << o.background << " is more than the " << train.size() << " training images");
  // A seeded sample without replacement from the training split (partial Fisher-Yates).
  std::vector<int64_t> all(train.size());
  for (int64_t i = 0; i < train.size(); ++i) all[i] = i;
  Generator gen(o.seed ^ 0x9e3779b97f4a7c15ull);
  for (int64_t i = 0; i < o.background; ++i) std::swap(all[i], all[i + gen.next() % (train.size() - i)]);
  std::vector<int64_t> idx(all.begin(), all.begin() + o.background);
  meta["background"] = {{"source", ds->path}, {"split", "train"}, {"count", o.background}, {"indices", idx}};
  return data::to_model_space(train, idx, ck.meta.norm);
}

void write_json(const std::string& path, const nlohmann::json& j) { io::write_file_atomic(path, j.dump(2) + "\n"); }

// "TP\n#12  p=0.93\ntrue: pneumonia": the row label of a sample in figure.svg.
std::string row_label(const nlohmann::json& sample, const std::vector<std::string>& names) {
  std::ostringstream s;
  if (sample.contains("cell")) {
    std::string cell = sample["cell"].get<std::string>();
    for (char& c : cell) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    s << cell << "\n#" << sample["index"].get<int64_t>();
    char p[32];
    std::snprintf(p, sizeof p, "%.2f", sample["score"].get<double>());
    const auto name_of = [&](int64_t k) {
      return k >= 0 && k < static_cast<int64_t>(names.size()) ? names[k] : "class " + std::to_string(k);
    };
    // Files from before --class have no "class": their cells were about class 1.
    const int64_t k = sample.value("class", int64_t{1});
    s << "\np(" << name_of(k) << ") " << p;
    if (sample.contains("labels"))
      s << "\ntrue: " << (sample["labels"].at(k).get<int>() ? "" : "not ") << name_of(k);
    else
      s << "\ntrue: " << name_of(sample["label"].get<int64_t>());
  } else {
    s << "#" << sample["index"].get<int64_t>();
  }
  return s.str();
}

// What the steps below share: the model, the data, the method, the images and meta.json so far.
struct Session {
  Device dev;
  const explain::Explainer* method = nullptr;
  std::vector<explain::Deficiency> simulate;  // --simulate, checked before any work
  models::Checkpoint ck;
  data::Task task = data::Task::Binary;  // the model's (softmax or sigmoid outputs)
  std::unique_ptr<data::Dataset> ds;
  Inputs in;
  nlohmann::json meta;
};

// Step 1: check what can be checked without work, then load the model (onto the device), the data
// and the images to explain.
Session open_session(ExplainOptions& o) {
  Session s;
  s.dev = apply_device_options(o.device);  // before any work: no CUDA is one line
  s.method = explain::find_explainer(o.method);
  LB_CHECK(s.method != nullptr, "explain: --method must be "
                                    << explain::join_names(explain::explainer_names(), ", ", " or ") << ", got '"
                                    << o.method << "'");
  for (const std::string& d : split(o.simulate, ',')) s.simulate.push_back(explain::parse_deficiency(d));
  if (!o.background_spec.empty() && o.background_spec.find_first_not_of("0123456789") == std::string::npos)
    o.background = std::stoll(o.background_spec);
  else
    o.background_file = o.background_spec;
  s.ck = models::load_checkpoint(o.weights);
  // The network runs on dev; the images, the draws and the attributions stay on the CPU.
  s.ck.model->to(s.dev);
  if (o.data.empty() && (!o.select.empty() || (s.method->needs_background && o.background_file.empty())))
    o.data = s.ck.meta.config.value("data", std::string("data/pneumoniamnist.npz"));
  if (!o.data.empty()) {
    s.ds = std::make_unique<data::Dataset>(data::load_medmnist(o.data));
    eval::check_compatible(s.ck, *s.ds, o.weights);
  }
  s.task = s.ds ? eval::model_task(s.ck, *s.ds) : s.ck.meta.task;
  s.in = gather_inputs(o, s.ck, s.ds.get());
  if (!o.samples_from.empty()) {
    const auto given = nlohmann::json::parse(io::read_file(o.samples_from)).at("samples");
    LB_CHECK(given.size() == s.in.samples.size(),
             o.samples_from << " describes " << given.size() << " samples, the input has " << s.in.samples.size());
    s.in.samples = given;
  }
  return s;
}

// Step 2: meta.json's record of the run's settings, before the explainer runs.
void start_meta(const ExplainOptions& o, Session& s) {
  nlohmann::json& meta = s.meta;
  meta["lightbox"] = "0.1.0";
  meta["method"] = o.method;
  meta["weights"] = o.weights;
  meta["model_output"] = o.model_output;
  meta["task"] = data::task_name(s.task);
  meta["output_names"] = s.ck.meta.class_names;
  meta["samples"] = s.in.samples;
  meta["seed"] = o.seed;
  meta["device"] = s.dev.str();
  meta["math"] = math_mode_name(cuda_math_mode());  // bf16 changes the numbers on the CPU too
  if (s.dev.is_cuda())
    meta["cuda"] = {{"backend", o.device.backend}, {"tf32", o.device.tf32}};
  else
    meta["cpu"] = {{"backend", cpu_backend_name(cpu_backend())}};  // onednn changes the rounding
}

// Step 3: the attributions, from the registered explainer (explain/registry.h).
explain::Attribution run_method(const ExplainOptions& o, Session& s) {
  const explain::Explainer& m = *s.method;
  LB_CHECK(m.layers || o.layer == "input", "explain --method " << m.name << " explains the input only; drop --layer");
  explain::ExplainerSettings settings;
  settings.layer = o.layer;
  settings.batch_size = o.batch_size;
  settings.seed = o.seed;
  settings.progress = !o.quiet;
  settings.options = o.method_options;
  for (const explain::ExplainerOption& opt : m.options)
    if (!opt.meta_key.empty()) {
      const auto given = settings.options.find(opt.name);
      std::visit([&](const auto& v) { s.meta[opt.meta_key] = v; },
                 given != settings.options.end() ? given->second : opt.default_value);
    }
  const Tensor background = m.needs_background ? gather_background(o, s.ck, s.ds.get(), s.meta) : Tensor();
  const explain::Explained f{*s.ck.model, explain::parse_model_output(o.model_output),
                             s.task == data::Task::MultiLabel};
  return explain::run_explainer(m.name, f, s.in.x, background, settings);
}

// Step 4: the arrays (values.npy, expected.npy, ...), each as the explainer returned it.
void write_arrays(const ExplainOptions& o, const explain::Attribution& a, const Tensor& x) {
  std::filesystem::create_directories(o.out);
  io::save_npy(o.out + "/values.npy", a.values);
  if (a.expected.defined()) io::save_npy(o.out + "/expected.npy", a.expected);
  io::save_npy(o.out + "/outputs.npy", a.outputs);
  if (a.gaps.defined()) io::save_npy(o.out + "/gaps.npy", a.gaps);
  if (a.variances.defined()) io::save_npy(o.out + "/variances.npy", a.variances);
  io::save_npy(o.out + "/inputs.npy", x);
}

// grid.png's own labels (explain/render.h GridLabels): the title, "image" and the output names over
// the columns, "TP #12" (the first two lines of figure.svg's row label) left of each row, and the
// colourbar's numbers.
explain::GridLabels grid_labels(const std::string& title, int64_t outputs, const Session& s) {
  explain::GridLabels labels;
  labels.title = title;
  const std::vector<std::string>& names = s.ck.meta.class_names;
  labels.column_titles.push_back("image");
  for (int64_t k = 0; k < outputs; ++k)
    labels.column_titles.push_back(static_cast<int64_t>(names.size()) == outputs ? names[k]
                                                                                 : "output " + std::to_string(k));
  for (const auto& smp : s.in.samples) {
    std::string label = row_label(smp, names);
    const size_t first = label.find('\n');
    if (first != std::string::npos) label[first] = ' ';
    labels.row_labels.push_back(label.substr(0, label.find('\n')));
  }
  return labels;
}

// Step 5: the pictures: grid.png (and its colour-vision variants), then the labelled figure.svg
// with its numbers, the same numbers in summary.json. Returns the grid's shared scale.
double write_pictures(const ExplainOptions& o, const explain::Attribution& a, Session& s) {
  const Tensor& x = s.in.x;
  const int64_t H = x.size(2), W = x.size(3);
  // The picture: summed over channels (and, for a layer, upsampled to the image).
  const Tensor maps = explain::channel_sum_upsampled(a.values, H, W);
  if (a.layer != "input") {
    io::save_npy(o.out + "/values_image.npy", maps);
    s.meta["upsampling"] = explain::upsampling_label(a.values.size(3), a.values.size(4), H, W);
  }
  explain::GridOptions gopt;
  gopt.colormap = explain::parse_colormap(o.colormap);
  gopt.opacity = o.opacity;
  const std::string title =
      !o.title.empty() ? o.title : o.method + (a.layer == "input" ? " at the input" : " at " + a.layer);
  const explain::Grid grid = explain::attribution_grid(x, maps, gopt, grid_labels(title, maps.size(1), s));
  io::save_png(o.out + "/grid.png", grid.rgb);
  for (explain::Deficiency d : s.simulate)
    io::save_png(o.out + "/grid-" + explain::to_string(d) + ".png", explain::simulate_image(grid.rgb, d));

  // The labelled figure and its numbers (explain/summary.h): the same numbers in summary.json.
  const auto numbers = explain::summarise(a, maps);
  explain::FigureSpec fig;
  fig.title = title;
  fig.subtitle = (a.layer == "input" ? std::string("attributions per input pixel")
                                     : "the input of " + a.layer + ", channels summed, upsampled " +
                                           explain::upsampling_label(a.values.size(3), a.values.size(4), H, W)) +
                 "; model output: " + o.model_output;
  for (const auto& smp : s.in.samples) fig.row_labels.push_back(row_label(smp, s.ck.meta.class_names));
  fig.output_names = s.ck.meta.class_names;
  if (static_cast<int64_t>(fig.output_names.size()) != a.values.size(1)) fig.output_names.clear();
  fig.numbers = numbers;
  gopt.vmax = grid.vmax;
  io::write_file_atomic(o.out + "/figure.svg", explain::attribution_figure(x, maps, fig, gopt).svg);
  nlohmann::json summary;
  summary["method"] = o.method;
  summary["layer"] = a.layer;
  summary["title"] = fig.title;
  summary["subtitle"] = fig.subtitle;
  summary["output_names"] = s.ck.meta.class_names;
  summary["vmax"] = grid.vmax;
  summary["lung_mask"] = "two fixed ellipses, explain/summary.h";
  summary["samples"] = nlohmann::json::array();
  for (size_t n = 0; n < numbers.size(); ++n) {
    nlohmann::json row = s.in.samples[n];
    row["numbers"] = nlohmann::json::array();
    for (const auto& c : numbers[n]) row["numbers"].push_back(explain::to_json(c));
    summary["samples"].push_back(row);
  }
  write_json(o.out + "/summary.json", summary);
  return grid.vmax;
}

// Step 6: meta.json, completed with what the run produced and how long it took.
void write_meta(const ExplainOptions& o, const explain::Attribution& a, double vmax, double seconds,
                double explain_seconds, Session& s) {
  nlohmann::json& meta = s.meta;
  meta["layer"] = a.layer;
  meta["settings"] = a.settings;
  meta["values_shape"] = a.values.shape();
  meta["grid"] = {{"file", "grid.png"},
                  {"rows", "one per sample, in samples order"},
                  {"columns", "image, then one map per output"},
                  {"vmax", vmax},
                  {"colormap", o.colormap}};
  meta["outputs"] = a.outputs.to_vector();
  if (a.gaps.defined()) {
    double worst = 0;
    for (double g : a.gaps.to_vector()) worst = std::max(worst, std::fabs(g));
    meta["max_abs_gap"] = worst;
  }
  meta["seconds"] = seconds;                  // everything, loading included
  meta["explain_seconds"] = explain_seconds;  // the explainer alone (what tools/bench/explain.sh times)
  meta["explain_seconds_per_image"] = explain_seconds / static_cast<double>(s.in.x.size(0));
  write_json(o.out + "/meta.json", meta);
}

}  // namespace

int run_explain(ExplainOptions o) {
  apply_threads(o.threads);
  const auto t0 = std::chrono::steady_clock::now();
  Session s = open_session(o);
  start_meta(o, s);
  const auto t_explain = std::chrono::steady_clock::now();
  const explain::Attribution a = run_method(o, s);
  const auto t_end = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(t_end - t0).count();
  const double explain_seconds = std::chrono::duration<double>(t_end - t_explain).count();
  write_arrays(o, a, s.in.x);
  const double vmax = write_pictures(o, a, s);
  write_meta(o, a, vmax, seconds, explain_seconds, s);
  std::cout << "explained " << s.in.x.size(0) << " image(s) with " << o.method << " at " << a.layer << " in " << seconds
            << " s; wrote " << o.out << "/values.npy, grid.png, figure.svg, summary.json, meta.json\n";
  return 0;
}

namespace {

// One flag per explainer option (explain/registry.h), typed and defaulted as registered, each
// bound to its entry in o.method_options; the list of methods and what each does under the help.
void add_method_options(CLI::App* sub, ExplainOptions& o) {
  for (const explain::ExplainerOption& opt : explain::explainer_options()) {
    explain::OptionValue& value = o.method_options[opt.name] = opt.default_value;  // map entries never move
    std::visit([&](auto& v) { sub->add_option("--" + opt.name, v, opt.help)->capture_default_str(); }, value);
  }
  std::string footer = "\nmethods:";
  for (const explain::Explainer& e : explain::explainers()) {
    footer += "\n  " + e.name + std::string(e.name.size() < 10 ? 11 - e.name.size() : 1, ' ') + e.description;
    if (!e.layers) footer += " (input only)";
  }
  sub->footer(footer);
}

}  // namespace

Command explain_command() {
  return {
      "explain", [](CLI::App& app) -> std::function<int()> {
        auto o = std::make_shared<ExplainOptions>();
        std::vector<std::string> titles;
        for (const explain::Explainer& e : explain::explainers()) titles.push_back(e.title);
        CLI::App* sub = app.add_subcommand("explain", "attributions: " + explain::join_names(titles, ", ", " or "));
        const std::vector<std::string> names = explain::explainer_names();
        sub->add_option("--method", o->method, explain::join_names(names, " | ", " | "))
            ->required()
            ->check(CLI::IsMember(names));
        sub->add_option("--weights", o->weights, "checkpoint (.safetensors)")->required();
        sub->add_option("--out", o->out, "output folder")->required();
        sub->add_option("--layer", o->layer, "input, or a module whose input is explained (layer1..layer4)")
            ->capture_default_str();
        sub->add_option("--data", o->data, "MedMNIST .npz (default: the checkpoint's)");
        sub->add_option("--split", o->split, "split for --select")
            ->check(CLI::IsMember({"train", "val", "test"}))
            ->capture_default_str();
        sub->add_option("--select", o->select, "confusion-matrix cells to explain, e.g. tp,fp,fn,tn");
        sub->add_option("--per-cell", o->per_cell, "samples per cell")->capture_default_str();
        sub->add_option("--select-order", o->select_order, "first (lowest indices) | confident")->capture_default_str();
        sub->add_option("--class", o->cls,
                        "the cells are one-vs-rest for class K (default: class 1 of a binary model, else each "
                        "sample's predicted class)")
            ->check(CLI::NonNegativeNumber);
        sub->add_option("--threshold", o->threshold,
                        "probability threshold for 'predicted K' (binary and multi-label; multi-class uses argmax)")
            ->capture_default_str();
        sub->add_option("--input", o->input, "float32 (N, C, H, W) .npy in model space");
        sub->add_option("--image", o->image, "a PNG at the model's image size");
        sub->add_option("--background", o->background_spec,
                        "N random training images, or BG.npy (float32 (B, C, H, W), model space)")
            ->capture_default_str();
        add_method_options(sub, *o);
        sub->add_option("--batch-size", o->batch_size, "images per model call (0 = the method's default)")
            ->capture_default_str();
        sub->add_option("--model-output", o->model_output, "logits | probs")
            ->check(CLI::IsMember({"logits", "probs"}))
            ->capture_default_str();
        sub->add_option("--seed", o->seed, "seed for sampling (gradient draws, background choice)")
            ->capture_default_str();
        sub->add_option("--colormap", o->colormap, "blue-orange (colour-blind safe) | shap")->capture_default_str();
        sub->add_option("--opacity", o->opacity, "opacity of the attribution colour over the X-ray at full scale")
            ->check(CLI::Range(0.0, 1.0))
            ->capture_default_str();
        sub->add_option("--title", o->title, "title of figure.svg");
        sub->add_option("--simulate", o->simulate,
                        "also write grid-<type>.png as seen with protanopia, deuteranopia and/or tritanopia");
        sub->add_flag("--quiet", o->quiet, "no progress bars");
        add_threads_option(sub, &o->threads);
        add_device_options(sub, &o->device);
        return [o] { return run_explain(*o); };
      }};
}

}  // namespace lb::cli
