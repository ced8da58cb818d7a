#include "package.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "paths.hpp"
#include "core.hpp"

namespace sean::core {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

[[noreturn]] void fail(const std::string& message) { throw Error(Status::package, message); }

struct JsonTooDeep : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string str(const fs::path& path) { return path.string(); }

const json& field(const json& manifest, const char* key, const fs::path& where) {
  if (!manifest.contains(key)) fail(str(where) + ": the manifest has no '" + key + "' field; " + kReexport);
  return manifest.at(key);
}

int int_field(const json& manifest, const char* key, const fs::path& where, int minimum) {
  const json& value = field(manifest, key, where);
  if (!value.is_number_integer() || value.get<int64_t>() < minimum || value.get<int64_t>() > (1 << 30))
    fail(str(where) + ": manifest field '" + key + "' is " + excerpt(value) + ", not an integer >= " +
         std::to_string(minimum) + "; " + kReexport);
  return value.get<int>();
}

// A file named by the manifest must be a plain name inside the package folder, and not a link out of it.
fs::path package_file(const fs::path& root, const json& name, const std::string& where) {
  if (!name.is_string() || name.get<std::string>().empty() || fs::path(name.get<std::string>()).filename() != name.get<std::string>() ||
      name.get<std::string>() == "." || name.get<std::string>() == "..")
    fail(str(root) + ": " + where + " names " + excerpt(name) + "; package files must be plain names inside the folder");
  const fs::path path = root / name.get<std::string>();
  std::error_code error, folder_error;
  if (fs::is_symlink(fs::symlink_status(path, error))) {
    file_type_of(str(path), Status::package);  // a loop is named as such, not as a link to "" outside
    const fs::path target = fs::weakly_canonical(path, error);
    const fs::path folder = fs::weakly_canonical(root, folder_error);  // its own code: success would clear error
    if (!error && !folder_error && target.parent_path() != folder)
      fail(str(path) + " is a symbolic link to " + str(target) + ", outside the package; copy the file into the package");
  }
  return path;
}

std::vector<TensorSpec> tensor_specs(const json& items, const std::string& where) {
  if (!items.is_array()) fail(where + " must be a list of {name, dtype, shape}; " + kReexport);
  std::vector<TensorSpec> specs;
  for (const json& item : items) {
    if (!item.is_object() || !item.contains("name") || !item["name"].is_string() || !item.contains("dtype") ||
        !item["dtype"].is_string() || !item.contains("shape") || !item["shape"].is_array())
      fail(where + ": malformed tensor entry " + excerpt(item) + "; " + kReexport);
    TensorSpec spec{item["name"].get<std::string>(), item["dtype"].get<std::string>(), {}};
    for (const json& dim : item["shape"]) {
      if (dim.is_string()) spec.shape.push_back(-1);  // the dynamic batch axis
      else if (dim.is_number_integer() && dim.get<int64_t>() > 0) spec.shape.push_back(dim.get<int64_t>());
      else fail(where + ": tensor '" + spec.name + "' has a bad dimension " + excerpt(dim) + "; " + kReexport);
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + (shape[i] < 0 ? std::string("batch") : std::to_string(shape[i]));
  return text + "]";
}

// The graph interface of docs/package-format.md, from the manifest's facts: name -> (dtype, shape).
std::map<std::string, std::pair<std::string, std::vector<int64_t>>> interface_of(const Package& p) {
  const int64_t H = p.height, W = p.width, K = p.num_classes(), S = p.style_dim, E = p.extra_channels;
  return {{"image", {"float32", {-1, 3, H, W}}}, {"labels", {"int32", {-1, H, W}}},
          {"extra", {"float32", {-1, E, H, W}}}, {"codes", {"float32", {-1, K, S}}},
          {"area", {"float32", {-1, K}}},        {"noise", {"float32", {-1, p.noise_numel}}}};
}

std::string names_text(const std::vector<std::string>& names) {
  std::string text = "[";
  for (size_t i = 0; i < names.size(); ++i) text += (i ? ", " : "") + names[i];
  return text + "]";
}

GraphSpec graph_spec(const Package& package, const std::string& name, const json& graphs) {
  const std::string where = str(package.root / "manifest.json") + ": graphs." + name;
  if (!graphs.contains(name) || !graphs[name].is_object()) fail(where + " is missing; " + kReexport);
  const json& entry = graphs[name];
  GraphSpec spec;
  spec.name = name;
  spec.file = package_file(package.root, entry.value("file", json()), "graphs." + name + ".file");
  if (entry.contains("external_data") && !entry["external_data"].is_null())
    spec.external_data = package_file(package.root, entry["external_data"], "graphs." + name + ".external_data");
  for (const auto& path : {std::optional<fs::path>(spec.file), spec.external_data})
    if (path && !package.files.count(path->filename().string()))
      fail(where + ": " + path->filename().string() + " has no sha256 in the manifest's \"files\"; " + kReexport);
  spec.inputs = tensor_specs(entry.value("inputs", json()), where + ".inputs");
  spec.outputs = tensor_specs(entry.value("outputs", json()), where + ".outputs");

  // Input sets this runtime feeds and the outputs it reads (an encoder may leave `extra` out).
  std::vector<std::set<std::string>> accepted;
  std::set<std::string> outputs;
  if (name == "encoder") {
    accepted.push_back({"image", "labels"});
    if (package.extra_channels) accepted.insert(accepted.begin(), {"image", "labels", "extra"});
    outputs = {"codes", "area"};
  } else {
    accepted.push_back({"labels", "codes", "noise"});
    if (package.extra_channels) accepted[0].insert("extra");
    outputs = {"image"};
  }
  std::set<std::string> in, out;
  std::vector<std::string> in_list, out_list;
  for (const auto& t : spec.inputs) in.insert(t.name), in_list.push_back(t.name);
  for (const auto& t : spec.outputs) out.insert(t.name), out_list.push_back(t.name);
  if (std::find(accepted.begin(), accepted.end(), in) == accepted.end() || out != outputs)
    fail(where + ": inputs " + names_text(in_list) + " / outputs " + names_text(out_list) +
         ", but this runtime feeds " + names_text({accepted[0].begin(), accepted[0].end()}) + " and reads " +
         names_text({outputs.begin(), outputs.end()}) + "; " + kReexport);

  const auto expected = interface_of(package);
  for (const auto* list : {&spec.inputs, &spec.outputs})
    for (const TensorSpec& t : *list) {
      const auto& [dtype, shape] = expected.at(t.name);
      if (t.dtype != dtype || t.shape != shape)
        fail(where + ": tensor '" + t.name + "' is " + t.dtype + " " + shape_text(t.shape) +
             " but the package's facts give " + dtype + " " + shape_text(shape) + "; " + kReexport);
    }
  return spec;
}

// The manifest's text, after the folder and the file are there.
std::string read_manifest_text(const fs::path& root) {
  // An empty string (an unset setting, say) names no folder: "package folder  does not exist" would not say so.
  if (root.empty()) fail("the package folder is an empty path; pass the folder `sean export` wrote");
  const fs::file_type root_type = file_type_of(str(root), Status::package);
  if (root_type == fs::file_type::not_found)
    fail("package folder " + shown_path(str(root)) + " does not exist; create one with `sean export CHECKPOINT -o " +
         shown_path(str(root)) + "`");
  if (root_type != fs::file_type::directory)
    fail("package folder " + shown_path(str(root)) + " is not a folder; pass the folder `sean export` wrote");  // Python's words
  const fs::path path = root / "manifest.json";
  const fs::file_type manifest_type = file_type_of(str(path), Status::package);
  if (manifest_type == fs::file_type::not_found)
    fail(shown_path(str(path)) + " is missing: " + shown_path(str(root)) + " is not a SEAN package (written by `sean export`)");
  if (manifest_type != fs::file_type::regular)
    fail(shown_path(str(path)) + " is not a file: " + shown_path(str(root)) + " is not a SEAN package (written by `sean export`)");
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

json parse_manifest(const std::string& text, const fs::path& path) {
  json manifest;
  try {
    manifest = parse_json(text);
  } catch (const JsonTooDeep& exc) {
    fail(str(path) + " " + exc.what() + "; the package is corrupt, " + kReexport);
  } catch (const std::exception& exc) {
    fail(str(path) + " is not valid JSON (" + exc.what() + "); the package is corrupt, " + kReexport);
  }
  if (!manifest.is_object() || manifest.value("format", json()) != "sean-package")
    fail(str(path) + " is not a SEAN package manifest (no \"format\": \"sean-package\")");
  const json version = manifest.value("format_version", json());
  if (!version.is_number_integer() || version.get<int64_t>() < 1)
    fail(str(path) + ": invalid format_version " + excerpt(version) + "; " + kReexport);
  if (version.get<int64_t>() > kFormatVersion)
    fail(str(path) + " has package format " + excerpt(version) + ", newer than this runtime reads (" +
         std::to_string(kFormatVersion) + "); upgrade sean-deploy");
  return manifest;
}

void verify_files(const Package& package) {
  std::string problems;
  for (const auto& [name, expected] : package.files) {
    const fs::path path = package_file(package.root, name, "files");
    std::string problem;
    if (file_type_of(str(path), Status::package) != fs::file_type::regular) {
      problem = name + " is missing";
    } else {
      const std::string actual = sha256_file(path);
      if (actual != expected)
        problem = name + " has sha256 " + actual.substr(0, 12) + "\u2026, the manifest says " + expected.substr(0, 12) + "\u2026";
    }
    if (!problem.empty()) problems += (problems.empty() ? "" : "; ") + problem;
  }
  if (!problems.empty())
    fail(str(package.root) + " does not match its manifest: " + problems +
         ". The package is incomplete or was modified: copy the whole folder again or " + kReexport);
}

}  // namespace

json parse_json(const std::string& text) {
  // The parser itself keeps its own stack; the depth bound protects every later recursive walk
  // (comparison, dump) from a value nested 100,000 deep.
  const json::parser_callback_t bounded = [](int depth, json::parse_event_t event, json&) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth >= kMaxJsonDepth)
      throw JsonTooDeep("nests values deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    return true;
  };
  return json::parse(text, bounded);
}

std::string excerpt(const json& value) {
  switch (value.type()) {
    case json::value_t::array:
      return "a list of " + std::to_string(value.size()) + " item(s)";
    case json::value_t::object:
      return "an object of " + std::to_string(value.size()) + " field(s)";
    case json::value_t::string: {
      const std::string text = value.dump();
      return text.size() <= 60 ? text : text.substr(0, 50) + "...\" (" + std::to_string(text.size() - 2) + " characters)";
    }
    default:
      return value.dump();  // a number, true / false or null: one short token
  }
}

bool GraphSpec::takes(const std::string& input) const {
  return std::any_of(inputs.begin(), inputs.end(), [&](const TensorSpec& t) { return t.name == input; });
}

fs::path GraphSpec::plan() const { return fs::path(file).replace_extension(".plan"); }
fs::path GraphSpec::plan_sidecar() const { return fs::path(file).replace_extension(".plan.json"); }

std::string sha256_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(Status::package, str(path) + ": cannot be read");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    throw Error(Status::internal, "OpenSSL could not start a SHA-256 digest");
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(in.gcount()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &length);
  static const char* hex = "0123456789abcdef";
  std::string text;
  for (unsigned int i = 0; i < length; ++i) text += {hex[digest[i] >> 4], hex[digest[i] & 15]};
  return text;
}

Package load_package(const fs::path& root, bool verify) {
  Package p = package_from_manifest(root, read_manifest_text(root));
  if (verify) {
    verify_files(p);
  } else {
    std::string missing;
    for (const auto& [name, hash] : p.files)
      if (file_type_of(str(package_file(root, name, "files")), Status::package) != fs::file_type::regular)
        missing += (missing.empty() ? "" : ", ") + name;
    if (!missing.empty()) fail(str(root) + ": files named in the manifest are missing: " + missing + "; " + kReexport);
  }
  return p;
}

Package package_from_manifest(const fs::path& root, const std::string& text) {
  Package p;
  p.root = root;
  const fs::path where = root / "manifest.json";
  const json m = parse_manifest(text, where);
  p.format_version = m["format_version"].get<int>();

  const json& names = field(m, "class_names", where);
  if (!names.is_array() || !std::all_of(names.begin(), names.end(), [](const json& n) { return n.is_string(); }))
    fail(str(where) + ": manifest field 'class_names' is " + excerpt(names) + ", not a list of names; " + kReexport);
  for (const json& n : names) p.class_names.push_back(n.get<std::string>());
  const int num_classes = int_field(m, "num_classes", where, 1);
  if (static_cast<int>(p.class_names.size()) != num_classes)
    fail(str(where) + ": " + std::to_string(p.class_names.size()) + " class_names but num_classes " +
         std::to_string(num_classes) + "; " + kReexport);
  // Edits name classes: a second class of one name could never be named (the Python runtime's rule).
  const std::set<std::string> distinct(p.class_names.begin(), p.class_names.end());
  if (distinct.size() != p.class_names.size() || distinct.count(""))
    fail(str(where) + ": class_names must be " + std::to_string(num_classes) + " distinct non-empty strings; " +
         kReexport);
  p.extra_channels = int_field(m, "extra_mask_channels", where, 0);
  p.style_dim = int_field(m, "style_dim", where, 1);
  p.height = int_field(m, "height", where, 1);
  p.width = int_field(m, "width", where, 1);
  p.domain = m.value("domain", json()).is_string() ? m["domain"].get<std::string>() : "";
  const json& precision = field(m, "precision", where);
  if (precision != "fp32" && precision != "fp16")  // PRECISIONS of sean_core/format.py
    fail(str(where) + ": precision " + excerpt(precision) + " is not one of ('fp32', 'fp16'); " + kReexport);
  p.precision = precision.get<std::string>();
  const json form = m.value("generator_form", json("dense"));
  if (form != "dense" && form != "regions")  // GENERATOR_FORMS of sean_core/forms.py
    fail(str(where) + ": generator_form " + excerpt(form) + " is not one of ('dense', 'regions'); " + kReexport);

  const json& files = field(m, "files", where);
  if (!files.is_object()) fail(str(where) + ": manifest field 'files' is not a {name: sha256} table; " + kReexport);
  for (const auto& [name, hash] : files.items()) {
    if (!hash.is_string()) fail(str(where) + ": files." + name + " is not a sha256 string; " + kReexport);
    p.files[name] = hash.get<std::string>();
  }
  const json& noise = field(m, "noise", where);
  if (!noise.is_object() || noise.value("input", json()) != "noise")
    fail(str(where) + ": malformed \"noise\" entry " + excerpt(noise) + "; " + kReexport);
  const json numel = noise.value("numel", json());
  if (!numel.is_number_integer() || numel.get<int64_t>() < 1)
    fail(str(where) + ": noise.numel is " + excerpt(numel) + ", not a positive integer; " + kReexport);
  p.noise_numel = noise["numel"].get<int64_t>();

  if (m.contains("palette") && !m["palette"].is_null()) {
    const json& palette = m["palette"];
    bool ok = palette.is_array() && palette.size() == p.class_names.size();
    for (size_t k = 0; ok && k < palette.size(); ++k) {
      const json& rgb = palette[k];
      ok = rgb.is_array() && rgb.size() == 3 &&
           std::all_of(rgb.begin(), rgb.end(), [](const json& v) { return v.is_number_integer() && v >= 0 && v <= 255; });
      if (ok) p.palette.push_back({rgb[0].get<uint8_t>(), rgb[1].get<uint8_t>(), rgb[2].get<uint8_t>()});
    }
    if (!ok) fail(str(where) + ": \"palette\" must be one [r, g, b] (0..255) per class; " + kReexport);
  }

  const json& graphs = field(m, "graphs", where);
  if (!graphs.is_object()) fail(str(where) + ": manifest field 'graphs' is not an object; " + kReexport);
  p.encoder = graph_spec(p, "encoder", graphs);
  p.generator = graph_spec(p, "generator", graphs);
  return p;
}

}  // namespace sean::core
