//! A realistic Airflow StatsD traffic simulator (`simulate` subcommand).
//!
//! The traffic of a configurable Airflow deployment (schedulers, triggerer,
//! dag-processor, task processes; N DAGs × M tasks; pools; an executor;
//! failures and retries) is generated on a **virtual clock** and shaped after
//! the real captures in `tests/data/corpus/`: the same names, the same order
//! of legacy and tagged copies, the same value formats and timer units per
//! mode and Airflow version. See `docs/simulator.md`.
//!
//! [`Simulator`] yields the datagrams one by one, in virtual-time order, each
//! with the id of the simulated process (socket) that sends it. [`generate`]
//! runs it to the end into a callback (no sockets: for tests and benchmarks);
//! [`cli::run`] sends every datagram through a `cadence` UDP sink, one sink
//! (and socket) per simulated process, paced in real time or by a rate.
//!
//! Deterministic: the same [`SimConfig`] (seed included) always gives the
//! same datagrams, sender ids and virtual timestamps.

pub mod cli;
pub mod wire;

#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};

use wire::Wire;
pub use wire::{Mode, TimerKind, Val};

/// Opaque id of one simulated sending socket. A restarted process gets a
/// new id, as a real restart sends from a new source port.
pub type SenderId = u64;

/// The Airflow process kind behind a sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Component {
    Scheduler,
    Triggerer,
    DagProcessor,
    /// One task try (2.x `LocalTaskJob` / 3.x task-sdk supervisor).
    Worker,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Scheduler => "scheduler",
            Component::Triggerer => "triggerer",
            Component::DagProcessor => "dag_processor",
            Component::Worker => "worker",
        }
    }
}

/// Executor class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Executor {
    Local,
    Celery,
    Kubernetes,
}

impl Executor {
    pub fn class_name(self) -> &'static str {
        match self {
            Executor::Local => "LocalExecutor",
            Executor::Celery => "CeleryExecutor",
            Executor::Kubernetes => "KubernetesExecutor",
        }
    }

    pub fn parse(s: &str) -> Option<Executor> {
        match s {
            "LocalExecutor" => Some(Executor::Local),
            "CeleryExecutor" => Some(Executor::Celery),
            "KubernetesExecutor" => Some(Executor::Kubernetes),
            _ => None,
        }
    }
}

/// Scenario switches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    None,
    /// Scheduler 0 stops (clean `job_end`, socket closed) and a new process
    /// starts after the gap, from a new socket.
    SchedulerRestart,
    /// Scheduler 0 sends nothing (heartbeats included) for the duration,
    /// then resumes from the same socket.
    SchedulerHang,
    /// With two or more schedulers, the last one dies for good (no
    /// `job_end`); a survivor later reports `schedulerjobrunner_end`.
    HaSchedulerDies,
    /// One DAG file fails to import: `dag_processing.import_errors` > 0.
    ImportError,
    /// One pool's open slots drop to 0; its tasks starve.
    PoolFull,
}

impl Scenario {
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::None => "none",
            Scenario::SchedulerRestart => "scheduler-restart",
            Scenario::SchedulerHang => "scheduler-hang",
            Scenario::HaSchedulerDies => "ha-scheduler-dies",
            Scenario::ImportError => "import-error",
            Scenario::PoolFull => "pool-full",
        }
    }

    pub fn parse(s: &str) -> Option<Scenario> {
        [
            Scenario::None,
            Scenario::SchedulerRestart,
            Scenario::SchedulerHang,
            Scenario::HaSchedulerDies,
            Scenario::ImportError,
            Scenario::PoolFull,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }

    /// Default length of the scenario's window, in virtual seconds.
    pub fn default_duration(self) -> f64 {
        match self {
            Scenario::SchedulerRestart => 13.0,
            Scenario::SchedulerHang => 120.0,
            _ => 60.0,
        }
    }
}

/// A simulated deployment. `SimConfig::default()` is what the CLI gives
/// without flags (plus a 300 s duration).
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// 2 (2.11 behaviour) or 3 (3.3 behaviour).
    pub airflow_version: u8,
    pub mode: Mode,
    /// 3.x `[metrics] legacy_names_on`. Must be true on 2.x.
    pub legacy_names: bool,
    /// `statsd_prefix`.
    pub prefix: String,
    /// DogStatsD constant tags (`statsd_datadog_tags`), `k:v` each.
    pub dogstatsd_tags: Vec<String>,
    pub schedulers: usize,
    pub dags: usize,
    pub tasks: usize,
    /// Number of pools, `default_pool` included (at least 1).
    pub pools: usize,
    /// Slots of each pool other than `default_pool` (128).
    pub pool_slots: usize,
    pub executor: Executor,
    /// `[core] parallelism`: executor slots.
    pub parallelism: usize,
    /// Fraction of task tries that fail, in [0, 1].
    pub failure_ratio: f64,
    /// Retries per task (a try that fails with retries left ends
    /// `up_for_retry`, the last one `failed`).
    pub retries: u32,
    /// Schedule interval of every DAG, virtual seconds.
    pub dag_interval: f64,
    pub seed: u64,
    pub scenario: Scenario,
    /// Virtual time at which the scenario starts.
    pub scenario_at: f64,
    /// Length of the scenario window (restart gap, hang, import error,
    /// pool full); `None` = the scenario's default.
    pub scenario_duration: Option<f64>,
    /// Stop after this much virtual time (seconds).
    pub duration: Option<f64>,
    /// Stop after the datagram that reaches this many lines.
    pub count: Option<u64>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            airflow_version: 3,
            mode: Mode::Plain,
            legacy_names: true,
            prefix: "airflow".into(),
            dogstatsd_tags: vec!["env:sim".into(), "deployment:airflow-sim".into()],
            schedulers: 1,
            dags: 4,
            tasks: 3,
            pools: 2,
            pool_slots: 8,
            executor: Executor::Local,
            parallelism: 32,
            failure_ratio: 0.1,
            retries: 1,
            dag_interval: 60.0,
            seed: 1,
            scenario: Scenario::None,
            scenario_at: 60.0,
            scenario_duration: None,
            duration: Some(300.0),
            count: None,
        }
    }
}

impl SimConfig {
    /// Checks combinations the flags cannot express.
    pub fn validate(&self) -> Result<(), String> {
        if self.airflow_version != 2 && self.airflow_version != 3 {
            return Err(format!(
                "--airflow-version must be 2 or 3, got {}",
                self.airflow_version
            ));
        }
        if self.airflow_version == 2 && !self.legacy_names {
            return Err(
                "--legacy-names=false needs --airflow-version=3 (Airflow 2.x always \
                        sends the legacy names)"
                    .into(),
            );
        }
        if self.schedulers == 0 {
            return Err("--schedulers must be at least 1".into());
        }
        if self.pools == 0 {
            return Err("--pools must be at least 1 (default_pool)".into());
        }
        if self.parallelism == 0 {
            return Err("--parallelism must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.failure_ratio) {
            return Err(format!(
                "--failure-ratio must be within [0, 1], got {}",
                self.failure_ratio
            ));
        }
        if self.dag_interval.is_nan() || self.dag_interval < 1.0 {
            return Err("--dag-interval must be at least 1 second".into());
        }
        if self.scenario == Scenario::HaSchedulerDies && self.schedulers < 2 {
            return Err("--scenario=ha-scheduler-dies needs --schedulers=2 or more".into());
        }
        if self.prefix.is_empty() {
            return Err("--prefix must not be empty".into());
        }
        Ok(())
    }

    fn v3(&self) -> bool {
        self.airflow_version == 3
    }

    fn scenario_end(&self) -> f64 {
        self.scenario_at
            + self
                .scenario_duration
                .unwrap_or_else(|| self.scenario.default_duration())
    }

    /// `dag_id` of DAG `i`: dots and dashes, like real ids.
    pub fn dag_id(i: usize) -> String {
        const GROUPS: [&str; 3] = ["team", "sales", "ml_ops"];
        format!("{}.etl-dag_{i}", GROUPS[i % GROUPS.len()])
    }

    /// `task_id` of task `j` (a task-group member: `group.extract-3`).
    pub fn task_id(j: usize) -> String {
        const GROUPS: [&str; 3] = ["group", "tg_main", "stage-2"];
        const VERBS: [&str; 5] = ["extract", "transform", "load", "validate", "publish"];
        format!(
            "{}.{}-{j}",
            GROUPS[j % GROUPS.len()],
            VERBS[j % VERBS.len()]
        )
    }

    /// Name of pool `k` (`default_pool` first).
    pub fn pool_name(k: usize) -> String {
        if k == 0 {
            "default_pool".into()
        } else {
            format!("etl_pool-{k}")
        }
    }
}

/// One datagram, as [`Simulator::next_item`] and [`generate`] give it.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    pub sender: SenderId,
    pub component: Component,
    /// Virtual time since the start of the simulation, seconds.
    pub at: f64,
    /// The bytes to send (one UDP payload).
    pub data: &'a [u8],
    /// Number of StatsD lines in `data`.
    pub lines: usize,
}

/// What the simulator produces next.
#[derive(Debug)]
pub enum Item<'a> {
    Datagram(Datagram<'a>),
    /// The process behind this sender exited: its socket is closed.
    Closed(SenderId),
}

/// Counts of what was generated.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub datagrams: u64,
    pub lines: u64,
    pub bytes: u64,
    /// Lines per family: the tagged name (legacy copies count under it),
    /// e.g. `ti.finish`; DogStatsD client telemetry under `datadog.dogstatsd.client`.
    pub per_family: BTreeMap<String, u64>,
    /// Senders opened per component.
    pub senders: BTreeMap<&'static str, u64>,
    /// Virtual time of the last datagram.
    pub virtual_seconds: f64,
}

impl Summary {
    /// Human-readable text (what the CLI prints to stderr).
    pub fn render(&self, cfg: &SimConfig) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "simulate: Airflow {}.x, mode={}, legacy_names={}, scenario={}",
            cfg.airflow_version,
            cfg.mode.as_str(),
            cfg.legacy_names,
            cfg.scenario.as_str()
        );
        let _ = writeln!(
            out,
            "  {} lines in {} datagrams ({} bytes) over {:.1} virtual seconds",
            self.lines, self.datagrams, self.bytes, self.virtual_seconds
        );
        let senders: Vec<String> = self
            .senders
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(out, "  senders opened: {}", senders.join(", "));
        let _ = writeln!(out, "  lines per family ({}):", cfg.mode.as_str());
        let width = self.per_family.keys().map(String::len).max().unwrap_or(0);
        for (family, n) in &self.per_family {
            let _ = writeln!(out, "    {family:<width$}  {n}");
        }
        out
    }
}

/// Runs a bounded simulation (`cfg.duration` or `cfg.count` must be set)
/// into `sink`, in order. Returns the summary.
///
/// # Panics
/// If the configuration is invalid or unbounded.
pub fn generate(cfg: &SimConfig, sink: &mut dyn FnMut(&Datagram<'_>)) -> Summary {
    assert!(
        cfg.duration.is_some() || cfg.count.is_some(),
        "generate needs cfg.duration or cfg.count"
    );
    let mut sim = Simulator::new(cfg.clone()).expect("valid simulation config");
    while let Some(item) = sim.next_item() {
        if let Item::Datagram(d) = item {
            sink(&d);
        }
    }
    sim.summary().clone()
}

// ---------------------------------------------------------------------------
// Deterministic randomness (SplitMix64).
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }
}

// ---------------------------------------------------------------------------
// Model.
// ---------------------------------------------------------------------------

/// The 14 `ti.finish` states Airflow 2.x pre-initialises at task start, in
/// wire order (`State.task_states`, `None` first).
const TI_STATES_2X: [&str; 14] = [
    "None",
    "removed",
    "scheduled",
    "queued",
    "running",
    "success",
    "restarting",
    "failed",
    "up_for_retry",
    "up_for_reschedule",
    "upstream_failed",
    "skipped",
    "deferred",
    "shutdown",
];

const OPERATORS: [&str; 3] = ["PythonOperator", "BashOperator", "SQLExecuteQueryOperator"];
const QUEUE: &str = "default";
const BUNDLE: &str = "dags-folder";
const TRIGGERER_HOST: &str = "airflow-triggerer-0";
const DEFAULT_POOL_SLOTS: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Start,
    SchedLoop(usize),
    SchedHeartbeat(usize),
    TiMetrics(usize),
    Orphans(usize),
    TriggererTick,
    DagProcHeartbeat,
    ParseCycle,
    DagRunStart(usize),
    TaskReady(usize),
    TaskStart(usize),
    TaskEnd(usize),
    ScenarioBegin,
    ScenarioEnd,
    HaReport(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SchedState {
    Up,
    Down,
    Hung,
}

#[derive(Debug)]
struct Sched {
    sender: SenderId,
    state: SchedState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TiState {
    /// Waiting for a pool/executor slot.
    Scheduled,
    Queued,
    Running,
}

#[derive(Debug)]
struct Run {
    run_type: &'static str,
    data_interval_end: f64,
    started: f64,
    task: usize,
    try_number: u32,
    state: Option<TiState>,
    first_task_started: bool,
    /// Worker sender of the running try.
    worker: Option<SenderId>,
    queued_at: f64,
    scheduled_at: f64,
    ti_started: f64,
    job_id: u64,
}

#[derive(Debug)]
struct Dag {
    id: String,
    file_stem: String,
    pool: usize,
    tasks: Vec<(String, &'static str, f64)>,
    next_run: f64,
    run: Option<Run>,
}

#[derive(Debug, Default)]
struct Pool {
    slots: usize,
    /// Pool-full scenario: slots forced to 0.
    full: bool,
    queued: usize,
    running: usize,
    waiting: VecDeque<usize>,
}

impl Pool {
    fn capacity(&self) -> usize {
        if self.full {
            0
        } else {
            self.slots
        }
    }

    fn open(&self) -> i64 {
        (self.capacity() as i64 - self.queued as i64 - self.running as i64).max(0)
    }
}

#[derive(Debug, Default)]
struct TelemetryState {
    last: f64,
    metrics: u64,
    bytes: u64,
    packets: u64,
}

struct Out {
    sender: SenderId,
    component: Component,
    at: f64,
    data: String,
    lines: usize,
    closes: bool,
    family: String,
}

/// The simulation: an event queue on a virtual clock and the state of the
/// deployment. Pull datagrams with [`Simulator::next_item`].
pub struct Simulator {
    cfg: SimConfig,
    wire: Wire,
    rng: Rng,
    now: f64,
    events: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    seq: u64,
    out: VecDeque<Out>,
    current: Option<Out>,
    done: bool,
    next_sender: SenderId,
    sender_component: HashMap<SenderId, Component>,
    scheds: Vec<Sched>,
    triggerer: SenderId,
    dag_processor: Option<SenderId>,
    dags: Vec<Dag>,
    pools: Vec<Pool>,
    exec_queued: usize,
    exec_running: usize,
    fail_acc: f64,
    import_error: bool,
    ti_gauges_sent: HashMap<(usize, &'static str), usize>,
    telemetry: HashMap<SenderId, TelemetryState>,
    next_job_id: u64,
    summary: Summary,
}

fn us(t: f64) -> u64 {
    (t * 1e6).round().max(0.0) as u64
}

impl Simulator {
    pub fn new(cfg: SimConfig) -> Result<Simulator, String> {
        cfg.validate()?;
        let wire = Wire {
            mode: cfg.mode,
            v3: cfg.v3(),
            prefix: cfg.prefix.clone(),
            constant_tags: cfg.dogstatsd_tags.clone(),
        };
        let mut rng = Rng(cfg.seed ^ 0xA1F1_0A57_5EED_0000);
        let mut dags = Vec::with_capacity(cfg.dags);
        for i in 0..cfg.dags {
            let tasks = (0..cfg.tasks)
                .map(|j| {
                    (
                        SimConfig::task_id(j),
                        OPERATORS[(i + j) % OPERATORS.len()],
                        rng.range(1.0, 20.0),
                    )
                })
                .collect();
            dags.push(Dag {
                id: SimConfig::dag_id(i),
                file_stem: format!("etl_dag_{i}"),
                pool: i % cfg.pools,
                tasks,
                next_run: 2.0 + rng.range(0.0, cfg.dag_interval.min(60.0)),
                run: None,
            });
        }
        let pools = (0..cfg.pools)
            .map(|k| Pool {
                slots: if k == 0 {
                    DEFAULT_POOL_SLOTS
                } else {
                    cfg.pool_slots
                },
                ..Pool::default()
            })
            .collect();
        let fail_acc = rng.f64();
        let mut sim = Simulator {
            wire,
            rng,
            now: 0.0,
            events: BinaryHeap::new(),
            seq: 0,
            out: VecDeque::new(),
            current: None,
            done: false,
            next_sender: 1,
            sender_component: HashMap::new(),
            scheds: Vec::new(),
            triggerer: 0,
            dag_processor: None,
            dags,
            pools,
            exec_queued: 0,
            exec_running: 0,
            fail_acc,
            import_error: false,
            ti_gauges_sent: HashMap::new(),
            telemetry: HashMap::new(),
            next_job_id: 1,
            summary: Summary::default(),
            cfg,
        };
        sim.push(0.0, Ev::Start);
        Ok(sim)
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Counts so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Current virtual time, seconds.
    pub fn now(&self) -> f64 {
        self.now
    }

    /// The next datagram (or socket close), or `None` at the end.
    pub fn next_item(&mut self) -> Option<Item<'_>> {
        loop {
            if let Some(o) = self.out.pop_front() {
                if o.closes {
                    return Some(Item::Closed(o.sender));
                }
                if let Some(count) = self.cfg.count {
                    if self.summary.lines >= count {
                        self.done = true;
                        self.out.clear();
                        return None;
                    }
                }
                self.summary.datagrams += 1;
                self.summary.lines += o.lines as u64;
                self.summary.bytes += o.data.len() as u64;
                self.summary.virtual_seconds = o.at;
                *self.summary.per_family.entry(o.family.clone()).or_default() += o.lines as u64;
                self.current = Some(o);
                let o = self.current.as_ref().expect("just set");
                return Some(Item::Datagram(Datagram {
                    sender: o.sender,
                    component: o.component,
                    at: o.at,
                    data: o.data.as_bytes(),
                    lines: o.lines,
                }));
            }
            if self.done {
                return None;
            }
            let Some(Reverse((t, _, ev))) = self.events.pop() else {
                self.done = true;
                continue;
            };
            let t = t as f64 / 1e6;
            if let Some(d) = self.cfg.duration {
                if t > d {
                    self.done = true;
                    continue;
                }
            }
            self.now = t;
            self.handle(ev);
        }
    }

    // -- plumbing ----------------------------------------------------------

    fn push(&mut self, at: f64, ev: Ev) {
        self.seq += 1;
        self.events.push(Reverse((us(at), self.seq, ev)));
    }

    fn open_sender(&mut self, c: Component) -> SenderId {
        let id = self.next_sender;
        self.next_sender += 1;
        self.sender_component.insert(id, c);
        *self.summary.senders.entry(c.as_str()).or_default() += 1;
        id
    }

    fn close_sender(&mut self, id: SenderId) {
        self.telemetry.remove(&id);
        let component = self
            .sender_component
            .remove(&id)
            .unwrap_or(Component::Worker);
        self.out.push_back(Out {
            sender: id,
            component,
            at: self.now,
            data: String::new(),
            lines: 0,
            closes: true,
            family: String::new(),
        });
    }

    fn send_raw(&mut self, sender: SenderId, family: &str, data: String, lines: usize) {
        let component = self
            .sender_component
            .get(&sender)
            .copied()
            .unwrap_or(Component::Worker);
        let len = data.len() as u64;
        self.out.push_back(Out {
            sender,
            component,
            at: self.now,
            data,
            lines,
            closes: false,
            family: family.to_string(),
        });
        if self.cfg.mode == Mode::Dogstatsd && component != Component::Worker && family != TELEMETRY
        {
            let now = self.now;
            let st = self.telemetry.entry(sender).or_insert(TelemetryState {
                last: now,
                ..TelemetryState::default()
            });
            st.metrics += 1;
            st.packets += 1;
            st.bytes += len;
            if now - st.last >= 10.0 {
                let (m, b, p) = (st.metrics, st.bytes, st.packets);
                *st = TelemetryState {
                    last: now,
                    ..TelemetryState::default()
                };
                let data = self.wire.dogstatsd_telemetry(m, b, p);
                self.send_raw(sender, TELEMETRY, data, 11);
            }
        }
    }

    /// One metric without a legacy copy.
    fn one(&mut self, s: SenderId, name: &str, tags: &[(&str, &str)], val: Val) {
        let line = self.wire.line(name, tags, val, None);
        self.send_raw(s, name, line, 1);
    }

    /// A metric whose name carries ids only (2.x-style legacy-only names such
    /// as `task.cpu_usage.<dag>.<task>`): counted under `family`.
    fn legacy_only(&mut self, s: SenderId, family: &str, name: &str, val: Val) {
        let line = self.wire.line(name, &[], val, None);
        self.send_raw(s, family, line, 1);
    }

    /// A tagged metric and its legacy copy, the way each version sends them.
    /// * `legacy`: the legacy name with values already escaped ([`Wire::ev`]).
    /// * `legacy_first`: wire order.
    /// * `v2_keep`: 2.x legacy copies carry the first `v2_keep` tags.
    /// * `v3_consumed`: tag keys baked into the 3.x legacy name (the other
    ///   tags stay on the legacy copy).
    #[allow(clippy::too_many_arguments)]
    fn pair(
        &mut self,
        s: SenderId,
        legacy: &str,
        tagged: &str,
        tags: &[(&str, &str)],
        val: Val,
        legacy_first: bool,
        v2_keep: usize,
        v3_consumed: &[&str],
    ) {
        let legacy_line = if self.cfg.v3() {
            if self.cfg.legacy_names {
                let left: Vec<(&str, &str)> = tags
                    .iter()
                    .copied()
                    .filter(|(k, _)| !v3_consumed.contains(k))
                    .collect();
                Some(self.wire.line(legacy, &left, val, None))
            } else {
                None
            }
        } else {
            Some(
                self.wire
                    .line(legacy, &tags[..v2_keep.min(tags.len())], val, None),
            )
        };
        let tagged_line = self.wire.line(tagged, tags, val, None);
        if legacy_first {
            if let Some(l) = legacy_line {
                self.send_raw(s, tagged, l, 1);
            }
            self.send_raw(s, tagged, tagged_line, 1);
        } else {
            self.send_raw(s, tagged, tagged_line, 1);
            if let Some(l) = legacy_line {
                self.send_raw(s, tagged, l, 1);
            }
        }
    }

    fn live_scheduler(&self, hint: usize) -> Option<usize> {
        let up: Vec<usize> = (0..self.scheds.len())
            .filter(|&k| self.scheds[k].state == SchedState::Up)
            .collect();
        if up.is_empty() {
            None
        } else {
            Some(up[hint % up.len()])
        }
    }

    /// The sender running DAG file processing (2.x: inside the scheduler,
    /// except in DogStatsD mode where the manager child builds its own client).
    fn dag_proc_sender(&self) -> Option<SenderId> {
        if let Some(s) = self.dag_processor {
            return Some(s);
        }
        (self.scheds[0].state == SchedState::Up).then(|| self.scheds[0].sender)
    }

    // -- events ------------------------------------------------------------

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Start => self.start(),
            Ev::SchedLoop(k) => self.sched_loop(k),
            Ev::SchedHeartbeat(k) => self.sched_heartbeat(k),
            Ev::TiMetrics(k) => self.ti_metrics(k),
            Ev::Orphans(k) => {
                if self.scheds[k].state == SchedState::Up {
                    let s = self.scheds[k].sender;
                    self.orphans(s);
                }
                self.push(self.now + 300.0, Ev::Orphans(k));
            }
            Ev::TriggererTick => self.triggerer_tick(),
            Ev::DagProcHeartbeat => {
                if let Some(s) = self.dag_processor {
                    self.one(s, "dag_processor_heartbeat", &[], Val::Count(1));
                }
                self.push(self.now + 5.0, Ev::DagProcHeartbeat);
            }
            Ev::ParseCycle => self.parse_cycle(),
            Ev::DagRunStart(i) => self.dag_run_start(i),
            Ev::TaskReady(i) => self.task_ready(i),
            Ev::TaskStart(i) => self.task_start(i),
            Ev::TaskEnd(i) => self.task_end(i),
            Ev::ScenarioBegin => self.scenario_begin(),
            Ev::ScenarioEnd => self.scenario_end(),
            Ev::HaReport(k) => {
                if self.scheds[k].state == SchedState::Up {
                    let s = self.scheds[k].sender;
                    self.one(s, "schedulerjobrunner_end", &[], Val::Count(1));
                    self.orphans(s);
                }
            }
        }
    }

    fn start(&mut self) {
        let v3 = self.cfg.v3();
        // Triggerer.
        self.triggerer = self.open_sender(Component::Triggerer);
        let t = self.triggerer;
        if !v3 {
            self.one(t, "job_start", &[], Val::Count(1));
        }
        self.push(0.3, Ev::TriggererTick);
        // DAG processor: standalone in 3.x; its own client in 2.x DogStatsD.
        if v3 || self.cfg.mode == Mode::Dogstatsd {
            self.dag_processor = Some(self.open_sender(Component::DagProcessor));
        }
        if v3 {
            self.push(0.5, Ev::DagProcHeartbeat);
        }
        // Schedulers.
        for k in 0..self.cfg.schedulers {
            let sender = self.open_sender(Component::Scheduler);
            self.scheds.push(Sched {
                sender,
                state: SchedState::Up,
            });
            self.scheduler_startup(k);
        }
        self.push(0.4, Ev::ParseCycle);
        for i in 0..self.dags.len() {
            let at = self.dags[i].next_run;
            self.push(at, Ev::DagRunStart(i));
        }
        if self.cfg.scenario != Scenario::None {
            self.push(self.cfg.scenario_at, Ev::ScenarioBegin);
            if self.cfg.scenario != Scenario::HaSchedulerDies {
                let end = self.cfg.scenario_end();
                self.push(end, Ev::ScenarioEnd);
            }
        }
    }

    fn scheduler_startup(&mut self, k: usize) {
        let s = self.scheds[k].sender;
        self.one(s, "job_start", &[], Val::Count(1));
        self.orphans(s);
        let offset = 0.1 * k as f64;
        self.push(self.now + 0.1 + offset, Ev::SchedLoop(k));
        self.push(self.now + 5.0 + offset, Ev::SchedHeartbeat(k));
        if self.cfg.v3() {
            self.push(self.now + 30.0 + offset, Ev::TiMetrics(k));
        }
        self.push(self.now + 300.0, Ev::Orphans(k));
    }

    fn orphans(&mut self, s: SenderId) {
        self.one(s, "scheduler.orphaned_tasks.cleared", &[], Val::Count(0));
        self.one(s, "scheduler.orphaned_tasks.adopted", &[], Val::Count(0));
    }

    fn executor_gauges(&mut self, s: SenderId) {
        let exec = self.cfg.executor.class_name();
        let open =
            (self.cfg.parallelism as i64 - (self.exec_queued + self.exec_running) as i64).max(0);
        let values = [
            ("executor.open_slots", "open", open),
            ("executor.queued_tasks", "queued", self.exec_queued as i64),
            (
                "executor.running_tasks",
                "running",
                self.exec_running as i64,
            ),
        ];
        for (name, status, v) in values {
            if self.cfg.v3() {
                let legacy = format!("{name}.{exec}");
                self.pair(
                    s,
                    &legacy,
                    name,
                    &[("status", status), ("executor_class_name", exec)],
                    Val::GaugeInt(v),
                    true,
                    0,
                    &["executor_class_name"],
                );
            } else {
                self.one(
                    s,
                    name,
                    &[("status", status), ("name", exec)],
                    Val::GaugeInt(v),
                );
            }
        }
    }

    fn sched_loop(&mut self, k: usize) {
        let next = self.now + self.rng.range(0.9, 1.1);
        self.push(next, Ev::SchedLoop(k));
        if self.scheds[k].state != SchedState::Up {
            return;
        }
        let s = self.scheds[k].sender;
        let v3 = self.cfg.v3();
        let ctx = |secs: f64| Val::Timer(TimerKind::Context, secs);
        let q = self.rng.range(0.0008, 0.004);
        self.one(s, "scheduler.critical_section_query_duration", &[], ctx(q));
        // Pools that had waiting tasks this loop report their starvation.
        let mut starving_total = 0usize;
        for p in 0..self.pools.len() {
            let waiting = self.pools[p].waiting.len();
            if waiting == 0 {
                continue;
            }
            let starving = if self.pools[p].open() == 0 {
                waiting
            } else {
                0
            };
            starving_total += starving;
            let name = SimConfig::pool_name(p);
            let legacy = format!("pool.starving_tasks.{}", self.wire.ev(&name));
            self.pair(
                s,
                &legacy,
                "pool.starving_tasks",
                &[("pool_name", &name)],
                Val::GaugeInt(starving as i64),
                true,
                0,
                &["pool_name"],
            );
        }
        let executable: usize = self
            .pools
            .iter()
            .map(|p| if p.open() > 0 { p.waiting.len() } else { 0 })
            .sum();
        self.one(
            s,
            "scheduler.tasks.starving",
            &[],
            Val::GaugeInt(starving_total as i64),
        );
        self.one(
            s,
            "scheduler.tasks.executable",
            &[],
            Val::GaugeInt(executable as i64),
        );
        let c = q + self.rng.range(0.002, 0.01);
        self.one(s, "scheduler.critical_section_duration", &[], ctx(c));
        self.executor_gauges(s);
        if v3 {
            let exec = self.cfg.executor.class_name();
            let d = self.rng.range(0.00015, 0.0006);
            self.one(
                s,
                "scheduler.executor_heartbeat_duration",
                &[("executor", exec)],
                ctx(d),
            );
            self.one(s, "connection_test.active", &[], Val::GaugeInt(0));
            self.one(s, "connection_test.pending", &[], Val::GaugeInt(0));
        }
        let l = c + self.rng.range(0.005, 0.03);
        self.one(s, "scheduler.scheduler_loop_duration", &[], ctx(l));
        self.dispatch();
    }

    fn sched_heartbeat(&mut self, k: usize) {
        self.push(self.now + 5.0, Ev::SchedHeartbeat(k));
        if self.scheds[k].state != SchedState::Up {
            return;
        }
        let s = self.scheds[k].sender;
        self.one(s, "scheduler_heartbeat", &[], Val::Count(1));
        // Pool metrics (pool_metrics_interval = 5 s).
        for p in 0..self.pools.len() {
            let name = SimConfig::pool_name(p);
            let pool = &self.pools[p];
            let values = [
                ("pool.open_slots", pool.open()),
                ("pool.queued_slots", pool.queued as i64),
                ("pool.running_slots", pool.running as i64),
                ("pool.deferred_slots", 0),
                ("pool.scheduled_slots", pool.waiting.len() as i64),
            ];
            let ev_name = self.wire.ev(&name).into_owned();
            if self.cfg.v3() {
                for (metric, v) in values {
                    let legacy = format!("{metric}.{ev_name}");
                    self.pair(
                        s,
                        &legacy,
                        metric,
                        &[("pool_name", &name)],
                        Val::GaugeInt(v),
                        true,
                        0,
                        &["pool_name"],
                    );
                }
            } else {
                // 2.x: the five legacy gauges, then the five tagged ones.
                for (metric, v) in values {
                    let legacy = format!("{metric}.{ev_name}");
                    self.legacy_only(s, metric, &legacy, Val::GaugeInt(v));
                }
                for (metric, v) in values {
                    self.one(s, metric, &[("pool_name", &name)], Val::GaugeInt(v));
                }
            }
        }
        let l = self.rng.range(0.01, 0.03);
        self.one(
            s,
            "scheduler.scheduler_loop_duration",
            &[],
            Val::Timer(TimerKind::Context, l),
        );
    }

    /// 3.x `ti.<state>` gauges (ti_metrics_interval = 30 s) and
    /// `scheduler.dagruns.running`.
    fn ti_metrics(&mut self, k: usize) {
        self.push(self.now + 30.0, Ev::TiMetrics(k));
        if self.scheds[k].state != SchedState::Up {
            return;
        }
        let s = self.scheds[k].sender;
        let mut running_runs = 0i64;
        for i in 0..self.dags.len() {
            let current = self.dags[i].run.as_ref().map(|r| {
                running_runs += 1;
                let st = match r.state {
                    Some(TiState::Running) => Some("ti.running"),
                    Some(TiState::Queued) => Some("ti.queued"),
                    Some(TiState::Scheduled) => Some("ti.scheduled"),
                    None => None,
                };
                (r.task, st)
            });
            for metric in ["ti.running", "ti.queued", "ti.scheduled"] {
                let active = match current {
                    Some((t, Some(m))) if m == metric => Some(t),
                    _ => None,
                };
                let key = (i, metric);
                let last = self.ti_gauges_sent.get(&key).copied();
                // A series that disappears is set to 0 once.
                if let Some(old) = last.filter(|&old| Some(old) != active) {
                    self.ti_gauge(s, i, old, metric, Val::GaugeInt(0));
                    self.ti_gauges_sent.remove(&key);
                }
                if let Some(t) = active {
                    self.ti_gauge(s, i, t, metric, Val::GaugeFloat(1.0));
                    self.ti_gauges_sent.insert(key, t);
                }
            }
        }
        self.one(
            s,
            "scheduler.dagruns.running",
            &[],
            Val::GaugeFloat(running_runs as f64),
        );
    }

    fn ti_gauge(&mut self, s: SenderId, i: usize, task: usize, metric: &str, val: Val) {
        let dag = self.dags[i].id.clone();
        let task_id = self.dags[i].tasks[task].0.clone();
        let legacy = format!(
            "{metric}.{QUEUE}.{}.{}",
            self.wire.ev(&dag),
            self.wire.ev(&task_id)
        );
        self.pair(
            s,
            &legacy,
            metric,
            &[("queue", QUEUE), ("dag_id", &dag), ("task_id", &task_id)],
            val,
            true,
            0,
            &["queue", "dag_id", "task_id"],
        );
    }

    fn triggerer_tick(&mut self) {
        let t = self.triggerer;
        // Heartbeat every 5th tick (job_heartbeat_sec = 5), before the gauges.
        let tick = (self.now.round() as u64) % 5 == 0;
        if tick {
            self.one(t, "triggerer_heartbeat", &[], Val::Count(1));
        }
        let host = TRIGGERER_HOST;
        let legacy = format!("triggers.running.{}", self.wire.ev(host));
        self.pair(
            t,
            &legacy,
            "triggers.running",
            &[("hostname", host)],
            Val::GaugeInt(0),
            true,
            0,
            &["hostname"],
        );
        if self.cfg.v3() {
            let legacy = format!("triggerer.capacity_left.{}", self.wire.ev(host));
            self.pair(
                t,
                &legacy,
                "triggerer.capacity_left",
                &[("hostname", host)],
                Val::GaugeInt(1000),
                true,
                0,
                &["hostname"],
            );
        }
        self.push(self.now + 1.0, Ev::TriggererTick);
    }

    fn parse_cycle(&mut self) {
        self.push(self.now + 30.0, Ev::ParseCycle);
        let Some(s) = self.dag_proc_sender() else {
            return;
        };
        let v3 = self.cfg.v3();
        let n = self.dags.len();
        let mut total = 0.0;
        self.one(
            s,
            "dag_processing.file_path_queue_size",
            &[],
            Val::GaugeInt(n as i64),
        );
        for i in 0..n {
            let stem = self.dags[i].file_stem.clone();
            let rel = format!("{stem}.py");
            let file_path = if v3 {
                rel.clone()
            } else {
                format!("/opt/airflow/dags/{rel}")
            };
            self.one(
                s,
                "dag_processing.processes",
                &[("file_path", &file_path), ("action", "start")],
                Val::Count(1),
            );
            self.one(
                s,
                "dag_processing.file_path_queue_size",
                &[],
                Val::GaugeInt((n - i - 1) as i64),
            );
            let secs = self.rng.range(0.08, 0.6);
            total += secs;
            if v3 {
                let legacy = format!("dag_processing.last_duration.{BUNDLE}.{stem}");
                self.pair(
                    s,
                    &legacy,
                    "dag_processing.last_duration",
                    &[("bundle_name", BUNDLE), ("file_name", &stem)],
                    Val::Timer(TimerKind::Seconds, secs),
                    true,
                    0,
                    &["bundle_name", "file_name"],
                );
                let ago = (self.rng.range(29.0, 31.0) * 1e6).round() / 1e6;
                let legacy = format!("dag_processing.last_run.seconds_ago.{stem}");
                self.pair(
                    s,
                    &legacy,
                    "dag_processing.last_run.seconds_ago",
                    &[
                        ("file_path", &file_path),
                        ("bundle_name", BUNDLE),
                        ("file_name", &stem),
                    ],
                    Val::GaugeFloat(ago),
                    true,
                    0,
                    &["file_name"],
                );
            } else {
                // The file processor exits: a negative counter increment.
                self.one(
                    s,
                    "dag_processing.processes",
                    &[("file_path", &file_path), ("action", "finish")],
                    Val::Count(-1),
                );
                let legacy = format!("dag_processing.last_duration.{stem}");
                self.pair(
                    s,
                    &legacy,
                    "dag_processing.last_duration",
                    &[("file_name", &stem)],
                    Val::Timer(TimerKind::Timedelta, secs),
                    true,
                    0,
                    &[],
                );
                let q = format!("dag_processing.last_num_of_db_queries.{stem}");
                let queries = 10 + (self.rng.next_u64() % 40) as i64;
                self.legacy_only(
                    s,
                    "dag_processing.last_num_of_db_queries",
                    &q,
                    Val::GaugeInt(queries),
                );
                let ago = (self.rng.range(0.0001, 0.001) * 1e6).round() / 1e6;
                let r = format!("dag_processing.last_run.seconds_ago.{stem}");
                self.legacy_only(
                    s,
                    "dag_processing.last_run.seconds_ago",
                    &r,
                    Val::GaugeFloat(ago),
                );
            }
        }
        let errors = i64::from(self.import_error);
        self.one(
            s,
            "dag_processing.total_parse_time",
            &[],
            Val::GaugeFloat(total),
        );
        self.one(s, "dagbag_size", &[], Val::GaugeInt(n as i64 - errors));
        self.one(
            s,
            "dag_processing.import_errors",
            &[],
            Val::GaugeInt(errors),
        );
        self.one(
            s,
            "dag_processing.file_path_queue_size",
            &[],
            Val::GaugeInt(0),
        );
        self.one(
            s,
            "dag_processing.file_path_queue_update_count",
            &[],
            Val::Count(1),
        );
    }

    // -- DAG runs and task instances ----------------------------------------

    fn dag_run_start(&mut self, i: usize) {
        let interval = self.cfg.dag_interval;
        let scheduled_for = self.dags[i].next_run;
        if self.dags[i].run.is_some() {
            // max_active_runs = 1: try again next interval.
            self.dags[i].next_run += interval;
            self.push(self.dags[i].next_run, Ev::DagRunStart(i));
            return;
        }
        let Some(k) = self.live_scheduler(i) else {
            // No scheduler: the run is created when one comes back.
            self.push(self.now + 1.0, Ev::DagRunStart(i));
            return;
        };
        self.dags[i].next_run = scheduled_for + interval;
        self.push(self.dags[i].next_run, Ev::DagRunStart(i));
        let s = self.scheds[k].sender;
        let v3 = self.cfg.v3();
        let dag = self.dags[i].id.clone();
        let run_type = "scheduled";
        if v3 {
            self.one(s, "scheduler.dag_bag.cache_hit", &[], Val::Count(1));
            if self.cfg.mode != Mode::Plain && self.rng.f64() < 0.1 {
                let line = self.wire.line(
                    "scheduler.dag_bag.cache_size",
                    &[],
                    Val::GaugeInt(self.dags.len() as i64),
                    Some("0.1"),
                );
                self.send_raw(s, "scheduler.dag_bag.cache_size", line, 1);
            }
        }
        // task_instance_created_<Operator>, one pair per operator.
        let mut per_op: Vec<(&'static str, i64)> = Vec::new();
        for (_, op, _) in &self.dags[i].tasks {
            match per_op.iter_mut().find(|(o, _)| o == op) {
                Some((_, n)) => *n += 1,
                None => per_op.push((op, 1)),
            }
        }
        for (op, n) in per_op {
            let legacy = format!("task_instance_created_{op}");
            self.pair(
                s,
                &legacy,
                "task_instance_created",
                &[("dag_id", &dag), ("run_type", run_type), ("task_type", op)],
                Val::Count(n),
                true,
                2,
                &["task_type"],
            );
        }
        let delay = (self.now - scheduled_for).max(0.0) + self.rng.range(0.002, 0.05);
        let legacy = format!("dagrun.schedule_delay.{}", self.wire.ev(&dag));
        self.pair(
            s,
            &legacy,
            "dagrun.schedule_delay",
            &[("dag_id", &dag)],
            Val::Timer(TimerKind::Timedelta, delay),
            true,
            0,
            &["dag_id"],
        );
        self.dependency_check(s, i);
        let job_id = self.next_job_id;
        self.dags[i].run = Some(Run {
            run_type,
            data_interval_end: scheduled_for,
            started: self.now,
            task: 0,
            try_number: 1,
            state: None,
            first_task_started: false,
            worker: None,
            queued_at: self.now,
            scheduled_at: self.now,
            ti_started: self.now,
            job_id,
        });
        let at = self.now + self.rng.range(0.2, 1.0);
        self.push(at, Ev::TaskReady(i));
    }

    fn dependency_check(&mut self, s: SenderId, i: usize) {
        let dag = self.dags[i].id.clone();
        let secs = self.rng.range(0.0008, 0.004);
        let legacy = format!("dagrun.dependency-check.{}", self.wire.ev(&dag));
        self.pair(
            s,
            &legacy,
            "dagrun.dependency-check",
            &[("dag_id", &dag), ("run_type", "scheduled")],
            Val::Timer(TimerKind::Context, secs),
            false,
            0,
            &["dag_id"],
        );
    }

    /// The current task of DAG `i` is scheduled and wants a slot.
    fn task_ready(&mut self, i: usize) {
        let Some(run) = self.dags[i].run.as_mut() else {
            return;
        };
        run.state = Some(TiState::Scheduled);
        run.scheduled_at = self.now;
        let pool = self.dags[i].pool;
        self.pools[pool].waiting.push_back(i);
        self.dispatch();
    }

    /// Moves waiting task instances to queued while their pool and the
    /// executor have room (done by a live scheduler's critical section).
    fn dispatch(&mut self) {
        for p in 0..self.pools.len() {
            while let Some(&i) = self.pools[p].waiting.front() {
                if self.pools[p].open() == 0
                    || self.exec_queued + self.exec_running >= self.cfg.parallelism
                {
                    break;
                }
                let Some(k) = self.live_scheduler(i) else {
                    return;
                };
                self.pools[p].waiting.pop_front();
                self.pools[p].queued += 1;
                self.exec_queued += 1;
                self.queue_task(k, i);
            }
        }
    }

    fn queue_task(&mut self, k: usize, i: usize) {
        let s = self.scheds[k].sender;
        let now = self.now;
        let (task_pos, scheduled_at) = {
            let run = self.dags[i].run.as_mut().expect("queued task has a run");
            run.state = Some(TiState::Queued);
            run.queued_at = now;
            (run.task, run.scheduled_at)
        };
        let dag = self.dags[i].id.clone();
        let task = self.dags[i].tasks[task_pos].0.clone();
        if self.cfg.v3() {
            let secs = (now - scheduled_at).max(0.0) + self.rng.range(0.002, 0.03);
            let legacy = format!(
                "dag.{}.{}.scheduled_duration",
                self.wire.ev(&dag),
                self.wire.ev(&task)
            );
            self.pair(
                s,
                &legacy,
                "task.scheduled_duration",
                &[("dag_id", &dag), ("task_id", &task), ("queue", QUEUE)],
                Val::Timer(TimerKind::Millis, secs),
                true,
                0,
                &["dag_id", "task_id"],
            );
        }
        if self.cfg.executor == Executor::Kubernetes {
            self.one(
                s,
                "kubernetes_executor.pod_creation_status",
                &[("status", "200")],
                Val::Count(1),
            );
        }
        let at = now + self.rng.range(0.5, 2.0);
        self.push(at, Ev::TaskStart(i));
    }

    fn task_start(&mut self, i: usize) {
        let pool = self.dags[i].pool;
        self.pools[pool].queued -= 1;
        self.pools[pool].running += 1;
        self.exec_queued -= 1;
        self.exec_running += 1;
        let v3 = self.cfg.v3();
        let w = self.open_sender(Component::Worker);
        let now = self.now;
        self.next_job_id += 1;
        let (task_pos, queued_at, first) = {
            let run = self.dags[i].run.as_mut().expect("started task has a run");
            run.state = Some(TiState::Running);
            run.worker = Some(w);
            run.ti_started = now;
            run.job_id = self.next_job_id;
            let first = !run.first_task_started;
            run.first_task_started = true;
            (run.task, run.queued_at, first)
        };
        let dag = self.dags[i].id.clone();
        let (task, _, base) = self.dags[i].tasks[task_pos].clone();
        let (edag, etask) = (
            self.wire.ev(&dag).into_owned(),
            self.wire.ev(&task).into_owned(),
        );
        let ids: [(&str, &str); 2] = [("dag_id", &dag), ("task_id", &task)];
        if first {
            self.first_task_delays(i);
        }
        if !v3 {
            let ser = self.rng.range(0.0008, 0.0012);
            self.one(
                w,
                "serde.load_serializers",
                &[],
                Val::Timer(TimerKind::Context, ser),
            );
            self.one(w, "job_start", &[], Val::Count(1));
            let waited = (now - queued_at).max(0.0) + self.rng.range(0.001, 0.01);
            let legacy = format!("dag.{dag}.{task}.queued_duration");
            self.pair(
                w,
                &legacy,
                "task.queued_duration",
                &[("task_id", &task), ("dag_id", &dag)],
                Val::Timer(TimerKind::Seconds, waited),
                true,
                0,
                &[],
            );
            let mem = self.rng.range(0.3, 0.6);
            self.legacy_only(
                w,
                "task.mem_usage",
                &format!("task.mem_usage.{dag}.{task}"),
                Val::GaugeFloat(mem),
            );
            self.legacy_only(
                w,
                "task.cpu_usage",
                &format!("task.cpu_usage.{dag}.{task}"),
                Val::GaugeFloat(0.0),
            );
        }
        let legacy = format!("ti.start.{edag}.{etask}");
        self.pair(
            w,
            &legacy,
            "ti.start",
            &ids,
            Val::Count(1),
            true,
            2,
            &["dag_id", "task_id"],
        );
        if !v3 {
            // 2.x pre-initialises every state's counter at 0.
            for state in TI_STATES_2X {
                let legacy = format!("ti.finish.{dag}.{task}.{state}");
                self.pair(
                    w,
                    &legacy,
                    "ti.finish",
                    &[("dag_id", &dag), ("task_id", &task), ("state", state)],
                    Val::Count(0),
                    true,
                    2,
                    &[],
                );
            }
        }
        let duration = base * self.rng.range(0.8, 1.2);
        self.push(now + duration, Ev::TaskEnd(i));
    }

    fn first_task_delays(&mut self, i: usize) {
        let Some(k) = self.live_scheduler(i) else {
            return;
        };
        let s = self.scheds[k].sender;
        let dag = self.dags[i].id.clone();
        let run = self.dags[i].run.as_ref().expect("run");
        let delay = (self.now - run.data_interval_end).max(0.001);
        let start_delay = (self.now - run.queued_at).max(0.001);
        let run_type = run.run_type;
        let tags: [(&str, &str); 2] = [("dag_id", &dag), ("run_type", run_type)];
        let val = Val::Timer(TimerKind::Timedelta, delay);
        let raw = format!("dagrun.{dag}.first_task_scheduling_delay");
        if self.cfg.v3() {
            // 3.x sends the unescaped legacy name explicitly (with all tags),
            // then the registry sends the escaped legacy copy and the tagged name.
            let line = self.wire.line(&raw, &tags, val, None);
            self.send_raw(s, "dagrun.first_task_scheduling_delay", line, 1);
            let legacy = format!("dagrun.{}.first_task_scheduling_delay", self.wire.ev(&dag));
            self.pair(
                s,
                &legacy,
                "dagrun.first_task_scheduling_delay",
                &tags,
                val,
                true,
                0,
                &["dag_id"],
            );
            self.one(
                s,
                "dagrun.first_task_start_delay",
                &tags,
                Val::Timer(TimerKind::Timedelta, start_delay),
            );
        } else {
            self.pair(
                s,
                &raw,
                "dagrun.first_task_scheduling_delay",
                &tags,
                val,
                true,
                2,
                &[],
            );
        }
    }

    /// Bresenham over task tries: exactly `failure_ratio` of them fail
    /// (within one), deterministically.
    fn try_fails(&mut self) -> bool {
        self.fail_acc += self.cfg.failure_ratio;
        if self.fail_acc >= 1.0 {
            self.fail_acc -= 1.0;
            true
        } else {
            false
        }
    }

    fn task_end(&mut self, i: usize) {
        let pool = self.dags[i].pool;
        self.pools[pool].running -= 1;
        self.exec_running -= 1;
        let v3 = self.cfg.v3();
        let failed_try = self.try_fails();
        let (task_pos, try_number, worker, job_id, ran) = {
            let run = self.dags[i].run.as_mut().expect("ending task has a run");
            run.state = None;
            let w = run.worker.take().expect("worker");
            (
                run.task,
                run.try_number,
                w,
                run.job_id,
                self.now - run.ti_started,
            )
        };
        let retry = failed_try && try_number <= self.cfg.retries;
        let state = match (failed_try, retry) {
            (false, _) => "success",
            (true, true) => "up_for_retry",
            (true, false) => "failed",
        };
        let dag = self.dags[i].id.clone();
        let (task, op, _) = self.dags[i].tasks[task_pos].clone();
        let (edag, etask) = (
            self.wire.ev(&dag).into_owned(),
            self.wire.ev(&task).into_owned(),
        );
        let w = worker;
        let secs = (ran - self.rng.range(0.05, 0.3)).max(0.01);
        let ids: [(&str, &str); 2] = [("dag_id", &dag), ("task_id", &task)];
        if !v3 {
            // Nested Stats.timer()s: the tagged timer closes first.
            self.one(
                w,
                "task.duration",
                &ids,
                Val::Timer(TimerKind::Context, secs),
            );
            let legacy = format!("dag.{dag}.{task}.duration");
            self.legacy_only(
                w,
                "task.duration",
                &legacy,
                Val::Timer(TimerKind::Context, secs + 0.00015),
            );
        }
        let (family, counter, op_key) = if failed_try {
            (
                "operator_failures",
                "ti_failures",
                if v3 { "operator_name" } else { "operator" },
            )
        } else {
            (
                "operator_successes",
                "ti_successes",
                if v3 { "operator_name" } else { "task_type" },
            )
        };
        let legacy = format!("{family}_{op}");
        self.pair(
            w,
            &legacy,
            family,
            &[("dag_id", &dag), ("task_id", &task), (op_key, op)],
            Val::Count(1),
            true,
            2,
            &[op_key],
        );
        self.one(w, counter, &ids, Val::Count(1));
        let legacy = format!("ti.finish.{edag}.{etask}.{state}");
        self.pair(
            w,
            &legacy,
            "ti.finish",
            &[("dag_id", &dag), ("task_id", &task), ("state", state)],
            Val::Count(1),
            true,
            2,
            &["dag_id", "task_id", "state"],
        );
        if v3 {
            let legacy = format!("dag.{edag}.{etask}.duration");
            self.pair(
                w,
                &legacy,
                "task.duration",
                &ids,
                Val::Timer(TimerKind::Millis, secs),
                true,
                0,
                &["dag_id", "task_id"],
            );
        } else {
            let rc = if failed_try { "1" } else { "0" };
            let legacy = format!("local_task_job.task_exit.{job_id}.{dag}.{task}.{rc}");
            self.pair(
                w,
                &legacy,
                "local_task_job.task_exit",
                &[("dag_id", &dag), ("task_id", &task), ("return_code", rc)],
                Val::Count(1),
                true,
                0,
                &[],
            );
            self.one(w, "job_end", &[], Val::Count(1));
        }
        self.close_sender(w);
        if self.cfg.executor == Executor::Kubernetes {
            if let Some(k) = self.live_scheduler(i) {
                let s = self.scheds[k].sender;
                self.one(
                    s,
                    "kubernetes_executor.pod_deletion_status",
                    &[("status", "200")],
                    Val::Count(1),
                );
            }
        }
        // What the scheduler does next.
        let next_task = task_pos + 1;
        let n_tasks = self.dags[i].tasks.len();
        {
            let run = self.dags[i].run.as_mut().expect("run");
            match state {
                "up_for_retry" => run.try_number += 1,
                "success" if next_task < n_tasks => {
                    run.task = next_task;
                    run.try_number = 1;
                }
                _ => {}
            }
        }
        let finished = state == "failed" || (state == "success" && next_task >= n_tasks);
        if let Some(k) = self.live_scheduler(i) {
            let s = self.scheds[k].sender;
            self.dependency_check(s, i);
            if finished {
                self.finish_run(s, i, state == "success");
            }
        } else if finished {
            self.dags[i].run = None;
        }
        if !finished {
            let delay = if state == "up_for_retry" {
                5.0
            } else {
                self.rng.range(0.3, 1.5)
            };
            self.push(self.now + delay, Ev::TaskReady(i));
        }
        self.dispatch();
    }

    fn finish_run(&mut self, s: SenderId, i: usize, success: bool) {
        let run = self.dags[i].run.take().expect("run");
        let dag = self.dags[i].id.clone();
        let tagged = if success {
            "dagrun.duration.success"
        } else {
            "dagrun.duration.failed"
        };
        let legacy = format!("{tagged}.{}", self.wire.ev(&dag));
        let secs = (self.now - run.started).max(0.001);
        self.pair(
            s,
            &legacy,
            tagged,
            &[("dag_id", &dag), ("run_type", run.run_type)],
            Val::Timer(TimerKind::Timedelta, secs),
            true,
            2,
            &["dag_id"],
        );
    }

    // -- scenarios -----------------------------------------------------------

    fn scenario_begin(&mut self) {
        match self.cfg.scenario {
            Scenario::None => {}
            Scenario::SchedulerRestart => {
                let s = self.scheds[0].sender;
                if self.scheds[0].state == SchedState::Up {
                    self.one(s, "job_end", &[], Val::Count(1));
                }
                self.close_sender(s);
                self.scheds[0].state = SchedState::Down;
            }
            Scenario::SchedulerHang => self.scheds[0].state = SchedState::Hung,
            Scenario::HaSchedulerDies => {
                let k = self.scheds.len() - 1;
                let s = self.scheds[k].sender;
                self.close_sender(s);
                self.scheds[k].state = SchedState::Down;
                // A survivor marks the dead job failed once it is older than
                // scheduler_health_check_threshold (30 s).
                self.push(self.now + 35.0, Ev::HaReport(0));
            }
            Scenario::ImportError => self.import_error = true,
            Scenario::PoolFull => {
                let p = usize::from(self.pools.len() > 1);
                self.pools[p].full = true;
            }
        }
    }

    fn scenario_end(&mut self) {
        match self.cfg.scenario {
            Scenario::None | Scenario::HaSchedulerDies => {}
            Scenario::SchedulerRestart => {
                self.scheds[0].sender = self.open_sender(Component::Scheduler);
                self.scheds[0].state = SchedState::Up;
                let s = self.scheds[0].sender;
                self.one(s, "job_start", &[], Val::Count(1));
                self.orphans(s);
                self.dispatch();
            }
            Scenario::SchedulerHang => {
                self.scheds[0].state = SchedState::Up;
                self.dispatch();
            }
            Scenario::ImportError => self.import_error = false,
            Scenario::PoolFull => {
                for p in &mut self.pools {
                    p.full = false;
                }
                self.dispatch();
            }
        }
    }
}

const TELEMETRY: &str = "datadog.dogstatsd.client";

/// Every series of a wide deployment once, as StatsD lines; not a
/// simulation (no time, no events): for measurements that need a big store
/// (the render benchmark, `load send --source=wide`). Through the official
/// chart mapping they make ~72k series, 76k samples:
/// * `ti.finish.<dag>.<task>.<state>` counters (unmapped by the chart:
///   one family per line name) — 50 × 20 × 7 = 7,000 series;
/// * `ti.{running,queued,scheduled,deferred}.<queue>.<dag>.<task>` gauges
///   (4 labelled families) — 4 × 16 × 1,000 = 64,000 series;
/// * `dag.<dag>.<task>.duration` timers (`airflow_task_duration` summary)
///   — 1,000 series, 5 observations each;
/// * `dagrun.duration.success.<dag>` timers — 50 series.
pub fn wide_store_lines() -> Vec<String> {
    const STATES: &[&str] = &[
        "success",
        "failed",
        "skipped",
        "upstream_failed",
        "up_for_retry",
        "up_for_reschedule",
        "removed",
    ];
    const DAGS: usize = 50;
    const TASKS: usize = 20;
    const QUEUES: usize = 16;
    let mut out = Vec::with_capacity(DAGS * (TASKS * (STATES.len() + 4 * QUEUES + 5) + 1));
    for d in 0..DAGS {
        for t in 0..TASKS {
            for (k, state) in STATES.iter().enumerate() {
                out.push(format!(
                    "airflow.ti.finish.dag_{d}.task_{t}.{state}:{}|c",
                    k + 1
                ));
            }
            for q in 0..QUEUES {
                for kind in ["running", "queued", "scheduled", "deferred"] {
                    out.push(format!(
                        "airflow.ti.{kind}.queue_{q}.dag_{d}.task_{t}:{q}|g"
                    ));
                }
            }
            for i in 0..5 {
                out.push(format!(
                    "airflow.dag.dag_{d}.task_{t}.duration:{}|ms",
                    100 + 37 * i + t
                ));
            }
        }
        out.push(format!(
            "airflow.dagrun.duration.success.dag_{d}:{}|ms",
            1000 + d
        ));
    }
    out
}
