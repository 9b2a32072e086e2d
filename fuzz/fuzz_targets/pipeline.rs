//! The whole path: a few datagrams → ingest → store → `/metrics` text, which
//! must be valid Prometheus text exposition 0.0.4 (strict validator in
//! `exposition_check`).
//!
//! Input: byte 0 = parser options (bits 0-4), Airflow profile (bit 5),
//! small cardinality limits (bit 6), limit action drop (bit 7); byte 1 =
//! mapping (fixed configs; the last choice reads a config from the input up
//! to the first 0xff byte); the rest = datagrams separated by 0xff bytes (at
//! most 8), each ingested one second after the previous one.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, Instant};

use airflow_statsd_exporter::ingest::Origin;
use airflow_statsd_exporter::mapping::Mapper;
use airflow_statsd_exporter_fuzz::{
    assert_valid_exposition, fixed_mapper, known_issue, known_issue_text, parse_options,
    render_metrics, shared, PipelineFlags, FIXED_CONFIGS, SEP,
};
use libfuzzer_sys::fuzz_target;

const MAX_DATAGRAMS: usize = 8;

fuzz_target!(|data: &[u8]| {
    let [flags, sel, rest @ ..] = data else {
        return;
    };
    let opts = parse_options(*flags);
    let pf = PipelineFlags {
        airflow_profile: flags & 0x20 != 0,
        limits: flags & 0x40 != 0,
    };
    let drop = flags & 0x80 != 0;
    let n_fixed = FIXED_CONFIGS.len() as u8;
    let (mapper, rest) = if sel % (n_fixed + 1) == n_fixed {
        let i = rest.iter().position(|&b| b == SEP).unwrap_or(rest.len());
        let Ok(cfg) = std::str::from_utf8(&rest[..i]) else {
            return;
        };
        if known_issue_text(cfg).is_some() {
            return;
        }
        let Ok(m) = Mapper::from_yaml_str(cfg, "fuzz.yml") else {
            return;
        };
        if known_issue(&m).is_some() {
            return;
        }
        (Arc::new(m), rest.get(i + 1..).unwrap_or(&[]))
    } else {
        (fixed_mapper(sel % (n_fixed + 1)), rest)
    };
    let shared = shared(mapper, opts, &pf, drop);
    let mut ing = shared.ingester();
    let start = Instant::now();
    let mut now = start;
    for (i, dgram) in rest.split(|&b| b == SEP).take(MAX_DATAGRAMS).enumerate() {
        now = start + Duration::from_secs(i as u64);
        let origin = Origin {
            sender: (i % 2) as u64,
            datagram: true,
        };
        ing.ingest(dgram, now, origin);
    }
    let text = render_metrics(&shared, now);
    assert_valid_exposition(&text, &String::from_utf8_lossy(data));
    // TTLs and set windows expire; the output must stay valid.
    let later = now + Duration::from_secs(3600);
    shared.store.lock().sweep(later);
    let text = render_metrics(&shared, later);
    assert_valid_exposition(&text, &String::from_utf8_lossy(data));
});
