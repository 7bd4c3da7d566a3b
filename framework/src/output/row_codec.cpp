#include "output/row_codec.hpp"

#include <cstring>
#include <type_traits>

#include "kvsim/core/error.hpp"

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

}  // namespace

std::string pack_row(const ResultRow& row) {
  Writer w;
  w.pod(kMagic);
  w.pod(row.point);
  w.pod(std::uint64_t(row.ints.size()));
  for (const auto& [k, v] : row.ints) w.text(k), w.pod(v);
  w.pod(std::uint64_t(row.reals.size()));
  for (const auto& [k, v] : row.reals) w.text(k), w.pod(v);
  w.pod(std::uint64_t(row.texts.size()));
  for (const auto& [k, v] : row.texts) w.text(k), w.text(v);
  w.pod(row.checksum);
  w.pod(std::uint64_t(row.seconds.size()));
  for (const auto& [k, v] : row.seconds) w.text(k), w.pods(v);
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
  for (auto n = r.count(0); n > 0; --n) {
    std::string k = r.text();
    row.ints.emplace_back(std::move(k), r.pod<std::int64_t>());
  }
  for (auto n = r.count(0); n > 0; --n) {
    std::string k = r.text();
    row.reals.emplace_back(std::move(k), r.pod<double>());
  }
  for (auto n = r.count(0); n > 0; --n) {
    std::string k = r.text();
    row.texts.emplace_back(std::move(k), r.text());
  }
  row.checksum = r.pod<std::uint64_t>();
  for (auto n = r.count(0); n > 0; --n) {
    std::string k = r.text();
    row.seconds.emplace_back(std::move(k), r.pods<double>());
  }
  row.lengths = r.pods<std::int64_t>();
  for (auto n = r.count(0); n > 0; --n) row.h2o_evicted.push_back(r.pods<std::int64_t>());
  row.config_yaml = r.text();
  row.warmup = r.pod<std::int64_t>();
  row.repetitions = r.pod<std::int64_t>();
  if (!r.done()) throw RuntimeError("result row message: trailing bytes");
  return row;
}

}  // namespace kvsim
