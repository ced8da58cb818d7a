// Reading an exported package (docs/package-format.md): the manifest checked field by field, every
// file against its sha256. Mirrors sean_runtime/package.py; nothing in the folder is trusted that the
// manifest does not name.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace sean::core {

inline constexpr int kFormatVersion = 2;  // the newest package format this runtime reads
inline constexpr const char* kReexport = "re-export it with `sean export CHECKPOINT -o PKG`";

struct TensorSpec {
  std::string name;
  std::string dtype;           // "float32" or "int32"
  std::vector<int64_t> shape;  // -1 marks the dynamic batch axis
};

struct GraphSpec {
  std::string name;  // "encoder" or "generator"
  std::filesystem::path file;
  std::optional<std::filesystem::path> external_data;
  std::vector<TensorSpec> inputs, outputs;

  bool takes(const std::string& input) const;
  std::filesystem::path plan() const;          // <graph>.plan (may not exist)
  std::filesystem::path plan_sidecar() const;  // <graph>.plan.json
};

struct Package {
  std::filesystem::path root;
  int format_version = 0;
  std::string domain, precision;
  std::vector<std::string> class_names;
  std::vector<std::array<uint8_t, 3>> palette;  // RGB per class id; empty when the package has none
  int extra_channels = 0, style_dim = 0, height = 0, width = 0;
  int64_t noise_numel = 0;
  std::map<std::string, std::string> files;  // file name -> sha256 (hex)
  GraphSpec encoder, generator;

  int num_classes() const { return static_cast<int>(class_names.size()); }
};

Package load_package(const std::filesystem::path& root, bool verify);
// The manifest's text checked field by field, without touching the files it names (load_package's first step).
Package package_from_manifest(const std::filesystem::path& root, const std::string& manifest_text);

// JSON of package files (manifest, plan sidecars): nested at most kMaxJsonDepth levels, so that no
// recursive walk of a hostile value can overflow the stack. Throws std::exception with the reason.
inline constexpr int kMaxJsonDepth = 64;
nlohmann::json parse_json(const std::string& text);
// A value as messages show it: scalars in full (long strings cut), lists and objects by their size.
std::string excerpt(const nlohmann::json& value);
std::string sha256_file(const std::filesystem::path& path);  // lowercase hex

}  // namespace sean::core
