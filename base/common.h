// common.h: the error type and the checking macros every layer of lightbox uses.
//
// Library code never exits and never prints: it throws lb::Error with a message that says what
// failed, where (the op or function name), and the shapes involved, so the CLI can print one
// clear line and the tests can assert on the text.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace lb {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace lb

// LB_CHECK(cond, message-stream): throw lb::Error when cond is false. The message is built with
// operator<<, so shapes and numbers can be streamed in: LB_CHECK(a == b, "add: " << a << " vs " << b).
#define LB_CHECK(cond, msg)                  \
  do {                                       \
    if (!(cond)) {                           \
      std::ostringstream lb_check_os_;       \
      lb_check_os_ << msg;                   \
      throw ::lb::Error(lb_check_os_.str()); \
    }                                        \
  } while (0)

#define LB_THROW(msg)                      \
  do {                                     \
    std::ostringstream lb_throw_os_;       \
    lb_throw_os_ << msg;                   \
    throw ::lb::Error(lb_throw_os_.str()); \
  } while (0)
