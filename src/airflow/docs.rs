//! `docs/metrics.md` and the statsd_exporter-format rendering of the profile,
//! both generated from the catalog so they cannot drift from the code.

use std::fmt::Write as _;

use super::catalog::{Family, Kind, FAMILIES};

fn kind_str(k: Kind) -> &'static str {
    match k {
        Kind::Counter => "counter",
        Kind::Gauge | Kind::UpDown => "gauge",
        Kind::Timer(_) => "histogram",
    }
}

fn statsd_names(f: &Family) -> String {
    let mut names = Vec::new();
    for e in f.events {
        if let Some(t) = e.tagged {
            names.push(format!("`{t}`"));
        }
        for l in e.legacy {
            names.push(format!("`{l}`"));
        }
    }
    names.join(", ")
}

const INTRO: &str = r#"# The built-in Airflow metric model

Generated from `src/airflow/catalog.rs` (`UPDATE_DOCS=1 cargo test --lib airflow::tests::docs_metrics_md`
rewrites it; a test fails when it is stale).

When the exporter runs without `--statsd.mapping-config` (or with `--statsd.profile=airflow`), every
`airflow.*` StatsD name is mapped to one of the families below. Names are shown without the
`airflow.` prefix.

## How names become series

* **One family per concept.** Airflow sends many events under two names: a *legacy* name with the
  identities baked in (`ti.finish.<dag_id>.<task_id>.<state>`) and a *tagged* name
  (`ti.finish` with `dag_id`, `task_id`, `state` as DogStatsD or InfluxDB tags; in plain StatsD the
  tags are dropped and the name arrives bare). Each event is counted **once**: the legacy name is the
  source as soon as it has been seen for that event, and its tagged twin is then dropped
  (`statsd_exporter_airflow_dropped_total{reason="duplicate_tagged_name"}`). When legacy names never
  arrive (`[metrics] legacy_names_on = False` on 3.2+), the tagged name is the source. Some call
  sites send the tagged copy first, and an exporter started mid-stream can see either first, so the
  first two copies of an event without identities that arrive before its legacy twin are dropped
  (`reason="tagged_before_legacy"`) instead of creating an unlabeled series; from the third on,
  the wire is taken to carry no identities.
* **Identity labels are exactly those the legacy name carries**, so plain, DogStatsD and InfluxDB
  traffic of the same Airflow give the same series. Other tags (`run_type`, `team_name`, constant
  `statsd_datadog_tags` such as `env`) are not turned into labels.
* **Ids with dots.** Airflow 3.2+ writes `.` inside ids as `__` in legacy names; it is turned back
  into `.`. Airflow 2.x writes ids with their dots, so `ti.finish.a.b.c.success` is ambiguous: the
  exporter splits it with the DAG ids it has seen whole (`dagrun.dependency-check.<dag_id>`,
  `dagrun.duration.*.<dag_id>`, `dagrun.schedule_delay.<dag_id>`, or a `dag_id` tag), which the
  scheduler sends before any task of a DAG runs. Before a DAG id is known, the first component is
  taken as the DAG id. At most 20,000 DAG ids are remembered. A legitimate `__` inside an id is
  shown as `.`.
* **Plain StatsD with `legacy_names_on = False` (3.2+) carries no identities at all.** The
  families are still exposed, without `dag_id`/`task_id`/`pool`/… labels, and the exporter logs one
  warning telling the operator to set `legacy_names_on = True` or enable DogStatsD/InfluxDB tags.
* **Durations are seconds histograms** with buckets per kind of timer. Where Airflow sends seconds
  on a `|ms` line, the value is corrected (see *Unit fixes*). The Airflow major version is detected
  from version-specific names (`statsd_exporter_airflow_detected_version`).
* `dag_processing.processes` (sent as `+1`/`-1` counter deltas) is an up/down gauge; nothing is
  dropped. Zero-valued `ti.finish` increments (2.x pre-initialises all 13 states at task start) do
  not create series, so 2.x and 3.x expose the same series. 3.x sends
  `dagrun.<dag_id>.first_task_scheduling_delay` twice (raw and `__`-escaped); the repeat is dropped.
* The Datadog client's own `datadog.dogstatsd.client.*` lines are dropped; `|c:` container ids are
  dropped by the parser unless `--statsd.container-id-label`.
* **Unknown `airflow.*` names** (new Airflow versions, providers) never create per-DAG metric names:
  they are counted in `airflow_unmapped_samples_total{statsd_group,type}`, where `statsd_group` is
  the first two components of the name, and in `statsd_exporter_events_unmapped_total`.
* Names that do not start with `airflow.` are handled as statsd_exporter handles unmapped names.
* Your own mapping rules (`--statsd.mapping-config` with `--statsd.profile=airflow`) are tried
  first; whatever they do not match goes through this model.
* `airflow-statsd-exporter print-profile` prints the legacy and tagged names of this model as a
  statsd_exporter mapping file (without the deduplication and unit fixes, which statsd_exporter
  cannot express).

## Liveness and restarts

Derived in the exporter from the heartbeat lines and the socket each Airflow process sends from
(see the `liveness` module for the heuristics and their limits):

| family | type | labels | meaning |
|---|---|---|---|
| `airflow_live_heartbeat_senders` | gauge | `component` | processes of this component that sent a heartbeat within the live window (30 s) |
| `airflow_last_heartbeat_timestamp_seconds` | gauge | `component` | Unix time of the last heartbeat |
| `airflow_heartbeat_sender_starts_total` | counter | `component` | new heartbeat senders seen (process starts) |
| `airflow_restarts_total` | counter | `component` | a new sender appeared after another of the same component went silent |

`component` is `scheduler`, `triggerer` or `dag_processor`.

## Families
"#;

/// The whole `docs/metrics.md`.
pub fn metrics_markdown() -> String {
    let mut out = String::from(INTRO);
    out.push_str("\n| family | type | labels | StatsD names | Airflow | description |\n|---|---|---|---|---|---|\n");
    for f in FAMILIES {
        let labels = f
            .labels
            .iter()
            .map(|l| format!("`{l}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} |",
            f.name,
            kind_str(f.kind),
            labels,
            statsd_names(f),
            f.versions,
            f.help
        );
    }
    out.push_str("| `airflow_unmapped_samples_total` | counter | `statsd_group`, `type` | any other `airflow.*` name | all | Samples of Airflow names this model does not know. |\n");
    out.push_str("\n## Histogram buckets\n\n| family | buckets (seconds) |\n|---|---|\n");
    for f in FAMILIES {
        if let Kind::Timer(b) = f.kind {
            let b: Vec<String> = b.iter().map(|x| x.to_string()).collect();
            let _ = writeln!(out, "| `{}` | {} |", f.name, b.join(", "));
        }
    }
    out.push_str("\n## Unit fixes\n\n| family | StatsD name | fix |\n|---|---|---|\n");
    for f in FAMILIES {
        for e in f.events {
            if e.fix != super::catalog::Fix::None {
                let name = e.tagged.unwrap_or("");
                let _ = writeln!(out, "| `{}` | `{}` | {} |", f.name, name, e.fix.describe());
            }
        }
    }
    out
}

/// The profile as a statsd_exporter mapping file.
pub fn profile_yaml(prefix: &str) -> String {
    let mut out = String::from(
        "# The airflow-statsd-exporter built-in Airflow profile, as statsd_exporter mapping rules.\n\
         # statsd_exporter cannot express what the built-in profile also does: counting an event\n\
         # once when Airflow sends it under two names, splitting ids that contain dots, unit\n\
         # fixes, and liveness/restart tracking. Generated; do not edit.\n\
         defaults:\n  observer_type: histogram\nmappings:\n",
    );
    // statsd_exporter's glob FSM never reaches a rule whose path an earlier,
    // longer glob already passes through; globs of different lengths never
    // match the same name, so shortest first keeps every rule reachable.
    let mut rules: Vec<(usize, String)> = Vec::new();
    for f in FAMILIES {
        for e in f.events {
            let mut rule = |pattern: String, regex: bool, labels: &[(String, String)]| {
                let mut r = String::new();
                if regex {
                    // Single quotes: YAML leaves backslashes alone.
                    let _ = writeln!(
                        r,
                        "  - match: '{pattern}'\n    match_type: regex\n    name: \"{}\"",
                        f.name
                    );
                } else {
                    let _ = writeln!(r, "  - match: \"{pattern}\"\n    name: \"{}\"", f.name);
                }
                write_labels(&mut r, labels, e.consts);
                write_buckets(&mut r, f.kind);
                let order = if regex {
                    usize::MAX
                } else {
                    pattern.split('.').count()
                };
                rules.push((order, r));
            };
            if let Some(t) = e.tagged {
                rule(format!("{prefix}.{t}"), false, &[]);
            }
            for l in e.legacy {
                let (pattern, regex, labels) = legacy_match(prefix, l);
                rule(pattern, regex, &labels);
            }
        }
    }
    rules.sort_by_key(|(order, _)| *order);
    for (_, r) in rules {
        out.push_str(&r);
    }
    out
}

/// A legacy pattern as a statsd_exporter match: a glob when every
/// placeholder is a whole component, else an anchored regex.
fn legacy_match(prefix: &str, pattern: &str) -> (String, bool, Vec<(String, String)>) {
    let mut parts: Vec<(bool, &str)> = Vec::new(); // (is_var, text)
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        parts.push((false, &rest[..open]));
        let close = rest[open..].find('}').map_or(rest.len() - 1, |c| c + open);
        parts.push((true, &rest[open + 1..close]));
        rest = &rest[close + 1..];
    }
    parts.push((false, rest));
    let whole_components = parts.windows(3).all(|w| {
        !w[1].0
            || ((w[0].1.is_empty() || w[0].1.ends_with('.'))
                && (w[2].1.is_empty() || w[2].1.starts_with('.')))
    });
    let mut text = String::new();
    let mut labels = Vec::new();
    let mut n = 0;
    for (is_var, t) in &parts {
        if *is_var {
            n += 1;
            text.push_str(if whole_components { "*" } else { "(.+)" });
            if *t != "job_id" {
                labels.push((t.to_string(), format!("${n}")));
            }
        } else if whole_components {
            text.push_str(t);
        } else {
            text.push_str(&regex::escape(t));
        }
    }
    if whole_components {
        (format!("{prefix}.{text}"), false, labels)
    } else {
        (
            format!("^{}\\.{text}$", regex::escape(prefix)),
            true,
            labels,
        )
    }
}

fn write_labels(out: &mut String, labels: &[(String, String)], consts: &[(&str, &str)]) {
    if labels.is_empty() && consts.is_empty() {
        return;
    }
    out.push_str("    labels:\n");
    for (k, v) in labels {
        let _ = writeln!(out, "      {k}: \"{v}\"");
    }
    for (k, v) in consts {
        let _ = writeln!(out, "      {k}: \"{v}\"");
    }
}

fn write_buckets(out: &mut String, kind: Kind) {
    if let Kind::Timer(b) = kind {
        let b: Vec<String> = b.iter().map(|x| x.to_string()).collect();
        let _ = writeln!(
            out,
            "    histogram_options:\n      buckets: [{}]",
            b.join(", ")
        );
    }
}
