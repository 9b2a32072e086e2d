//! The mapper: a fixed mapping (chosen by the first byte) or a fuzzed one
//! (the text up to the first 0xff byte), then arbitrary names, one per
//! line, each looked up with every metric kind. Checks the outcome (valid
//! escaped name, valid sorted unique label names) and that the lookup cache
//! (both kinds) answers exactly what the mapper does.
#![no_main]

use std::sync::Arc;

use airflow_statsd_exporter::mapping::{CacheType, MapCache, Mapper};
use airflow_statsd_exporter_fuzz::{
    check_mapper_config, check_outcome, fixed_mapper, known_issue_text, metric_kind, outcome_key,
    FIXED_CONFIGS, SEP,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let n_fixed = FIXED_CONFIGS.len() as u8;
    let (mapper, names) = if sel % (n_fixed + 1) == n_fixed {
        let (cfg, names) = match rest.iter().position(|&b| b == SEP) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        let Ok(cfg) = std::str::from_utf8(cfg) else {
            return;
        };
        if known_issue_text(cfg).is_some() {
            return;
        }
        let Ok(m) = Mapper::from_yaml_str(cfg, "fuzz.yml") else {
            return;
        };
        check_mapper_config(&m);
        (Arc::new(m), names)
    } else {
        (fixed_mapper(sel % (n_fixed + 1)), rest)
    };
    let cache_type = if sel & 0x80 != 0 {
        CacheType::Random
    } else {
        CacheType::Lru
    };
    // A tiny cache, so that evictions happen within one input.
    let mut cache = MapCache::new(2, cache_type);
    for _round in 0..2 {
        for name in names.split(|&b| b == b'\n') {
            let Ok(name) = std::str::from_utf8(name) else {
                continue;
            };
            for k in 0..3 {
                let kind = metric_kind(k);
                let direct = mapper.map(name, kind);
                check_outcome(name, &direct);
                let cached = cache.map(&mapper, name, kind);
                assert_eq!(
                    outcome_key(&direct),
                    outcome_key(&cached),
                    "cache disagrees for {name:?} ({kind:?})"
                );
            }
        }
    }
    assert!(cache.hits() <= cache.gets());
});
