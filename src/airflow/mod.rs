//! The built-in Airflow profile: turns Airflow's StatsD names (legacy or
//! tagged, plain/DogStatsD/InfluxDB, 2.x or 3.x) into the families of
//! [`catalog`], counting each event exactly once.
//!
//! State kept (all bounded): which events have been seen under their legacy
//! name (then the tagged twin is a duplicate and is dropped), DAG ids seen
//! whole (to split 2.x legacy names whose ids contain dots), the detected
//! Airflow major version (for unit fixes), and the last event per sender for
//! families Airflow sends twice.

pub mod catalog;
pub mod docs;
mod names;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

use parking_lot::{Mutex, RwLock};

pub use catalog::{Family, Fix, Kind, FAMILIES};
pub use names::{FastMap, LabelValue, LegacyCache};

use crate::sample::{Sample, SampleValue};

/// At most this many DAG ids are remembered for splitting legacy names.
pub const MAX_KNOWN_DAGS: usize = 20_000;
/// At most this many senders are remembered for repeat suppression.
const MAX_REPEAT_SENDERS: usize = 4096;

/// Names the Datadog client sends about itself.
const DATADOG_TELEMETRY_PREFIX: &str = "datadog.dogstatsd.client.";

/// What the profile makes of one sample.
#[derive(Debug)]
pub enum Outcome<'a> {
    /// A series of a catalog family. `scale` corrects the unit.
    Series {
        family: &'static Family,
        labels: Vec<(&'static str, LabelValue<'a>)>,
        scale: f64,
        /// Set for heartbeat events: which component beat.
        heartbeat: Option<crate::liveness::Component>,
        /// Set when this name's match came from the legacy-name cache (a
        /// name seen before) and may be replayed: see [`AirflowModel::replay`].
        replay: Option<Replay>,
    },
    /// Dropped on purpose; the reason is a stable string for the self-metric.
    Drop(&'static str),
    /// An `airflow.*` name the catalog does not know: counted in a generic
    /// family under its first two name components.
    Unknown { group: String },
    /// Not an Airflow name: handled as statsd_exporter handles unmapped names.
    NotAirflow,
}

/// Reasons for `Outcome::Drop` (label values of
/// `statsd_exporter_airflow_dropped_total{reason}`).
pub const DROP_REASONS: &[&str] = &[
    "duplicate_tagged_name",
    "duplicate_repeat",
    "duplicate_deprecated_name",
    "datadog_client_telemetry",
    "zero_preinit",
    "type_mismatch",
];

/// A legacy-name match a reader may cache with the series it resolved to,
/// and replay for the same name (same value type, no tags) while
/// [`AirflowModel::validity`] still equals `valid_for`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replay {
    fi: usize,
    ei: usize,
    pub valid_for: (u8, usize),
}

struct Counters {
    legacy_seen: Vec<AtomicBool>,
    /// Tagged arrivals of an event before its legacy twin was seen (capped).
    bare_seen: Vec<std::sync::atomic::AtomicU8>,
    event_offsets: Vec<usize>,
}

/// The profile's state. Shared by every ingester; interior mutability keeps
/// the hot path to atomics and a read lock.
pub struct AirflowModel {
    prefix: String,
    names: names::Index,
    counters: Counters,
    known_dags: RwLock<names::DagSet>,
    /// `known_dags.len()`, read without the lock on the hot path.
    dag_count: AtomicUsize,
    version: AtomicU8,
    last_by_sender: Mutex<HashMap<(u64, usize), (u64, u64)>>,
    warned_no_ids: AtomicBool,
}

impl AirflowModel {
    pub fn new(prefix: &str) -> Self {
        let mut event_offsets = Vec::with_capacity(FAMILIES.len());
        let mut n = 0;
        for f in FAMILIES {
            event_offsets.push(n);
            n += f.events.len();
        }
        AirflowModel {
            prefix: format!("{prefix}."),
            names: names::Index::new(),
            counters: Counters {
                legacy_seen: (0..n).map(|_| AtomicBool::new(false)).collect(),
                bare_seen: (0..n).map(|_| Default::default()).collect(),
                event_offsets,
            },
            known_dags: RwLock::new(names::DagSet::default()),
            dag_count: AtomicUsize::new(0),
            version: AtomicU8::new(0),
            last_by_sender: Mutex::new(HashMap::new()),
            warned_no_ids: AtomicBool::new(false),
        }
    }

    /// The Airflow major version detected from version-specific names (0 = not yet).
    pub fn detected_version(&self) -> u8 {
        self.version.load(Ordering::Relaxed)
    }

    pub fn known_dag_count(&self) -> usize {
        self.dag_count.load(Ordering::Relaxed)
    }

    /// What legacy-name matches depend on: the detected version and the
    /// DAG ids known (the set only grows, so its size identifies it).
    pub fn validity(&self) -> (u8, usize) {
        (
            self.version.load(Ordering::Relaxed),
            self.dag_count.load(Ordering::Relaxed),
        )
    }

    /// `map_cached` for a sample whose name (untagged, same value type) a
    /// previous `Outcome::Series` with `replay: Some(r)` came from, while
    /// `validity()` is `r.valid_for` (the caller checks): everything that
    /// depends on the event rather than the name, in `map_cached`'s order.
    /// `labels` are that outcome's. `Ok(scale)` means the same series again.
    pub fn replay(
        &self,
        r: &Replay,
        s: &Sample<'_>,
        labels: &[(&'static str, LabelValue<'_>)],
        dogstatsd: bool,
        sender: u64,
    ) -> Result<f64, &'static str> {
        let family = &FAMILIES[r.fi];
        // The name matching steps before this (prefix, version detection,
        // deprecated duplicates, tagged names) give the same answer for the
        // same name; a cached legacy match learns no DAG id.
        self.counters.legacy_seen[self.counters.event_offsets[r.fi] + r.ei]
            .store(true, Ordering::Relaxed);
        if !type_fits(family.kind, s.value) {
            return Err("type_mismatch");
        }
        if family.skip_zero_increments && s.value == SampleValue::Counter(0.0) {
            return Err("zero_preinit");
        }
        if family.drop_immediate_repeat && self.is_repeat(sender, r.fi, labels, s.value.value()) {
            return Err("duplicate_repeat");
        }
        Ok(self.fix_scale(family.events[r.ei].fix, dogstatsd))
    }

    /// The family a replayed match belongs to.
    pub fn replay_family(r: &Replay) -> &'static Family {
        &FAMILIES[r.fi]
    }

    fn learn_dag(&self, dag: &str) {
        if dag.is_empty() || self.known_dags.read().contains(dag) {
            return;
        }
        let mut set = self.known_dags.write();
        if set.len() < MAX_KNOWN_DAGS {
            set.insert(dag.to_string());
            self.dag_count.store(set.len(), Ordering::Relaxed);
        }
    }

    fn detect_version(&self, name: &str) {
        if self.version.load(Ordering::Relaxed) != 0 {
            return;
        }
        const V2: &[&str] = &[
            "local_task_job",
            "dataset.",
            "zombies_killed",
            "task.cpu_usage.",
            "task.mem_usage.",
            "dag_processing.last_num_of_db_queries.",
            "dag_processing.manager_stalls",
            "sla_",
        ];
        const V3: &[&str] = &[
            "dag_processor_heartbeat",
            "asset.",
            "ti.running",
            "ti.queued",
            "ti.scheduled",
            "ti.deferred",
            "scheduler.dagruns.running",
            "triggerer.capacity_left",
            "connection_test.",
            "scheduler.dag_bag.",
            "api_server.",
            "scheduler.executor_heartbeat_duration",
            "dagrun.first_task_start_delay",
            "task_instances_without_heartbeats_killed",
            "deadline_alerts.",
        ];
        if V2.iter().any(|p| name.starts_with(p)) || name.ends_with(".None") {
            self.version.store(2, Ordering::Relaxed);
        } else if V3.iter().any(|p| name.starts_with(p)) || name.contains("__") {
            self.version.store(3, Ordering::Relaxed);
        }
    }

    fn fix_scale(&self, fix: Fix, dogstatsd: bool) -> f64 {
        let v = self.version.load(Ordering::Relaxed);
        let seconds = match fix {
            Fix::None => false,
            Fix::SecondsIfDogStatsd => dogstatsd,
            Fix::SecondsIfDogStatsdV2 => dogstatsd && v == 2,
            Fix::SecondsV2 => v == 2,
            // Until the version is known, 3.x (the current line) is assumed.
            Fix::SecondsV3 => v != 2,
        };
        if seconds {
            1000.0
        } else {
            1.0
        }
    }

    /// Maps one sample. `dogstatsd` says the datagram came from the Datadog
    /// client (its datagrams end in `\n`, or the line carried `|#` tags);
    /// `sender` identifies the sending socket.
    pub fn map<'a>(&self, s: &'a Sample<'a>, dogstatsd: bool, sender: u64) -> Outcome<'a> {
        self.map_cached(s, dogstatsd, sender, &mut LegacyCache::default())
    }

    /// `map`, with the caller's cache of legacy-name matches (one per
    /// ingester: the same names arrive over and over).
    pub fn map_cached<'a>(
        &self,
        s: &'a Sample<'a>,
        dogstatsd: bool,
        sender: u64,
        cache: &mut LegacyCache,
    ) -> Outcome<'a> {
        let Some(name) = s.name.strip_prefix(self.prefix.as_str()) else {
            if s.name.starts_with(DATADOG_TELEMETRY_PREFIX) {
                return Outcome::Drop("datadog_client_telemetry");
            }
            return Outcome::NotAirflow;
        };
        self.detect_version(name);
        if catalog::DROPPED_DUPLICATES.contains(&name) {
            return Outcome::Drop("duplicate_deprecated_name");
        }
        if let Some(dag) = s.tags.iter().find(|(k, _)| k == "dag_id").map(|(_, v)| v) {
            self.learn_dag(dag);
        }
        let mut replay = None;
        let (fi, ei, labels) = if let Some((fi, ei)) = self.names.tagged(name) {
            let event_idx = self.counters.event_offsets[fi] + ei;
            let family = &FAMILIES[fi];
            let event = &family.events[ei];
            if !event.legacy.is_empty()
                && self.counters.legacy_seen[event_idx].load(Ordering::Relaxed)
            {
                return Outcome::Drop("duplicate_tagged_name");
            }
            // 2.x always sends legacy names; when an event has none on the
            // wire (2.x single-executor `executor.open_slots`), plain mode has
            // no identities either, so tags are not used: same series in
            // every mode. Once 3.x is detected, tags stand in for legacy
            // names turned off (`legacy_names_on = False`).
            let labels = if !event.legacy.is_empty() && self.version.load(Ordering::Relaxed) != 3 {
                Vec::new()
            } else {
                labels_from_tags(family, s)
            };
            // A bare copy of an event with a legacy twin not seen yet: some
            // call sites send the tagged copy first, and an exporter started
            // mid-stream can see either first. The first two are dropped
            // (counted) so no unlabeled stray series appears; from the third
            // on, the wire carries no identities (`legacy_names_on = False`).
            if !event.legacy.is_empty() && labels.len() < identity_count(family) {
                let before = self.counters.bare_seen[event_idx]
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1))
                    .unwrap_or(u8::MAX);
                if before < 2 {
                    return Outcome::Drop("tagged_before_legacy");
                }
                if family.labels.contains(&"dag_id")
                    && !self.warned_no_ids.swap(true, Ordering::Relaxed)
                {
                    tracing::warn!(
                        metric = name,
                        "Airflow sends names without identities (plain StatsD with [metrics] legacy_names_on = False): \
                         dag_id/task_id/pool labels are unknown. Set [metrics] legacy_names_on = True, or enable \
                         statsd_datadog_enabled or statsd_influxdb_enabled, to get them."
                    );
                }
            }
            (fi, ei, labels)
        } else {
            let version = self.version.load(Ordering::Relaxed);
            let dag_count = self.dag_count.load(Ordering::Relaxed);
            let dags = || self.known_dags.read();
            match self
                .names
                .legacy_cached(name, dag_count, dags, version, cache)
            {
                (Some((fi, ei, caps)), hit) => {
                    let event_idx = self.counters.event_offsets[fi] + ei;
                    self.counters.legacy_seen[event_idx].store(true, Ordering::Relaxed);
                    // A cached name was learnt from when it was first seen.
                    if hit {
                        replay = Some(Replay {
                            fi,
                            ei,
                            valid_for: (version, dag_count),
                        });
                    } else if let Some((_, dag)) = caps.iter().find(|(k, _)| *k == "dag_id") {
                        self.learn_dag(dag);
                    }
                    (fi, ei, caps)
                }
                (None, _) => {
                    return Outcome::Unknown {
                        group: name.split('.').take(2).collect::<Vec<_>>().join("."),
                    };
                }
            }
        };
        let family = &FAMILIES[fi];
        let event = &family.events[ei];
        if !type_fits(family.kind, s.value) {
            return Outcome::Drop("type_mismatch");
        }
        if family.skip_zero_increments && s.value == SampleValue::Counter(0.0) {
            return Outcome::Drop("zero_preinit");
        }
        let mut labels = labels;
        for (k, v) in event.consts {
            labels.push((k, LabelValue::Borrowed(v)));
        }
        labels.sort_by(|a, b| a.0.cmp(b.0));
        if family.drop_immediate_repeat && self.is_repeat(sender, fi, &labels, s.value.value()) {
            return Outcome::Drop("duplicate_repeat");
        }
        let heartbeat = if family.name == "airflow_heartbeats_total" {
            crate::liveness::Component::from_heartbeat(name)
        } else {
            None
        };
        Outcome::Series {
            family,
            labels,
            scale: self.fix_scale(event.fix, dogstatsd),
            // A heartbeat also feeds liveness, which a replay does not.
            replay: replay.filter(|_| heartbeat.is_none()),
            heartbeat,
        }
    }

    /// True when the previous event of this family from this sender had the
    /// same labels and value (3.x sends some legacy timers twice).
    fn is_repeat(
        &self,
        sender: u64,
        fi: usize,
        labels: &[(&'static str, LabelValue<'_>)],
        value: f64,
    ) -> bool {
        use std::hash::BuildHasher;
        let key = foldhash::fast::FixedState::with_seed(0x2e9e_a7d1).hash_one(labels);
        let mut map = self.last_by_sender.lock();
        let new = (key, value.to_bits());
        match map.get_mut(&(sender, fi)) {
            Some(last) if *last == new => {
                // Only one repeat per event: the next identical one is a new event.
                *last = (0, 0);
                true
            }
            Some(last) => {
                *last = new;
                false
            }
            None => {
                if map.len() >= MAX_REPEAT_SENDERS {
                    map.clear();
                }
                map.insert((sender, fi), new);
                false
            }
        }
    }
}

/// Labels of the family that are identities (not constants of some event).
fn identity_count(f: &Family) -> usize {
    f.labels
        .iter()
        .filter(|l| {
            !f.events
                .iter()
                .any(|e| e.consts.iter().any(|(k, _)| k == *l))
        })
        .count()
}

fn labels_from_tags<'a>(family: &Family, s: &'a Sample<'a>) -> Vec<(&'static str, LabelValue<'a>)> {
    let mut out = Vec::new();
    for (label, keys) in catalog::TAG_KEYS {
        if !family.labels.contains(label) {
            continue;
        }
        if let Some((_, v)) = keys
            .iter()
            .find_map(|k| s.tags.iter().find(|(tk, _)| tk == k))
        {
            if !v.is_empty() {
                out.push((*label, LabelValue::Borrowed(v.as_ref())));
            }
        }
    }
    out
}

/// Whether a sample's value type is the family's.
fn type_fits(kind: Kind, value: SampleValue) -> bool {
    matches!(
        (kind, value),
        (Kind::Counter | Kind::UpDown, SampleValue::Counter(_))
            | (Kind::Gauge, SampleValue::Gauge { .. })
            | (Kind::Timer(_), SampleValue::Observer { .. })
    )
}

#[cfg(test)]
mod tests;

/// The profile's own gauges.
pub fn self_families(model: &AirflowModel) -> Vec<crate::store::FamilySnapshot> {
    use crate::store::{FamilySnapshot, FamilyType, SeriesSnapshot, SnapValue};
    let gauge = |name: &str, help: &str, v: f64| FamilySnapshot {
        series_sorted: false,
        stored: None,
        name: name.into(),
        help: help.into(),
        kind: FamilyType::Gauge,
        series: vec![SeriesSnapshot {
            labels: crate::store::Labels::default(),
            value: SnapValue::Single(v),
        }],
    };
    vec![
        gauge(
            "statsd_exporter_airflow_detected_version",
            "Airflow major version detected from version-specific metric names (0 = not yet known).",
            f64::from(model.detected_version()),
        ),
        gauge(
            "statsd_exporter_airflow_known_dags",
            "DAG ids remembered to split legacy names whose ids contain dots (bounded).",
            model.known_dag_count() as f64,
        ),
    ]
}
