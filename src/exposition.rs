//! Text exposition: Prometheus text format 0.0.4 (the default, byte-for-byte
//! what client_golang writes for the same families) and OpenMetrics 1.0 (only
//! when negotiated and enabled). Works on snapshots, never under a lock.

use std::fmt::Write as _;

use crate::store::{
    exposition_order, FamilySnapshot, FamilyType, HistogramSnapshot, SeriesSnapshot, SnapValue,
    SummarySnapshot,
};

pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
pub const CONTENT_TYPE_OPENMETRICS: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => CONTENT_TYPE_TEXT,
            Format::OpenMetrics => CONTENT_TYPE_OPENMETRICS,
        }
    }

    /// Picks the format from an `Accept` header: OpenMetrics only when the
    /// client prefers it and it is enabled, otherwise text 0.0.4.
    pub fn negotiate(accept: Option<&str>, openmetrics_enabled: bool) -> Format {
        if !openmetrics_enabled {
            return Format::Text;
        }
        let Some(accept) = accept else {
            return Format::Text;
        };
        let mut best = (Format::Text, -1.0f32);
        for part in accept.split(',') {
            let mut fields = part.split(';').map(str::trim);
            let media = fields.next().unwrap_or("");
            let mut q = 1.0f32;
            let mut version = None;
            for p in fields {
                if let Some(v) = p.strip_prefix("q=") {
                    q = v.parse().unwrap_or(0.0);
                } else if let Some(v) = p.strip_prefix("version=") {
                    version = Some(v);
                }
            }
            let fmt = match media {
                "application/openmetrics-text" if matches!(version, None | Some("1.0.0")) => {
                    Format::OpenMetrics
                }
                "text/plain" | "*/*" | "text/*" => Format::Text,
                _ => continue,
            };
            if q > best.1 {
                best = (fmt, q);
            }
        }
        best.0
    }
}

/// Formats a float exactly as Go's `strconv.FormatFloat(f, 'g', -1, 64)`,
/// which the Prometheus text encoder uses: shortest round-trip digits, and
/// exponent form when the decimal exponent is < -4 or >= 6 (Go's "shortest"
/// precision rule), with at least two exponent digits (`1e+06`).
pub fn write_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NaN");
        return;
    }
    if f.is_infinite() {
        out.push_str(if f > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if f == 0.0 {
        // Go prints -0 as "-0"; client_golang special-cases only +0 → "0".
        out.push_str(if f.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    // Most samples (counts, bucket counts) are integers below 1e6, which Go
    // prints as plain digits: skip the formatting machinery.
    if f.fract() == 0.0 && f.abs() < 1e6 {
        write_int(out, f as i64);
        return;
    }
    write_float_general(out, f);
}

/// `write_float` for finite, non-zero values, through Rust's shortest
/// round-trip digits.
fn write_float_general(out: &mut String, f: f64) {
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. "1.234567e6".
    let mut buf = String::with_capacity(24);
    let _ = write!(buf, "{:e}", f);
    let (mantissa, exp) = buf.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("exponent is an integer");
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let nd = digits.len() as i32;
    if neg {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if nd > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let _ = write!(out, "{:02}", exp.abs());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = (exp + 1) as usize;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
}

/// Decimal digits of `i` (|i| < 1e6 here, but any i64 works).
fn write_int(out: &mut String, i: i64) {
    let mut buf = [0u8; 20];
    let mut pos = buf.len();
    let mut n = i.unsigned_abs();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        out.push('-');
    }
    out.push_str(std::str::from_utf8(&buf[pos..]).expect("ASCII digits"));
}

fn escape_help(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Sorts families by name and series the way client_golang's Gather does
/// (families from the store arrive with their series already in order).
pub fn sort_families(families: &mut [FamilySnapshot]) {
    families.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    for f in families.iter_mut() {
        if !f.series_sorted {
            sort_series(&mut f.series);
            f.series_sorted = true;
        }
    }
}

fn sort_series(series: &mut Vec<SeriesSnapshot>) {
    if series.len() < 2 {
        return;
    }
    let order = exposition_order(&series.iter().map(|s| &s.labels).collect::<Vec<_>>());
    let mut taken: Vec<Option<SeriesSnapshot>> = series.drain(..).map(Some).collect();
    series.extend(
        order
            .iter()
            .map(|&i| taken[i as usize].take().expect("each index once")),
    );
}

/// One `_bucket` line from pre-rendered labels and bound.
fn write_bucket(out: &mut String, name: &str, labels: &str, le: &str, value: f64) {
    out.push_str(name);
    out.push_str("_bucket{");
    out.push_str(labels);
    if !labels.is_empty() {
        out.push(',');
    }
    out.push_str("le=\"");
    out.push_str(le);
    out.push_str("\"} ");
    write_float(out, value);
    out.push('\n');
}

fn write_labels(out: &mut String, labels: &str, extra: Option<(&str, f64)>) {
    if labels.is_empty() && extra.is_none() {
        return;
    }
    out.push('{');
    out.push_str(labels);
    if let Some((k, v)) = extra {
        if !labels.is_empty() {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        write_float(out, v);
        out.push('"');
    }
    out.push('}');
}

fn write_sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &str,
    extra: Option<(&str, f64)>,
    value: f64,
) {
    out.push_str(name);
    out.push_str(suffix);
    write_labels(out, labels, extra);
    out.push(' ');
    write_float(out, value);
    out.push('\n');
}

/// Renders sorted families. In OpenMetrics, counter samples get `_total`
/// (the family name drops it), which is why it is opt-in.
pub fn render(families: &[FamilySnapshot], format: Format) -> String {
    let mut out = String::new();
    render_into(&mut out, families, format);
    out
}

/// `render`, appending to `out` (reserving a rough estimate when it has
/// less room).
pub fn render_into(out: &mut String, families: &[FamilySnapshot], format: Format) {
    out.reserve(families.iter().map(|f| 64 + f.len() * 96).sum());
    // Scratch: the `le` strings of the bucket bounds last seen (keyed by
    // their shared allocation).
    let mut le_of: (*const f64, Vec<String>) = (std::ptr::null(), Vec::new());
    for f in families {
        if f.is_empty() {
            continue;
        }
        let (family_name, sample_suffix) = match (format, f.kind) {
            (Format::OpenMetrics, FamilyType::Counter) => match f.name.strip_suffix("_total") {
                Some(base) => (base, "_total"),
                None => (&*f.name, "_total"),
            },
            _ => (&*f.name, ""),
        };
        out.push_str("# HELP ");
        out.push_str(family_name);
        out.push(' ');
        escape_help(out, &f.help);
        out.push_str("\n# TYPE ");
        out.push_str(family_name);
        out.push(' ');
        out.push_str(f.kind.as_str());
        out.push('\n');
        for (labels, value) in f.each_series_text() {
            match value {
                SnapValue::Single(v) => {
                    write_sample(out, family_name, sample_suffix, labels, None, *v)
                }
                SnapValue::Histogram(h) => {
                    let HistogramSnapshot {
                        buckets,
                        counts,
                        sum,
                        count,
                    } = &**h;
                    // The bucket bounds are the same for every bucket line
                    // (and usually every series): format them once.
                    if !std::ptr::eq(le_of.0, buckets.as_ptr()) {
                        le_of.0 = buckets.as_ptr();
                        le_of.1.clear();
                        for ub in buckets.iter() {
                            let mut le = String::new();
                            write_float(&mut le, *ub);
                            le_of.1.push(le);
                        }
                    }
                    let mut cumulative = 0.0;
                    for (i, le) in le_of.1.iter().enumerate() {
                        cumulative += counts[i];
                        write_bucket(out, family_name, labels, le, cumulative);
                    }
                    write_bucket(out, family_name, labels, "+Inf", *count);
                    write_sample(out, family_name, "_sum", labels, None, *sum);
                    write_sample(out, family_name, "_count", labels, None, *count);
                }
                SnapValue::Summary(s) => {
                    let SummarySnapshot {
                        quantiles,
                        values,
                        sum,
                        count,
                    } = &**s;
                    for (q, v) in quantiles.iter().zip(values) {
                        write_sample(out, family_name, "", labels, Some(("quantile", *q)), *v);
                    }
                    write_sample(out, family_name, "_sum", labels, None, *sum);
                    write_sample(out, family_name, "_count", labels, None, *count);
                }
            }
        }
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn series_sort_in_client_golang_order_and_keep_their_values(
            sets in proptest::collection::vec(
                proptest::collection::vec("[ab\\x00]{0,3}", 0..3), 0..40)
        ) {
            let series: Vec<SeriesSnapshot> = sets
                .iter()
                .enumerate()
                .map(|(i, values)| SeriesSnapshot {
                    labels: values
                        .iter()
                        .enumerate()
                        .map(|(k, v)| (format!("l{k}"), v))
                        .collect(),
                    value: SnapValue::Single(i as f64),
                })
                .collect();
            let mut want: Vec<_> = series.iter().map(|s| s.labels.clone()).collect();
            want.sort_by(crate::store::exposition_cmp);
            let mut got = series.clone();
            sort_series(&mut got);
            let labels: Vec<_> = got.iter().map(|s| s.labels.clone()).collect();
            proptest::prop_assert_eq!(labels, want);
            for s in &got {
                let SnapValue::Single(i) = s.value else { unreachable!() };
                proptest::prop_assert_eq!(&s.labels, &series[i as usize].labels);
            }
        }
    }

    #[test]
    fn the_integer_fast_path_prints_what_the_general_path_prints() {
        let mut ints: Vec<i64> = (-1000..=1000).collect();
        ints.extend([9, 10, 99_999, 100_000, 999_999, -999_999, 123_456, 65_536]);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ints.push((x % 2_000_000) as i64 - 1_000_000);
        }
        for i in ints.into_iter().filter(|&i| i != 0 && i.abs() < 1_000_000) {
            let (mut fast, mut general) = (String::new(), String::new());
            write_float(&mut fast, i as f64);
            write_float_general(&mut general, i as f64);
            assert_eq!(fast, general, "{i}");
        }
    }
    use std::sync::Arc;

    fn f(v: f64) -> String {
        let mut s = String::new();
        write_float(&mut s, v);
        s
    }

    #[test]
    fn go_float_cases() {
        // Expected strings are Go's strconv.FormatFloat(v, 'g', -1, 64).
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (0.5, "0.5"),
            (0.005, "0.005"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (1e6, "1e+06"),
            (1e21, "1e+21"),
            (2.5, "2.5"),
            (10.0, "10"),
            (100.0, "100"),
            (2.0625, "2.0625"),
            (0.016128083, "0.016128083"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (-0.25, "-0.25"),
            (1e-300, "1e-300"),
        ];
        for (v, want) in cases {
            assert_eq!(f(*v), *want, "value {v:e}");
        }
    }

    fn fam(
        name: &str,
        kind: FamilyType,
        series: Vec<(Vec<(&str, &str)>, SnapValue)>,
    ) -> FamilySnapshot {
        FamilySnapshot {
            series_sorted: false,
            stored: None,
            name: name.into(),
            help: "Metric autogenerated by statsd_exporter.".into(),
            kind,
            series: series
                .into_iter()
                .map(|(l, value)| SeriesSnapshot {
                    labels: l.into_iter().collect(),
                    value,
                })
                .collect(),
        }
    }

    #[test]
    fn golden_text_format() {
        let mut fams = vec![
            fam(
                "airflow_pool_open_slots",
                FamilyType::Gauge,
                vec![
                    (vec![("pool", "z_pool")], SnapValue::Single(3.0)),
                    (vec![("pool", "default_pool")], SnapValue::Single(128.0)),
                ],
            ),
            fam(
                "a_timer",
                FamilyType::Summary,
                vec![(
                    vec![("x", "q\"uote\\back\nline")],
                    SnapValue::Summary(Box::new(SummarySnapshot {
                        quantiles: Arc::from(vec![0.5, 0.9]),
                        values: vec![0.25, f64::NAN],
                        sum: 1.5,
                        count: 3.0,
                    })),
                )],
            ),
            fam(
                "h",
                FamilyType::Histogram,
                vec![(
                    vec![],
                    SnapValue::Histogram(Box::new(HistogramSnapshot {
                        buckets: Arc::from(vec![0.005, 1.0]),
                        counts: vec![1.0, 0.0, 2.0],
                        sum: 7.5,
                        count: 3.0,
                    })),
                )],
            ),
        ];
        sort_families(&mut fams);
        let got = render(&fams, Format::Text);
        let want = r#"# HELP a_timer Metric autogenerated by statsd_exporter.
# TYPE a_timer summary
a_timer{x="q\"uote\\back\nline",quantile="0.5"} 0.25
a_timer{x="q\"uote\\back\nline",quantile="0.9"} NaN
a_timer_sum{x="q\"uote\\back\nline"} 1.5
a_timer_count{x="q\"uote\\back\nline"} 3
# HELP airflow_pool_open_slots Metric autogenerated by statsd_exporter.
# TYPE airflow_pool_open_slots gauge
airflow_pool_open_slots{pool="default_pool"} 128
airflow_pool_open_slots{pool="z_pool"} 3
# HELP h Metric autogenerated by statsd_exporter.
# TYPE h histogram
h_bucket{le="0.005"} 1
h_bucket{le="1"} 1
h_bucket{le="+Inf"} 3
h_sum 7.5
h_count 3
"#;
        assert_eq!(got, want);
    }

    #[test]
    fn openmetrics_counters_get_total() {
        let fams = vec![
            fam(
                "jobs",
                FamilyType::Counter,
                vec![(vec![], SnapValue::Single(2.0))],
            ),
            fam(
                "x_total",
                FamilyType::Counter,
                vec![(vec![], SnapValue::Single(1.0))],
            ),
        ];
        let got = render(&fams, Format::OpenMetrics);
        assert!(got.contains("# TYPE jobs counter\njobs_total 2\n"), "{got}");
        assert!(got.contains("# TYPE x counter\nx_total 1\n"), "{got}");
        assert!(got.ends_with("# EOF\n"));
        let text = render(&fams, Format::Text);
        assert!(text.contains("# TYPE jobs counter\njobs 2\n"));
    }

    #[test]
    fn series_sort_like_client_golang() {
        let mut fams = vec![fam(
            "m",
            FamilyType::Gauge,
            vec![
                (vec![("a", "2"), ("b", "1")], SnapValue::Single(1.0)),
                (vec![("a", "10")], SnapValue::Single(1.0)),
                (vec![("a", "1"), ("b", "9")], SnapValue::Single(1.0)),
            ],
        )];
        sort_families(&mut fams);
        let order: Vec<String> = fams[0]
            .series
            .iter()
            .map(|s| s.labels.get("a").unwrap().into_owned())
            .collect();
        assert_eq!(order, vec!["10", "1", "2"]);
    }

    /// `/metrics` renders the store's shared series; tests and tools read
    /// copied ones. Both give the same text, in both formats.
    #[test]
    fn shared_and_copied_store_series_render_the_same() {
        use crate::store::{ObserveAs, Op, Store, Update};
        use std::time::{Duration, Instant};
        let now = Instant::now();
        let mut store = Store::new(Duration::from_secs(60));
        let hist = ObserveAs::Histogram {
            buckets: vec![0.5, 1.0, 5.0].into(),
        };
        let summ = ObserveAs::Summary {
            quantiles: vec![0.5, 0.99].into(),
            max_age: Duration::from_secs(600),
            age_buckets: 5,
            buf_cap: 500,
        };
        for i in 0..30u32 {
            let dag = format!("dag_{}", i % 7);
            let task = format!("t\"{}", i % 4);
            let labels = [("dag_id", dag.as_str()), ("task_id", task.as_str())];
            let v = f64::from(i) / 3.0;
            let ops = [
                ("a_total", Op::CounterAdd(v)),
                ("b", Op::GaugeSet(v)),
                (
                    "c",
                    Op::Observe {
                        value: v,
                        weight: 1.0,
                        how: &hist,
                    },
                ),
                (
                    "d",
                    Op::Observe {
                        value: v,
                        weight: 1.0,
                        how: &summ,
                    },
                ),
            ];
            for (name, op) in ops {
                let u = Update {
                    name,
                    help: "h",
                    labels: &labels,
                    op,
                    ttl: Duration::ZERO,
                    limits: None,
                };
                store.apply(&u, now).expect("applies");
            }
        }
        for format in [Format::Text, Format::OpenMetrics] {
            let mut copied = store.snapshot(now);
            let mut shared = store.snapshot_raw(now).into_shared_families();
            sort_families(&mut copied);
            sort_families(&mut shared);
            assert!(shared.iter().all(|f| f.series.is_empty() && !f.is_empty()));
            let text = render(&copied, format);
            assert_eq!(
                text.lines().filter(|l| l.starts_with("c_bucket")).count(),
                7 * 4 * 4
            );
            assert_eq!(render(&shared, format), text);
        }
    }

    #[test]
    fn negotiation() {
        assert_eq!(Format::negotiate(None, true), Format::Text);
        let om = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
        assert_eq!(Format::negotiate(Some(om), true), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some(om), false), Format::Text);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;version=0.0.1"), true),
            Format::Text
        );
    }
}
