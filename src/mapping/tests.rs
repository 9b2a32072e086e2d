//! Tests: statsd_exporter's mapper_test.go ported, plus ordering, errors,
//! defaults and the official Airflow chart mapping against real traffic.

use super::*;
use std::collections::BTreeSet;
use MetricKind::{Counter, Gauge, Observer};

fn load(y: &str) -> Mapper {
    Mapper::from_yaml_str(y, "test.yml").unwrap_or_else(|e| panic!("config should load: {e}\n{y}"))
}

fn load_err(y: &str) -> ConfigError {
    match Mapper::from_yaml_str(y, "test.yml") {
        Ok(_) => panic!("config should be rejected:\n{y}"),
        Err(e) => e,
    }
}

#[derive(Debug, PartialEq)]
enum E {
    M(String, Vec<(String, String)>),
    Drop,
    Empty,
    Un,
}

fn m(name: &str, labels: &[(&str, &str)]) -> E {
    let mut l: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    l.sort();
    E::M(name.to_string(), l)
}

fn get(mapper: &Mapper, name: &str, kind: MetricKind) -> E {
    match mapper.map(name, kind) {
        MapOutcome::Mapped { name, labels, .. } => E::M(name, labels),
        MapOutcome::Dropped { .. } => E::Drop,
        MapOutcome::EmptyName { .. } => E::Empty,
        MapOutcome::Unmapped => E::Un,
    }
}

fn rule_of(mapper: &Mapper, name: &str, kind: MetricKind) -> Arc<Rule> {
    mapper
        .map(name, kind)
        .rule()
        .cloned()
        .unwrap_or_else(|| panic!("{name} should match a rule"))
}

// --- TestMetricMapperYAML ---------------------------------------------------

#[test]
fn go_several_mapping_definitions() {
    let mp = load(
        r#"---
mappings:
- match: test.dispatcher.*.*.*
  name: "dispatch_events"
  labels: 
    processor: "$1"
    action: "$2"
    result: "$3"
    job: "test_dispatcher"
- match: test.my-dispatch-host01.name.dispatcher.*.*.*
  name: "host_dispatch_events"
  labels:
    processor: "$1"
    action: "$2"
    result: "$3"
    job: "test_dispatcher"
- match: request_time.*.*.*.*.*.*.*.*.*.*.*.*
  name: "tyk_http_request"
  labels:
    method_and_path: "${1}"
    response_code: "${2}"
    apikey: "${3}"
    apiversion: "${4}"
    apiname: "${5}"
    apiid: "${6}"
    ipv4_t1: "${7}"
    ipv4_t2: "${8}"
    ipv4_t3: "${9}"
    ipv4_t4: "${10}"
    orgid: "${11}"
    oauthid: "${12}"
- match: "*.*"
  name: "catchall"
  labels:
    first: "$1"
    second: "$2"
    third: "$3"
    job: "$1-$2-$3"
- match: (.*)\.(.*)-(.*)\.(.*)
  match_type: regex
  name: "proxy_requests_total"
  labels:
    job: "$1"
    protocol: "$2"
    endpoint: "$3"
    result: "$4"

  "#,
    );
    let d = [
        ("processor", "FooProcessor"),
        ("action", "send"),
        ("result", "succeeded"),
        ("job", "test_dispatcher"),
    ];
    assert_eq!(
        get(&mp, "test.dispatcher.FooProcessor.send.succeeded", Counter),
        m("dispatch_events", &d)
    );
    assert_eq!(
        get(
            &mp,
            "test.my-dispatch-host01.name.dispatcher.FooProcessor.send.succeeded",
            Counter
        ),
        m("host_dispatch_events", &d)
    );
    assert_eq!(
        get(&mp, "request_time.get/threads/1/posts.200.00000000.nonversioned.discussions.a11bbcdf0ac64ec243658dc64b7100fb.172.20.0.1.12ba97b7eaa1a50001000001.", Counter),
        m(
            "tyk_http_request",
            &[
                ("method_and_path", "get/threads/1/posts"),
                ("response_code", "200"),
                ("apikey", "00000000"),
                ("apiversion", "nonversioned"),
                ("apiname", "discussions"),
                ("apiid", "a11bbcdf0ac64ec243658dc64b7100fb"),
                ("ipv4_t1", "172"),
                ("ipv4_t2", "20"),
                ("ipv4_t3", "0"),
                ("ipv4_t4", "1"),
                ("orgid", "12ba97b7eaa1a50001000001"),
                ("oauthid", ""),
            ]
        )
    );
    assert_eq!(
        get(&mp, "foo.bar", Counter),
        m(
            "catchall",
            &[
                ("first", "foo"),
                ("second", "bar"),
                ("third", ""),
                ("job", "foo-bar-")
            ]
        )
    );
    assert_eq!(get(&mp, "foo.bar.baz", Counter), E::Un);
    assert_eq!(
        get(&mp, "proxy-1.http-goober.success", Counter),
        m(
            "proxy_requests_total",
            &[
                ("job", "proxy-1"),
                ("protocol", "http"),
                ("endpoint", "goober"),
                ("result", "success")
            ]
        )
    );
}

#[test]
fn go_backtracking_with_ordering_disabled() {
    let mp = load(
        r#"
defaults:
  glob_disable_ordering: true
mappings:
- match: backtrack.*.bbb
  name: "testb"
  labels:
    label: "${1}_foo"
- match: backtrack.justatest.aaa
  name: "testa"
  labels:
    label: "${1}_foo"
  "#,
    );
    assert_eq!(
        get(&mp, "backtrack.good.bbb", Counter),
        m("testb", &[("label", "good_foo")])
    );
    assert_eq!(
        get(&mp, "backtrack.justatest.bbb", Counter),
        m("testb", &[("label", "justatest_foo")])
    );
    assert_eq!(
        get(&mp, "backtrack.justatest.aaa", Counter),
        m("testa", &[("label", "_foo")])
    );
}

#[test]
fn go_backtracking_non_matched_rule_has_stars() {
    let mp = load(
        r#"
defaults:
  glob_disable_ordering: false
mappings:
- match: '*.dummy.*'
  name: metric_one
  labels:
    system: $1
    attribute: $2
- match: 'full.name.*'
  name: metric_two
  labels:
    system: static
    attribute: $1
"#,
    );
    assert_eq!(
        get(&mp, "whatever.dummy.test", Counter),
        m(
            "metric_one",
            &[("system", "whatever"), ("attribute", "test")]
        )
    );
    assert_eq!(
        get(&mp, "full.name.anothertest", Counter),
        m(
            "metric_two",
            &[("system", "static"), ("attribute", "anothertest")]
        )
    );
}

#[test]
fn go_super_sets() {
    let no_order = load(
        r#"
defaults:
  glob_disable_ordering: true
mappings:
- match: noorder.*.*
  name: "testa"
  labels:
    label: "${1}_foo"
- match: noorder.*.bbb
  name: "testb"
  labels:
    label: "${1}_foo"
- match: noorder.ccc.bbb
  name: "testc"
  labels:
    label: "ccc_foo"
  "#,
    );
    assert_eq!(
        get(&no_order, "noorder.good.bbb", Counter),
        m("testb", &[("label", "good_foo")])
    );
    assert_eq!(
        get(&no_order, "noorder.ccc.bbb", Counter),
        m("testc", &[("label", "ccc_foo")])
    );
    let order = load(
        r#"
defaults:
  glob_disable_ordering: false
mappings:
- match: order.*.*
  name: "testa"
  labels:
    label: "${1}_foo"
- match: order.*.bbb
  name: "testb"
  labels:
    label: "${1}_foo"
  "#,
    );
    assert_eq!(
        get(&order, "order.good.bbb", Counter),
        m("testa", &[("label", "good_foo")])
    );
    // the load notices that the second rule is dead
    assert!(
        order
            .warnings()
            .iter()
            .any(|w| w.contains("\"order.*.*\" is a super set of match \"order.*.bbb\"")),
        "{:?}",
        order.warnings()
    );
}

#[test]
fn go_regex_references() {
    let bad = load(
        "---\nmappings:\n- match: test.*\n  name: \"name\"\n  labels:\n    label: \"$1_foo\"\n  ",
    );
    assert_eq!(get(&bad, "test.a", Counter), m("name", &[("label", "")]));
    let good = load(
        "\nmappings:\n- match: test.*\n  name: \"name\"\n  labels:\n    label: \"${1}_foo\"\n  ",
    );
    assert_eq!(
        get(&good, "test.a", Counter),
        m("name", &[("label", "a_foo")])
    );
    // without a trailing newline
    let nonl =
        load("mappings:\n- match: test.*\n  name: \"name\"\n  labels:\n    label: \"${1}_foo\"");
    assert_eq!(
        get(&nonl, "test.a", Counter),
        m("name", &[("label", "a_foo")])
    );
}

#[test]
fn go_dynamic_metric_name() {
    let mp = load(
        r#"---
mappings:
- match: test1.*.*
  name: "$1"
  labels: {}
- match: test2.*.*
  name: "${1}_$2"
  labels: {}
- match: test3\.(\w+)\.(\w+)
  match_type: regex
  name: "${2}_$1"
  labels: {}
  "#,
    );
    assert_eq!(
        get(&mp, "test1.total_requests.count", Counter),
        m("total_requests", &[])
    );
    assert_eq!(
        get(&mp, "test2.total_requests.count", Counter),
        m("total_requests_count", &[])
    );
    assert_eq!(
        get(&mp, "test3.total_requests.count", Counter),
        m("count_total_requests", &[])
    );
}

#[test]
fn go_bad_configs() {
    let bad = [
        // bad metric line
        "---\nmappings:\n- match: bad--metric-line.*.*\n  name: \"foo\"\n  labels: {}\n",
        // bad metric name
        "---\nmappings:\n- match: test.*.*\n  name: \"0foo\"\n  labels: {}\n",
        // no metric name
        "---\nmappings:\n- match: test.*.*\n  labels:\n    this: \"$1\"\n",
        // improperly escaped * (YAML alias syntax)
        "\nmappings:\n- match: *.test.*\n  name: \"name\"\n  labels:\n    label: \"${1}_foo\"",
        // bad observer type
        "---\nmappings:\n- match: test.*.*\n  observer_type: wrong\n  name: \"foo\"\n  labels: {}\n    ",
        // bad deprecated timer type
        "---\nmappings:\n- match: test.*.*\n  timer_type: wrong\n  name: \"foo\"\n  labels: {}\n    ",
        // duplicate quantiles (top level and summary_options)
        "---\nmappings:\n- match: test.*.*\n  observer_type: summary\n  name: \"foo\"\n  labels: {}\n  quantiles:\n    - quantile: 0.42\n      error: 0.04\n  summary_options:\n    quantiles:\n      - quantile: 0.42\n        error: 0.04\n  ",
        // bad metric type matcher
        "---\nmappings:\n- match: test.*.*\n  match_metric_type: wrong\n  name: \"foo\"\n  labels: {}\n    ",
        // uncompilable regex
        "---\nmappings:\n- match: \"*\\\\.foo\"\n  match_type: regex\n  name: \"foo\"\n  labels: {}\n    ",
        // no name (and invalid YAML)
        "---\nmappings:\n- match: *\\.foo\n  match_type: regex\n  labels:\n    bar: \"foo\"\n    ",
        // invalid action (TestAction)
        "---\nmappings:\n- match: test.*.*\n  name: \"foo\"\n  action: xyz\n",
        // invalid yaml escape (TestAction)
        "---\nmappings:\n- match: \"test\\.(\\w+)\\.(\\w+)\\.counter\"\n  match_type: regex\n  name: \"${2}_total\"\n  labels:\n    provider: \"$1\"\n",
        // histogram observer with summary options
        "mappings:\n- match: a.b\n  name: x\n  observer_type: histogram\n  summary_options:\n    max_age: 1m\n",
        // summary observer with histogram options
        "mappings:\n- match: a.b\n  name: x\n  observer_type: summary\n  histogram_options:\n    buckets: [1]\n",
        // buckets both ways
        "mappings:\n- match: a.b\n  name: x\n  observer_type: histogram\n  buckets: [1]\n  histogram_options:\n    buckets: [1]\n",
        // single-character label name (labelNameRE needs two)
        "mappings:\n- match: a.*\n  name: x\n  labels:\n    a: $1\n",
        // bad ttl
        "mappings:\n- match: a.*\n  name: x\n  ttl: 10 seconds\n",
        // unsorted buckets
        "mappings:\n- match: a.*\n  name: x\n  timer_type: histogram\n  buckets: [1, 0.5]\n",
        // duplicate buckets
        "defaults:\n  histogram_options:\n    buckets: [1, 1]\n",
        // invalid quantile
        "defaults:\n  summary_options:\n    quantiles:\n    - quantile: 1.5\n      error: 0.1\n",
        // wrong types
        "mappings: {}\n",
        "mappings:\n- match: a.b\n  name: [x]\n",
        "mappings:\n- match: a.b\n  name: x\n  honor_labels: maybe\n",
        "mappings:\n- match: a.b\n  name: x\n  scale: \"2\"\n",
        "defaults:\n  glob_disable_ordering: 1\n",
        "- a\n- b\n",
        // first component may not start with a digit
        "mappings:\n- match: 1a.b\n  name: x\n",
        // empty glob
        "mappings:\n- name: x\n",
    ];
    for y in bad {
        load_err(y);
    }
}

#[test]
fn go_valid_small_configs() {
    for y in [
        "",
        "---\nmappings:\n- match: test.*.*\n  match_metric_type: counter\n  name: \"foo\"\n  labels: {}\n    ",
        "---\nmappings:\n- match: test.*.*\n  match_metric_type: observer\n  name: \"foo\"\n  labels: {}\n    ",
        "---\nmappings:\n- match: test.*.*\n  match_metric_type: timer\n  name: \"foo\"\n  labels: {}\n    ",
        "---\nmappings:\n- match: \"test\\\\.(\\\\w+)\\\\.(\\\\w+)\\\\.counter\"\n  match_type: regex\n  name: \"${2}_total\"\n  labels:\n    provider: \"$1\"\n",
        // subsequent components may start with a digit (#328), dashes inside
        "mappings:\n- match: a.1b.c-d.*\n  name: x\n",
    ] {
        load(y);
    }
    let mp = load("");
    assert!(mp.rules().is_empty());
    assert_eq!(get(&mp, "a.b", Counter), E::Un);
}

#[test]
fn go_observer_types_and_quantiles() {
    let q = |y: &str| -> SummaryOptions {
        let mp = load(y);
        match &rule_of(&mp, "test.x.y", Observer).observer {
            ObserverOptions::Summary(s) => s.clone(),
            o => panic!("expected summary, got {o:?}"),
        }
    };
    let custom = vec![(0.42, 0.04), (0.7, 0.002)];
    // good observer type with legacy quantiles
    let s = q("---\nmappings:\n- match: test.*.*\n  observer_type: summary\n  name: \"foo\"\n  labels: {}\n  quantiles:\n    - quantile: 0.42\n      error: 0.04\n    - quantile: 0.7\n      error: 0.002\n  ");
    assert_eq!(s.quantiles, custom);
    // observer_type wins over timer_type
    let mp = load("---\nmappings:\n- match: test.*.*\n  observer_type: summary\n  timer_type: histogram\n  name: \"foo\"\n  labels: {}\n  quantiles:\n    - quantile: 0.42\n      error: 0.04\n    - quantile: 0.7\n      error: 0.002\n  ");
    assert!(matches!(
        rule_of(&mp, "test.a.b", Observer).observer,
        ObserverOptions::Summary(_)
    ));
    // no defaults
    let s = q("---\nmappings:\n- match: test.*.*\n  observer_type: summary\n  name: \"foo\"\n  labels: {}\n  ");
    assert_eq!(s, SummaryOptions::default());
    // deprecated timer_type
    let s = q("---\nmappings:\n- match: test.*.*\n  timer_type: summary\n  name: \"foo\"\n  labels: {}\n  ");
    assert_eq!(s.quantiles, DEFAULT_QUANTILES.to_vec());
    // new style
    let s = q("---\nmappings:\n- match: test.*.*\n  observer_type: summary\n  name: \"foo\"\n  labels: {}\n  summary_options:\n    quantiles:\n      - quantile: 0.42\n        error: 0.04\n      - quantile: 0.7\n        error: 0.002\n  ");
    assert_eq!(s.quantiles, custom);
    // full summary options
    let s = q("---\nmappings:\n- match: test.*.*\n  observer_type: summary\n  name: \"foo\"\n  labels: {}\n  summary_options:\n    quantiles:\n      - quantile: 0.42\n        error: 0.04\n      - quantile: 0.7\n        error: 0.002\n    max_age: 5m\n    age_buckets: 2\n    buf_cap: 1000\n  ");
    assert_eq!(
        s,
        SummaryOptions {
            quantiles: custom.clone(),
            max_age: Duration::from_secs(300),
            age_buckets: 2,
            buf_cap: 1000
        }
    );
    // default summary options
    let s = q("---\ndefaults:\n summary_options:\n   quantiles:\n     - quantile: 0.42\n       error: 0.04\n     - quantile: 0.7\n       error: 0.002\n   max_age: 5m\n   age_buckets: 2\n   buf_cap: 1000\nmappings:\n- match: test.*.*\n  observer_type: summary\n  name: \"foo\"\n  labels: {}\n");
    assert_eq!(
        s,
        SummaryOptions {
            quantiles: custom.clone(),
            max_age: Duration::from_secs(300),
            age_buckets: 2,
            buf_cap: 1000
        }
    );
    // default summary options without quantiles
    let s = q("---\ndefaults:\n summary_options:\n   max_age: 5m\n   age_buckets: 2\n   buf_cap: 1000\nmappings:\n- match: test.*.*\n  observer_type: summary\n  name: \"foo\"\n  labels: {}\n");
    assert_eq!(s.quantiles, DEFAULT_QUANTILES.to_vec());
    assert_eq!(s.max_age, Duration::from_secs(300));
    // summary_options.quantiles override legacy default quantiles
    let s = q("---\ndefaults:\n  quantiles:\n    - quantile: 0.9\n      error: 0.1\n    - quantile: 0.99\n      error: 0.01\n  summary_options:\n    quantiles:\n      - quantile: 0.42\n        error: 0.04\n      - quantile: 0.7\n        error: 0.002\n    max_age: 5m\n    age_buckets: 2\n    buf_cap: 1000\nmappings:\n- match: test.*.*\n  observer_type: summary\n  name: \"foo\"\n  labels: {}\n");
    assert_eq!(s.quantiles, custom);
    assert_eq!(s.buf_cap, 1000);
    // rule overrides defaults; a second rule inherits them
    let y = "---\ndefaults:\n summary_options:\n   quantiles:\n     - quantile: 0.9\n       error: 0.1\n     - quantile: 0.99\n       error: 0.01\n   max_age: 15m\n   age_buckets: 3\n   buf_cap: 100\nmappings:\n- match: test.*.*\n  observer_type: summary\n  name: \"foo\"\n  labels: {}\n  summary_options:\n    quantiles:\n     - quantile: 0.42\n       error: 0.04\n     - quantile: 0.7\n       error: 0.002\n    max_age: 5m\n    age_buckets: 2\n    buf_cap: 1000\n- match: test_default.*.*\n  observer_type: summary\n  name: \"foo_default\"\n  labels: {}\n";
    let mp = load(y);
    assert_eq!(
        rule_of(&mp, "test.a.b", Observer).observer,
        ObserverOptions::Summary(SummaryOptions {
            quantiles: custom.clone(),
            max_age: Duration::from_secs(300),
            age_buckets: 2,
            buf_cap: 1000
        })
    );
    assert_eq!(
        rule_of(&mp, "test_default.a.b", Observer).observer,
        ObserverOptions::Summary(SummaryOptions {
            quantiles: vec![(0.9, 0.1), (0.99, 0.01)],
            max_age: Duration::from_secs(900),
            age_buckets: 3,
            buf_cap: 100
        })
    );
}

#[test]
fn go_histogram_options() {
    let b = |y: &str, metric: &str| -> Vec<f64> {
        let mp = load(y);
        match &rule_of(&mp, metric, Observer).observer {
            ObserverOptions::Histogram(h) => h.buckets.clone(),
            o => panic!("expected histogram, got {o:?}"),
        }
    };
    let custom = vec![0.1, 1.0, 10.0, 100.0, 1000.0];
    assert_eq!(b("---\nmappings:\n- match: test.*.*\n  observer_type: histogram\n  name: \"foo\"\n  labels: {}\n  histogram_options:\n    buckets: [0.1, 1, 10, 100, 1000]\n", "test.a.b"), custom);
    assert_eq!(b("---\ndefaults:\n  histogram_options:\n    buckets: [0.1, 1, 10, 100, 1000]\nmappings:\n- match: test.*.*\n  observer_type: histogram\n  name: \"foo\"\n  labels: {}\n", "test.a.b"), custom);
    assert_eq!(b("---\ndefaults:\n  histogram_options:\n    buckets: []\nmappings:\n- match: test.*.*\n  observer_type: histogram\n  name: \"foo\"\n  labels: {}\n", "test.a.b"), DEFAULT_BUCKETS.to_vec());
    assert_eq!(b("---\ndefaults:\n  buckets: [0.2, 2, 20, 200, 2000]\n  histogram_options:\n    buckets: [0.1, 1, 10, 100, 1000]\nmappings:\n- match: test.*.*\n  observer_type: histogram\n  name: \"foo\"\n  labels: {}\n", "test.a.b"), custom);
    assert_eq!(b("---\ndefaults:\n  histogram_options:\n    buckets: [0.2, 2, 20, 200, 2000]\nmappings:\n- match: test.*.*\n  observer_type: histogram\n  name: \"foo\"\n  labels: {}\n  histogram_options:\n    buckets: [0.1, 1, 10, 100, 1000]\n", "test.a.b"), custom);
    let y = "---\ndefaults:\n  histogram_options:\n    buckets: [0.2, 2, 20, 200]\nmappings:\n- match: test.*.*\n  observer_type: histogram\n  name: \"foo\"\n  labels: {}\n  histogram_options:\n    buckets: [0.1, 1, 10, 100, 1000]\n- match: test_default.*.*\n  observer_type: histogram\n  name: \"foo_default\"\n  labels: {}\n";
    assert_eq!(b(y, "test.a.b"), custom);
    assert_eq!(b(y, "test_default.a.b"), vec![0.2, 2.0, 20.0, 200.0]);
}

#[test]
fn go_multiple_explicit_metric_types() {
    let mp = load("---\nmappings:\n- match: test.foo.*\n  name: \"test_foo_sum\"\n  match_metric_type: counter\n- match: test.foo.*\n  name: \"test_foo_current\"\n  match_metric_type: gauge\n    ");
    assert_eq!(get(&mp, "test.foo.test", Counter), m("test_foo_sum", &[]));
    assert_eq!(get(&mp, "test.foo.test", Gauge), m("test_foo_current", &[]));
    assert_eq!(get(&mp, "test.foo.test", Observer), E::Un);
    assert_eq!(
        rule_of(&mp, "test.foo.test", Gauge).match_metric_type,
        Some(Gauge)
    );
}

#[test]
fn go_non_matched_labels_from_glob_readme() {
    let mp = load("---\nmappings:\n- match: foo.*.*\n  observer_type: summary\n  name: \"foo\"\n  labels: {}\n  ");
    assert_eq!(get(&mp, "test.1.2", Counter), E::Un);
    let mp = load("---\nmappings:\n- match: p.*.*.c.*\n  match_type: glob\n  name: issue_256\n  labels:\n    one: $1\n    two: $2\n    three: $3\n");
    assert_eq!(
        get(&mp, "p.one.two.c.three", Counter),
        m(
            "issue_256",
            &[("one", "one"), ("two", "two"), ("three", "three")]
        )
    );
    let mp = load("\nmappings:\n- match: test.dispatcher.*.*.*\n  name: \"dispatcher_events_total\"\n  labels:\n    processor: \"$1\"\n    action: \"$2\"\n    outcome: \"$3\"\n    job: \"test_dispatcher\"\n- match: \"*.signup.*.*\"\n  name: \"signup_events_total\"\n  labels:\n    provider: \"$2\"\n    outcome: \"$3\"\n    job: \"${1}_server\"\n");
    assert_eq!(
        get(&mp, "test.dispatcher.FooProcessor.send.success", Counter),
        m(
            "dispatcher_events_total",
            &[
                ("processor", "FooProcessor"),
                ("action", "send"),
                ("outcome", "success"),
                ("job", "test_dispatcher")
            ]
        )
    );
    assert_eq!(
        get(&mp, "foo_product.signup.facebook.failure", Counter),
        m(
            "signup_events_total",
            &[
                ("provider", "facebook"),
                ("outcome", "failure"),
                ("job", "foo_product_server")
            ]
        )
    );
    assert_eq!(get(&mp, "test.web-server.foo.bar", Counter), E::Un);
}

#[test]
fn go_drop_and_ttl() {
    let mp = load("mappings:\n- match: .\n  match_type: regex\n  name: \"drop\"\n  action: drop");
    assert_eq!(get(&mp, "test.a", Counter), E::Drop);
    assert_eq!(get(&mp, "abc", Counter), E::Drop);
    assert_eq!(get(&mp, "", Counter), E::Un);
    let mp = load("mappings:\n- match: web.*\n  name: \"web\"\n  labels:\n    site: \"$1\"\n- match: .\n  match_type: regex\n  name: \"drop\"\n  action: drop");
    assert_eq!(get(&mp, "test.a", Counter), E::Drop);
    assert_eq!(
        get(&mp, "web.localhost", Counter),
        m("web", &[("site", "localhost")])
    );
    let ttl = |y: &str| rule_of(&load(y), "web.localhost", Counter).ttl;
    assert_eq!(
        ttl("mappings:\n- match: web.*\n  name: \"web\"\n  ttl: 10s\n  labels:\n    site: \"$1\""),
        Duration::from_secs(10)
    );
    assert_eq!(
        ttl("defaults:\n  ttl: 1m2s\nmappings:\n- match: web.*\n  name: \"web\"\n  labels:\n    site: \"$1\""),
        Duration::from_secs(62)
    );
    assert_eq!(
        ttl("defaults:\n  ttl: 1m2s\nmappings:\n- match: web.*\n  name: \"web\"\n  ttl: 5s\n  labels:\n    site: \"$1\""),
        Duration::from_secs(5)
    );
    let mp = load("defaults:\n  ttl: 1m2s\nmappings: []\n");
    assert_eq!(mp.defaults().ttl, Duration::from_secs(62));
}

#[test]
fn go_actions() {
    let a = |y: &str| load(y).rules()[0].action;
    assert_eq!(
        a("---\nmappings:\n- match: test.*.*\n  name: \"foo\"\n"),
        Action::Map
    );
    assert_eq!(
        a("---\nmappings:\n- match: test.*.*\n  name: \"foo\"\n  action: map\n"),
        Action::Map
    );
    assert_eq!(
        a("---\nmappings:\n- match: test.*.*\n  name: \"foo\"\n  action: drop\n"),
        Action::Drop
    );
}

#[test]
fn go_multiple_matches_issue_273() {
    let mp = load("---\nmappings:\n- match: aa.bb.*.*\n  name: \"aa_bb_${1}_total\"\n  labels:\n  app: \"$2\"\n");
    let mut cache = MapCache::new(4, CacheType::Lru);
    for _ in 0..10 {
        for (n, want) in [
            ("aa.bb.aa.myapp", "aa_bb_aa_total"),
            ("aa.bb.bb.myapp", "aa_bb_bb_total"),
            ("aa.bb.cc.myapp", "aa_bb_cc_total"),
            ("aa.bb.dd.myapp", "aa_bb_dd_total"),
        ] {
            assert_eq!(get(&mp, n, Counter), m(want, &[]));
            assert!(
                matches!(&*cache.map(&mp, n, Counter), MapOutcome::Mapped { name, .. } if name == want)
            );
        }
    }
    // `app:` sits at the top level of the mapping item: an unknown key
    assert!(mp.warnings().iter().any(|w| w.contains("\"app\"")));
}

// --- Ordering, backtracking, regex ------------------------------------------

#[test]
fn first_glob_rule_in_file_order_wins_with_backtracking() {
    let mp = load(
        "mappings:\n- match: a.*.c\n  name: star_first\n- match: a.b.*\n  name: literal_second\n- match: a.b.c\n  name: exact_third\n",
    );
    // the literal path a.b.* is tried first, but rule 0 (a.*.c) wins
    assert_eq!(get(&mp, "a.b.c", Counter), m("star_first", &[]));
    assert_eq!(get(&mp, "a.b.d", Counter), m("literal_second", &[]));
    assert_eq!(get(&mp, "a.x.c", Counter), m("star_first", &[]));
    assert_eq!(get(&mp, "a.x.d", Counter), E::Un);

    // a later, less specific path must be tried when the literal one dead-ends
    let mp = load("mappings:\n- match: x.y.z\n  name: exact\n- match: x.*.w\n  name: wild\n  labels:\n    vv: $1\n");
    assert_eq!(get(&mp, "x.y.w", Counter), m("wild", &[("vv", "y")]));
    assert_eq!(get(&mp, "x.y.z", Counter), m("exact", &[]));
}

#[test]
fn glob_disable_ordering_most_specific_wins() {
    let y = "defaults:\n  glob_disable_ordering: true\nmappings:\n- match: a.*.c\n  name: star_first\n- match: a.b.*\n  name: literal_second\n- match: a.b.c\n  name: exact_third\n";
    let mp = load(y);
    assert_eq!(get(&mp, "a.b.c", Counter), m("exact_third", &[]));
    assert_eq!(get(&mp, "a.b.d", Counter), m("literal_second", &[]));
    assert_eq!(get(&mp, "a.x.c", Counter), m("star_first", &[]));
    assert!(mp.defaults().glob_disable_ordering);

    // without backtracking (no rule needs it), a dead-end literal path is a
    // miss even though another rule would match: statsd_exporter does that.
    let mp = load("defaults:\n  glob_disable_ordering: true\nmappings:\n- match: q.r.*\n  name: one\n- match: q.*.s\n  name: two\n");
    // q.*.s has its prefix `q.` shared with q.r.* → backtracking enabled
    assert_eq!(get(&mp, "q.r.s", Counter), m("one", &[]));
    assert_eq!(get(&mp, "q.z.s", Counter), m("two", &[]));
}

#[test]
fn star_matches_empty_component_and_counts_components() {
    let mp = load("mappings:\n- match: a.*.c\n  name: x\n  labels:\n    mid: $1\n");
    assert_eq!(get(&mp, "a..c", Counter), m("x", &[("mid", "")]));
    assert_eq!(get(&mp, "a.b.b.c", Counter), E::Un);
    assert_eq!(get(&mp, "a.c", Counter), E::Un);
    assert_eq!(get(&mp, "a.b-c.c", Counter), m("x", &[("mid", "b-c")]));
}

#[test]
fn prefix_rule_after_longer_rule_is_dead_like_statsd_exporter() {
    let mp = load("mappings:\n- match: a.b.*\n  name: long\n- match: a.b\n  name: short\n");
    assert_eq!(get(&mp, "a.b.c", Counter), m("long", &[]));
    assert_eq!(get(&mp, "a.b", Counter), E::Un);
    assert!(mp.warnings().iter().any(|w| w.contains("can never match")));
    // the other order works
    let mp = load("mappings:\n- match: a.b\n  name: short\n- match: a.b.*\n  name: long\n");
    assert_eq!(get(&mp, "a.b", Counter), m("short", &[]));
    assert_eq!(get(&mp, "a.b.c", Counter), m("long", &[]));
}

#[test]
fn regex_after_glob_unanchored_and_templates() {
    let mp = load(
        r#"mappings:
- match: 'early\.(.*)'
  match_type: regex
  name: regex_first_in_file
- match: early.*
  name: glob_later_in_file
- match: 'b\.(\w+)'
  match_type: regex
  name: "whole_${1}"
  labels:
    all: "$0"
    first: "${1}"
    named: "$1x"
- match: 'c'
  match_type: regex
  name: second_regex
"#,
    );
    // glob rules are tried before any regex rule, whatever the file order
    assert_eq!(get(&mp, "early.x", Counter), m("glob_later_in_file", &[]));
    assert_eq!(
        get(&mp, "early.x.y", Counter),
        m("regex_first_in_file", &[])
    );
    // unanchored: matches in the middle; $0 is the matched text only
    assert_eq!(
        get(&mp, "xx.b.foo.bar", Counter),
        m(
            "whole_foo",
            &[("all", "b.foo"), ("first", "foo"), ("named", "")]
        )
    );
    // first regex in file order wins; unanchored `c` matches "abc"
    assert_eq!(get(&mp, "abc", Counter), m("second_regex", &[]));
    // go's \w is ASCII-only
    assert_eq!(get(&mp, "b.é", Counter), E::Un);
    // \b, \d and classes containing them are translated, not rejected
    let mp = load("mappings:\n- match: '\\bzz\\b\\.[\\d]'\n  match_type: regex\n  name: zz\n");
    assert_eq!(get(&mp, "a.zz.1", Counter), m("zz", &[]));
    assert_eq!(get(&mp, "a.xzz.1", Counter), E::Un);
}

#[test]
fn regex_match_metric_type_and_match_type_default() {
    let mp = load("defaults:\n  match_type: regex\nmappings:\n- match: '^t\\.(.+)$'\n  match_metric_type: observer\n  name: timer_$1\n- match: '^t\\.(.+)$'\n  name: other_$1\n- match: g.*\n  match_type: glob\n  name: glob_$1\n");
    assert_eq!(get(&mp, "t.a", Observer), m("timer_a", &[]));
    assert_eq!(get(&mp, "t.a", Counter), m("other_a", &[]));
    assert_eq!(get(&mp, "t.a", Gauge), m("other_a", &[]));
    assert_eq!(get(&mp, "g.z", Gauge), m("glob_z", &[]));
    assert_eq!(mp.defaults().match_type, MatchType::Regex);
    assert_eq!(mp.rules()[0].match_type, MatchType::Regex);
    assert_eq!(mp.rules()[2].match_type, MatchType::Glob);
}

#[test]
fn drop_honor_labels_help_scale() {
    let mp = load("mappings:\n- match: d.*\n  action: drop\n  name: dropped\n- match: h.*\n  name: kept\n  honor_labels: yes\n  help: Custom help\n  scale: 0.001\n");
    assert_eq!(get(&mp, "d.x", Counter), E::Drop);
    let r = rule_of(&mp, "h.x", Counter);
    assert!(r.honor_labels);
    assert_eq!(r.help.as_deref(), Some("Custom help"));
    assert_eq!(r.scale, Some(0.001));
    assert!(!mp.rules()[0].honor_labels);
    assert_eq!(mp.rules()[0].scale, None);
    // a drop rule without a name is accepted here (with a warning)
    let mp = load("mappings:\n- match: d.*\n  action: drop\n");
    assert_eq!(get(&mp, "d.x", Gauge), E::Drop);
    assert!(mp.warnings().iter().any(|w| w.contains("no name")));
}

#[test]
fn result_name_is_escaped_and_empty_name_reported() {
    let mp = load(
        r#"mappings:
- match: 'e\.([^.]*)\.(.*)'
  match_type: regex
  name: "$1"
  labels:
    rest: $2
- match: g.*.*
  name: "${2}"
"#,
    );
    assert_eq!(
        get(&mp, "e.web-server.x", Counter),
        m("web_server", &[("rest", "x")])
    );
    assert_eq!(
        get(&mp, "e.9lives.x", Counter),
        m("_9lives", &[("rest", "x")])
    );
    assert_eq!(get(&mp, "e..x", Counter), E::Empty);
    assert_eq!(get(&mp, "g.a.", Counter), E::Empty);
    assert_eq!(get(&mp, "g.a.b--c", Counter), m("b_c", &[]));
    // label values are not escaped
    assert_eq!(get(&mp, "e.a.x.y-z", Counter), m("a", &[("rest", "x.y-z")]));
}

#[test]
fn defaults_inheritance_and_legacy_keys() {
    let mp = load(
        r#"defaults:
  timer_type: histogram
  buckets: [1, 2, 3]
  quantiles:
    - quantile: 0.5
      error: 0.1
  ttl: 1h
mappings:
- match: a.*
  name: a
- match: b.*
  name: b
  timer_type: summary
- match: c.*
  name: c
  ttl: 30s
  buckets: [0.5, 5]
- match: d.*
  name: d
  match_metric_type: timer
  observer_type: summary
  summary_options:
    max_age: 1m30s
"#,
    );
    assert_eq!(
        mp.defaults().observer,
        ObserverOptions::Histogram(HistogramOptions {
            buckets: vec![1.0, 2.0, 3.0]
        })
    );
    assert_eq!(mp.defaults().ttl, Duration::from_secs(3600));
    let r = |n| rule_of(&mp, n, Observer);
    assert_eq!(
        r("a.x").observer,
        ObserverOptions::Histogram(HistogramOptions {
            buckets: vec![1.0, 2.0, 3.0]
        })
    );
    assert_eq!(r("a.x").ttl, Duration::from_secs(3600));
    assert_eq!(
        r("b.x").observer,
        ObserverOptions::Summary(SummaryOptions {
            quantiles: vec![(0.5, 0.1)],
            ..SummaryOptions::default()
        })
    );
    assert_eq!(
        r("c.x").observer,
        ObserverOptions::Histogram(HistogramOptions {
            buckets: vec![0.5, 5.0]
        })
    );
    assert_eq!(r("c.x").ttl, Duration::from_secs(30));
    assert_eq!(r("d.x").match_metric_type, Some(Observer));
    assert_eq!(
        r("d.x").observer,
        ObserverOptions::Summary(SummaryOptions {
            quantiles: vec![(0.5, 0.1)],
            max_age: Duration::from_secs(90),
            ..SummaryOptions::default()
        })
    );
    assert_eq!(get(&mp, "d.x", Counter), E::Un);

    // nothing set anywhere
    let mp = Mapper::empty();
    assert_eq!(mp.defaults(), &Defaults::default());
    assert_eq!(
        mp.defaults().observer,
        ObserverOptions::Summary(SummaryOptions {
            quantiles: vec![(0.5, 0.05), (0.9, 0.01), (0.99, 0.001)],
            max_age: Duration::from_secs(600),
            age_buckets: 5,
            buf_cap: 500
        })
    );
    assert_eq!(get(&mp, "a.b", Counter), E::Un);

    // no observer type anywhere: top-level quantiles are ignored, like Go
    let mp = load("mappings:\n- match: a.*\n  name: a\n  quantiles:\n  - quantile: 0.3\n    error: 0.1\n  summary_options:\n    buf_cap: 7\n");
    assert_eq!(
        rule_of(&mp, "a.b", Observer).observer,
        ObserverOptions::Summary(SummaryOptions {
            buf_cap: 7,
            ..SummaryOptions::default()
        })
    );
    assert!(mp.warnings().iter().any(|w| w.contains("ignored")));

    // the native histogram options are accepted and ignored
    load("defaults:\n  histogram_options:\n    buckets: [1, 2]\n    native_histogram_bucket_factor: 1.1\n    native_histogram_max_buckets: 256\n");
}

#[test]
fn durations() {
    use config::parse_go_duration as p;
    assert_eq!(p("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(p("1m30s"), Ok(Duration::from_secs(90)));
    assert_eq!(p("1h"), Ok(Duration::from_secs(3600)));
    assert_eq!(p("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(p("1.5h"), Ok(Duration::from_secs(5400)));
    assert_eq!(p("2us"), Ok(Duration::from_micros(2)));
    assert_eq!(p("0"), Ok(Duration::ZERO));
    assert_eq!(p("+5s"), Ok(Duration::from_secs(5)));
    assert!(p("").is_err());
    assert!(p("5").is_err());
    assert!(p("5d").is_err());
    assert!(p("-5s").is_err());
    assert!(p("s").is_err());
    // yaml.v2 puts a bare integer into a Duration as nanoseconds
    let mp = load("defaults:\n  ttl: 30\n");
    assert_eq!(mp.defaults().ttl, Duration::from_nanos(30));
    let mp = load("defaults:\n  ttl: 0\n");
    assert_eq!(mp.defaults().ttl, Duration::ZERO);
}

// --- Per-rule limits (extension) --------------------------------------------

#[test]
fn rule_limits_are_parsed() {
    let y = "mappings:\n- match: a.*.*\n  name: a\n  labels: {dag_id: $1, task_id: $2}\n  limits:\n    max_series: 500\n    max_label_values: {task_id: 50, dag_id: 10}\n    max_label_value_length: 64\n- match: b.*\n  name: b\n  limits: {max_label_values: 7}\n- match: c.*\n  name: c\n";
    let mapper = load(y);
    let l = |i: usize| mapper.rules()[i].limits.clone();
    assert_eq!(
        l(0),
        Some(FamilyLimits {
            max_series: Some(500),
            max_label_values: None,
            max_label_values_per_label: vec![("dag_id".into(), 10), ("task_id".into(), 50)],
            max_label_value_length: Some(64),
        })
    );
    assert_eq!(
        l(1),
        Some(FamilyLimits {
            max_label_values: Some(7),
            ..FamilyLimits::default()
        })
    );
    assert_eq!(l(2), None);
    assert!(mapper.warnings().is_empty(), "{:?}", mapper.warnings());
}

#[test]
fn rule_limit_errors_name_the_line() {
    let cases = [
        (
            "  limits:\n    max_rows: 5\n",
            5,
            "unknown key limits.max_rows",
        ),
        (
            "  limits:\n    max_series: -1\n",
            5,
            "limits.max_series: expected an unsigned",
        ),
        (
            "  limits:\n    max_series: lots\n",
            5,
            "limits.max_series: expected an unsigned",
        ),
        ("  limits: 5\n", 4, "limits: expected a mapping"),
        (
            "  limits:\n    max_label_values: {bad-name: 3}\n",
            5,
            "invalid label name \"bad-name\"",
        ),
        (
            "  limits:\n    max_label_values: {task_id: x}\n",
            5,
            "limits.max_label_values.task_id: expected an unsigned",
        ),
    ];
    for (tail, line, msg) in cases {
        let y = format!("mappings:\n- match: a.*\n  name: a\n{tail}");
        let e = load_err(&y);
        assert_eq!(e.line, Some(line), "{e}\n{y}");
        assert_eq!(e.rule, Some((0, "a.*".to_string())), "{e}");
        assert!(e.to_string().contains(msg), "{e}\n{y}");
    }
}

// --- Errors and warnings ----------------------------------------------------

#[test]
fn error_messages_name_file_line_and_rule() {
    let y = "mappings:\n- match: ok.*\n  name: ok\n- match: a.*.b\n  name: x\n- match: \"bad..glob\"\n  name: y\n";
    let e = load_err(y);
    assert_eq!(e.line, Some(6));
    assert_eq!(e.rule, Some((2, "bad..glob".to_string())));
    let s = e.to_string();
    assert!(
        s.starts_with("test.yml:6: mapping #3 (match \"bad..glob\"): invalid glob pattern"),
        "{s}"
    );

    let e = load_err("mappings:\n- match: a.*\n  name: x\n\n- match: b.*\n  labels:\n    job: x\n");
    assert_eq!(
        e.to_string(),
        "test.yml:5: mapping #2 (match \"b.*\"): metric mapping didn't set a metric name"
    );

    let e = load_err("mappings:\n- match: a.*\n  name: 0bad\n");
    assert_eq!(e.line, Some(3));
    assert!(
        e.to_string().contains("invalid metric name \"0bad\""),
        "{e}"
    );

    let e = load_err(
        "mappings:\n- match: a.*\n  name: ok\n  labels:\n    good_one: x\n    bad-label: y\n",
    );
    assert_eq!(e.line, Some(6));
    assert!(
        e.to_string().contains("invalid label name \"bad-label\""),
        "{e}"
    );

    let e = load_err("mappings:\n- match: 'a(['\n  match_type: regex\n  name: ok\n");
    assert_eq!(e.line, Some(2));
    assert!(
        e.to_string()
            .starts_with("test.yml:2: mapping #1 (match \"a([\"): invalid regex"),
        "{e}"
    );

    let e = load_err("mappings:\n- match: a.*\n  name: ok\n  ttl: 5 minutes\n");
    assert_eq!(e.line, Some(4));
    assert!(e.to_string().contains("ttl"), "{e}");

    let e = load_err("mappings:\n- match: a.*\n  name: ok\n  observer_type: histogram\n  histogram_options:\n    buckets: [1, 3, 2]\n");
    assert_eq!(e.rule.as_ref().map(|r| r.0), Some(0));
    assert!(e.to_string().contains("increasing"), "{e}");

    let e = load_err("mappings:\n- match: a.*\n  name: ok\n  summary_options:\n    quantiles:\n      - quantile: 2\n        error: 0.1\n");
    assert_eq!(e.line, Some(6));
    assert!(e.to_string().contains("invalid quantile"), "{e}");

    // YAML syntax error: file and line, no rule
    let e = load_err("mappings:\n- match: a.*\n  name: [unclosed\n");
    assert!(e.line.is_some());
    assert!(e.rule.is_none());
    assert!(e.to_string().starts_with("test.yml:"), "{e}");

    // defaults errors have a line but no rule
    let e = load_err("defaults:\n  observer_type: bogus\n");
    assert_eq!(e.to_string(), "test.yml:2: invalid observer type \"bogus\"");

    // from_file names the path
    let e = Mapper::from_file(std::path::Path::new("/nonexistent/mappings.yml")).unwrap_err();
    assert!(
        e.to_string().starts_with("/nonexistent/mappings.yml: "),
        "{e}"
    );
}

#[test]
fn unknown_keys_are_warnings_with_line() {
    let mp = load("defaults:\n  ttl: 1m\n  tll: 2m\nmappings:\n- match: a.*\n  name: a\n  lables:\n    x: y\nextra: 1\n");
    let w = mp.warnings();
    assert!(
        w.iter()
            .any(|w| w.starts_with("test.yml:3:") && w.contains("\"tll\"")),
        "{w:?}"
    );
    assert!(
        w.iter().any(|w| w.starts_with("test.yml:7:")
            && w.contains("\"lables\"")
            && w.contains("mapping #1")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|w| w.starts_with("test.yml:9:") && w.contains("\"extra\"")),
        "{w:?}"
    );
    assert_eq!(get(&mp, "a.b", Counter), m("a", &[]));
}

#[test]
fn rule_metadata() {
    let mp = load("# comment\nmappings:\n  - match: a.*\n    name: a\n\n  - match: 'b'\n    match_type: regex\n    name: b\n");
    let r = mp.rules();
    assert_eq!(
        (r[0].index, r[0].line, r[0].match_text.as_str()),
        (0, 3, "a.*")
    );
    assert_eq!(
        (r[1].index, r[1].line, r[1].match_text.as_str()),
        (1, 6, "b")
    );
    assert_eq!(r[1].match_type, MatchType::Regex);
    assert_eq!(r[0].action, Action::Map);
    assert_eq!(r[0].match_metric_type, None);
}

#[test]
fn yaml_v2_scalar_semantics() {
    // label values are read as raw text, nulls as ""
    let mp = load("mappings:\n- match: a.*\n  name: a\n  labels:\n    num: 1.50\n    yes_: yes\n    nothing: ~\n    quoted: \"$1\"\n");
    assert_eq!(
        get(&mp, "a.b", Counter),
        m(
            "a",
            &[
                ("num", "1.50"),
                ("yes_", "yes"),
                ("nothing", ""),
                ("quoted", "b")
            ]
        )
    );
    // anchors and aliases work
    let mp = load("mappings:\n- match: a.*\n  name: a\n  labels: &l\n    job: j\n- match: b.*\n  name: b\n  labels: *l\n");
    assert_eq!(get(&mp, "b.x", Counter), m("b", &[("job", "j")]));
    // duplicate keys are rejected
    load_err("mappings:\n- match: a.*\n  name: a\n  name: b\n");
}

// --- The Airflow chart mapping against real traffic -------------------------

fn corpus_names() -> BTreeSet<(String, MetricKind)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/corpus");
    let mut names = BTreeSet::new();
    for f in ["airflow-2.11.2-plain.jsonl", "airflow-3.3.2-plain.jsonl"] {
        let text = std::fs::read_to_string(format!("{dir}/{f}")).expect("corpus file");
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).expect("json");
            let data = v["data"].as_str().expect("data");
            for l in data.split('\n').filter(|l| !l.is_empty()) {
                let (name, rest) = l.split_once(':').expect("name:value");
                let ty = rest.split('|').nth(1).expect("type");
                let kind = match ty {
                    "c" => Counter,
                    "g" => Gauge,
                    "ms" | "h" | "d" => Observer,
                    other => panic!("unexpected type {other} in {l}"),
                };
                names.insert((name.to_string(), kind));
            }
        }
    }
    names
}

#[test]
fn airflow_chart_mappings_on_real_traffic() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/statsd-mappings.yml"
    );
    let mp = Mapper::from_file(std::path::Path::new(path)).expect("chart mapping loads");
    assert_eq!(mp.rules().len(), 21);
    assert!(mp.warnings().is_empty(), "{:?}", mp.warnings());

    let names = corpus_names();
    let mut mapped = 0;
    let mut unmapped = 0;
    for (n, k) in &names {
        match mp.map(n, *k) {
            MapOutcome::Mapped { .. } => mapped += 1,
            MapOutcome::Unmapped => unmapped += 1,
            o => panic!("unexpected outcome for {n}: {o:?}"),
        }
    }
    println!(
        "airflow chart mapping: {} distinct names, {mapped} mapped, {unmapped} unmapped",
        names.len()
    );
    assert_eq!(names.len(), 432);
    assert_eq!((mapped, unmapped), (44, 388));

    let g = |n: &str, k| get(&mp, n, k);
    // pools
    assert_eq!(
        g("airflow.pool.open_slots.default_pool", Gauge),
        m("airflow_pool_open_slots", &[("pool", "default_pool")])
    );
    assert_eq!(
        g("airflow.pool.starving_tasks.corpus_pool", Gauge),
        m("airflow_pool_starving_tasks", &[("pool", "corpus_pool")])
    );
    assert_eq!(g("airflow.pool.queued_slots.default_pool", Gauge), E::Un);
    assert_eq!(g("airflow.pool.open_slots", Gauge), E::Un);
    // dag processing (last_runtime is not in the captures: synthetic name)
    assert_eq!(
        g("airflow.dag_processing.last_runtime.my_dag_file", Gauge),
        m(
            "airflow_dag_processing_last_runtime",
            &[("dag_file", "my_dag_file")]
        )
    );
    assert_eq!(
        g(
            "airflow.dag_processing.last_run.seconds_ago.corpus_fail_retry",
            Gauge
        ),
        m(
            "airflow_dag_processing_last_run_seconds_ago",
            &[("dag_file", "corpus_fail_retry")]
        )
    );
    assert_eq!(
        g(
            "airflow.dag_processing.last_duration.corpus_fail_retry",
            Observer
        ),
        E::Un
    );
    // task instances
    assert_eq!(
        g(
            "airflow.ti.finish.corpus.quick-success_v1.t.success",
            Counter
        ),
        E::Un
    );
    assert_eq!(
        g(
            "airflow.ti.running.default.every_minute__heartbeat-dag.tick",
            Gauge
        ),
        m(
            "airflow_ti_running",
            &[
                ("queue", "default"),
                ("dag_id", "every_minute__heartbeat-dag"),
                ("task_id", "tick")
            ]
        )
    );
    // heartbeats: regex rules with a static label
    assert_eq!(
        g("airflow.scheduler_heartbeat", Counter),
        m("airflow_scheduler_heartbeat", &[("type", "counter")])
    );
    assert_eq!(
        g("airflow.dag_processor_heartbeat", Counter),
        m("airflow_dag_processor_heartbeat", &[("type", "counter")])
    );
    // operator successes via unanchored regex
    assert_eq!(
        g("airflow.operator_successes_PythonOperator", Counter),
        m(
            "airflow_operator_successes",
            &[("operator", "PythonOperator")]
        )
    );
    assert_eq!(g("airflow.operator_successes", Counter), E::Un);
    // dagrun durations: a dag id with a dot has one component too many
    assert_eq!(
        g(
            "airflow.dagrun.duration.success.every_minute__heartbeat-dag",
            Observer
        ),
        m(
            "airflow_dagrun_duration",
            &[("dag_id", "every_minute__heartbeat-dag")]
        )
    );
    assert_eq!(
        g(
            "airflow.dagrun.duration.success.every_minute.heartbeat-dag",
            Observer
        ),
        E::Un
    );
    assert_eq!(
        g(
            "airflow.dagrun.duration.failed.corpus_fail-retry__v1",
            Observer
        ),
        m(
            "airflow_dagrun_failed",
            &[("dag_id", "corpus_fail-retry__v1")]
        )
    );
    assert_eq!(
        g(
            "airflow.dagrun.duration.failed.corpus_fail-retry.v1",
            Observer
        ),
        E::Un
    );
    // dependency-check needs two components: only dotted dag ids match,
    // and then dag_id gets the first half
    assert_eq!(
        g(
            "airflow.dagrun.dependency-check.corpus.quick-success_v1",
            Observer
        ),
        m("airflow_dagrun_dependency_check", &[("dag_id", "corpus")])
    );
    assert_eq!(
        g(
            "airflow.dagrun.dependency-check.corpus__quick-success_v1",
            Observer
        ),
        E::Un
    );
    // legacy task duration: dag.<dag>.<task>.duration, undotted ids only
    assert_eq!(
        g(
            "airflow.dag.corpus__long-sensor_dag.sleep-20s__long_task.duration",
            Observer
        ),
        m(
            "airflow_task_duration",
            &[
                ("dag_id", "corpus__long-sensor_dag"),
                ("task_id", "sleep-20s__long_task")
            ]
        )
    );
    assert_eq!(
        g(
            "airflow.dag.corpus.long-sensor_dag.sleep-20s.long_task.duration",
            Observer
        ),
        E::Un
    );
    assert_eq!(
        g("airflow.executor.open_slots.LocalExecutor", Gauge),
        m(
            "airflow_executor_open_slots",
            &[("executor", "LocalExecutor")]
        )
    );
}
