//! Statistics for comparing a baseline kernel with a candidate: medians,
//! percentiles, the Mann–Whitney U test, a bootstrap confidence interval of
//! the ratio of medians, and the verdict built on them.
//!
//! Pure functions, tested against scipy/numpy outputs for fixed samples
//! (the reference values are written down in the tests). Timing samples
//! under TCG are skewed and heavy-tailed, hence rank statistics and
//! bootstrap intervals rather than means and t-tests.

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
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// U of the first sample (scipy's `statistic`).
    pub u: f64,
    /// Two-sided p-value, normal approximation with tie correction and
    /// continuity correction (scipy's `method="asymptotic"`).
    pub p: f64,
}

/// Two-sided Mann–Whitney U test of `a` against `b`; `None` when either
/// sample is empty.
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
pub fn ratio_of_medians_ci(baseline: &[f64], candidate: &[f64], rounds: usize, seed: u64) -> Option<(f64, f64)> {
    if baseline.is_empty() || candidate.is_empty() {
        return None;
    }
    let mut rng = XorShift(seed | 1);
    let mut resample =
        |sample: &[f64]| -> Vec<f64> { (0..sample.len()).map(|_| sample[rng.below(sample.len())]).collect() };
    let ratios: Vec<f64> = (0..rounds.max(1))
        .filter_map(|_| {
            let base = median(&resample(baseline))?;
            let cand = median(&resample(candidate))?;
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

/// When a difference counts.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Significance level of the Mann–Whitney test.
    pub alpha: f64,
    /// The smallest relative change of the median that matters (0.10: 10 %).
    pub min_effect: f64,
    /// Fewer samples than this on either side is inconclusive.
    pub min_samples: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { alpha: 0.01, min_effect: 0.10, min_samples: 5 }
    }
}

/// Decides the change of a metric where smaller is better (latencies,
/// stalls) or, with `higher_is_better`, larger is (throughput): a
/// significant difference whose whole interval lies beyond the effect
/// threshold is improved or regressed; a non-significant one whose interval
/// lies within it is unchanged; anything else is inconclusive.
pub fn judge(p: f64, ci: (f64, f64), n: (usize, usize), higher_is_better: bool, th: &Thresholds) -> Change {
    if n.0 < th.min_samples || n.1 < th.min_samples {
        return Change::Inconclusive;
    }
    let up = 1.0 + th.min_effect;
    let down = 1.0 / up;
    let (grew, shrank) = (ci.0 > up, ci.1 < down);
    if p < th.alpha && (grew || shrank) {
        return if grew == higher_is_better { Change::Improved } else { Change::Regressed };
    }
    if p >= th.alpha && ci.0 >= down && ci.1 <= up {
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

    #[test]
    fn bootstrap_interval_brackets_the_ratio_and_is_reproducible() {
        let baseline: Vec<f64> = (0..100).map(|i| 4.0 + (i % 10) as f64 * 0.1).collect();
        let candidate: Vec<f64> = baseline.iter().map(|v| v / 16.0).collect();
        let (lo, hi) = ratio_of_medians_ci(&baseline, &candidate, 2000, 7).unwrap();
        assert!(lo <= 1.0 / 16.0 + 1e-9 && 1.0 / 16.0 - 1e-9 <= hi, "{lo}..{hi}");
        assert!(hi < 0.1);
        assert_eq!(ratio_of_medians_ci(&baseline, &candidate, 2000, 7), Some((lo, hi)));
        assert_eq!(ratio_of_medians_ci(&[], &candidate, 10, 7), None);
    }

    #[test]
    fn verdicts() {
        let th = Thresholds::default();
        // A stall 16x smaller, significant: improved (smaller is better).
        assert_eq!(judge(1e-30, (0.05, 0.08), (100, 100), false, &th), Change::Improved);
        // The same for throughput (higher is better) is a regression.
        assert_eq!(judge(1e-30, (0.05, 0.08), (100, 100), true, &th), Change::Regressed);
        assert_eq!(judge(1e-30, (1.5, 2.0), (100, 100), false, &th), Change::Regressed);
        // No significant difference and a tight interval: unchanged.
        assert_eq!(judge(0.4, (0.95, 1.05), (100, 100), false, &th), Change::Unchanged);
        // Significant but within the effect threshold, or too few samples.
        assert_eq!(judge(0.001, (1.01, 1.05), (100, 100), false, &th), Change::Inconclusive);
        assert_eq!(judge(1e-9, (0.05, 0.08), (3, 100), false, &th), Change::Inconclusive);
    }
}
