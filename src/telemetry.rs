//! Self-metrics. Names and meanings follow statsd_exporter where it has the
//! metric, so existing self-monitoring keeps working; the rest is new.
//!
//! The values live in `prometheus-client` atomics (cheap to bump from every
//! listener thread). Rendering goes through our own encoder, because
//! prometheus-client only writes OpenMetrics and the default output must stay
//! text 0.0.4 with statsd_exporter's names (`…_total` family names).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use crate::parser::Reject;
use crate::store::{FamilySnapshot, FamilyType, Labels};

/// Events that reached the store, by statsd_exporter's `type` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Counter,
    Gauge,
    Observer,
    Set,
}

impl EventType {
    const ALL: [EventType; 4] = [
        EventType::Counter,
        EventType::Gauge,
        EventType::Observer,
        EventType::Set,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Counter => "counter",
            EventType::Gauge => "gauge",
            EventType::Observer => "observer",
            EventType::Set => "set",
        }
    }
}

/// Events refused after parsing (`statsd_exporter_events_error_total{reason}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventError {
    /// A counter decrement (`x:-1|c`); statsd_exporter drops these too.
    IllegalNegativeCounter,
    /// A mapping template expanded to an empty name.
    EmptyMetricName,
    /// A set already holds the maximum number of members.
    SetMembersLimit,
}

impl EventError {
    const ALL: [EventError; 3] = [
        EventError::IllegalNegativeCounter,
        EventError::EmptyMetricName,
        EventError::SetMembersLimit,
    ];
    pub fn reason(self) -> &'static str {
        match self {
            EventError::IllegalNegativeCounter => "illegal_negative_counter",
            EventError::EmptyMetricName => "empty_metric_name",
            EventError::SetMembersLimit => "set_members_limit",
        }
    }
}

/// Labels we had to rename or drop so the output stays valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelRewrite {
    /// `le` on a histogram → `exported_le`.
    ReservedLe,
    /// `quantile` on a summary → `exported_quantile`.
    ReservedQuantile,
    /// Names starting with `__` (e.g. `__name__`) are reserved by Prometheus: dropped.
    ReservedPrefix,
}

impl LabelRewrite {
    const ALL: [LabelRewrite; 3] = [
        LabelRewrite::ReservedLe,
        LabelRewrite::ReservedQuantile,
        LabelRewrite::ReservedPrefix,
    ];
    pub fn reason(self) -> &'static str {
        match self {
            LabelRewrite::ReservedLe => "reserved_le",
            LabelRewrite::ReservedQuantile => "reserved_quantile",
            LabelRewrite::ReservedPrefix => "reserved_prefix",
        }
    }
}

/// At most this many distinct `metric_name` values on the conflict counter;
/// the rest are counted under `__overflow__`.
const MAX_CONFLICT_NAMES: usize = 200;

/// Per-relay-target counters.
#[derive(Default, Debug)]
pub struct RelayStats {
    pub packets: Counter,
    pub lines_relayed: Counter,
    pub long_lines: Counter,
    pub lines_dropped: Counter,
}

#[derive(Default, Debug)]
pub struct Telemetry {
    pub events: [Counter; 4],
    pub events_unmapped: Counter,
    pub actions_map: Counter,
    pub actions_drop: Counter,
    pub event_errors: [Counter; 3],
    pub label_rewrites: [Counter; 3],
    pub sample_errors: Vec<Counter>,
    pub samples: Counter,
    pub lines: Counter,
    pub tags: Counter,
    pub tag_errors: Counter,
    pub udp_packets: Counter,
    pub udp_kernel_drops: AtomicU64,
    pub unixgram_packets: Counter,
    pub datagrams_truncated: Counter,
    pub tcp_connections: Counter,
    pub tcp_connection_errors: Counter,
    pub tcp_too_long_lines: Counter,
    pub stream_connections_rejected: Counter,
    pub stream_connections_evicted: Counter,
    pub unixstream_connections: Counter,
    pub reloads_success: Counter,
    pub reloads_failure: Counter,
    pub loaded_mappings: Gauge,
    pub last_reload_successful: Gauge,
    pub last_reload_success_timestamp: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub config_hash: Mutex<String>,
    pub cache_gets: Counter,
    pub cache_hits: Counter,
    pub cache_length: Gauge,
    pub series_expired: Counter,
    airflow_dropped: Vec<Counter>,

    pub scrape_duration_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub receive_buffer_bytes: Mutex<Vec<(String, f64)>>,
    pub receive_buffer_requested_bytes: Mutex<Vec<(String, f64)>>,
    conflicts: Mutex<HashMap<(&'static str, String), u64>>,
    pub relays: Mutex<Vec<(String, Arc<RelayStats>)>>,
    pub start_time_seconds: f64,
    /// TLS, auth and HTTP-limit counters of the web side.
    pub web: crate::web::WebStats,
}

impl Telemetry {
    pub fn new() -> Self {
        Telemetry {
            sample_errors: Reject::ALL.iter().map(|_| Counter::default()).collect(),
            airflow_dropped: crate::airflow::DROP_REASONS
                .iter()
                .map(|_| Counter::default())
                .collect(),
            start_time_seconds: unix_now(),
            ..Default::default()
        }
    }

    pub fn event(&self, t: EventType) -> &Counter {
        &self.events[t as usize]
    }

    pub fn event_error(&self, e: EventError) -> &Counter {
        &self.event_errors[e as usize]
    }

    pub fn label_rewrite(&self, r: LabelRewrite) -> &Counter {
        &self.label_rewrites[r as usize]
    }

    pub fn sample_error(&self, r: Reject) -> &Counter {
        let i = Reject::ALL.iter().position(|x| *x == r).unwrap_or(0);
        &self.sample_errors[i]
    }

    /// Airflow-profile drops by reason (one of `airflow::DROP_REASONS`).
    pub fn airflow_dropped(&self, reason: &str) -> &Counter {
        let i = crate::airflow::DROP_REASONS
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        &self.airflow_dropped[i]
    }

    /// Counts a type conflict, bounding the `metric_name` label.
    pub fn conflict(&self, event_type: &'static str, metric_name: &str) {
        let mut map = self.conflicts.lock();
        let key = (event_type, metric_name.to_string());
        if let Some(v) = map.get_mut(&key) {
            *v += 1;
            return;
        }
        let key = if map.len() >= MAX_CONFLICT_NAMES {
            (event_type, "__overflow__".to_string())
        } else {
            key
        };
        *map.entry(key).or_insert(0) += 1;
    }

    pub fn add_relay(&self, target: &str) -> Arc<RelayStats> {
        let stats = Arc::new(RelayStats::default());
        self.relays.lock().push((target.to_string(), stats.clone()));
        stats
    }

    /// Every self-metric family, unsorted. `store` carries the live store
    /// figures computed by the caller.
    /// Every self-metric family (a scrape reads the two parts separately).
    #[cfg(test)]
    pub(crate) fn families(&self, store: &StoreFigures) -> Vec<FamilySnapshot> {
        let mut out = self.counter_families(store);
        out.extend(self.process_families());
        out
    }

    /// The self-metrics but `process_*`: what a scrape reads while no batch
    /// is half applied (no I/O here).
    pub fn counter_families(&self, store: &StoreFigures) -> Vec<FamilySnapshot> {
        let mut out = Vec::with_capacity(48);
        let mut push = pusher(&mut out);
        let c = |x: &Counter| x.get() as f64;
        let one = |v: f64| vec![(vec![], v)];
        use FamilyType::{Counter as C, Gauge as G};

        push(
            "statsd_exporter_build_info",
            "A metric with a constant '1' value labeled by version and the statsd_exporter version it is compatible with.",
            G,
            vec![(
                vec![
                    ("version", env!("CARGO_PKG_VERSION").to_string()),
                    ("compatible_with", "statsd_exporter 0.30".to_string()),
                    ("implementation", "airflow-statsd-exporter".to_string()),
                ],
                1.0,
            )],
        );
        push(
            "statsd_exporter_events_total",
            "The total number of StatsD events seen.",
            C,
            EventType::ALL
                .iter()
                .map(|t| (vec![("type", t.as_str().to_string())], c(self.event(*t))))
                .collect(),
        );
        push(
            "statsd_exporter_events_unmapped_total",
            "The total number of StatsD events no mapping was found for.",
            C,
            one(c(&self.events_unmapped)),
        );
        push(
            "statsd_exporter_events_actions_total",
            "The total number of StatsD events by action.",
            C,
            vec![
                (vec![("action", "drop".into())], c(&self.actions_drop)),
                (vec![("action", "map".into())], c(&self.actions_map)),
            ],
        );
        push(
            "statsd_exporter_events_error_total",
            "The total number of StatsD events discarded due to errors.",
            C,
            EventError::ALL
                .iter()
                .map(|e| {
                    (
                        vec![("reason", e.reason().to_string())],
                        c(self.event_error(*e)),
                    )
                })
                .collect(),
        );
        {
            let map = self.conflicts.lock();
            let series = map
                .iter()
                .map(|((t, n), v)| {
                    (
                        vec![("metric_name", n.clone()), ("type", t.to_string())],
                        *v as f64,
                    )
                })
                .collect::<Vec<_>>();
            push(
                "statsd_exporter_events_conflict_total",
                "The total number of StatsD events with conflicting names.",
                C,
                series,
            );
        }
        push(
            "statsd_exporter_label_rewrites_total",
            "Labels renamed or dropped because Prometheus reserves their names, by reason.",
            C,
            LabelRewrite::ALL
                .iter()
                .map(|r| {
                    (
                        vec![("reason", r.reason().to_string())],
                        c(self.label_rewrite(*r)),
                    )
                })
                .collect(),
        );
        push(
            "statsd_exporter_sample_errors_total",
            "The total number of errors parsing StatsD samples.",
            C,
            Reject::ALL
                .iter()
                .map(|r| {
                    (
                        vec![("reason", r.reason().to_string())],
                        c(self.sample_error(*r)),
                    )
                })
                .collect(),
        );
        push(
            "statsd_exporter_samples_total",
            "The total number of StatsD samples received.",
            C,
            one(c(&self.samples)),
        );
        push(
            "statsd_exporter_lines_total",
            "The total number of StatsD lines received.",
            C,
            one(c(&self.lines)),
        );
        push(
            "statsd_exporter_tags_total",
            "The total number of DogStatsD tags processed.",
            C,
            one(c(&self.tags)),
        );
        push(
            "statsd_exporter_tag_errors_total",
            "The number of errors parsing DogStatsD tags.",
            C,
            one(c(&self.tag_errors)),
        );
        push(
            "statsd_exporter_udp_packets_total",
            "The total number of StatsD packets received over UDP.",
            C,
            one(c(&self.udp_packets)),
        );
        push(
            "statsd_exporter_udp_packet_drops_total",
            "The total number of UDP packets the kernel dropped on the exporter's sockets because the receive buffer was full.",
            C,
            one(self.udp_kernel_drops.load(Ordering::Relaxed) as f64),
        );
        push(
            "statsd_exporter_unixgram_packets_total",
            "The total number of StatsD packets received over Unixgram.",
            C,
            one(c(&self.unixgram_packets)),
        );
        push(
            "statsd_exporter_datagrams_truncated_total",
            "Datagrams longer than the 65535-byte receive slot, truncated by the kernel (their cut last line is also counted as a parse error).",
            C,
            one(c(&self.datagrams_truncated)),
        );
        push(
            "statsd_exporter_tcp_connections_total",
            "The total number of TCP connections handled.",
            C,
            one(c(&self.tcp_connections)),
        );
        push(
            "statsd_exporter_unixstream_connections_total",
            "The total number of Unix stream connections handled.",
            C,
            one(c(&self.unixstream_connections)),
        );
        push(
            "statsd_exporter_tcp_connection_errors_total",
            "The number of errors encountered reading from TCP and Unix stream connections.",
            C,
            one(c(&self.tcp_connection_errors)),
        );
        push(
            "statsd_exporter_stream_connections_evicted_total",
            "TCP and Unix stream connections closed to make room for a new one at --statsd.tcp-max-connections: they had never sent anything, or nothing for 30 s.",
            C,
            one(c(&self.stream_connections_evicted)),
        );
        push(
            "statsd_exporter_tcp_too_long_lines_total",
            "The number of lines discarded from TCP and Unix stream connections because they were longer than --statsd.max-line-length.",
            C,
            one(c(&self.tcp_too_long_lines)),
        );
        push(
            "statsd_exporter_stream_connections_rejected_total",
            "Stream (TCP and Unix) connections closed at once because --statsd.tcp-max-connections were open.",
            C,
            one(c(&self.stream_connections_rejected)),
        );
        push(
            "statsd_exporter_config_reloads_total",
            "The number of configuration reloads.",
            C,
            vec![
                (
                    vec![("outcome", "failure".into())],
                    c(&self.reloads_failure),
                ),
                (
                    vec![("outcome", "success".into())],
                    c(&self.reloads_success),
                ),
            ],
        );
        push(
            "statsd_exporter_loaded_mappings",
            "The current number of configured metric mappings.",
            G,
            one(self.loaded_mappings.get() as f64),
        );
        push(
            "statsd_exporter_config_last_reload_successful",
            "Whether the last configuration load or reload succeeded (1) or kept the previous configuration (0).",
            G,
            one(self.last_reload_successful.get() as f64),
        );
        push(
            "statsd_exporter_config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load.",
            G,
            one(self.last_reload_success_timestamp.get()),
        );
        push(
            "statsd_exporter_config_info",
            "The SHA-256 of the mapping configuration in use (empty without a mapping file).",
            G,
            vec![(vec![("sha256", self.config_hash.lock().clone())], 1.0)],
        );
        push(
            "statsd_metric_mapper_cache_gets_total",
            "The count of total metric cache gets.",
            C,
            one(c(&self.cache_gets)),
        );
        push(
            "statsd_metric_mapper_cache_hits_total",
            "The count of total metric cache hits.",
            C,
            one(c(&self.cache_hits)),
        );
        push(
            "statsd_metric_mapper_cache_length",
            "The count of unique metrics currently cached.",
            G,
            one(self.cache_length.get() as f64),
        );
        push(
            "statsd_exporter_airflow_dropped_total",
            "Samples the Airflow profile dropped on purpose (duplicates of an event already counted, client telemetry), by reason.",
            C,
            crate::airflow::DROP_REASONS
                .iter()
                .map(|r| (vec![("reason", r.to_string())], c(self.airflow_dropped(r))))
                .collect(),
        );
        push(
            "statsd_exporter_series_expired_total",
            "Series removed because their TTL elapsed.",
            C,
            one(c(&self.series_expired)),
        );
        {
            let stats = |folded: bool| {
                store
                    .limit_stats
                    .iter()
                    .filter(|(_, _, f, _)| *f == folded)
                    .map(|(fam, r, _, n)| {
                        (
                            vec![("family", fam.clone()), ("reason", r.as_str().to_string())],
                            *n as f64,
                        )
                    })
                    .collect::<Vec<_>>()
            };
            push(
                "statsd_exporter_series_folded_total",
                "Events applied to an overflow series (offending labels read __overflow__) because a cardinality limit was reached, by family and limit.",
                C,
                stats(true),
            );
            push(
                "statsd_exporter_series_dropped_total",
                "Events refused because a cardinality limit was reached (--statsd.limit-action=drop, or a family's overflow series are exhausted), by family and limit.",
                C,
                stats(false),
            );
            let l = &store.limits;
            push(
                "statsd_exporter_limit",
                "Configured cardinality limits (0 = none).",
                G,
                [
                    ("max_series", l.max_series),
                    ("max_series_per_family", l.max_series_per_family),
                    ("max_label_values", l.max_label_values),
                    ("max_label_value_length", l.max_label_value_length),
                    ("max_labels", l.max_labels),
                ]
                .iter()
                .map(|(k, v)| (vec![("limit", k.to_string())], *v as f64))
                .collect(),
            );
        }
        push(
            "statsd_exporter_metrics_total",
            "The number of exported families by type (statsd_exporter compatibility; a gauge despite its name).",
            G,
            [FamilyType::Counter, FamilyType::Gauge, FamilyType::Histogram, FamilyType::Summary]
                .iter()
                .map(|t| {
                    let n = store.families_by_type.get(t).copied().unwrap_or(0);
                    (vec![("type", t.as_str().to_string())], n as f64)
                })
                .collect(),
        );
        push(
            "statsd_exporter_scrape_duration_seconds",
            "Time the previous /metrics response took to build.",
            G,
            one(self.scrape_duration_seconds.get()),
        );
        push(
            "statsd_exporter_receive_buffer_bytes",
            "The receive buffer size the kernel granted each datagram socket (it may cap the requested --statsd.read-buffer at net.core.rmem_max).",
            G,
            self.receive_buffer_bytes
                .lock()
                .iter()
                .map(|(l, v)| (vec![("listener", l.clone())], *v))
                .collect(),
        );
        push(
            "statsd_exporter_receive_buffer_requested_bytes",
            "The receive buffer each datagram socket asked for (--statsd.read-buffer, or 8 MiB when 0). Linux grants twice the request; a granted size below twice this was capped at net.core.rmem_max.",
            G,
            self.receive_buffer_requested_bytes
                .lock()
                .iter()
                .map(|(l, v)| (vec![("listener", l.clone())], *v))
                .collect(),
        );
        {
            let relays = self.relays.lock();
            let per = |f: fn(&RelayStats) -> &Counter| {
                relays
                    .iter()
                    .map(|(t, s)| (vec![("target", t.clone())], f(s).get() as f64))
                    .collect::<Vec<_>>()
            };
            push(
                "statsd_exporter_relay_packets_total",
                "The number of StatsD packets relayed.",
                C,
                per(|s| &s.packets),
            );
            push(
                "statsd_exporter_relay_lines_relayed_total",
                "The number of StatsD lines relayed.",
                C,
                per(|s| &s.lines_relayed),
            );
            push(
                "statsd_exporter_relay_long_lines_total",
                "The number lines that were too long to relay.",
                C,
                per(|s| &s.long_lines),
            );
            push(
                "statsd_exporter_relay_lines_dropped_total",
                "Lines not relayed because the relay queue was full.",
                C,
                per(|s| &s.lines_dropped),
            );
        }
        drop(push);
        // One series per family (thousands in a wide store): the store's
        // label sets are shared, not rebuilt per scrape. (Order does not
        // matter: a scrape sorts families by name.)
        out.push(FamilySnapshot::of_values(
            "statsd_exporter_series",
            "Live series per exported family.",
            G,
            store
                .per_family
                .iter()
                .map(|(labels, n)| (labels.clone(), *n as f64)),
        ));
        out.extend(self.web.families());
        out
    }

    /// `process_*`, read from /proc.
    pub fn process_families(&self) -> Vec<FamilySnapshot> {
        let mut out = Vec::with_capacity(8);
        process_families(self.start_time_seconds, &mut pusher(&mut out));
        out
    }
}

impl Default for StoreFigures {
    fn default() -> Self {
        StoreFigures {
            per_family: Vec::new(),
            families_by_type: HashMap::new(),
            limit_stats: Vec::new(),
            limits: crate::store::Limits::NONE,
        }
    }
}

/// Seconds since the Unix epoch, as a float.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Store figures the self-metrics need, computed under the store lock.
#[derive(Debug)]
pub struct StoreFigures {
    /// (`family="<name>"`, live series), the labels shared with the store.
    pub per_family: Vec<(Labels, usize)>,
    pub families_by_type: HashMap<FamilyType, usize>,
    /// (family, reason, folded?, events)
    pub limit_stats: Vec<(String, crate::store::LimitReason, bool, u64)>,
    pub limits: crate::store::Limits,
}

impl StoreFigures {
    /// Read under the store lock.
    pub fn of(store: &crate::store::Store) -> Self {
        let mut families_by_type = HashMap::new();
        let per_family = store
            .series_per_family()
            .into_iter()
            .map(|(name, kind, n)| {
                *families_by_type.entry(kind).or_insert(0) += 1;
                (name, n)
            })
            .collect();
        let limit_stats = store
            .limit_stats()
            .map(|(f, r, folded, n)| (f.to_string(), r, folded, n))
            .collect();
        StoreFigures {
            per_family,
            families_by_type,
            limit_stats,
            limits: store.limits().clone(),
        }
    }
}

/// A family's series: (labels, value) pairs.
type Values<'a> = Vec<(Vec<(&'a str, String)>, f64)>;

type Push<'a> = dyn FnMut(&str, &str, FamilyType, Values<'_>) + 'a;

/// Appends a family of plain values to `out`.
fn pusher(out: &mut Vec<FamilySnapshot>) -> impl FnMut(&str, &str, FamilyType, Values<'_>) + '_ {
    |name, help, kind, series| {
        let series = series
            .into_iter()
            .map(|(l, v)| (l.into_iter().collect(), v));
        out.push(FamilySnapshot::of_values(name, help, kind, series));
    }
}

/// The standard `process_*` metrics, read from /proc (Linux only).
fn process_families(start_time: f64, push: &mut Push<'_>) {
    use FamilyType::{Counter as C, Gauge as G};
    let one = |v: f64| vec![(vec![], v)];
    push(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        G,
        one(start_time.floor()),
    );
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the command name, which is in parentheses and may contain spaces.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = 100.0; // sysconf(_SC_CLK_TCK) is 100 on every Linux we ship for.
    let num = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    // rest[0] is field 3 (state): utime=14, stime=15, vsize=23, rss=24 (1-based).
    let cpu = (num(11) + num(12)) / ticks;
    let page = 4096.0;
    push(
        "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.",
        C,
        one(cpu),
    );
    push(
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
        G,
        one(num(20)),
    );
    push(
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        G,
        one(num(21) * page),
    );
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        push(
            "process_open_fds",
            "Number of open file descriptors.",
            G,
            one(dir.count() as f64),
        );
    }
    if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
        if let Some(line) = limits.lines().find(|l| l.starts_with("Max open files")) {
            if let Some(v) = line
                .split_whitespace()
                .nth(3)
                .and_then(|s| s.parse::<f64>().ok())
            {
                push(
                    "process_max_fds",
                    "Maximum number of open file descriptors.",
                    G,
                    one(v),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SnapValue;

    #[test]
    fn conflict_names_are_bounded() {
        let t = Telemetry::new();
        for i in 0..(MAX_CONFLICT_NAMES + 50) {
            t.conflict("counter", &format!("name_{i}"));
        }
        t.conflict("counter", "name_0");
        let fams = t.families(&StoreFigures::default());
        let f = fams
            .iter()
            .find(|f| &*f.name == "statsd_exporter_events_conflict_total")
            .unwrap();
        assert_eq!(f.series.len(), MAX_CONFLICT_NAMES + 1);
        let total: f64 = f
            .series
            .iter()
            .map(|s| match s.value {
                SnapValue::Single(v) => v,
                _ => 0.0,
            })
            .sum();
        assert_eq!(total, (MAX_CONFLICT_NAMES + 51) as f64);
    }

    #[test]
    fn every_family_is_unique_and_named_by_convention() {
        let t = Telemetry::new();
        t.add_relay("127.0.0.1:1");
        let fams = t.families(&StoreFigures::default());
        let mut names: Vec<&str> = fams.iter().map(|f| &*f.name).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate self-metric family");
        for f in &fams {
            if f.kind == FamilyType::Counter {
                assert!(f.name.ends_with("_total"), "{}", f.name);
            }
        }
        assert!(fams
            .iter()
            .any(|f| &*f.name == "process_resident_memory_bytes"));
    }

    #[test]
    fn series_per_family_counts_each_store_family() {
        use crate::store::{Op, Store, Update};
        let now = std::time::Instant::now();
        let mut store = Store::new(std::time::Duration::from_secs(60));
        for (name, value) in [("b_total", "1"), ("b_total", "2"), ("a", "1")] {
            let labels = [("k", value)];
            let u = Update {
                name,
                help: "h",
                labels: &labels,
                op: Op::CounterAdd(1.0),
                ttl: std::time::Duration::ZERO,
                limits: None,
            };
            store.apply(&u, now).unwrap();
        }
        let mut fams = Telemetry::new().families(&StoreFigures::of(&store));
        crate::exposition::sort_families(&mut fams);
        let text = crate::exposition::render(&fams, crate::exposition::Format::Text);
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("statsd_exporter_series{"))
            .collect();
        assert_eq!(
            lines,
            [
                "statsd_exporter_series{family=\"a\"} 1",
                "statsd_exporter_series{family=\"b_total\"} 2"
            ]
        );
    }
}
