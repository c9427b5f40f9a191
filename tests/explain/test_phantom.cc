// test_phantom.cc: the synthetic chest phantom (engine/data/phantom.h): the same seed gives the
// same bytes, masks lie inside the lungs and mark where the pneumonia image really differs,
// class counts follow the requested shares, any size renders, the shortcut marker tracks the
// label in train only, and the .npz reads like MedMNIST.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/data/medmnist.h"
#include "engine/data/phantom.h"
#include "engine/io/npz.h"
#include "tests/support/check.h"

namespace lb::data {
namespace {

std::vector<double> values(const Tensor& t) { return t.to_vector(); }

data::PhantomSpec small_spec(int64_t size = 16) {
  PhantomSpec s;
  s.size = size;
  s.train = 40, s.val = 12, s.test = 12;
  s.seed = 11;
  return s;
}

TEST(Phantom, DeterministicPerSeed) {
  const PhantomImage a = render_phantom(28, 1, 123, false), b = render_phantom(28, 1, 123, false);
  EXPECT_EQ(values(a.image), values(b.image));
  EXPECT_EQ(values(a.mask), values(b.mask));
  EXPECT_NE(values(a.image), values(render_phantom(28, 1, 124, false).image));
  const auto x = make_phantom(small_spec()), y = make_phantom(small_spec());
  ASSERT_EQ(x.size(), y.size());
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(x[i].first, y[i].first);
    EXPECT_EQ(values(x[i].second), values(y[i].second)) << x[i].first;
  }
  PhantomSpec other = small_spec();
  other.seed = 12;
  EXPECT_NE(values(make_phantom(other)[0].second), values(x[0].second));
  // An image's seed depends on (seed, split, index) only.
  EXPECT_EQ(phantom_image_seed(1, "train", 5), phantom_image_seed(1, "train", 5));
  EXPECT_NE(phantom_image_seed(1, "train", 5), phantom_image_seed(1, "test", 5));
}

TEST(Phantom, MasksLieInsideLungsAndOnlyOnPneumonia) {
  for (uint64_t s = 0; s < 40; ++s) {
    const PhantomImage p = render_phantom(28, 1, s, false), q = render_phantom(28, 0, s, false);
    const uint8_t *m = p.mask.data<uint8_t>(), *l = p.lungs.data<uint8_t>();
    int64_t lesion = 0;
    for (int64_t e = 0; e < 28 * 28; ++e) {
      EXPECT_TRUE(!m[e] || l[e]) << "seed " << s << " pixel " << e;
      lesion += m[e];
    }
    EXPECT_GT(lesion, 0) << "seed " << s;
    for (double v : values(q.mask)) EXPECT_EQ(v, 0.0);
    EXPECT_GT(std::accumulate(l, l + 28 * 28, 0), 28 * 28 / 10);  // two lung fields, a tenth of the image or more
  }
}

TEST(Phantom, LesionIsWhereTheMaskSays) {
  // Same seed, both classes: the anatomy is drawn first, so the pneumonia image differs from the
  // normal one by its consolidations (plus a re-drawn blur and noise). Inside the mask it is
  // brighter by far more than outside.
  double inside = 0, outside = 0;
  int64_t n_in = 0, n_out = 0;
  for (uint64_t s = 0; s < 30; ++s) {
    const PhantomImage p = render_phantom(28, 1, s, false), q = render_phantom(28, 0, s, false);
    for (int64_t e = 0; e < 28 * 28; ++e) {
      const double d = static_cast<double>(p.image.data<uint8_t>()[e]) - q.image.data<uint8_t>()[e];
      if (p.mask.data<uint8_t>()[e])
        inside += d, ++n_in;
      else
        outside += std::fabs(d), ++n_out;
    }
  }
  EXPECT_GT(inside / n_in, 30.0);                     // consolidations add 0.22..0.40 of full scale at the peak
  EXPECT_GT(inside / n_in, 4.0 * (outside / n_out));  // elsewhere only blur, noise and lesion tails differ
}

TEST(Phantom, ClassCountsFollowTheShares) {
  const PhantomSpec spec = small_spec();
  const auto arrays = make_phantom(spec);
  const double shares[3] = {spec.train_pneumonia, spec.val_pneumonia, spec.test_pneumonia};
  const int64_t sizes[3] = {spec.train, spec.val, spec.test};
  for (int s = 0; s < 3; ++s) {
    const Tensor& labels = arrays[s * 3 + 1].second;  // {split}_labels
    EXPECT_EQ(labels.shape(), (Shape{sizes[s], 1}));
    int64_t ones = 0;
    for (double v : values(labels)) ones += v == 1.0;
    EXPECT_EQ(ones, std::llround(sizes[s] * shares[s])) << arrays[s * 3 + 1].first;
  }
  // The defaults are PneumoniaMNIST's counts.
  const std::vector<int64_t> train = phantom_labels(4708, PhantomSpec().train_pneumonia, 0, "train");
  EXPECT_EQ(std::count(train.begin(), train.end(), 1), 3494);
  EXPECT_EQ(std::count(train.begin(), train.end(), 0), 1214);
}

TEST(Phantom, AnySizeAndTheNpzReadsLikeMedmnist) {
  for (int64_t size : {16, 64}) {
    const PhantomImage p = render_phantom(size, 1, 3, false);
    EXPECT_EQ(p.image.shape(), (Shape{size, size}));
    EXPECT_EQ(p.mask.shape(), (Shape{size, size}));
  }
  test::TempFolder tmp;
  const std::string path = tmp.file("phantom.npz");
  io::save_npz(path, make_phantom(small_spec()));
  const Dataset ds = load_medmnist(path);
  EXPECT_EQ(ds.train.size(), 40);
  EXPECT_EQ(ds.test.size(), 12);
  EXPECT_EQ(ds.num_classes, 2);
  EXPECT_EQ(ds.train.height(), 16);
  const Tensor masks = io::NpzReader(path).get("test_masks");
  EXPECT_EQ(masks.shape(), (Shape{12, 16, 16}));
  EXPECT_EQ(masks.dtype(), DType::UInt8);
  test::expect_error([] { render_phantom(4, 0, 0, false); }, {"--size must be 8..1024"});
}

TEST(Phantom, ShortcutTracksTheLabelInTrainOnly) {
  PhantomSpec spec = small_spec(28);
  spec.train = 200, spec.val = 10, spec.test = 200;
  spec.shortcut = true;
  const auto arrays = make_phantom(spec);
  auto find = [&](const std::string& k) {
    for (const auto& [key, t] : arrays)
      if (key == k) return t;
    ADD_FAILURE() << k;
    return Tensor();
  };
  // Marker rate among pneumonia minus among normal: ~0.8 in train, ~0 in test.
  auto gap = [&](const std::string& split) {
    const std::vector<double> l = values(find(split + "_labels")), m = values(find(split + "_markers"));
    double pos = 0, neg = 0, npos = 0, nneg = 0;
    for (size_t i = 0; i < l.size(); ++i) (l[i] == 1 ? (pos += m[i], npos += 1) : (neg += m[i], nneg += 1));
    return pos / npos - neg / nneg;
  };
  EXPECT_GT(gap("train"), 0.6);
  EXPECT_LT(std::fabs(gap("test")), 0.25);  // 200 images: the rate difference has a std of ~0.1
  // The marker is drawn: the corner pixel is bright exactly where markers say so.
  const Tensor img = find("train_images");
  const std::vector<double> m = values(find("train_markers"));
  for (int64_t n = 0; n < 200; ++n) {
    const int corner = img.data<uint8_t>()[n * 28 * 28 + 2 * 28 + 2];
    EXPECT_EQ(corner > 200, m[n] == 1.0) << n;
  }
}

}  // namespace
}  // namespace lb::data
