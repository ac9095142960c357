//! Numbers for people: about three significant digits (a timing under TCG
//! is not known better than that), SI suffixes for big counts, p-values in
//! scientific notation when they are tiny. Every format uses these, so the
//! terminal, markdown and HTML always print the same digits.

/// `v` rounded to `digits` significant digits, as a decimal string
/// (`0.266`, `4.31`, `123`, `1234`: digits left of the point are kept).
pub fn sig(v: f64, digits: i32) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v == 0.0 {
        return "0".to_string();
    }
    let decimals = |x: f64| (digits - 1 - x.abs().log10().floor() as i32).max(0) as usize;
    let text = format!("{:.*}", decimals(v), v);
    // Rounding can carry into a new digit (9.996 -> "10.00"): redo it with
    // the rounded value's magnitude.
    match text.parse::<f64>() {
        Ok(rounded) if rounded != 0.0 && decimals(rounded) != decimals(v) => format!("{:.*}", decimals(rounded), v),
        _ => text,
    }
}

/// Three significant digits, with k/M/G/T from 10 000 up (`21.0M`) and
/// scientific notation below 0.001 (`1.23e-4`).
pub fn sig3(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && a < 1e-3 {
        return format!("{v:.2e}");
    }
    if a < 1e4 {
        return sig(v, 3);
    }
    // Pick the suffix from the rounded value, so 999 999 is `1.00M`, not `1000k`.
    let rounded: f64 = sig(v / 1e3, 3).parse::<f64>().unwrap_or(v / 1e3) * 1e3;
    let (scale, suffix) = match rounded.abs() {
        x if x >= 1e12 => (1e12, "T"),
        x if x >= 1e9 => (1e9, "G"),
        x if x >= 1e6 => (1e6, "M"),
        _ => (1e3, "k"),
    };
    format!("{}{suffix}", sig(v / scale, 3))
}

/// A value with its unit: `4.31 ms`, `21.0M ops/s/CPU`, `512/s`.
pub fn value(v: f64, unit: &str) -> String {
    if unit.is_empty() {
        sig3(v)
    } else if unit.starts_with('/') {
        format!("{}{unit}", sig3(v))
    } else {
        format!("{} {unit}", sig3(v))
    }
}

/// A value that may be absent (an empty side): `–` then.
pub fn opt(v: Option<f64>) -> String {
    v.map(sig3).unwrap_or_else(|| "–".to_string())
}

/// `1.2e-29` for tiny p-values, two significant digits otherwise.
pub fn p_value(p: Option<f64>) -> String {
    match p {
        None => "–".to_string(),
        Some(p) if p != 0.0 && p < 1e-3 => format!("{p:.1e}"),
        Some(p) => sig(p, 2),
    }
}

fn ratio_number(r: f64) -> String {
    if r.abs() >= 10.0 {
        sig(r, 3)
    } else if r.abs() >= 0.01 || r == 0.0 {
        format!("{r:.2}")
    } else {
        sig(r, 2)
    }
}

/// `2.00x`, `0.06x`, `16.0x`.
pub fn ratio(r: Option<f64>) -> String {
    r.map(|r| format!("{}x", ratio_number(r))).unwrap_or_else(|| "–".to_string())
}

/// `0.06x [0.04, 0.09]`: the ratio of medians and its 95 % interval.
pub fn ratio_ci(r: Option<f64>, ci: Option<(f64, f64)>) -> String {
    match ci {
        Some((lo, hi)) => format!("{} [{}, {}]", ratio(r), ratio_number(lo), ratio_number(hi)),
        None => ratio(r),
    }
}

/// An axis tick or threshold: the shortest of the three-digit forms
/// (`0.5`, not `0.500`).
pub fn plain(v: f64) -> String {
    let text = sig3(v);
    if text.contains('.') && !text.contains('e') {
        let (number, suffix) = text.split_at(text.trim_end_matches(|c: char| c.is_ascii_alphabetic()).len());
        let number = number.trim_end_matches('0').trim_end_matches('.');
        format!("{number}{suffix}")
    } else {
        text
    }
}

/// `10 %` for 0.10.
pub fn percent(fraction: f64) -> String {
    format!("{} %", plain(fraction * 100.0))
}

/// The between-boot spread next to a median: `±23%` for 0.23, `±0.4%`
/// below one per cent, `±–` when unknown (fewer than two boots).
pub fn spread(s: Option<f64>) -> String {
    match s {
        Some(s) if s.is_finite() => {
            let pct = s.abs() * 100.0;
            if pct >= 1.0 || pct == 0.0 {
                format!("±{pct:.0}%")
            } else {
                format!("±{pct:.1}%")
            }
        }
        _ => "±–".to_string(),
    }
}

/// A side's median with its unit and its between-boot spread:
/// `4.14 ms ±23%`; `–` when the side has no boots.
pub fn median_spread(median: Option<f64>, s: Option<f64>, unit: &str) -> String {
    match median {
        Some(m) => format!("{} {}", value(m, unit), spread(s)),
        None => "–".to_string(),
    }
}

/// A ratio in words: `16x smaller`, `47% larger`, `3% smaller`, `same`.
pub fn effect(r: Option<f64>) -> String {
    let Some(r) = r.filter(|r| r.is_finite() && *r > 0.0) else {
        return "–".to_string();
    };
    let pct = ((r - 1.0) * 100.0).abs().round();
    match r {
        r if r <= 0.5 => format!("{}x smaller", plain(1.0 / r)),
        r if r >= 2.0 => format!("{}x larger", plain(r)),
        _ if pct == 0.0 => "same".to_string(),
        r if r < 1.0 => format!("{pct:.0}% smaller"),
        _ => format!("{pct:.0}% larger"),
    }
}

/// `0.06x (16x smaller)`.
pub fn ratio_effect(r: Option<f64>) -> String {
    match r {
        Some(_) => format!("{} ({})", ratio(r), effect(r)),
        None => ratio(r),
    }
}

/// `[0.04, 0.09]`, or `–`.
pub fn ci(ci: Option<(f64, f64)>) -> String {
    ci.map(|(lo, hi)| format!("[{}, {}]", ratio_number(lo), ratio_number(hi))).unwrap_or_else(|| "–".to_string())
}

/// A wall time in seconds: `4.24 s`.
pub fn seconds(ms: f64) -> String {
    format!("{} s", sig3(ms / 1e3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_significant_digits() {
        assert_eq!(sig3(0.26612), "0.266");
        assert_eq!(sig3(4.3149), "4.31");
        assert_eq!(sig3(9.996), "10.0");
        assert_eq!(sig3(123.4), "123");
        assert_eq!(sig3(1234.0), "1234");
        assert_eq!(sig3(21_012_345.0), "21.0M");
        assert_eq!(sig3(12_345.0), "12.3k");
        assert_eq!(sig3(999_999.0), "1.00M");
        assert_eq!(sig3(0.000_123_4), "1.23e-4");
        assert_eq!(sig3(0.0), "0");
        assert_eq!(sig3(-4.3149), "-4.31");
    }

    #[test]
    fn values_ratios_and_p_values() {
        assert_eq!(value(0.266, "ms"), "0.266 ms");
        assert_eq!(value(21.0e6, "ops/s/CPU"), "21.0M ops/s/CPU");
        assert_eq!(value(512.0, "/s"), "512/s");
        assert_eq!(p_value(Some(1.234e-29)), "1.2e-29");
        assert_eq!(p_value(Some(0.4123)), "0.41");
        assert_eq!(p_value(Some(1.0)), "1.0");
        assert_eq!(p_value(None), "–");
        assert_eq!(ratio_ci(Some(0.0625), Some((0.041, 0.089))), "0.06x [0.04, 0.09]");
        assert_eq!(ratio_ci(Some(16.2), Some((14.9, 17.81))), "16.2x [14.9, 17.8]");
        assert_eq!(ratio(Some(0.004)), "0.0040x");
        assert_eq!(plain(0.5), "0.5");
        assert_eq!(plain(20_000.0), "20k");
        assert_eq!(plain(25_000.0), "25k");
        assert_eq!(plain(1.1), "1.1");
        assert_eq!(percent(0.1), "10 %");
        assert_eq!(seconds(4242.06), "4.24 s");
    }

    #[test]
    fn spreads_and_effects() {
        assert_eq!(spread(Some(0.2312)), "±23%");
        assert_eq!(spread(Some(0.004)), "±0.4%");
        assert_eq!(spread(Some(0.0)), "±0%");
        assert_eq!(spread(None), "±–");
        assert_eq!(median_spread(Some(4.14), Some(0.23), "ms"), "4.14 ms ±23%");
        assert_eq!(median_spread(None, None, "ms"), "–");
        assert_eq!(effect(Some(0.0625)), "16x smaller");
        assert_eq!(effect(Some(0.0617)), "16.2x smaller");
        assert_eq!(effect(Some(1.47)), "47% larger");
        assert_eq!(effect(Some(0.97)), "3% smaller");
        assert_eq!(effect(Some(2.0)), "2x larger");
        assert_eq!(effect(Some(1.001)), "same");
        assert_eq!(effect(None), "–");
        assert_eq!(ratio_effect(Some(0.0625)), "0.06x (16x smaller)");
        assert_eq!(ci(Some((0.041, 0.089))), "[0.04, 0.09]");
        assert_eq!(ci(None), "–");
    }
}
