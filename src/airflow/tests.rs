use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::catalog::{Kind, FAMILIES, TAG_KEYS};
use super::docs;
use crate::escape::is_valid_metric_name;
use crate::ingest::{Origin, Shared};
use crate::liveness::Component;
use crate::mapping::Mapper;
use crate::store::{FamilySnapshot, SnapValue};

#[test]
fn docs_metrics_md_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md");
    let want = docs::metrics_markdown();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(path, &want).unwrap();
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        have == want,
        "docs/metrics.md is stale: run UPDATE_DOCS=1 cargo test --lib airflow::tests::docs_metrics_md"
    );
}

#[test]
fn catalog_follows_prometheus_conventions() {
    let mut names = HashSet::new();
    for f in FAMILIES {
        assert!(names.insert(f.name), "{} listed twice", f.name);
        assert!(
            is_valid_metric_name(f.name) && f.name.starts_with("airflow_"),
            "{}",
            f.name
        );
        match f.kind {
            Kind::Counter => assert!(f.name.ends_with("_total"), "{}", f.name),
            Kind::Timer(b) => {
                assert!(f.name.ends_with("_seconds"), "{}", f.name);
                assert!(b.windows(2).all(|w| w[0] < w[1]), "{} buckets", f.name);
            }
            Kind::Gauge | Kind::UpDown => assert!(!f.name.ends_with("_total"), "{}", f.name),
        }
        assert!(!f.help.is_empty());
        for e in f.events {
            for (k, _) in e.consts {
                assert!(
                    f.labels.contains(k),
                    "{}: const label {k} not declared",
                    f.name
                );
            }
            for l in e.legacy {
                for var in l.split('{').skip(1).map(|p| &p[..p.find('}').unwrap()]) {
                    assert!(
                        f.labels.contains(&var) || var == "job_id",
                        "{}: placeholder {var} not a label",
                        f.name
                    );
                }
            }
        }
        for l in f.labels {
            let from_tag = TAG_KEYS.iter().any(|(k, _)| k == l);
            let from_const = f
                .events
                .iter()
                .any(|e| e.consts.iter().any(|(k, _)| k == l));
            assert!(
                from_tag || from_const,
                "{}: label {l} has no source",
                f.name
            );
        }
    }
}

#[test]
fn printed_profile_is_a_valid_statsd_exporter_mapping() {
    let yaml = docs::profile_yaml("airflow");
    let mapper = Mapper::from_yaml_str(&yaml, "profile.yml").expect("profile YAML loads");
    assert_eq!(mapper.warnings(), &[] as &[String], "every rule reachable");
    assert!(mapper.rules().len() > FAMILIES.len());
    use crate::mapping::MapOutcome;
    use crate::sample::MetricKind;
    match mapper.map("airflow.pool.open_slots.default_pool", MetricKind::Gauge) {
        MapOutcome::Mapped { name, labels, .. } => {
            assert_eq!(name, "airflow_pool_slots");
            assert!(labels.contains(&("pool".to_string(), "default_pool".to_string())));
            assert!(labels.contains(&("state".to_string(), "open".to_string())));
        }
        other => panic!("{other:?}"),
    }
    match mapper.map(
        "airflow.operator_successes_BashOperator",
        MetricKind::Counter,
    ) {
        MapOutcome::Mapped { name, labels, .. } => {
            assert_eq!(name, "airflow_operator_successes_total");
            assert_eq!(
                labels,
                vec![("operator".to_string(), "BashOperator".to_string())]
            );
        }
        other => panic!("{other:?}"),
    }
}

// --- Replaying the real captures -------------------------------------------

const DAGS: &[&str] = &[
    "corpus.quick-success_v1",
    "corpus_fail-retry.v1",
    "corpus.long-sensor_dag",
    "every_minute.heartbeat-dag",
];

struct Replay {
    shared: Arc<Shared>,
    end: Instant,
    lines: Vec<(f64, String, String)>,
}

fn corpus(file: &str) -> Vec<(f64, String, String)> {
    let path = format!("{}/tests/data/corpus/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["t"].as_f64().unwrap(),
                v["src"].as_str().unwrap().to_string(),
                v["data"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn replay(file: &str) -> Replay {
    let lines = corpus(file);
    let shared = Arc::new(Shared::for_tests(Mapper::empty()).with_airflow("airflow"));
    let mut ing = shared.ingester();
    let base = Instant::now();
    let t0 = lines[0].0;
    let mut end = base;
    for (t, src, data) in &lines {
        let now = base + Duration::from_secs_f64(t - t0);
        end = now;
        let mut origin = Origin::from_addr(src);
        origin.datagram = true;
        ing.ingest(data.as_bytes(), now, origin);
    }
    Replay { shared, end, lines }
}

type Series = BTreeMap<(String, Vec<(String, String)>), f64>;

fn series(r: &Replay) -> (Series, Vec<FamilySnapshot>) {
    let mut fams = r.shared.store.lock().snapshot(r.end);
    fams.extend(r.shared.liveness.lock().families(r.end));
    let mut out = BTreeMap::new();
    for f in &fams {
        for s in &f.series {
            let labels: Vec<(String, String)> = s
                .labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let v = match &s.value {
                SnapValue::Single(v) => *v,
                SnapValue::Histogram(h) => h.count,
                SnapValue::Summary(s) => s.count,
            };
            out.insert((f.name.to_string(), labels), v);
        }
    }
    (out, fams)
}

fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    v.sort();
    v
}

/// Splits `<dag>.<task>.<state>` (2.x dots or 3.x `__`) with the DAG list of
/// the capture's README — independently of the model's resolver.
fn split_ti(rest: &str) -> (String, String, String) {
    let rest = rest.replace("__", ".");
    let dag = DAGS
        .iter()
        .find(|d| rest.starts_with(&format!("{d}.")))
        .expect("known dag");
    let after = &rest[dag.len() + 1..];
    let (task, state) = after.rsplit_once('.').unwrap();
    (dag.to_string(), task.to_string(), state.to_string())
}

/// Expected `airflow_task_finishes_total` from the file: legacy lines in
/// plain mode, tagged lines in tagged modes; zero increments ignored.
fn expected_finishes(
    lines: &[(f64, String, String)],
    tagged: bool,
) -> BTreeMap<(String, String, String), f64> {
    let mut out = BTreeMap::new();
    for (_, _, data) in lines {
        for line in data.lines() {
            let (name_part, rest) = line.split_once(':').unwrap();
            let value: f64 = rest.split('|').next().unwrap().parse().unwrap();
            if value == 0.0 {
                continue;
            }
            let key = if tagged {
                let (name, tags) = match name_part.split_once(',') {
                    Some((n, t)) => (n, t.replace('=', ":")),
                    None => (name_part, line.split("|#").nth(1).unwrap_or("").to_string()),
                };
                if name != "airflow.ti.finish" {
                    continue;
                }
                let tag = |k: &str| {
                    tags.split(',')
                        .find_map(|t| t.strip_prefix(&format!("{k}:")))
                        .unwrap()
                        .to_string()
                };
                (tag("dag_id"), tag("task_id"), tag("state"))
            } else {
                let Some(r) = name_part.strip_prefix("airflow.ti.finish.") else {
                    continue;
                };
                split_ti(r)
            };
            *out.entry(key).or_insert(0.0) += value;
        }
    }
    out
}

fn check_capture(file: &str, tagged: bool, restarts: f64) {
    let r = replay(file);
    let (s, fams) = series(&r);
    // Every task finish counted exactly once, with the right identities.
    let want = expected_finishes(&r.lines, tagged);
    assert!(!want.is_empty());
    let got: BTreeMap<_, _> = s
        .iter()
        .filter(|((n, _), _)| n == "airflow_task_finishes_total")
        .map(|((_, l), v)| {
            let get = |k: &str| {
                l.iter()
                    .find(|(lk, _)| lk == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            ((get("dag_id"), get("task_id"), get("state")), *v)
        })
        .collect();
    assert_eq!(got, want, "{file}: task finishes");
    // Every Airflow name in the capture is in the catalog.
    assert!(
        !s.keys().any(|(n, _)| n == "airflow_unmapped_samples_total"),
        "{file}: unmapped names: {:?}",
        s.iter()
            .filter(|((n, _), _)| n == "airflow_unmapped_samples_total")
            .collect::<Vec<_>>()
    );
    // No statsd_exporter-style escaped names leak through, except non-Airflow ones.
    for f in &fams {
        assert!(
            f.name.starts_with("airflow_") || f.name.starts_with("statsd_exporter_"),
            "{file}: unexpected family {}",
            f.name
        );
    }
    // Scheduler restarts, derived from the heartbeat senders.
    assert_eq!(
        s.get(&(
            "airflow_restarts_total".to_string(),
            kv(&[("component", "scheduler")])
        )),
        Some(&restarts),
        "{file}: scheduler restarts"
    );
    assert_eq!(
        r.shared.liveness.lock().restarts(Component::Triggerer),
        0,
        "{file}: triggerer restarts"
    );
    // Pool gauges: the last value sent for each pool.
    for pool in ["default_pool", "corpus_pool"] {
        let prefix = format!("airflow.pool.open_slots.{pool}:");
        let last: f64 = r
            .lines
            .iter()
            .flat_map(|(_, _, d)| d.lines())
            .filter_map(|l| l.strip_prefix(&prefix))
            .next_back()
            .map(|v| v.split('|').next().unwrap().parse().unwrap())
            .unwrap_or_else(|| panic!("{file}: no {prefix}"));
        assert_eq!(
            s.get(&(
                "airflow_pool_slots".to_string(),
                kv(&[("pool", pool), ("state", "open")])
            )),
            Some(&last),
            "{file}: pool {pool}"
        );
    }
    // Heartbeats: one series per component, equal to the number of heartbeat lines.
    let beats = r
        .lines
        .iter()
        .flat_map(|(_, _, d)| d.lines())
        .filter(|l| l.starts_with("airflow.scheduler_heartbeat"))
        .count() as f64;
    assert_eq!(
        s.get(&(
            "airflow_heartbeats_total".to_string(),
            kv(&[("component", "scheduler")])
        )),
        Some(&beats),
        "{file}: heartbeats"
    );
    // The DAG run histogram has every DAG run.
    let runs = r
        .lines
        .iter()
        .flat_map(|(_, _, d)| d.lines())
        .filter(|l| {
            l.starts_with("airflow.dagrun.duration.success.")
                || l.starts_with("airflow.dagrun.duration.failed.")
        })
        .count() as f64;
    let got_runs: f64 = s
        .iter()
        .filter(|((n, _), _)| n == "airflow_dagrun_duration_seconds")
        .map(|(_, v)| *v)
        .sum();
    assert_eq!(got_runs, runs, "{file}: dag runs");
}

#[test]
fn corpus_3_3_2_plain() {
    check_capture("airflow-3.3.2-plain.jsonl", false, 1.0);
}

#[test]
fn corpus_2_11_2_plain() {
    check_capture("airflow-2.11.2-plain.jsonl", false, 1.0);
}

#[test]
fn corpus_3_3_2_datadog() {
    check_capture("airflow-3.3.2-datadog.jsonl", true, 0.0);
}

#[test]
fn corpus_2_11_2_datadog() {
    check_capture("airflow-2.11.2-datadog.jsonl", true, 0.0);
}

#[test]
fn corpus_3_3_2_influxdb() {
    check_capture("airflow-3.3.2-influxdb.jsonl", true, 0.0);
}

#[test]
fn corpus_2_11_2_influxdb() {
    check_capture("airflow-2.11.2-influxdb.jsonl", true, 0.0);
}

#[test]
fn unit_fixes_give_seconds() {
    // 3.3.2 DogStatsD: the scheduler loop timer is a context timer (seconds on the wire).
    let r = replay("airflow-3.3.2-datadog.jsonl");
    let fams = r.shared.store.lock().snapshot(r.end);
    let f = fams
        .iter()
        .find(|f| &*f.name == "airflow_scheduler_loop_duration_seconds")
        .unwrap();
    let SnapValue::Histogram(h) = &f.series[0].value else {
        panic!()
    };
    let (sum, count) = (h.sum, h.count);
    let mean = sum / count;
    assert!((0.001..5.0).contains(&mean), "mean loop {mean} s");
    // 3.3.2 plain: the same timer in real milliseconds gives the same order of magnitude.
    let r = replay("airflow-3.3.2-plain.jsonl");
    let fams = r.shared.store.lock().snapshot(r.end);
    let f = fams
        .iter()
        .find(|f| &*f.name == "airflow_scheduler_loop_duration_seconds")
        .unwrap();
    let SnapValue::Histogram(h) = &f.series[0].value else {
        panic!()
    };
    let (sum, count) = (h.sum, h.count);
    assert!(
        (0.001..5.0).contains(&(sum / count)),
        "mean loop {} s",
        sum / count
    );
    assert_eq!(r.shared.airflow.as_ref().unwrap().detected_version(), 3);
}

#[test]
fn processes_gauge_sums_increments_and_decrements() {
    let r = replay("airflow-2.11.2-plain.jsonl");
    let (s, _) = series(&r);
    let want: f64 = r
        .lines
        .iter()
        .flat_map(|(_, _, d)| d.lines())
        .filter_map(|l| l.strip_prefix("airflow.dag_processing.processes:"))
        .map(|v| v.split('|').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(
        s.get(&("airflow_dag_processing_processes".to_string(), vec![])),
        Some(&want)
    );
    assert_eq!(
        r.shared
            .telemetry
            .event_error(crate::telemetry::EventError::IllegalNegativeCounter)
            .get(),
        0
    );
}

// --- The same activity in every wire form ------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Plain,
    Datadog,
    Influx,
}

/// One Airflow call site as Airflow `version` sends it in `mode`: the legacy
/// copy (ids in the name), then the tagged copy — what the captures show.
fn emit(
    mode: Mode,
    version: u8,
    legacy: Option<String>,
    tagged: &str,
    tags: &[(&str, &str)],
    value: &str,
    ty: &str,
) -> Vec<String> {
    let esc = |v: &str| {
        if version == 3 {
            v.replace('.', "__")
        } else {
            v.to_string()
        }
    };
    let legacy = legacy.map(|l| {
        let mut l = l;
        for (k, v) in tags {
            l = l.replace(&format!("{{{k}}}"), &esc(v));
        }
        l
    });
    let tag_list = |sep: char, kv: char| {
        tags.iter()
            .map(|(k, v)| format!("{k}{kv}{v}"))
            .collect::<Vec<_>>()
            .join(&sep.to_string())
    };
    let mut out = Vec::new();
    match mode {
        Mode::Plain => {
            if let Some(l) = legacy {
                out.push(format!("airflow.{l}:{value}|{ty}"));
            }
            out.push(format!("airflow.{tagged}:{value}|{ty}"));
        }
        Mode::Datadog => {
            if let Some(l) = legacy {
                // 2.x passes the tags to the legacy call too; 3.x only constant tags.
                let t = if version == 2 && !tags.is_empty() {
                    format!("{},env:test", tag_list(',', ':'))
                } else {
                    "env:test".into()
                };
                out.push(format!("airflow.{l}:{value}|{ty}|#{t}\n"));
            }
            let t = if tags.is_empty() {
                "env:test".to_string()
            } else {
                format!("{},env:test", tag_list(',', ':'))
            };
            out.push(format!("airflow.{tagged}:{value}|{ty}|#{t}\n"));
        }
        Mode::Influx => {
            if let Some(l) = legacy {
                out.push(if version == 2 && !tags.is_empty() {
                    format!("airflow.{l},{}:{value}|{ty}", tag_list(',', '='))
                } else {
                    format!("airflow.{l}:{value}|{ty}")
                });
            }
            let t = if tags.is_empty() {
                String::new()
            } else {
                format!(",{}", tag_list(',', '='))
            };
            out.push(format!("airflow.{tagged}{t}:{value}|{ty}"));
        }
    }
    out
}

fn activity(mode: Mode, version: u8) -> Vec<String> {
    let dag = "team.etl-dag_7";
    let mut out = Vec::new();
    let mut e =
        |legacy: Option<&str>, tagged: &str, tags: &[(&str, &str)], value: &str, ty: &str| {
            out.extend(emit(
                mode,
                version,
                legacy.map(String::from),
                tagged,
                tags,
                value,
                ty,
            ));
        };
    e(None, "scheduler_heartbeat", &[], "1", "c");
    e(
        Some("dagrun.dependency-check.{dag_id}"),
        "dagrun.dependency-check",
        &[("dag_id", dag)],
        "2.5",
        "ms",
    );
    e(
        Some("pool.open_slots.{pool_name}"),
        "pool.open_slots",
        &[("pool_name", "etl.pool")],
        "7",
        "g",
    );
    for task in ["group.extract-3", "load"] {
        let t = [("dag_id", dag), ("task_id", task)];
        e(
            Some("ti.start.{dag_id}.{task_id}"),
            "ti.start",
            &t,
            "1",
            "c",
        );
        e(
            Some("dag.{dag_id}.{task_id}.duration"),
            "task.duration",
            &t,
            "1500",
            "ms",
        );
        let st = [("dag_id", dag), ("task_id", task), ("state", "success")];
        e(
            Some("ti.finish.{dag_id}.{task_id}.{state}"),
            "ti.finish",
            &st,
            "1",
            "c",
        );
        e(
            Some("operator_successes_{operator_name}"),
            "operator_successes",
            &[("operator_name", "BashOperator")],
            "1",
            "c",
        );
    }
    e(
        Some("dagrun.duration.success.{dag_id}"),
        "dagrun.duration.success",
        &[("dag_id", dag)],
        "4000",
        "ms",
    );
    e(None, "dag_processing.processes", &[], "1", "c");
    e(None, "dag_processing.processes", &[], "-1", "c");
    e(None, "dag_processing.processes", &[], "1", "c");
    out
}

fn run_lines(lines: &[String]) -> Series {
    let shared = Arc::new(Shared::for_tests(Mapper::empty()).with_airflow("airflow"));
    let mut ing = shared.ingester();
    let now = Instant::now();
    for l in lines {
        ing.ingest(
            l.as_bytes(),
            now,
            Origin {
                sender: 1,
                datagram: true,
            },
        );
    }
    let r = Replay {
        shared,
        end: now,
        lines: Vec::new(),
    };
    {
        // The wall-clock heartbeat timestamp differs between runs.
        let mut s = series(&r).0;
        s.retain(|(n, _), _| n != "airflow_last_heartbeat_timestamp_seconds");
        s
    }
}

#[test]
fn every_wire_form_gives_the_same_series() {
    // Airflow 2.x (dots in legacy ids) and 3.x (`__`) give the same series too.
    assert_eq!(
        run_lines(&activity(Mode::Plain, 2)),
        run_lines(&activity(Mode::Plain, 3))
    );
    for version in [2u8, 3] {
        let reference = run_lines(&activity(Mode::Plain, version));
        assert_eq!(
            reference.get(&(
                "airflow_task_finishes_total".to_string(),
                kv(&[
                    ("dag_id", "team.etl-dag_7"),
                    ("state", "success"),
                    ("task_id", "group.extract-3")
                ])
            )),
            Some(&1.0),
            "v{version}: {reference:#?}"
        );
        assert_eq!(
            reference.get(&(
                "airflow_pool_slots".to_string(),
                kv(&[("pool", "etl.pool"), ("state", "open")])
            )),
            Some(&7.0)
        );
        assert_eq!(
            reference.get(&(
                "airflow_operator_successes_total".to_string(),
                kv(&[("operator", "BashOperator")])
            )),
            Some(&2.0)
        );
        assert_eq!(
            reference.get(&("airflow_dag_processing_processes".to_string(), vec![])),
            Some(&1.0)
        );
        for mode in [Mode::Datadog, Mode::Influx] {
            let got = run_lines(&activity(mode, version));
            assert_eq!(
                got,
                reference,
                "v{version} {} differs from plain",
                if mode == Mode::Datadog {
                    "DogStatsD"
                } else {
                    "InfluxDB"
                }
            );
        }
    }
}

// --- The simulator's deployments through the profile -------------------------

fn simulate(
    mode: crate::simulate::Mode,
    version: u8,
    scenario: crate::simulate::Scenario,
) -> (Arc<Shared>, Instant) {
    use crate::simulate::{generate, SimConfig};
    let cfg = SimConfig {
        airflow_version: version,
        mode,
        scenario,
        scenario_at: 120.0,
        duration: Some(600.0),
        dags: 5,
        tasks: 4,
        seed: 7,
        ..SimConfig::default()
    };
    let shared = Arc::new(Shared::for_tests(Mapper::empty()).with_airflow("airflow"));
    let mut ing = shared.ingester();
    let base = Instant::now();
    let mut end = base;
    generate(&cfg, &mut |d| {
        end = base + Duration::from_secs_f64(d.at);
        ing.ingest(
            d.data,
            end,
            Origin {
                sender: d.sender,
                datagram: true,
            },
        );
    });
    (shared, end)
}

#[test]
fn simulated_restart_and_hang() {
    use crate::simulate::{Mode, Scenario};
    for mode in [Mode::Plain, Mode::Dogstatsd, Mode::Influxdb] {
        let (s, _) = simulate(mode, 3, Scenario::SchedulerRestart);
        assert_eq!(
            s.liveness.lock().restarts(Component::Scheduler),
            1,
            "{mode:?} restart"
        );
        let (s, _) = simulate(mode, 3, Scenario::SchedulerHang);
        assert_eq!(
            s.liveness.lock().restarts(Component::Scheduler),
            0,
            "{mode:?} hang"
        );
    }
}

#[test]
fn tagged_first_events_make_no_stray_series_nor_a_false_warning() {
    let model = |lines: &[&str]| {
        let shared = Shared::for_tests(Mapper::empty()).with_airflow("airflow");
        let shared = Arc::new(shared);
        let mut ing = shared.ingester();
        for l in lines {
            ing.ingest(l.as_bytes(), Instant::now(), Origin::default());
        }
        let warned = shared
            .airflow
            .as_ref()
            .unwrap()
            .warned_no_ids
            .load(std::sync::atomic::Ordering::Relaxed);
        warned
    };
    let bare = "airflow.dagrun.dependency-check:12|ms";
    let legacy_first_stray = run_lines(&[
        bare.to_string(),
        "airflow.dagrun.dependency-check.etl:12|ms".to_string(),
    ]);
    let keys: Vec<_> = legacy_first_stray
        .keys()
        .filter(|(n, _)| n.starts_with("airflow_dagrun_dependency_check_seconds"))
        .collect();
    assert!(
        keys.iter()
            .all(|(_, l)| l.iter().any(|(k, v)| k == "dag_id" && v == "etl")),
        "no unlabeled stray series from a tagged-first event: {keys:?}"
    );
    assert!(!keys.is_empty());
    let legacy = "airflow.dagrun.dependency-check.etl:12|ms";
    // Tagged-first call sites and an exporter started mid-stream: no warning.
    assert!(!model(&[bare, legacy, bare, legacy, bare, legacy]));
    assert!(!model(&[bare, bare, legacy, bare, bare]));
    // legacy_names_on = False: the wire never carries the twin.
    assert!(model(&[bare, bare, bare]));
}
