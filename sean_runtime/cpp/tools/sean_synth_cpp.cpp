// sean-synth-cpp: `sean synth` for one image, in C++ (no Python at run time).
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "sean/sean.hpp"

namespace {

const char* kHelp = R"(Usage: sean-synth-cpp PACKAGE --label L.png --style S.png -o OUT.png [options]

  Synthesize one image from a label map with the styles of another image, region by region;
  the same package, inputs and seed give the same image as `sean synth --backend openvino` where
  the images are at the package's size (resized ones within one level).

Options:
  --label FILE               label map to draw (class-id PNG, or a colour mask in the package palette)
  --style FILE               style image (PNG or JPEG)
  --style-label FILE         label map of the style image (default: labels/<name>.* beside its images/
                             folder, or --label when it has the style image's name)
  --swap CLASS[,CLASS]=IMAGE[:LABEL]
                             take CLASS's style from another image (repeatable); without LABEL the
                             label map is ../labels/<image name>.* beside the image's folder
  --interpolate IMAGE[:LABEL]  blend every region's style toward another image's
  --alpha A                  weight of the --interpolate image, 0..1 (default 0.5)
  --fallback own|mean|error  for a class a reference lacks (default own)
  --seed N                   noise seed, 0..2^64-1 (default 0)
  --no-noise                 render without noise
  --backend auto|openvino|tensorrt   (default auto: TensorRT plans if usable here, else OpenVINO,
                             the C++ runtime's CPU backend; `sean synth` falls back to ONNX Runtime)
  --device NAME              OpenVINO device (default CPU)
  --precision f32|bf16|f16   OpenVINO's precision hint (default f32); bf16 / f16 run where the CPU has
                             the units, else f32 (the backend line says which), and make auto mean OpenVINO
  --threads N                CPU threads, 1..1024 (default: OpenVINO's, all cores)
  -o, --out FILE.png         output image
  -h, --help                 this text

Examples:
  sean-synth-cpp packages/shapes --label face.png --style face.png -o out.png
  sean-synth-cpp packages/shapes --label a.png --style a.jpg --swap blob=b.jpg:b.png --seed 3 -o out.png
  sean-synth-cpp packages/shapes --label a.png --style a.jpg --interpolate b.jpg:b.png --alpha 0.3 -o out.png
  sean-synth-cpp packages/shapes --label a.png --style a.jpg --precision bf16 -o out.png
)";

struct Reference {
  std::string image, label;
};

struct Arguments {
  std::string package, label, style, style_label, interpolate, fallback = "own", out;
  std::vector<std::string> swaps;
  float alpha = 0.5f;
  uint64_t seed = 0;
  bool noise = true;
  sean::Options options;
};

constexpr uint64_t kMaxThreads = 1024;

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "Error: " << message << "\nTry 'sean-synth-cpp --help' for help.\n";
  std::exit(2);
}

// A whole number in minimum..maximum, written as digits only (no sign, space or fraction).
uint64_t whole_number(const std::string& option, const std::string& text, uint64_t minimum, uint64_t maximum) {
  uint64_t value = 0;
  bool ok = !text.empty() && text.size() <= 20;
  for (const char c : text) {
    ok = ok && c >= '0' && c <= '9' && value <= (UINT64_MAX - uint64_t(c - '0')) / 10;
    if (ok) value = value * 10 + uint64_t(c - '0');
  }
  if (!ok || value < minimum || value > maximum)
    usage_error(option + " '" + text + "': expected a whole number in " + std::to_string(minimum) + ".." +
                std::to_string(maximum));
  return value;
}

// A decimal number in 0..1, the whole text (no leading space, no empty text).
float fraction(const std::string& option, const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const double value = text.empty() || std::isspace(static_cast<unsigned char>(text[0])) ? NAN
                                                                                         : std::strtod(text.c_str(), &end);
  if (!end || *end || errno || !(value >= 0.0 && value <= 1.0))
    usage_error(option + " '" + text + "': expected a number in 0..1");
  return static_cast<float>(value);
}

Arguments parse(int argc, char** argv) {
  Arguments a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error("option " + arg + " needs a value");
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      std::cout << kHelp;
      std::exit(0);
    } else if (arg == "--label") a.label = value();
    else if (arg == "--style") a.style = value();
    else if (arg == "--style-label") a.style_label = value();
    else if (arg == "--swap") a.swaps.push_back(value());
    else if (arg == "--interpolate") a.interpolate = value();
    else if (arg == "--alpha") a.alpha = fraction(arg, value());
    else if (arg == "--fallback") a.fallback = value();
    else if (arg == "--seed") a.seed = whole_number(arg, value(), 0, UINT64_MAX);
    else if (arg == "--no-noise") a.noise = false;
    else if (arg == "--backend") a.options.backend = value();
    else if (arg == "--device") a.options.device = value();
    else if (arg == "--precision") a.options.precision = value();
    else if (arg == "--threads") a.options.threads = static_cast<int>(whole_number(arg, value(), 1, kMaxThreads));
    else if (arg == "-o" || arg == "--out") a.out = value();
    else if (!arg.empty() && arg[0] == '-') usage_error("no such option: " + arg);
    else if (a.package.empty()) a.package = arg;
    else usage_error("unexpected argument " + arg);
  }
  if (a.package.empty()) usage_error("missing argument PACKAGE");
  for (const auto& [name, given] : {std::pair{"--label", a.label}, {"--style", a.style}, {"-o", a.out}})
    if (given.empty()) usage_error(std::string("missing option ") + name);
  if (a.fallback != "own" && a.fallback != "mean" && a.fallback != "error")
    usage_error("--fallback " + a.fallback + ": choose own, mean or error");
  if (std::filesystem::path(a.out).extension() != ".png") usage_error("-o " + a.out + ": the output is a .png file");
  return a;
}

// What is at `path` (not_found: nothing), asked without throwing; a path the file system cannot answer
// for (a symlink loop, a name too long) is a one-line input error.
std::filesystem::file_type type_of(const std::string& path) {
  std::error_code error;
  const std::filesystem::file_status found = std::filesystem::status(path, error);
  if (found.type() != std::filesystem::file_type::not_found && error)
    throw sean::Error(sean::Status::input, path + ": cannot be read (" + error.message() + ")");
  return found.type();
}

bool is_file(const std::string& path) { return type_of(path) == std::filesystem::file_type::regular; }

// IMAGE[:LABEL] -> files; without LABEL: labels/<stem>.* beside the image's folder (the prepared layout).
Reference parse_reference(const std::string& text, const std::string& option) {
  namespace fs = std::filesystem;
  Reference ref{text, ""};
  const size_t colon = text.rfind(':');
  if (!is_file(text) && colon != std::string::npos) ref = {text.substr(0, colon), text.substr(colon + 1)};
  if (ref.image.empty())
    throw sean::Error(sean::Status::input, option + ": no image after '='; give CLASS=IMAGE[:LABEL], e.g. " + option +
                                               " hair=other.jpg:other.png");
  if (!is_file(ref.image)) throw sean::Error(sean::Status::input, option + " " + text + ": image " + ref.image + " does not exist");
  if (ref.label.empty()) {
    const fs::path labels = fs::path(ref.image).parent_path().parent_path() / "labels";
    std::vector<std::string> candidates;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(labels, error))
      if (entry.path().stem() == fs::path(ref.image).stem()) candidates.push_back(entry.path().string());
    if (candidates.empty())
      throw sean::Error(sean::Status::input, option + " " + text + ": no label map found for " + ref.image + "; pass it as " + ref.image + ":LABEL.png");
    std::sort(candidates.begin(), candidates.end());
    ref.label = candidates[0];
  }
  if (!is_file(ref.label)) throw sean::Error(sean::Status::input, option + " " + text + ": label map " + ref.label + " does not exist");
  return ref;
}

// The style image's own label map, as `sean synth` finds it: --style-label; else labels/<stem>.* beside
// its images/ folder; else --label when it has the style image's name. Never another image's label map.
std::string own_style_label(const Arguments& a) {
  namespace fs = std::filesystem;
  if (!a.style_label.empty()) return a.style_label;
  const fs::path labels = fs::path(a.style).parent_path().parent_path() / "labels";
  std::vector<std::string> candidates;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(labels, error))
    if (entry.path().stem() == fs::path(a.style).stem()) candidates.push_back(entry.path().string());
  std::sort(candidates.begin(), candidates.end());
  if (!candidates.empty()) return candidates[0];
  if (fs::path(a.label).stem() == fs::path(a.style).stem()) return a.label;
  throw sean::Error(sean::Status::input, "--style " + a.style + ": no label map of its own (no " +
                    fs::path(a.style).stem().string() + ".* in " + labels.string() + ", and the label map " +
                    a.label + " is of another image); pass the style image's label with --style-label");
}

std::vector<std::string> split_classes(const std::string& text) {
  std::vector<std::string> names;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    std::string name = text.substr(start, comma - start);
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    if (!name.empty()) names.push_back(name);
    start = comma + 1;
  }
  return names;
}

int run(const Arguments& a) {
  std::vector<std::pair<std::vector<std::string>, Reference>> swaps;
  for (const std::string& text : a.swaps) {
    const size_t eq = text.find('=');
    if (eq == std::string::npos)
      throw sean::Error(sean::Status::input, "--swap " + text + ": expected CLASS=IMAGE[:LABEL], e.g. --swap hair=other.jpg:other.png");
    std::vector<std::string> names = split_classes(text.substr(0, eq));
    if (names.empty()) throw sean::Error(sean::Status::input, "--swap " + text + ": no class name before '='");
    swaps.emplace_back(names, parse_reference(text.substr(eq + 1), "--swap"));
  }
  std::optional<Reference> blend;
  if (!a.interpolate.empty()) blend = parse_reference(a.interpolate, "--interpolate");
  const std::string style_label = own_style_label(a);

  // The output never replaces an input (as `sean synth`), and is a file, not a folder.
  if (type_of(a.out) == std::filesystem::file_type::directory)
    throw sean::Error(sean::Status::input, "-o " + a.out + " is a folder; give a .png file name");
  std::vector<std::string> inputs{a.label, a.style, style_label};
  for (const auto& [names, ref] : swaps) inputs.insert(inputs.end(), {ref.image, ref.label});
  if (blend) inputs.insert(inputs.end(), {blend->image, blend->label});
  for (const std::string& input : inputs) {
    std::error_code error;
    if (std::filesystem::equivalent(a.out, input, error))
      throw sean::Error(sean::Status::input, "-o " + a.out + " would overwrite the input " + input +
                                                 "; write the output elsewhere");
  }

  const sean::Model model = sean::Model::open(a.package, a.options);
  std::cerr << "backend: " << model.describe() << "\n";
  for (const std::string& note : model.info().notes) std::cerr << "  " << note << "\n";
  for (const auto& [names, ref] : swaps)
    for (const std::string& name : names)
      if (std::find(model.class_names().begin(), model.class_names().end(), name) == model.class_names().end()) {
        std::string known;
        for (const auto& k : model.class_names()) known += (known.empty() ? "" : ", ") + k;
        throw sean::Error(sean::Status::input, "--swap: unknown class(es) ['" + name + "']; the classes are: " + known);
      }

  sean::Styles styles = model.encode_files(a.style, style_label);
  sean::Fallback policy = a.fallback == "error" ? sean::Fallback::error() : sean::Fallback::own();
  if (a.fallback == "mean") {  // the mean style of this run's style images (here: the one)
    const sean::Styles mean = styles.mean();
    styles = styles.fill_missing(mean);
    policy = sean::Fallback::styles(mean);
  }
  for (const auto& [names, ref] : swaps) styles = styles.swap(names, model.encode_files(ref.image, ref.label), policy);
  if (blend) styles = styles.interpolate(model.encode_files(blend->image, blend->label), a.alpha, {}, policy);

  const std::vector<uint8_t> image = model.synthesize(model.read_labels(a.label), styles, a.seed, a.noise);
  sean::write_png(a.out, image, model.info().height, model.info().width);
  std::cout << "wrote 1 image(s): " << a.out << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Arguments arguments = parse(argc, argv);
  try {
    return run(arguments);
  } catch (const sean::Error& error) {
    std::cerr << "Error: " << error.what() << "\n";
    return 1;
  } catch (const std::filesystem::filesystem_error& error) {  // a path the checks above did not foresee
    std::cerr << "Error: " << error.path1().string() << ": " << error.code().message() << "\n";
    return 1;
  } catch (const std::exception& error) {
    std::cerr << "Error: unexpected: " << error.what() << "\n";
    return 1;
  }
}
