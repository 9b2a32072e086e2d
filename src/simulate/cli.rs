//! The `simulate` subcommand: flags (one table, [`SIM_FLAGS`]) and the UDP
//! runner. Every datagram goes out through a `cadence` [`UdpMetricSink`], one
//! sink (and so one socket, one source port) per simulated Airflow process.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cadence::{MetricSink, UdpMetricSink};
use clap::{Arg, ArgAction, ArgMatches};

use super::{Executor, Item, Mode, Scenario, SimConfig, Simulator};

/// One `simulate` flag.
#[derive(Clone, Copy, Debug)]
pub struct SimFlag {
    pub name: &'static str,
    pub value_name: &'static str,
    /// `""` = unset.
    pub default: &'static str,
    pub help: &'static str,
}

const fn f(
    name: &'static str,
    value_name: &'static str,
    default: &'static str,
    help: &'static str,
) -> SimFlag {
    SimFlag {
        name,
        value_name,
        default,
        help,
    }
}

/// Every `simulate` flag, in help order. The clap arguments and the table in
/// `docs/simulator.md` are generated from it.
pub static SIM_FLAGS: &[SimFlag] = &[
    f("target", "HOST:PORT", "127.0.0.1:9125", "UDP address to send the StatsD traffic to"),
    f("airflow-version", "2|3", "3", "Airflow naming and quirks: 2 = 2.11, 3 = 3.3"),
    f(
        "mode",
        "plain|dogstatsd|influxdb",
        "plain",
        "Client mode: plain StatsD (tags dropped), DogStatsD (|#tags, trailing \\n) or InfluxDB (name,k=v:)",
    ),
    f(
        "legacy-names",
        "BOOL",
        "true",
        "3.x [metrics] legacy_names_on: also send the legacy names with ids baked in (2.x always does)",
    ),
    f("prefix", "STRING", "airflow", "statsd_prefix"),
    f(
        "dogstatsd-tags",
        "K:V,...",
        "env:sim,deployment:airflow-sim",
        "DogStatsD constant tags (statsd_datadog_tags); empty for none",
    ),
    f("schedulers", "N", "1", "Number of schedulers (HA when > 1), each with its own socket"),
    f("dags", "N", "4", "Number of DAGs (ids like team.etl-dag_7)"),
    f("tasks", "N", "3", "Tasks per DAG, run as a chain (ids like group.extract-3)"),
    f("pools", "N", "2", "Number of pools, default_pool (128 slots) included"),
    f("pool-slots", "N", "8", "Slots of each pool other than default_pool"),
    f(
        "executor",
        "LocalExecutor|CeleryExecutor|KubernetesExecutor",
        "LocalExecutor",
        "Executor class (executor.* gauges; KubernetesExecutor adds pod status counters)",
    ),
    f("parallelism", "N", "32", "[core] parallelism: executor slots"),
    f("failure-ratio", "RATIO", "0.1", "Fraction of task tries that fail, 0 to 1 (exact, not random)"),
    f("retries", "N", "1", "Retries per task: a failed try with retries left ends up_for_retry"),
    f("dag-interval", "SECS", "60", "Schedule interval of every DAG, in virtual seconds"),
    f(
        "rate",
        "LINES_PER_SEC",
        "",
        "Send at this many lines per second, ignoring the virtual clock; 0 = as fast as possible. \
         Unset: real time scaled by --speed",
    ),
    f("speed", "X", "1", "Real-time pacing factor when --rate is unset (10 = ten times faster)"),
    f("duration", "SECS", "", "Stop after this many virtual seconds"),
    f("count", "LINES", "", "Stop after this many lines (unset with --duration unset: run until Ctrl-C)"),
    f("seed", "N", "1", "Seed: the same seed and flags give the same traffic"),
    f(
        "scenario",
        "NAME",
        "none",
        "none|scheduler-restart|scheduler-hang|ha-scheduler-dies|import-error|pool-full",
    ),
    f("scenario-at", "SECS", "60", "Virtual time at which the scenario starts"),
    f(
        "scenario-duration",
        "SECS",
        "",
        "Length of the scenario window (restart gap 13, hang 120, others 60 by default)",
    ),
];

/// What `simulate` was asked to do.
#[derive(Clone, Debug, PartialEq)]
pub struct SimulateArgs {
    pub sim: SimConfig,
    pub target: String,
    /// `None`: real time × `speed`; `Some(0)`: as fast as possible.
    pub rate: Option<u64>,
    pub speed: f64,
}

/// The clap subcommand.
pub fn command() -> clap::Command {
    let mut cmd = clap::Command::new("simulate")
        .about(
            "Send the StatsD traffic of a simulated Airflow deployment to --target over UDP \
             (see docs/simulator.md), then print a summary to stderr",
        )
        .args_override_self(true);
    for flag in SIM_FLAGS {
        let mut arg = Arg::new(flag.name)
            .long(flag.name)
            .value_name(flag.value_name)
            .help(flag.help)
            .action(ArgAction::Set);
        if !flag.default.is_empty() {
            arg = arg.default_value(flag.default);
        }
        cmd = cmd.arg(arg);
    }
    cmd
}

fn get<'a>(m: &'a ArgMatches, name: &str) -> Option<&'a str> {
    m.get_one::<String>(name).map(String::as_str)
}

fn num<T: std::str::FromStr>(m: &ArgMatches, name: &str) -> Result<Option<T>, String> {
    match get(m, name) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse::<T>()
            .map(Some)
            .map_err(|_| format!("invalid value {s:?} for --{name}")),
    }
}

fn req<T: std::str::FromStr>(m: &ArgMatches, name: &str) -> Result<T, String> {
    num(m, name)?.ok_or_else(|| format!("--{name} needs a value"))
}

fn secs(m: &ArgMatches, name: &str) -> Result<Option<f64>, String> {
    match num::<f64>(m, name)? {
        Some(v) if !v.is_finite() || v < 0.0 => {
            Err(format!("--{name} must be a non-negative number of seconds"))
        }
        other => Ok(other),
    }
}

fn go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Reads the subcommand's matches.
pub fn args_from(m: &ArgMatches) -> Result<SimulateArgs, String> {
    let mode_s = get(m, "mode").unwrap_or("plain");
    let mode = Mode::parse(mode_s).ok_or_else(|| {
        format!("invalid --mode {mode_s:?}: expected plain, dogstatsd or influxdb")
    })?;
    let exec_s = get(m, "executor").unwrap_or("LocalExecutor");
    let executor = Executor::parse(exec_s).ok_or_else(|| {
        format!(
            "invalid --executor {exec_s:?}: expected LocalExecutor, CeleryExecutor or \
             KubernetesExecutor"
        )
    })?;
    let scen_s = get(m, "scenario").unwrap_or("none");
    let scenario =
        Scenario::parse(scen_s).ok_or_else(|| format!("invalid --scenario {scen_s:?}"))?;
    let legacy_s = get(m, "legacy-names").unwrap_or("true");
    let legacy_names =
        go_bool(legacy_s).ok_or_else(|| format!("invalid --legacy-names {legacy_s:?}"))?;
    let dogstatsd_tags = get(m, "dogstatsd-tags")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let duration = secs(m, "duration")?;
    let speed: f64 = req(m, "speed")?;
    if !speed.is_finite() || speed <= 0.0 {
        return Err("--speed must be a positive number".into());
    }
    let sim = SimConfig {
        airflow_version: req(m, "airflow-version")?,
        mode,
        legacy_names,
        prefix: get(m, "prefix").unwrap_or("airflow").to_string(),
        dogstatsd_tags,
        schedulers: req(m, "schedulers")?,
        dags: req(m, "dags")?,
        tasks: req(m, "tasks")?,
        pools: req(m, "pools")?,
        pool_slots: req(m, "pool-slots")?,
        executor,
        parallelism: req(m, "parallelism")?,
        failure_ratio: req(m, "failure-ratio")?,
        retries: req(m, "retries")?,
        dag_interval: secs(m, "dag-interval")?.unwrap_or(60.0),
        seed: req(m, "seed")?,
        scenario,
        scenario_at: secs(m, "scenario-at")?.unwrap_or(60.0),
        scenario_duration: secs(m, "scenario-duration")?,
        duration,
        count: num(m, "count")?,
    };
    sim.validate()?;
    let target = get(m, "target").unwrap_or("127.0.0.1:9125").to_string();
    Ok(SimulateArgs {
        sim,
        target,
        rate: num(m, "rate")?,
        speed,
    })
}

/// Markdown table of [`SIM_FLAGS`] (embedded in `docs/simulator.md`).
pub fn flags_markdown() -> String {
    let mut out = String::from("| Flag | Default | Description |\n|---|---|---|\n");
    for flag in SIM_FLAGS {
        let default = if flag.default.is_empty() {
            "(unset)".to_string()
        } else {
            format!("`{}`", flag.default)
        };
        let _ = writeln!(
            out,
            "| `--{}=<{}>` | {} | {} |",
            flag.name,
            flag.value_name.replace('|', "\\|"),
            default,
            flag.help.replace('|', "\\|")
        );
    }
    out
}

// ---------------------------------------------------------------------------
// Runner.
// ---------------------------------------------------------------------------

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn install_signal_handlers() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// Sleeps until `deadline`, in short steps so that Ctrl-C is seen quickly.
fn sleep_until(deadline: Instant) {
    loop {
        let now = Instant::now();
        if now >= deadline || STOP.load(Ordering::Relaxed) {
            return;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(100)));
    }
}

fn new_sink(target: SocketAddr) -> std::io::Result<UdpMetricSink> {
    let bind = if target.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = UdpSocket::bind(bind)?;
    UdpMetricSink::from(target, socket).map_err(std::io::Error::other)
}

/// Runs the simulation against `args.target`. Prints the summary to stderr.
pub fn run(args: &SimulateArgs) -> ExitCode {
    let target = match args.target.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(t)) => t,
        Ok(None) | Err(_) => {
            eprintln!("simulate: cannot resolve --target {:?}", args.target);
            return ExitCode::FAILURE;
        }
    };
    let mut sim = match Simulator::new(args.sim.clone()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("simulate: {e}");
            return ExitCode::FAILURE;
        }
    };
    install_signal_handlers();
    let pacing = match args.rate {
        None => format!("real time x{}", args.speed),
        Some(0) => "as fast as possible".to_string(),
        Some(r) => format!("{r} lines/s"),
    };
    eprintln!("simulate: sending to {target} ({pacing}); Ctrl-C stops and prints the summary");
    let mut sinks: HashMap<u64, UdpMetricSink> = HashMap::new();
    let started = Instant::now();
    let mut lines_sent: u64 = 0;
    let mut send_errors: u64 = 0;
    let mut interrupted = false;
    while let Some(item) = sim.next_item() {
        if STOP.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        match item {
            Item::Closed(id) => {
                sinks.remove(&id);
            }
            Item::Datagram(d) => {
                match args.rate {
                    Some(0) => {}
                    Some(r) => {
                        sleep_until(started + Duration::from_secs_f64(lines_sent as f64 / r as f64))
                    }
                    None => sleep_until(started + Duration::from_secs_f64(d.at / args.speed)),
                }
                let sink = match sinks.entry(d.sender) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => match new_sink(target) {
                        Ok(s) => e.insert(s),
                        Err(err) => {
                            eprintln!("simulate: cannot open a UDP socket: {err}");
                            return ExitCode::FAILURE;
                        }
                    },
                };
                let text = std::str::from_utf8(d.data).unwrap_or_default();
                if sink.emit(text).is_err() {
                    send_errors += 1;
                }
                lines_sent += d.lines as u64;
            }
        }
    }
    drop(sinks);
    let elapsed = started.elapsed().as_secs_f64();
    let summary = sim.summary();
    eprint!("{}", summary.render(&args.sim));
    eprintln!(
        "  real time {elapsed:.2} s, {:.0} lines/s, {send_errors} send errors{}",
        summary.lines as f64 / elapsed.max(1e-9),
        if interrupted { " (interrupted)" } else { "" }
    );
    ExitCode::SUCCESS
}
