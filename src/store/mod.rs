//! The series registry: families keyed by exposed name, series keyed by
//! their label set, with statsd_exporter's type-locking, conflict and TTL
//! semantics. Pure: the caller passes `now`.

mod labels;
mod summary;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hashbrown::HashTable;

pub use labels::{exposition_cmp, exposition_order, Labels};
pub use summary::SummaryState;

/// The Prometheus type of a family. Sets are exposed as gauges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FamilyType {
    Counter,
    Gauge,
    Histogram,
    Summary,
}

impl FamilyType {
    pub fn as_str(self) -> &'static str {
        match self {
            FamilyType::Counter => "counter",
            FamilyType::Gauge => "gauge",
            FamilyType::Histogram => "histogram",
            FamilyType::Summary => "summary",
        }
    }
}

/// The label value a limited label takes when its series is folded.
pub const OVERFLOW: &str = "__overflow__";

/// What to do with an event that would break a cardinality limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitAction {
    /// Apply it to the family's overflow series, where the offending labels
    /// read `__overflow__`: `sum()` over the family stays exact.
    Fold,
    /// Refuse it (counted).
    Drop,
}

/// Cardinality limits; 0 means "no limit".
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    pub max_series: usize,
    pub max_series_per_family: usize,
    pub max_label_values: usize,
    pub max_label_value_length: usize,
    pub max_labels: usize,
    pub action: LimitAction,
}

impl Limits {
    pub const NONE: Limits = Limits {
        max_series: 0,
        max_series_per_family: 0,
        max_label_values: 0,
        max_label_value_length: 0,
        max_labels: 0,
        action: LimitAction::Fold,
    };
}

/// Limits a mapping rule sets for the families it feeds (the `limits:` key
/// of a rule); `None` keeps the global flag's value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FamilyLimits {
    /// Replaces `--statsd.max-series-per-family` (0 = none).
    pub max_series: Option<usize>,
    /// Replaces `--statsd.max-label-values` for every label (0 = none).
    pub max_label_values: Option<usize>,
    /// Per label name; wins over `max_label_values`. Sorted by name.
    pub max_label_values_per_label: Vec<(String, usize)>,
    /// Replaces `--statsd.max-label-value-length` (0 = none).
    pub max_label_value_length: Option<usize>,
}

impl FamilyLimits {
    fn series(&self, global: &Limits) -> usize {
        self.max_series.unwrap_or(global.max_series_per_family)
    }

    fn label_values(&self, label: &str, global: &Limits) -> usize {
        match self
            .max_label_values_per_label
            .binary_search_by(|(k, _)| k.as_str().cmp(label))
        {
            Ok(i) => self.max_label_values_per_label[i].1,
            Err(_) => self.max_label_values.unwrap_or(global.max_label_values),
        }
    }

    fn value_length(&self, global: &Limits) -> usize {
        self.max_label_value_length
            .unwrap_or(global.max_label_value_length)
    }
}

static NO_FAMILY_LIMITS: FamilyLimits = FamilyLimits {
    max_series: None,
    max_label_values: None,
    max_label_values_per_label: Vec::new(),
    max_label_value_length: None,
};

/// Which limit an event hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LimitReason {
    MaxSeries,
    MaxSeriesPerFamily,
    MaxLabelValues,
    MaxLabelValueLength,
    MaxLabels,
    /// A family already has the maximum number of overflow series (one per
    /// distinct set of label names, at most `MAX_OVERFLOW_SERIES`).
    OverflowSeries,
}

impl LimitReason {
    pub const ALL: [LimitReason; 6] = [
        LimitReason::MaxSeries,
        LimitReason::MaxSeriesPerFamily,
        LimitReason::MaxLabelValues,
        LimitReason::MaxLabelValueLength,
        LimitReason::MaxLabels,
        LimitReason::OverflowSeries,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            LimitReason::MaxSeries => "max_series",
            LimitReason::MaxSeriesPerFamily => "max_series_per_family",
            LimitReason::MaxLabelValues => "max_label_values",
            LimitReason::MaxLabelValueLength => "max_label_value_length",
            LimitReason::MaxLabels => "max_labels",
            LimitReason::OverflowSeries => "overflow_series",
        }
    }
}

/// At most this many overflow series per family (they may exceed the series
/// limits, which is what keeps totals exact).
pub const MAX_OVERFLOW_SERIES: usize = 8;
/// Limit statistics are kept for at most this many families; the rest are
/// counted under `__overflow__`.
const MAX_LIMIT_STAT_FAMILIES: usize = 10_000;

/// What `apply` did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// A new series was created.
    pub created: bool,
    /// The event was folded into an overflow series because of this limit.
    pub folded: Option<LimitReason>,
}

/// How an observation is aggregated.
#[derive(Clone, Debug, PartialEq)]
pub enum ObserveAs {
    Histogram {
        buckets: Arc<[f64]>,
    },
    Summary {
        quantiles: Arc<[f64]>,
        max_age: Duration,
        age_buckets: u32,
        buf_cap: u32,
    },
}

/// One change to apply to a series.
#[derive(Clone, Debug, PartialEq)]
pub enum Op<'a> {
    CounterAdd(f64),
    GaugeSet(f64),
    GaugeAdd(f64),
    Observe {
        value: f64,
        weight: f64,
        how: &'a ObserveAs,
    },
    SetInsert(&'a str),
}

impl Op<'_> {
    fn family_type(&self) -> FamilyType {
        match self {
            Op::CounterAdd(_) => FamilyType::Counter,
            Op::GaugeSet(_) | Op::GaugeAdd(_) | Op::SetInsert(_) => FamilyType::Gauge,
            Op::Observe {
                how: ObserveAs::Histogram { .. },
                ..
            } => FamilyType::Histogram,
            Op::Observe {
                how: ObserveAs::Summary { .. },
                ..
            } => FamilyType::Summary,
        }
    }
}

/// An update addressed to one series.
#[derive(Clone, Debug)]
pub struct Update<'a> {
    pub name: &'a str,
    pub help: &'a str,
    /// Sorted by name, no duplicate names.
    pub labels: &'a [(&'a str, &'a str)],
    pub op: Op<'a>,
    /// Zero: never expires.
    pub ttl: Duration,
    /// The mapping rule's own limits for this family, if it sets any.
    pub limits: Option<&'a FamilyLimits>,
}

/// Why an update was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The name is taken by a family of another type, or it collides with the
    /// `_sum`/`_count`/`_bucket` series of a histogram or summary.
    Conflict,
    /// A set already tracks the maximum number of members in its window.
    SetFull,
    /// A gauge was mixed with a set of the same series, or similar.
    KindMismatch,
    /// A cardinality limit was hit and the limit action is `drop`.
    Limit(LimitReason),
}

#[derive(Clone, Debug)]
pub enum SeriesValue {
    Counter(f64),
    Gauge(f64),
    Set(SetState),
    Histogram {
        buckets: Arc<[f64]>,
        /// Non-cumulative weight per bucket; the last slot is +Inf.
        counts: Box<[f64]>,
        sum: f64,
        count: f64,
    },
    Summary {
        quantiles: Arc<[f64]>,
        state: Box<SummaryState>,
    },
}

/// Distinct members of a StatsD set, by hash, with the time last seen.
#[derive(Clone, Debug, Default)]
pub struct SetState {
    members: HashMap<u64, Instant>,
}

/// A set never tracks more members than this; further new members are refused
/// (and counted) until old ones leave the window.
pub const MAX_SET_MEMBERS: usize = 10_000;

impl SetState {
    fn insert(&mut self, member: &str, now: Instant, window: Duration) -> Result<(), Refusal> {
        let h = fixed_hash(member);
        if self.members.len() >= MAX_SET_MEMBERS && !self.members.contains_key(&h) {
            self.prune(now, window);
            if self.members.len() >= MAX_SET_MEMBERS {
                return Err(Refusal::SetFull);
            }
        }
        self.members.insert(h, now);
        Ok(())
    }

    fn prune(&mut self, now: Instant, window: Duration) {
        self.members
            .retain(|_, seen| now.saturating_duration_since(*seen) <= window);
    }

    fn count(&self, now: Instant, window: Duration) -> usize {
        self.members
            .values()
            .filter(|seen| now.saturating_duration_since(**seen) <= window)
            .count()
    }
}

/// A series as [`Store::series_key`] found it.
#[derive(Clone, Debug)]
pub struct SeriesKey {
    labels: Labels,
    hash: u64,
}

#[derive(Clone, Debug)]
struct Series {
    labels: Labels,
    hash: u64,
    value: SeriesValue,
    last_update: Instant,
    ttl: Duration,
    overflow: bool,
}

impl Series {
    /// An update of an existing series: its value, its TTL, its last update.
    fn update(
        &mut self,
        op: &Op<'_>,
        ttl: Duration,
        now: Instant,
        set_window: Duration,
    ) -> Result<(), Refusal> {
        self.last_update = now;
        self.ttl = ttl;
        apply_op(&mut self.value, op, now, set_window)
    }
}

#[derive(Debug)]
struct Family {
    kind: FamilyType,
    /// Shared with every snapshot (a scrape clones the `Arc`, not the text).
    help: Arc<str>,
    /// `family="<name>"`, for `statsd_exporter_series` (built once).
    name_label: Labels,
    series: HashTable<Series>,
    /// label name → value → number of live series with it.
    label_values: HashMap<Box<str>, HashMap<Box<str>, u32>>,
    overflow_series: usize,
    /// The limits of the rule that last created a series here.
    limits: FamilyLimits,
    /// The label sets as the last snapshot saw them, reused while the
    /// series are the same (see `Shape`).
    shape: Option<Arc<Shape>>,
}

/// A family's label sets in the order its table iterates them, and their
/// exposition order once computed. The table's order only changes when a
/// series is added or removed; a snapshot checks every position (a pointer
/// comparison) and builds a new shape on any difference. So a snapshot
/// clones one `Arc` per unchanged family instead of one per series (each a
/// cache miss, under the store lock), and a family is sorted once per
/// change of its series, not once per scrape.
#[derive(Debug)]
struct Shape {
    labels: Box<[Labels]>,
    order: OnceLock<Box<[u32]>>,
    /// The label texts in exposition order, back to back, and where each
    /// ends: rendering reads them in sequence, not from one allocation per
    /// series.
    texts: OnceLock<(String, Box<[usize]>)>,
}

impl Shape {
    fn new(labels: Box<[Labels]>) -> Shape {
        Shape {
            labels,
            order: OnceLock::new(),
            texts: OnceLock::new(),
        }
    }

    fn order(&self) -> &[u32] {
        self.order
            .get_or_init(|| exposition_order(&self.labels).into_boxed_slice())
    }

    fn texts(&self) -> &(String, Box<[usize]>) {
        self.texts.get_or_init(|| {
            let order = self.order();
            let mut text = String::with_capacity(
                order
                    .iter()
                    .map(|&i| self.labels[i as usize].rendered().len())
                    .sum(),
            );
            let ends = order
                .iter()
                .map(|&i| {
                    text.push_str(self.labels[i as usize].rendered());
                    text.len()
                })
                .collect();
            (text, ends)
        })
    }
}

impl Family {
    fn new(name: &str, kind: FamilyType, help: &str) -> Self {
        Family {
            kind,
            help: help.into(),
            name_label: [("family", name)].into_iter().collect(),
            series: HashTable::new(),
            label_values: HashMap::new(),
            overflow_series: 0,
            limits: FamilyLimits::default(),
            shape: None,
        }
    }

    fn find(&mut self, labels: &[(&str, &str)]) -> Option<&mut Series> {
        let hash = labels_hash(labels);
        self.series
            .find_mut(hash, |s| s.hash == hash && s.labels.matches(labels))
    }

    fn track(&mut self, labels: &Labels, delta: i32) {
        for (k, v) in labels.iter() {
            if !self.label_values.contains_key(k) {
                self.label_values.insert(k.into(), HashMap::new());
            }
            let values = self.label_values.get_mut(k).expect("inserted above");
            if !values.contains_key(&*v) {
                values.insert(v.as_ref().into(), 0);
            }
            let n = values.get_mut(&*v).expect("inserted above");
            *n = n.saturating_add_signed(delta);
            if *n == 0 {
                values.remove(&*v);
                if values.is_empty() {
                    self.label_values.remove(k);
                }
            }
        }
    }

    fn knows_value(&self, label: &str, value: &str) -> bool {
        self.label_values
            .get(label)
            .is_some_and(|v| v.contains_key(value))
    }

    fn distinct_values(&self, label: &str) -> usize {
        self.label_values
            .get(label)
            .map_or(0, |v| v.len() - usize::from(v.contains_key(OVERFLOW)))
    }
}

/// The store. One per process; callers wrap it in a mutex.
#[derive(Debug)]
pub struct Store {
    /// Looked up once per sample: foldhash, not SipHash.
    /// Keys shared with snapshots, like `Family::help`.
    families: HashMap<Arc<str>, Family, foldhash::fast::RandomState>,
    set_window: Duration,
    series_count: usize,
    limits: Limits,
    /// (family, reason, folded?) → events; bounded.
    limit_stats: HashMap<(Box<str>, LimitReason, bool), u64>,
}

/// What a sweep removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    pub series_expired: usize,
    pub families_removed: usize,
}

/// Deterministic across runs (a fixed seed) so tests are repeatable;
/// foldhash reads 8–16 bytes per step where FNV took one.
fn hasher() -> impl Hasher {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x5eed_a1f0_57a7_5d00).build_hasher()
}

fn fixed_hash(s: &str) -> u64 {
    let mut h = hasher();
    s.hash(&mut h);
    h.finish()
}

fn labels_hash(labels: &[(&str, &str)]) -> u64 {
    let mut h = hasher();
    for (k, v) in labels {
        // `str`'s Hash appends a terminator, so ("ab","c") ≠ ("a","bc").
        k.hash(&mut h);
        v.hash(&mut h);
    }
    h.finish()
}

impl Store {
    pub fn new(set_window: Duration) -> Self {
        Store {
            families: HashMap::default(),
            set_window,
            series_count: 0,
            limits: Limits::NONE,
            limit_stats: HashMap::new(),
        }
    }

    /// Sets the cardinality limits. Existing series keep updating at a
    /// limit; only new ones are folded or refused.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Folded (`true`) and dropped (`false`) events by family and reason.
    pub fn limit_stats(&self) -> impl Iterator<Item = (&str, LimitReason, bool, u64)> {
        self.limit_stats
            .iter()
            .map(|((f, r, folded), n)| (&**f, *r, *folded, *n))
    }

    fn count_limit(&mut self, family: &str, reason: LimitReason, folded: bool) {
        let known = self.limit_stats.len() < MAX_LIMIT_STAT_FAMILIES * 2
            || self
                .limit_stats
                .contains_key(&(family.into(), reason, folded));
        let family: Box<str> = if known {
            family.into()
        } else {
            OVERFLOW.into()
        };
        *self
            .limit_stats
            .entry((family, reason, folded))
            .or_insert(0) += 1;
    }

    pub fn series_count(&self) -> usize {
        self.series_count
    }

    pub fn family_count(&self) -> usize {
        self.families.len()
    }

    /// True when creating a family `name` of type `kind` would clash with an
    /// existing family: same name with another type, or a histogram/summary
    /// whose `_sum`/`_count`/`_bucket` series would duplicate another family.
    fn conflicts(&self, name: &str, kind: FamilyType) -> bool {
        let other_type = |n: &str| self.families.get(n).is_some_and(|f| f.kind != kind);
        if other_type(name) {
            return true;
        }
        let suffixes: &[&str] = match kind {
            FamilyType::Histogram => &["_sum", "_count", "_bucket"],
            FamilyType::Summary => &["_sum", "_count"],
            _ => &[],
        };
        let mut buf = String::with_capacity(name.len() + 7);
        for s in suffixes {
            buf.clear();
            buf.push_str(name);
            buf.push_str(s);
            if self.families.contains_key(buf.as_str()) {
                return true;
            }
        }
        // The reverse: `x_count` while `x` is a histogram or summary.
        for (suffix, kinds) in [
            ("_sum", &[FamilyType::Histogram, FamilyType::Summary][..]),
            ("_count", &[FamilyType::Histogram, FamilyType::Summary][..]),
            ("_bucket", &[FamilyType::Histogram][..]),
        ] {
            if let Some(base) = name.strip_suffix(suffix) {
                if let Some(f) = self.families.get(base) {
                    if kinds.contains(&f.kind) {
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Applies one update, folding or refusing it when it would break a
    /// cardinality limit.
    pub fn apply(&mut self, u: &Update<'_>, now: Instant) -> Result<Applied, Refusal> {
        let kind = u.op.family_type();
        let set_window = self.set_window;
        match self.families.get_mut(u.name) {
            Some(f) if f.kind != kind => return Err(Refusal::Conflict),
            Some(f) => {
                if let Some(series) = f.find(u.labels) {
                    series.update(&u.op, u.ttl, now, set_window)?;
                    return Ok(Applied::default());
                }
            }
            None => {
                if self.conflicts(u.name, kind) {
                    return Err(Refusal::Conflict);
                }
                // A new family has no overflow series to fold into: at the
                // global limit it is refused (else every new name would
                // bring one more series), and counted under `__overflow__`.
                let at_global =
                    self.limits.max_series != 0 && self.series_count >= self.limits.max_series;
                if at_global {
                    self.count_limit(OVERFLOW, LimitReason::MaxSeries, false);
                    return Err(Refusal::Limit(LimitReason::MaxSeries));
                }
                self.families
                    .insert(u.name.into(), Family::new(u.name, kind, u.help));
            }
        }
        let result = self.create(u, now);
        let family = self.families.get(u.name).expect("present");
        if family.series.is_empty() {
            self.families.remove(u.name);
        }
        result
    }

    /// The key of the existing series `labels` of family `name`, for
    /// [`Store::apply_known`].
    pub fn series_key(&mut self, name: &str, labels: &[(&str, &str)]) -> Option<SeriesKey> {
        let s = self.families.get_mut(name)?.find(labels)?;
        Some(SeriesKey {
            labels: s.labels.clone(),
            hash: s.hash,
        })
    }

    /// `apply` for a series known by its key: exactly `apply`'s path for an
    /// existing series, without hashing or comparing label text (the key
    /// shares the series' label allocation). `None` when that path does not
    /// apply (the series expired, the family changed type): call `apply`.
    pub fn apply_known(
        &mut self,
        name: &str,
        key: &SeriesKey,
        op: &Op<'_>,
        ttl: Duration,
        now: Instant,
    ) -> Option<Result<Applied, Refusal>> {
        let set_window = self.set_window;
        let f = self.families.get_mut(name)?;
        if f.kind != op.family_type() {
            return None;
        }
        let series = f.series.find_mut(key.hash, |s| {
            s.hash == key.hash && s.labels.same(&key.labels)
        })?;
        Some(
            series
                .update(op, ttl, now, set_window)
                .map(|_| Applied::default()),
        )
    }

    /// Creates the series of `u` (known not to exist), applying the limits.
    fn create(&mut self, u: &Update<'_>, now: Instant) -> Result<Applied, Refusal> {
        let (result, counted) = self.create_inner(u, now);
        if let Some((reason, folded)) = counted {
            self.count_limit(u.name, reason, folded);
        }
        result
    }

    /// The limit logic; returns what to count separately (borrowck).
    fn create_inner(
        &mut self,
        u: &Update<'_>,
        now: Instant,
    ) -> (Result<Applied, Refusal>, Option<(LimitReason, bool)>) {
        let limits = self.limits.clone();
        let set_window = self.set_window;
        let global_full = limits.max_series != 0 && self.series_count >= limits.max_series;
        let family = self.families.get_mut(u.name).expect("caller inserted it");
        // A rule's own limits apply from its next new series on (also after
        // a reload changed them).
        let own = u.limits.unwrap_or(&NO_FAMILY_LIMITS);
        if family.limits != *own {
            family.limits = own.clone();
        }
        let max_family_series = own.series(&limits);
        let max_value_length = own.value_length(&limits);
        let mut labels: Vec<(&str, &str)> = u.labels.to_vec();
        let mut reason = None;
        if limits.max_labels != 0 && labels.len() > limits.max_labels {
            labels.truncate(limits.max_labels);
            reason = Some(LimitReason::MaxLabels);
        }
        for (k, v) in labels.iter_mut() {
            let max_values = own.label_values(k, &limits);
            if max_value_length != 0 && v.len() > max_value_length {
                *v = OVERFLOW;
                reason = Some(LimitReason::MaxLabelValueLength);
            } else if max_values != 0
                && *v != OVERFLOW
                && !family.knows_value(k, v)
                && family.distinct_values(k) >= max_values
            {
                *v = OVERFLOW;
                reason = Some(LimitReason::MaxLabelValues);
            }
        }
        let family_full = max_family_series != 0 && family.series.len() >= max_family_series;
        if reason.is_none() && (family_full || global_full) {
            reason = Some(if family_full {
                LimitReason::MaxSeriesPerFamily
            } else {
                LimitReason::MaxSeries
            });
            for (_, v) in labels.iter_mut() {
                *v = OVERFLOW;
            }
        }
        let Some(reason) = reason else {
            let r = self.insert(u, &labels, now, false).map(|_| Applied {
                created: true,
                folded: None,
            });
            return (r, None);
        };
        if limits.action == LimitAction::Drop {
            return (Err(Refusal::Limit(reason)), Some((reason, false)));
        }
        let folded = Applied {
            created: false,
            folded: Some(reason),
        };
        // Fold into the overflow series; it may exist already.
        if let Some(series) = family.find(&labels) {
            let r = series.update(&u.op, u.ttl, now, set_window).map(|_| folded);
            return (r, Some((reason, true)));
        }
        // A folded series that still needs a new slot may take one past the
        // series limits (at most MAX_OVERFLOW_SERIES per family); when the
        // family is full, every label folds so one catch-all series takes it.
        let still_full =
            (max_family_series != 0 && family.series.len() >= max_family_series) || global_full;
        if still_full || family.overflow_series >= MAX_OVERFLOW_SERIES {
            for (_, v) in labels.iter_mut() {
                *v = OVERFLOW;
            }
            if let Some(series) = family.find(&labels) {
                let r = series.update(&u.op, u.ttl, now, set_window).map(|_| folded);
                return (r, Some((reason, true)));
            }
            if family.overflow_series >= MAX_OVERFLOW_SERIES {
                let r = LimitReason::OverflowSeries;
                return (Err(Refusal::Limit(r)), Some((r, false)));
            }
        }
        let r = self.insert(u, &labels, now, true).map(|_| Applied {
            created: true,
            folded: Some(reason),
        });
        (r, Some((reason, true)))
    }

    fn insert(
        &mut self,
        u: &Update<'_>,
        labels: &[(&str, &str)],
        now: Instant,
        overflow: bool,
    ) -> Result<(), Refusal> {
        let mut value = initial_value(&u.op, now);
        apply_op(&mut value, &u.op, now, self.set_window)?;
        let family = self.families.get_mut(u.name).expect("caller inserted it");
        let stored: Labels = labels.iter().copied().collect();
        family.track(&stored, 1);
        if overflow {
            family.overflow_series += 1;
        }
        let hash = labels_hash(labels);
        family.series.insert_unique(
            hash,
            Series {
                labels: stored,
                hash,
                value,
                last_update: now,
                ttl: u.ttl,
                overflow,
            },
            |s| s.hash,
        );
        self.series_count += 1;
        Ok(())
    }

    /// Removes series whose TTL elapsed, and families left empty (which also
    /// releases their type lock, unlike statsd_exporter).
    pub fn sweep(&mut self, now: Instant) -> Sweep {
        let mut out = Sweep::default();
        self.families.retain(|_, f| {
            let before = f.series.len();
            let mut gone = Vec::new();
            f.series.retain(|s| {
                let keep = s.ttl.is_zero() || now.saturating_duration_since(s.last_update) <= s.ttl;
                if !keep {
                    gone.push((s.labels.clone(), s.overflow));
                }
                keep
            });
            for (labels, overflow) in gone {
                f.track(&labels, -1);
                if overflow {
                    f.overflow_series -= 1;
                }
            }
            out.series_expired += before - f.series.len();
            let keep = !f.series.is_empty();
            if !keep {
                out.families_removed += 1;
            }
            keep
        });
        self.series_count -= out.series_expired;
        out
    }

    /// Removes everything (used when a reload changes what a name means).
    pub fn clear(&mut self) {
        self.families.clear();
        self.series_count = 0;
    }

    /// Copies what `/metrics` needs, quickly (this runs under the store
    /// lock): values, and each family's shared label sets. Ordering and
    /// formatting happen after the lock is released
    /// (`StoreSnapshot::into_shared_families`, then `exposition::render`).
    pub fn snapshot_raw(&mut self, now: Instant) -> StoreSnapshot {
        let window = self.set_window;
        let mut out = Vec::with_capacity(self.families.len());
        for (name, f) in self.families.iter_mut() {
            let mut values = Vec::with_capacity(f.series.len());
            let mut same = f
                .shape
                .as_ref()
                .is_some_and(|shape| shape.labels.len() == f.series.len());
            for (i, s) in f.series.iter_mut().enumerate() {
                if same {
                    let shape = f.shape.as_ref().expect("checked above");
                    same = s.labels.ptr_eq(&shape.labels[i]);
                }
                values.push(match &mut s.value {
                    SeriesValue::Counter(v) | SeriesValue::Gauge(v) => SnapValue::Single(*v),
                    SeriesValue::Set(set) => SnapValue::Single(set.count(now, window) as f64),
                    SeriesValue::Histogram {
                        buckets,
                        counts,
                        sum,
                        count,
                    } => SnapValue::Histogram(Box::new(HistogramSnapshot {
                        buckets: buckets.clone(),
                        counts: counts.to_vec(),
                        sum: *sum,
                        count: *count,
                    })),
                    SeriesValue::Summary { quantiles, state } => {
                        SnapValue::Summary(Box::new(SummarySnapshot {
                            values: state.quantiles(quantiles, now),
                            quantiles: quantiles.clone(),
                            sum: state.sum,
                            count: state.count,
                        }))
                    }
                });
            }
            if !same {
                f.shape = Some(Arc::new(Shape::new(
                    f.series.iter().map(|s| s.labels.clone()).collect(),
                )));
            }
            out.push(RawFamily {
                name: name.clone(),
                help: f.help.clone(),
                kind: f.kind,
                shape: f.shape.clone().expect("set above"),
                values,
            });
        }
        StoreSnapshot(out)
    }

    /// `snapshot_raw` and `into_families` in one (for callers that do not
    /// hold the lock across it, e.g. tests).
    pub fn snapshot(&mut self, now: Instant) -> Vec<FamilySnapshot> {
        self.snapshot_raw(now).into_families()
    }

    /// Where the cardinality comes from: families ranked by series, and for
    /// each the labels ranked by distinct values with their `top` values.
    pub fn cardinality(&self, top: usize) -> CardinalityReport {
        let mut families: Vec<FamilyCardinality> = self
            .families
            .iter()
            .map(|(name, f)| {
                let mut labels: Vec<LabelCardinality> = f
                    .label_values
                    .iter()
                    .map(|(label, values)| {
                        let mut top_values: Vec<(String, u32)> =
                            values.iter().map(|(v, n)| (v.to_string(), *n)).collect();
                        top_values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                        top_values.truncate(top);
                        let overflow = values.contains_key(OVERFLOW);
                        LabelCardinality {
                            name: label.to_string(),
                            distinct_values: values.len() - usize::from(overflow),
                            overflow,
                            max_values: f.limits.label_values(label, &self.limits),
                            top_values,
                        }
                    })
                    .collect();
                labels.sort_by(|a, b| {
                    b.distinct_values
                        .cmp(&a.distinct_values)
                        .then_with(|| a.name.cmp(&b.name))
                });
                FamilyCardinality {
                    name: name.to_string(),
                    kind: f.kind,
                    series: f.series.len(),
                    overflow_series: f.overflow_series,
                    max_series: f.limits.series(&self.limits),
                    labels,
                }
            })
            .collect();
        families.sort_by(|a, b| b.series.cmp(&a.series).then_with(|| a.name.cmp(&b.name)));
        CardinalityReport {
            series: self.series_count,
            families,
            limits: self.limits.clone(),
        }
    }

    /// Live series per family, for self-metrics: (`family="<name>"`,
    /// type, series). Clones one `Arc` per family (this runs under the lock).
    pub fn series_per_family(&self) -> Vec<(Labels, FamilyType, usize)> {
        self.families
            .values()
            .map(|f| (f.name_label.clone(), f.kind, f.series.len()))
            .collect()
    }
}

fn initial_value(op: &Op<'_>, now: Instant) -> SeriesValue {
    match op {
        Op::CounterAdd(_) => SeriesValue::Counter(0.0),
        Op::GaugeSet(_) | Op::GaugeAdd(_) => SeriesValue::Gauge(0.0),
        Op::SetInsert(_) => SeriesValue::Set(SetState::default()),
        Op::Observe { how, .. } => match how {
            ObserveAs::Histogram { buckets } => SeriesValue::Histogram {
                buckets: buckets.clone(),
                counts: vec![0.0; buckets.len() + 1].into_boxed_slice(),
                sum: 0.0,
                count: 0.0,
            },
            ObserveAs::Summary {
                quantiles,
                max_age,
                age_buckets,
                buf_cap,
            } => SeriesValue::Summary {
                quantiles: quantiles.clone(),
                state: Box::new(SummaryState::new(*max_age, *age_buckets, *buf_cap, now)),
            },
        },
    }
}

fn apply_op(
    value: &mut SeriesValue,
    op: &Op<'_>,
    now: Instant,
    set_window: Duration,
) -> Result<(), Refusal> {
    match (value, op) {
        (SeriesValue::Counter(c), Op::CounterAdd(v)) => *c += v,
        (SeriesValue::Gauge(g), Op::GaugeSet(v)) => *g = *v,
        (SeriesValue::Gauge(g), Op::GaugeAdd(v)) => *g += v,
        (SeriesValue::Set(s), Op::SetInsert(m)) => s.insert(m, now, set_window)?,
        (
            SeriesValue::Histogram {
                buckets,
                counts,
                sum,
                count,
            },
            Op::Observe { value, weight, .. },
        ) => {
            // First bucket whose upper bound is >= value; NaN never reaches here.
            let idx = buckets.partition_point(|b| b < value);
            counts[idx] += weight;
            *sum += value * weight;
            *count += weight;
        }
        (SeriesValue::Summary { state, .. }, Op::Observe { value, weight, .. }) => {
            state.observe(*value, *weight, now)
        }
        _ => return Err(Refusal::KindMismatch),
    }
    Ok(())
}

/// `Store::cardinality`'s answer.
#[derive(Clone, Debug)]
pub struct CardinalityReport {
    pub series: usize,
    /// Ranked by series, most first.
    pub families: Vec<FamilyCardinality>,
    pub limits: Limits,
}

#[derive(Clone, Debug)]
pub struct FamilyCardinality {
    pub name: String,
    pub kind: FamilyType,
    pub series: usize,
    pub overflow_series: usize,
    /// The family's series limit (its rule's, else the global per-family
    /// flag; 0 = none).
    pub max_series: usize,
    /// Ranked by distinct values, most first.
    pub labels: Vec<LabelCardinality>,
}

#[derive(Clone, Debug)]
pub struct LabelCardinality {
    pub name: String,
    /// Distinct values that count against the limit (`__overflow__` does not).
    pub distinct_values: usize,
    /// Whether `__overflow__` is among the values.
    pub overflow: bool,
    /// The label's distinct-value limit for this family (0 = none).
    pub max_values: usize,
    /// (value, live series with it), most first.
    pub top_values: Vec<(String, u32)>,
}

/// What `Store::snapshot_raw` copies under the lock.
#[derive(Debug)]
pub struct StoreSnapshot(Vec<RawFamily>);

#[derive(Debug)]
struct RawFamily {
    name: Arc<str>,
    help: Arc<str>,
    kind: FamilyType,
    shape: Arc<Shape>,
    /// In `shape.labels` order.
    values: Vec<SnapValue>,
}

impl StoreSnapshot {
    /// The families, each with its series in exposition order, sharing the
    /// store's label sets (nothing is copied per series: what `/metrics`
    /// renders). Their `series` are empty; read them with `each_series` or
    /// `each_series_text`.
    pub fn into_shared_families(self) -> Vec<FamilySnapshot> {
        self.0
            .into_iter()
            .map(|f| FamilySnapshot {
                name: f.name,
                help: f.help,
                kind: f.kind,
                series: Vec::new(),
                series_sorted: true,
                stored: Some(StoredSeries {
                    shape: f.shape,
                    values: f.values,
                }),
            })
            .collect()
    }

    /// The families with their series copied out, in exposition order.
    pub fn into_families(self) -> Vec<FamilySnapshot> {
        self.into_shared_families()
            .into_iter()
            .map(|mut f| {
                f.series = f
                    .each_series()
                    .map(|(labels, value)| SeriesSnapshot {
                        labels: labels.clone(),
                        value: value.clone(),
                    })
                    .collect();
                f.stored = None;
                f
            })
            .collect()
    }
}

/// A store family's series as a snapshot took them: the family's shared
/// label sets (with their exposition order) and the values.
#[derive(Clone, Debug)]
pub struct StoredSeries {
    shape: Arc<Shape>,
    /// In `shape.labels` order.
    values: Vec<SnapValue>,
}

/// A family as copied out of the store, or built by the exporter itself.
#[derive(Clone, Debug)]
pub struct FamilySnapshot {
    pub name: Arc<str>,
    pub help: Arc<str>,
    pub kind: FamilyType,
    pub series: Vec<SeriesSnapshot>,
    /// The series are already in exposition order (`exposition_cmp`).
    pub series_sorted: bool,
    /// Series shared with the store (`StoreSnapshot::into_shared_families`),
    /// in exposition order, before `series`.
    pub stored: Option<StoredSeries>,
}

impl FamilySnapshot {
    /// A family of single values (the exporter's own metrics).
    pub fn of_values(
        name: &str,
        help: &str,
        kind: FamilyType,
        series: impl IntoIterator<Item = (Labels, f64)>,
    ) -> Self {
        FamilySnapshot {
            series_sorted: false,
            stored: None,
            name: name.into(),
            help: help.into(),
            kind,
            series: series
                .into_iter()
                .map(|(labels, v)| SeriesSnapshot {
                    labels,
                    value: SnapValue::Single(v),
                })
                .collect(),
        }
    }

    /// Every series: the shared ones in exposition order, then `series`.
    pub fn each_series(&self) -> impl Iterator<Item = (&Labels, &SnapValue)> {
        let stored = self.stored.iter().flat_map(|st| {
            st.shape
                .order()
                .iter()
                .map(move |&i| (&st.shape.labels[i as usize], &st.values[i as usize]))
        });
        stored.chain(self.series.iter().map(|s| (&s.labels, &s.value)))
    }

    /// `each_series` with each label set as its exposition text (what
    /// rendering needs), read in sequence for the shared series.
    pub fn each_series_text(&self) -> impl Iterator<Item = (&str, &SnapValue)> {
        let stored = self.stored.iter().flat_map(|st| {
            let (text, ends) = st.shape.texts();
            let order = st.shape.order();
            (0..order.len()).map(move |k| {
                let start = if k == 0 { 0 } else { ends[k - 1] };
                (&text[start..ends[k]], &st.values[order[k] as usize])
            })
        });
        stored.chain(self.series.iter().map(|s| (s.labels.rendered(), &s.value)))
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len() + self.stored.as_ref().map_or(0, |st| st.values.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone, Debug)]
pub struct SeriesSnapshot {
    pub labels: Labels,
    pub value: SnapValue,
}

/// A series' value in a snapshot. The rare histogram and summary values
/// are boxed so the common single value takes 16 bytes, not 64: a scrape
/// copies one per series under the store lock.
#[derive(Clone, Debug)]
pub enum SnapValue {
    Single(f64),
    Histogram(Box<HistogramSnapshot>),
    Summary(Box<SummarySnapshot>),
}

#[derive(Clone, Debug)]
pub struct HistogramSnapshot {
    pub buckets: Arc<[f64]>,
    /// Non-cumulative; the last is +Inf's.
    pub counts: Vec<f64>,
    pub sum: f64,
    pub count: f64,
}

#[derive(Clone, Debug)]
pub struct SummarySnapshot {
    pub quantiles: Arc<[f64]>,
    pub values: Vec<f64>,
    pub sum: f64,
    pub count: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn ok(r: Result<Applied, Refusal>) -> Result<bool, Refusal> {
        r.map(|a| a.created)
    }

    fn upd<'a>(name: &'a str, labels: &'a [(&'a str, &'a str)], op: Op<'a>) -> Update<'a> {
        Update {
            name,
            help: "h",
            labels,
            op,
            ttl: Duration::ZERO,
            limits: None,
        }
    }

    /// `apply_known` updates the series its key names and nothing else;
    /// once the series is gone or its family changed type it declines
    /// (the caller then applies normally), and a key still finds a series
    /// re-created with the same labels (another allocation, same text).
    #[test]
    fn a_known_series_is_updated_by_its_key_until_it_is_gone() {
        let now = Instant::now();
        let mut store = Store::new(Duration::from_secs(60));
        let a: &[(&str, &str)] = &[("k", "a")];
        let b: &[(&str, &str)] = &[("k", "b")];
        for l in [a, b] {
            ok(store.apply(&upd("c", l, Op::CounterAdd(1.0)), now)).unwrap();
        }
        assert!(store.series_key("c", &[("k", "x")]).is_none());
        assert!(store.series_key("other", a).is_none());
        let key = store.series_key("c", a).expect("key");
        let applied = store.apply_known("c", &key, &Op::CounterAdd(2.0), Duration::ZERO, now);
        assert_eq!(applied.map(ok), Some(Ok(false)));
        let want = |x: f64| {
            vec![
                (vec![("k".into(), "a".into())], x),
                (vec![("k".into(), "b".into())], 1.0),
            ]
        };
        assert_eq!(single(&mut store, "c", now), want(3.0));
        // A gauge op on a counter family: declined, apply reports the conflict.
        assert!(store
            .apply_known("c", &key, &Op::GaugeSet(1.0), Duration::ZERO, now)
            .is_none());
        store.clear();
        assert!(store
            .apply_known("c", &key, &Op::CounterAdd(1.0), Duration::ZERO, now)
            .is_none());
        for l in [a, b] {
            ok(store.apply(&upd("c", l, Op::CounterAdd(1.0)), now)).unwrap();
        }
        let renewed = store.apply_known("c", &key, &Op::CounterAdd(4.0), Duration::ZERO, now);
        assert_eq!(renewed.map(ok), Some(Ok(false)));
        assert_eq!(single(&mut store, "c", now), want(5.0));
    }

    fn single(store: &mut Store, name: &str, now: Instant) -> Vec<(Vec<(String, String)>, f64)> {
        let snap = store.snapshot(now);
        let f = snap.iter().find(|f| &*f.name == name).expect("family");
        let mut v: Vec<_> = f
            .series
            .iter()
            .map(|s| {
                let l: Vec<(String, String)> = s
                    .labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                match s.value {
                    SnapValue::Single(x) => (l, x),
                    _ => panic!("not single"),
                }
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    #[test]
    fn counters_accumulate_and_gauges_set_or_add() {
        let now = Instant::now();
        let mut s = Store::new(Duration::from_secs(60));
        assert_eq!(
            ok(s.apply(&upd("c", &[("a", "1")], Op::CounterAdd(2.0)), now)),
            Ok(true)
        );
        assert_eq!(
            ok(s.apply(&upd("c", &[("a", "1")], Op::CounterAdd(3.0)), now)),
            Ok(false)
        );
        ok(s.apply(&upd("c", &[("a", "2")], Op::CounterAdd(1.0)), now)).unwrap();
        assert_eq!(
            single(&mut s, "c", now),
            vec![
                (vec![("a".into(), "1".into())], 5.0),
                (vec![("a".into(), "2".into())], 1.0)
            ]
        );
        ok(s.apply(&upd("g", &[], Op::GaugeSet(10.0)), now)).unwrap();
        ok(s.apply(&upd("g", &[], Op::GaugeAdd(-3.0)), now)).unwrap();
        assert_eq!(single(&mut s, "g", now), vec![(vec![], 7.0)]);
        assert_eq!(s.series_count(), 3);
    }

    #[test]
    fn first_type_wins_and_suffix_collisions_are_refused() {
        let now = Instant::now();
        let mut s = Store::new(Duration::from_secs(60));
        let summary = ObserveAs::Summary {
            quantiles: Arc::from(vec![0.5]),
            max_age: Duration::from_secs(600),
            age_buckets: 5,
            buf_cap: 500,
        };
        let hist = ObserveAs::Histogram {
            buckets: Arc::from(vec![1.0]),
        };
        ok(s.apply(&upd("x", &[], Op::CounterAdd(1.0)), now)).unwrap();
        assert_eq!(
            ok(s.apply(&upd("x", &[], Op::GaugeSet(1.0)), now)),
            Err(Refusal::Conflict)
        );
        let obs = |how| Op::Observe {
            value: 1.0,
            weight: 1.0,
            how,
        };
        ok(s.apply(&upd("t", &[], obs(&summary)), now)).unwrap();
        for n in ["t_sum", "t_count"] {
            assert_eq!(
                ok(s.apply(&upd(n, &[], Op::CounterAdd(1.0)), now)),
                Err(Refusal::Conflict),
                "{n}"
            );
        }
        // t_bucket only collides with histograms.
        assert_eq!(
            ok(s.apply(&upd("t_bucket", &[], Op::CounterAdd(1.0)), now)),
            Ok(true)
        );
        ok(s.apply(&upd("h", &[], obs(&hist)), now)).unwrap();
        assert_eq!(
            ok(s.apply(&upd("h_bucket", &[], Op::GaugeSet(1.0)), now)),
            Err(Refusal::Conflict)
        );
        // And the reverse direction: a histogram over existing `y_count`.
        ok(s.apply(&upd("y_count", &[], Op::CounterAdd(1.0)), now)).unwrap();
        assert_eq!(
            ok(s.apply(&upd("y", &[], obs(&hist)), now)),
            Err(Refusal::Conflict)
        );
        // A refused new family leaves no trace.
        assert!(s.snapshot(now).iter().all(|f| &*f.name != "y"));
    }

    #[test]
    fn histogram_buckets_are_upper_inclusive_and_weighted() {
        let now = Instant::now();
        let mut s = Store::new(Duration::from_secs(60));
        let hist = ObserveAs::Histogram {
            buckets: Arc::from(vec![0.1, 1.0]),
        };
        for (v, w) in [(0.1, 1.0), (0.5, 10.0), (5.0, 1.0)] {
            ok(s.apply(
                &upd(
                    "h",
                    &[],
                    Op::Observe {
                        value: v,
                        weight: w,
                        how: &hist,
                    },
                ),
                now,
            ))
            .unwrap();
        }
        let snap = s.snapshot(now);
        match &snap[0].series[0].value {
            SnapValue::Histogram(h) => {
                assert_eq!(h.counts, vec![1.0, 10.0, 1.0]);
                assert_eq!(h.count, 12.0);
                assert!((h.sum - 10.1).abs() < 1e-9);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ttl_expires_series_and_releases_the_name() {
        let t0 = Instant::now();
        let mut s = Store::new(Duration::from_secs(60));
        let mut u = upd("c", &[], Op::CounterAdd(1.0));
        u.ttl = Duration::from_secs(10);
        ok(s.apply(&u, t0)).unwrap();
        ok(s.apply(&upd("keep", &[], Op::GaugeSet(1.0)), t0)).unwrap();
        assert_eq!(s.sweep(t0 + Duration::from_secs(10)).series_expired, 0);
        let sw = s.sweep(t0 + Duration::from_secs(11));
        assert_eq!(
            sw,
            Sweep {
                series_expired: 1,
                families_removed: 1
            }
        );
        assert_eq!(s.series_count(), 1);
        // The name is free again, even for another type.
        assert_eq!(
            ok(s.apply(
                &upd("c", &[], Op::GaugeSet(3.0)),
                t0 + Duration::from_secs(12)
            )),
            Ok(true)
        );
    }

    #[test]
    fn sets_count_distinct_members_in_the_window() {
        let t0 = Instant::now();
        let mut s = Store::new(Duration::from_secs(60));
        for m in ["a", "b", "a", "c"] {
            ok(s.apply(&upd("users", &[], Op::SetInsert(m)), t0)).unwrap();
        }
        assert_eq!(single(&mut s, "users", t0), vec![(vec![], 3.0)]);
        let later = t0 + Duration::from_secs(61);
        ok(s.apply(&upd("users", &[], Op::SetInsert("d")), later)).unwrap();
        assert_eq!(single(&mut s, "users", later), vec![(vec![], 1.0)]);
        // A plain gauge on the same series is a kind mismatch, not a crash.
        assert_eq!(
            ok(s.apply(&upd("users", &[], Op::GaugeSet(1.0)), later)),
            Err(Refusal::KindMismatch)
        );
    }

    fn limited(l: Limits) -> Store {
        Store::new(Duration::from_secs(60)).with_limits(l)
    }

    fn family_sum(store: &mut Store, name: &str, now: Instant) -> f64 {
        single(store, name, now).iter().map(|(_, v)| v).sum()
    }

    #[test]
    fn global_limit_folds_into_the_overflow_series_and_keeps_sums() {
        let now = Instant::now();
        let mut s = limited(Limits {
            max_series: 2,
            ..Limits::NONE
        });
        assert_eq!(
            ok(s.apply(&upd("a", &[("k", "1")], Op::CounterAdd(1.0)), now)),
            Ok(true)
        );
        assert_eq!(
            ok(s.apply(&upd("a", &[("k", "2")], Op::CounterAdd(2.0)), now)),
            Ok(true)
        );
        let r = s
            .apply(&upd("a", &[("k", "3")], Op::CounterAdd(4.0)), now)
            .unwrap();
        assert_eq!(
            r,
            Applied {
                created: true,
                folded: Some(LimitReason::MaxSeries)
            }
        );
        let r = s
            .apply(&upd("a", &[("k", "4")], Op::CounterAdd(8.0)), now)
            .unwrap();
        assert_eq!(
            r,
            Applied {
                created: false,
                folded: Some(LimitReason::MaxSeries)
            }
        );
        // Existing series keep counting.
        s.apply(&upd("a", &[("k", "1")], Op::CounterAdd(16.0)), now)
            .unwrap();
        assert_eq!(family_sum(&mut s, "a", now), 31.0);
        assert_eq!(
            single(&mut s, "a", now)[2],
            (vec![("k".into(), OVERFLOW.into())], 12.0)
        );
        let stats: Vec<_> = s.limit_stats().collect();
        assert_eq!(stats, vec![("a", LimitReason::MaxSeries, true, 2)]);
    }

    #[test]
    fn new_families_at_the_global_limit_are_refused() {
        let now = Instant::now();
        let mut s = limited(Limits {
            max_series: 2,
            ..Limits::NONE
        });
        for i in 0..10 {
            let _ = s.apply(&upd(&format!("n{i}"), &[], Op::CounterAdd(1.0)), now);
        }
        assert_eq!(s.family_count(), 2);
        assert_eq!(s.series_count(), 2);
        let stats: Vec<_> = s.limit_stats().collect();
        assert_eq!(stats, vec![(OVERFLOW, LimitReason::MaxSeries, false, 8)]);
    }

    #[test]
    fn cardinality_report_ranks_families_and_labels() {
        let now = Instant::now();
        let mut s = Store::new(Duration::from_secs(60));
        for (dag, task) in [("d1", "a"), ("d1", "b"), ("d1", "c"), ("d2", "a")] {
            s.apply(
                &upd(
                    "tasks",
                    &[("dag_id", dag), ("task_id", task)],
                    Op::CounterAdd(1.0),
                ),
                now,
            )
            .unwrap();
        }
        s.apply(&upd("other", &[], Op::GaugeSet(1.0)), now).unwrap();
        let r = s.cardinality(1);
        assert_eq!(r.series, 5);
        assert_eq!(r.families[0].name, "tasks");
        assert_eq!(r.families[0].series, 4);
        let labels = &r.families[0].labels;
        assert_eq!(
            (labels[0].name.as_str(), labels[0].distinct_values),
            ("task_id", 3)
        );
        assert_eq!(labels[1].top_values, vec![("d1".to_string(), 3)]);
        assert_eq!(r.families[1].labels.len(), 0);
    }

    #[test]
    fn per_family_limit() {
        let now = Instant::now();
        let mut s = limited(Limits {
            max_series_per_family: 1,
            ..Limits::NONE
        });
        s.apply(&upd("a", &[("k", "1")], Op::GaugeSet(1.0)), now)
            .unwrap();
        let r = s
            .apply(&upd("a", &[("k", "2")], Op::GaugeSet(2.0)), now)
            .unwrap();
        assert_eq!(r.folded, Some(LimitReason::MaxSeriesPerFamily));
        // Other families are not affected.
        assert_eq!(
            s.apply(&upd("b", &[("k", "2")], Op::GaugeSet(2.0)), now)
                .unwrap()
                .folded,
            None
        );
    }

    #[test]
    fn family_limits_override_the_flags_for_their_family_only() {
        let now = Instant::now();
        let mut s = limited(Limits {
            max_series_per_family: 1,
            max_label_values: 1,
            ..Limits::NONE
        });
        let own = FamilyLimits {
            max_series: Some(3),
            max_label_values_per_label: vec![("task".into(), 2)],
            max_label_values: Some(0),
            ..FamilyLimits::default()
        };
        fn with<'a>(
            name: &'a str,
            labels: &'a [(&'a str, &'a str)],
            limits: Option<&'a FamilyLimits>,
        ) -> Update<'a> {
            Update {
                limits,
                ..upd(name, labels, Op::CounterAdd(1.0))
            }
        }
        let mut folded = Vec::new();
        for (dag, task) in [("d1", "t1"), ("d2", "t2"), ("d3", "t3"), ("d4", "t1")] {
            let labels = [("dag", dag), ("task", task)];
            folded.push(
                s.apply(&with("own", &labels, Some(&own)), now)
                    .unwrap()
                    .folded,
            );
        }
        // task_id: 2 values allowed (t3 folds); dag: unlimited (0) by the
        // rule although the flag says 1; series: 3 allowed.
        assert_eq!(
            folded,
            [
                None,
                None,
                Some(LimitReason::MaxLabelValues),
                Some(LimitReason::MaxSeriesPerFamily)
            ]
        );
        let fam = single(&mut s, "own", now);
        assert_eq!(fam.iter().map(|(_, v)| v).sum::<f64>(), 4.0);
        let folded_labels = [("dag", "d3"), ("task", OVERFLOW)].map(|(k, v)| (k.into(), v.into()));
        assert!(
            fam.iter().any(|(l, _)| l[..] == folded_labels[..]),
            "{fam:?}"
        );
        // Another family still gets the flags' limits.
        s.apply(&with("other", &[("dag", "a")], None), now).unwrap();
        let r = s.apply(&with("other", &[("dag", "b")], None), now).unwrap();
        assert_eq!(r.folded, Some(LimitReason::MaxLabelValues));
        // The report shows each family's own bounds.
        let report = s.cardinality(5);
        let own_report = report.families.iter().find(|f| f.name == "own").unwrap();
        assert_eq!(own_report.max_series, 3);
        let task = own_report.labels.iter().find(|l| l.name == "task").unwrap();
        assert_eq!(
            (task.max_values, task.distinct_values, task.overflow),
            (2, 2, true)
        );
        let dag = own_report.labels.iter().find(|l| l.name == "dag").unwrap();
        assert_eq!(dag.max_values, 0);
        let other = report.families.iter().find(|f| f.name == "other").unwrap();
        assert_eq!((other.max_series, other.labels[0].max_values), (1, 1));
    }

    #[test]
    fn label_value_limit_folds_only_that_label() {
        let now = Instant::now();
        let mut s = limited(Limits {
            max_label_values: 2,
            ..Limits::NONE
        });
        for (task, n) in [
            ("t1", 1.0),
            ("t2", 1.0),
            ("t3", 1.0),
            ("t4", 1.0),
            ("t1", 1.0),
        ] {
            s.apply(
                &upd(
                    "f",
                    &[("dag_id", "d"), ("task_id", task)],
                    Op::CounterAdd(n),
                ),
                now,
            )
            .unwrap();
        }
        let got = single(&mut s, "f", now);
        assert_eq!(got.len(), 3);
        assert!(got.contains(&(
            vec![
                ("dag_id".into(), "d".into()),
                ("task_id".into(), OVERFLOW.into())
            ],
            2.0
        )));
        assert_eq!(family_sum(&mut s, "f", now), 5.0);
    }

    #[test]
    fn long_values_and_too_many_labels() {
        let now = Instant::now();
        let mut s = limited(Limits {
            max_label_value_length: 4,
            max_labels: 2,
            ..Limits::NONE
        });
        let r = s
            .apply(
                &upd("f", &[("a", "short"), ("b", "ok")], Op::CounterAdd(1.0)),
                now,
            )
            .unwrap();
        assert_eq!(r.folded, Some(LimitReason::MaxLabelValueLength));
        let r = s
            .apply(
                &upd(
                    "g",
                    &[("a", "1"), ("b", "2"), ("c", "3")],
                    Op::CounterAdd(1.0),
                ),
                now,
            )
            .unwrap();
        assert_eq!(r.folded, Some(LimitReason::MaxLabels));
        assert_eq!(
            single(&mut s, "g", now),
            vec![(
                vec![("a".into(), "1".into()), ("b".into(), "2".into())],
                1.0
            )]
        );
        assert_eq!(
            single(&mut s, "f", now),
            vec![(
                vec![("a".into(), OVERFLOW.into()), ("b".into(), "ok".into())],
                1.0
            )]
        );
    }

    #[test]
    fn drop_mode_refuses_and_counts() {
        let now = Instant::now();
        let mut s = limited(Limits {
            max_series: 1,
            action: LimitAction::Drop,
            ..Limits::NONE
        });
        s.apply(&upd("a", &[], Op::CounterAdd(1.0)), now).unwrap();
        assert_eq!(
            s.apply(&upd("b", &[], Op::CounterAdd(1.0)), now),
            Err(Refusal::Limit(LimitReason::MaxSeries))
        );
        assert_eq!(s.series_count(), 1);
        assert_eq!(s.family_count(), 1);
        assert_eq!(s.limit_stats().map(|x| x.3).sum::<u64>(), 1);
    }

    #[test]
    fn expiry_frees_label_values() {
        let t0 = Instant::now();
        let mut s = limited(Limits {
            max_label_values: 1,
            ..Limits::NONE
        });
        let mut u = upd("f", &[("k", "old")], Op::CounterAdd(1.0));
        u.ttl = Duration::from_secs(5);
        s.apply(&u, t0).unwrap();
        s.apply(&upd("g", &[], Op::CounterAdd(1.0)), t0).unwrap();
        s.sweep(t0 + Duration::from_secs(6));
        let r = s
            .apply(
                &upd("f", &[("k", "new")], Op::CounterAdd(1.0)),
                t0 + Duration::from_secs(6),
            )
            .unwrap();
        assert_eq!(r.folded, None, "the expired value freed its slot");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// No sequence of updates breaks a limit, and folding never loses an increment.
        #[test]
        fn limits_hold_and_sums_are_exact(
            max_series in 1usize..20,
            per_family in 0usize..10,
            label_values in 0usize..5,
            events in proptest::collection::vec((0u8..3, 0u8..12, 0u8..12, 1u32..100), 1..300),
            fam0_series in proptest::option::of(0usize..10),
            fam0_a_values in proptest::option::of(0usize..5),
        ) {
            let now = Instant::now();
            let mut s = limited(Limits {
                max_series,
                max_series_per_family: per_family,
                max_label_values: label_values,
                ..Limits::NONE
            });
            // fam0 has its own (mapping rule) limits.
            let own = FamilyLimits {
                max_series: fam0_series,
                max_label_values_per_label: fam0_a_values.map(|n| ("a".to_string(), n)).into_iter().collect(),
                ..FamilyLimits::default()
            };
            let mut sent: HashMap<String, f64> = HashMap::new();
            for (f, a, b, v) in events {
                let name = format!("fam{f}");
                let (a, b) = (a.to_string(), b.to_string());
                let labels = [("a", a.as_str()), ("b", b.as_str())];
                let u = Update {
                    limits: (f == 0).then_some(&own),
                    ..upd(&name, &labels, Op::CounterAdd(f64::from(v)))
                };
                if s.apply(&u, now).is_ok() {
                    *sent.entry(name).or_insert(0.0) += f64::from(v);
                }
                // A family can pass the limits only with its overflow series.
                proptest::prop_assert!(s.series_count() <= max_series + 3 * MAX_OVERFLOW_SERIES);
            }
            for (name, total) in sent {
                let fam = single(&mut s, &name, now);
                let sum: f64 = fam.iter().map(|(_, v)| v).sum();
                proptest::prop_assert_eq!(sum, total);
                let regular = fam.iter().filter(|(l, _)| l.iter().all(|(_, v)| v != OVERFLOW)).count();
                let (per_family, a_values, b_values) = if name == "fam0" {
                    (
                        fam0_series.unwrap_or(per_family),
                        fam0_a_values.unwrap_or(label_values),
                        label_values,
                    )
                } else {
                    (per_family, label_values, label_values)
                };
                if per_family > 0 {
                    proptest::prop_assert!(regular <= per_family);
                }
                for (i, max) in [(0, a_values), (1, b_values)] {
                    if max > 0 {
                        let distinct: HashSet<&String> = fam.iter().map(|(l, _)| &l[i].1).filter(|v| *v != OVERFLOW).collect();
                        proptest::prop_assert!(distinct.len() <= max);
                    }
                }
            }
        }
    }

    #[test]
    fn sets_are_bounded() {
        let t0 = Instant::now();
        let mut s = Store::new(Duration::from_secs(60));
        let members: Vec<String> = (0..MAX_SET_MEMBERS + 5).map(|i| i.to_string()).collect();
        let mut refused = 0;
        for m in &members {
            if ok(s.apply(&upd("big", &[], Op::SetInsert(m)), t0)).is_err() {
                refused += 1;
            }
        }
        assert_eq!(refused, 5);
        assert_eq!(single(&mut s, "big", t0)[0].1, MAX_SET_MEMBERS as f64);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(100))]
        /// Snapshots reuse a family's label sets and order while its series
        /// stay the same; across any mix of new series, updates, expiry and
        /// snapshots, each snapshot equals one built from scratch.
        #[test]
        fn reused_shapes_match_a_fresh_snapshot(
            steps in proptest::collection::vec((0u8..4, 0u8..8, 0u8..3, 1u32..50), 1..200),
        ) {
            let t0 = Instant::now();
            let mut store = Store::new(Duration::from_secs(60));
            let mut model: HashMap<(u8, u8), (f64, u32)> = HashMap::new();
            let mut clock = 0u32;
            let values = ["", "b", "a\"q", "a", "ab", "x\ny", "\\", "z"];
            for (action, v, w, x) in steps {
                match action {
                    0 | 1 => {
                        let (a, b) = (values[v as usize], values[w as usize]);
                        let labels = [("a", a), ("b", b)];
                        let mut u = upd("f", &labels, Op::CounterAdd(f64::from(x)));
                        u.ttl = Duration::from_secs(10);
                        proptest::prop_assert!(store.apply(&u, t0 + Duration::from_secs(clock.into())).is_ok());
                        let e = model.entry((v, w)).or_insert((0.0, clock));
                        *e = (e.0 + f64::from(x), clock);
                    }
                    2 => {
                        clock += x % 12;
                        store.sweep(t0 + Duration::from_secs(clock.into()));
                        model.retain(|_, (_, seen)| clock - *seen <= 10);
                    }
                    // Snapshot now; else several steps pass before the next.
                    _ => {}
                }
                if action != 3 {
                    continue;
                }
                let snap = store.snapshot(t0);
                let got: Vec<(Labels, f64)> = snap
                    .iter()
                    .flat_map(|f| f.series.iter())
                    .map(|s| match s.value {
                        SnapValue::Single(x) => (s.labels.clone(), x),
                        _ => unreachable!(),
                    })
                    .collect();
                let mut want: Vec<(Labels, f64)> = model
                    .iter()
                    .map(|((v, w), (x, _))| {
                        ([("a", values[*v as usize]), ("b", values[*w as usize])].into_iter().collect(), *x)
                    })
                    .collect();
                want.sort_by(|a, b| exposition_cmp(&a.0, &b.0));
                proptest::prop_assert_eq!(got, want);
            }
        }
    }
}
