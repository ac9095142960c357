use super::*;

// The pooled-window methods ([`mann_whitney_u`], [`ratio_of_medians_ci`])
// are what the diff used before the boot became its unit. They live here,
// in the tests, which check them against scipy and show on simulated boots
// how far they overstate a difference.

/// The result of a two-sided Mann–Whitney U test.
#[derive(Debug, Clone, Copy, PartialEq)]
struct MannWhitney {
    /// U of the first sample (scipy's `statistic`).
    u: f64,
    /// Two-sided p-value, normal approximation with tie correction and
    /// continuity correction (scipy's `method="asymptotic"`).
    p: f64,
}

/// Two-sided Mann–Whitney U test of `a` against `b`; `None` when either
/// sample is empty. For independent samples only: to compare kernels from
/// windows of several boots use [`boot_rank_test`] on per-boot summaries.
fn mann_whitney_u(a: &[f64], b: &[f64]) -> Option<MannWhitney> {
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

/// A 95 % bootstrap interval of median(candidate) / median(baseline),
/// from `rounds` resamples with a fixed seed (so reports are reproducible).
///
/// It treats every sample as independent. For windows that come from a few
/// boots that is wrong (the interval leaves out the between-boot variance
/// and is far too narrow; see the test `null_boots_*`): use
/// [`hierarchical_ratio_ci`] there.
fn ratio_of_medians_ci(baseline: &[f64], candidate: &[f64], rounds: usize, seed: u64) -> Option<(f64, f64)> {
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
    let r = mann_whitney_u(&[1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0], &[2.0, 3.0, 3.0, 4.0, 4.0, 5.0, 5.0, 6.0]).unwrap();
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
    let r = boot_rank_test(&[1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0], &[2.0, 3.0, 3.0, 4.0, 4.0, 5.0, 5.0, 6.0]).unwrap();
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
    for (r, splits) in [(4, 70.0), (5, 252.0), (6, 924.0), (7, 3432.0), (8, 12870.0), (9, 48620.0), (10, 184756.0)] {
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
