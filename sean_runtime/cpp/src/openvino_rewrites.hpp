// Graph rewrites the OpenVINO backend makes before compiling a package's graph: the same ones, with the
// same reasons, as sean_runtime/backends/openvino.py, so that both runtimes give the same floats.
#pragma once

#include <memory>

#include <openvino/core/model.hpp>

namespace sean::core {

// Each ReduceSum(Gather(table [N, R], rows [V, n], axis 0), axis 1) -> [V, R] becomes one
// EmbeddingBagPackedSum(table, rows), in place (sum_gathered_rows_as_bags in Python). Returns how many.
int sum_gathered_rows_as_bags(const std::shared_ptr<ov::Model>& model);

}  // namespace sean::core
