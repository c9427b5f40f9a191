// Attribution grids: layout, the shared symmetric scale, and the colormaps' basic shape.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "engine/io/file.h"
#include "engine/io/png.h"
#include "explain/pixel_font.h"
#include "explain/render.h"
#include "tests/support/check.h"
#include "tests/support/tiny_dataset.h"

namespace lb::explain {
namespace {
using test::expect_error;

double luminance(Rgb c) { return 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b; }

// Lightness falls monotonically from the neutral middle to each end, so magnitude reads as
// darkness whatever the hue perception.
TEST(Render, BlueOrangeIsMonotoneInLightnessOnEachSide) {
  for (double t = 0; t < 1.0; t += 0.01) {
    EXPECT_GE(luminance(colormap_at(Colormap::BlueOrange, t)), luminance(colormap_at(Colormap::BlueOrange, t + 0.01)));
    EXPECT_GE(luminance(colormap_at(Colormap::BlueOrange, -t)),
              luminance(colormap_at(Colormap::BlueOrange, -t - 0.01)));
  }
  const Rgb neg = colormap_at(Colormap::BlueOrange, -1), pos = colormap_at(Colormap::BlueOrange, 1);
  EXPECT_GT(neg.b, neg.r);                                       // blue end
  EXPECT_GT(pos.r, pos.b);                                       // orange end
  const Rgb shap_pos = colormap_at(Colormap::ShapRedBlue, 5.0);  // clipped to +1
  EXPECT_EQ(shap_pos.r, 255);
  EXPECT_EQ(shap_pos.g, 13);
  EXPECT_EQ(shap_pos.b, 87);
}

TEST(Render, GridLayoutAndSharedScale) {
  const int64_t N = 2, K = 2, H = 4, W = 5;
  Tensor images = Tensor::zeros({N, 1, H, W});
  Tensor maps = Tensor::zeros({N, K, 1, H, W}, DType::Float64);
  maps.data<double>()[0] = 2.0;                         // image 0, output 0, pixel (0,0): +m
  maps.data<double>()[(1 * K + 1) * H * W + 7] = -2.0;  // image 1, output 1, pixel (1,2): -m
  GridOptions opt;
  opt.scale = 3;
  opt.vmax = 2.0;
  const Grid g = attribution_grid(images, maps, opt);
  const int s = 3, pad = 2 * s, bar = 3 * s;
  EXPECT_EQ(g.rgb.size(1), pad + 3 * (W * s + pad));
  EXPECT_EQ(g.rgb.size(0), pad + N * (H * s + pad) + bar + pad);
  EXPECT_DOUBLE_EQ(g.vmax, 2.0);
  auto px = [&](int64_t y, int64_t x) {
    const uint8_t* p = g.rgb.data<uint8_t>() + (y * g.rgb.size(1) + x) * 3;
    return Rgb{p[0], p[1], p[2]};
  };
  const Rgb hot = px(pad + 1, pad + (W * s + pad) + 1);  // row 0, column 1, pixel (0,0)
  EXPECT_GT(hot.r, hot.b + 60);
  const Rgb cold = px(pad + (H * s + pad) + 1 * s + 1, pad + 2 * (W * s + pad) + 2 * s + 1);
  EXPECT_GT(cold.b, cold.r + 60);
  const Rgb zero = px(pad + 2 * s, pad + (W * s + pad) + 3 * s);  // a zero attribution: grey
  EXPECT_EQ(zero.r, zero.g);
  EXPECT_EQ(zero.g, zero.b);
  // automatic scale: the 99.9th percentile of |values| over the whole grid
  opt.vmax = 0;
  EXPECT_DOUBLE_EQ(attribution_grid(images, maps, opt).vmax, 2.0);
}

int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

std::string unbase64(const std::string& in) {
  const std::string k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    buf = buf << 6 | static_cast<uint32_t>(k.find(c)), bits += 6;
    if (bits >= 8) out.push_back(static_cast<char>((buf >> (bits - 8)) & 0xFF)), bits -= 8;
  }
  return out;
}

TEST(Render, Base64MatchesRfc4648Vectors) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
}

// The data URI's PNG (io::encode_png), read back by the decoder (io::load_png): the same pixels.
TEST(Render, PngDataUriDecodesToTheSamePixels) {
  const std::string dir = test::fresh_dir("png");
  for (int64_t W : {1, 7, 300}) {  // 300 columns x 80 rows: over 64 KiB of pixels
    const int64_t H = W == 300 ? 80 : 3;
    Tensor img = Tensor::empty({H, W, 3}, DType::UInt8);
    for (int64_t i = 0; i < img.numel(); ++i) img.data<uint8_t>()[i] = static_cast<uint8_t>((i * 37 + 11) % 256);
    const std::string uri = png_data_uri(img);
    ASSERT_EQ(uri.rfind("data:image/png;base64,", 0), 0u);
    io::write_file_atomic(dir + "/x.png", unbase64(uri.substr(22)));
    const Tensor back = io::load_png(dir + "/x.png", 3);
    ASSERT_EQ(back.shape(), img.shape());
    for (int64_t i = 0; i < img.numel(); ++i)
      ASSERT_EQ(back.data<uint8_t>()[i], img.data<uint8_t>()[i]) << W << " " << i;
  }
}

// The overlay at full scale is the colormap blended at the chosen opacity; opacity 0 leaves the
// faint X-ray underlay, and the grey column is the min-max scaled image.
TEST(Render, OverlayCellOpacityAndGrey) {
  Tensor images = Tensor::zeros({1, 1, 2, 2});
  images.data<float>()[3] = 1.0f;  // one white pixel
  Tensor maps = Tensor::zeros({1, 1, 1, 2, 2}, DType::Float64);
  maps.data<double>()[0] = 1.0;
  GridOptions opt;
  opt.opacity = 1.0;
  const Tensor full = overlay_cell(images, maps, 0, 0, 1.0, opt);
  const Rgb top = colormap_at(opt.colormap, 1.0);
  EXPECT_EQ(full.data<uint8_t>()[0], top.r);
  EXPECT_EQ(full.data<uint8_t>()[2], top.b);
  opt.opacity = 0.0;
  const Tensor none = overlay_cell(images, maps, 0, 0, 1.0, opt);
  EXPECT_EQ(none.data<uint8_t>()[0], 140);  // 255 * 0.55 over a black pixel
  EXPECT_EQ(none.data<uint8_t>()[9], 255);  // the white pixel
  const Tensor grey = overlay_cell(images, maps, 0, -1, 1.0, opt);
  EXPECT_EQ(grey.data<uint8_t>()[0], 0);
  EXPECT_EQ(grey.data<uint8_t>()[9], 255);
}

// The SVG figure: one embedded picture per row and column, the row and column labels, a
// colourbar numbered -m .. +m, the lung outline, and the numbers under each map.
TEST(Render, FigureHasLabelsColourbarAndNumbers) {
  const int64_t N = 2, K = 2, H = 6, W = 6;
  Tensor images = Tensor::zeros({N, 1, H, W});
  Tensor maps = Tensor::zeros({N, K, 1, H, W}, DType::Float64);
  maps.data<double>()[5] = 0.25;
  maps.data<double>()[40] = -0.125;
  FigureSpec spec;
  spec.title = "deep at the input";
  spec.subtitle = "2x2 -> 6x6, nearest";
  spec.row_labels = {"TP\n#3", "FN\n#9"};
  spec.output_names = {"normal", "pneumonia"};
  spec.numbers.assign(N, std::vector<CellNumbers>(K));
  spec.numbers[1][1].positive = 0.75, spec.numbers[1][1].negative = -0.5, spec.numbers[1][1].net = 0.25;
  spec.numbers[1][1].lung_share = 0.42, spec.numbers[1][1].lung_area = 0.34;
  GridOptions opt;
  opt.vmax = 0.25;
  const Figure f = attribution_figure(images, maps, spec, opt);
  EXPECT_DOUBLE_EQ(f.vmax, 0.25);
  EXPECT_EQ(count(f.svg, "<image "), N * (1 + K));
  EXPECT_EQ(count(f.svg, "data:image/png;base64,"), N * (1 + K));
  EXPECT_EQ(count(f.svg, "<ellipse "), 2 * N);  // two lung fields on each X-ray
  for (const char* want : {">TP<", ">#9<", "attribution to 'pneumonia'", "2x2 -&gt; 6x6, nearest", ">\u22120.25<",
                           ">+0.25<", ">0<", "for +0.75", "against \u22120.5", "net +0.25", "in lungs 42% (area 34%)"})
    EXPECT_NE(f.svg.find(want), std::string::npos) << want;
  spec.numbers.clear();
  EXPECT_EQ(attribution_figure(images, maps, spec, opt).svg.find("in lungs"), std::string::npos);
  spec.row_labels = {"only one"};
  expect_error([&] { attribution_figure(images, maps, spec, opt); }, {"1 row labels for 2 images"});
}

// ---- grid.png's labels ----------------------------------------------------------------------------

Rgb pixel(const Tensor& rgb, int64_t y, int64_t x) {
  const uint8_t* p = rgb.data<uint8_t>() + (y * rgb.size(1) + x) * 3;
  return Rgb{p[0], p[1], p[2]};
}
bool dark(Rgb c) { return c.r < 80 && c.g < 80 && c.b < 80; }

// The picture shows `text` with its box's top-left at (x, y): inside the box, exactly the pixels
// draw_text inks are dark.
bool shows_text(const Tensor& rgb, int64_t x, int64_t y, const std::string& text, int scale) {
  const int64_t w = text_width(text, scale), h = text_height(scale);
  Tensor want = Tensor::full({h, w, 3}, 255, DType::UInt8);
  draw_text(want, 0, 0, text, {0, 0, 0}, scale);
  for (int64_t i = 0; i < h; ++i)
    for (int64_t j = 0; j < w; ++j)
      if (dark(pixel(rgb, y + i, x + j)) != dark(pixel(want, i, j))) return false;
  return true;
}

int64_t dark_pixels(const Tensor& rgb, int64_t y0, int64_t y1, int64_t x0, int64_t x1) {
  int64_t n = 0;
  for (int64_t y = y0; y < y1; ++y)
    for (int64_t x = x0; x < x1; ++x) n += dark(pixel(rgb, y, x));
  return n;
}

struct LabelCase {
  Tensor images, maps;
  GridOptions opt;
};
LabelCase label_case(int64_t K, int64_t W, double vmax) {
  const int64_t N = 2, H = 6;
  LabelCase c{Tensor::zeros({N, 1, H, W}), Tensor::zeros({N, K, 1, H, W}, DType::Float64), GridOptions{}};
  for (int64_t i = 0; i < c.images.numel(); ++i) c.images.data<float>()[i] = static_cast<float>(i % 7);
  for (int64_t i = 0; i < c.maps.numel(); ++i) c.maps.data<double>()[i] = vmax * std::sin(0.37 * i);
  c.opt.scale = 3;
  c.opt.vmax = vmax;
  return c;
}

// The labelled grid is the unlabelled one grown by the label bands, with the unlabelled one inside
// it unchanged down to the colourbar's lower edge; each row has its label, each column its title,
// and the colourbar its numbers, each one exactly the text expected.
TEST(Render, LabelledGridAddsBandsAndKeepsTheMaps) {
  const LabelCase c = label_case(2, 12, 3.2e-3);
  const Grid plain = attribution_grid(c.images, c.maps, c.opt);
  GridLabels labels;
  labels.title = "deep at the input";
  labels.row_labels = {"TP #12", "FN #3\np 0.30"};
  labels.column_titles = {"image", "normal", "pneumonia"};
  const Grid g = attribution_grid(c.images, c.maps, c.opt, labels);
  const int s = 3, ts = 1, pad = 2 * s, bar = 3 * s, line = text_height(ts) + 3 * ts;
  const int64_t pw = plain.rgb.size(1), ph = plain.rgb.size(0), cell_h = 6 * s, cell_w = 12 * s;
  EXPECT_DOUBLE_EQ(g.vmax, plain.vmax);
  EXPECT_EQ(g.x0, text_width("TP #12", ts) + pad);
  EXPECT_EQ(g.y0, pad + 2 * line - 3 * ts);  // the title line and the column titles
  const int64_t right = std::max<int64_t>(0, text_width("+3.2e-3", ts) / 2 + s - pad);
  EXPECT_EQ(g.rgb.size(1), g.x0 + pw + right);
  EXPECT_EQ(g.rgb.size(0), g.y0 + ph + s + 2 * ts + text_height(ts));  // ticks, a gap, the numbers
  const int64_t bar_bottom = ph - pad;
  for (int64_t y = 0; y < bar_bottom; ++y)
    for (int64_t x = 0; x < pw; ++x) {
      const Rgb a = pixel(plain.rgb, y, x), b = pixel(g.rgb, g.y0 + y, g.x0 + x);
      ASSERT_TRUE(a.r == b.r && a.g == b.g && a.b == b.b) << y << " " << x;
    }
  // row labels left of their rows, centred on them; column titles over their columns
  for (int64_t n = 0; n < 2; ++n)
    EXPECT_GT(dark_pixels(g.rgb, g.y0 + pad + n * (cell_h + pad), g.y0 + pad + n * (cell_h + pad) + cell_h, 0, g.x0), 0)
        << n;
  EXPECT_TRUE(shows_text(g.rgb, pad, g.y0 + pad + (cell_h - text_height(ts)) / 2, "TP #12", ts));
  EXPECT_TRUE(shows_text(g.rgb, pad, pad, fit_text("deep at the input", (g.rgb.size(1) - 2 * pad + ts) / 6), ts));
  const int64_t col_chars = (cell_w + ts) / (kGlyphAdvance * ts);
  EXPECT_EQ(fit_text("pneumonia", col_chars), "pneum.");  // a title no wider than its column
  for (int64_t col = 0; col < 3; ++col) {
    const std::string t = fit_text(labels.column_titles[col], col_chars);
    const int64_t centre = g.x0 + pad + col * (cell_w + pad) + cell_w / 2;
    EXPECT_TRUE(shows_text(g.rgb, centre - text_width(t, ts) / 2, pad + line, t, ts)) << t;
  }
  // the numbers at -m, 0, +m under their ticks; the halves do not fit this narrow bar
  const int64_t bx0 = pad + cell_w + pad, bx1 = pw - pad, ny = g.y0 + bar_bottom + s + 2 * ts;
  const int64_t tick[5] = {bx0, bx0 + (bx1 - bx0) / 4, bx0 + (bx1 - bx0) / 2, bx0 + 3 * (bx1 - bx0) / 4, bx1 - 1};
  const char* text[5] = {"-3.2e-3", "-1.6e-3", "0", "+1.6e-3", "+3.2e-3"};
  for (int i : {0, 2, 4}) {
    EXPECT_TRUE(dark(pixel(g.rgb, g.y0 + bar_bottom, g.x0 + tick[i]))) << "tick " << i;
    EXPECT_TRUE(shows_text(g.rgb, g.x0 + tick[i] - text_width(text[i], ts) / 2, ny, text[i], ts)) << text[i];
  }
  EXPECT_FALSE(shows_text(g.rgb, g.x0 + tick[2] - text_width("1", ts) / 2, ny, "1", ts));
  EXPECT_FALSE(shows_text(g.rgb, g.x0 + tick[1] - text_width(text[1], ts) / 2, ny, text[1], ts));
  (void)bar;
}

// On a wide enough bar the numbers at -m/2 and +m/2 are drawn too.
TEST(Render, ColourbarHalvesWhereTheyFit) {
  const LabelCase c = label_case(4, 14, 0.5);
  GridLabels labels;
  const Grid g = attribution_grid(c.images, c.maps, c.opt, labels);
  EXPECT_EQ(g.x0, 0);
  EXPECT_EQ(g.y0, 0);
  const int s = 3, pad = 2 * s;
  const Grid plain = attribution_grid(c.images, c.maps, c.opt);
  const int64_t bx0 = pad + 14 * s + pad, bx1 = plain.rgb.size(1) - pad, ny = plain.rgb.size(0) - pad + s + 2;
  const int64_t tick[5] = {bx0, bx0 + (bx1 - bx0) / 4, bx0 + (bx1 - bx0) / 2, bx0 + 3 * (bx1 - bx0) / 4, bx1 - 1};
  const char* text[5] = {"-0.5", "-0.25", "0", "+0.25", "+0.5"};
  for (int i = 0; i < 5; ++i)
    EXPECT_TRUE(shows_text(g.rgb, tick[i] - text_width(text[i], 1) / 2, ny, text[i], 1)) << text[i];
}

// All labels empty and no numbers: the unlabelled grid, pixel for pixel.
TEST(Render, EmptyLabelsAreTheUnlabelledGrid) {
  const LabelCase c = label_case(2, 6, 1.0);
  GridLabels none;
  none.colourbar_numbers = false;
  const Grid a = attribution_grid(c.images, c.maps, c.opt), b = attribution_grid(c.images, c.maps, c.opt, none);
  ASSERT_EQ(a.rgb.shape(), b.rgb.shape());
  for (int64_t i = 0; i < a.rgb.numel(); ++i) ASSERT_EQ(a.rgb.data<uint8_t>()[i], b.rgb.data<uint8_t>()[i]) << i;
  GridLabels wrong;
  wrong.row_labels = {"only one"};
  expect_error([&] { attribution_grid(c.images, c.maps, c.opt, wrong); }, {"1 row labels for 2 images"});
  wrong.row_labels.clear();
  wrong.column_titles = {"image", "normal"};
  expect_error([&] { attribution_grid(c.images, c.maps, c.opt, wrong); }, {"2 column titles for 3 columns"});
}

TEST(Render, ColourbarNumbersAreCompact) {
  EXPECT_EQ(colourbar_number(0), "0");
  EXPECT_EQ(colourbar_number(0.25), "+0.25");
  EXPECT_EQ(colourbar_number(-1.5), "-1.5");
  EXPECT_EQ(colourbar_number(3.2e-3), "+3.2e-3");
  EXPECT_EQ(colourbar_number(-0.00321), "-3.2e-3");
  EXPECT_EQ(colourbar_number(1234.0), "+1.2e3");
  EXPECT_EQ(colourbar_number(0.01), "+0.01");
  EXPECT_EQ(colourbar_number(std::nan("")), "n/a");
}

TEST(Render, BadInput) {
  expect_error(
      [] {
        attribution_grid(Tensor::zeros({1, 1, 4, 4}), Tensor::zeros({1, 2, 1, 5, 4}, DType::Float64));
      },
      {"(N, K, 1, H, W)"});
  expect_error([] { parse_colormap("jet"); }, {"blue-orange, shap"});
}

}  // namespace
}  // namespace lb::explain
