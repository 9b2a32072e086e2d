//! Pipeline benchmarks: parse → map → store update → render.
//!
//! Inputs are the real Airflow captures in `tests/data/corpus/` and the
//! official Helm chart mapping `tests/data/statsd-mappings.yml`.
//!
//! Run with `cargo bench --bench pipeline` (about a minute of measurement on
//! top of the build). Groups:
//!
//! * `parse/<corpus>`: `parse_line` over every line of the capture
//!   (throughput = lines).
//! * `map/hit`: `MapCache::map` over the distinct (name, kind) pairs of the
//!   captures, cache pre-warmed (throughput = lookups).
//! * `map/miss`: `Mapper::map` directly over the same pairs: what a cache miss
//!   costs (throughput = lookups).
//! * `ingest/<corpus>`: `Ingester::ingest` of every datagram of the capture
//!   into a warm store (throughput = lines).
//! * `render/*_<N>_series`: a store holding ~72k series built from
//!   synthetic Airflow-shaped lines: the snapshot taken under the store lock
//!   alone, `render` alone, and the whole `/metrics` path without telemetry
//!   (snapshot under the lock, series in order, render) — both steady (the
//!   families' series unchanged since the last scrape, so their order is
//!   reused) and with every family new (every family sorted).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use airflow_statsd_exporter::exposition::{render, sort_families, Format};
use airflow_statsd_exporter::ingest::{Origin, Shared};
use airflow_statsd_exporter::mapping::{CacheType, MapCache, Mapper};
use airflow_statsd_exporter::parser::{parse_line, split_lines, ParseOptions};
use airflow_statsd_exporter::sample::{MetricKind, Sample};
use airflow_statsd_exporter::store::Store;
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

const CORPORA: &[&str] = &["airflow-3.3.2-plain.jsonl", "airflow-3.3.2-datadog.jsonl"];

/// `--statsd.cache-size` default.
const CACHE_SIZE: usize = 1000;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn mapper() -> Mapper {
    Mapper::from_file(&data_dir().join("statsd-mappings.yml")).expect("chart mapping loads")
}

/// One captured datagram: its payload and the sender it came from.
struct Datagram {
    data: Vec<u8>,
    origin: Origin,
}

fn load_corpus(file: &str) -> Vec<Datagram> {
    let path = data_dir().join("corpus").join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("corpus line is JSON");
            let data = v["data"]
                .as_str()
                .expect("`data` field")
                .as_bytes()
                .to_vec();
            let src = v["src"].as_str().unwrap_or("").to_owned();
            Datagram {
                data,
                origin: Origin::from_addr(&src),
            }
        })
        .collect()
}

fn lines_of(datagrams: &[Datagram]) -> Vec<&[u8]> {
    datagrams
        .iter()
        .flat_map(|d| split_lines(&d.data))
        .collect()
}

fn bench_parse(c: &mut Criterion) {
    let opts = ParseOptions::default();
    let mut group = c.benchmark_group("parse");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(20);
    for file in CORPORA {
        let datagrams = load_corpus(file);
        let lines = lines_of(&datagrams);
        let mut out: Vec<Sample<'_>> = Vec::with_capacity(16);
        group.throughput(Throughput::Elements(lines.len() as u64));
        group.bench_function(file.trim_end_matches(".jsonl"), |b| {
            b.iter(|| {
                let mut n = 0u32;
                for line in &lines {
                    out.clear();
                    let stats = parse_line(line, &opts, &mut out);
                    n = n.wrapping_add(stats.samples);
                    black_box(&out);
                }
                n
            })
        });
    }
    group.finish();
}

/// The distinct (name, kind) pairs the captures send, as the mapper sees them.
fn distinct_names() -> Vec<(String, MetricKind)> {
    let opts = ParseOptions::default();
    let mut names = std::collections::BTreeSet::new();
    for file in CORPORA {
        let datagrams = load_corpus(file);
        let mut out = Vec::new();
        for line in lines_of(&datagrams) {
            out.clear();
            parse_line(line, &opts, &mut out);
            for s in &out {
                names.insert((s.name.to_string(), s.value.kind()));
            }
        }
    }
    names.into_iter().collect()
}

fn bench_map(c: &mut Criterion) {
    let mapper = mapper();
    let names = distinct_names();
    let mut group = c.benchmark_group("map");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .throughput(Throughput::Elements(names.len() as u64));

    let mut cache = MapCache::new(CACHE_SIZE, CacheType::Lru);
    for (name, kind) in &names {
        cache.map(&mapper, name, *kind);
    }
    group.bench_function("hit", |b| {
        b.iter(|| {
            for (name, kind) in &names {
                black_box(cache.map(&mapper, name, *kind));
            }
        })
    });
    assert_eq!(cache.hits(), cache.gets() - names.len() as u64);

    group.bench_function("miss", |b| {
        b.iter(|| {
            for (name, kind) in &names {
                black_box(mapper.map(name, *kind));
            }
        })
    });
    group.finish();
    println!(
        "map: {} distinct (name, kind) pairs from {:?}",
        names.len(),
        CORPORA
    );
}

fn new_shared(mapper: Mapper) -> Arc<Shared> {
    Arc::new(Shared::new(
        mapper,
        Store::new(Duration::from_secs(60)),
        ParseOptions::default(),
        CACHE_SIZE,
        CacheType::Lru,
    ))
}

fn bench_ingest(c: &mut Criterion) {
    let mut group = c.benchmark_group("ingest");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(20);
    for file in CORPORA {
        let datagrams = load_corpus(file);
        let n_lines = lines_of(&datagrams).len();
        let shared = new_shared(mapper());
        let mut ingester = shared.ingester();
        group.throughput(Throughput::Elements(n_lines as u64));
        group.bench_function(file.trim_end_matches(".jsonl"), |b| {
            b.iter(|| {
                let now = Instant::now();
                for d in &datagrams {
                    ingester.ingest(&d.data, now, d.origin);
                }
            })
        });
        let store = shared.store.lock();
        println!(
            "ingest {file}: {n_lines} lines / {} datagrams -> {} series in {} families",
            datagrams.len(),
            store.series_count(),
            store.family_count()
        );
    }
    group.finish();
}

/// A store of ~72k series (`simulate::wide_store_lines`) through the chart
/// mapping, ingested in datagrams of 100 lines.
fn build_big_store() -> Arc<Shared> {
    let shared = new_shared(mapper());
    let mut ingester = shared.ingester();
    let now = Instant::now();
    let origin = Origin {
        sender: 1,
        datagram: true,
    };
    for chunk in airflow_statsd_exporter::simulate::wide_store_lines().chunks(100) {
        ingester.ingest(chunk.join("\n").as_bytes(), now, origin);
    }
    shared
}

fn bench_render(c: &mut Criterion) {
    let shared = build_big_store();
    let now = Instant::now();
    let (series, families) = {
        let s = shared.store.lock();
        (s.series_count(), s.family_count())
    };
    let mut snapshot = shared.store.lock().snapshot(now);
    sort_families(&mut snapshot);
    let body = render(&snapshot, Format::Text);
    let samples = body.lines().filter(|l| !l.starts_with('#')).count();
    println!(
        "render: {series} series in {families} families -> {samples} samples, {} bytes of text",
        body.len()
    );

    let mut group = c.benchmark_group("render");
    group
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(15);
    group.throughput(Throughput::Elements(series as u64));
    // What the scrape holds the store lock for.
    group.bench_function(format!("snapshot_under_lock_{series}_series"), |b| {
        b.iter(|| shared.store.lock().snapshot_raw(Instant::now()))
    });
    // A family whose series changed since the last scrape is sorted again:
    // the worst case is every family new (first scrape, or after a reload).
    group.bench_function(
        format!("snapshot_sort_render_all_new_{series}_series"),
        |b| {
            b.iter_batched(
                || {
                    let fresh = build_big_store();
                    let raw = fresh.store.lock().snapshot_raw(now);
                    (fresh, raw)
                },
                // Returned, so dropping the store is not timed.
                |(fresh, raw)| {
                    let mut fams = raw.into_shared_families();
                    sort_families(&mut fams);
                    (fresh, render(&fams, Format::Text))
                },
                criterion::BatchSize::PerIteration,
            )
        },
    );
    group.bench_function(format!("render_only_{series}_series"), |b| {
        b.iter(|| render(&snapshot, Format::Text))
    });
    group.bench_function(format!("render_openmetrics_{series}_series"), |b| {
        b.iter(|| render(&snapshot, Format::OpenMetrics))
    });
    // Everything but the exporter's own telemetry: snapshot under the store
    // lock, then sort and render.
    group.bench_function(format!("snapshot_sort_render_{series}_series"), |b| {
        b.iter(|| {
            let raw = shared.store.lock().snapshot_raw(Instant::now());
            let mut fams = raw.into_shared_families();
            sort_families(&mut fams);
            render(&fams, Format::Text)
        })
    });
    group.finish();
}

criterion_group!(benches, bench_parse, bench_map, bench_ingest, bench_render);
criterion_main!(benches);
