//! The mapping-config loader on arbitrary UTF-8. A config either loads or
//! is refused with an error that names the file; a loaded one must be
//! usable: every rule's own match text and a few names map without panic
//! to valid names and labels.
#![no_main]

use airflow_statsd_exporter::mapping::Mapper;
use airflow_statsd_exporter_fuzz::{
    check_mapper_config, check_outcome, known_issue_text, metric_kind,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if known_issue_text(text).is_some() {
        return;
    }
    match Mapper::from_yaml_str(text, "fuzz.yml") {
        Ok(mapper) => {
            check_mapper_config(&mapper);
            let probes = ["a", "a.b", "a.b.c", "airflow.dag.x.y.duration", "1.x-y", ""];
            let names = mapper
                .rules()
                .iter()
                .map(|r| r.match_text.clone())
                .chain(probes.iter().map(|s| s.to_string()))
                .collect::<Vec<_>>();
            for name in &names {
                for k in 0..3 {
                    let out = mapper.map(name, metric_kind(k));
                    check_outcome(name, &out);
                }
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains("fuzz.yml"),
                "error does not name the file: {msg}"
            );
        }
    }
});
