// io/safetensors.cc: the .safetensors reader and writer (format and rules in safetensors.h).
//
// Loading reads the file once (io::read_file), then checks in the order a reader meets problems:
// the 8-byte length, the header bytes (size, UTF-8, JSON syntax, an object starting with '{'),
// each entry (types, dtype, shape), and finally the layout of all byte ranges together. Only then
// are tensors allocated, so a bad file never costs more memory than the file itself.
// nlohmann::ordered_json keeps the header's key order, which is the order tensors come back in.
#include "engine/io/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "engine/io/file.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "lightbox's safetensors code copies little-endian bytes as they are; port it for big-endian hosts"
#endif

namespace lb::io {

namespace {

using json = nlohmann::ordered_json;

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit
constexpr const char* kSupported = "F32, F64, I64, U8, BOOL, F16, BF16";

enum class Decode { Copy, Bool, Half, BFloat };

struct DTypeInfo {
  const char* name;  // as written in the header
  DType dtype;       // what it becomes in memory
  size_t file_size;  // bytes per element in the file
  Decode decode;
};

const DTypeInfo kDTypes[] = {
    {"F32", DType::Float32, 4, Decode::Copy},    {"F64", DType::Float64, 8, Decode::Copy},
    {"I64", DType::Int64, 8, Decode::Copy},      {"U8", DType::UInt8, 1, Decode::Copy},
    {"BOOL", DType::UInt8, 1, Decode::Bool},     {"F16", DType::Float32, 2, Decode::Half},
    {"BF16", DType::Float32, 2, Decode::BFloat},
};

// dtypes the spec defines that lightbox does not hold; named apart from typos in the message.
const char* const kSpecOnly[] = {"I8", "I16", "U16", "I32", "U32", "U64", "F8_E4M3", "F8_E5M2"};

struct Entry {
  std::string name;
  const DTypeInfo* info = nullptr;
  Shape shape;
  uint64_t begin = 0, end = 0;  // relative to the data buffer
};

// Index of the first byte that breaks UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
// past U+10FFFF), or npos when the whole string is valid.
size_t first_bad_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || i + len > n) return i;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += len;
  }
  return std::string::npos;
}

// "a number", "an array", ...: for messages that say what was found instead.
std::string json_kind(const json& j) {
  const std::string name = j.type_name();
  if (j.is_null()) return name;
  return (name[0] == 'a' || name[0] == 'o' ? "an " : "a ") + name;
}

// Parses the header, refusing a name that appears twice in any object (the spec forbids it, and
// a JSON parser would silently keep one of them).
json parse_header_json(const std::string& text, const std::string& path) {
  std::vector<std::set<std::string>> open;  // keys seen in each object being parsed
  json::parser_callback_t refuse_duplicates = [&](int, nlohmann::json::parse_event_t ev, json& v) {
    using E = nlohmann::json::parse_event_t;
    if (ev == E::object_start) open.emplace_back();
    if (ev == E::object_end) open.pop_back();
    if (ev == E::key && !open.back().insert(v.get<std::string>()).second)
      LB_THROW(path << ": the header names '" << v.get<std::string>()
                    << "' twice (the spec forbids duplicate keys); the file is corrupt, export it again");
    return true;
  };
  try {
    return json::parse(text, refuse_duplicates);
  } catch (const json::exception& e) {
    LB_THROW(path << ": the header is not valid JSON (" << e.what() << "); the file is corrupt, export it again");
  }
}

// The header length and text, checked against the file's size.
std::string header_text(const std::string& bytes, const std::string& path) {
  // PyTorch's .pt/.pth and numpy's .npz are zip archives: the likeliest wrong file to be given.
  LB_CHECK(bytes.compare(0, 4, "PK\x03\x04") != 0,
           path << " is a zip archive (a PyTorch .pt/.pth or an .npz), not a .safetensors file; convert PyTorch "
                << "weights with tools/convert_weights.py");
  LB_CHECK(bytes.size() >= 8, path << " is too short to be a .safetensors file (" << bytes.size()
                                   << " bytes; it needs at least the 8-byte header length); re-download it");
  uint64_t n = 0;
  for (int b = 7; b >= 0; --b) n = (n << 8) | static_cast<unsigned char>(bytes[b]);
  LB_CHECK(n <= kMaxHeaderBytes, path << ": header length " << n
                                      << " is absurd (over 100 MB); this is not a .safetensors file or it is corrupt");
  LB_CHECK(n <= bytes.size() - 8, path << ": header length " << n << " runs past the end of the file (" << bytes.size()
                                       << " bytes); it is truncated, re-download it");
  std::string text = bytes.substr(8, n);
  const size_t bad = first_bad_utf8(text);
  LB_CHECK(bad == std::string::npos, path << ": the header is not valid UTF-8 (bad byte at header offset " << bad
                                          << "); this is not a .safetensors file or it is corrupt");
  return text;
}

const DTypeInfo& find_dtype(const std::string& name, const std::string& where) {
  for (const DTypeInfo& d : kDTypes)
    if (name == d.name) return d;
  for (const char* s : kSpecOnly)
    LB_CHECK(name != s, where << ": dtype " << name << " is not supported (supported: " << kSupported
                              << "); convert the tensor to float32 or int64 before saving");
  LB_THROW(where << ": unknown dtype '" << name << "' (supported: " << kSupported << "); the file is corrupt");
}

// A JSON integer in [0, max]; `what` names the field for the message.
uint64_t non_negative(const json& j, uint64_t max, const std::string& where, const char* what) {
  LB_CHECK(j.is_number_integer(), where << ": " << what << " holds " << json_kind(j) << " (" << j.dump()
                                        << "), not an integer; the file is corrupt");
  LB_CHECK(j.is_number_unsigned(),
           where << ": " << what << " holds the negative value " << j.dump() << "; the file is corrupt");
  const uint64_t v = j.get<uint64_t>();
  LB_CHECK(v <= max, where << ": " << what << " value " << v << " is too large; the file is corrupt");
  return v;
}

Entry parse_entry(const std::string& name, const json& j, const std::string& path) {
  const std::string where = path + ": tensor '" + name + "'";
  LB_CHECK(j.is_object(), where << " is " << json_kind(j) << " in the header, not an object with dtype, "
                                << "shape and data_offsets; the file is corrupt");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    LB_CHECK(j.contains(field), where << " has no \"" << field << "\" in the header; the file is corrupt");
  const json& dt = j["dtype"];
  const json& shape = j["shape"];
  const json& offs = j["data_offsets"];
  LB_CHECK(dt.is_string(), where << ": dtype is " << json_kind(dt) << ", not a string; the file is corrupt");
  LB_CHECK(shape.is_array(), where << ": shape is " << json_kind(shape) << ", not an array; the file is corrupt");
  LB_CHECK(offs.is_array() && offs.size() == 2,
           where << ": data_offsets is " << offs.dump() << ", not [begin, end]; the file is corrupt");
  Entry e;
  e.name = name;
  e.info = &find_dtype(dt.get<std::string>(), where);
  for (const json& d : shape)
    e.shape.push_back(static_cast<int64_t>(
        non_negative(d, static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), where, "shape")));
  e.begin = non_negative(offs[0], std::numeric_limits<uint64_t>::max(), where, "data_offsets");
  e.end = non_negative(offs[1], std::numeric_limits<uint64_t>::max(), where, "data_offsets");
  return e;
}

void parse_metadata(const json& j, const std::string& path, std::map<std::string, std::string>& out) {
  LB_CHECK(j.is_object(),
           path << ": __metadata__ is " << json_kind(j) << ", not an object of strings; the file is corrupt");
  for (const auto& [k, v] : j.items()) {
    LB_CHECK(v.is_string(), path << ": __metadata__ value of '" << k << "' is " << json_kind(v)
                                 << ", not a string (the spec allows strings only); store it JSON-encoded as a string");
    out[k] = v.get<std::string>();
  }
}

// Byte count of one entry's tensor in the file, refusing shapes whose product overflows.
uint64_t entry_bytes(const Entry& e, const std::string& path) {
  uint64_t n = e.info->file_size;
  for (int64_t d : e.shape) {
    if (d == 0) return 0;
    LB_CHECK(n <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / static_cast<uint64_t>(d),
             path << ": tensor '" << e.name << "' has shape " << shape_str(e.shape)
                  << ", whose size overflows; the file is corrupt");
    n *= static_cast<uint64_t>(d);
  }
  return n;
}

// Every range fits its tensor and the buffer; sorted by position, the ranges tile the buffer
// exactly (no overlap, no hole, nothing after the last).
void check_layout(std::vector<Entry> entries, uint64_t buffer_bytes, const std::string& path) {
  for (const Entry& e : entries) {
    const std::string range = "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
    LB_CHECK(e.begin <= e.end, path << ": tensor '" << e.name << "' has data_offsets " << range
                                    << " that end before they begin; the file is corrupt");
    LB_CHECK(e.end <= buffer_bytes, path << ": tensor '" << e.name << "' has data_offsets " << range
                                         << " past the end of the data (" << buffer_bytes
                                         << " bytes); the file is truncated, re-download it");
    const uint64_t want = entry_bytes(e, path);
    LB_CHECK(e.end - e.begin == want, path << ": tensor '" << e.name << "' is " << e.info->name << " "
                                           << shape_str(e.shape) << " = " << want << " bytes but its data_offsets "
                                           << range << " hold " << e.end - e.begin
                                           << " (wrong shapes); the file is corrupt, export it again");
  }
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t cursor = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    LB_CHECK(e.begin >= cursor, path << ": tensors '" << prev->name << "' and '" << e.name
                                     << "' overlap in the data buffer (at byte " << e.begin
                                     << "); the file is corrupt, export it again");
    LB_CHECK(e.begin == cursor, path << ": data bytes [" << cursor << ", " << e.begin
                                     << ") belong to no tensor (the spec forbids holes); the file is corrupt");
    cursor = e.end;
    prev = &e;
  }
  LB_CHECK(cursor == buffer_bytes, path << ": data bytes [" << cursor << ", " << buffer_bytes
                                        << ") belong to no tensor (the spec forbids holes); the file is corrupt");
}

// IEEE 754 binary16 to binary32, exactly (every half value is a float value).
float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24
    const float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  const uint32_t bits = exp == 31 ? sign | 0x7f800000u | (mant << 13)  // inf and NaN keep their payload
                                  : sign | ((exp + 112) << 23) | (mant << 13);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// bfloat16 is the top half of a float32.
float bfloat_to_float(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

Tensor decode(const Entry& e, const unsigned char* src) {
  Tensor t = Tensor::empty(e.shape, e.info->dtype);
  const int64_t n = t.numel();
  if (e.info->decode == Decode::Copy || e.info->decode == Decode::Bool) {
    if (n) std::memcpy(t.raw_data(), src, static_cast<size_t>(n) * e.info->file_size);
    if (e.info->decode == Decode::Bool) {  // any non-zero byte is true; the engine wants 0/1
      uint8_t* q = t.data<uint8_t>();
      for (int64_t i = 0; i < n; ++i) q[i] = q[i] != 0;
    }
    return t;
  }
  float* q = t.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = static_cast<uint16_t>(src[2 * i] | (src[2 * i + 1] << 8));
    q[i] = e.info->decode == Decode::Half ? half_to_float(h) : bfloat_to_float(h);
  }
  return t;
}

const char* file_dtype(DType t) {
  switch (t) {
    case DType::Float32:
      return "F32";
    case DType::Float64:
      return "F64";
    case DType::Int64:
      return "I64";
    case DType::UInt8:
      return "U8";
  }
  return "?";
}

void check_save_names(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    LB_CHECK(!name.empty(), "save_safetensors: " << path << ": a tensor has an empty name; name every tensor");
    LB_CHECK(name != "__metadata__",
             "save_safetensors: " << path << ": '__metadata__' is reserved; rename that tensor");
    LB_CHECK(first_bad_utf8(name) == std::string::npos,
             "save_safetensors: " << path << ": a tensor name is not valid UTF-8; use a UTF-8 name");
    LB_CHECK(seen.insert(name).second, "save_safetensors: " << path << ": tensor name '" << name
                                                            << "' appears twice; give every tensor its own name");
    LB_CHECK(t.defined(), "save_safetensors: " << path << ": tensor '" << name << "' is undefined; pass data");
  }
  for (const auto& [k, v] : metadata)
    LB_CHECK(first_bad_utf8(k) == std::string::npos && first_bad_utf8(v) == std::string::npos,
             "save_safetensors: " << path << ": a metadata key or value is not valid UTF-8; use UTF-8 text");
}

}  // namespace

SafeTensors load_safetensors(const std::string& path) {
  std::error_code ec;
  LB_CHECK(!std::filesystem::is_directory(path, ec), path << ": is a directory; give the path of a .safetensors file");
  const std::string bytes = read_file(path);
  const std::string text = header_text(bytes, path);
  const json header = parse_header_json(text, path);
  LB_CHECK(header.is_object(),
           path << ": the header is " << json_kind(header) << ", not an object of tensors; the file is corrupt");
  LB_CHECK(!text.empty() && text[0] == '{', path << ": the header does not start with '{' (the spec requires it); "
                                                 << "the file is corrupt, export it again");
  SafeTensors out;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__")
      parse_metadata(value, path, out.metadata);
    else
      entries.push_back(parse_entry(name, value, path));
  }
  const uint64_t buffer_bytes = bytes.size() - 8 - text.size();
  check_layout(entries, buffer_bytes, path);
  const auto* buffer = reinterpret_cast<const unsigned char*>(bytes.data()) + 8 + text.size();
  for (const Entry& e : entries) out.tensors.emplace_back(e.name, decode(e, buffer + e.begin));
  return out;
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  check_save_names(path, tensors, metadata);
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<Tensor> cpu;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    cpu.push_back(t.device().is_cpu() ? t : t.to(Device::cpu()));
    const uint64_t n = cpu.back().nbytes();
    header[name] = {{"dtype", file_dtype(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned, as the reference pads
  std::string out;
  out.reserve(8 + text.size() + offset);
  for (int b = 0; b < 8; ++b) out += static_cast<char>((static_cast<uint64_t>(text.size()) >> (8 * b)) & 0xff);
  out += text;
  for (const Tensor& t : cpu)
    if (t.nbytes()) out.append(static_cast<const char*>(t.raw_data()), t.nbytes());
  write_file_atomic(path, out);
}

}  // namespace lb::io
