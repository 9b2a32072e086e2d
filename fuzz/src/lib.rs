//! Shared pieces of the fuzz targets: input decoding, the mapping configs
//! the mapper and pipeline targets choose from, the `/metrics` assembly, the
//! parser invariants, and the strict exposition validator.

pub mod exposition_check;

use std::sync::Arc;
use std::time::{Duration, Instant};

use airflow_statsd_exporter::exposition::Format;
use airflow_statsd_exporter::ingest::Shared;
use airflow_statsd_exporter::mapping::{CacheType, MapOutcome, Mapper, ObserverOptions};
use airflow_statsd_exporter::parser::{parse_line, ParseOptions, Reject};
use airflow_statsd_exporter::sample::{MetricKind, SampleValue};
use airflow_statsd_exporter::store::{LimitAction, Limits, Store};

/// Separates the parts of an input (config, datagrams, names). Never valid
/// UTF-8, so it cannot hide a real character.
pub const SEP: u8 = 0xff;

/// Parser options from the low five bits of a byte.
pub fn parse_options(b: u8) -> ParseOptions {
    ParseOptions {
        dogstatsd_tags: b & 1 == 0,
        influxdb_tags: b & 2 == 0,
        librato_tags: b & 4 == 0,
        signalfx_tags: b & 8 == 0,
        container_id_label: b & 16 != 0,
    }
}

pub fn metric_kind(b: u8) -> MetricKind {
    match b % 3 {
        0 => MetricKind::Counter,
        1 => MetricKind::Gauge,
        _ => MetricKind::Observer,
    }
}

/// The official Airflow Helm chart's mapping (the compatibility target).
pub const CHART_MAPPINGS: &str = include_str!("../../tests/data/statsd-mappings.yml");

/// A mapping that uses every feature that changes the output: templates in
/// names and labels, reserved label names, honor_labels, scale, help text
/// that needs escaping, summaries with custom quantiles, histograms with an
/// explicit +Inf bucket, drops, regexes, TTLs, metric-type matches, and
/// rules whose name comes straight from the input.
pub const RICH_MAPPINGS: &str = r#"
defaults:
  observer_type: histogram
  histogram_options:
    buckets: [0.01, 1, 10]
mappings:
  - match: "test.dispatcher.*.*.*"
    name: "dispatcher_events_total"
    labels:
      processor: "$1"
      action: "$2"
      outcome: "$3"
      job: "test_dispatcher"
  - match: "*.signup.*.*"
    name: "signup_events_total"
    labels:
      provider: "$2"
      outcome: "$3"
      job: "${1}_server"
  - match: "timer.*"
    observer_type: summary
    name: "timer_$1"
    summary_options:
      quantiles:
        - quantile: 0.99
          error: 0.001
        - quantile: 0.5
          error: 0.05
        - quantile: 0
          error: 0
        - quantile: 1
          error: 0
      max_age: 30s
      age_buckets: 3
      buf_cap: 4
  - match: "hist.*"
    observer_type: histogram
    histogram_options:
      buckets: [-1, 0, 2.5]
    name: "hist_$1"
  - match: "nobuckets.*"
    observer_type: summary
    summary_options:
      quantiles: []
    name: "nobuckets_$1"
  - match: "label.*.*"
    name: "labelled"
    labels:
      le: "$1"
      quantile: "$2"
  - match: "honor.*"
    honor_labels: true
    name: "honor"
    labels:
      key: "$1"
      job: "fixed"
  - match: "scaled.*"
    scale: -1000
    name: "scaled_$1"
    help: "Scaled \\ help\nwith a newline and \"quotes\""
  - match: "big.*"
    scale: 1e300
    name: "big_$1"
  - match: "drop.*"
    action: drop
  - match: "clash.*"
    name: "$1"
  - match: "suffix.*.*"
    name: "${1}_${2}"
  - match: "typed.*"
    match_metric_type: counter
    name: "typed_counter"
  - match: "ttl.*"
    ttl: 1s
    name: "ttl_$1"
  - match: "limited.*.*"
    name: "limited"
    labels:
      la: "$1"
      lb: "$2"
    limits:
      max_series: 3
      max_label_values: {la: 2}
      max_label_value_length: 8
  - match: "(.*)\\.re\\.(.*)"
    match_type: regex
    name: "re_${2}"
    labels:
      first: "$1"
  - match: "^regex_(\\w*)$"
    match_type: regex
    name: "$1"
    labels:
      all: "$0"
"#;

/// The fixed mapping configurations, chosen by a byte of the input.
pub const FIXED_CONFIGS: &[Option<&str>] = &[None, Some(CHART_MAPPINGS), Some(RICH_MAPPINGS)];

/// Known, unfixed bugs of the mapping loader: inputs that would hit one are
/// skipped so a run finds new bugs instead of the same crash. None open now
/// (the three found are fixed; their regression tests are in
/// tests/fuzz_regressions.rs). Returns the regression test's name.
pub fn known_issue_text(_text: &str) -> Option<&'static str> {
    None
}

/// Known, unfixed bugs a loaded mapping would hit (see [`known_issue_text`]).
pub fn known_issue(_m: &Mapper) -> Option<&'static str> {
    None
}

thread_local! {
    static LOADED: Vec<Option<Arc<Mapper>>> = FIXED_CONFIGS
        .iter()
        .map(|c| c.map(|text| Arc::new(Mapper::from_yaml_str(text, "fixed.yml").expect("fixed config loads"))))
        .collect();
}

/// Fixed mapping `i % FIXED_CONFIGS.len()`, loaded once per thread.
pub fn fixed_mapper(i: u8) -> Arc<Mapper> {
    LOADED.with(|l| {
        l[usize::from(i) % l.len()]
            .clone()
            .unwrap_or_else(|| Arc::new(Mapper::empty()))
    })
}

/// The invariants of one parsed line (the parser's property tests, as
/// assertions): finite values, positive finite weights, non-empty names,
/// set members and tag keys, no duplicate tag keys, consistent counts, and
/// a line-level rejection excludes everything else.
pub fn check_parse(line: &[u8], opts: &ParseOptions) {
    let mut out = Vec::new();
    let stats = parse_line(line, opts, &mut out);
    assert_eq!(stats.samples as usize, out.len(), "stats.samples");
    for s in &out {
        assert!(!s.name.is_empty(), "empty name: {s:?}");
        let v = s.value.value();
        assert!(v.is_finite(), "non-finite value: {s:?}");
        if let SampleValue::Observer { weight, .. } = s.value {
            assert!(weight.is_finite() && weight > 0.0, "weight: {s:?}");
        }
        if matches!(s.value, SampleValue::Set) {
            assert!(!s.set_member.is_empty(), "empty set member: {s:?}");
        }
        let mut keys: Vec<&str> = s.tags.iter().map(|(k, _)| k.as_ref()).collect();
        assert!(keys.iter().all(|k| !k.is_empty()), "empty tag key: {s:?}");
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(n, keys.len(), "duplicate tag keys: {s:?}");
    }
    let line_level = [
        Reject::MalformedLine,
        Reject::MixedTaggingStyles,
        Reject::NotEnoughPartsAfterColon,
        Reject::InvalidExtendedAggregateType,
        Reject::InvalidUtf8,
        Reject::EmptyName,
    ];
    if stats.errors.iter().any(|e| line_level.contains(e)) {
        assert!(
            out.is_empty() && stats.errors.len() == 1,
            "line-level rejection with other results: {stats:?} {out:?}"
        );
    }
}

/// The pipeline's switches.
pub struct PipelineFlags {
    pub airflow_profile: bool,
    pub limits: bool,
}

/// Small cardinality limits, so that folding and refusals are reachable.
pub fn small_limits(drop: bool) -> Limits {
    Limits {
        max_series: 12,
        max_series_per_family: 4,
        max_label_values: 3,
        max_label_value_length: 16,
        max_labels: 3,
        action: if drop {
            LimitAction::Drop
        } else {
            LimitAction::Fold
        },
    }
}

/// Builds the shared state of an exporter the way `App::new` does.
pub fn shared(
    mapper: Arc<Mapper>,
    opts: ParseOptions,
    flags: &PipelineFlags,
    drop: bool,
) -> Arc<Shared> {
    let mut store = Store::new(Duration::from_secs(60));
    if flags.limits {
        store = store.with_limits(small_limits(drop));
    }
    let mut shared = Shared::new(mapper, store, opts, 16, CacheType::Lru);
    if flags.airflow_profile {
        shared = shared.with_airflow("airflow");
    }
    Arc::new(shared)
}

/// The `/metrics` body, rendered by the exporter's own function.
pub fn render_metrics(shared: &Shared, now: Instant) -> String {
    airflow_statsd_exporter::app::render_shared(shared, now, Format::Text, 0)
}

/// What the loader promises about a loaded mapping (see `HistogramOptions`
/// and `SummaryOptions`): buckets strictly increasing and not NaN,
/// quantiles in [0, 1], rules numbered in file order.
pub fn check_mapper_config(m: &Mapper) {
    let check = |o: &ObserverOptions, what: &str| match o {
        ObserverOptions::Histogram(h) => {
            assert!(
                h.buckets.iter().all(|b| !b.is_nan()),
                "{what}: NaN bucket {:?}",
                h.buckets
            );
            assert!(
                h.buckets.windows(2).all(|w| w[0] < w[1]),
                "{what}: buckets not increasing {:?}",
                h.buckets
            );
        }
        ObserverOptions::Summary(s) => {
            for (q, e) in &s.quantiles {
                assert!((0.0..=1.0).contains(q), "{what}: quantile {q}");
                assert!((0.0..=1.0).contains(e), "{what}: error {e}");
            }
        }
    };
    check(&m.defaults().observer, "defaults");
    for (i, r) in m.rules().iter().enumerate() {
        assert_eq!(r.index, i, "rule index");
        check(&r.observer, &format!("rule {i}"));
        let names: Vec<&str> = r.label_names().collect();
        assert!(
            names.windows(2).all(|w| w[0] < w[1]),
            "rule {i}: labels {names:?}"
        );
        for n in &names {
            assert!(
                exposition_check::is_label_name(n),
                "rule {i}: label name {n:?}"
            );
        }
    }
}

/// What a lookup promises: a mapped name is a valid (escaped) metric name,
/// labels are sorted, unique, valid label names.
pub fn check_outcome(input: &str, out: &MapOutcome) {
    if let MapOutcome::Mapped { name, labels, .. } = out {
        assert!(
            exposition_check::is_metric_name(name) && !name.contains(':'),
            "{input:?} mapped to invalid name {name:?}"
        );
        for w in labels.windows(2) {
            assert!(
                w[0].0 < w[1].0,
                "{input:?}: labels not sorted/unique {labels:?}"
            );
        }
        for (k, _) in labels {
            assert!(
                exposition_check::is_label_name(k),
                "{input:?}: label name {k:?}"
            );
        }
    }
}

/// A comparable summary of an outcome: variant, rule index, name, labels.
pub fn outcome_key(out: &MapOutcome) -> (u8, Option<usize>, String, Vec<(String, String)>) {
    let rule = out.rule().map(|r| r.index);
    match out {
        MapOutcome::Mapped { name, labels, .. } => (0, rule, name.clone(), labels.clone()),
        MapOutcome::Dropped { .. } => (1, rule, String::new(), Vec::new()),
        MapOutcome::EmptyName { .. } => (2, rule, String::new(), Vec::new()),
        MapOutcome::Unmapped => (3, rule, String::new(), Vec::new()),
    }
}

/// Panics with the whole exposition when it is not valid.
pub fn assert_valid_exposition(text: &str, context: &dyn std::fmt::Debug) {
    if let Err(e) = exposition_check::validate(text) {
        panic!("invalid exposition: {e}\ninput: {context:?}\n--- output ---\n{text}--- end ---");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_configs_load() {
        for (i, c) in FIXED_CONFIGS.iter().enumerate() {
            if let Some(text) = c {
                let m = Mapper::from_yaml_str(text, "fixed.yml")
                    .unwrap_or_else(|e| panic!("config {i}: {e}"));
                assert!(!m.rules().is_empty());
            }
        }
    }
}
