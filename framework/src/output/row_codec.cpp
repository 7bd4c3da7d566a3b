#include "output/row_codec.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "kvsim/core/error.hpp"
#include "metrics/result_columns.hpp"
#include "metrics/timed_metrics.hpp"

namespace kvsim {
namespace {

constexpr std::uint32_t kMagic = 0x6b76726fU;  // "kvro"

class Writer {
 public:
  template <class T>
  void pod(const T& x) {
    static_assert(std::is_trivially_copyable<T>::value, "plain values only");
    out_.append(reinterpret_cast<const char*>(&x), sizeof x);
  }
  void text(const std::string& s) {
    pod(std::uint64_t(s.size()));
    out_ += s;
  }
  template <class T>
  void pods(const std::vector<T>& v) {
    pod(std::uint64_t(v.size()));
    if (!v.empty()) out_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(const std::string& in) : in_(in) {}
  template <class T>
  T pod() {
    T x;
    need(sizeof x);
    std::memcpy(&x, in_.data() + at_, sizeof x);
    at_ += sizeof x;
    return x;
  }
  std::string text() {
    const auto n = count(1);
    std::string s = in_.substr(at_, n);
    at_ += n;
    return s;
  }
  template <class T>
  std::vector<T> pods() {
    const auto n = count(sizeof(T));
    std::vector<T> v(n);
    if (n) std::memcpy(v.data(), in_.data() + at_, n * sizeof(T));
    at_ += n * sizeof(T);
    return v;
  }
  std::size_t count(std::size_t each) {
    const auto n = pod<std::uint64_t>();
    if (each && n > (in_.size() - at_) / each) throw RuntimeError("result row message truncated");
    return std::size_t(n);
  }
  bool done() const { return at_ == in_.size(); }

 private:
  void need(std::size_t n) const {
    if (in_.size() - at_ < n) throw RuntimeError("result row message truncated");
  }
  const std::string& in_;
  std::size_t at_ = 0;
};

// The summary values travel without their names: both ends run the same build, so the names are
// metrics.def's (result_columns.hpp), in its order; a count that differs is refused.
template <class T>
void pack_values(Writer& w, const std::vector<std::pair<std::string, T>>& values, const std::vector<Column<T>>& columns) {
  if (values.size() != columns.size()) throw RuntimeError("result row message: the row does not have the table's columns");
  w.pod(std::uint64_t(values.size()));
  for (const auto& [k, v] : values) {
    if constexpr (std::is_same_v<T, std::string>) w.text(v);
    else w.pod(v);
  }
}

template <class T>
void unpack_values(Reader& r, std::vector<std::pair<std::string, T>>& values, const std::vector<Column<T>>& columns) {
  if (r.count(0) != columns.size()) throw RuntimeError("result row message: column count differs from this kvsim's");
  for (const auto& c : columns) {
    if constexpr (std::is_same_v<T, std::string>) values.emplace_back(c.name, r.text());
    else values.emplace_back(c.name, r.pod<T>());
  }
}

}  // namespace

std::string pack_row(const ResultRow& row) {
  Writer w;
  w.pod(kMagic);
  w.pod(row.point);
  pack_values(w, row.ints, int_columns());
  pack_values(w, row.reals, real_columns());
  pack_values(w, row.texts, text_columns());
  w.pod(row.checksum);
  // Each of the table's series, in its order: whether the row holds it, then its values.
  std::size_t held = 0;
  for (const RepetitionSeries& s : repetition_series()) {
    const auto it = std::find_if(row.seconds.begin(), row.seconds.end(), [&](const auto& x) { return x.first == s.name; });
    w.pod(std::uint8_t(it != row.seconds.end()));
    if (it != row.seconds.end()) w.pods(it->second), ++held;
  }
  if (held != row.seconds.size()) throw RuntimeError("result row message: the row holds a series the table does not declare");
  w.pods(row.lengths);
  w.pod(std::uint64_t(row.h2o_evicted.size()));
  for (const auto& v : row.h2o_evicted) w.pods(v);
  w.text(row.config_yaml);
  w.pod(row.warmup);
  w.pod(row.repetitions);
  return w.take();
}

ResultRow unpack_row(const std::string& bytes) {
  Reader r(bytes);
  if (r.pod<std::uint32_t>() != kMagic) throw RuntimeError("result row message: bad magic");
  ResultRow row;
  row.point = r.pod<std::int64_t>();
  unpack_values(r, row.ints, int_columns());
  unpack_values(r, row.reals, real_columns());
  unpack_values(r, row.texts, text_columns());
  row.checksum = r.pod<std::uint64_t>();
  for (const RepetitionSeries& s : repetition_series())
    if (r.pod<std::uint8_t>() != 0) row.seconds.emplace_back(s.name, r.pods<double>());
  row.lengths = r.pods<std::int64_t>();
  for (auto n = r.count(0); n > 0; --n) row.h2o_evicted.push_back(r.pods<std::int64_t>());
  row.config_yaml = r.text();
  row.warmup = r.pod<std::int64_t>();
  row.repetitions = r.pod<std::int64_t>();
  if (!r.done()) throw RuntimeError("result row message: trailing bytes");
  return row;
}

}  // namespace kvsim
