//! Inline SVG charts: sorted horizontal bars, stacked shares, histograms and a timeline with
//! marked events. Each returns a `<figure>` whose `<svg>` carries `data-chart="ID"`; bars carry
//! `data-label`, series `data-series`, events `data-kind`, so a test (or a reader's tooling) can
//! find what was drawn in the DOM. Every text is escaped with [`esc`].

use std::fmt::Write as _;

use super::esc;

/// Colours of series, segments and phases, in order.
const PALETTE: [&str; 8] = [
    "#3b7dd8", "#d9534f", "#f0ad4e", "#5cb85c", "#8e6fc1", "#5bc0de", "#888888", "#c7671c",
];
/// The colour of a bar that stands out (a hot shard).
const HOT: &str = "#d9534f";
/// Bars shown at most; the rest are counted under the chart.
const MAX_BARS: usize = 25;

/// One bar of [`bars`].
pub struct Bar {
    /// What the bar is (a pattern, a master); shown truncated, kept whole in `data-label`.
    pub label: String,
    /// Its length.
    pub value: f64,
    /// The value as shown at the bar's end (`1.2 MiB`, `3000 keys`).
    pub text: String,
    /// Drawn in the warning colour and marked `hot`.
    pub hot: bool,
}

/// A line of [`timeline`]: points (x seconds, y).
pub struct Series {
    /// Its name in the legend and in `data-series`.
    pub name: String,
    /// The points, by x.
    pub points: Vec<(f64, f64)>,
}

/// A vertical line on a [`timeline`]: a phase boundary, a reshard.
pub struct Marker {
    /// Where (seconds).
    pub x: f64,
    /// Until where, for an event that lasts (drawn as a shaded band).
    pub until: Option<f64>,
    /// `phase` or `reshard` (`data-kind`, and the line's style).
    pub kind: &'static str,
    /// Its label at the top of the line.
    pub label: String,
}

/// A figure holding one `<svg>` of `w` × `h`.
fn figure(id: &str, title: &str, w: f64, h: f64, body: &str) -> String {
    format!(
        "<figure class=\"chart\"><figcaption>{t}</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" data-chart=\"{id}\" role=\"img\" aria-label=\"{t}\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">{body}</svg></figure>\n",
        t = esc(title),
        id = esc(id),
    )
}

/// `s` cut to `n` characters, with `…` when cut.
pub fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// A round number ≥ `v` (1, 2 or 5 × 10ⁿ), for an axis's end.
fn nice_ceil(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 {
        return 1.0;
    }
    let e = 10f64.powf(v.log10().floor());
    let f = v / e;
    let n = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    n * e
}

/// A number for an axis: `950`, `1.5k`, `2.3M`, `0.25`.
pub fn short_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Horizontal bars, largest first (ties by label), at most 25 shown.
pub fn bars(id: &str, title: &str, items: &[Bar]) -> String {
    let mut sorted: Vec<&Bar> = items.iter().collect();
    sorted.sort_by(|a, b| {
        b.value
            .total_cmp(&a.value)
            .then_with(|| a.label.cmp(&b.label))
    });
    let shown = &sorted[..sorted.len().min(MAX_BARS)];
    let max = shown.iter().map(|b| b.value).fold(0.0, f64::max);
    let (label_w, bar_w, row) = (330.0, 470.0, 20.0);
    let mut body = String::new();
    for (i, b) in shown.iter().enumerate() {
        let y = i as f64 * row + 4.0;
        let w = if max > 0.0 {
            (b.value / max * bar_w).max(1.0)
        } else {
            1.0
        };
        let _ = write!(
            body,
            "<g class=\"bar{hot}\" data-label=\"{l}\"><text x=\"0\" y=\"{ty}\">{short}</text><rect x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"15\" fill=\"{fill}\"><title>{l}: {v}</title></rect><text x=\"{vx:.1}\" y=\"{ty}\">{v}{hot_text}</text></g>",
            hot = if b.hot { " hot" } else { "" },
            l = esc(&b.label),
            ty = y + 12.0,
            short = esc(&truncate(&b.label, 46)),
            fill = if b.hot { HOT } else { PALETTE[0] },
            v = esc(&b.text),
            vx = label_w + w + 6.0,
            hot_text = if b.hot { " — hot" } else { "" },
        );
    }
    let mut h = shown.len() as f64 * row + 8.0;
    if sorted.len() > shown.len() {
        let _ = write!(
            body,
            "<text x=\"0\" y=\"{}\">… and {} more</text>",
            h + 10.0,
            sorted.len() - shown.len()
        );
        h += 18.0;
    }
    figure(id, title, label_w + bar_w + 130.0, h, &body)
}

/// One row per item, each a bar of 100 % split into `legend`'s parts (counts per part).
pub fn stacked(id: &str, title: &str, legend: &[&str], rows: &[(String, Vec<u64>)]) -> String {
    let (label_w, bar_w, row) = (330.0, 560.0, 20.0);
    let mut body = String::new();
    for (i, name) in legend.iter().enumerate() {
        let x = i as f64 * 110.0;
        let _ = write!(
            body,
            "<g class=\"legend\"><rect x=\"{x}\" y=\"2\" width=\"11\" height=\"11\" fill=\"{}\"/><text x=\"{}\" y=\"12\">{}</text></g>",
            PALETTE[i % PALETTE.len()],
            x + 15.0,
            esc(name)
        );
    }
    for (r, (label, counts)) in rows.iter().take(MAX_BARS).enumerate() {
        let y = r as f64 * row + 24.0;
        let all: u64 = counts.iter().sum();
        let _ = write!(
            body,
            "<g class=\"row\" data-label=\"{l}\"><text x=\"0\" y=\"{}\">{}</text>",
            y + 12.0,
            esc(&truncate(label, 46)),
            l = esc(label)
        );
        let mut x = label_w;
        for (i, n) in counts.iter().enumerate() {
            if *n == 0 || all == 0 {
                continue;
            }
            let w = *n as f64 / all as f64 * bar_w;
            let name = legend.get(i).copied().unwrap_or("?");
            let _ = write!(
                body,
                "<rect class=\"seg\" data-segment=\"{s}\" x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"15\" fill=\"{}\"><title>{s}: {n} ({:.1}%)</title></rect>",
                PALETTE[i % PALETTE.len()],
                *n as f64 * 100.0 / all as f64,
                s = esc(name),
            );
            x += w;
        }
        body.push_str("</g>");
    }
    let h = rows.len().min(MAX_BARS) as f64 * row + 30.0;
    figure(id, title, label_w + bar_w + 10.0, h, &body)
}

/// Vertical bars of counts per bin (a latency histogram), the bins' labels under them.
pub fn histogram(id: &str, title: &str, bins: &[(String, u64)], colour: usize) -> String {
    let (left, top, plot_h, bin_w) = (44.0, 10.0, 110.0, 26.0);
    let max = nice_ceil(bins.iter().map(|b| b.1).max().unwrap_or(0) as f64);
    let mut body = String::new();
    for t in 0..=2 {
        let v = max * f64::from(t) / 2.0;
        let y = top + plot_h - v / max * plot_h;
        let _ = write!(
            body,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e4e4e4\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left + bins.len() as f64 * bin_w,
            left - 4.0,
            y + 4.0,
            short_num(v)
        );
    }
    for (i, (label, n)) in bins.iter().enumerate() {
        let x = left + i as f64 * bin_w;
        let bh = *n as f64 / max * plot_h;
        let _ = write!(
            body,
            "<g class=\"bin\" data-label=\"{l}\"><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{}\" height=\"{bh:.1}\" fill=\"{}\"><title>{l}: {n}</title></rect>",
            x + 2.0,
            top + plot_h - bh,
            bin_w - 4.0,
            PALETTE[colour % PALETTE.len()],
            l = esc(label),
        );
        if i % 2 == 0 {
            let _ = write!(
                body,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                x + bin_w / 2.0,
                top + plot_h + 14.0,
                esc(label)
            );
        }
        body.push_str("</g>");
    }
    figure(
        id,
        title,
        left + bins.len() as f64 * bin_w + 10.0,
        top + plot_h + 22.0,
        &body,
    )
}

/// Height of a row of event labels above a timeline.
const LABEL_ROW: f64 = 12.0;
/// Width of a character of the charts' 11 px monospace text.
const CHAR_W: f64 = 6.8;

/// The row of each marker's label: the first row where it overlaps no label placed before.
/// A label past `flip` (pixels) ends at its line instead of starting there, to stay inside.
fn label_rows(markers: &[Marker], at: impl Fn(f64) -> f64, flip: f64) -> Vec<usize> {
    let mut taken: Vec<Vec<(f64, f64)>> = Vec::new();
    markers
        .iter()
        .map(|m| {
            let x = at(m.x);
            let width = m.label.chars().count() as f64 * CHAR_W + 6.0;
            let span = if x > flip {
                (x - width, x)
            } else {
                (x, x + width)
            };
            let free =
                |row: &Vec<(f64, f64)>| row.iter().all(|(a, b)| span.1 <= *a || span.0 >= *b);
            let r = taken.iter().position(free).unwrap_or(taken.len());
            if r == taken.len() {
                taken.push(Vec::new());
            }
            taken[r].push(span);
            r
        })
        .collect()
}

/// Lines over time (x in seconds from 0 to `x_end`), with `markers` as labelled vertical lines
/// (and shaded bands for the ones that last). `unit` names the y axis.
pub fn timeline(
    id: &str,
    title: &str,
    unit: &str,
    series: &[Series],
    markers: &[Marker],
    x_end: f64,
) -> String {
    let (w, left, right, plot_h) = (1040.0, 58.0, 20.0, 190.0);
    let plot_w = w - left - right;
    let x_end = x_end.max(1.0);
    let at = |x: f64| left + x.clamp(0.0, x_end) / x_end * plot_w;
    let rows = label_rows(markers, at, left + plot_w * 0.6);
    let top = 8.0 + (rows.iter().copied().max().map_or(0, |r| r + 1)) as f64 * LABEL_ROW;
    let y_max = nice_ceil(
        series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0, f64::max),
    );
    let px = at;
    let py = |y: f64| top + plot_h - y / y_max * plot_h;
    let mut body = String::new();
    // Axes and grid.
    // 2 × 10ⁿ splits in quarters, 1 and 5 × 10ⁿ in fifths: every tick a round number.
    let lead = y_max / 10f64.powf(y_max.log10().floor());
    let parts = if (lead - 2.0).abs() < 1e-9 { 4 } else { 5 };
    for t in 0..=parts {
        let v = y_max * f64::from(t) / f64::from(parts);
        let y = py(v);
        let _ = write!(
            body,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e4e4e4\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left + plot_w,
            left - 4.0,
            y + 4.0,
            short_num(v),
        );
    }
    let step = [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0]
        .into_iter()
        .find(|s| x_end / s <= 14.0)
        .unwrap_or(x_end / 10.0);
    let mut t = 0.0;
    while t <= x_end + 1e-9 {
        let _ = write!(
            body,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}s</text>",
            px(t),
            top + plot_h + 14.0,
            short_num(t)
        );
        t += step;
    }
    let mid = top + plot_h / 2.0;
    let _ = write!(
        body,
        "<text x=\"12\" y=\"{mid:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 12 {mid:.1})\">{}</text>",
        esc(unit)
    );
    // Events under the lines.
    for (i, m) in markers.iter().enumerate() {
        let colour = if m.kind == "phase" { "#555" } else { HOT };
        let _ = write!(body, "<g class=\"marker\" data-kind=\"{}\">", esc(m.kind));
        if let Some(until) = m.until {
            let _ = write!(
                body,
                "<rect x=\"{:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{plot_h}\" fill=\"{colour}\" opacity=\"0.12\"/>",
                px(m.x),
                (px(until) - px(m.x)).max(1.0)
            );
        }
        let label_y = 18.0 + rows[i] as f64 * LABEL_ROW;
        let x = px(m.x);
        let (anchor, tx) = if x > left + plot_w * 0.6 {
            ("end", x - 3.0)
        } else {
            ("start", x + 3.0)
        };
        let _ = write!(
            body,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{}\" stroke=\"{colour}\" stroke-dasharray=\"{}\"/><text x=\"{tx:.1}\" y=\"{label_y}\" text-anchor=\"{anchor}\" fill=\"{colour}\">{}</text></g>",
            label_y + 2.0,
            top + plot_h,
            if m.kind == "phase" { "4 3" } else { "2 2" },
            esc(&m.label),
        );
    }
    // The lines, and their legend under the axis.
    for (i, s) in series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let mut d = String::new();
        for (j, (x, y)) in s.points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1} {:.1} ",
                if j == 0 { "M" } else { "L" },
                px(*x),
                py(*y)
            );
        }
        let lx = left + i as f64 * 150.0;
        let _ = write!(
            body,
            "<path class=\"series\" data-series=\"{n}\" d=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.8\"/><g class=\"legend\"><rect x=\"{lx}\" y=\"{ly}\" width=\"14\" height=\"3\" fill=\"{colour}\"/><text x=\"{}\" y=\"{}\">{n}</text></g>",
            d.trim_end(),
            lx + 18.0,
            top + plot_h + 34.0,
            n = esc(&s.name),
            ly = top + plot_h + 29.0,
        );
    }
    figure(id, title, w, top + plot_h + 42.0, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_sorted_escaped_and_hot_ones_marked() {
        let svg = bars(
            "b",
            "t",
            &[
                Bar {
                    label: "small<x>".into(),
                    value: 1.0,
                    text: "1".into(),
                    hot: false,
                },
                Bar {
                    label: "big".into(),
                    value: 9.0,
                    text: "9".into(),
                    hot: true,
                },
            ],
        );
        let big = svg.find("data-label=\"big\"").unwrap();
        let small = svg.find("data-label=\"small&lt;x&gt;\"").unwrap();
        assert!(big < small, "{svg}");
        assert!(svg.contains("class=\"bar hot\" data-label=\"big\""));
        assert!(!svg.contains("<x>"));
    }

    #[test]
    fn timeline_draws_each_series_and_marker() {
        let svg = timeline(
            "tl",
            "load",
            "ops/s",
            &[Series {
                name: "ops/s".into(),
                points: vec![(0.0, 10.0), (1.0, 20.0)],
            }],
            &[Marker {
                x: 0.5,
                until: Some(0.8),
                kind: "reshard",
                label: "reshard <64>".into(),
            }],
            2.0,
        );
        assert!(svg.contains("data-chart=\"tl\""));
        assert!(svg.contains("data-series=\"ops/s\" d=\"M"));
        assert!(svg.contains("data-kind=\"reshard\"") && svg.contains("reshard &lt;64&gt;"));
        assert_eq!(nice_ceil(20.0), 20.0);
        assert_eq!(nice_ceil(21.0), 50.0);
    }

    #[test]
    fn stacked_rows_and_histogram_bins_are_drawn() {
        let s = stacked("s", "t", &["a", "b"], &[("p".into(), vec![1, 3])]);
        assert_eq!(s.matches("class=\"seg\"").count(), 2);
        assert!(s.contains("b: 3 (75.0%)"));
        let h = histogram("h", "t", &[("1ms".into(), 5), ("2ms".into(), 0)], 0);
        assert_eq!(h.matches("class=\"bin\"").count(), 2);
    }
}
