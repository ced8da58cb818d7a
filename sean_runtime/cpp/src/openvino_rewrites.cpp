#include "openvino_rewrites.hpp"

#include <cstdint>
#include <vector>

#include <openvino/core/graph_util.hpp>
#include <openvino/op/constant.hpp>
#include <openvino/op/embeddingbag_packedsum.hpp>
#include <openvino/op/reduce_sum.hpp>
#include <openvino/op/util/gather_base.hpp>

namespace sean::core {

int sum_gathered_rows_as_bags(const std::shared_ptr<ov::Model>& model) {
  int rewritten = 0;
  for (const std::shared_ptr<ov::Node>& node : model->get_ordered_ops()) {
    const auto sum = ov::as_type_ptr<ov::op::v1::ReduceSum>(node);
    if (!sum || sum->get_keep_dims()) continue;
    const auto gather = ov::as_type_ptr<ov::op::util::GatherBase>(sum->get_input_node_shared_ptr(0));
    const auto axes = ov::as_type_ptr<ov::op::v0::Constant>(sum->get_input_node_shared_ptr(1));
    if (!gather || !axes || gather->get_batch_dims() != 0) continue;
    const auto gather_axis = ov::as_type_ptr<ov::op::v0::Constant>(gather->get_input_node_shared_ptr(2));
    const ov::Output<ov::Node> table = gather->input_value(0), rows = gather->input_value(1);
    if (!gather_axis || table.get_partial_shape().rank() != 2 || rows.get_partial_shape().rank() != 2) continue;
    const std::vector<int64_t> summed = axes->cast_vector<int64_t>(), taken = gather_axis->cast_vector<int64_t>();
    // Axis 1 of the [V, n, R] gather (or -2), rows taken along axis 0 of the table (or -2).
    if (summed.size() != 1 || (summed[0] + 3) % 3 != 1 || taken.size() != 1 || (taken[0] + 2) % 2 != 0) continue;
    const auto bags = std::make_shared<ov::op::v3::EmbeddingBagPackedSum>(table, rows);
    bags->set_friendly_name(sum->get_friendly_name());
    ov::replace_node(sum, bags);
    ++rewritten;
  }
  model->validate_nodes_and_infer_types();
  return rewritten;
}

}  // namespace sean::core
