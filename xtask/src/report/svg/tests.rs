use super::*;

#[test]
fn linear_axis_has_round_ends_and_ticks() {
    let x = Scale::new(3.2, 8.9, 0.0, 100.0);
    assert!(!x.log);
    assert_eq!((x.lo, x.hi), (2.0, 10.0));
    assert_eq!(x.ticks(), [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]);
    assert_eq!(x.px(2.0), 0.0);
    assert_eq!(x.px(10.0), 100.0);
    // Ticks are printed without float noise.
    let x = Scale::new(0.23, 0.71, 0.0, 100.0);
    let labels: Vec<String> = x.ticks().iter().map(|t| num::plain(*t)).collect();
    assert_eq!(labels, ["0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8"]);
    // The data never sits on the frame.
    let x = Scale::new(3.0, 9.0, 0.0, 100.0);
    assert!(x.lo < 3.0 && 9.0 < x.hi);
    // Every sample equal: still an axis.
    let flat = Scale::new(5.0, 5.0, 0.0, 100.0);
    assert!(flat.lo < 5.0 && 5.0 < flat.hi);
    assert_eq!(flat.px(5.0), 50.0);
}

#[test]
fn wide_spans_get_a_log_axis_of_whole_decades() {
    let x = Scale::new(0.25, 40.0, 0.0, 300.0);
    assert!(x.log);
    assert_eq!((x.lo, x.hi), (0.1, 100.0));
    assert_eq!(x.ticks(), [0.1, 1.0, 10.0, 100.0]);
    assert!((x.px(1.0) - 100.0).abs() < 1e-9);
    // 30x or less, or a zero: linear.
    assert!(!Scale::new(1.0, 30.0, 0.0, 1.0).log);
    assert!(!Scale::new(0.0, 1000.0, 0.0, 1.0).log);
    // Two decades only: 2 and 5 between them.
    let narrow = Scale::new(1.5, 60.0, 0.0, 1.0);
    assert_eq!(narrow.ticks(), [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]);
}

#[test]
fn ecdf_steps_end_at_one_and_merge_ties() {
    assert_eq!(ecdf(&[3.0, 1.0, 2.0, 2.0]), [(1.0, 0.25), (2.0, 0.75), (3.0, 1.0)]);
    assert!(ecdf(&[]).is_empty());
}

#[test]
fn box_whiskers_stop_at_the_fences() {
    let mut samples: Vec<f64> = (1..=20).map(f64::from).collect();
    samples.push(100.0);
    let b = box_stats(&samples).unwrap();
    assert_eq!((b.q1, b.median, b.q3), (6.0, 11.0, 16.0));
    assert_eq!((b.whisker_lo, b.whisker_hi), (1.0, 20.0));
    assert_eq!(b.outliers, [100.0]);
}

#[test]
fn figure_escapes_labels_and_skips_empty_series() {
    let a = [1.0, 2.0, 3.0];
    let svg = distributions(
        "t<1>",
        "ms",
        &[
            Series { label: "up&stream", color: "#1f77b4", samples: &a },
            Series { label: "empty", color: "#ff7f0e", samples: &[] },
        ],
    )
    .unwrap();
    assert!(svg.contains("up&amp;stream (n=3)") && svg.contains("<title>t&lt;1&gt;</title>"));
    assert!(!svg.contains("empty"));
    assert_eq!(svg.matches("<path").count(), 1);
    assert_eq!(distributions("t", "ms", &[Series { label: "x", color: "red", samples: &[] }]), None);
}
