// Which GPUs a TensorRT plan may run on, by its sidecar (docs/package-format.md, "Engines"). The same rule
// and messages as sean_runtime/backends/plans.py (gpu_problem). Needs no TensorRT or CUDA, so it is
// compiled and tested everywhere.
#pragma once

#include <array>
#include <string>

#include <nlohmann/json.hpp>

namespace sean::core {

// [9, 0], "9.0", "sm_90" or "90" -> {9, 0}; anything else -> {-1, -1}.
std::array<int, 2> parse_capability(const nlohmann::json& value);

// Why a plan with this sidecar cannot run on the GPU `name` of compute capability major.minor ("": it can).
// The compute capability must always match; a default build (hardware_compatibility "none", or a sidecar
// written before the field) promises only the GPU model it was built on, so the name must match too.
std::string plan_gpu_problem(const nlohmann::json& sidecar, int major, int minor, const std::string& name);

}  // namespace sean::core
