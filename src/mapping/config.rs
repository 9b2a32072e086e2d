//! Loading the statsd_exporter mapping YAML.
//!
//! The YAML is read with yaml-rust2's event parser into a small tree that
//! keeps the line of every node, then decoded with the conversions Go's
//! `gopkg.in/yaml.v2` applies (YAML 1.1 booleans, scalars read as raw text
//! into string fields, integers into durations as nanoseconds, unknown keys
//! ignored).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use regex::Regex;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::glob::{needs_backtracking, Fsm};
use super::template::Template;
use super::{
    Action, Defaults, HistogramOptions, Mapper, MatchType, ObserverOptions, Rule, SummaryOptions,
    DEFAULT_AGE_BUCKETS, DEFAULT_BUCKETS, DEFAULT_BUF_CAP, DEFAULT_MAX_AGE, DEFAULT_QUANTILES,
};
use crate::escape::escape_metric_name;
use crate::sample::MetricKind;
use crate::store::FamilyLimits;

/// An invalid mapping file.
///
/// Display: `FILE:LINE: mapping #N (match "M"): MESSAGE`, where `#N` is
/// 1-based (the first rule is `#1`; [`ConfigError::rule`] holds the 0-based
/// index, like [`Rule::index`]). Parts that are unknown are left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based line.
    pub line: Option<usize>,
    /// 0-based rule index and its `match` text.
    pub rule: Option<(usize, String)>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": ")?;
        if let Some((i, m)) = &self.rule {
            write!(f, "mapping #{} (match {:?}): ", i + 1, m)?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ConfigError {}

// ---------------------------------------------------------------------------
// YAML tree with lines

#[derive(Clone, Debug)]
enum Kind {
    Scalar { text: String, plain: bool },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Clone, Debug)]
struct Node {
    line: usize,
    kind: Kind,
}

#[derive(Default)]
struct TreeBuilder {
    stack: Vec<(Node, usize, Option<Node>)>,
    anchors: HashMap<usize, Node>,
    doc: Option<Node>,
    docs_seen: usize,
    error: Option<(usize, String)>,
}

impl TreeBuilder {
    fn insert(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let Some((parent, _, pending_key)) = self.stack.last_mut() else {
            if self.docs_seen == 0 {
                self.doc = Some(node);
            }
            self.docs_seen += 1;
            return;
        };
        match &mut parent.kind {
            Kind::Seq(items) => items.push(node),
            Kind::Map(entries) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => {
                    if let Kind::Scalar { text, .. } = &key.kind {
                        let dup = entries.iter().any(
                            |(k, _)| matches!(&k.kind, Kind::Scalar { text: t, .. } if t == text),
                        );
                        if dup && self.error.is_none() {
                            self.error =
                                Some((key.line, format!("key {text:?} is set more than once")));
                        }
                    }
                    entries.push((key, node));
                }
            },
            Kind::Scalar { .. } => unreachable!("scalars have no children"),
        }
    }
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let line = mark.line();
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let str_tag = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let plain = style == TScalarStyle::Plain && !str_tag;
                self.insert(
                    Node {
                        line,
                        kind: Kind::Scalar { text, plain },
                    },
                    anchor,
                );
            }
            Event::SequenceStart(anchor, _) => self.stack.push((
                Node {
                    line,
                    kind: Kind::Seq(Vec::new()),
                },
                anchor,
                None,
            )),
            Event::MappingStart(anchor, _) => self.stack.push((
                Node {
                    line,
                    kind: Kind::Map(Vec::new()),
                },
                anchor,
                None,
            )),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((node, anchor, _)) = self.stack.pop() {
                    self.insert(node, anchor);
                }
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().unwrap_or(Node {
                    line,
                    kind: Kind::Scalar {
                        text: String::new(),
                        plain: true,
                    },
                });
                self.insert(node, 0);
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------
// yaml.v2-style scalar decoding

struct Fail {
    line: usize,
    msg: String,
}

type Res<T> = Result<T, Fail>;

fn fail<T>(line: usize, msg: impl Into<String>) -> Res<T> {
    Err(Fail {
        line,
        msg: msg.into(),
    })
}

impl Node {
    fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar { .. } => "a scalar",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }

    fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    fn plain_text(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { text, plain: true } => Some(text),
            _ => None,
        }
    }

    fn string(&self, what: &str) -> Res<String> {
        if self.is_null() {
            return Ok(String::new());
        }
        match &self.kind {
            Kind::Scalar { text, .. } => Ok(text.clone()),
            _ => fail(
                self.line,
                format!("{what}: expected a string, found {}", self.type_name()),
            ),
        }
    }

    fn boolean(&self, what: &str) -> Res<bool> {
        if self.is_null() {
            return Ok(false);
        }
        match self.plain_text() {
            Some(
                "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON",
            ) => Ok(true),
            Some(
                "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off"
                | "OFF",
            ) => Ok(false),
            _ => fail(
                self.line,
                format!("{what}: expected a boolean, found {}", self.describe()),
            ),
        }
    }

    fn describe(&self) -> String {
        match &self.kind {
            Kind::Scalar { text, .. } => format!("{text:?}"),
            _ => self.type_name().to_string(),
        }
    }

    fn float(&self, what: &str) -> Res<f64> {
        if self.is_null() {
            return Ok(0.0);
        }
        match self.plain_text().and_then(parse_yaml_float) {
            Some(v) => Ok(v),
            None => fail(
                self.line,
                format!("{what}: expected a number, found {}", self.describe()),
            ),
        }
    }

    fn uint32(&self, what: &str) -> Res<u32> {
        if self.is_null() {
            return Ok(0);
        }
        match self.plain_text().and_then(parse_yaml_int) {
            Some(v) if (0..=i128::from(u32::MAX)).contains(&v) => Ok(v as u32),
            _ => fail(
                self.line,
                format!(
                    "{what}: expected an unsigned 32-bit integer, found {}",
                    self.describe()
                ),
            ),
        }
    }

    fn duration(&self, what: &str) -> Res<Duration> {
        if self.is_null() {
            return Ok(Duration::ZERO);
        }
        let Kind::Scalar { text, plain } = &self.kind else {
            return fail(
                self.line,
                format!("{what}: expected a duration, found {}", self.type_name()),
            );
        };
        if *plain {
            // yaml.v2 stores a bare integer into a time.Duration as nanoseconds.
            if let Some(n) = parse_yaml_int(text) {
                if n < 0 {
                    return fail(self.line, format!("{what}: negative duration {text:?}"));
                }
                return Ok(Duration::from_nanos(n.min(i128::from(i64::MAX)) as u64));
            }
        }
        parse_go_duration(text).map_err(|e| Fail {
            line: self.line,
            msg: format!("{what}: {e}"),
        })
    }

    fn seq(&self, what: &str) -> Res<&[Node]> {
        if self.is_null() {
            return Ok(&[]);
        }
        match &self.kind {
            Kind::Seq(items) => Ok(items),
            _ => fail(
                self.line,
                format!("{what}: expected a list, found {}", self.type_name()),
            ),
        }
    }

    fn map(&self, what: &str) -> Res<&[(Node, Node)]> {
        if self.is_null() {
            return Ok(&[]);
        }
        match &self.kind {
            Kind::Map(entries) => Ok(entries),
            _ => fail(
                self.line,
                format!("{what}: expected a mapping, found {}", self.type_name()),
            ),
        }
    }
}

fn parse_yaml_int(text: &str) -> Option<i128> {
    let t: String = text.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, &t[..]),
    };
    if body.is_empty() {
        return None;
    }
    let v = if let Some(h) = body.strip_prefix("0x") {
        i128::from_str_radix(h, 16).ok()?
    } else if let Some(b) = body.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()?
    } else if let Some(o) = body.strip_prefix("0o") {
        i128::from_str_radix(o, 8).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        i128::from_str_radix(&body[1..], 8).ok()?
    } else if body.bytes().all(|b| b.is_ascii_digit()) {
        body.parse().ok()?
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

fn parse_yaml_float(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    if let Some(i) = parse_yaml_int(text) {
        return Some(i as f64);
    }
    let t: String = text.chars().filter(|&c| c != '_').collect();
    if t.is_empty()
        || !t
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        || !t.bytes().any(|b| b.is_ascii_digit())
    {
        return None;
    }
    t.parse().ok()
}

/// Go's `time.ParseDuration` (non-negative results only), shared with the flags.
pub(crate) use crate::duration::parse_go_duration;

// ---------------------------------------------------------------------------
// statsd_exporter's validation regexes (pkg/mapper/mapper.go)

fn glob_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^(\*|[a-zA-Z_](-?[a-zA-Z0-9_])*)(\.\*|\.[a-zA-Z0-9_](-?[a-zA-Z0-9_])*)*$")
            .expect("static regex")
    })
}

fn name_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^([a-zA-Z_]|(\$\{?[0-9]+\}?))([a-zA-Z0-9_]|(\$\{?[0-9]+\}?))*$")
            .expect("static regex")
    })
}

fn label_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[a-zA-Z_][a-zA-Z0-9_]+$").expect("static regex"))
}

/// Rewrites Go RE2 Perl classes (`\d \w \s \b` …), which are ASCII-only in
/// Go, into explicit ASCII classes; the Rust crate's are Unicode-aware.
fn go_regex_to_rust(pat: &str) -> String {
    let mut out = String::with_capacity(pat.len() + 16);
    let mut in_class = false;
    let mut chars = pat.chars().peekable();
    let mut class_start = false;
    while let Some(c) = chars.next() {
        if c == '\\' {
            let Some(n) = chars.next() else {
                out.push('\\');
                break;
            };
            let (pos, neg) = match n {
                'd' => ("0-9", false),
                'D' => ("0-9", true),
                'w' => ("0-9A-Za-z_", false),
                'W' => ("0-9A-Za-z_", true),
                's' => (r"\t\n\f\r ", false),
                'S' => (r"\t\n\f\r ", true),
                'b' if !in_class => {
                    out.push_str(r"(?-u:\b)");
                    continue;
                }
                'B' if !in_class => {
                    out.push_str(r"(?-u:\B)");
                    continue;
                }
                _ => {
                    out.push('\\');
                    out.push(n);
                    class_start = false;
                    continue;
                }
            };
            let neg_s = if neg { "^" } else { "" };
            if in_class && !neg {
                out.push_str(pos);
            } else {
                out.push('[');
                out.push_str(neg_s);
                out.push_str(pos);
                out.push(']');
            }
            class_start = false;
            continue;
        }
        if in_class {
            if c == ']' && !class_start {
                in_class = false;
            } else if c == '[' && chars.peek() == Some(&':') {
                // POSIX class like [:alpha:], copy through to the closing `:]`.
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == ']' {
                        break;
                    }
                }
                class_start = false;
                continue;
            }
            class_start = class_start && c == '^';
            out.push(c);
            continue;
        }
        if c == '[' {
            in_class = true;
            class_start = true;
        }
        out.push(c);
    }
    out
}

fn compile_go_regex(pat: &str) -> Result<Regex, String> {
    let translated = go_regex_to_rust(pat);
    match Regex::new(&translated) {
        Ok(r) => Ok(r),
        Err(first) => Regex::new(pat).map_err(|_| first.to_string()),
    }
}

// ---------------------------------------------------------------------------
// Raw (unresolved) config

#[derive(Clone, Copy, Debug, PartialEq)]
enum ObsType {
    Summary,
    Histogram,
}

#[derive(Default)]
struct RawSummary {
    quantiles: Option<Vec<(f64, f64)>>,
    max_age: Duration,
    age_buckets: u32,
    buf_cap: u32,
}

#[derive(Default)]
struct RawHistogram {
    buckets: Option<Vec<f64>>,
}

#[derive(Default)]
struct RawDefaults {
    observer_type: Option<ObsType>,
    match_type: Option<MatchType>,
    glob_disable_ordering: bool,
    ttl: Duration,
    summary: RawSummary,
    histogram: RawHistogram,
}

struct Ctx<'a> {
    file: &'a str,
    warnings: Vec<String>,
}

impl Ctx<'_> {
    fn unknown(&mut self, key: &Node, section: &str) {
        let k = key.describe();
        self.warnings.push(format!(
            "{}:{}: unknown key {k} in {section} (ignored, as statsd_exporter 0.30 does)",
            self.file, key.line
        ));
    }
}

/// A rule's `limits:` (an extension of this exporter; statsd_exporter
/// ignores the key with a warning):
///
/// ```yaml
/// limits:
///   max_series: 5000            # replaces --statsd.max-series-per-family
///   max_label_values: 500       # every label; or per label:
///   # max_label_values: {task_id: 500, dag_id: 100}
///   max_label_value_length: 200
/// ```
fn family_limits(n: &Node) -> Res<FamilyLimits> {
    let mut l = FamilyLimits::default();
    for (k, v) in n.map("limits")? {
        let what = format!("limits.{}", k.string("key")?);
        match what.as_str() {
            "limits.max_series" => l.max_series = Some(v.uint32(&what)? as usize),
            "limits.max_label_value_length" => {
                l.max_label_value_length = Some(v.uint32(&what)? as usize)
            }
            "limits.max_label_values" if matches!(v.kind, Kind::Map(_)) => {
                for (lk, lv) in v.map(&what)? {
                    let label = lk.string("label name")?;
                    if !label_re().is_match(&label) {
                        return fail(lk.line, format!("{what}: invalid label name {label:?}"));
                    }
                    let n = lv.uint32(&format!("{what}.{label}"))? as usize;
                    l.max_label_values_per_label.push((label, n));
                }
                l.max_label_values_per_label.sort();
            }
            "limits.max_label_values" => l.max_label_values = Some(v.uint32(&what)? as usize),
            _ => {
                return fail(
                    k.line,
                    format!(
                        "unknown key {what}: expected max_series, max_label_values or max_label_value_length"
                    ),
                )
            }
        }
    }
    Ok(l)
}

fn observer_type(n: &Node, what: &str) -> Res<Option<ObsType>> {
    match n.string(what)?.as_str() {
        "histogram" => Ok(Some(ObsType::Histogram)),
        // yaml.v2 + ObserverType.UnmarshalYAML: an explicit "" means summary.
        "summary" | "" => Ok(Some(ObsType::Summary)),
        // Not a statsd_exporter value; accepted as "inherit from defaults".
        "default" => Ok(None),
        other => fail(n.line, format!("invalid observer type {other:?}")),
    }
}

fn match_type(n: &Node) -> Res<MatchType> {
    match n.string("match_type")?.as_str() {
        "glob" | "" => Ok(MatchType::Glob),
        // statsd_exporter accepts "fsm" and, having no branch for it, treats
        // it like a regex.
        "regex" | "fsm" => Ok(MatchType::Regex),
        other => fail(n.line, format!("invalid match type {other:?}")),
    }
}

fn quantiles(n: &Node, what: &str, ctx: &mut Ctx) -> Res<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    for item in n.seq(what)? {
        let mut q = 0.0;
        let mut e = 0.0;
        for (k, v) in item.map(what)? {
            match k.string("key")?.as_str() {
                "quantile" => q = v.float("quantile")?,
                "error" => e = v.float("error")?,
                _ => ctx.unknown(k, what),
            }
        }
        if !(0.0..=1.0).contains(&q) {
            return fail(
                item.line,
                format!("invalid quantile {q}: must be between 0 and 1"),
            );
        }
        if !(0.0..=1.0).contains(&e) {
            return fail(
                item.line,
                format!("invalid quantile error {e}: must be between 0 and 1"),
            );
        }
        out.push((q, e));
    }
    Ok(out)
}

fn buckets(n: &Node, what: &str) -> Res<Vec<f64>> {
    let mut out: Vec<f64> = Vec::new();
    for item in n.seq(what)? {
        let b = item.float(what)?;
        if b.is_nan() {
            return fail(item.line, "histogram bucket is NaN");
        }
        if let Some(&prev) = out.last() {
            if b <= prev {
                return fail(
                    item.line,
                    format!(
                        "histogram buckets must be in strictly increasing order: {b} follows {prev}"
                    ),
                );
            }
        }
        out.push(b);
    }
    Ok(out)
}

fn summary_options(n: &Node, ctx: &mut Ctx) -> Res<RawSummary> {
    let mut s = RawSummary::default();
    for (k, v) in n.map("summary_options")? {
        match k.string("key")?.as_str() {
            "quantiles" => s.quantiles = Some(quantiles(v, "summary_options.quantiles", ctx)?),
            "max_age" => s.max_age = v.duration("max_age")?,
            "age_buckets" => s.age_buckets = v.uint32("age_buckets")?,
            "buf_cap" => s.buf_cap = v.uint32("buf_cap")?,
            _ => ctx.unknown(k, "summary_options"),
        }
    }
    Ok(s)
}

fn histogram_options(n: &Node, ctx: &mut Ctx) -> Res<RawHistogram> {
    let mut h = RawHistogram::default();
    for (k, v) in n.map("histogram_options")? {
        match k.string("key")?.as_str() {
            "buckets" => h.buckets = Some(buckets(v, "histogram_options.buckets")?),
            // Accepted and ignored: no native histograms here.
            "native_histogram_bucket_factor" => {
                v.float("native_histogram_bucket_factor")?;
            }
            "native_histogram_max_buckets" => {
                v.uint32("native_histogram_max_buckets")?;
            }
            _ => ctx.unknown(k, "histogram_options"),
        }
    }
    Ok(h)
}

fn defaults_section(n: &Node, ctx: &mut Ctx) -> Res<RawDefaults> {
    let mut d = RawDefaults::default();
    let mut obs: Option<Option<ObsType>> = None;
    let mut timer: Option<Option<ObsType>> = None;
    let mut legacy_buckets = None;
    let mut legacy_quantiles = None;
    let mut summary: Option<RawSummary> = None;
    let mut histogram: Option<RawHistogram> = None;
    for (k, v) in n.map("defaults")? {
        match k.string("key")?.as_str() {
            "observer_type" => obs = Some(observer_type(v, "defaults.observer_type")?),
            "timer_type" => timer = Some(observer_type(v, "defaults.timer_type")?),
            "buckets" => legacy_buckets = Some(buckets(v, "defaults.buckets")?),
            "quantiles" => legacy_quantiles = Some(quantiles(v, "defaults.quantiles", ctx)?),
            "match_type" => d.match_type = Some(match_type(v)?),
            "glob_disable_ordering" => {
                d.glob_disable_ordering = v.boolean("glob_disable_ordering")?
            }
            "ttl" => d.ttl = v.duration("defaults.ttl")?,
            "summary_options" if !v.is_null() => summary = Some(summary_options(v, ctx)?),
            "histogram_options" if !v.is_null() => histogram = Some(histogram_options(v, ctx)?),
            "summary_options" | "histogram_options" => {}
            _ => ctx.unknown(k, "defaults"),
        }
    }
    d.observer_type = obs.or(timer).flatten();
    d.summary = summary.unwrap_or_default();
    d.histogram = histogram.unwrap_or_default();
    // mapper_defaults.go: the deprecated lists *replace* the whole options
    // block when the new-style list is empty.
    if d.summary.quantiles.as_ref().map_or(true, |q| q.is_empty()) {
        if let Some(q) = legacy_quantiles.filter(|q| !q.is_empty()) {
            d.summary = RawSummary {
                quantiles: Some(q),
                ..RawSummary::default()
            };
        }
    }
    if d.histogram.buckets.as_ref().map_or(true, |b| b.is_empty()) {
        if let Some(b) = legacy_buckets.filter(|b| !b.is_empty()) {
            d.histogram = RawHistogram { buckets: Some(b) };
        }
    }
    Ok(d)
}

fn resolve_summary(rule: Option<&RawSummary>, defaults: &SummaryOptions) -> SummaryOptions {
    let mut s = defaults.clone();
    if let Some(r) = rule {
        if let Some(q) = r.quantiles.as_ref().filter(|q| !q.is_empty()) {
            s.quantiles = q.clone();
        }
        if r.max_age != Duration::ZERO {
            s.max_age = r.max_age;
        }
        if r.age_buckets != 0 {
            s.age_buckets = r.age_buckets;
        }
        if r.buf_cap != 0 {
            s.buf_cap = r.buf_cap;
        }
    }
    s
}

/// Parses and compiles a mapping file.
pub(crate) fn load(text: &str, file: &str) -> Result<Mapper, ConfigError> {
    let err = |line: Option<usize>, rule: Option<(usize, String)>, message: String| ConfigError {
        file: file.to_string(),
        line,
        rule,
        message,
    };

    let mut builder = TreeBuilder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        return Err(err(
            Some(e.marker().line()),
            None,
            format!("invalid YAML: {}", e.info()),
        ));
    }
    if let Some((line, msg)) = builder.error.take() {
        return Err(err(Some(line), None, format!("invalid YAML: {msg}")));
    }
    let mut ctx = Ctx {
        file,
        warnings: Vec::new(),
    };
    if builder.docs_seen > 1 {
        ctx.warnings.push(format!(
            "{file}: the file holds {} YAML documents; only the first is used",
            builder.docs_seen
        ));
    }

    let top_fail = |f: Fail| err(Some(f.line), None, f.msg);
    let mut raw_defaults = RawDefaults::default();
    let mut mapping_nodes: &[Node] = &[];
    if let Some(doc) = &builder.doc {
        for (k, v) in doc.map("top level").map_err(top_fail)? {
            match k.string("key").map_err(top_fail)?.as_str() {
                "defaults" => raw_defaults = defaults_section(v, &mut ctx).map_err(top_fail)?,
                "mappings" => mapping_nodes = v.seq("mappings").map_err(top_fail)?,
                _ => ctx.unknown(k, "the top level"),
            }
        }
    }

    // Resolved defaults (mapper.go InitFromYAMLString + registry defaults).
    let default_summary = SummaryOptions {
        quantiles: raw_defaults
            .summary
            .quantiles
            .clone()
            .filter(|q| !q.is_empty())
            .unwrap_or_else(|| DEFAULT_QUANTILES.to_vec()),
        max_age: if raw_defaults.summary.max_age.is_zero() {
            DEFAULT_MAX_AGE
        } else {
            raw_defaults.summary.max_age
        },
        age_buckets: match raw_defaults.summary.age_buckets {
            0 => DEFAULT_AGE_BUCKETS,
            n => n,
        },
        buf_cap: match raw_defaults.summary.buf_cap {
            0 => DEFAULT_BUF_CAP,
            n => n,
        },
    };
    let default_histogram = HistogramOptions {
        buckets: raw_defaults
            .histogram
            .buckets
            .clone()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| DEFAULT_BUCKETS.to_vec()),
    };
    let defaults = Defaults {
        observer: match raw_defaults.observer_type {
            Some(ObsType::Histogram) => ObserverOptions::Histogram(default_histogram.clone()),
            _ => ObserverOptions::Summary(default_summary.clone()),
        },
        ttl: raw_defaults.ttl,
        match_type: raw_defaults.match_type.unwrap_or(MatchType::Glob),
        glob_disable_ordering: raw_defaults.glob_disable_ordering,
    };

    let mut fsm = Fsm::new(defaults.glob_disable_ordering);
    let mut has_glob = false;
    let mut rules: Vec<Arc<Rule>> = Vec::with_capacity(mapping_nodes.len());
    let mut regex_rules = Vec::new();

    for (index, node) in mapping_nodes.iter().enumerate() {
        // The match text first, so every error can name the rule.
        let mut match_text = String::new();
        if let Kind::Map(entries) = &node.kind {
            for (k, v) in entries {
                if matches!(&k.kind, Kind::Scalar { text, .. } if text == "match") {
                    match_text = v.string("match").unwrap_or_default();
                }
            }
        }
        let rule_ctx = Some((index, match_text.clone()));
        let rfail = |f: Fail| err(Some(f.line), rule_ctx.clone(), f.msg);
        let entries = node.map("mapping").map_err(rfail)?;

        let mut match_line = node.line;
        let mut name: Option<(String, usize)> = None;
        let mut labels: Vec<(String, String, usize)> = Vec::new();
        let mut honor_labels = false;
        let mut obs: Option<Option<ObsType>> = None;
        let mut timer: Option<Option<ObsType>> = None;
        let mut legacy_buckets: Option<(Vec<f64>, usize)> = None;
        let mut legacy_quantiles: Option<(Vec<(f64, f64)>, usize)> = None;
        let mut mtype: Option<MatchType> = None;
        let mut help = String::new();
        let mut action = Action::Map;
        let mut metric_type: Option<MetricKind> = None;
        let mut ttl = Duration::ZERO;
        let mut summary: Option<(RawSummary, usize)> = None;
        let mut histogram: Option<(RawHistogram, usize)> = None;
        let mut scale: Option<f64> = None;
        let mut limits: Option<FamilyLimits> = None;

        for (k, v) in entries {
            let key = k.string("key").map_err(rfail)?;
            let r: Res<()> = (|| {
                match key.as_str() {
                    "match" => match_line = v.line,
                    "name" => name = Some((v.string("name")?, v.line)),
                    "labels" => {
                        for (lk, lv) in v.map("labels")? {
                            labels.push((
                                lk.string("label name")?,
                                lv.string("label value")?,
                                lk.line,
                            ));
                        }
                    }
                    "honor_labels" => honor_labels = v.boolean("honor_labels")?,
                    "observer_type" => obs = Some(observer_type(v, "observer_type")?),
                    "timer_type" => timer = Some(observer_type(v, "timer_type")?),
                    "buckets" => legacy_buckets = Some((buckets(v, "buckets")?, v.line)),
                    "quantiles" => {
                        legacy_quantiles = Some((quantiles(v, "quantiles", &mut ctx)?, v.line))
                    }
                    "match_type" => mtype = Some(match_type(v)?),
                    "help" => help = v.string("help")?,
                    "action" => {
                        action = match v.string("action")?.as_str() {
                            "map" | "" => Action::Map,
                            "drop" => Action::Drop,
                            other => return fail(v.line, format!("invalid action {other:?}")),
                        }
                    }
                    "match_metric_type" => {
                        metric_type = Some(match v.string("match_metric_type")?.as_str() {
                            "counter" => MetricKind::Counter,
                            "gauge" => MetricKind::Gauge,
                            "observer" | "timer" => MetricKind::Observer,
                            other => return fail(v.line, format!("invalid metric type {other:?}")),
                        })
                    }
                    "ttl" => ttl = v.duration("ttl")?,
                    "summary_options" if !v.is_null() => {
                        summary = Some((summary_options(v, &mut ctx)?, v.line))
                    }
                    "histogram_options" if !v.is_null() => {
                        histogram = Some((histogram_options(v, &mut ctx)?, v.line))
                    }
                    "summary_options" | "histogram_options" => {}
                    "scale" => scale = Some(v.float("scale")?),
                    "limits" => limits = Some(family_limits(v)?),
                    _ => ctx.unknown(k, &format!("mapping #{}", index + 1)),
                }
                Ok(())
            })();
            r.map_err(rfail)?;
        }

        let fail_at = |line: usize, msg: String| err(Some(line), rule_ctx.clone(), msg);

        // Labels: names validated with statsd_exporter's labelNameRE.
        for (lname, _, line) in &labels {
            if !label_re().is_match(lname) {
                return Err(fail_at(
                    *line,
                    format!(
                        "invalid label name {lname:?}: must match ^[a-zA-Z_][a-zA-Z0-9_]+$ (at least two characters)"
                    ),
                ));
            }
        }
        let (name_text, name_line) = match name {
            Some((n, l)) if !n.is_empty() => (n, l),
            _ if action == Action::Drop => {
                ctx.warnings.push(format!(
                    "{file}:{}: mapping #{} (match {:?}) has action drop but no name; statsd_exporter would reject it",
                    node.line,
                    index + 1,
                    match_text
                ));
                (String::new(), node.line)
            }
            _ => {
                return Err(fail_at(
                    node.line,
                    "metric mapping didn't set a metric name".to_string(),
                ))
            }
        };
        if !name_text.is_empty() && !name_re().is_match(&name_text) {
            return Err(fail_at(
                name_line,
                format!(
                    "invalid metric name {name_text:?}: must match ^([a-zA-Z_]|\\$\\{{?\\d+\\}}?)([a-zA-Z0-9_]|\\$\\{{?\\d+\\}}?)*$"
                ),
            ));
        }
        let match_type = mtype.unwrap_or(defaults.match_type);

        // Observer options (mapper.go + registry.go).
        let own_type = obs.or(timer).flatten();
        let eff_type = own_type.or(raw_defaults.observer_type);
        if let (Some((_, l)), Some(s)) = (&legacy_quantiles, &summary) {
            if s.0.quantiles.is_some() {
                return Err(fail_at(
                    *l,
                    "cannot use quantiles in both the top level and summary options at the same time"
                        .to_string(),
                ));
            }
        }
        if let (Some((_, l)), Some(h)) = (&legacy_buckets, &histogram) {
            if h.0.buckets.is_some() {
                return Err(fail_at(
                    *l,
                    "cannot use buckets in both the top level and histogram options at the same time"
                        .to_string(),
                ));
            }
        }
        let observer = match eff_type {
            Some(ObsType::Histogram) => {
                if let Some((_, l)) = &summary {
                    return Err(fail_at(
                        *l,
                        "cannot use histogram observer and summary options at the same time"
                            .to_string(),
                    ));
                }
                let mut b = histogram
                    .as_ref()
                    .and_then(|(h, _)| h.buckets.clone())
                    .unwrap_or_default();
                if let Some((lb, _)) = &legacy_buckets {
                    if !lb.is_empty() {
                        b = lb.clone();
                    }
                }
                if b.is_empty() {
                    b = default_histogram.buckets.clone();
                }
                ObserverOptions::Histogram(HistogramOptions { buckets: b })
            }
            Some(ObsType::Summary) => {
                if let Some((_, l)) = &histogram {
                    return Err(fail_at(
                        *l,
                        "cannot use summary observer and histogram options at the same time"
                            .to_string(),
                    ));
                }
                let mut raw = summary.map(|(s, _)| s).unwrap_or_default();
                if let Some((lq, _)) = &legacy_quantiles {
                    if !lq.is_empty() {
                        raw.quantiles = Some(lq.clone());
                    }
                }
                ObserverOptions::Summary(resolve_summary(Some(&raw), &default_summary))
            }
            None => {
                // No observer type anywhere: statsd_exporter skips its
                // per-rule option handling, so the deprecated top-level
                // lists are ignored; summary_options still apply field by
                // field (registry.go), histogram_options are ignored.
                if legacy_quantiles.is_some() || legacy_buckets.is_some() || histogram.is_some() {
                    ctx.warnings.push(format!(
                        "{file}:{}: mapping #{} (match {:?}): no observer_type/timer_type is set, so its top-level quantiles/buckets and histogram_options are ignored (as in statsd_exporter)",
                        node.line, index + 1, match_text
                    ));
                }
                ObserverOptions::Summary(resolve_summary(
                    summary.as_ref().map(|(s, _)| s),
                    &default_summary,
                ))
            }
        };
        let ttl = if ttl.is_zero() { defaults.ttl } else { ttl };

        // Compile the matcher and templates.
        let mut regex = None;
        let (name_tpl, label_tpls): (Template, Vec<(String, Template)>);
        labels.sort_by(|a, b| a.0.cmp(&b.0));
        if match_type == MatchType::Glob {
            if !glob_re().is_match(&match_text) {
                return Err(fail_at(
                    match_line,
                    format!("invalid glob pattern {match_text:?}: components must match [a-zA-Z0-9_] with single inner dashes (the first may not start with a digit), or be *"),
                ));
            }
            has_glob = true;
            let (captures, prior) = fsm.add(&match_text, metric_type, index);
            match prior {
                Some(None) => ctx.warnings.push(format!(
                    "{file}:{}: mapping #{} (match {:?}) can never match: an earlier, longer glob rule passes through the same path and statsd_exporter's FSM then gives this rule no result",
                    node.line, index + 1, match_text
                )),
                Some(Some(r)) if r != index => ctx.warnings.push(format!(
                    "{file}:{}: mapping #{} (match {:?}) is shadowed by mapping #{} with the same pattern",
                    node.line, index + 1, match_text, r + 1
                )),
                _ => {}
            }
            name_tpl = Template::glob(&name_text, captures);
            label_tpls = labels
                .iter()
                .map(|(k, v, _)| (k.clone(), Template::glob(v, captures)))
                .collect();
        } else {
            let re = compile_go_regex(&match_text)
                .map_err(|e| fail_at(match_line, format!("invalid regex {match_text:?}: {e}")))?;
            name_tpl = Template::regex(&name_text, &re);
            label_tpls = labels
                .iter()
                .map(|(k, v, _)| (k.clone(), Template::regex(v, &re)))
                .collect();
            regex = Some(re);
            regex_rules.push(index);
        }
        let static_name = name_tpl
            .as_static()
            .filter(|s| !s.is_empty())
            .map(|s| escape_metric_name(s).into_owned());

        rules.push(Arc::new(Rule {
            index,
            line: node.line,
            match_text,
            match_type,
            match_metric_type: metric_type,
            action,
            help: (!help.is_empty()).then_some(help),
            honor_labels,
            observer,
            ttl,
            scale,
            limits,
            name_template: name_text,
            name: name_tpl,
            static_name,
            labels: label_tpls,
            regex,
        }));
    }

    let glob_texts: Vec<&str> = rules
        .iter()
        .filter(|r| r.match_type == MatchType::Glob)
        .map(|r| r.match_text.as_str())
        .collect();
    let fsm = if has_glob {
        let mut w = Vec::new();
        fsm.backtracking_needed =
            needs_backtracking(&glob_texts, defaults.glob_disable_ordering, &mut w);
        ctx.warnings
            .extend(w.into_iter().map(|m| format!("{file}: {m}")));
        Some(fsm)
    } else {
        None
    };

    Ok(Mapper {
        defaults,
        rules,
        fsm,
        regex_rules,
        warnings: ctx.warnings,
    })
}
