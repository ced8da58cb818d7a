#include "plan_rules.hpp"

#include <algorithm>
#include <cctype>
#include <exception>

namespace sean::core {

std::array<int, 2> parse_capability(const nlohmann::json& value) {
  if (value.is_array() && value.size() == 2 && value[0].is_number_integer() && value[1].is_number_integer())
    return {value[0].get<int>(), value[1].get<int>()};
  if (!value.is_string()) return {-1, -1};
  std::string text = value.get<std::string>();
  if (text.rfind("sm_", 0) == 0) text = text.substr(3);
  const size_t dot = text.find('.');
  try {
    if (dot != std::string::npos) return {std::stoi(text.substr(0, dot)), std::stoi(text.substr(dot + 1))};
    if (text.size() >= 2 && std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c) != 0; }))
      return {std::stoi(text.substr(0, text.size() - 1)), text.back() - '0'};
  } catch (const std::exception&) {
  }
  return {-1, -1};
}

std::string plan_gpu_problem(const nlohmann::json& sidecar, int major, int minor, const std::string& name) {
  const auto text = [&](const char* key, const char* fallback) {
    const auto found = sidecar.find(key);
    return found != sidecar.end() && found->is_string() ? found->get<std::string>() : std::string(fallback);
  };
  const std::string built_for = text("gpu_name", "another GPU");
  const std::string here = name + " (sm_" + std::to_string(major) + std::to_string(minor) + ")";
  const std::array<int, 2> capability = parse_capability(sidecar.contains("compute_capability")
                                                             ? sidecar["compute_capability"] : nlohmann::json());
  if (capability[0] != major || capability[1] != minor) {
    const std::string sm = capability[0] < 0 ? "unknown compute capability"
                                             : "sm_" + std::to_string(capability[0]) + std::to_string(capability[1]);
    return "was built for " + built_for + " (" + sm + "), but this GPU is " + here +
           ": a TensorRT plan runs only on the compute capability it was built for";
  }
  if (text("hardware_compatibility", "none") == "none" && built_for != name)
    return "was built for " + built_for + " without hardware compatibility, so TensorRT promises it only on that GPU "
           "model, and this GPU is " + here;
  return "";
}

}  // namespace sean::core
