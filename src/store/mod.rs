//! The series registry: families keyed by exposed name, series keyed by
//! their label set, with statsd_exporter's type-locking, conflict and TTL
//! semantics. Pure: the caller passes `now`.

mod summary;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hashbrown::HashTable;

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

/// Label pairs sorted by name; shared with snapshots without copying.
pub type Labels = Arc<[(Box<str>, Box<str>)]>;

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
    /// Creating the series would exceed the store's series limit.
    SeriesLimit,
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

#[derive(Clone, Debug)]
struct Series {
    labels: Labels,
    hash: u64,
    value: SeriesValue,
    last_update: Instant,
    ttl: Duration,
}

#[derive(Debug)]
struct Family {
    kind: FamilyType,
    help: Box<str>,
    series: HashTable<Series>,
}

/// The store. One per process; callers wrap it in a mutex.
#[derive(Debug)]
pub struct Store {
    families: HashMap<Box<str>, Family>,
    set_window: Duration,
    series_count: usize,
    /// 0 = unlimited.
    max_series: usize,
}

/// What a sweep removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    pub series_expired: usize,
    pub families_removed: usize,
}

fn fixed_hash(s: &str) -> u64 {
    // Deterministic across runs (no random state) so tests are repeatable.
    let mut h = FxLike::default();
    s.hash(&mut h);
    h.finish()
}

fn labels_hash(labels: &[(&str, &str)]) -> u64 {
    let mut h = FxLike::default();
    for (k, v) in labels {
        h.write(k.as_bytes());
        h.write_u8(0xff);
        h.write(v.as_bytes());
        h.write_u8(0xfe);
    }
    h.finish()
}

/// FNV-1a: tiny, deterministic, good enough for label sets we also compare.
#[derive(Clone, Copy)]
struct FxLike(u64);

impl Default for FxLike {
    fn default() -> Self {
        FxLike(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for FxLike {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

fn same_labels(stored: &[(Box<str>, Box<str>)], wanted: &[(&str, &str)]) -> bool {
    stored.len() == wanted.len()
        && stored
            .iter()
            .zip(wanted)
            .all(|((k1, v1), (k2, v2))| &**k1 == *k2 && &**v1 == *v2)
}

impl Store {
    pub fn new(set_window: Duration) -> Self {
        Store {
            families: HashMap::new(),
            set_window,
            series_count: 0,
            max_series: 0,
        }
    }

    /// Caps the number of live series (0 = unlimited). Existing series keep
    /// updating at the limit; only new ones are refused.
    pub fn with_max_series(mut self, max_series: usize) -> Self {
        self.max_series = max_series;
        self
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

    /// Applies one update. Returns whether a new series was created.
    pub fn apply(&mut self, u: &Update<'_>, now: Instant) -> Result<bool, Refusal> {
        let kind = u.op.family_type();
        let full = self.max_series != 0 && self.series_count >= self.max_series;
        let family = match self.families.get_mut(u.name) {
            Some(f) if f.kind == kind => f,
            Some(_) => return Err(Refusal::Conflict),
            None => {
                if self.conflicts(u.name, kind) {
                    return Err(Refusal::Conflict);
                }
                if full {
                    return Err(Refusal::SeriesLimit);
                }
                self.families.insert(
                    u.name.into(),
                    Family {
                        kind,
                        help: u.help.into(),
                        series: HashTable::new(),
                    },
                );
                self.families.get_mut(u.name).expect("just inserted")
            }
        };
        let hash = labels_hash(u.labels);
        let set_window = self.set_window;
        if let Some(series) = family
            .series
            .find_mut(hash, |s| s.hash == hash && same_labels(&s.labels, u.labels))
        {
            series.last_update = now;
            series.ttl = u.ttl;
            apply_op(&mut series.value, &u.op, now, set_window)?;
            return Ok(false);
        }
        if full {
            return Err(Refusal::SeriesLimit);
        }
        let mut value = initial_value(&u.op, now);
        if let Err(e) = apply_op(&mut value, &u.op, now, set_window) {
            if family.series.is_empty() {
                self.families.remove(u.name);
            }
            return Err(e);
        }
        let labels: Labels = u
            .labels
            .iter()
            .map(|(k, v)| (Box::<str>::from(*k), Box::<str>::from(*v)))
            .collect();
        family.series.insert_unique(
            hash,
            Series {
                labels,
                hash,
                value,
                last_update: now,
                ttl: u.ttl,
            },
            |s| s.hash,
        );
        self.series_count += 1;
        Ok(true)
    }

    /// Removes series whose TTL elapsed, and families left empty (which also
    /// releases their type lock, unlike statsd_exporter).
    pub fn sweep(&mut self, now: Instant) -> Sweep {
        let mut out = Sweep::default();
        self.families.retain(|_, f| {
            let before = f.series.len();
            f.series.retain(|s| {
                s.ttl.is_zero() || now.saturating_duration_since(s.last_update) <= s.ttl
            });
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

    /// Copies what `/metrics` needs, quickly; sorting and formatting happen
    /// after the lock is released.
    pub fn snapshot(&mut self, now: Instant) -> Vec<FamilySnapshot> {
        let window = self.set_window;
        let mut out = Vec::with_capacity(self.families.len());
        for (name, f) in self.families.iter_mut() {
            let mut series = Vec::with_capacity(f.series.len());
            for s in f.series.iter_mut() {
                let value = match &mut s.value {
                    SeriesValue::Counter(v) | SeriesValue::Gauge(v) => SnapValue::Single(*v),
                    SeriesValue::Set(set) => SnapValue::Single(set.count(now, window) as f64),
                    SeriesValue::Histogram {
                        buckets,
                        counts,
                        sum,
                        count,
                    } => SnapValue::Histogram {
                        buckets: buckets.clone(),
                        counts: counts.to_vec(),
                        sum: *sum,
                        count: *count,
                    },
                    SeriesValue::Summary { quantiles, state } => SnapValue::Summary {
                        values: state.quantiles(quantiles, now),
                        quantiles: quantiles.clone(),
                        sum: state.sum,
                        count: state.count,
                    },
                };
                series.push(SeriesSnapshot {
                    labels: s.labels.clone(),
                    value,
                });
            }
            out.push(FamilySnapshot {
                name: name.to_string(),
                help: f.help.to_string(),
                kind: f.kind,
                series,
            });
        }
        out
    }

    /// Live series per family, for self-metrics.
    pub fn series_per_family(&self) -> Vec<(String, FamilyType, usize)> {
        self.families
            .iter()
            .map(|(n, f)| (n.to_string(), f.kind, f.series.len()))
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

/// A family as copied out of the store.
#[derive(Clone, Debug)]
pub struct FamilySnapshot {
    pub name: String,
    pub help: String,
    pub kind: FamilyType,
    pub series: Vec<SeriesSnapshot>,
}

#[derive(Clone, Debug)]
pub struct SeriesSnapshot {
    pub labels: Labels,
    pub value: SnapValue,
}

#[derive(Clone, Debug)]
pub enum SnapValue {
    Single(f64),
    Histogram {
        buckets: Arc<[f64]>,
        counts: Vec<f64>,
        sum: f64,
        count: f64,
    },
    Summary {
        quantiles: Arc<[f64]>,
        values: Vec<f64>,
        sum: f64,
        count: f64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upd<'a>(name: &'a str, labels: &'a [(&'a str, &'a str)], op: Op<'a>) -> Update<'a> {
        Update {
            name,
            help: "h",
            labels,
            op,
            ttl: Duration::ZERO,
        }
    }

    fn single(store: &mut Store, name: &str, now: Instant) -> Vec<(Vec<(String, String)>, f64)> {
        let snap = store.snapshot(now);
        let f = snap.iter().find(|f| f.name == name).expect("family");
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
            s.apply(&upd("c", &[("a", "1")], Op::CounterAdd(2.0)), now),
            Ok(true)
        );
        assert_eq!(
            s.apply(&upd("c", &[("a", "1")], Op::CounterAdd(3.0)), now),
            Ok(false)
        );
        s.apply(&upd("c", &[("a", "2")], Op::CounterAdd(1.0)), now)
            .unwrap();
        assert_eq!(
            single(&mut s, "c", now),
            vec![
                (vec![("a".into(), "1".into())], 5.0),
                (vec![("a".into(), "2".into())], 1.0)
            ]
        );
        s.apply(&upd("g", &[], Op::GaugeSet(10.0)), now).unwrap();
        s.apply(&upd("g", &[], Op::GaugeAdd(-3.0)), now).unwrap();
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
        s.apply(&upd("x", &[], Op::CounterAdd(1.0)), now).unwrap();
        assert_eq!(
            s.apply(&upd("x", &[], Op::GaugeSet(1.0)), now),
            Err(Refusal::Conflict)
        );
        let obs = |how| Op::Observe {
            value: 1.0,
            weight: 1.0,
            how,
        };
        s.apply(&upd("t", &[], obs(&summary)), now).unwrap();
        for n in ["t_sum", "t_count"] {
            assert_eq!(
                s.apply(&upd(n, &[], Op::CounterAdd(1.0)), now),
                Err(Refusal::Conflict),
                "{n}"
            );
        }
        // t_bucket only collides with histograms.
        assert_eq!(
            s.apply(&upd("t_bucket", &[], Op::CounterAdd(1.0)), now),
            Ok(true)
        );
        s.apply(&upd("h", &[], obs(&hist)), now).unwrap();
        assert_eq!(
            s.apply(&upd("h_bucket", &[], Op::GaugeSet(1.0)), now),
            Err(Refusal::Conflict)
        );
        // And the reverse direction: a histogram over existing `y_count`.
        s.apply(&upd("y_count", &[], Op::CounterAdd(1.0)), now)
            .unwrap();
        assert_eq!(
            s.apply(&upd("y", &[], obs(&hist)), now),
            Err(Refusal::Conflict)
        );
        // A refused new family leaves no trace.
        assert!(s.snapshot(now).iter().all(|f| f.name != "y"));
    }

    #[test]
    fn histogram_buckets_are_upper_inclusive_and_weighted() {
        let now = Instant::now();
        let mut s = Store::new(Duration::from_secs(60));
        let hist = ObserveAs::Histogram {
            buckets: Arc::from(vec![0.1, 1.0]),
        };
        for (v, w) in [(0.1, 1.0), (0.5, 10.0), (5.0, 1.0)] {
            s.apply(
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
            )
            .unwrap();
        }
        let snap = s.snapshot(now);
        match &snap[0].series[0].value {
            SnapValue::Histogram {
                counts, sum, count, ..
            } => {
                assert_eq!(counts, &vec![1.0, 10.0, 1.0]);
                assert_eq!(*count, 12.0);
                assert!((sum - 10.1).abs() < 1e-9);
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
        s.apply(&u, t0).unwrap();
        s.apply(&upd("keep", &[], Op::GaugeSet(1.0)), t0).unwrap();
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
            s.apply(
                &upd("c", &[], Op::GaugeSet(3.0)),
                t0 + Duration::from_secs(12)
            ),
            Ok(true)
        );
    }

    #[test]
    fn sets_count_distinct_members_in_the_window() {
        let t0 = Instant::now();
        let mut s = Store::new(Duration::from_secs(60));
        for m in ["a", "b", "a", "c"] {
            s.apply(&upd("users", &[], Op::SetInsert(m)), t0).unwrap();
        }
        assert_eq!(single(&mut s, "users", t0), vec![(vec![], 3.0)]);
        let later = t0 + Duration::from_secs(61);
        s.apply(&upd("users", &[], Op::SetInsert("d")), later)
            .unwrap();
        assert_eq!(single(&mut s, "users", later), vec![(vec![], 1.0)]);
        // A plain gauge on the same series is a kind mismatch, not a crash.
        assert_eq!(
            s.apply(&upd("users", &[], Op::GaugeSet(1.0)), later),
            Err(Refusal::KindMismatch)
        );
    }

    #[test]
    fn series_limit_refuses_new_series_but_updates_existing() {
        let now = Instant::now();
        let mut s = Store::new(Duration::from_secs(60)).with_max_series(2);
        s.apply(&upd("a", &[("k", "1")], Op::CounterAdd(1.0)), now)
            .unwrap();
        s.apply(&upd("b", &[], Op::GaugeSet(1.0)), now).unwrap();
        assert_eq!(
            s.apply(&upd("a", &[("k", "2")], Op::CounterAdd(1.0)), now),
            Err(Refusal::SeriesLimit)
        );
        assert_eq!(
            s.apply(&upd("c", &[], Op::CounterAdd(1.0)), now),
            Err(Refusal::SeriesLimit)
        );
        assert_eq!(
            s.apply(&upd("a", &[("k", "1")], Op::CounterAdd(2.0)), now),
            Ok(false)
        );
        assert_eq!(s.series_count(), 2);
        assert_eq!(
            single(&mut s, "a", now),
            vec![(vec![("k".into(), "1".into())], 3.0)]
        );
    }

    #[test]
    fn sets_are_bounded() {
        let t0 = Instant::now();
        let mut s = Store::new(Duration::from_secs(60));
        let members: Vec<String> = (0..MAX_SET_MEMBERS + 5).map(|i| i.to_string()).collect();
        let mut refused = 0;
        for m in &members {
            if s.apply(&upd("big", &[], Op::SetInsert(m)), t0).is_err() {
                refused += 1;
            }
        }
        assert_eq!(refused, 5);
        assert_eq!(single(&mut s, "big", t0)[0].1, MAX_SET_MEMBERS as f64);
    }
}
