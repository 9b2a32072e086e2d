//! Go `time.Duration` text syntax, as statsd_exporter's flags and mapping
//! files use it (`200ms`, `1m`, `1h30m`, `1.5h`).
//!
//! [`parse_go_duration`] follows Go's `time.ParseDuration`: a sequence of
//! decimal numbers, each with an optional fraction and a mandatory unit
//! (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`); the bare string `0` is also
//! accepted. A leading sign is allowed, but a negative duration is rejected
//! because nothing in this exporter can use one. Like Go, the total may not
//! exceed `i64::MAX` nanoseconds (about 292 years).
//!
//! [`format_go_duration`] is Go's `Duration.String()`: `0s`, `1.5µs`,
//! `200ms`, `1m0s`, `2h45m0s`.

use std::time::Duration;

/// Largest duration Go can represent: `i64::MAX` nanoseconds.
const MAX_NANOS: u128 = i64::MAX as u128;

/// Fraction digits kept; later ones cannot change the result by a whole
/// nanosecond for any unit up to an hour and are ignored. The fraction is
/// rounded to the nearest nanosecond (Go goes through a float and usually
/// lands on the same value).
const MAX_FRACTION_DIGITS: u32 = 20;

/// Parses Go `time.ParseDuration` syntax: `"300ms"`, `"1.5h"`, `"2h45m"`,
/// `"0"`. Units: `ns`, `us`, `µs` (U+00B5), `μs` (U+03BC), `ms`, `s`, `m`,
/// `h`. A sign is allowed; a negative (non-zero) duration is an error.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {s:?}");
    let mut rest = s;
    let mut negative = false;
    if let Some(r) = rest.strip_prefix('-') {
        negative = true;
        rest = r;
    } else if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }

    let mut total: u128 = 0;
    while !rest.is_empty() {
        // Integer part.
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, after_int) = rest.split_at(int_len);
        let mut int_value: u128 = 0;
        for b in int_digits.bytes() {
            int_value = int_value * 10 + u128::from(b - b'0');
            if int_value > MAX_NANOS {
                return Err(invalid());
            }
        }
        rest = after_int;

        // Fraction.
        let mut frac_value: u128 = 0;
        let mut frac_scale: u128 = 1;
        let mut frac_len = 0;
        if let Some(after_dot) = rest.strip_prefix('.') {
            frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            for (i, b) in after_dot[..frac_len].bytes().enumerate() {
                if (i as u32) < MAX_FRACTION_DIGITS {
                    frac_value = frac_value * 10 + u128::from(b - b'0');
                    frac_scale *= 10;
                }
            }
            rest = &after_dot[frac_len..];
        }
        if int_len == 0 && frac_len == 0 {
            // No digits at all, e.g. ".s" or "s".
            return Err(invalid());
        }

        // Unit.
        let unit_len = rest
            .char_indices()
            .find(|&(_, c)| c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        let (unit, after_unit) = rest.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            "" => return Err(format!("missing unit in duration {s:?}")),
            other => return Err(format!("unknown unit {other:?} in duration {s:?}")),
        };
        rest = after_unit;

        let value = int_value
            .checked_mul(unit_nanos)
            .and_then(|v| v.checked_add((frac_value * unit_nanos + frac_scale / 2) / frac_scale))
            .filter(|&v| v <= MAX_NANOS)
            .ok_or_else(invalid)?;
        total += value;
        if total > MAX_NANOS {
            return Err(invalid());
        }
    }

    if negative && total != 0 {
        return Err(format!("negative duration {s:?} is not allowed"));
    }
    Ok(nanos_to_duration(total))
}

fn nanos_to_duration(nanos: u128) -> Duration {
    // `nanos` is at most i64::MAX, so the seconds fit in a u64.
    Duration::new(
        (nanos / 1_000_000_000) as u64,
        (nanos % 1_000_000_000) as u32,
    )
}

/// Formats like Go's `Duration.String()`: `"0s"`, `"999ns"`, `"1.5µs"`,
/// `"200ms"`, `"1.5s"`, `"1m0s"`, `"2h45m0s"`.
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000_000_000 {
        let (prec, unit) = if nanos < 1_000 {
            (0, "ns")
        } else if nanos < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        let (int, frac) = split_fraction(nanos, prec);
        return format!("{int}{frac}{unit}");
    }

    let (secs, frac) = split_fraction(nanos, 9);
    let mut out = String::new();
    let hours = secs / 3_600;
    let minutes = secs / 60 % 60;
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if secs >= 60 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{}{frac}s", secs % 60));
    out
}

/// Splits `v` into `v / 10^prec` and the fraction text (`".25"`, without
/// trailing zeros, empty when the fraction is zero).
fn split_fraction(v: u128, prec: u32) -> (u128, String) {
    let scale = 10u128.pow(prec);
    let frac = v % scale;
    if frac == 0 {
        return (v / scale, String::new());
    }
    let digits = format!("{frac:0width$}", width = prec as usize);
    (v / scale, format!(".{}", digits.trim_end_matches('0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(n: u64) -> Duration {
        Duration::from_nanos(n)
    }

    #[test]
    fn parses_go_examples() {
        let cases: &[(&str, Duration)] = &[
            ("0", Duration::ZERO),
            ("+0", Duration::ZERO),
            ("-0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("-0s", Duration::ZERO),
            ("5s", Duration::from_secs(5)),
            ("30s", Duration::from_secs(30)),
            ("1478s", Duration::from_secs(1478)),
            ("+5s", Duration::from_secs(5)),
            ("5.0s", Duration::from_secs(5)),
            ("5.6s", Duration::from_millis(5600)),
            ("5.s", Duration::from_secs(5)),
            (".5s", Duration::from_millis(500)),
            ("1.0s", Duration::from_secs(1)),
            ("1.00s", Duration::from_secs(1)),
            ("1.004s", Duration::from_millis(1004)),
            ("1.0040s", Duration::from_millis(1004)),
            ("100.00100s", Duration::from_micros(100_001_000)),
            ("10ns", ns(10)),
            ("11us", Duration::from_micros(11)),
            ("12µs", Duration::from_micros(12)),
            ("12μs", Duration::from_micros(12)),
            ("13ms", Duration::from_millis(13)),
            ("14s", Duration::from_secs(14)),
            ("15m", Duration::from_secs(15 * 60)),
            ("16h", Duration::from_secs(16 * 3600)),
            ("3h30m", Duration::from_secs(3 * 3600 + 30 * 60)),
            ("2h45m", Duration::from_secs(2 * 3600 + 45 * 60)),
            (
                "10.5s4m",
                Duration::from_secs(4 * 60 + 10) + Duration::from_millis(500),
            ),
            (
                "1h2m3s4ms5us6ns",
                Duration::from_secs(3600 + 120 + 3) + ns(4_005_006),
            ),
            ("39h9m14.425s", Duration::from_millis(140_954_425)),
            ("52763797000ns", ns(52_763_797_000)),
            ("0.3333333333333333333h", Duration::from_secs(20 * 60)),
            ("1.5h", Duration::from_secs(5400)),
            ("300ms", Duration::from_millis(300)),
            ("200ms", Duration::from_millis(200)),
            ("1m30s", Duration::from_secs(90)),
            ("9223372036854775807ns", ns(i64::MAX as u64)),
            ("9223372036.854775807s", ns(i64::MAX as u64)),
            ("0.100000000000000000000h", Duration::from_secs(6 * 60)),
        ];
        for (input, want) in cases {
            assert_eq!(parse_go_duration(input), Ok(*want), "input {input:?}");
        }
    }

    #[test]
    fn rejects_invalid() {
        for input in [
            "",
            "3",
            "-",
            "+",
            "s",
            ".",
            "-.",
            ".s",
            "+.s",
            "1d",
            "1 s",
            " 1s",
            "1s ",
            "1.5",
            "1e3s",
            "1sec",
            "ms",
            "1h-1m",
            "1,5s",
            "0x10s",
            // Overflow.
            "9223372036854775808ns",
            "9223372036.854775808s",
            "2562048h",
            "9999999999999999999999h",
            "9223372036854775807ns1ns",
        ] {
            assert!(
                parse_go_duration(input).is_err(),
                "input {input:?} should fail"
            );
        }
    }

    #[test]
    fn rejects_negative_with_clear_message() {
        let err = parse_go_duration("-1s").unwrap_err();
        assert!(err.contains("negative"), "{err}");
        assert!(parse_go_duration("-1.5h").is_err());
        assert!(parse_go_duration("-1ns").is_err());
    }

    #[test]
    fn unknown_unit_is_named() {
        let err = parse_go_duration("1d").unwrap_err();
        assert!(err.contains("\"d\""), "{err}");
        let err = parse_go_duration("15").unwrap_err();
        assert!(err.contains("missing unit"), "{err}");
    }

    #[test]
    fn formats_like_go() {
        let cases: &[(Duration, &str)] = &[
            (Duration::ZERO, "0s"),
            (ns(1), "1ns"),
            (ns(999), "999ns"),
            (ns(1_100), "1.1µs"),
            (ns(2_200_000), "2.2ms"),
            (Duration::from_millis(200), "200ms"),
            (Duration::from_micros(1_500), "1.5ms"),
            (ns(3_300_000_000), "3.3s"),
            (Duration::from_secs(1), "1s"),
            (Duration::from_secs(60), "1m0s"),
            (Duration::from_secs(4 * 60 + 5), "4m5s"),
            (ns(4 * 60_000_000_000 + 5_001_000_000), "4m5.001s"),
            (
                ns(5 * 3_600_000_000_000 + 6 * 60_000_000_000 + 7_001_000_000),
                "5h6m7.001s",
            ),
            (Duration::from_secs(8 * 3600 + 1), "8h0m1s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_secs(2 * 3600 + 45 * 60), "2h45m0s"),
            (ns(i64::MAX as u64), "2562047h47m16.854775807s"),
        ];
        for (d, want) in cases {
            assert_eq!(format_go_duration(*d), *want, "duration {d:?}");
        }
    }

    #[test]
    fn round_trips() {
        for input in [
            "0s",
            "1ns",
            "1.5µs",
            "200ms",
            "1.5s",
            "1m0s",
            "1m30s",
            "2h45m0s",
            "8h0m1s",
            "4m5.001s",
            "2562047h47m16.854775807s",
        ] {
            let d = parse_go_duration(input).unwrap();
            assert_eq!(format_go_duration(d), input);
        }
        for nanos in [
            0u64,
            7,
            1_000,
            999_999,
            1_000_000_000,
            59_999_999_999,
            3_600_000_000_001,
            123_456_789_012_345,
        ] {
            let d = ns(nanos);
            assert_eq!(
                parse_go_duration(&format_go_duration(d)),
                Ok(d),
                "{nanos}ns"
            );
        }
    }
}
