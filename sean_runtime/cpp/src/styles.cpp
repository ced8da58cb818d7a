// Styles and their edits, the C++ twin of sean_runtime/styles.py (same rules, same messages).
#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "core.hpp"

namespace sean::core {
namespace {

[[noreturn]] void bad(const std::string& message) { throw Error(Status::input, message); }

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string text;
  for (size_t i = 0; i < items.size(); ++i) text += (i ? separator : "") + items[i];
  return text;
}

}  // namespace

Fallback Fallback::styles(const Styles& fallback) {
  return {Kind::styles, std::make_shared<const Styles>(fallback)};
}

Styles::Styles(std::vector<float> codes, std::vector<uint8_t> present, std::vector<std::string> class_names,
               int style_dim)
    : codes_(std::move(codes)), present_(std::move(present)), class_names_(std::move(class_names)), style_dim_(style_dim) {
  if (class_names_.empty() || style_dim_ < 1) bad("styles need at least one class and a code length >= 1");
  const size_t k = class_names_.size();
  if (present_.empty() || present_.size() % k != 0)
    bad("presence flags must be [B, K] with B >= 1 and K = " + std::to_string(k) + ", got " +
        std::to_string(present_.size()) + " values");
  if (codes_.size() != present_.size() * static_cast<size_t>(style_dim_))
    bad("style codes must be [B, K, S] = [" + std::to_string(batch()) + ", " + std::to_string(k) + ", " +
        std::to_string(style_dim_) + "], got " + std::to_string(codes_.size()) + " values");
  if (!std::all_of(codes_.begin(), codes_.end(), [](float v) { return std::isfinite(v); }))
    bad("style codes contain NaN or infinite values");
  for (uint8_t& flag : present_) flag = flag ? 1 : 0;
}

int Styles::class_id(const std::string& name) const {
  const auto it = std::find(class_names_.begin(), class_names_.end(), name);
  if (it == class_names_.end()) bad("unknown class '" + name + "'; the classes are: " + join(class_names_, ", "));
  return static_cast<int>(it - class_names_.begin());
}

std::vector<int> Styles::ids(const std::vector<std::string>& classes) const {
  std::vector<int> ids;
  if (classes.empty()) {
    for (int k = 0; k < num_classes(); ++k) ids.push_back(k);
    return ids;
  }
  for (const std::string& name : classes) {
    const int id = class_id(name);
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);  // duplicates dropped
  }
  return ids;
}

Styles Styles::image(size_t index) const {
  if (index >= batch())
    throw Error(Status::argument, "image " + std::to_string(index) + " of styles of " + std::to_string(batch()) +
                                      " image(s) does not exist; pick an index in 0.." + std::to_string(batch() - 1));
  const size_t k = class_names_.size(), s = static_cast<size_t>(style_dim_);
  return Styles({codes_.begin() + index * k * s, codes_.begin() + (index + 1) * k * s},
                {present_.begin() + index * k, present_.begin() + (index + 1) * k}, class_names_, style_dim_);
}

Styles Styles::concat(const std::vector<Styles>& items) {
  if (items.empty()) bad("cannot concatenate an empty list of styles");
  std::vector<float> codes;
  std::vector<uint8_t> present;
  for (const Styles& item : items) {
    items[0].check_compatible(item, "concatenate");
    codes.insert(codes.end(), item.codes_.begin(), item.codes_.end());
    present.insert(present.end(), item.present_.begin(), item.present_.end());
  }
  return Styles(std::move(codes), std::move(present), items[0].class_names_, items[0].style_dim_);
}

void Styles::check_compatible(const Styles& other, const char* action) const {
  if (other.class_names_ != class_names_ || other.style_dim_ != style_dim_)
    bad(std::string("cannot ") + action + " styles of different models: " + std::to_string(other.num_classes()) +
        " classes x " + std::to_string(other.style_dim_) + " vs " + std::to_string(num_classes()) + " x " +
        std::to_string(style_dim_) + " (or other class names); encode both with one package");
}

Styles Styles::broadcast(const Styles& other, const char* action) const {
  check_compatible(other, action);
  if (other.batch() == batch()) return other;
  if (other.batch() == 1) {
    std::vector<float> codes;
    std::vector<uint8_t> present;
    for (size_t b = 0; b < batch(); ++b) {
      codes.insert(codes.end(), other.codes_.begin(), other.codes_.end());
      present.insert(present.end(), other.present_.begin(), other.present_.end());
    }
    return Styles(std::move(codes), std::move(present), class_names_, style_dim_);
  }
  bad(std::string("cannot ") + action + " styles of " + std::to_string(other.batch()) + " images into a batch of " +
      std::to_string(batch()) + ": pass styles of 1 image (used for all) or of " + std::to_string(batch()) +
      " (one per image)");
}

// Codes [B, n, S] and presence [B, n] of `other` for classes `ids`, with the fallback applied.
void Styles::reference(const Styles& other, const std::vector<int>& ids, const Fallback& fallback, const char* action,
                       std::vector<float>& codes, std::vector<uint8_t>& present) const {
  const Styles ref = broadcast(other, action);
  const size_t B = batch(), K = class_names_.size(), S = style_dim_, n = ids.size();
  codes.assign(B * n * S, 0.f);
  present.assign(B * n, 0);
  std::vector<uint8_t> lacking(B * n, 0);
  bool any_lacking = false;
  for (size_t b = 0; b < B; ++b)
    for (size_t j = 0; j < n; ++j) {
      std::copy_n(&ref.codes_[(b * K + ids[j]) * S], S, &codes[(b * n + j) * S]);
      present[b * n + j] = ref.present_[b * K + ids[j]];
      lacking[b * n + j] = !present[b * n + j];
      any_lacking = any_lacking || lacking[b * n + j];
    }
  if (!any_lacking) return;
  if (fallback.kind == Fallback::Kind::styles) {
    if (!fallback.from) throw Error(Status::argument, "a styles fallback needs the styles to fall back on");
    const Styles fb = broadcast(*fallback.from, (std::string(action) + " with fallback").c_str());
    for (size_t b = 0; b < B; ++b)
      for (size_t j = 0; j < n; ++j)
        if (lacking[b * n + j] && fb.present_[b * K + ids[j]]) {
          std::copy_n(&fb.codes_[(b * K + ids[j]) * S], S, &codes[(b * n + j) * S]);
          present[b * n + j] = 1;
          lacking[b * n + j] = 0;
        }
  } else if (fallback.kind == Fallback::Kind::error) {
    std::set<std::string> names;
    std::set<size_t> images;
    for (size_t b = 0; b < B; ++b)
      for (size_t j = 0; j < n; ++j)
        if (lacking[b * n + j]) names.insert("'" + class_names_[ids[j]] + "'"), images.insert(b);
    std::vector<std::string> image_text;
    for (size_t b : images) image_text.push_back(std::to_string(b));
    bad(std::string("cannot ") + action + ": the reference style lacks class(es) [" +
        join({names.begin(), names.end()}, ", ") + "] for image(s) [" + join(image_text, ", ") +
        "]; pick a reference showing them, or use fallback 'own' or mean styles");
  }
  for (size_t b = 0; b < B; ++b)
    for (size_t j = 0; j < n; ++j)
      if (lacking[b * n + j]) {
        std::copy_n(&codes_[(b * K + ids[j]) * S], S, &codes[(b * n + j) * S]);
        present[b * n + j] = present_[b * K + ids[j]];
      }
}

Styles Styles::swap(const std::vector<std::string>& classes, const Styles& other, const Fallback& fallback) const {
  if (classes.empty()) bad("no class given to swap");
  const std::vector<int> id = ids(classes);
  std::vector<float> ref_codes;
  std::vector<uint8_t> ref_present;
  reference(other, id, fallback, "swap", ref_codes, ref_present);
  std::vector<float> codes = codes_;
  std::vector<uint8_t> present = present_;
  const size_t K = class_names_.size(), S = style_dim_, n = id.size();
  for (size_t b = 0; b < batch(); ++b)
    for (size_t j = 0; j < n; ++j) {
      std::copy_n(&ref_codes[(b * n + j) * S], S, &codes[(b * K + id[j]) * S]);
      present[b * K + id[j]] = ref_present[b * n + j];
    }
  return Styles(std::move(codes), std::move(present), class_names_, style_dim_);
}

Styles Styles::interpolate(const Styles& other, float alpha, const std::vector<std::string>& classes,
                           const Fallback& fallback) const {
  return interpolate(other, std::vector<float>(batch(), alpha), classes, fallback);
}

Styles Styles::interpolate(const Styles& other, const std::vector<float>& alpha, const std::vector<std::string>& classes,
                           const Fallback& fallback) const {
  // [0, 1] blends; one step beyond each end extrapolates (ALPHA_RANGE of sean_runtime/styles.py). NaN fails both.
  constexpr float kAlphaLow = -1.0f, kAlphaHigh = 2.0f;
  // The rule in the words of Styles._alpha (sean_runtime/styles.py).
  const std::string rule = "alpha must be a number in [-1, 2] or a list of " + std::to_string(batch()) +
                           " (one per image)";
  if (alpha.size() != batch()) bad(rule + ", got " + std::to_string(alpha.size()) + " weights");
  for (const float a : alpha) {
    if (!(a >= kAlphaLow && a <= kAlphaHigh)) {
      std::ostringstream value;
      value << a;  // shortest form: 5, -inf, nan
      bad(rule + ", got " + value.str());
    }
  }
  const std::vector<int> id = ids(classes);
  std::vector<float> ref_codes;
  std::vector<uint8_t> ref_present;
  reference(other, id, fallback, "interpolate", ref_codes, ref_present);
  std::vector<float> codes = codes_;
  const size_t K = class_names_.size(), S = style_dim_, n = id.size();
  for (size_t b = 0; b < batch(); ++b)
    for (size_t j = 0; j < n; ++j) {
      if (!present_[b * K + id[j]]) continue;  // only classes with a code of their own change
      float* own = &codes[(b * K + id[j]) * S];
      const float* ref = &ref_codes[(b * n + j) * S];
      for (size_t s = 0; s < S; ++s) own[s] = own[s] + alpha[b] * (ref[s] - own[s]);  // float32, as numpy
    }
  return Styles(std::move(codes), present_, class_names_, style_dim_);
}

Styles Styles::fill_missing(const Styles& fallback, const std::vector<std::string>& classes) const {
  const std::vector<int> id = ids(classes);
  const Styles fb = broadcast(fallback, "fill from");
  std::vector<float> codes = codes_;
  std::vector<uint8_t> present = present_;
  const size_t K = class_names_.size(), S = style_dim_;
  for (size_t b = 0; b < batch(); ++b)
    for (int k : id)
      if (!present_[b * K + k] && fb.present_[b * K + k]) {
        std::copy_n(&fb.codes_[(b * K + k) * S], S, &codes[(b * K + k) * S]);
        present[b * K + k] = 1;
      }
  return Styles(std::move(codes), std::move(present), class_names_, style_dim_);
}

Styles Styles::mean() const {
  const size_t K = class_names_.size(), S = style_dim_;
  std::vector<double> sums(K * S, 0.0), counts(K, 0.0);
  for (size_t b = 0; b < batch(); ++b)
    for (size_t k = 0; k < K; ++k)
      if (present_[b * K + k]) {
        counts[k] += 1.0;
        for (size_t s = 0; s < S; ++s) sums[k * S + s] += codes_[(b * K + k) * S + s];
      }
  std::vector<float> codes(K * S);
  std::vector<uint8_t> present(K);
  for (size_t k = 0; k < K; ++k) {
    present[k] = counts[k] > 0;
    for (size_t s = 0; s < S; ++s) codes[k * S + s] = static_cast<float>(sums[k * S + s] / std::max(counts[k], 1.0));
  }
  return Styles(std::move(codes), std::move(present), class_names_, style_dim_);
}

}  // namespace sean::core
