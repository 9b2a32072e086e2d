//! Inputs found by the fuzz targets in `fuzz/` (see docs/fuzzing.md), kept
//! as named tests that run through the real `App` (flags, mapping file,
//! ingester, `/metrics` assembly) and check the output with the same strict
//! text-format validator the fuzzers use.
//!
//! A test marked `#[ignore]` reproduces a bug that is not fixed yet; the fix
//! removes the `#[ignore]` (and the matching check in `known_issue` in
//! fuzz/src/lib.rs, which keeps the fuzzers from stopping on it).

#[path = "../fuzz/src/exposition_check.rs"]
mod exposition_check;

use std::io::Write as _;
use std::time::Instant;

use airflow_statsd_exporter::app::App;
use airflow_statsd_exporter::cli::{parse_args_with_env, Command};
use airflow_statsd_exporter::exposition::Format;
use airflow_statsd_exporter::ingest::Origin;

/// An exporter with `mapping` (if any) as its mapping file, plus `flags`.
/// No listener is bound: datagrams go straight to an ingester.
fn app(mapping: Option<&str>, flags: &[&str]) -> (App, Option<tempfile::NamedTempFile>) {
    let file = mapping.map(|text| {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(text.as_bytes()).expect("write mapping");
        f
    });
    let mut argv = vec!["airflow-statsd-exporter".to_string()];
    if let Some(f) = &file {
        argv.push(format!("--statsd.mapping-config={}", f.path().display()));
    }
    argv.extend(flags.iter().map(|s| s.to_string()));
    let config = match parse_args_with_env(argv, &|_| None).expect("flags parse") {
        Command::Run(config) => config,
        other => panic!("unexpected command {other:?}"),
    };
    (App::new(&config).expect("app starts"), file)
}

/// Ingests each datagram, renders `/metrics` as text, validates it.
fn render_valid(app: &App, datagrams: &[&[u8]]) -> String {
    let mut ing = app.shared.ingester();
    for d in datagrams {
        ing.ingest(d, Instant::now(), Origin::default());
    }
    let text = app.render_metrics(Format::Text);
    if let Err(e) = exposition_check::validate(&text) {
        panic!("invalid exposition: {e}\n--- output ---\n{text}--- end ---");
    }
    text
}

/// pipeline target: a histogram bucket list that ends in an explicit `.inf`
/// is accepted by the loader and rendered next to the implicit `+Inf`
/// bucket, so every histogram series has two `le="+Inf"` samples (a
/// duplicate series; Prometheus rejects the scrape). statsd_exporter
/// (client_golang) drops a trailing +Inf upper bound.
#[test]
fn explicit_inf_bucket_is_rendered_once() {
    let mapping = "mappings:\n\
                   - match: \"*.*\"\n  observer_type: histogram\n  histogram_options:\n    buckets: [1, .inf]\n  name: \"inf_$1\"\n";
    let (app, _file) = app(Some(mapping), &[]);
    let text = render_valid(&app, &[b"nobuckets.x:1|ms\nnobuckets.x:2|ms"]);
    assert_eq!(text.matches("inf_nobuckets_bucket{le=\"+Inf\"}").count(), 1);
}

/// The same bug through `defaults:` (every unmapped timer is affected).
#[test]
fn explicit_inf_default_bucket_is_rendered_once() {
    let mapping = "defaults:\n  observer_type: histogram\n  buckets: [0.5, .inf]\nmappings: []\n";
    let (app, _file) = app(Some(mapping), &[]);
    render_valid(&app, &[b"t:1|ms"]);
}

/// Datagrams aimed at the exporter's edges (the pipeline target's seeds):
/// reserved and renamed labels, type conflicts, `_sum`/`_count`/`_bucket`
/// collisions, huge values and weights, sets, container ids, Airflow names.
const EDGE_DATAGRAMS: &[&[u8]] = &[
    b"x:1|c\nx:1|g\nx:1|ms\nx_sum:1|c\nx_count:1|g\nx_bucket:1|c",
    b"h_sum:1|g\nh:1|h\nh_count:1|c",
    b"a:1|c|#__name__:x,__a:b,a.b:1,a_b:2,le:1,quantile:0.5",
    b"a:1|ms|#quantile:0.5,exported_quantile:x",
    b"a:1|h|#le:1,exported_le:x",
    b"a,le=1,quantile=2:1|ms",
    b"q:1|c|#k:\"quoted\\value\",j:new\\nline,u:\xc3\xa9",
    b"big:1e300|c\nbig:1e300|c\nbig:1e308|c\nbigg:1e308|g\nbigg:+1e308|g\nbigg:+1e308|g",
    b"w:1|h|@1e-300\nw:1|h|@1e-300\nw:1e300|ms|@1e-300",
    b"users:alice|s\nusers:bob|s|@0.5\nusers:carol|s|#k:v",
    b"a:1|c|c:abc\na:1|c|#container_id:x|c:id",
    b"a:1:2:3|ms|#t:v\na:1:x:3|h",
    b"statsd_exporter_build_info:1|g\nprocess_cpu_seconds_total:1|c\nstatsd_metric_mapper_cache_length:1|g",
    b"airflow.scheduler_heartbeat:1|c\nairflow.dag_processor_heartbeat:1|c",
    b"airflow.pool.open_slots.default_pool:128|g\nairflow.dag.d.t.duration:5|ms",
    b"airflow.ti.finish.d.t.success:1|c\nairflow.dagrun.duration.success.d:1000|ms",
    b"airflow.unknown.thing:1|c\nairflow.x:1|g\nairflow:1|c\nairflow_unmapped_samples_total:1|c",
    b"airflow.dag_processing.processes:-1|c\nairflow.dag_processing.processes:1|c",
];

#[test]
fn edge_datagrams_render_valid_exposition() {
    let chart = include_str!("data/statsd-mappings.yml");
    for (mapping, flags) in [
        (None, &["--statsd.profile=none"][..]),
        (None, &["--statsd.profile=airflow"][..]),
        (Some(chart), &[][..]),
        (
            None,
            &[
                "--statsd.max-series=12",
                "--statsd.max-series-per-family=3",
                "--statsd.max-label-values=2",
            ][..],
        ),
    ] {
        let (app, _file) = app(mapping, flags);
        let text = render_valid(&app, EDGE_DATAGRAMS);
        assert!(text.contains("statsd_exporter_build_info"), "{flags:?}");
    }
}

/// mapping_config target: a duration with many integer digits overflows
/// the unchecked `int_part * unit` in `parse_go_duration`
/// (src/mapping/config.rs): "attempt to multiply with overflow" with debug
/// assertions (a panic in `--check-config`, reload, tests), a silently
/// wrapped TTL in release builds. It must be a load error naming the file.
#[test]
fn huge_duration_is_an_error_not_a_panic() {
    use airflow_statsd_exporter::mapping::Mapper;
    for ttl in [
        "1m9999999999999999999999999999992s",
        "99999999999999999999999999999h",
        "340282366920938463463374607431768211s",
    ] {
        let text = format!("defaults:\n  ttl: {ttl}\nmappings:\n- match: web.*\n  name: \"web\"\n");
        let err = Mapper::from_yaml_str(&text, "big.yml").expect_err(ttl);
        assert!(err.to_string().contains("big.yml"), "{err}");
    }
}

/// pipeline target: a quantile listed twice in `summary_options.quantiles`
/// is kept twice, so every series of the summary has two
/// `{quantile="0.5"}` samples (a duplicate series). statsd_exporter turns
/// the list into client_golang's `Objectives` map, where a quantile can be
/// there only once (the last error wins).
#[test]
fn duplicate_quantile_is_rendered_once() {
    let mapping = "mappings:\n\
                   - match: \"timer.*\"\n  observer_type: summary\n  name: \"timer_$1\"\n  summary_options:\n    quantiles:\n      - quantile: 0.5\n        error: 0.05\n      - quantile: 0.5\n        error: 0.01\n";
    let (app, _file) = app(Some(mapping), &[]);
    let text = render_valid(&app, &[b"timer.x:1|ms\ntimer.x:2|ms"]);
    assert_eq!(text.matches("timer_x{quantile=\"0.5\"}").count(), 1);
}
