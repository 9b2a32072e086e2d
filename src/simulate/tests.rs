use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::*;
use crate::parser::{parse_line, split_lines, ParseOptions};

struct Captured {
    sender: SenderId,
    component: Component,
    at: f64,
    data: String,
}

fn capture(cfg: &SimConfig) -> (Vec<Captured>, Summary) {
    let mut out = Vec::new();
    let summary = generate(cfg, &mut |d| {
        out.push(Captured {
            sender: d.sender,
            component: d.component,
            at: d.at,
            data: String::from_utf8(d.data.to_vec()).expect("utf-8"),
        })
    });
    (out, summary)
}

fn cfg(version: u8, mode: Mode) -> SimConfig {
    SimConfig {
        airflow_version: version,
        mode,
        duration: Some(400.0),
        ..SimConfig::default()
    }
}

const MODES: [Mode; 3] = [Mode::Plain, Mode::Dogstatsd, Mode::Influxdb];

/// (name, tags, value) of every sample.
/// (name, tags, value, sender, virtual time) of one parsed sample.
type Parsed = (String, BTreeMap<String, String>, f64, SenderId, f64);

fn samples(data: &[Captured]) -> Vec<Parsed> {
    let opts = ParseOptions::default();
    let mut all = Vec::new();
    for d in data {
        for line in split_lines(d.data.as_bytes()) {
            let mut out = Vec::new();
            let stats = parse_line(line, &opts, &mut out);
            assert!(
                stats.errors.is_empty(),
                "{:?} rejected: {:?}",
                String::from_utf8_lossy(line),
                stats.errors
            );
            for s in out {
                let tags = s
                    .tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                all.push((s.name.to_string(), tags, s.value.value(), d.sender, d.at));
            }
        }
    }
    all
}

#[test]
fn every_mode_and_version_parses_without_errors() {
    for version in [2, 3] {
        for mode in MODES {
            for legacy in [true, false] {
                if version == 2 && !legacy {
                    continue;
                }
                let mut c = cfg(version, mode);
                c.legacy_names = legacy;
                c.executor = Executor::Kubernetes;
                c.scenario = Scenario::SchedulerRestart;
                let (data, summary) = capture(&c);
                assert!(
                    summary.lines > 1000,
                    "{version} {mode:?}: {}",
                    summary.lines
                );
                let s = samples(&data);
                assert_eq!(s.len() as u64, summary.lines, "{version} {mode:?}");
                // Shape checks per mode.
                for d in &data {
                    match mode {
                        Mode::Dogstatsd => assert!(d.data.ends_with('\n'), "{:?}", d.data),
                        _ => assert!(!d.data.contains('\n'), "{:?}", d.data),
                    }
                }
                if mode == Mode::Dogstatsd {
                    assert!(data
                        .iter()
                        .any(|d| d.data.starts_with("datadog.dogstatsd.client.metrics:")));
                    assert!(data
                        .iter()
                        .all(|d| d.data.contains("env:sim,deployment:airflow-sim")));
                }
            }
        }
    }
}

#[test]
fn wire_quirks_follow_the_captures() {
    // 2.x plain: negative dag_processing.processes, dots kept in legacy ids,
    // zero-valued ti.finish for every state including None.
    let (data, _) = capture(&cfg(2, Mode::Plain));
    let text: Vec<&str> = data.iter().map(|d| d.data.as_str()).collect();
    assert!(text.contains(&"airflow.dag_processing.processes:-1|c"));
    let starts = text
        .iter()
        .filter(|l| l.starts_with("airflow.ti.start.team.etl-dag_0.group.extract-0:"))
        .count();
    assert!(starts > 0);
    for state in TI_STATES_2X {
        let zero = format!("airflow.ti.finish.team.etl-dag_0.group.extract-0.{state}:0|c");
        assert_eq!(
            text.iter().filter(|l| **l == zero).count(),
            starts,
            "{zero}"
        );
    }
    // The legacy copy comes first, then the bare tagged name.
    let i = text
        .iter()
        .position(|l| l.starts_with("airflow.ti.finish.team.etl-dag_0.group.extract-0.None"))
        .unwrap();
    assert_eq!(text[i + 1], "airflow.ti.finish:0|c");

    // 3.x: `__` in legacy ids, seconds-valued last_duration, legacy first.
    let (data, _) = capture(&cfg(3, Mode::Influxdb));
    let text: Vec<&str> = data.iter().map(|d| d.data.as_str()).collect();
    let i = text
        .iter()
        .position(|l| l.starts_with("airflow.ti.start.team__etl-dag_0.group__extract-0:1|c"))
        .expect("3.x legacy ti.start");
    assert_eq!(
        text[i + 1],
        "airflow.ti.start,dag_id=team.etl-dag_0,task_id=group.extract-0:1|c"
    );
    assert!(text
        .iter()
        .any(|l| l.starts_with("airflow.executor.open_slots.LocalExecutor,status=open:")));
    let last = text
        .iter()
        .find(|l| l.starts_with("airflow.dag_processing.last_duration,"))
        .unwrap();
    let v: f64 = last
        .split(':')
        .nth(1)
        .unwrap()
        .trim_end_matches("|ms")
        .parse()
        .unwrap();
    assert!(v < 1.0, "3.x last_duration is seconds typed ms: {last}");

    // DogStatsD: context timers in seconds.
    let (data, _) = capture(&cfg(3, Mode::Dogstatsd));
    let s = samples(&data);
    let loops: Vec<f64> = s
        .iter()
        .filter(|x| x.0 == "airflow.scheduler.scheduler_loop_duration")
        .map(|x| x.2)
        .collect();
    assert!(!loops.is_empty() && loops.iter().all(|v| *v < 1.0));
}

#[test]
fn same_seed_same_traffic() {
    for mode in MODES {
        let mut c = cfg(3, mode);
        c.scenario = Scenario::SchedulerRestart;
        let a = capture(&c).0;
        let b = capture(&c).0;
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((x.sender, x.at, &x.data), (y.sender, y.at, &y.data));
        }
        c.seed = 2;
        let d = capture(&c).0;
        assert!(
            a.len() != d.len() || a.iter().zip(&d).any(|(x, y)| x.data != y.data),
            "another seed gives other traffic"
        );
    }
}

#[test]
fn ti_finish_counts_match_failure_ratio_and_tasks() {
    for version in [2, 3] {
        let c = SimConfig {
            airflow_version: version,
            mode: Mode::Influxdb,
            dags: 6,
            tasks: 4,
            failure_ratio: 0.25,
            retries: 1,
            duration: Some(1200.0),
            ..SimConfig::default()
        };
        let (data, _) = capture(&c);
        let s = samples(&data);
        let mut per_state: BTreeMap<String, u64> = BTreeMap::new();
        let mut tasks: BTreeSet<(String, String)> = BTreeSet::new();
        for (name, tags, value, _, _) in &s {
            if name != "airflow.ti.finish" || *value != 1.0 {
                continue;
            }
            *per_state.entry(tags["state"].clone()).or_default() += 1;
            tasks.insert((tags["dag_id"].clone(), tags["task_id"].clone()));
        }
        let tries: u64 = per_state.values().sum();
        let failures = per_state.get("up_for_retry").copied().unwrap_or(0)
            + per_state.get("failed").copied().unwrap_or(0);
        assert!(tries > 200, "{version}: {per_state:?}");
        let expected = tries as f64 * c.failure_ratio;
        assert!(
            (failures as f64 - expected).abs() <= 1.0,
            "{version}: {failures} failures for {tries} tries ({per_state:?})"
        );
        assert!(per_state.get("failed").copied().unwrap_or(0) > 0);
        assert!(per_state.get("up_for_retry").copied().unwrap_or(0) > 0);
        assert_eq!(per_state.len(), 3, "{per_state:?}");
        assert_eq!(tasks.len(), c.dags * c.tasks, "every task ran");
        // ti_failures / ti_successes agree with ti.finish.
        let count = |n: &str| s.iter().filter(|x| x.0 == n).count() as u64;
        assert_eq!(count("airflow.ti_failures"), failures);
        assert_eq!(count("airflow.ti_successes"), per_state["success"]);
        // Each try starts once.
        assert_eq!(
            s.iter()
                .filter(|x| x.0 == "airflow.ti.start" && x.1.contains_key("dag_id"))
                .count() as u64,
            tries + in_flight(&s)
        );
    }
}

/// Tries started but not finished when the simulation stopped.
fn in_flight(s: &[Parsed]) -> u64 {
    let started: BTreeSet<SenderId> = s
        .iter()
        .filter(|x| x.0 == "airflow.ti.start" && x.1.contains_key("dag_id"))
        .map(|x| x.3)
        .collect();
    let finished: BTreeSet<SenderId> = s
        .iter()
        .filter(|x| x.0 == "airflow.ti.finish" && x.2 == 1.0 && x.1.contains_key("state"))
        .map(|x| x.3)
        .collect();
    started.difference(&finished).count() as u64
}

fn heartbeat_senders(data: &[Captured], name: &str) -> Vec<(SenderId, f64)> {
    data.iter()
        .filter(|d| {
            d.data
                .strip_prefix("airflow.")
                .and_then(|r| r.split([':', ',']).next())
                == Some(name)
        })
        .map(|d| (d.sender, d.at))
        .collect()
}

fn switches(beats: &[(SenderId, f64)]) -> usize {
    beats.windows(2).filter(|w| w[0].0 != w[1].0).count()
}

#[test]
fn restart_switches_the_scheduler_sender_exactly_once() {
    for version in [2, 3] {
        for mode in MODES {
            let mut c = cfg(version, mode);
            c.scenario = Scenario::SchedulerRestart;
            let (data, _) = capture(&c);
            let beats = heartbeat_senders(&data, "scheduler_heartbeat");
            assert_eq!(switches(&beats), 1, "{version} {mode:?}");
            let gap = beats
                .windows(2)
                .find(|w| w[0].0 != w[1].0)
                .map(|w| w[1].1 - w[0].1)
                .unwrap();
            assert!(gap >= 13.0, "gap {gap}");
            assert!(data
                .iter()
                .all(|d| d.component != Component::Scheduler
                    || beats.iter().any(|b| b.0 == d.sender)));
            // Other components keep their sender.
            assert_eq!(
                switches(&heartbeat_senders(&data, "triggerer_heartbeat")),
                0
            );
            // A liveness tracker fed with the virtual clock sees one restart.
            let mut live = crate::liveness::Liveness::new(Default::default());
            let base = Instant::now();
            for (sender, at) in &beats {
                live.heartbeat(
                    crate::liveness::Component::Scheduler,
                    *sender,
                    base + Duration::from_secs_f64(*at),
                    1.8e9 + at,
                );
            }
            let end = base + Duration::from_secs_f64(400.0);
            let _ = live.families(end);
            assert_eq!(live.restarts(crate::liveness::Component::Scheduler), 1);
        }
    }
}

#[test]
fn hang_resumes_from_the_same_socket() {
    let mut c = cfg(3, Mode::Plain);
    c.scenario = Scenario::SchedulerHang;
    c.scenario_duration = Some(90.0);
    let (data, _) = capture(&c);
    let beats = heartbeat_senders(&data, "scheduler_heartbeat");
    assert_eq!(switches(&beats), 0);
    let max_gap = beats
        .windows(2)
        .map(|w| w[1].1 - w[0].1)
        .fold(0.0, f64::max);
    assert!((90.0..=96.0).contains(&max_gap), "{max_gap}");
    // Nothing at all from the scheduler during the hang.
    let sched = beats[0].0;
    assert!(!data
        .iter()
        .any(|d| d.sender == sched && d.at > 61.0 && d.at < 149.0));
}

#[test]
fn ha_scheduler_dies_for_good() {
    let mut c = cfg(3, Mode::Dogstatsd);
    c.schedulers = 2;
    c.scenario = Scenario::HaSchedulerDies;
    let (data, _) = capture(&c);
    let beats = heartbeat_senders(&data, "scheduler_heartbeat");
    let senders: BTreeSet<SenderId> = beats.iter().map(|b| b.0).collect();
    assert_eq!(senders.len(), 2);
    let last = |s: SenderId| {
        beats
            .iter()
            .filter(|b| b.0 == s)
            .map(|b| b.1)
            .fold(0.0, f64::max)
    };
    let mut lasts: Vec<f64> = senders.iter().map(|&s| last(s)).collect();
    lasts.sort_by(f64::total_cmp);
    assert!(lasts[0] <= 60.0 && lasts[1] > 390.0, "{lasts:?}");
    assert!(data
        .iter()
        .any(|d| d.data.starts_with("airflow.schedulerjobrunner_end:1|c")));
}

#[test]
fn import_error_and_pool_full() {
    let mut c = cfg(2, Mode::Influxdb);
    c.scenario = Scenario::ImportError;
    let s = samples(&capture(&c).0);
    let errs: Vec<(f64, f64)> = s
        .iter()
        .filter(|x| x.0 == "airflow.dag_processing.import_errors")
        .map(|x| (x.4, x.2))
        .collect();
    assert!(errs
        .iter()
        .any(|(at, v)| *v > 0.0 && *at >= 60.0 && *at < 120.0));
    assert!(errs.iter().any(|(at, v)| *v == 0.0 && *at > 120.0));

    let mut c = cfg(3, Mode::Dogstatsd);
    c.scenario = Scenario::PoolFull;
    c.dags = 8;
    let s = samples(&capture(&c).0);
    let pool = |name: &str| -> Vec<(f64, f64)> {
        s.iter()
            .filter(|x| {
                x.0 == name && x.1.get("pool_name").map(String::as_str) == Some("etl_pool-1")
            })
            .map(|x| (x.4, x.2))
            .collect()
    };
    assert!(pool("airflow.pool.open_slots")
        .iter()
        .any(|(at, v)| *v == 0.0 && *at > 60.0 && *at < 120.0));
    assert!(pool("airflow.pool.starving_tasks")
        .iter()
        .any(|(_, v)| *v > 0.0));
    assert!(pool("airflow.pool.scheduled_slots")
        .iter()
        .any(|(_, v)| *v > 0.0));
    assert!(pool("airflow.pool.open_slots")
        .iter()
        .any(|(at, v)| *v > 0.0 && *at > 130.0));
}

#[test]
fn plain_without_legacy_names_carries_no_ids() {
    let mut c = cfg(3, Mode::Plain);
    c.legacy_names = false;
    c.dags = 5;
    let (data, _) = capture(&c);
    let mut ids: Vec<String> = (0..c.dags).map(SimConfig::dag_id).collect();
    ids.extend((0..c.tasks).map(SimConfig::task_id));
    ids.extend(ids.clone().iter().map(|i| i.replace('.', "__")));
    ids.extend((1..c.pools).map(SimConfig::pool_name));
    ids.push("default_pool".into());
    for d in &data {
        // The one exception, as in real 3.3: dagrun.py sends
        // `dagrun.<dag_id>.first_task_scheduling_delay` explicitly.
        if d.data.ends_with("|ms") && d.data.contains(".first_task_scheduling_delay:") {
            continue;
        }
        for id in &ids {
            assert!(!d.data.contains(id.as_str()), "{id} in {}", d.data);
        }
        assert!(!d.data.contains("LocalExecutor"), "{}", d.data);
    }
    assert!(data
        .iter()
        .any(|d| d.data.starts_with("airflow.ti.finish:1|c")));
}

#[test]
fn count_stops_the_run_and_time_is_ordered() {
    let c = SimConfig {
        duration: None,
        count: Some(5000),
        mode: Mode::Dogstatsd,
        ..SimConfig::default()
    };
    let (data, summary) = capture(&c);
    assert!(
        summary.lines >= 5000 && summary.lines < 5011,
        "{}",
        summary.lines
    );
    assert!(data.windows(2).all(|w| w[0].at <= w[1].at));
    assert_eq!(
        summary.per_family.values().sum::<u64>(),
        summary.lines,
        "every line is counted under one family"
    );
}

#[test]
fn invalid_configs_are_rejected() {
    let bad = [
        SimConfig {
            airflow_version: 2,
            legacy_names: false,
            ..SimConfig::default()
        },
        SimConfig {
            scenario: Scenario::HaSchedulerDies,
            ..SimConfig::default()
        },
        SimConfig {
            failure_ratio: 1.5,
            ..SimConfig::default()
        },
        SimConfig {
            airflow_version: 4,
            ..SimConfig::default()
        },
    ];
    for c in bad {
        assert!(Simulator::new(c).is_err());
    }
}

#[test]
fn cli_parses_simulate() {
    use crate::cli::{parse_args, Command};
    let cmd = parse_args([
        "x",
        "simulate",
        "--target=127.0.0.1:9999",
        "--airflow-version=2",
        "--mode=dogstatsd",
        "--schedulers=2",
        "--dags=10",
        "--tasks=5",
        "--executor=CeleryExecutor",
        "--failure-ratio=0.2",
        "--rate=0",
        "--count=100",
        "--seed=7",
        "--scenario=ha-scheduler-dies",
    ])
    .unwrap();
    let Command::Simulate(a) = cmd else {
        panic!("{cmd:?}")
    };
    assert_eq!(a.target, "127.0.0.1:9999");
    assert_eq!(a.rate, Some(0));
    assert_eq!(a.sim.airflow_version, 2);
    assert_eq!(a.sim.mode, Mode::Dogstatsd);
    assert_eq!(a.sim.executor, Executor::Celery);
    assert_eq!(a.sim.count, Some(100));
    assert_eq!(a.sim.duration, None);
    assert_eq!(a.sim.scenario, Scenario::HaSchedulerDies);
    assert_eq!((a.sim.dags, a.sim.tasks, a.sim.seed), (10, 5, 7));
    assert!(parse_args(["x", "simulate", "--mode=graphite"]).is_err());
    assert!(parse_args(["x", "simulate", "--scenario=ha-scheduler-dies"]).is_err());
    assert!(parse_args([
        "x",
        "simulate",
        "--airflow-version=2",
        "--legacy-names=false"
    ])
    .is_err());
    let e = parse_args(["x", "simulate", "--help"]).unwrap_err();
    for flag in cli::SIM_FLAGS {
        assert!(
            e.to_string().contains(&format!("--{}", flag.name)),
            "{}",
            flag.name
        );
    }
}

#[test]
fn udp_run_sends_from_one_socket_per_process() {
    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    // Generous: the loop ends at the last expected datagram; the timeout
    // only ends it early on a loaded machine when datagrams were lost.
    receiver
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // Room for the whole run, so a receiver thread that a busy machine
    // (the other tests) does not schedule for a while loses nothing.
    let _ = socket2::SockRef::from(&receiver).set_recv_buffer_size(4 << 20);
    let mut c = cfg(3, Mode::Plain);
    c.duration = Some(30.0);
    c.dags = 1;
    let args = cli::SimulateArgs {
        sim: c,
        target: receiver.local_addr().unwrap().to_string(),
        rate: Some(20_000),
        speed: 1.0,
    };
    let expected = capture(&args.sim).1.datagrams;
    let t = std::thread::spawn(move || cli::run(&args));
    let mut ports = BTreeMap::<u16, u64>::new();
    let mut buf = [0u8; 2048];
    let mut got = 0;
    while let Ok((n, from)) = receiver.recv_from(&mut buf) {
        assert!(n > 0);
        got += 1;
        *ports.entry(from.port()).or_default() += 1;
        if got == expected {
            break;
        }
    }
    t.join().unwrap();
    assert!(got as f64 >= expected as f64 * 0.9, "{got} of {expected}");
    // Scheduler, triggerer, dag-processor, and task processes.
    assert!(ports.len() >= 4, "{ports:?}");
}

const DOC_BEGIN: &str = "<!-- BEGIN GENERATED: simulate::cli::flags_markdown() -->\n";
const DOC_END: &str = "<!-- END GENERATED -->";

/// `docs/simulator.md` embeds `flags_markdown()` verbatim. To regenerate:
/// `UPDATE_DOCS=1 cargo test --lib simulate::tests::docs_simulator_md`.
#[test]
fn docs_simulator_md_is_up_to_date() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/simulator.md");
    let generated = cli::flags_markdown();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let doc = std::fs::read_to_string(&path).expect("read docs/simulator.md");
        let start = doc.find(DOC_BEGIN).expect("begin marker") + DOC_BEGIN.len();
        let end = doc.find(DOC_END).expect("end marker");
        let updated = format!("{}{}{}", &doc[..start], generated, &doc[end..]);
        std::fs::write(&path, updated).expect("write docs/simulator.md");
    }
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        doc.contains(&generated),
        "docs/simulator.md is out of date with SIM_FLAGS; regenerate it with\n\
         UPDATE_DOCS=1 cargo test --lib simulate::tests::docs_simulator_md"
    );
}
