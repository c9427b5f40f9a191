// pixel_font.h: a small bitmap font for writing labels into PNG pictures (grid.png).
//
// Why our own: the grid is a PNG that people paste into slides, so its labels must be pixels, and
// lightbox adds no dependency for 95 glyphs. Each printable ASCII character (32..126) is a 5x9
// cell: rows 0..6 hold capitals and digits (lower case from row 2), rows 7..8 the descenders of
// g, j, p, q, y, the comma and the underscore. Text is drawn at an integer scale (each font pixel
// becomes scale x scale picture pixels), so labels stay crisp squares at any grid scale, like the
// maps' own pixels.
#pragma once

#include <cstdint>
#include <string>

#include "engine/tensor.h"
#include "explain/render.h"

namespace lb::explain {

constexpr int kGlyphWidth = 5;    // font pixels per glyph row
constexpr int kGlyphHeight = 9;   // rows per glyph: 7 above the baseline, 2 below
constexpr int kGlyphAdvance = 6;  // from one glyph's left edge to the next: one blank column between

// The kGlyphHeight rows of character c, top first; bit 4 of a row is its leftmost pixel, bit 0 its
// rightmost. A character outside 32..126 gets the glyph of '?'.
const uint8_t* glyph_rows(char c);

// The bounding box of one line of text at `scale`: kGlyphAdvance * scale per character less the
// trailing blank column, and kGlyphHeight * scale high (0 x 0 for an empty string). draw_text
// writes no pixel outside it.
int64_t text_width(const std::string& text, int scale);
int64_t text_height(int scale);

// Draws one line of text into rgb, uint8 (H, W, 3), with the box's top-left corner at (x, y):
// only the glyphs' ink pixels are written, in `colour`; pixels outside the picture are skipped.
void draw_text(Tensor& rgb, int64_t x, int64_t y, const std::string& text, Rgb colour, int scale);

// text cut to at most max_chars characters, its last one replaced by '.' when cut ("pleural_thi."),
// so a truncated title says that it is.
std::string fit_text(const std::string& text, int64_t max_chars);

}  // namespace lb::explain
