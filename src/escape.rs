//! Name escaping exactly as statsd_exporter's `mapper.EscapeMetricName`:
//! every character outside `[A-Za-z0-9_]` becomes `_`, a run of `-` collapses
//! into one `_`, and a leading digit gets a `_` prefix.

use std::borrow::Cow;

/// Escapes a StatsD name (or tag key) into a valid Prometheus name.
/// Borrows when nothing needs to change, which is the common case.
pub fn escape_metric_name(name: &str) -> Cow<'_, str> {
    let bytes = name.as_bytes();
    let Some(&first) = bytes.first() else {
        return Cow::Borrowed(name);
    };
    let starts_with_digit = first.is_ascii_digit();
    let clean = !starts_with_digit
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_');
    if clean {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 1);
    if starts_with_digit {
        out.push('_');
    }
    let mut prev = '\0';
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else if !(c == '-' && prev == '-') {
            out.push('_');
        }
        prev = c;
    }
    Cow::Owned(out)
}

/// True when `name` is a valid Prometheus metric name without colons.
pub fn is_valid_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

/// True when `name` is a valid Prometheus label name (reserved `__` names included).
pub fn is_valid_label_name(name: &str) -> bool {
    is_valid_metric_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_statsd_exporter() {
        // Cases from statsd_exporter's escape_test.go plus Airflow shapes.
        let cases = [
            ("", ""),
            ("my_metric", "my_metric"),
            ("0_starts_with_digit", "_0_starts_with_digit"),
            ("with_😱_emoji", "with___emoji"),
            ("with.*.multiple", "with___multiple"),
            ("test.web-server.foo.bar", "test_web_server_foo_bar"),
            ("test--double--dash", "test_double_dash"),
            ("a---b", "a_b"),
            ("a-_-b", "a___b"),
            (
                "airflow.ti.finish.corpus.quick-success_v1.t.success",
                "airflow_ti_finish_corpus_quick_success_v1_t_success",
            ),
            ("-leading", "_leading"),
        ];
        for (input, want) in cases {
            assert_eq!(escape_metric_name(input), want, "input {input:?}");
        }
    }

    #[test]
    fn borrows_when_clean() {
        assert!(matches!(escape_metric_name("abc_1"), Cow::Borrowed(_)));
        assert!(matches!(escape_metric_name("a.b"), Cow::Owned(_)));
    }

    #[test]
    fn validity() {
        assert!(is_valid_metric_name("a_b1"));
        assert!(is_valid_metric_name("_x"));
        assert!(!is_valid_metric_name("1x"));
        assert!(!is_valid_metric_name("a.b"));
        assert!(!is_valid_metric_name(""));
    }
}
