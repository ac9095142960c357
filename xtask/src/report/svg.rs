//! Inline SVG plots of two samples, for `report.html`: an empirical CDF per
//! side (every sample visible, no binning choices to argue about) above a
//! box plot per side on the same x axis (the quartiles at a glance).
//!
//! Pure: samples in, markup out. Coordinates are rounded to 0.1 px so the
//! output is stable and small; the x axis turns logarithmic when the data
//! spans more than [`LOG_SPAN`]x, as stalls before and after a fix do.

use std::fmt::Write;

use super::{escape, num};
use crate::stats;

/// Above this max/min ratio the x axis is logarithmic.
pub const LOG_SPAN: f64 = 30.0;

/// One side's samples and how to draw them.
pub struct Series<'a> {
    pub label: &'a str,
    pub color: &'a str,
    pub samples: &'a [f64],
}

// The figure's layout, in px.
const WIDTH: f64 = 640.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = WIDTH - 20.0;
const LEGEND_Y: f64 = 16.0;
const ECDF_TOP: f64 = 30.0;
const ECDF_BOTTOM: f64 = 190.0;
const BOX_TOP: f64 = 200.0;
const BOX_ROW: f64 = 22.0;

/// A horizontal axis: data values to px, and where its ticks go.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub lo: f64,
    pub hi: f64,
    pub log: bool,
    /// The linear axis's tick spacing, the one its ends were rounded to.
    step: f64,
    px0: f64,
    px1: f64,
}

impl Scale {
    /// An axis covering `min..=max` between `px0` and `px1`, widened to
    /// round numbers (whole decades on a log axis), so the ends are ticks.
    pub fn new(min: f64, max: f64, px0: f64, px1: f64) -> Scale {
        let log = min > 0.0 && max / min > LOG_SPAN;
        let (lo, hi, step) = if log {
            (10f64.powf(min.log10().floor()), 10f64.powf(max.log10().ceil()), 0.0)
        } else if max > min {
            // A margin first, so no step sits on the frame where it would hide.
            let (min, max) = (min - (max - min) * 0.04, max + (max - min) * 0.04);
            let step = nice_step(max - min);
            ((min / step).floor() * step, (max / step).ceil() * step, step)
        } else {
            // All samples equal: a band around the value.
            let pad = if min == 0.0 { 1.0 } else { min.abs() * 0.1 };
            (min - pad, max + pad, nice_step(2.0 * pad))
        };
        Scale { lo, hi, log, step, px0, px1 }
    }

    pub fn px(&self, v: f64) -> f64 {
        let (v, lo, hi) =
            if self.log { (v.max(self.lo).log10(), self.lo.log10(), self.hi.log10()) } else { (v, self.lo, self.hi) };
        let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
        self.px0 + t.clamp(0.0, 1.0) * (self.px1 - self.px0)
    }

    /// Tick values: 1-2-5 steps on a linear axis; decades on a log axis,
    /// with 2 and 5 between them when there are only one or two decades.
    pub fn ticks(&self) -> Vec<f64> {
        if self.log {
            let (first, last) = (self.lo.log10().round() as i32, self.hi.log10().round() as i32);
            let fill: &[f64] = if last - first <= 2 { &[1.0, 2.0, 5.0] } else { &[1.0] };
            let mut ticks = Vec::new();
            for e in first..=last {
                for m in fill {
                    let v = m * 10f64.powi(e);
                    if v <= self.hi * (1.0 + 1e-9) {
                        ticks.push(v);
                    }
                }
            }
            ticks
        } else {
            // The ends are multiples of the step up to rounding error.
            let first = (self.lo / self.step - 1e-9).ceil() as i64;
            let last = (self.hi / self.step + 1e-9).floor() as i64;
            (first..=last).map(|k| k as f64 * self.step).collect()
        }
    }
}

/// A 1, 2 or 5 × 10^k step giving about five ticks over `span`.
fn nice_step(span: f64) -> f64 {
    let raw = span / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let m = match raw / magnitude {
        x if x < 1.5 => 1.0,
        x if x < 3.0 => 2.0,
        x if x < 7.0 => 5.0,
        _ => 10.0,
    };
    m * magnitude
}

/// The empirical CDF as (value, fraction ≤ value) steps: one point per
/// distinct value, fractions ending at 1.
pub fn ecdf(samples: &[f64]) -> Vec<(f64, f64)> {
    let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    let mut points: Vec<(f64, f64)> = Vec::new();
    for (i, v) in sorted.iter().enumerate() {
        let y = (i + 1) as f64 / n;
        match points.last_mut() {
            Some(last) if last.0 == *v => last.1 = y,
            _ => points.push((*v, y)),
        }
    }
    points
}

/// Tukey's box: quartiles, whiskers at the furthest samples within 1.5 IQR,
/// and the samples beyond them.
#[derive(Debug, Clone, PartialEq)]
pub struct BoxStats {
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub whisker_lo: f64,
    pub whisker_hi: f64,
    pub outliers: Vec<f64>,
}

pub fn box_stats(samples: &[f64]) -> Option<BoxStats> {
    let q1 = stats::percentile(samples, 25.0)?;
    let median = stats::percentile(samples, 50.0)?;
    let q3 = stats::percentile(samples, 75.0)?;
    let (fence_lo, fence_hi) = (q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1));
    let inside = samples.iter().copied().filter(|v| (fence_lo..=fence_hi).contains(v));
    let whisker_lo = inside.clone().reduce(f64::min).unwrap_or(q1);
    let whisker_hi = inside.reduce(f64::max).unwrap_or(q3);
    let mut outliers: Vec<f64> = samples.iter().copied().filter(|v| !(fence_lo..=fence_hi).contains(v)).collect();
    outliers.sort_by(f64::total_cmp);
    Some(BoxStats { q1, median, q3, whisker_lo, whisker_hi, outliers })
}

/// The figure: legend, ECDF panel, box plots, and an x axis labelled
/// `axis` (the metric and its unit). Series without samples are left out;
/// `None` when no series has any.
pub fn distributions(title: &str, axis: &str, series: &[Series<'_>]) -> Option<String> {
    let series: Vec<&Series> = series.iter().filter(|s| s.samples.iter().any(|v| v.is_finite())).collect();
    let all = || series.iter().flat_map(|s| s.samples.iter().copied()).filter(|v| v.is_finite());
    let (min, max) = (all().reduce(f64::min)?, all().reduce(f64::max)?);
    let x = Scale::new(min, max, LEFT, RIGHT);
    let box_bottom = BOX_TOP + BOX_ROW * series.len() as f64;
    let axis_y = box_bottom + 4.0;
    let height = axis_y + 40.0;
    let y = |fraction: f64| ECDF_BOTTOM - fraction * (ECDF_BOTTOM - ECDF_TOP);

    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" viewBox=\"0 0 {WIDTH} {height}\" \
         width=\"{WIDTH}\" height=\"{height}\" role=\"img\" font-family=\"sans-serif\" font-size=\"11\">\
         <title>{}</title>",
        escape(title)
    );

    // Legend, above the plot so it never hides a curve.
    let mut lx = LEFT;
    for s in &series {
        let label = format!("{} (n={})", s.label, s.samples.len());
        let _ = write!(
            svg,
            "<line x1=\"{}\" y1=\"{LEGEND_Y}\" x2=\"{}\" y2=\"{LEGEND_Y}\" stroke=\"{}\" stroke-width=\"2\"/>\
             <text x=\"{}\" y=\"{}\">{}</text>",
            r(lx),
            r(lx + 18.0),
            escape(s.color),
            r(lx + 22.0),
            r(LEGEND_Y + 4.0),
            escape(&label)
        );
        // A rough advance: SVG cannot measure text without a renderer.
        lx += 40.0 + 6.5 * label.chars().count() as f64;
    }

    // Grid and y axis of the ECDF panel.
    for fraction in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let py = r(y(fraction));
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{py}\" x2=\"{RIGHT}\" y2=\"{py}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            r(LEFT - 6.0),
            r(y(fraction) + 4.0),
            num::plain(fraction)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"12\" y=\"{}\" transform=\"rotate(-90 12 {})\" text-anchor=\"middle\">fraction ≤ x</text>",
        r((ECDF_TOP + ECDF_BOTTOM) / 2.0),
        r((ECDF_TOP + ECDF_BOTTOM) / 2.0)
    );

    // One step line per side.
    for s in &series {
        let _ = write!(
            svg,
            "<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>",
            ecdf_path(&ecdf(s.samples), &x, y),
            escape(s.color)
        );
    }

    // Box plots, one row per side.
    for (i, s) in series.iter().enumerate() {
        if let Some(b) = box_stats(s.samples) {
            let top = BOX_TOP + BOX_ROW * i as f64 + 3.0;
            svg.push_str(&box_plot(&b, &x, top, BOX_ROW - 6.0, s.color));
        }
    }

    // X axis: ticks, labels, and the unit (with the scale when log).
    let _ = write!(svg, "<line x1=\"{LEFT}\" y1=\"{axis_y}\" x2=\"{RIGHT}\" y2=\"{axis_y}\" stroke=\"#333\"/>");
    for tick in x.ticks() {
        let px = r(x.px(tick));
        let _ = write!(
            svg,
            "<line x1=\"{px}\" y1=\"{ECDF_TOP}\" x2=\"{px}\" y2=\"{}\" stroke=\"#eee\"/>\
             <line x1=\"{px}\" y1=\"{axis_y}\" x2=\"{px}\" y2=\"{}\" stroke=\"#333\"/>\
             <text x=\"{px}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            r(ECDF_BOTTOM),
            r(axis_y + 4.0),
            r(axis_y + 16.0),
            num::plain(tick)
        );
    }
    let axis_label = if x.log { format!("{axis}, log scale") } else { axis.to_string() };
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text></svg>",
        r((LEFT + RIGHT) / 2.0),
        r(axis_y + 32.0),
        escape(&axis_label)
    );
    Some(svg)
}

/// The ECDF as one path: from (left, 0) right to each value, up to its
/// fraction, then on to the right edge at 1. Points closer than a tenth of
/// a pixel merge, so a large sample costs at most the plot's width.
fn ecdf_path(points: &[(f64, f64)], x: &Scale, y: impl Fn(f64) -> f64) -> String {
    let mut d = format!("M{},{}", r(x.px(x.lo)), r(y(0.0)));
    let mut last_px = f64::NAN;
    let mut pending: Option<f64> = None;
    for &(value, fraction) in points {
        let px = r(x.px(value));
        if px != last_px {
            if let Some(py) = pending.take() {
                let _ = write!(d, "V{py}");
            }
            let _ = write!(d, "H{px}");
            last_px = px;
        }
        pending = Some(r(y(fraction)));
    }
    if let Some(py) = pending {
        let _ = write!(d, "V{py}");
    }
    let _ = write!(d, "H{}", r(x.px(x.hi)));
    d
}

fn box_plot(b: &BoxStats, x: &Scale, top: f64, height: f64, color: &str) -> String {
    let mid = r(top + height / 2.0);
    let (bottom, top) = (r(top + height), r(top));
    let color = escape(color);
    let mut g = format!("<g stroke=\"{color}\" stroke-width=\"1.2\">");
    let (wl, q1, med, q3, wh) =
        (r(x.px(b.whisker_lo)), r(x.px(b.q1)), r(x.px(b.median)), r(x.px(b.q3)), r(x.px(b.whisker_hi)));
    let _ = write!(
        g,
        "<line x1=\"{wl}\" y1=\"{mid}\" x2=\"{q1}\" y2=\"{mid}\"/>\
         <line x1=\"{q3}\" y1=\"{mid}\" x2=\"{wh}\" y2=\"{mid}\"/>\
         <line x1=\"{wl}\" y1=\"{top}\" x2=\"{wl}\" y2=\"{bottom}\"/>\
         <line x1=\"{wh}\" y1=\"{top}\" x2=\"{wh}\" y2=\"{bottom}\"/>\
         <rect x=\"{q1}\" y=\"{top}\" width=\"{}\" height=\"{}\" fill=\"{color}\" fill-opacity=\"0.15\"/>\
         <line x1=\"{med}\" y1=\"{top}\" x2=\"{med}\" y2=\"{bottom}\" stroke-width=\"2.5\"/>",
        r(q3 - q1),
        r(bottom - top)
    );
    // Outliers that land on the same pixel are drawn once.
    let mut drawn = f64::NAN;
    for &v in &b.outliers {
        let px = r(x.px(v));
        if px != drawn {
            let _ = write!(g, "<circle cx=\"{px}\" cy=\"{mid}\" r=\"1.8\" fill=\"none\"/>");
            drawn = px;
        }
    }
    g.push_str("</g>");
    g
}

/// Rounds to 0.1 px: smaller output, and the same bytes on every machine.
fn r(v: f64) -> f64 {
    let rounded = (v * 10.0).round() / 10.0;
    // -0.0 prints as "-0".
    if rounded == 0.0 {
        0.0
    } else {
        rounded
    }
}

#[cfg(test)]
mod tests;
