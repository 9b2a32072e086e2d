//! statsd_exporter-compatible metric mapping: the YAML mapping file
//! (`--statsd.mapping-config`), glob and regex rules, and the lookup cache.
//!
//! * [`Mapper`] is loaded once (per reload) and is immutable: `Send + Sync`.
//! * [`Mapper::map`] turns a StatsD name and metric kind into a
//!   [`MapOutcome`], with statsd_exporter's matching order: all glob rules
//!   first (FSM with backtracking, see `glob.rs`), then regex rules in file
//!   order.
//! * [`MapCache`] is the bounded `--statsd.cache-size` cache in front of it.

mod cache;
mod config;
mod glob;
mod template;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;

use crate::escape::escape_metric_name;
use crate::sample::MetricKind;
use crate::store::FamilyLimits;

pub use cache::{CacheType, MapCache};
pub use config::ConfigError;

use glob::{Fsm, Scratch};
use template::{Span, Template};

/// `match_type` of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchType {
    Glob,
    Regex,
}

/// `action` of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Map,
    Drop,
}

/// Resolved options for observers (timers, histograms, distributions).
#[derive(Clone, Debug, PartialEq)]
pub enum ObserverOptions {
    Summary(SummaryOptions),
    Histogram(HistogramOptions),
}

/// Summary options, fully resolved (no zero "use the default" values left).
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryOptions {
    /// `(quantile, allowed error)` in file order.
    pub quantiles: Vec<(f64, f64)>,
    pub max_age: Duration,
    pub age_buckets: u32,
    pub buf_cap: u32,
}

/// Histogram options, fully resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramOptions {
    /// Upper bounds, strictly increasing (a trailing `+Inf` is allowed).
    pub buckets: Vec<f64>,
}

/// client_golang's `DefObjectives` as used by statsd_exporter.
pub const DEFAULT_QUANTILES: [(f64, f64); 3] = [(0.5, 0.05), (0.9, 0.01), (0.99, 0.001)];
/// `prometheus.DefBuckets`.
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// client_golang `DefMaxAge`.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);
/// client_golang `DefAgeBuckets`.
pub const DEFAULT_AGE_BUCKETS: u32 = 5;
/// client_golang `DefBufCap`.
pub const DEFAULT_BUF_CAP: u32 = 500;

impl Default for SummaryOptions {
    fn default() -> Self {
        SummaryOptions {
            quantiles: DEFAULT_QUANTILES.to_vec(),
            max_age: DEFAULT_MAX_AGE,
            age_buckets: DEFAULT_AGE_BUCKETS,
            buf_cap: DEFAULT_BUF_CAP,
        }
    }
}

impl Default for HistogramOptions {
    fn default() -> Self {
        HistogramOptions {
            buckets: DEFAULT_BUCKETS.to_vec(),
        }
    }
}

/// The resolved `defaults:` section. `observer` and `ttl` are also what
/// unmapped metrics get.
#[derive(Clone, Debug, PartialEq)]
pub struct Defaults {
    pub observer: ObserverOptions,
    pub ttl: Duration,
    pub match_type: MatchType,
    pub glob_disable_ordering: bool,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            observer: ObserverOptions::Summary(SummaryOptions::default()),
            ttl: Duration::ZERO,
            match_type: MatchType::Glob,
            glob_disable_ordering: false,
        }
    }
}

/// One mapping rule, with everything resolved against the defaults.
#[derive(Debug)]
pub struct Rule {
    /// 0-based position in the `mappings:` list.
    pub index: usize,
    /// 1-based line of the rule in the file.
    pub line: usize,
    pub match_text: String,
    pub match_type: MatchType,
    pub match_metric_type: Option<MetricKind>,
    pub action: Action,
    pub help: Option<String>,
    pub honor_labels: bool,
    pub observer: ObserverOptions,
    /// Zero means "never expire".
    pub ttl: Duration,
    pub scale: Option<f64>,
    /// The rule's `limits:` for the families it feeds.
    pub limits: Option<FamilyLimits>,
    /// The `name:` template as written (empty for a drop rule without name).
    pub name_template: String,
    name: Template,
    /// Pre-escaped name when the template has no references.
    static_name: Option<String>,
    /// Sorted by label name.
    labels: Vec<(String, Template)>,
    regex: Option<Regex>,
}

impl Rule {
    /// Label names this rule sets, sorted.
    pub fn label_names(&self) -> impl Iterator<Item = &str> {
        self.labels.iter().map(|(k, _)| k.as_str())
    }

    fn outcome(self: &Arc<Self>, src: &str, caps: &[Span]) -> MapOutcome {
        if self.action == Action::Drop {
            return MapOutcome::Dropped { rule: self.clone() };
        }
        let name = match &self.static_name {
            Some(n) => n.clone(),
            None => {
                let raw = self.name.expand(src, caps);
                if raw.is_empty() {
                    return MapOutcome::EmptyName { rule: self.clone() };
                }
                match escape_metric_name(&raw) {
                    Cow::Owned(escaped) => escaped,
                    Cow::Borrowed(_) => raw,
                }
            }
        };
        let labels = self
            .labels
            .iter()
            .map(|(k, t)| (k.clone(), t.expand(src, caps)))
            .collect();
        MapOutcome::Mapped {
            rule: self.clone(),
            name,
            labels,
        }
    }
}

/// The result of looking a name up.
#[derive(Clone, Debug)]
pub enum MapOutcome {
    /// A `map` rule matched. `name` is expanded and escaped; `labels` are the
    /// rule's labels (expanded, not escaped), sorted by name.
    Mapped {
        rule: Arc<Rule>,
        name: String,
        labels: Vec<(String, String)>,
    },
    /// A `drop` rule matched.
    Dropped { rule: Arc<Rule> },
    /// A `map` rule matched but its name expanded to "" (statsd_exporter
    /// counts `statsd_exporter_events_error_total{reason="empty_metric_name"}`
    /// and drops the event).
    EmptyName { rule: Arc<Rule> },
    /// No rule matched: the caller escapes the StatsD name itself.
    Unmapped,
}

impl MapOutcome {
    pub fn rule(&self) -> Option<&Arc<Rule>> {
        match self {
            MapOutcome::Mapped { rule, .. }
            | MapOutcome::Dropped { rule }
            | MapOutcome::EmptyName { rule } => Some(rule),
            MapOutcome::Unmapped => None,
        }
    }
}

/// A loaded mapping configuration.
#[derive(Debug)]
pub struct Mapper {
    defaults: Defaults,
    rules: Vec<Arc<Rule>>,
    fsm: Option<Fsm>,
    /// Indices of regex rules, in file order.
    regex_rules: Vec<usize>,
    warnings: Vec<String>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Mapper {
    /// Parses a mapping file. `source` names it in errors and warnings.
    pub fn from_yaml_str(text: &str, source: &str) -> Result<Mapper, ConfigError> {
        config::load(text, source)
    }

    /// Reads and parses a mapping file.
    pub fn from_file(path: &std::path::Path) -> Result<Mapper, ConfigError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: source.clone(),
            line: None,
            rule: None,
            message: format!("cannot read mapping file: {e}"),
        })?;
        Self::from_yaml_str(&text, &source)
    }

    /// No mapping file: everything is unmapped, defaults apply.
    pub fn empty() -> Mapper {
        Mapper {
            defaults: Defaults::default(),
            rules: Vec::new(),
            fsm: None,
            regex_rules: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub fn defaults(&self) -> &Defaults {
        &self.defaults
    }

    pub fn rules(&self) -> &[Arc<Rule>] {
        &self.rules
    }

    /// Non-fatal findings of the load (unknown keys, dead rules, deprecated
    /// keys…), each naming file and line where known.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Looks `name` up. Pure; allocates only the result.
    pub fn map(&self, name: &str, kind: MetricKind) -> MapOutcome {
        if let Some(fsm) = &self.fsm {
            let hit = SCRATCH.with(|sc| {
                let mut sc = sc.borrow_mut();
                fsm.lookup(name, kind, &mut sc)
                    .map(|i| self.rules[i].outcome(name, &sc.final_captures))
            });
            if let Some(out) = hit {
                return out;
            }
        }
        for &i in &self.regex_rules {
            let rule = &self.rules[i];
            if let Some(t) = rule.match_metric_type {
                if t != kind {
                    continue;
                }
            }
            let re = rule.regex.as_ref().expect("regex rule has a regex");
            if rule.action == Action::Drop {
                if re.is_match(name) {
                    return MapOutcome::Dropped { rule: rule.clone() };
                }
                continue;
            }
            if rule.static_name.is_some()
                && rule.labels.iter().all(|(_, t)| t.as_static().is_some())
            {
                if re.is_match(name) {
                    return rule.outcome(name, &[]);
                }
                continue;
            }
            if let Some(c) = re.captures(name) {
                let mut spans: [Span; 16] = [None; 16];
                if c.len() <= spans.len() {
                    for (k, s) in spans.iter_mut().enumerate().take(c.len()) {
                        *s = c.get(k).map(|m| (m.start(), m.end()));
                    }
                    return rule.outcome(name, &spans[..c.len()]);
                }
                let spans: Vec<Span> = (0..c.len())
                    .map(|k| c.get(k).map(|m| (m.start(), m.end())))
                    .collect();
                return rule.outcome(name, &spans);
            }
        }
        MapOutcome::Unmapped
    }
}

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}
    #[test]
    fn mapper_is_send_sync() {
        assert_send_sync::<super::Mapper>();
        assert_send_sync::<super::MapOutcome>();
    }
}
