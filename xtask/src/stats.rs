//! Statistics for comparing a baseline kernel with a candidate.
//!
//! The unit of replication is the *boot*: one guest boot yields many timing
//! windows, but windows of one boot share that boot's host state (cache and
//! frequency luck, what else ran, where QEMU's threads landed), and boots of
//! the same kernel differ 1.3-4.7x in their medians on a noisy host. Pooling
//! the windows of all boots treats them as independent and turns that noise
//! into "significant" differences (p = 1e-7 between two runs of one kernel).
//! So each boot is summarised by its median window ([`boot_medians`]), the
//! test is an exact rank test on those per-boot medians ([`boot_rank_test`]),
//! the interval is a two-level bootstrap that resamples boots and then
//! windows within them ([`hierarchical_ratio_ci`]), and the p-values of many
//! comparisons are adjusted together ([`holm`], [`benjamini_hochberg`]).
//! `docs/statistics.md` explains the design for kernel developers.
//!
//! Pure functions, tested against scipy/statsmodels outputs for fixed
//! samples (the reference values and the Python that produced them are
//! written down in the tests). Timing samples under TCG are skewed and
//! heavy-tailed, hence rank statistics, medians and bootstrap intervals
//! rather than means and t-tests.

pub use crate::diff_config::{Change, Thresholds};

/// The `q`-th percentile (0..=100) with linear interpolation between order
/// statistics, as numpy's default; `None` for an empty sample.
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let rank = (q.clamp(0.0, 100.0) / 100.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64))
}

pub fn median(values: &[f64]) -> Option<f64> {
    percentile(values, 50.0)
}

/// The standard normal survival function, 1 − Φ(z).
fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The complementary error function (Numerical Recipes' Chebyshev fit,
/// fractional error below 1.2e-7 everywhere).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// The result of a two-sided rank-sum test of per-boot summaries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankTest {
    /// U of the first sample (scipy's `statistic`): the number of (a, b)
    /// pairs with a > b, ties counting one half.
    pub u: f64,
    /// Two-sided p-value, P(|U − n1·n2/2| ≥ |u − n1·n2/2|) under the null
    /// that all splits of the pooled values into the two sides are equally
    /// likely.
    pub p: f64,
    /// Whether `p` comes from the exact permutation distribution (true) or
    /// from the normal approximation (false, only for large samples).
    pub exact: bool,
}

/// The exact distribution is used while it has at most this many splits…
const EXACT_MAX_SPLITS: f64 = 1e7;
/// …and while the dynamic programme's table stays small: its cost grows as
/// (n·m)², with n values in all and m on the smaller side. Neither bound is
/// reached by boot counts (10 vs 10 has 184 756 splits, n·m = 200).
const EXACT_MAX_CELLS: usize = 2_000;

/// Two-sided Mann–Whitney / Wilcoxon rank-sum test of the per-boot
/// summaries `a` against `b` (typically per-boot medians, one value per
/// boot), exact for the sample sizes boots come in.
///
/// Why exact: with 4-10 boots a side the normal approximation is poor
/// exactly where it matters, in the tail, and the exact distribution is
/// cheap. Ties get mid-ranks, and the null distribution is that of the
/// *tied* ranks (a permutation test of U), so ties are handled exactly too
/// rather than by a variance correction. It is computed by dynamic
/// programming over the doubled rank sums, which are integers (mid-ranks
/// are multiples of ½), so counting splits and comparing deviations from
/// the mean is exact integer arithmetic, with no floating tolerance and no
/// enumeration of the C(n1+n2, n1) subsets.
///
/// Two-sided p is defined as P(|U − mean| ≥ |u_obs − mean|), the
/// permutation test of the statistic |U − n1·n2/2|. Without ties U is
/// symmetric about its mean, and this equals scipy's
/// `mannwhitneyu(method="exact")` (twice the smaller one-sided p); with
/// ties the distribution can be asymmetric and the two definitions differ,
/// the |U − mean| one being the natural two-sided permutation test.
///
/// Beyond the sizes where the exact distribution is cheap (from 13 boots a
/// side on: C(26, 13) > 10^7) it falls back to the normal approximation with the tie
/// correction of the variance and no continuity correction, i.e. scipy's
/// `method="asymptotic", use_continuity=False`: at those sizes the ±½
/// correction changes p very little, and with mid-ranks U moves in steps
/// of ½ so the textbook correction is not even the right size.
///
/// NaN values are left out; `None` when either side has no values.
pub fn boot_rank_test(a: &[f64], b: &[f64]) -> Option<RankTest> {
    let mut pooled: Vec<(f64, bool)> =
        a.iter().map(|&v| (v, true)).chain(b.iter().map(|&v| (v, false))).filter(|(v, _)| !v.is_nan()).collect();
    let n1 = pooled.iter().filter(|(_, from_a)| *from_a).count();
    let n = pooled.len();
    let n2 = n - n1;
    if n1 == 0 || n2 == 0 {
        return None;
    }
    pooled.sort_by(|x, y| x.0.total_cmp(&y.0));
    // Doubled mid-ranks: a run of ties at 0-based positions i..=j shares the
    // rank (i + j)/2 + 1, so twice that, i + j + 2, is an integer.
    let mut doubled = Vec::with_capacity(n);
    let mut doubled_sum_a: u64 = 0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && pooled[j + 1].0 == pooled[i].0 {
            j += 1;
        }
        let rank2 = (i + j + 2) as u64;
        for &(_, from_a) in &pooled[i..=j] {
            doubled.push(rank2);
            if from_a {
                doubled_sum_a += rank2;
            }
        }
        let tied = (j - i + 1) as f64;
        tie_term += tied * tied * tied - tied;
        i = j + 1;
    }
    let (n1u, nu) = (n1 as u64, n as u64);
    // 2U = 2R1 − n1(n1 + 1), and 2·mean(U) = n1·n2, so the doubled deviation
    // |2U − n1·n2| is |2R1 − n1(n + 1)|: the deviation of the doubled rank
    // sum from its mean. It is the same seen from either side, so the exact
    // count can run over the smaller side.
    let u = (doubled_sum_a - n1u * (n1u + 1)) as f64 / 2.0;
    let observed = doubled_sum_a.abs_diff(n1u * (nu + 1));
    let m = n1.min(n2);
    if binomial(n, m) <= EXACT_MAX_SPLITS && n * m <= EXACT_MAX_CELLS {
        let p = exact_rank_sum_tail(&doubled, m, observed);
        return Some(RankTest { u, p, exact: true });
    }
    let (n1f, n2f, nf) = (n1 as f64, n2 as f64, n as f64);
    let variance = n1f * n2f / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
    let p = if variance <= 0.0 {
        1.0
    } else {
        let z = (u - n1f * n2f / 2.0).abs() / variance.sqrt();
        (2.0 * normal_sf(z)).min(1.0)
    };
    Some(RankTest { u, p, exact: false })
}

/// The share of the C(n, m) ways to pick `m` of the values with doubled
/// ranks `doubled` whose doubled rank sum deviates from its mean, m(n + 1),
/// by at least `observed`.
fn exact_rank_sum_tail(doubled: &[u64], m: usize, observed: u64) -> f64 {
    let n = doubled.len() as u64;
    // A sum of m doubled ranks is at most 2·m·n.
    let width = 2 * m * doubled.len() + 1;
    // ways[k * width + s]: subsets of k of the values seen so far with
    // doubled rank sum s. Counts stay below C(n, m) <= EXACT_MAX_SPLITS.
    let mut ways = vec![0u64; (m + 1) * width];
    ways[0] = 1;
    for (seen, &r) in doubled.iter().enumerate() {
        let r = r as usize;
        for k in (1..=m.min(seen + 1)).rev() {
            let (lower, upper) = ways.split_at_mut(k * width);
            let (from, to) = (&lower[(k - 1) * width..], &mut upper[..width]);
            for s in r..width {
                to[s] += from[s - r];
            }
        }
    }
    let center = m as u64 * (n + 1);
    let counts = &ways[m * width..];
    let total: u64 = counts.iter().sum();
    let tail: u64 =
        counts.iter().enumerate().filter(|(s, _)| (*s as u64).abs_diff(center) >= observed).map(|(_, c)| c).sum();
    tail as f64 / total as f64
}

/// C(n, k) as a float; exact while it stays below 2^53 (each partial
/// product is itself a binomial coefficient, an integer).
fn binomial(n: usize, k: usize) -> f64 {
    if k > n {
        return 0.0;
    }
    let k = k.min(n - k);
    (1..=k).fold(1.0, |c, i| c * (n - k + i) as f64 / i as f64)
}

/// The smallest two-sided p-value [`boot_rank_test`] can give with `n1` and
/// `n2` boots and no ties, 2 / C(n1 + n2, n1): the two most extreme splits.
/// With 4 boots a side it is 0.029, with 6 it is 0.0022; when it is not
/// below the (adjusted) significance level, no amount of difference can be
/// significant and a report should say "too few boots" rather than "no
/// change". Ties only raise the floor.
pub fn min_p_value(n1: usize, n2: usize) -> f64 {
    if n1 == 0 || n2 == 0 {
        return 1.0;
    }
    (2.0 / binomial(n1 + n2, n1)).min(1.0)
}

/// The median of each boot's windows, skipping boots without windows: the
/// per-boot summary the rank test compares.
pub fn boot_medians(boots: &[Vec<f64>]) -> Vec<f64> {
    boots.iter().filter_map(|windows| median(windows)).collect()
}

/// A 95 % interval of median(candidate boot medians) / median(baseline boot
/// medians), by a two-level (hierarchical) bootstrap with `rounds` rounds
/// and a fixed seed (so reports are reproducible).
///
/// Each round resamples, on each side, the boots with replacement and then
/// the windows with replacement within each drawn boot, takes each drawn
/// boot's median and the median of those as the side's statistic. Resampling
/// boots carries the between-boot variance into the interval, which a
/// bootstrap of pooled windows leaves out (it then sees hundreds of
/// "independent" samples and gives an interval far too narrow); resampling
/// windows too carries the within-boot uncertainty of each boot's median.
/// The interval is the 2.5/97.5 percentile of the round ratios.
///
/// Rounds whose baseline statistic is not positive are skipped: a zero
/// baseline median has no ratio (and timings are never negative). Boots
/// without windows are ignored, and NaN windows left out. `None` when either
/// side has no boot with windows, or no round gave a ratio.
pub fn hierarchical_ratio_ci(
    baseline: &[Vec<f64>],
    candidate: &[Vec<f64>],
    rounds: usize,
    seed: u64,
) -> Option<(f64, f64)> {
    let clean = |boots: &[Vec<f64>]| -> Vec<Vec<f64>> {
        boots
            .iter()
            .map(|windows| windows.iter().copied().filter(|v| !v.is_nan()).collect::<Vec<f64>>())
            .filter(|windows| !windows.is_empty())
            .collect()
    };
    let (baseline, candidate) = (clean(baseline), clean(candidate));
    if baseline.is_empty() || candidate.is_empty() {
        return None;
    }
    let mut rng = XorShift(seed | 1);
    let mut scratch = Scratch::default();
    let ratios: Vec<f64> = (0..rounds.max(1))
        .filter_map(|_| {
            let base = scratch.two_level_median(&baseline, &mut rng);
            let cand = scratch.two_level_median(&candidate, &mut rng);
            (base > 0.0).then_some(cand / base)
        })
        .collect();
    Some((percentile(&ratios, 2.5)?, percentile(&ratios, 97.5)?))
}

/// Buffers reused across bootstrap rounds (the bootstrap is the hot loop).
#[derive(Default)]
struct Scratch {
    windows: Vec<f64>,
    medians: Vec<f64>,
}

impl Scratch {
    /// One two-level resample of `boots` (none empty), reduced to the
    /// median of the drawn boots' medians.
    fn two_level_median(&mut self, boots: &[Vec<f64>], rng: &mut XorShift) -> f64 {
        self.medians.clear();
        for _ in 0..boots.len() {
            let boot = &boots[rng.below(boots.len())];
            self.windows.clear();
            for _ in 0..boot.len() {
                self.windows.push(boot[rng.below(boot.len())]);
            }
            self.medians.push(median_in_place(&mut self.windows));
        }
        median_in_place(&mut self.medians)
    }
}

/// The median of a non-empty slice without NaNs, reordering it; the same
/// value as [`median`] (the two middle values averaged for an even count)
/// in linear rather than n·log n time.
fn median_in_place(values: &mut [f64]) -> f64 {
    let (len, mid) = (values.len(), values.len() / 2);
    let (below, upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if len % 2 == 1 {
        upper
    } else {
        let lower = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        lower + (upper - lower) * 0.5
    }
}

/// Holm's step-down adjusted p-values, in input order: the k-th smallest p
/// is multiplied by (m − k + 1), made non-decreasing along the sorted order
/// and capped at 1. Rejecting where the adjusted p is below α keeps the
/// family-wise error rate (the chance of any false "regressed" or
/// "improved") at α whatever the dependence between the comparisons, which
/// is what a pass/fail exit code needs: with 20 gated metrics at α = 0.05
/// each, about one would flip on noise alone.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut adjusted = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (k, i) in ascending_order(p).into_iter().enumerate() {
        running = running.max(((m - k) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// Benjamini–Hochberg step-up adjusted p-values (false discovery rate), in
/// input order: the k-th smallest p is multiplied by m / k, made
/// non-decreasing along the sorted order from the largest down, and capped
/// at 1. Less strict than [`holm`]: it bounds the expected share of false
/// findings among those reported, fitting metrics that are shown but do not
/// decide the exit code.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut adjusted = vec![0.0; m];
    let mut running: f64 = 1.0;
    for (k, i) in ascending_order(p).into_iter().enumerate().rev() {
        running = running.min((m as f64 / (k + 1) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// Indices of `p` from the smallest value to the largest (stable).
fn ascending_order(p: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    order
}

/// The median and the median absolute deviation from it.
fn median_and_mad(values: &[f64]) -> Option<(f64, f64)> {
    let center = median(values)?;
    let deviations: Vec<f64> = values.iter().map(|v| (v - center).abs()).collect();
    Some((center, median(&deviations)?))
}

/// 1.4826 · MAD makes the median absolute deviation estimate the standard
/// deviation of normal data (1 / Φ⁻¹(3/4)).
const MAD_TO_SD: f64 = 1.4826;

/// The robust coefficient of variation 1.4826 · MAD / |median|: the
/// between-boot spread shown next to the medians when given per-boot
/// medians (0.30: boots typically differ by about 30 % of the median). A
/// robust version because one slow boot out of six would dominate a
/// standard deviation. `None` for fewer than two values or a zero median.
pub fn robust_cv(values: &[f64]) -> Option<f64> {
    if values.iter().filter(|v| !v.is_nan()).count() < 2 {
        return None;
    }
    let (center, mad) = median_and_mad(values)?;
    (center != 0.0).then(|| MAD_TO_SD * mad / center.abs())
}

/// A robust standard deviation of ln(values), 1.4826 · MAD of the logs: the
/// between-boot spread on the scale where a ratio is a difference, as
/// [`detectable_ratio`] needs. `None` for fewer than two values or any value
/// that is not positive (no logarithm).
pub fn log_sd(values: &[f64]) -> Option<f64> {
    if values.len() < 2 || values.iter().any(|v| v.is_nan() || *v <= 0.0) {
        return None;
    }
    let logs: Vec<f64> = values.iter().map(|v| v.ln()).collect();
    Some(MAD_TO_SD * median_and_mad(&logs)?.1)
}

/// The smallest ratio of medians (> 1; its inverse for a decrease) that a
/// two-sided rank test at level `alpha` on `boots_per_side` per-boot medians
/// a side detects with probability `power`, when log per-boot medians have
/// standard deviation `log_sd`:
///
/// exp((z₁₋α/₂ + z_power) · log_sd · √(2/R) · √(π/3))
///
/// It is the normal-approximation power formula of the two-sample t-test on
/// logs, with the √(π/3) penalty for using a rank test instead: its
/// asymptotic relative efficiency against the t-test under normality is
/// 3/π, so it needs π/3 times the boots for the same power. An
/// approximation (small R, discreteness of the exact test), meant to tell a
/// reader "with this spread and this many boots, changes below about X
/// cannot be seen". `None` when the rank test can never reach `alpha` with
/// R boots a side ([`min_p_value`]), or for meaningless arguments.
pub fn detectable_ratio(log_sd: f64, boots_per_side: usize, alpha: f64, power: f64) -> Option<f64> {
    let valid = log_sd.is_finite() && log_sd >= 0.0 && alpha > 0.0 && alpha < 1.0 && power > 0.0 && power < 1.0;
    if !valid || min_p_value(boots_per_side, boots_per_side) >= alpha {
        return None;
    }
    let z = normal_quantile(1.0 - alpha / 2.0) + normal_quantile(power);
    let r = boots_per_side as f64;
    Some((z * log_sd * (2.0 / r).sqrt() * (std::f64::consts::PI / 3.0).sqrt()).exp())
}

/// The standard normal quantile Φ⁻¹(p) by Acklam's rational approximation
/// (relative error below 1.2e-9, plenty for power calculations); −∞ at 0,
/// +∞ at 1, NaN outside [0, 1].
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] =
        [7.784_695_709_041_462e-3, 3.224_671_290_700_398e-1, 2.445_134_137_142_996, 3.754_408_661_907_416];
    const P_LOW: f64 = 0.02425;
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    }
}

/// Decides the change of a metric where smaller is better (latencies,
/// stalls) or, with `higher_is_better`, larger is (throughput), from the
/// (multiplicity-adjusted) p-value of the per-boot rank test, the interval
/// `ci` of the ratio candidate/baseline, and the number of boots on each
/// side: a significant difference whose whole interval lies beyond the
/// effect threshold is improved or regressed; a non-significant one whose
/// interval lies within it is unchanged; anything else, including fewer
/// than `min_boots` boots on a side, is inconclusive.
pub fn judge(
    p_adjusted: f64,
    ci: (f64, f64),
    boots: (usize, usize),
    higher_is_better: bool,
    th: &Thresholds,
) -> Change {
    if boots.0 < th.min_boots || boots.1 < th.min_boots {
        return Change::Inconclusive;
    }
    let up = 1.0 + th.min_effect;
    let down = 1.0 / up;
    let (grew, shrank) = (ci.0 > up, ci.1 < down);
    if p_adjusted < th.alpha && (grew || shrank) {
        return if grew == higher_is_better { Change::Improved } else { Change::Regressed };
    }
    if p_adjusted >= th.alpha && ci.0 >= down && ci.1 <= up {
        return Change::Unchanged;
    }
    Change::Inconclusive
}

#[cfg(test)]
mod tests;
