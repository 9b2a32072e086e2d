//! A strict validator for the Prometheus text exposition format 0.0.4.
//!
//! Stricter than Prometheus' own parser where our renderer has no reason to
//! use a liberty of the format (no free-form comments, no blank lines,
//! single spaces), and it also checks what the format leaves to the data
//! model: no duplicate family, no family's samples interleaved with
//! another's, no sample name claimed by two families (`x_sum` gauge beside
//! summary `x`), no duplicate series, no duplicate or `__` label names,
//! `le` on every histogram bucket, `quantile` on every summary quantile,
//! cumulative buckets ending in `+Inf` equal to `_count`, non-negative
//! counters. Raw control characters other than newline are valid in label
//! values and HELP text, as the format says.
//!
//! Self-contained (std only): the fuzz crate uses it, and so does
//! `tests/fuzz_regressions.rs` in the main crate (through `#[path]`).

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fmt;

/// A family's declared type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "counter" => Kind::Counter,
            "gauge" => Kind::Gauge,
            "histogram" => Kind::Histogram,
            "summary" => Kind::Summary,
            "untyped" => Kind::Untyped,
            _ => return None,
        })
    }
}

/// What a valid exposition contained.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub families: usize,
    pub samples: usize,
}

/// The first violation found: 1-based line number, the line, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub line: usize,
    pub text: String,
    pub reason: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {} in {:?}", self.line, self.reason, self.text)
    }
}

impl std::error::Error for Invalid {}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn is_metric_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_' || b[0] == b':')
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
pub fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

/// A sample value or a `le`/`quantile` label value: `NaN`, `+Inf`, `-Inf`,
/// or a decimal float `[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?`.
pub fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => return Some(f64::NAN),
        "+Inf" => return Some(f64::INFINITY),
        "-Inf" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let f = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - f;
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let e = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == e {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    s.parse().ok()
}

/// Label pairs in the order written (values unescaped).
type LabelPairs = Vec<(String, String)>;

/// What one sample line is in its family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Value,
    Quantile,
    Bucket,
    Sum,
    Count,
}

#[derive(Default)]
struct Group {
    /// (le, cumulative count) in order of appearance.
    buckets: Vec<(f64, f64)>,
    quantiles: usize,
    sum: Option<f64>,
    count: Option<f64>,
}

struct Family {
    name: String,
    kind: Option<Kind>,
    help: bool,
    samples: usize,
    /// Series of histograms and summaries, by their labels without le/quantile.
    groups: HashMap<Vec<(String, String)>, Group>,
    /// Order of first appearance of each group, for stable messages.
    order: Vec<Vec<(String, String)>>,
}

impl Family {
    fn new(name: &str) -> Family {
        Family {
            name: name.to_string(),
            kind: None,
            help: false,
            samples: 0,
            groups: HashMap::new(),
            order: Vec::new(),
        }
    }

    fn group(&mut self, key: Vec<(String, String)>) -> &mut Group {
        if !self.groups.contains_key(&key) {
            self.order.push(key.clone());
        }
        self.groups.entry(key).or_default()
    }

    /// Checks at the end of the family; returns the reason of a violation.
    fn finish(&self) -> Result<(), String> {
        let kind = self
            .kind
            .ok_or_else(|| format!("family {} has HELP but no TYPE", self.name))?;
        for key in &self.order {
            let g = &self.groups[key];
            let what = format!("{}{{{}}}", self.name, fmt_labels(key));
            match kind {
                Kind::Histogram => {
                    if g.buckets.is_empty() {
                        return Err(format!("histogram series {what} has no _bucket"));
                    }
                    let (last_le, inf_count) = *g.buckets.last().expect("non-empty");
                    if last_le != f64::INFINITY {
                        return Err(format!(
                            "histogram series {what}: last bucket is le={last_le}, not +Inf"
                        ));
                    }
                    for w in g.buckets.windows(2) {
                        if w[0].0.partial_cmp(&w[1].0) != Some(Ordering::Less) {
                            return Err(format!(
                                "histogram series {what}: le {} then {} (not strictly increasing)",
                                w[0].0, w[1].0
                            ));
                        }
                        if !matches!(
                            w[0].1.partial_cmp(&w[1].1),
                            Some(Ordering::Less | Ordering::Equal)
                        ) {
                            return Err(format!(
                                "histogram series {what}: bucket counts {} then {} (not cumulative)",
                                w[0].1, w[1].1
                            ));
                        }
                    }
                    let (Some(_), Some(count)) = (g.sum, g.count) else {
                        return Err(format!("histogram series {what} lacks _sum or _count"));
                    };
                    if count != inf_count {
                        return Err(format!(
                            "histogram series {what}: _count {count} != le=\"+Inf\" bucket {inf_count}"
                        ));
                    }
                }
                Kind::Summary if g.sum.is_none() || g.count.is_none() => {
                    return Err(format!("summary series {what} lacks _sum or _count"));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn fmt_labels(labels: &[(String, String)]) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses `{name="value",...}` starting at `s[0] == '{'`; returns the
/// labels (unescaped, in order) and the rest after `}`.
fn parse_labels(s: &str) -> Result<(LabelPairs, &str), String> {
    let b = s.as_bytes();
    debug_assert_eq!(b[0], b'{');
    let mut i = 1;
    let mut out = Vec::new();
    loop {
        if i >= b.len() {
            return Err("unterminated label set".into());
        }
        if b[i] == b'}' {
            return Ok((out, &s[i + 1..]));
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        let name = &s[start..i];
        if !is_label_name(name) {
            return Err(format!("invalid label name {name:?}"));
        }
        if i + 1 >= b.len() || b[i] != b'=' || b[i + 1] != b'"' {
            return Err(format!("label {name}: expected =\""));
        }
        i += 2;
        let mut value = String::new();
        let mut closed = false;
        let rest = &s[i..];
        let mut chars = rest.char_indices();
        while let Some((j, c)) = chars.next() {
            match c {
                '"' => {
                    i += j + 1;
                    closed = true;
                    break;
                }
                '\\' => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, e)) => return Err(format!("label {name}: invalid escape \\{e}")),
                    None => return Err(format!("label {name}: dangling backslash")),
                },
                c => value.push(c),
            }
        }
        if !closed {
            return Err(format!("label {name}: unterminated value"));
        }
        out.push((name.to_string(), value));
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => {}
            _ => return Err(format!("label {name}: expected , or }} after the value")),
        }
    }
}

fn check_help_text(text: &str) -> Result<(), String> {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('\\') | Some('n') => {}
                Some(e) => return Err(format!("invalid escape \\{e} in HELP")),
                None => return Err("dangling backslash in HELP".into()),
            }
        }
    }
    Ok(())
}

/// Validates a whole exposition.
pub fn validate(text: &str) -> Result<Stats, Invalid> {
    let mut v = Validator::default();
    if !text.is_empty() && !text.ends_with('\n') {
        let n = text.split('\n').count();
        return Err(Invalid {
            line: n,
            text: text.rsplit('\n').next().unwrap_or("").to_string(),
            reason: "output does not end with a newline".into(),
        });
    }
    let body = text.strip_suffix('\n').unwrap_or(text);
    if !text.is_empty() {
        for (i, line) in body.split('\n').enumerate() {
            v.line(line).map_err(|reason| Invalid {
                line: i + 1,
                text: line.to_string(),
                reason,
            })?;
        }
    }
    let lines = body.split('\n').count();
    v.end_family().map_err(|reason| Invalid {
        line: lines,
        text: String::new(),
        reason,
    })?;
    Ok(v.stats)
}

#[derive(Default)]
struct Validator {
    current: Option<Family>,
    /// Families already seen (finished or current).
    families: HashSet<String>,
    /// Sample name → family that wrote it.
    sample_owner: HashMap<String, String>,
    /// (sample name, sorted labels) seen.
    series: HashSet<(String, Vec<(String, String)>)>,
    stats: Stats,
}

impl Validator {
    fn end_family(&mut self) -> Result<(), String> {
        if let Some(f) = self.current.take() {
            f.finish()?;
        }
        Ok(())
    }

    /// Makes `name` the current family, starting it if needed.
    fn family(&mut self, name: &str) -> Result<&mut Family, String> {
        if !is_metric_name(name) {
            return Err(format!("invalid metric name {name:?}"));
        }
        let same = self.current.as_ref().is_some_and(|f| f.name == name);
        if !same {
            self.end_family()?;
            if !self.families.insert(name.to_string()) {
                return Err(format!("family {name} appears twice"));
            }
            self.stats.families += 1;
            self.current = Some(Family::new(name));
        }
        Ok(self.current.as_mut().expect("current family"))
    }

    fn line(&mut self, line: &str) -> Result<(), String> {
        if line.is_empty() {
            return Err("empty line".into());
        }
        if let Some(rest) = line.strip_prefix('#') {
            return self.comment(rest);
        }
        self.sample(line)
    }

    fn comment(&mut self, rest: &str) -> Result<(), String> {
        if let Some(rest) = rest.strip_prefix(" HELP ") {
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            check_help_text(text)?;
            let f = self.family(name)?;
            if f.help {
                return Err(format!("second HELP for {name}"));
            }
            if f.samples > 0 {
                return Err(format!("HELP for {name} after its samples"));
            }
            f.help = true;
            Ok(())
        } else if let Some(rest) = rest.strip_prefix(" TYPE ") {
            let Some((name, ty)) = rest.split_once(' ') else {
                return Err("TYPE without a type".into());
            };
            let kind = Kind::parse(ty).ok_or_else(|| format!("unknown type {ty:?}"))?;
            let f = self.family(name)?;
            if f.kind.is_some() {
                return Err(format!("second TYPE for {name}"));
            }
            if f.samples > 0 {
                return Err(format!("TYPE for {name} after its samples"));
            }
            f.kind = Some(kind);
            Ok(())
        } else {
            Err("a comment that is neither HELP nor TYPE".into())
        }
    }

    fn sample(&mut self, line: &str) -> Result<(), String> {
        let name_end = line.find(['{', ' ']).ok_or("sample without a value")?;
        let name = &line[..name_end];
        if !is_metric_name(name) {
            return Err(format!("invalid metric name {name:?}"));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..])?
        } else {
            (Vec::new(), &line[name_end..])
        };
        let rest = rest
            .strip_prefix(' ')
            .ok_or("expected one space before the value")?;
        let (value, ts) = match rest.split_once(' ') {
            Some((v, t)) => (v, Some(t)),
            None => (rest, None),
        };
        let value = parse_value(value).ok_or_else(|| format!("invalid value {value:?}"))?;
        if let Some(ts) = ts {
            let digits = ts.strip_prefix('-').unwrap_or(ts);
            if digits.is_empty()
                || !digits.bytes().all(|c| c.is_ascii_digit())
                || ts.parse::<i64>().is_err()
            {
                return Err(format!("invalid timestamp {ts:?}"));
            }
        }

        let mut seen = HashSet::new();
        for (k, _) in &labels {
            if k.starts_with("__") {
                return Err(format!("reserved label name {k}"));
            }
            if !seen.insert(k.as_str()) {
                return Err(format!("duplicate label name {k}"));
            }
        }

        let Some(f) = self.current.as_mut() else {
            return Err(format!("sample {name} before any TYPE"));
        };
        let Some(kind) = f.kind else {
            return Err(format!(
                "sample {name} of family {} before its TYPE",
                f.name
            ));
        };
        let family = f.name.clone();
        let suffix = name.strip_prefix(family.as_str());
        let role = match (kind, suffix) {
            (Kind::Counter | Kind::Gauge | Kind::Untyped, Some("")) => Role::Value,
            (Kind::Summary, Some("")) => Role::Quantile,
            (Kind::Histogram, Some("_bucket")) => Role::Bucket,
            (Kind::Summary | Kind::Histogram, Some("_sum")) => Role::Sum,
            (Kind::Summary | Kind::Histogram, Some("_count")) => Role::Count,
            _ => {
                return Err(format!(
                    "sample {name} does not belong to the current family {family} ({kind:?}): interleaved or untyped"
                ))
            }
        };
        if kind == Kind::Counter && value < 0.0 {
            return Err(format!("negative counter value {value}"));
        }
        let special = match role {
            Role::Bucket => Some("le"),
            Role::Quantile => Some("quantile"),
            _ => None,
        };
        let mut group_key = Vec::with_capacity(labels.len());
        let mut special_value = None;
        for (k, v) in &labels {
            if Some(k.as_str()) == special {
                special_value = Some(v.as_str());
            } else {
                if matches!(kind, Kind::Histogram) && k == "le" {
                    return Err(format!("le label on {name}"));
                }
                if matches!(kind, Kind::Summary) && k == "quantile" {
                    return Err(format!("quantile label on {name}"));
                }
                group_key.push((k.clone(), v.clone()));
            }
        }
        group_key.sort();
        let special_value = match (special, special_value) {
            (Some(l), None) => return Err(format!("{name} without a {l} label")),
            (Some(l), Some(v)) => {
                Some(parse_value(v).ok_or_else(|| format!("{l}={v:?} is not a number"))?)
            }
            _ => None,
        };
        match role {
            Role::Quantile => {
                let q = special_value.expect("quantile");
                if !(0.0..=1.0).contains(&q) {
                    return Err(format!("quantile {q} outside [0, 1]"));
                }
            }
            Role::Bucket if value < 0.0 || value.is_nan() => {
                return Err(format!("bucket count {value}"));
            }
            Role::Count if value < 0.0 || value.is_nan() => {
                return Err(format!("_count {value}"));
            }
            _ => {}
        }

        // Cross-family sample names, then series identity.
        match self.sample_owner.get(name) {
            Some(owner) if *owner != family => {
                return Err(format!(
                    "sample name {name} written by family {owner} and by family {family}"
                ))
            }
            Some(_) => {}
            None => {
                self.sample_owner.insert(name.to_string(), family.clone());
            }
        }
        let mut sorted = labels.clone();
        sorted.sort();
        if !self.series.insert((name.to_string(), sorted)) {
            return Err(format!(
                "duplicate series {name}{{{}}}",
                fmt_labels(&labels)
            ));
        }
        // A family named like another's sample (gauge `x_count` beside summary `x`).
        if let Some(owner) = self.sample_owner.get(&family) {
            if *owner != family {
                return Err(format!(
                    "family {family} has the name of a sample of family {owner}"
                ));
            }
        }

        let f = self.current.as_mut().expect("current family");
        f.samples += 1;
        self.stats.samples += 1;
        if matches!(kind, Kind::Histogram | Kind::Summary) {
            let g = f.group(group_key);
            match role {
                Role::Bucket => g.buckets.push((special_value.expect("le"), value)),
                Role::Quantile => g.quantiles += 1,
                Role::Sum => {
                    if g.sum.replace(value).is_some() {
                        return Err(format!("second {name}"));
                    }
                }
                Role::Count => {
                    if g.count.replace(value).is_some() {
                        return Err(format!("second {name}"));
                    }
                }
                Role::Value => unreachable!("histograms and summaries have no plain value"),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod validator_tests {
    use super::*;

    const GOOD: &str = "# HELP a_total Some help with \\\\ and \\n.\n\
# TYPE a_total counter\n\
a_total 1\n\
a_total{k=\"v\"} 2.5e+06\n\
a_total{k=\"q\\\"u\\\\o\\nte\",j=\"\"} 0\n\
# HELP g \n\
# TYPE g gauge\n\
g NaN\n\
g{x=\"1\"} -Inf\n\
g{x=\"2\"} +Inf\n\
g{x=\"3\"} -1.5e-07\n\
# HELP h Metric autogenerated by statsd_exporter.\n\
# TYPE h histogram\n\
h_bucket{le=\"0.5\"} 0\n\
h_bucket{le=\"1\"} 2\n\
h_bucket{le=\"+Inf\"} 3\n\
h_sum 7\n\
h_count 3\n\
h_bucket{a=\"b\",le=\"+Inf\"} 0\n\
h_sum{a=\"b\"} 0\n\
h_count{a=\"b\"} 0\n\
# HELP s x\n\
# TYPE s summary\n\
s{quantile=\"0.5\"} 1\n\
s{quantile=\"0.99\"} NaN\n\
s_sum 1\n\
s_count 1\n\
# TYPE u untyped\n\
u 1 1700000000000\n";

    #[test]
    fn accepts_valid_output() {
        let st = validate(GOOD).expect("valid");
        assert_eq!(st.families, 5);
        assert_eq!(st.samples, 20);
        assert_eq!(validate("").expect("empty is valid").families, 0);
        // Only `\`, `"` and newline are escaped; other control characters are
        // valid raw (a StatsD tag value may carry them).
        validate("# HELP c a\rb\0\n# TYPE c counter\nc{k=\"\r\0\t\"} 1\n").expect("raw CR/NUL");
    }

    fn reject(text: &str, why: &str) {
        match validate(text) {
            Ok(_) => panic!("accepted {why}: {text:?}"),
            Err(e) => assert!(
                e.reason.contains(why),
                "rejected for {:?}, expected {why:?}: {text:?}",
                e.reason
            ),
        }
    }

    #[test]
    fn rejects_invalid_output() {
        let t = "# TYPE a gauge\n";
        reject("# TYPE a gauge\na 1", "newline");
        reject("# TYPE a gauge\n\na 1\n", "empty line");
        reject("a 1\n", "before any TYPE");
        reject("# HELP a x\na 1\n", "before its TYPE");
        reject("# HELP a x\n", "no TYPE");
        reject("# TYPE a gauges\n", "unknown type");
        reject("# a comment\n", "neither HELP nor TYPE");
        reject(
            &format!("{t}a{{k=\"v\"}} 1\na{{k=\"v\"}} 2\n"),
            "duplicate series",
        );
        reject(
            &format!("{t}a 1\n# TYPE b gauge\nb 1\na 2\n"),
            "interleaved",
        );
        reject(
            &format!("{t}a 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n"),
            "appears twice",
        );
        reject(&format!("{t}a 1\n# TYPE a gauge\n"), "second TYPE");
        reject(&format!("{t}a 1\n# HELP a late\n"), "after its samples");
        reject(&format!("{t}a{{1k=\"v\"}} 1\n"), "invalid label name");
        reject(&format!("{t}a{{__name__=\"v\"}} 1\n"), "reserved label");
        reject(
            &format!("{t}a{{k=\"v\",k=\"w\"}} 1\n"),
            "duplicate label name",
        );
        reject(&format!("{t}a{{k=\"v\\t\"}} 1\n"), "invalid escape");
        reject(&format!("{t}a{{k=\"v}} 1\n"), "unterminated");
        reject(&format!("{t}a{{k=v}} 1\n"), "expected =\"");
        reject(&format!("{t}a{{k=\"v\" j=\"w\"}} 1\n"), "expected , or }");
        reject(&format!("{t}a 0x10\n"), "invalid value");
        reject(&format!("{t}a inf\n"), "invalid value");
        reject(&format!("{t}a 1e\n"), "invalid value");
        reject(&format!("{t}a  1\n"), "invalid value");
        reject(&format!("{t}a 1 x\n"), "invalid timestamp");
        reject(&format!("{t}a.b 1\n"), "invalid metric name");
        reject("# TYPE 1a gauge\n", "invalid metric name");
        reject("# HELP a bad \\t escape\n", "invalid escape");
        reject("# TYPE c counter\nc -1\n", "negative counter");
        let h = "# TYPE h histogram\n";
        reject(&format!("{h}h 1\n"), "does not belong");
        reject(
            &format!("{h}h_bucket 1\nh_sum 1\nh_count 1\n"),
            "without a le",
        );
        reject(&format!("{h}h_bucket{{le=\"x\"}} 1\n"), "not a number");
        reject(
            &format!("{h}h_bucket{{le=\"1\"}} 1\nh_sum 1\nh_count 1\n"),
            "not +Inf",
        );
        reject(
            &format!(
                "{h}h_bucket{{le=\"+Inf\"}} 1\nh_bucket{{le=\"+Inf\",}} 1\nh_sum 1\nh_count 1\n"
            ),
            "duplicate series",
        );
        reject(
            &format!("{h}h_bucket{{le=\"2\"}} 1\nh_bucket{{le=\"1\"}} 1\nh_bucket{{le=\"+Inf\"}} 1\nh_sum 1\nh_count 1\n"),
            "strictly increasing",
        );
        reject(
            &format!("{h}h_bucket{{le=\"1\"}} 2\nh_bucket{{le=\"+Inf\"}} 1\nh_sum 1\nh_count 1\n"),
            "not cumulative",
        );
        reject(
            &format!("{h}h_bucket{{le=\"+Inf\"}} 2\nh_sum 1\nh_count 1\n"),
            "_count 1 !=",
        );
        reject(
            &format!("{h}h_bucket{{le=\"+Inf\"}} 2\nh_count 2\n"),
            "lacks _sum",
        );
        reject(&format!("{h}h_sum{{le=\"1\"}} 2\n"), "le label");
        let s = "# TYPE s summary\n";
        reject(&format!("{s}s 1\n"), "without a quantile");
        reject(
            &format!("{s}s{{quantile=\"2\"}} 1\ns_sum 1\ns_count 1\n"),
            "outside [0, 1]",
        );
        reject(&format!("{s}s{{quantile=\"0.5\"}} 1\n"), "lacks _sum");
        reject(
            &format!("{s}s_count{{quantile=\"0.5\"}} 1\n"),
            "quantile label",
        );
        reject(&format!("{s}s_bucket 1\n"), "does not belong");
        reject(
            &format!("{s}s_sum 1\ns_count 1\n# TYPE s_count gauge\ns_count{{a=\"b\"}} 1\n"),
            "written by family s and by family s_count",
        );
        reject(
            &format!("{s}s_sum 1\ns_count 1\n# TYPE s_sum histogram\ns_sum_count 1\n"),
            "family s_sum has the name of a sample of family s",
        );
        reject(
            &format!("# TYPE s_count gauge\ns_count 1\n{s}s_sum 1\ns_count 1\n"),
            "written by family s_count and by family s",
        );
    }

    #[test]
    fn values() {
        for ok in [
            "1", "-1", "+1", "1.", ".5", "1e5", "1E-05", "1.5e+300", "NaN", "+Inf", "-Inf",
        ] {
            assert!(parse_value(ok).is_some(), "{ok}");
        }
        for bad in [
            "", ".", "e5", "1e", "inf", "Inf", "nan", "0x1p3", "1_000", " 1", "1 ", "--1",
        ] {
            assert!(parse_value(bad).is_none(), "{bad}");
        }
    }
}
