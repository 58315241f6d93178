//! Small SVG charts (loss curves, bar charts, confusion matrices) with no dependencies:
//! a file a person opens in any browser.

use std::fmt::Write;

pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub color: &'static str,
    /// Dots instead of a line (sparse points such as evaluations).
    pub dots: bool,
}

const W: f64 = 720.0;
const H: f64 = 420.0;
const L: f64 = 70.0;
const R: f64 = 20.0;
const T: f64 = 40.0;
const B: f64 = 50.0;

/// Round tick values covering [lo, hi].
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).max(1e-12);
    let raw = span / 6.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= 6.0)
        .unwrap_or(10.0 * mag);
    let mut v = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while v <= hi + step * 1e-9 {
        out.push(v);
        v += step;
    }
    out
}

fn label(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        format!("{v:.1e}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A line chart of `series` (non-finite points are left out).
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let pts = || {
        series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|p| p.0.is_finite() && p.1.is_finite())
    };
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts() {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.05).max(1e-6);
    let (y0, y1) = (y0 - pad, y1 + pad);
    let sx = |x: f64| L + (x - x0) / (x1 - x0) * (W - L - R);
    let sy = |y: f64| H - B - (y - y0) / (y1 - y0) * (H - T - B);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>
"##,
        W / 2.0,
        esc(title)
    );
    for v in ticks(y0, y1) {
        let y = sy(v);
        let _ = writeln!(
            s,
            r##"<line x1="{L}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e4e4e4"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - R,
            L - 6.0,
            y + 4.0,
            label(v)
        );
    }
    for v in ticks(x0, x1) {
        let x = sx(v);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{T}" y2="{}" stroke="#f0f0f0"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
            H - B,
            H - B + 16.0,
            label(v)
        );
    }
    let _ = writeln!(
        s,
        r##"<rect x="{L}" y="{T}" width="{}" height="{}" fill="none" stroke="#444"/>"##,
        W - L - R,
        H - T - B
    );
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle">{}</text>"##,
        (L + W - R) / 2.0,
        H - 12.0,
        esc(x_label)
    );
    let _ = writeln!(
        s,
        r##"<text transform="translate(16 {}) rotate(-90)" text-anchor="middle">{}</text>"##,
        (T + H - B) / 2.0,
        esc(y_label)
    );
    for (i, ser) in series.iter().enumerate() {
        let p: Vec<(f64, f64)> = ser
            .points
            .iter()
            .copied()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .collect();
        if ser.dots {
            for (x, y) in &p {
                let _ = writeln!(
                    s,
                    r##"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{}"/>"##,
                    sx(*x),
                    sy(*y),
                    ser.color
                );
            }
        } else if !p.is_empty() {
            let d: Vec<String> = p
                .iter()
                .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
                .collect();
            let _ = writeln!(
                s,
                r##"<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/>"##,
                ser.color,
                d.join(" ")
            );
        }
        let ly = T + 16.0 + 18.0 * i as f64;
        let _ = writeln!(
            s,
            r##"<rect x="{}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}">{}</text>"##,
            W - R - 170.0,
            ly - 10.0,
            ser.color,
            W - R - 152.0,
            ly,
            esc(&ser.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn esc(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A confusion matrix as a heat map: rows true class, columns predicted,
/// each cell's count and share of its row.
pub fn confusion_matrix(title: &str, c: &crate::metrics::Confusion) -> String {
    let n = c.classes();
    let cell = (360.0 / n.max(1) as f64).clamp(28.0, 90.0);
    let (left, top) = (110.0, 60.0);
    let size = cell * n as f64;
    let (w, h) = (left + size + 30.0, top + size + 60.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>
<text x="{}" y="{}" text-anchor="middle">predicted class</text>
<text transform="translate(20 {}) rotate(-90)" text-anchor="middle">true class</text>"##,
        w / 2.0,
        esc(title),
        left + size / 2.0,
        top + size + 40.0,
        top + size / 2.0
    );
    for t in 0..n {
        let row: u64 = (0..n).map(|p| c.counts(t, p)).sum();
        for p in 0..n {
            let k = c.counts(t, p);
            let share = if row == 0 { 0.0 } else { k as f64 / row as f64 };
            let shade = (255.0 - 200.0 * share) as u8;
            let (x, y) = (left + p as f64 * cell, top + t as f64 * cell);
            let ink = if share > 0.6 { "white" } else { "black" };
            let _ = writeln!(
                s,
                r##"<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="rgb({shade},{shade},255)" stroke="#888"/><text x="{}" y="{}" text-anchor="middle" fill="{ink}">{k}</text><text x="{}" y="{}" text-anchor="middle" fill="{ink}" font-size="10">{:.0}%</text>"##,
                x + cell / 2.0,
                y + cell / 2.0,
                x + cell / 2.0,
                y + cell / 2.0 + 13.0,
                100.0 * share
            );
        }
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" text-anchor="end">{t}</text>"##,
            left - 8.0,
            top + (t as f64 + 0.5) * cell + 4.0
        );
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" text-anchor="middle">{t}</text>"##,
            left + (t as f64 + 0.5) * cell,
            top - 8.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A horizontal bar chart of `values` (e.g. MCC per task), one group of
/// bars per row label, one colour per series.
pub fn bar_chart(
    title: &str,
    x_label: &str,
    rows: &[String],
    series: &[(String, Vec<f64>)],
) -> String {
    const COLORS: [&str; 6] = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    ];
    let bar = 14.0;
    let group = bar * series.len().max(1) as f64 + 10.0;
    let (left, top, width) = (170.0, 50.0, 420.0);
    let h = top + group * rows.len() as f64 + 60.0 + 18.0 * series.len() as f64;
    let w = left + width + 60.0;
    let all = series
        .iter()
        .flat_map(|s| s.1.iter())
        .filter(|v| v.is_finite());
    let lo = all.clone().fold(0f64, |m, &v| m.min(v));
    let hi = all.fold(1e-9f64, |m, &v| m.max(v));
    let sx = |v: f64| left + (v - lo) / (hi - lo) * width;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>"##,
        w / 2.0,
        esc(title)
    );
    let bottom = top + group * rows.len() as f64;
    for v in ticks(lo, hi) {
        let x = sx(v);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{top}" y2="{bottom}" stroke="#e4e4e4"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
            bottom + 16.0,
            label(v)
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{}" y="{}" text-anchor="middle">{}</text>"##,
        left + width / 2.0,
        bottom + 36.0,
        esc(x_label)
    );
    for (r, name) in rows.iter().enumerate() {
        let y0 = top + group * r as f64;
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" text-anchor="end">{}</text>"##,
            left - 8.0,
            y0 + group / 2.0 + 4.0,
            esc(name)
        );
        for (k, (_, vals)) in series.iter().enumerate() {
            let v = vals.get(r).copied().unwrap_or(f64::NAN);
            if !v.is_finite() {
                continue;
            }
            let (a, b) = (sx(v.min(0.0)), sx(v.max(0.0)));
            let _ = writeln!(
                s,
                r##"<rect x="{a:.1}" y="{:.1}" width="{:.1}" height="{bar}" fill="{}"><title>{v:.4}</title></rect>"##,
                y0 + 5.0 + bar * k as f64,
                (b - a).max(0.5),
                COLORS[k % COLORS.len()]
            );
        }
    }
    for (k, (name, _)) in series.iter().enumerate() {
        let y = bottom + 52.0 + 18.0 * k as f64;
        let _ = writeln!(
            s,
            r##"<rect x="{left}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{y}">{}</text>"##,
            y - 10.0,
            COLORS[k % COLORS.len()],
            left + 18.0,
            esc(name)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 10.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let t = ticks(3.17, 8.4);
        assert!(t[0] >= 3.17 && *t.last().unwrap() <= 8.4 && t.len() >= 3);
    }

    #[test]
    fn a_chart_has_every_series_and_escapes_text() {
        let svg = line_chart(
            "loss <train>",
            "step",
            "loss",
            &[
                Series {
                    name: "train".into(),
                    points: vec![(1.0, 8.0), (2.0, f64::NAN), (3.0, 6.0)],
                    color: "#1f77b4",
                    dots: false,
                },
                Series {
                    name: "validation".into(),
                    points: vec![(3.0, 6.5)],
                    color: "#d62728",
                    dots: true,
                },
            ],
        );
        assert!(svg.starts_with("<svg") && svg.contains("polyline") && svg.contains("circle"));
        assert!(svg.contains("loss &lt;train&gt;") && !svg.contains("NaN"));
    }
}
