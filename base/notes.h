// notes.h: how library code says something worth knowing that is not an error.
//
// Library code never prints (common.h). When it meets something it can go on with but the user
// should hear about (a safetensors file whose free-text metadata names another architecture while
// every tensor matches ResNet18's), it calls lb::note(text). The program decides where notes go:
// the CLI installs a handler at start-up that prints "note: <text>" on stderr; a test installs one
// that collects them; a binding could turn them into warnings. With no handler a note is dropped.
#pragma once

#include <functional>
#include <string>
#include <utility>

namespace lb {

using NoteHandler = std::function<void(const std::string&)>;

// The process-wide handler. Set it once, before any work starts (it is not guarded by a lock).
inline NoteHandler& note_handler() {
  static NoteHandler handler;
  return handler;
}

// Installs `h` and returns the previous handler, so a scope can restore it.
inline NoteHandler set_note_handler(NoteHandler h) { return std::exchange(note_handler(), std::move(h)); }

inline void note(const std::string& text) {
  if (const NoteHandler& h = note_handler()) h(text);
}

}  // namespace lb
