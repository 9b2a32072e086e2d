//! `parse_line` on arbitrary bytes with arbitrary parser options (the first
//! byte). Checks the parser's invariants (see `check_parse`), on the whole
//! input as one line and on each line `split_lines` yields.
#![no_main]

use airflow_statsd_exporter::parser::split_lines;
use airflow_statsd_exporter_fuzz::{check_parse, parse_options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, line)) = data.split_first() else {
        return;
    };
    let opts = parse_options(flags);
    check_parse(line, &opts);
    for l in split_lines(line) {
        assert!(!l.is_empty() && !l.contains(&b'\n'));
        check_parse(l, &opts);
    }
});
