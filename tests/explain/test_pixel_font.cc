// The bitmap font behind grid.png's labels (explain/pixel_font.h): every printable character has a
// glyph of its own, text stays inside the box text_width x text_height reports, and a string is its
// glyphs side by side, so a number in a picture can be checked character by character.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "explain/pixel_font.h"

namespace lb::explain {
namespace {

const Rgb kRed = {200, 0, 0};

Tensor white(int64_t h, int64_t w) { return Tensor::full({h, w, 3}, 255, DType::UInt8); }

bool ink(const Tensor& rgb, int64_t y, int64_t x) {
  const uint8_t* p = rgb.data<uint8_t>() + (y * rgb.size(1) + x) * 3;
  return p[0] != 255 || p[1] != 255 || p[2] != 255;
}

TEST(PixelFont, EveryPrintableGlyphHasInkAndIsItsOwn) {
  std::set<std::vector<uint8_t>> seen;
  for (int c = 32; c <= 126; ++c) {
    const uint8_t* rows = glyph_rows(static_cast<char>(c));
    int bits = 0;
    for (int r = 0; r < kGlyphHeight; ++r) {
      EXPECT_EQ(rows[r] >> kGlyphWidth, 0) << "glyph " << c << " is wider than " << kGlyphWidth;
      bits += __builtin_popcount(rows[r]);
    }
    if (c == ' ')
      EXPECT_EQ(bits, 0);
    else
      EXPECT_GT(bits, 0) << "glyph " << c << " ('" << static_cast<char>(c) << "') is empty";
    seen.insert(std::vector<uint8_t>(rows, rows + kGlyphHeight));
  }
  EXPECT_EQ(seen.size(), 95u);  // no two characters look the same
  EXPECT_EQ(glyph_rows('\n'), glyph_rows('?'));
  EXPECT_EQ(glyph_rows(static_cast<char>(200)), glyph_rows('?'));
}

// "Hg_H": H has ink in its first and last column and first row, g in the last descender row, so
// the ink's bounding box is exactly the reported box, at every scale and offset.
TEST(PixelFont, DrawTextWritesExactlyWithinItsBox) {
  for (int scale : {1, 2, 3})
    for (int64_t x0 : {0, 5}) {
      const int64_t y0 = 3, w = text_width("Hg_H", scale), h = text_height(scale);
      EXPECT_EQ(w, (4 * kGlyphAdvance - 1) * scale);
      EXPECT_EQ(h, kGlyphHeight * scale);
      Tensor img = white(y0 + h + 4, x0 + w + 4);
      draw_text(img, x0, y0, "Hg_H", kRed, scale);
      int64_t lo_x = img.size(1), hi_x = -1, lo_y = img.size(0), hi_y = -1;
      for (int64_t y = 0; y < img.size(0); ++y)
        for (int64_t x = 0; x < img.size(1); ++x)
          if (ink(img, y, x)) lo_x = std::min(lo_x, x), hi_x = std::max(hi_x, x), lo_y = std::min(lo_y, y), hi_y = y;
      EXPECT_EQ(lo_x, x0) << scale;
      EXPECT_EQ(hi_x, x0 + w - 1) << scale;
      EXPECT_EQ(lo_y, y0) << scale;
      EXPECT_EQ(hi_y, y0 + h - 1) << scale;
    }
  EXPECT_EQ(text_width("", 2), 0);
  // partly or wholly outside the picture: the rest is skipped, nothing else is touched
  Tensor img = white(4, 4);
  draw_text(img, -3, -5, "MW", kRed, 2);
  draw_text(img, 100, 100, "MW", kRed, 2);
  int inked = 0;
  for (int64_t y = 0; y < 4; ++y)
    for (int64_t x = 0; x < 4; ++x) inked += ink(img, y, x);
  EXPECT_GT(inked, 0);
}

// A string is its glyphs kGlyphAdvance * scale apart; "0" and "1" differ, so a number drawn into a
// picture can be read back by comparing it with the drawing of the expected text.
TEST(PixelFont, TextIsItsGlyphsSideBySide) {
  const int s = 2, h = text_height(s), adv = kGlyphAdvance * s;
  Tensor ten = white(h, 2 * adv), one = white(h, 2 * adv), zero = white(h, 2 * adv);
  draw_text(ten, 0, 0, "10", kRed, s);
  draw_text(one, 0, 0, "1", kRed, s);
  draw_text(zero, adv, 0, "0", kRed, s);
  int differ = 0;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < 2 * adv; ++x) {
      EXPECT_EQ(ink(ten, y, x), ink(one, y, x) || ink(zero, y, x)) << y << " " << x;
      if (x < adv) differ += ink(one, y, x) != ink(zero, y, x + adv);
    }
  EXPECT_GT(differ, 0);
  const uint8_t* p = ten.data<uint8_t>();
  bool red = false;
  for (int64_t i = 0; i < ten.numel(); i += 3) red = red || (p[i] == 200 && p[i + 1] == 0 && p[i + 2] == 0);
  EXPECT_TRUE(red);  // ink is drawn in the given colour
}

TEST(PixelFont, FitTextSaysWhenItCuts) {
  EXPECT_EQ(fit_text("pleural_thickening", 14), "pleural_thick.");
  EXPECT_EQ(fit_text("pneumonia", 14), "pneumonia");
  EXPECT_EQ(fit_text("pneumonia", 9), "pneumonia");
  EXPECT_EQ(fit_text("pneumonia", 0), "");
}

}  // namespace
}  // namespace lb::explain
