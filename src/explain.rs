//! `airflow-statsd-exporter explain`: shows mapping authors what each StatsD
//! line becomes — the rule that matched and the resulting series — by running
//! the line through the real pipeline on a throwaway store.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use crate::exposition::{render, sort_families, Format};
use crate::ingest::Shared;
use crate::mapping::{CacheType, MapOutcome, Mapper, Rule};
use crate::parser::{parse_line, split_lines, ParseOptions};
use crate::store::Store;

fn describe_rule(r: &Rule, source: &str) -> String {
    format!(
        "mapping #{} ({}:{}, match {:?})",
        r.index + 1,
        source,
        r.line,
        r.match_text
    )
}

/// Explains every line; returns the report text.
pub fn explain(mapper: Mapper, source: &str, parse: ParseOptions, lines: &[String]) -> String {
    let mapper = Arc::new(mapper);
    let mut out = String::new();
    for line in lines {
        let _ = writeln!(out, "{line}");
        for raw in split_lines(line.as_bytes()) {
            let mut samples = Vec::new();
            let stats = parse_line(raw, &parse, &mut samples);
            for e in &stats.errors {
                let _ = writeln!(
                    out,
                    "  rejected: {} (counted in statsd_exporter_sample_errors_total)",
                    e.reason()
                );
            }
            for s in &samples {
                let kind = s.value.kind();
                let _ = writeln!(out, "  sample: {} {} {:?}", kind.as_str(), s.name, s.value);
                match mapper.map(&s.name, kind) {
                    MapOutcome::Mapped { rule, .. } => {
                        let _ = writeln!(out, "  matched: {}", describe_rule(&rule, source));
                    }
                    MapOutcome::Dropped { rule } => {
                        let _ = writeln!(out, "  dropped by {}", describe_rule(&rule, source));
                    }
                    MapOutcome::EmptyName { rule } => {
                        let _ = writeln!(
                            out,
                            "  dropped: {} expands to an empty name",
                            describe_rule(&rule, source)
                        );
                    }
                    MapOutcome::Unmapped => {
                        let _ = writeln!(out, "  unmapped: no rule matched; the name is escaped");
                    }
                }
            }
        }
        // The real pipeline on a fresh store shows exactly what /metrics would.
        let shared = Arc::new(Shared::new(
            mapper.clone(),
            Store::new(std::time::Duration::from_secs(60)),
            parse,
            0,
            CacheType::Lru,
        ));
        shared
            .ingester()
            .ingest(line.as_bytes(), Instant::now(), Default::default());
        let mut fams = shared.store.lock().snapshot(Instant::now());
        sort_families(&mut fams);
        let text = render(&fams, Format::Text);
        let series: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        if series.is_empty() {
            let t = &shared.telemetry;
            let why = [
                (
                    t.event_error(crate::telemetry::EventError::IllegalNegativeCounter)
                        .get(),
                    "negative counter increment (dropped, as statsd_exporter does)",
                ),
                (t.actions_drop.get(), "dropped by a drop rule"),
            ];
            let reason = why
                .iter()
                .find(|(n, _)| *n > 0)
                .map_or("no series", |(_, w)| w);
            let _ = writeln!(out, "  result: {reason}");
        } else {
            for f in &fams {
                let _ = writeln!(out, "  type: {} {}", f.name, f.kind.as_str());
            }
            for s in series {
                let _ = writeln!(out, "  series: {s}");
            }
        }
    }
    out
}
