//! Liveness and restarts of Airflow components, derived from heartbeats and
//! their senders.
//!
//! StatsD carries no process identity: several schedulers behind one exporter
//! collapse into one `scheduler_heartbeat` counter, and a restart is only a
//! short dip in its rate. The exporter sees more than the counter: every
//! Airflow process sends from its own socket, and a restarted process sends
//! from a new one. The caller turns that socket (address and port, or the
//! connection for stream transports) into an opaque `u64` sender id and feeds
//! each heartbeat line (`scheduler_heartbeat`, `triggerer_heartbeat`,
//! `dag_processor_heartbeat`) to [`Liveness::heartbeat`].
//!
//! This module is pure: no clock, no I/O. `now` (monotonic) is passed in, and
//! pairing is evaluated lazily, in [`Liveness::heartbeat`] and
//! [`Liveness::families`]; [`Liveness::restarts`] reports the state as of the
//! last of those calls.
//!
//! # Families
//!
//! | family | type | labels |
//! |---|---|---|
//! | `airflow_live_heartbeat_senders` | gauge | `component` |
//! | `airflow_last_heartbeat_timestamp_seconds` | gauge | `component` |
//! | `airflow_heartbeat_sender_starts_total` | counter | `component` |
//! | `airflow_restarts_total` | counter | `component` |
//! | `statsd_exporter_liveness_senders_forgotten_total` | counter | none |
//!
//! The two gauges exist only for components that have sent a heartbeat; the
//! two `component` counters exist at 0 for all three components from the
//! start, so alerts can use `increase()` without `absent()`. No per-sender
//! series are exposed.
//!
//! # Heuristics
//!
//! * **Live**: a sender is live if its last heartbeat is at most
//!   `live_window` (30 s) old. `airflow_live_heartbeat_senders` counts them.
//! * **Start**: every sender id not currently tracked for a component counts
//!   one start (`airflow_heartbeat_sender_starts_total`).
//! * **Silent**: a sender with no heartbeat for more than `silence` (15 s) is
//!   considered gone, unless it beats again.
//! * **Restart**: counted when a silent sender (the *old* one) can be paired
//!   with a *new* sender of the same component that appeared at or after the
//!   old one's last beat minus `pair_tolerance` (10 s), and after the old one
//!   appeared. Pairing works in either order: the new sender may appear
//!   before the old one crosses the silence threshold (a fast restart, or a
//!   replacement pod that comes up just before the old one is killed; the
//!   restart is counted once the old one crosses `silence`), or long after
//!   (a replacement arriving minutes later, as long as the old one has not
//!   been forgotten). Every sender is paired at most once as old and at most
//!   once as new, so with two HA schedulers where one restarts the survivor
//!   (which appeared long before) is never taken for a replacement, and a
//!   chain of restarts A → B → C counts two. When several silent senders
//!   compete, the one that beat last is paired first, with the earliest
//!   eligible new sender.
//! * **Hang**: a sender that stops for minutes and resumes from the same id
//!   is not a restart: nothing new appeared. It is live again as soon as it
//!   beats.
//! * **Death without replacement** (one of two HA schedulers dies): the live
//!   count drops 2 → 1 after `live_window`; no restart is counted.
//!
//! # Limits
//!
//! * A sender id is a socket, not a process. A restarted process that reuses
//!   the same source port (or a stream connection the caller hashes to the
//!   same id) looks like a hang; a process that opens a new socket without
//!   restarting looks like a restart. Airflow uses one UDP socket per
//!   process, so neither happens in practice with UDP.
//! * Senders behind NAT or a relay that multiplexes several processes onto
//!   one socket collapse into one sender.
//! * Two HA schedulers started together where one dies within
//!   `pair_tolerance` of the other's first beat are counted as a restart; a
//!   replacement that overlaps its predecessor by more than `pair_tolerance`
//!   is not (it looks like a scale-up followed by a death).
//! * A hung sender counts as a restart if some *other* new sender of the
//!   same component appears while it is silent; if it then resumes, the
//!   restart stays counted (counters do not go back), and the resumed
//!   sender cannot be paired as old again.
//! * Right after a restart both the old and the new sender may count as live
//!   for up to `live_window` minus the gap.
//! * The restart is attributed to the component, not to a host: "one
//!   scheduler restarted", not which one.
//! * Memory is bounded: senders silent for longer than `forget_after` (1 h)
//!   are forgotten, and at most `max_senders` (256) senders are tracked per
//!   component; a new sender beyond that evicts the longest-silent one. Both
//!   are counted in `statsd_exporter_liveness_senders_forgotten_total`. A
//!   forgotten sender can no longer be paired (a replacement arriving after
//!   `forget_after` is a start, not a restart), and a forgotten id that
//!   beats again counts as a new start.
//! * `airflow_last_heartbeat_timestamp_seconds` is the largest wall-clock
//!   time passed with a heartbeat (the receive time), not a time sent by
//!   Airflow.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::store::{FamilySnapshot, FamilyType, Labels};

/// An Airflow component that sends a heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Component {
    Scheduler,
    Triggerer,
    DagProcessor,
}

impl Component {
    pub const ALL: [Component; 3] = [
        Component::Scheduler,
        Component::Triggerer,
        Component::DagProcessor,
    ];

    /// The `component` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Scheduler => "scheduler",
            Component::Triggerer => "triggerer",
            Component::DagProcessor => "dag_processor",
        }
    }

    /// Maps a StatsD name without the `airflow.` prefix ("scheduler_heartbeat", …) to its component.
    pub fn from_heartbeat(name: &str) -> Option<Component> {
        match name {
            "scheduler_heartbeat" => Some(Component::Scheduler),
            "triggerer_heartbeat" => Some(Component::Triggerer),
            "dag_processor_heartbeat" => Some(Component::DagProcessor),
            _ => None,
        }
    }

    fn index(self) -> usize {
        match self {
            Component::Scheduler => 0,
            Component::Triggerer => 1,
            Component::DagProcessor => 2,
        }
    }
}

/// Windows and bounds of the heuristics (see the module documentation).
#[derive(Clone, Debug)]
pub struct LivenessConfig {
    /// A sender is live if it beat within this (default 30 s).
    pub live_window: Duration,
    /// A sender silent for longer than this is gone (default 15 s).
    pub silence: Duration,
    /// A new sender may appear this long before the old one's last beat and
    /// still replace it (default 10 s).
    pub pair_tolerance: Duration,
    /// Senders silent for longer than this are forgotten (default 1 h).
    pub forget_after: Duration,
    /// Senders tracked per component (default 256).
    pub max_senders: usize,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        LivenessConfig {
            live_window: Duration::from_secs(30),
            silence: Duration::from_secs(15),
            pair_tolerance: Duration::from_secs(10),
            forget_after: Duration::from_secs(3600),
            max_senders: 256,
        }
    }
}

#[derive(Clone, Debug)]
struct Sender {
    first: Instant,
    last: Instant,
    /// Paired as the silent (old) half of a restart.
    replaced: bool,
    /// Paired as the new half of a restart.
    replacement: bool,
}

#[derive(Debug, Default)]
struct ComponentState {
    senders: HashMap<u64, Sender>,
    starts: u64,
    restarts: u64,
    last_unix: Option<f64>,
    seen: bool,
    /// A sender appeared since the last pairing pass.
    dirty: bool,
    /// A lower bound of the instant after which an unpaired sender that was
    /// not silent at the last pass can be silent; `None`: no such sender.
    next_eval: Option<Instant>,
}

/// Heartbeat senders per component, their starts and restarts. Pure: the
/// caller passes `now`.
#[derive(Debug)]
pub struct Liveness {
    cfg: LivenessConfig,
    comps: [ComponentState; 3],
    forgotten: u64,
}

fn silent_for(now: Instant, last: Instant) -> Duration {
    now.saturating_duration_since(last)
}

fn min_opt(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

impl ComponentState {
    /// Forgets senders silent for longer than `forget_after`; returns how many.
    fn forget_expired(&mut self, forget_after: Duration, now: Instant) -> u64 {
        let before = self.senders.len();
        self.senders
            .retain(|_, s| silent_for(now, s.last) <= forget_after);
        (before - self.senders.len()) as u64
    }

    /// Evicts the longest-silent sender.
    fn evict_one(&mut self) -> bool {
        let victim = self
            .senders
            .iter()
            .min_by_key(|(id, s)| (s.last, **id))
            .map(|(id, _)| *id);
        match victim {
            Some(id) => {
                self.senders.remove(&id);
                true
            }
            None => false,
        }
    }

    /// Pairs silent senders with new ones, if anything could have changed
    /// since the last pass.
    fn evaluate(&mut self, cfg: &LivenessConfig, now: Instant) {
        let due = self.dirty || self.next_eval.is_some_and(|t| now > t);
        if !due {
            return;
        }
        self.dirty = false;
        self.pair(cfg, now);
        // Recompute the next instant an unpaired, still-beating sender can
        // cross the silence threshold.
        self.next_eval = self
            .senders
            .values()
            .filter(|s| !s.replaced && silent_for(now, s.last) <= cfg.silence)
            .filter_map(|s| s.last.checked_add(cfg.silence))
            .min();
    }

    fn pair(&mut self, cfg: &LivenessConfig, now: Instant) {
        // Old candidates: silent and not yet replaced; the one that beat
        // last (the most restrictive) first.
        let mut olds: Vec<(Instant, Instant, u64)> = self
            .senders
            .iter()
            .filter(|(_, s)| !s.replaced && silent_for(now, s.last) > cfg.silence)
            .map(|(id, s)| (s.last, s.first, *id))
            .collect();
        if olds.is_empty() {
            return;
        }
        olds.sort_by(|a, b| b.0.cmp(&a.0).then(a.2.cmp(&b.2)));
        // New candidates: not yet a replacement, by first appearance.
        let mut news: Vec<(Instant, u64)> = self
            .senders
            .iter()
            .filter(|(_, s)| !s.replacement)
            .map(|(id, s)| (s.first, *id))
            .collect();
        news.sort_unstable();
        let mut used = vec![false; news.len()];
        let tol = cfg.pair_tolerance;
        for (old_last, old_first, old_id) in olds {
            // First new sender with first >= old_last - tol (written without
            // subtracting from an Instant).
            let start =
                news.partition_point(|(f, _)| f.checked_add(tol).is_some_and(|x| x < old_last));
            let found = (start..news.len())
                .find(|&j| !used[j] && news[j].1 != old_id && news[j].0 > old_first);
            if let Some(j) = found {
                used[j] = true;
                let new_id = news[j].1;
                if let Some(s) = self.senders.get_mut(&old_id) {
                    s.replaced = true;
                }
                if let Some(s) = self.senders.get_mut(&new_id) {
                    s.replacement = true;
                }
                self.restarts += 1;
            }
        }
    }

    fn live(&self, cfg: &LivenessConfig, now: Instant) -> usize {
        self.senders
            .values()
            .filter(|s| silent_for(now, s.last) <= cfg.live_window)
            .count()
    }
}

fn component_labels(c: Component) -> Labels {
    [("component", c.as_str())].into_iter().collect()
}

impl Liveness {
    pub fn new(cfg: LivenessConfig) -> Self {
        Liveness {
            cfg,
            comps: Default::default(),
            forgotten: 0,
        }
    }

    /// One heartbeat line from `sender` (an opaque id: the caller hashes the socket address / connection), at monotonic `now` and wall-clock `unix_seconds`.
    pub fn heartbeat(&mut self, c: Component, sender: u64, now: Instant, unix_seconds: f64) {
        let cfg = &self.cfg;
        let st = &mut self.comps[c.index()];
        st.seen = true;
        if unix_seconds.is_finite() {
            st.last_unix = Some(st.last_unix.map_or(unix_seconds, |u| u.max(unix_seconds)));
        }
        match st.senders.get_mut(&sender) {
            Some(s) => {
                if now > s.last {
                    s.last = now;
                }
                if !s.replaced {
                    st.next_eval = min_opt(st.next_eval, now.checked_add(cfg.silence));
                }
            }
            None => {
                self.forgotten += st.forget_expired(cfg.forget_after, now);
                while st.senders.len() >= cfg.max_senders.max(1) && st.evict_one() {
                    self.forgotten += 1;
                }
                st.senders.insert(
                    sender,
                    Sender {
                        first: now,
                        last: now,
                        replaced: false,
                        replacement: false,
                    },
                );
                st.starts += 1;
                st.dirty = true;
                st.next_eval = min_opt(st.next_eval, now.checked_add(cfg.silence));
            }
        }
        st.evaluate(cfg, now);
    }

    /// Families to expose (see the module documentation). Also pairs and
    /// forgets senders as of `now`.
    pub fn families(&mut self, now: Instant) -> Vec<FamilySnapshot> {
        let cfg = &self.cfg;
        for st in self.comps.iter_mut() {
            // Pair before forgetting, so a sender silent for exactly
            // `forget_after` still gets its chance.
            st.evaluate(cfg, now);
            self.forgotten += st.forget_expired(cfg.forget_after, now);
        }

        let mut live = Vec::new();
        let mut last = Vec::new();
        let mut starts = Vec::new();
        let mut restarts = Vec::new();
        for c in Component::ALL {
            let st = &self.comps[c.index()];
            let labels = component_labels(c);
            if st.seen {
                live.push((labels.clone(), st.live(cfg, now) as f64));
                if let Some(u) = st.last_unix {
                    last.push((labels.clone(), u));
                }
            }
            starts.push((labels.clone(), st.starts as f64));
            restarts.push((labels, st.restarts as f64));
        }
        let forgotten = vec![(Labels::default(), self.forgotten as f64)];

        let fam = |name: &str, help: &str, kind: FamilyType, series: Vec<(Labels, f64)>| {
            FamilySnapshot::of_values(name, help, kind, series)
        };
        let out = vec![
            fam(
                "airflow_live_heartbeat_senders",
                "Airflow processes of this component that sent a heartbeat within the live window.",
                FamilyType::Gauge,
                live,
            ),
            fam(
                "airflow_last_heartbeat_timestamp_seconds",
                "Unix time of the last heartbeat received from this component.",
                FamilyType::Gauge,
                last,
            ),
            fam(
                "airflow_heartbeat_sender_starts_total",
                "New heartbeat senders (process starts) seen for this component.",
                FamilyType::Counter,
                starts,
            ),
            fam(
                "airflow_restarts_total",
                "Restarts: a new heartbeat sender appeared after another of the same component went silent.",
                FamilyType::Counter,
                restarts,
            ),
            fam(
                "statsd_exporter_liveness_senders_forgotten_total",
                "Heartbeat senders dropped from liveness tracking (silent too long, or over the per-component limit).",
                FamilyType::Counter,
                forgotten,
            ),
        ];
        out.into_iter().filter(|f| !f.series.is_empty()).collect()
    }

    /// Restarts counted for `c` as of the last `heartbeat` / `families` call.
    pub fn restarts(&self, c: Component) -> u64 {
        self.comps[c.index()].restarts
    }

    /// Sender starts counted for `c`.
    pub fn starts(&self, c: Component) -> u64 {
        self.comps[c.index()].starts
    }

    /// Senders of `c` that beat within `live_window` of `now`.
    pub fn live(&self, c: Component, now: Instant) -> usize {
        self.comps[c.index()].live(&self.cfg, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SnapValue;
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};

    const S: Component = Component::Scheduler;
    const T: Component = Component::Triggerer;
    const D: Component = Component::DagProcessor;

    /// A test harness: times in seconds from a fixed base.
    struct Sim {
        l: Liveness,
        base: Instant,
    }

    impl Sim {
        fn new() -> Self {
            Sim {
                l: Liveness::new(LivenessConfig::default()),
                base: Instant::now(),
            }
        }
        fn at(&self, t: f64) -> Instant {
            self.base + Duration::from_secs_f64(t)
        }
        fn beat(&mut self, c: Component, sender: u64, t: f64) {
            let now = self.at(t);
            self.l.heartbeat(c, sender, now, 1_800_000_000.0 + t);
        }
        /// `sender` beats every 5 s over [from, to].
        fn beats(&mut self, c: Component, sender: u64, from: f64, to: f64) {
            let mut t = from;
            while t <= to + 1e-9 {
                self.beat(c, sender, t);
                t += 5.0;
            }
        }
        /// Several senders beating every 5 s, interleaved in time order.
        fn run(&mut self, spans: &[(Component, u64, f64, f64)]) {
            self.run_checked(spans, &[], "");
        }
        /// Like `run`, asserting the live scheduler count at each checkpoint
        /// (both `live` and the gauge from a scrape at that time).
        fn run_checked(
            &mut self,
            spans: &[(Component, u64, f64, f64)],
            live: &[(f64, usize)],
            name: &str,
        ) {
            let mut ev: Vec<(f64, Component, u64)> = Vec::new();
            for &(c, s, from, to) in spans {
                let mut t = from;
                while t <= to + 1e-9 {
                    ev.push((t, c, s));
                    t += 5.0;
                }
            }
            ev.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut ev = ev.into_iter().peekable();
            for &(at, want) in live {
                while let Some((t, c, s)) = ev.next_if(|e| e.0 <= at) {
                    self.beat(c, s, t);
                }
                assert_eq!(self.live(S, at), want, "{name}: live at {at}");
                let fams = self.scrape(at);
                assert_eq!(
                    value(&fams, "airflow_live_heartbeat_senders", Some("scheduler")),
                    Some(want as f64),
                    "{name}: live gauge at {at}"
                );
            }
            for (t, c, s) in ev {
                self.beat(c, s, t);
            }
        }
        fn scrape(&mut self, t: f64) -> Vec<FamilySnapshot> {
            let now = self.at(t);
            self.l.families(now)
        }
        fn live(&self, c: Component, t: f64) -> usize {
            self.l.live(c, self.at(t))
        }
    }

    fn value(fams: &[FamilySnapshot], name: &str, component: Option<&str>) -> Option<f64> {
        let f = fams.iter().find(|f| &*f.name == name)?;
        f.series.iter().find_map(|s| {
            let matches = match component {
                Some(c) => s.labels.iter().any(|(k, v)| k == "component" && v == c),
                None => s.labels.is_empty(),
            };
            match (matches, &s.value) {
                (true, SnapValue::Single(v)) => Some(*v),
                _ => None,
            }
        })
    }

    #[test]
    fn component_names() {
        for c in Component::ALL {
            let name = format!("{}_heartbeat", c.as_str());
            assert_eq!(Component::from_heartbeat(&name), Some(c));
        }
        assert_eq!(
            Component::from_heartbeat("airflow.scheduler_heartbeat"),
            None
        );
        assert_eq!(Component::from_heartbeat("job_heartbeat_failure"), None);
    }

    #[test]
    fn nothing_seen_exposes_zero_counters_only() {
        let mut sim = Sim::new();
        let fams = sim.scrape(0.0);
        let names: Vec<&str> = fams.iter().map(|f| &*f.name).collect();
        assert_eq!(
            names,
            [
                "airflow_heartbeat_sender_starts_total",
                "airflow_restarts_total",
                "statsd_exporter_liveness_senders_forgotten_total"
            ]
        );
        for c in Component::ALL {
            for n in [
                "airflow_heartbeat_sender_starts_total",
                "airflow_restarts_total",
            ] {
                assert_eq!(value(&fams, n, Some(c.as_str())), Some(0.0), "{n} {c:?}");
            }
        }
        assert_eq!(
            value(
                &fams,
                "statsd_exporter_liveness_senders_forgotten_total",
                None
            ),
            Some(0.0)
        );
        let kinds: Vec<FamilyType> = fams.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [FamilyType::Counter; 3]);
    }

    /// Table of scenarios: senders beating every 5 s over [from, to]; the
    /// expected scheduler starts, restarts and live counts at given times.
    #[test]
    fn scenarios() {
        struct Case {
            name: &'static str,
            spans: &'static [(Component, u64, f64, f64)],
            starts: u64,
            restarts: u64,
            live: &'static [(f64, usize)],
        }
        let cases = [
            Case {
                name: "steady single scheduler",
                spans: &[(S, 1, 0.0, 600.0)],
                starts: 1,
                restarts: 0,
                live: &[(0.0, 1), (300.0, 1), (600.0, 1), (629.0, 1), (631.0, 0)],
            },
            Case {
                // The corpus shape: old silent, the new one 13 s later.
                name: "restart with a gap",
                spans: &[(S, 1, 0.0, 290.0), (S, 2, 303.0, 600.0)],
                starts: 2,
                restarts: 1,
                live: &[(280.0, 1), (310.0, 2), (321.0, 1), (600.0, 1)],
            },
            Case {
                name: "replacement minutes later",
                spans: &[(S, 1, 0.0, 100.0), (S, 2, 400.0, 600.0)],
                starts: 2,
                restarts: 1,
                live: &[(300.0, 0), (400.0, 1)],
            },
            Case {
                name: "HA two schedulers, one dies",
                spans: &[(S, 1, 0.0, 600.0), (S, 2, 1.0, 200.0)],
                starts: 2,
                restarts: 0,
                live: &[(100.0, 2), (225.0, 2), (227.0, 1), (600.0, 1)],
            },
            Case {
                name: "HA two schedulers, one restarts",
                spans: &[(S, 1, 0.0, 600.0), (S, 2, 1.0, 200.0), (S, 3, 212.0, 600.0)],
                starts: 3,
                restarts: 1,
                live: &[(100.0, 2), (215.0, 3), (300.0, 2)],
            },
            Case {
                name: "hang 5 minutes, resume from the same sender",
                spans: &[(S, 1, 0.0, 100.0), (S, 1, 400.0, 600.0)],
                starts: 1,
                restarts: 0,
                live: &[(100.0, 1), (200.0, 0), (400.0, 1), (600.0, 1)],
            },
            Case {
                name: "HA, one hangs and resumes",
                spans: &[(S, 1, 0.0, 600.0), (S, 2, 1.0, 100.0), (S, 2, 401.0, 600.0)],
                starts: 2,
                restarts: 0,
                live: &[(200.0, 1), (401.0, 2)],
            },
            Case {
                name: "two restarts in a row",
                spans: &[
                    (S, 1, 0.0, 100.0),
                    (S, 2, 120.0, 200.0),
                    (S, 3, 220.0, 600.0),
                ],
                starts: 3,
                restarts: 2,
                live: &[(300.0, 1)],
            },
            Case {
                name: "overlap longer than the tolerance is a scale-up and a death",
                spans: &[(S, 1, 0.0, 100.0), (S, 2, 80.0, 600.0)],
                starts: 2,
                restarts: 0,
                live: &[(90.0, 2), (300.0, 1)],
            },
            Case {
                name: "other components do not count for the scheduler",
                spans: &[
                    (S, 1, 0.0, 100.0),
                    (T, 2, 120.0, 600.0),
                    (D, 3, 120.0, 600.0),
                ],
                starts: 1,
                restarts: 0,
                live: &[(300.0, 0)],
            },
        ];
        for case in &cases {
            let mut sim = Sim::new();
            sim.run_checked(case.spans, case.live, case.name);
            let fams = sim.scrape(700.0);
            assert_eq!(sim.l.starts(S), case.starts, "{}: starts", case.name);
            assert_eq!(sim.l.restarts(S), case.restarts, "{}: restarts", case.name);
            assert_eq!(
                value(&fams, "airflow_restarts_total", Some("scheduler")),
                Some(case.restarts as f64),
                "{}",
                case.name
            );
            assert_eq!(
                value(
                    &fams,
                    "airflow_heartbeat_sender_starts_total",
                    Some("scheduler")
                ),
                Some(case.starts as f64),
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn fast_restart_counts_once_the_old_crosses_silence() {
        let mut sim = Sim::new();
        sim.beats(S, 1, 0.0, 100.0);
        // The new sender appears 3 s after the old one's last beat.
        sim.beat(S, 2, 103.0);
        assert_eq!(sim.l.restarts(S), 0);
        sim.beat(S, 2, 108.0);
        sim.beat(S, 2, 113.0);
        sim.scrape(114.0);
        assert_eq!(sim.l.restarts(S), 0, "old not silent for > 15 s yet");
        // The next beat of the new sender, after the threshold, pairs them.
        sim.beat(S, 2, 118.0);
        assert_eq!(sim.l.restarts(S), 1);
        sim.beats(S, 2, 123.0, 600.0);
        sim.scrape(600.0);
        assert_eq!(sim.l.restarts(S), 1);
        assert_eq!(sim.live(S, 600.0), 1);

        // Same, but only a scrape crosses the threshold.
        let mut sim = Sim::new();
        sim.beats(S, 1, 0.0, 100.0);
        sim.beat(S, 2, 103.0);
        sim.scrape(115.5);
        assert_eq!(sim.l.restarts(S), 1);
    }

    #[test]
    fn new_sender_before_the_old_one_starts_cannot_replace_it() {
        let mut sim = Sim::new();
        // Sender 1 lives for 4 s only; sender 2 appeared 1 s before it.
        sim.beat(S, 2, 0.0);
        sim.beat(S, 1, 1.0);
        sim.beat(S, 1, 4.0);
        sim.beats(S, 2, 5.0, 100.0);
        sim.scrape(100.0);
        assert_eq!(sim.l.restarts(S), 0);
    }

    #[test]
    fn gauges_and_timestamp() {
        let mut sim = Sim::new();
        sim.beats(S, 1, 0.0, 100.0);
        sim.beats(T, 7, 0.0, 50.0);
        let fams = sim.scrape(100.0);
        assert_eq!(
            value(&fams, "airflow_live_heartbeat_senders", Some("scheduler")),
            Some(1.0)
        );
        assert_eq!(
            value(&fams, "airflow_live_heartbeat_senders", Some("triggerer")),
            Some(0.0)
        );
        assert_eq!(
            value(
                &fams,
                "airflow_live_heartbeat_senders",
                Some("dag_processor")
            ),
            None
        );
        assert_eq!(
            value(
                &fams,
                "airflow_last_heartbeat_timestamp_seconds",
                Some("scheduler")
            ),
            Some(1_800_000_100.0)
        );
        assert_eq!(
            value(
                &fams,
                "airflow_last_heartbeat_timestamp_seconds",
                Some("triggerer")
            ),
            Some(1_800_000_050.0)
        );
        assert_eq!(
            value(
                &fams,
                "airflow_last_heartbeat_timestamp_seconds",
                Some("dag_processor")
            ),
            None
        );
        for f in &fams {
            let want = if f.name.ends_with("_total") {
                FamilyType::Counter
            } else {
                FamilyType::Gauge
            };
            assert_eq!(f.kind, want, "{}", f.name);
            assert!(!f.help.is_empty());
        }
    }

    #[test]
    fn components_are_independent() {
        let mut sim = Sim::new();
        sim.run(&[
            (S, 1, 0.0, 600.0),
            // Triggerer restarts; dag processor restarts twice.
            (T, 2, 0.0, 100.0),
            (T, 3, 113.0, 600.0),
            (D, 4, 0.0, 100.0),
            (D, 5, 113.0, 300.0),
            (D, 6, 320.0, 600.0),
        ]);
        sim.scrape(600.0);
        assert_eq!((sim.l.starts(S), sim.l.restarts(S)), (1, 0));
        assert_eq!((sim.l.starts(T), sim.l.restarts(T)), (2, 1));
        assert_eq!((sim.l.starts(D), sim.l.restarts(D)), (3, 2));
        for c in Component::ALL {
            assert_eq!(sim.live(c, 600.0), 1, "{c:?}");
        }
        // A scheduler sender id reused by another component is a different sender.
        let mut sim = Sim::new();
        sim.run(&[(S, 1, 0.0, 100.0), (T, 1, 113.0, 600.0)]);
        sim.scrape(600.0);
        assert_eq!(sim.l.restarts(S), 0);
        assert_eq!(sim.l.restarts(T), 0);
    }

    #[test]
    fn forget_after_silence() {
        let mut sim = Sim::new();
        sim.beats(S, 1, 0.0, 100.0);
        sim.scrape(100.0 + 3600.0);
        assert_eq!(sim.l.comps[0].senders.len(), 1);
        let fams = sim.scrape(100.0 + 3601.0);
        assert_eq!(sim.l.comps[0].senders.len(), 0);
        assert_eq!(
            value(
                &fams,
                "statsd_exporter_liveness_senders_forgotten_total",
                None
            ),
            Some(1.0)
        );
        // A replacement after the old one was forgotten is a start, not a restart.
        sim.beat(S, 2, 4000.0);
        assert_eq!((sim.l.starts(S), sim.l.restarts(S)), (2, 0));
        // The gauges stay, with the last timestamp seen.
        let fams = sim.scrape(8000.0);
        assert_eq!(
            value(
                &fams,
                "airflow_last_heartbeat_timestamp_seconds",
                Some("scheduler")
            ),
            Some(1_800_004_000.0)
        );
        assert_eq!(
            value(&fams, "airflow_live_heartbeat_senders", Some("scheduler")),
            Some(0.0)
        );
    }

    #[test]
    fn memory_is_bounded() {
        let cfg = LivenessConfig::default();
        let max = cfg.max_senders;
        let mut l = Liveness::new(cfg);
        let base = Instant::now();
        for i in 0..10_000u64 {
            let now = base + Duration::from_millis(i * 10);
            l.heartbeat(S, i, now, 1_800_000_000.0 + i as f64 / 100.0);
            assert!(l.comps[0].senders.len() <= max);
        }
        assert_eq!(l.comps[0].senders.len(), max);
        assert_eq!(l.starts(S), 10_000);
        // The survivors are the most recent senders.
        assert!(l.comps[0]
            .senders
            .keys()
            .all(|&id| id >= 10_000 - max as u64));
        let now = base + Duration::from_secs(100);
        let fams = l.families(now);
        assert_eq!(
            value(
                &fams,
                "statsd_exporter_liveness_senders_forgotten_total",
                None
            ),
            Some((10_000 - max) as f64)
        );
        assert!(l.restarts(S) <= 10_000);
        // Other components are untouched.
        assert_eq!(l.comps[1].senders.len(), 0);

        // A custom bound, with the longest-silent evicted first.
        let mut l = Liveness::new(LivenessConfig {
            max_senders: 2,
            ..LivenessConfig::default()
        });
        l.heartbeat(S, 1, base, 0.0);
        l.heartbeat(S, 2, base + Duration::from_secs(1), 0.0);
        l.heartbeat(S, 1, base + Duration::from_secs(2), 0.0);
        l.heartbeat(S, 3, base + Duration::from_secs(3), 0.0);
        let mut ids: Vec<u64> = l.comps[0].senders.keys().copied().collect();
        ids.sort();
        assert_eq!(ids, [1, 3]);
        assert_eq!(l.forgotten, 1);
    }

    fn hash_src(src: &str) -> u64 {
        let mut h = DefaultHasher::new();
        src.hash(&mut h);
        h.finish()
    }

    /// The heartbeat component of one StatsD line, in any of the three modes.
    fn heartbeat_of(line: &str) -> Option<Component> {
        let name = line.strip_prefix("airflow.")?;
        let end = name.find([':', ',', '|']).unwrap_or(name.len());
        Component::from_heartbeat(&name[..end])
    }

    #[test]
    fn corpus_replay() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        files.sort();
        assert_eq!(files.len(), 6, "{files:?}");
        for path in &files {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let text = std::fs::read_to_string(path).unwrap();
            let mut l = Liveness::new(LivenessConfig::default());
            let base = Instant::now();
            let mut t0 = None;
            let mut end = base;
            let mut beats = 0;
            for row in text.lines().filter(|r| !r.trim().is_empty()) {
                let v: serde_json::Value = serde_json::from_str(row).unwrap();
                let t = v["t"].as_f64().unwrap();
                let src = v["src"].as_str().unwrap();
                let data = v["data"].as_str().unwrap();
                let t0 = *t0.get_or_insert(t);
                let now = base + Duration::from_secs_f64((t - t0).max(0.0));
                end = end.max(now);
                for line in data.split('\n') {
                    if let Some(c) = heartbeat_of(line) {
                        l.heartbeat(c, hash_src(src), now, t);
                        beats += 1;
                    }
                }
            }
            assert!(beats > 50, "{name}: {beats} heartbeats");
            let fams = l.families(end);
            let (restarts, starts) = if name.ends_with("-plain.jsonl") {
                (1, 2)
            } else {
                (0, 1)
            };
            assert_eq!(l.restarts(S), restarts, "{name}: scheduler restarts");
            assert_eq!(l.starts(S), starts, "{name}: scheduler starts");
            assert_eq!(
                value(&fams, "airflow_restarts_total", Some("scheduler")),
                Some(restarts as f64),
                "{name}"
            );
            assert_eq!(l.restarts(T), 0, "{name}: triggerer restarts");
            assert_eq!(l.starts(T), 1, "{name}: triggerer starts");
            assert_eq!(l.restarts(D), 0, "{name}: dag_processor restarts");
            assert_eq!(l.live(S, end), 1, "{name}: live schedulers at the end");
            assert_eq!(l.live(T, end), 1, "{name}: live triggerers at the end");
            let dag_processor = name.starts_with("airflow-3.");
            assert_eq!(l.live(D, end), usize::from(dag_processor), "{name}");
            // Nothing changes when evaluated later, after everything went silent.
            l.families(end + Duration::from_secs(600));
            assert_eq!(l.restarts(S), restarts, "{name}: later");
        }
    }
}
