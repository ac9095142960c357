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

/// The result of a two-sided Mann–Whitney U test.
///
/// The pooled-window methods ([`mann_whitney_u`], [`ratio_of_medians_ci`])
/// are what the diff used before the boot became its unit. They stay only
/// for the tests, which check them against scipy and show on simulated
/// boots how far they overstate a difference.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// U of the first sample (scipy's `statistic`).
    pub u: f64,
    /// Two-sided p-value, normal approximation with tie correction and
    /// continuity correction (scipy's `method="asymptotic"`).
    pub p: f64,
}

/// Two-sided Mann–Whitney U test of `a` against `b`; `None` when either
/// sample is empty. For independent samples only: to compare kernels from
/// windows of several boots use [`boot_rank_test`] on per-boot summaries.
#[cfg(test)]
pub fn mann_whitney_u(a: &[f64], b: &[f64]) -> Option<MannWhitney> {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    // Rank the pooled sample, giving ties their average rank.
    let mut pooled: Vec<(f64, bool)> = a.iter().map(|&v| (v, true)).chain(b.iter().map(|&v| (v, false))).collect();
    pooled.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = pooled.len();
    let mut rank_sum_a = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && pooled[j + 1].0 == pooled[i].0 {
            j += 1;
        }
        let average_rank = (i + j) as f64 / 2.0 + 1.0;
        let tied = (j - i + 1) as f64;
        tie_term += tied * tied * tied - tied;
        rank_sum_a += pooled[i..=j].iter().filter(|(_, from_a)| *from_a).count() as f64 * average_rank;
        i = j + 1;
    }
    let (n1f, n2f, nf) = (n1 as f64, n2 as f64, n as f64);
    let u1 = rank_sum_a - n1f * (n1f + 1.0) / 2.0;
    let u2 = n1f * n2f - u1;
    let mean = n1f * n2f / 2.0;
    let variance = n1f * n2f / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
    let p = if variance <= 0.0 {
        1.0
    } else {
        let z = (u1.max(u2) - mean - 0.5) / variance.sqrt();
        (2.0 * normal_sf(z)).min(1.0)
    };
    Some(MannWhitney { u: u1, p })
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

/// A 95 % bootstrap interval of median(candidate) / median(baseline),
/// from `rounds` resamples with a fixed seed (so reports are reproducible).
///
/// It treats every sample as independent. For windows that come from a few
/// boots that is wrong (the interval leaves out the between-boot variance
/// and is far too narrow; see the test `null_boots_*`): use
/// [`hierarchical_ratio_ci`] there.
#[cfg(test)]
pub fn ratio_of_medians_ci(baseline: &[f64], candidate: &[f64], rounds: usize, seed: u64) -> Option<(f64, f64)> {
    if baseline.is_empty() || candidate.is_empty() {
        return None;
    }
    let mut rng = XorShift(seed | 1);
    // One reused buffer and a selection instead of a sort: the same values
    // as `median` of a fresh resample, at a fraction of the cost.
    let mut buffer = Vec::new();
    let mut resampled_median = |sample: &[f64], rng: &mut XorShift| -> Option<f64> {
        buffer.clear();
        for _ in 0..sample.len() {
            let value = sample[rng.below(sample.len())];
            if !value.is_nan() {
                buffer.push(value);
            }
        }
        (!buffer.is_empty()).then(|| median_in_place(&mut buffer))
    };
    let ratios: Vec<f64> = (0..rounds.max(1))
        .filter_map(|_| {
            let base = resampled_median(baseline, &mut rng)?;
            let cand = resampled_median(candidate, &mut rng)?;
            (base > 0.0).then_some(cand / base)
        })
        .collect();
    Some((percentile(&ratios, 2.5)?, percentile(&ratios, 97.5)?))
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

/// What changed from baseline to candidate for one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Improved,
    Regressed,
    Unchanged,
    Inconclusive,
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

/// When a difference counts.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Family-wise significance level: the Holm-adjusted p-value of the
    /// per-boot rank test must be below it (0.05: across all gated
    /// comparisons together, a 5 % chance of any false verdict).
    pub alpha: f64,
    /// The smallest relative change of the median that matters (0.10: 10 %).
    pub min_effect: f64,
    /// Fewer PASS boots than this on either side is inconclusive: with few
    /// boots the rank test cannot reach significance (see [`min_p_value`])
    /// and the between-boot spread is unknown.
    pub min_boots: usize,
    /// The most CPU, in host cores, that other processes may use during a
    /// timing boot before that boot counts as noisy and is left out of the
    /// statistics (0.25: a quarter of a core).
    pub max_host_load: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { alpha: 0.05, min_effect: 0.10, min_boots: 5, max_host_load: 0.25 }
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
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance * b.abs().max(1e-300)
    }

    #[test]
    fn percentiles_match_numpy() {
        // numpy.percentile(range 1..=10, 99) = 9.91; ([5,1,3], 50) = 3.0;
        // ([0.4,0.9,1.1,0.7,2.5,1.3,0.8,1.9,0.6], 90) = 2.02
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert!(close(percentile(&ten, 99.0).unwrap(), 9.91, 1e-12));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert!(close(percentile(&[0.4, 0.9, 1.1, 0.7, 2.5, 1.3, 0.8, 1.9, 0.6], 90.0).unwrap(), 2.02, 1e-12));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn mann_whitney_matches_scipy() {
        // scipy.stats.mannwhitneyu(a, b, alternative="two-sided",
        // method="asymptotic", use_continuity=True), scipy 1.x:
        let a = [1.2, 3.4, 2.2, 5.1, 4.4, 2.9, 3.3, 6.0];
        let b = [0.4, 0.9, 1.1, 0.7, 2.5, 1.3, 0.8, 1.9, 0.6];
        let r = mann_whitney_u(&a, &b).unwrap();
        assert_eq!(r.u, 68.0);
        assert!(close(r.p, 0.0024367348089890093, 1e-5), "{}", r.p);
        // With ties: U = 11.0, p = 0.04988443697992588.
        let r =
            mann_whitney_u(&[1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0], &[2.0, 3.0, 3.0, 4.0, 4.0, 5.0, 5.0, 6.0]).unwrap();
        assert_eq!(r.u, 11.0);
        assert!(close(r.p, 0.04988443697992588, 1e-5), "{}", r.p);
        // Identical samples: U = 4.5, p = 1.0.
        let r = mann_whitney_u(&[10.0, 11.0, 12.0], &[10.0, 11.0, 12.0]).unwrap();
        assert_eq!((r.u, r.p), (4.5, 1.0));
        assert_eq!(mann_whitney_u(&[], &[1.0]), None);
    }

    // Reference values for the rank test, scipy 1.17.1 / numpy, produced by:
    //
    //     import numpy as np
    //     from scipy import stats
    //     def U(x, y, axis=-1):
    //         return stats.mannwhitneyu(x, y, axis=axis, method='asymptotic').statistic
    //     def dev(x, y, axis=-1):  # the statistic |U - n1*n2/2|
    //         return np.abs(U(x, y, axis) - x.shape[axis] * y.shape[axis] / 2)
    //     x, y = np.array(x, float), np.array(y, float)
    //     stats.permutation_test((x, y), dev, permutation_type='independent',
    //         n_resamples=np.inf, alternative='greater', vectorized=True).pvalue
    //     stats.mannwhitneyu(x, y, method='exact').pvalue   # no ties only
    //
    // `alternative='greater'` on |U - mean| is the definition implemented,
    // P(|U - mean| >= |u - mean|); scipy's two-sided permutation p of U
    // itself would be 2*min(one-sided), which differs when ties make the
    // distribution asymmetric. Without ties both agree with the exact
    // mannwhitneyu, as the values below show.

    #[test]
    fn rank_test_six_vs_six_full_separation_is_the_floor() {
        // U = 0.0; permutation p = mwu exact p = 0.0021645021645021645 = 2/924.
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [7.0, 8.0, 9.0, 10.0, 11.0, 12.0];
        let r = boot_rank_test(&a, &b).unwrap();
        assert_eq!(r.u, 0.0);
        assert!(r.exact);
        assert!(close(r.p, 0.0021645021645021645, 1e-12), "{}", r.p);
        assert!(close(r.p, min_p_value(6, 6), 1e-12));
        // Either direction is equally extreme.
        let r = boot_rank_test(&b, &a).unwrap();
        assert_eq!(r.u, 36.0);
        assert!(close(r.p, 2.0 / 924.0, 1e-12));
    }

    #[test]
    fn rank_test_five_vs_five_matches_scipy() {
        // U = 6.0; permutation p = mwu exact p = 0.2222222222222222.
        let r = boot_rank_test(&[1.1, 2.3, 3.8, 4.2, 6.0], &[2.0, 4.5, 5.1, 6.6, 7.3]).unwrap();
        assert_eq!(r.u, 6.0);
        assert!(r.exact);
        assert!(close(r.p, 0.2222222222222222, 1e-12), "{}", r.p);
    }

    #[test]
    fn rank_test_unequal_sizes_matches_scipy() {
        // 4 vs 7: U = 26.0; permutation p = mwu exact p = 0.024242424242424242.
        let r = boot_rank_test(&[3.1, 5.2, 4.4, 6.3], &[1.2, 2.5, 3.3, 0.9, 2.8, 4.0, 1.7]).unwrap();
        assert_eq!(r.u, 26.0);
        assert!(close(r.p, 0.024242424242424242, 1e-12), "{}", r.p);
        // The same from the other side (U = 28 - 26 = 2).
        let r = boot_rank_test(&[1.2, 2.5, 3.3, 0.9, 2.8, 4.0, 1.7], &[3.1, 5.2, 4.4, 6.3]).unwrap();
        assert_eq!(r.u, 2.0);
        assert!(close(r.p, 0.024242424242424242, 1e-12), "{}", r.p);
    }

    #[test]
    fn rank_test_with_ties_matches_scipy_permutation_test() {
        // 7 vs 8 with ties: U = 11.0, permutation p = 0.05314685314685315
        // (the asymptotic test above said 0.0499 for the same data).
        let r =
            boot_rank_test(&[1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0], &[2.0, 3.0, 3.0, 4.0, 4.0, 5.0, 5.0, 6.0]).unwrap();
        assert_eq!(r.u, 11.0);
        assert!(r.exact);
        assert!(close(r.p, 0.05314685314685315, 1e-12), "{}", r.p);
        // 6 vs 6 with ties across the sides: U = 4.0, p = 0.030303030303030304.
        let r = boot_rank_test(&[5.0, 5.0, 6.0, 7.0, 7.0, 9.0], &[7.0, 8.0, 9.0, 9.0, 10.0, 10.0]).unwrap();
        assert_eq!(r.u, 4.0);
        assert!(close(r.p, 0.030303030303030304, 1e-12), "{}", r.p);
    }

    #[test]
    fn rank_test_identical_samples_and_empty_sides() {
        // U = 4.5, p = 1.0.
        let r = boot_rank_test(&[10.0, 11.0, 12.0], &[10.0, 11.0, 12.0]).unwrap();
        assert_eq!((r.u, r.p, r.exact), (4.5, 1.0, true));
        // All values equal: every split has the same U.
        assert_eq!(boot_rank_test(&[3.0; 4], &[3.0; 5]).unwrap().p, 1.0);
        assert_eq!(boot_rank_test(&[], &[1.0]), None);
        assert_eq!(boot_rank_test(&[f64::NAN], &[1.0]), None);
    }

    #[test]
    fn rank_test_falls_back_to_the_normal_approximation_for_large_samples() {
        // 30 vs 32, scipy.stats.mannwhitneyu(x, y, method='asymptotic',
        // use_continuity=False) with x_i = (i*37 % 101)/10 + 3 (i < 30),
        // y_i = (i*53 % 97)/10 + 2 (i < 32): U = 595.0, p = 0.10522321651337185;
        // rounded with np.round (ties to even): U = 596.0, p = 0.10075311187832806.
        let x: Vec<f64> = (0..30).map(|i| ((i * 37) % 101) as f64 / 10.0 + 3.0).collect();
        let y: Vec<f64> = (0..32).map(|i| ((i * 53) % 97) as f64 / 10.0 + 2.0).collect();
        let r = boot_rank_test(&x, &y).unwrap();
        assert!(!r.exact);
        assert_eq!(r.u, 595.0);
        assert!(close(r.p, 0.10522321651337185, 1e-5), "{}", r.p);
        let round = |v: &Vec<f64>| -> Vec<f64> { v.iter().map(|x| x.round_ties_even()).collect() };
        let r = boot_rank_test(&round(&x), &round(&y)).unwrap();
        assert_eq!(r.u, 596.0);
        assert!(close(r.p, 0.10075311187832806, 1e-5), "{}", r.p);
    }

    #[test]
    fn min_p_values_are_two_over_the_number_of_splits() {
        // 2 / C(2R, R) for R = 4..=10: C = 70, 252, 924, 3432, 12870, 48620, 184756.
        for (r, splits) in [(4, 70.0), (5, 252.0), (6, 924.0), (7, 3432.0), (8, 12870.0), (9, 48620.0), (10, 184756.0)]
        {
            assert!(close(min_p_value(r, r), 2.0 / splits, 1e-12), "{r}");
        }
        assert!(close(min_p_value(4, 7), 2.0 / 330.0, 1e-12));
        assert_eq!(min_p_value(1, 1), 1.0);
        assert_eq!(min_p_value(0, 5), 1.0);
        // Three boots a side can never reach 0.05.
        assert!(min_p_value(3, 3) > 0.05);
    }

    #[test]
    fn boot_medians_skip_empty_boots() {
        let boots = vec![vec![3.0, 1.0, 2.0], vec![], vec![4.0, 10.0]];
        assert_eq!(boot_medians(&boots), vec![2.0, 7.0]);
    }

    #[test]
    fn median_in_place_agrees_with_median() {
        for values in [vec![5.0, 1.0, 3.0], vec![4.0, 1.0, 3.0, 2.0], vec![7.0], vec![2.0, 2.0, 1.0, 9.0, 9.0, 0.5]] {
            let mut copy = values.clone();
            assert_eq!(median_in_place(&mut copy), median(&values).unwrap(), "{values:?}");
        }
    }

    #[test]
    fn hierarchical_interval_is_reproducible_and_brackets_the_ratio() {
        let baseline: Vec<Vec<f64>> =
            (0..8).map(|b| (0..40).map(|w| 100.0 + 10.0 * b as f64 + (w % 7) as f64).collect()).collect();
        let candidate: Vec<Vec<f64>> = baseline.iter().map(|boot| boot.iter().map(|v| v * 0.5).collect()).collect();
        let ci = hierarchical_ratio_ci(&baseline, &candidate, 400, 11).unwrap();
        assert!(ci.0 <= 0.5 && 0.5 <= ci.1 && ci.1 < 0.8, "{ci:?}");
        assert_eq!(hierarchical_ratio_ci(&baseline, &candidate, 400, 11), Some(ci));
        // Empty boots are ignored; a side without windows has no interval.
        let mut with_empty = baseline.clone();
        with_empty.push(Vec::new());
        assert!(hierarchical_ratio_ci(&with_empty, &candidate, 400, 11).is_some());
        assert_eq!(hierarchical_ratio_ci(&[vec![]], &candidate, 400, 11), None);
        assert_eq!(hierarchical_ratio_ci(&baseline, &[], 400, 11), None);
        // A zero baseline has no ratio.
        assert_eq!(hierarchical_ratio_ci(&[vec![0.0, 0.0]], &candidate, 50, 11), None);
    }

    #[test]
    fn hierarchical_interval_with_one_window_per_boot_is_a_bootstrap_of_medians() {
        // One window per boot: the inner level has nothing to resample, so
        // this is an ordinary bootstrap of the two medians, like the pooled
        // one on the same values.
        let baseline: Vec<f64> = [9.0, 11.0, 10.0, 12.0, 8.5, 10.5, 9.5].to_vec();
        let candidate: Vec<f64> = baseline.iter().map(|v| v * 1.3).collect();
        let boots = |values: &[f64]| -> Vec<Vec<f64>> { values.iter().map(|&v| vec![v]).collect() };
        let ci = hierarchical_ratio_ci(&boots(&baseline), &boots(&candidate), 2000, 3).unwrap();
        assert!(ci.0 <= 1.3 && 1.3 <= ci.1, "{ci:?}");
        let pooled = ratio_of_medians_ci(&baseline, &candidate, 2000, 3).unwrap();
        assert!((ci.0 - pooled.0).abs() < 0.1 && (ci.1 - pooled.1).abs() < 0.1, "{ci:?} vs {pooled:?}");
    }

    /// splitmix64 with Box–Muller normals: a test-only generator independent
    /// of the code under test.
    struct SplitMix(u64);

    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn unit(&mut self) -> f64 {
            ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }

        fn normal(&mut self) -> f64 {
            (-2.0 * self.unit().ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos()
        }

        /// `boots` boots of `windows` windows: each boot's level is
        /// log-normal with sd `between` of its log, each window log-normal
        /// around it with sd `within`.
        fn two_level(&mut self, boots: usize, windows: usize, between: f64, within: f64) -> Vec<Vec<f64>> {
            (0..boots)
                .map(|_| {
                    let level = 100.0 * (between * self.normal()).exp();
                    (0..windows).map(|_| level * (within * self.normal()).exp()).collect()
                })
                .collect()
        }
    }

    #[test]
    fn null_boots_fool_the_pooled_statistics_but_not_the_per_boot_ones() {
        // 200 comparisons of one "kernel" with itself: 8 boots a side, 8
        // windows a boot, boot levels log-normal with a log-sd of 0.4 (the
        // slowest of 16 boots typically 3-5x the fastest, as seen on a noisy
        // host) and windows with a log-sd of 0.1 around their boot. Every
        // "changed" is false. Small sizes and 200 rounds keep this fast in a
        // debug build; the rates hardly depend on them.
        let mut rng = SplitMix(2024);
        let (mut hierarchical, mut pooled_ci, mut rank, mut pooled_test) = (0, 0, 0, 0);
        let comparisons: usize = 200;
        for i in 0..comparisons as u64 {
            let baseline = rng.two_level(8, 8, 0.4, 0.1);
            let candidate = rng.two_level(8, 8, 0.4, 0.1);
            let (lo, hi) = hierarchical_ratio_ci(&baseline, &candidate, 200, i).unwrap();
            hierarchical += usize::from(lo > 1.0 || hi < 1.0);
            let (pooled_b, pooled_c) = (baseline.concat(), candidate.concat());
            let (lo, hi) = ratio_of_medians_ci(&pooled_b, &pooled_c, 200, i).unwrap();
            pooled_ci += usize::from(lo > 1.0 || hi < 1.0);
            rank += usize::from(boot_rank_test(&boot_medians(&baseline), &boot_medians(&candidate)).unwrap().p < 0.05);
            pooled_test += usize::from(mann_whitney_u(&pooled_b, &pooled_c).unwrap().p < 0.05);
        }
        // At the time of writing: 11, 100, 9 and 112 of 200.
        eprintln!(
            "false changes in {comparisons}: hierarchical CI {hierarchical}, pooled CI {pooled_ci}, \
             per-boot rank test {rank}, pooled Mann-Whitney {pooled_test}"
        );
        // The per-boot statistics stay near their nominal 5 %…
        assert!(hierarchical <= comparisons / 10, "hierarchical interval excluded 1 in {hierarchical}");
        assert!(rank <= comparisons / 10, "per-boot rank test rejected in {rank}");
        // …while the pooled ones call about half of these identical kernels
        // different (and more so with the 30-100 windows of real boots).
        assert!(pooled_ci >= comparisons * 2 / 5, "pooled interval excluded 1 in only {pooled_ci}");
        assert!(pooled_test >= comparisons * 2 / 5, "pooled Mann-Whitney rejected in only {pooled_test}");
    }

    #[test]
    fn hierarchical_interval_sees_a_real_change() {
        // The same generator with the candidate 2x slower in every boot.
        let mut rng = SplitMix(7);
        let baseline = rng.two_level(8, 20, 0.1, 0.2);
        let candidate: Vec<Vec<f64>> =
            rng.two_level(8, 20, 0.1, 0.2).into_iter().map(|b| b.into_iter().map(|v| 2.0 * v).collect()).collect();
        let (lo, hi) = hierarchical_ratio_ci(&baseline, &candidate, 400, 1).unwrap();
        assert!(lo > 1.5 && hi < 2.7, "{lo}..{hi}");
        let r = boot_rank_test(&boot_medians(&baseline), &boot_medians(&candidate)).unwrap();
        assert!(close(r.p, min_p_value(8, 8), 1e-12), "{}", r.p);
    }

    // Adjusted p-values, statsmodels 0.15.0:
    //
    //     from statsmodels.stats.multitest import multipletests
    //     multipletests(p, method='holm')[1]; multipletests(p, method='fdr_bh')[1]
    //
    // p = [0.01, 0.04, 0.03, 0.005, 0.2, 0.04]:
    //   holm   [0.05, 0.12, 0.12, 0.03, 0.2, 0.12]
    //   fdr_bh [0.03, 0.048, 0.048, 0.03, 0.2, 0.048]
    // p = [0.9, 0.6, 0.02, 0.7]:
    //   holm   [1.0, 1.0, 0.08, 1.0]
    //   fdr_bh [0.9, 0.9, 0.08, 0.9]

    fn all_close(got: &[f64], want: &[f64]) -> bool {
        got.len() == want.len() && got.iter().zip(want).all(|(g, w)| close(*g, *w, 1e-12))
    }

    #[test]
    fn holm_matches_statsmodels() {
        let got = holm(&[0.01, 0.04, 0.03, 0.005, 0.2, 0.04]);
        assert!(all_close(&got, &[0.05, 0.12, 0.12, 0.03, 0.2, 0.12]), "{got:?}");
        let got = holm(&[0.9, 0.6, 0.02, 0.7]);
        assert!(all_close(&got, &[1.0, 1.0, 0.08, 1.0]), "{got:?}");
        assert!(holm(&[]).is_empty());
        assert_eq!(holm(&[0.3]), vec![0.3]);
    }

    #[test]
    fn benjamini_hochberg_matches_statsmodels() {
        let got = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.005, 0.2, 0.04]);
        assert!(all_close(&got, &[0.03, 0.048, 0.048, 0.03, 0.2, 0.048]), "{got:?}");
        let got = benjamini_hochberg(&[0.9, 0.6, 0.02, 0.7]);
        assert!(all_close(&got, &[0.9, 0.9, 0.08, 0.9]), "{got:?}");
        assert!(benjamini_hochberg(&[]).is_empty());
    }

    #[test]
    fn robust_cv_by_hand() {
        // Values 8, 9, 10, 12, 20: median 10, deviations 2, 1, 0, 2, 10, MAD 2;
        // 1.4826 * 2 / 10 = 0.29652.
        assert!(close(robust_cv(&[12.0, 8.0, 20.0, 10.0, 9.0]).unwrap(), 0.29652, 1e-12));
        // Negative median: the spread is relative to its size.
        assert!(close(robust_cv(&[-12.0, -8.0, -20.0, -10.0, -9.0]).unwrap(), 0.29652, 1e-12));
        assert_eq!(robust_cv(&[5.0]), None);
        assert_eq!(robust_cv(&[-1.0, 0.0, 1.0]), None);
    }

    #[test]
    fn log_sd_by_hand() {
        // ln of 1, e, e^2: 0, 1, 2; median 1, MAD 1; 1.4826.
        let e = std::f64::consts::E;
        assert!(close(log_sd(&[1.0, e, e * e]).unwrap(), 1.4826, 1e-12));
        assert_eq!(log_sd(&[1.0]), None);
        assert_eq!(log_sd(&[1.0, 0.0, 2.0]), None);
        assert_eq!(log_sd(&[1.0, -2.0]), None);
    }

    #[test]
    fn normal_quantile_matches_scipy() {
        // scipy.stats.norm.ppf(p):
        let table = [
            (0.975, 1.959963984540054),
            (0.8, 0.8416212335729143),
            (0.3, -0.5244005127080409),
            (0.025, -1.9599639845400545),
            (0.001, -3.090232306167813),
            (1e-10, -6.361340902404056),
            (0.99999, 4.264890793923841),
            (0.02425, -1.972961051311885),
            (0.97575, 1.972961051311885),
        ];
        for (p, z) in table {
            assert!(close(normal_quantile(p), z, 2e-9), "{p}: {} vs {z}", normal_quantile(p));
        }
        assert_eq!(normal_quantile(0.5), 0.0);
        assert_eq!(normal_quantile(0.0), f64::NEG_INFINITY);
        assert_eq!(normal_quantile(1.0), f64::INFINITY);
        assert!(normal_quantile(1.5).is_nan());
    }

    #[test]
    fn detectable_ratios() {
        // numpy, with z = norm.ppf(0.975) + norm.ppf(0.8):
        // exp(z * 0.3 * sqrt(2/8) * sqrt(pi/3)) = 1.5373198555968606;
        // exp(z * 0.5 * sqrt(2/10) * sqrt(pi/3)) = 1.8985047393741616.
        assert!(close(detectable_ratio(0.3, 8, 0.05, 0.8).unwrap(), 1.5373198555968606, 1e-8));
        assert!(close(detectable_ratio(0.5, 10, 0.05, 0.8).unwrap(), 1.8985047393741616, 1e-8));
        // No spread: any change is detectable.
        assert_eq!(detectable_ratio(0.0, 8, 0.05, 0.8), Some(1.0));
        // 3 boots a side can never give p < 0.05 (floor 0.1); 4 can (0.029),
        // but not below a Holm-adjusted 0.05 / 4.
        assert_eq!(detectable_ratio(0.3, 3, 0.05, 0.8), None);
        assert!(detectable_ratio(0.3, 4, 0.05, 0.8).is_some());
        assert_eq!(detectable_ratio(0.3, 4, 0.0125, 0.8), None);
        assert_eq!(detectable_ratio(0.3, 0, 0.05, 0.8), None);
        assert_eq!(detectable_ratio(-1.0, 8, 0.05, 0.8), None);
    }

    #[test]
    fn verdicts() {
        let th = Thresholds::default();
        // A stall 16x smaller, significant: improved (smaller is better).
        assert_eq!(judge(1e-4, (0.05, 0.08), (8, 8), false, &th), Change::Improved);
        // The same for throughput (higher is better) is a regression.
        assert_eq!(judge(1e-4, (0.05, 0.08), (8, 8), true, &th), Change::Regressed);
        assert_eq!(judge(1e-4, (1.5, 2.0), (8, 8), false, &th), Change::Regressed);
        // No significant difference and a tight interval: unchanged.
        assert_eq!(judge(0.4, (0.95, 1.05), (8, 8), false, &th), Change::Unchanged);
        // Significant but within the effect threshold: inconclusive.
        assert_eq!(judge(0.001, (1.01, 1.05), (8, 8), false, &th), Change::Inconclusive);
        // Beyond the threshold but not significant after adjustment.
        assert_eq!(judge(0.06, (1.2, 1.9), (8, 8), false, &th), Change::Inconclusive);
        // Not significant but too wide to call unchanged.
        assert_eq!(judge(0.4, (0.7, 1.4), (8, 8), false, &th), Change::Inconclusive);
        // Too few boots on either side, however many windows they had.
        assert_eq!(judge(1e-4, (0.05, 0.08), (4, 8), false, &th), Change::Inconclusive);
        assert_eq!(judge(1e-4, (0.05, 0.08), (8, 4), false, &th), Change::Inconclusive);
        assert_eq!(judge(1e-4, (0.05, 0.08), (5, 5), false, &th), Change::Improved);
    }

    #[test]
    fn thresholds_defaults_and_yaml() {
        let th = Thresholds::default();
        assert_eq!((th.alpha, th.min_effect, th.min_boots, th.max_host_load), (0.05, 0.10, 5, 0.25));
        let parsed: Thresholds = serde_yaml::from_str("min_boots: 8\nmax_host_load: 0.5\n").unwrap();
        assert_eq!(parsed, Thresholds { min_boots: 8, max_host_load: 0.5, ..Thresholds::default() });
        assert!(serde_yaml::from_str::<Thresholds>("min_samples: 5\n").is_err());
    }
}
