#include "ringlb/demo/zipf.hpp"

#include <cmath>

namespace ringlb::demo {

zipf_distribution::zipf_distribution(std::size_t n, double s) : cdf_(std::max<std::size_t>(n, 1)) {
    double total = 0;
    for (std::size_t k = 0; k < cdf_.size(); ++k) {
        total += std::pow(static_cast<double>(k + 1), -s);
        cdf_[k] = total;
    }
    for (double& c : cdf_) c /= total;
    cdf_.back() = 1.0;  // rounding must not leave a gap above the last rank
}

double zipf_distribution::probability(std::size_t rank) const noexcept {
    if (rank >= cdf_.size()) return 0;
    return rank == 0 ? cdf_[0] : cdf_[rank] - cdf_[rank - 1];
}

}  // namespace ringlb::demo
