//! StatsD / DogStatsD line parsing, compatible with statsd_exporter's
//! `pkg/line` (`LineToEvents`), with a few deliberate differences that are
//! listed below.
//!
//! Wire format: `name:value|type[|@rate][|#tags][|c:container][|T<ts>][|e:...][|card:...]`.
//!
//! * Types: `c` counter (value ÷ rate), `g` gauge (leading `+`/`-` ⇒ relative,
//!   rate ignored), `ms` observer (value ÷ 1000 → seconds), `h` / `d`
//!   observers, `s` set.
//! * Several samples per line: `a:1|c:2|ms` (every `:`-separated component
//!   after the name is one sample) unless the line carries DogStatsD tags
//!   (`|#` anywhere after the name), and DogStatsD extended aggregation
//!   `a:1:2:3|ms|#t:v`, chosen exactly as statsd_exporter does: when the text
//!   between the first `:` and the first `|` contains another `:`.
//! * Tags: DogStatsD `|#k:v,k2:v2`, InfluxDB `name,k=v:…`, Librato
//!   `name#k=v:…`, SignalFx `na[k=v]me:…`.
//!
//! Deliberate differences from statsd_exporter:
//!
//! * Sampled observers carry `weight = 1/rate` instead of being replicated
//!   `int(1/rate)` times.
//! * Sets (`|s`) are supported (`SampleValue::Set`), not rejected.
//! * The sample rate must be a finite number in (0, 1]. statsd_exporter
//!   treats `@0` (and an unparsable rate) as rate 1 and keeps the sample; we
//!   reject the sample with `invalid_sample_factor`.
//! * NaN, ±Inf and values that overflow to ±Inf are rejected with
//!   `non_finite_value`.
//! * Invalid UTF-8 is `invalid_utf8` (statsd_exporter: `malformed_line`); a
//!   name that is empty once its tag section is removed is `empty_name`.
//! * The DogStatsD container id `|c:<id>` is dropped unless
//!   [`ParseOptions::container_id_label`] is set; `|e:…` and `|card:…` are
//!   accepted and ignored (statsd_exporter rejects them), and their values,
//!   like container ids, may contain `:` even on lines without tags.
//! * SignalFx: a `]` before the `[` is not a tag section (statsd_exporter
//!   slices out of range and panics on `a]b[c:1|c`).
//! * Tag counters: `tags` counts accepted tags, not samples that have tags.

use std::borrow::Cow;

use crate::escape::escape_metric_name;
use crate::sample::{Sample, SampleValue, Tag};

/// Which tag styles the parser understands. A disabled name-embedded style
/// leaves its text in the metric name, as statsd_exporter does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    pub dogstatsd_tags: bool,
    pub influxdb_tags: bool,
    pub librato_tags: bool,
    pub signalfx_tags: bool,
    /// Turn the DogStatsD `|c:<id>` container id into a `container_id` tag.
    /// Off by default: one series per container is a cardinality trap.
    pub container_id_label: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            dogstatsd_tags: true,
            influxdb_tags: true,
            librato_tags: true,
            signalfx_tags: true,
            container_id_label: false,
        }
    }
}

/// Why a line or a sample was rejected. [`Reject::reason`] is the stable
/// label of the error counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reject {
    /// No `:` after the name, or an empty name before the `:`.
    MalformedLine,
    /// DogStatsD `|#` tags together with tags embedded in the name.
    MixedTaggingStyles,
    /// No `|` after the first `:`.
    NotEnoughPartsAfterColon,
    /// Extended aggregation (`a:1:2|t`) with a type other than ms, h, d.
    InvalidExtendedAggregateType,
    /// Fewer than 2 or more than 8 `|`-separated parts, or an empty part.
    MalformedComponent,
    /// The value is not a number (or an empty set member).
    MalformedValue,
    /// A bad `@rate` (not a finite number in (0, 1]) or an unknown `|x` section.
    /// statsd_exporter treats `@0` as rate 1 and keeps samples with an
    /// unparsable rate; we reject both (deliberate difference).
    InvalidSampleFactor,
    /// A `|c` section that is not `c:<non-empty id>`.
    MalformedContainerId,
    /// A `|T` section that is not `T<integer>`.
    MalformedTimestamp,
    /// Unknown metric type.
    IllegalEvent,
    /// The line is not valid UTF-8 (statsd_exporter: `malformed_line`).
    InvalidUtf8,
    /// NaN, ±Inf, or a value that overflows to ±Inf (also after ÷ rate).
    NonFiniteValue,
    /// The name is empty once its tag section is removed.
    EmptyName,
}

impl Reject {
    pub const ALL: &'static [Reject] = &[
        Reject::MalformedLine,
        Reject::MixedTaggingStyles,
        Reject::NotEnoughPartsAfterColon,
        Reject::InvalidExtendedAggregateType,
        Reject::MalformedComponent,
        Reject::MalformedValue,
        Reject::InvalidSampleFactor,
        Reject::MalformedContainerId,
        Reject::MalformedTimestamp,
        Reject::IllegalEvent,
        Reject::InvalidUtf8,
        Reject::NonFiniteValue,
        Reject::EmptyName,
    ];

    pub fn reason(self) -> &'static str {
        match self {
            Reject::MalformedLine => "malformed_line",
            Reject::MixedTaggingStyles => "mixed_tagging_styles",
            Reject::NotEnoughPartsAfterColon => "not_enough_parts_after_colon",
            Reject::InvalidExtendedAggregateType => "invalid_extended_aggregate_type",
            Reject::MalformedComponent => "malformed_component",
            Reject::MalformedValue => "malformed_value",
            Reject::InvalidSampleFactor => "invalid_sample_factor",
            Reject::MalformedContainerId => "malformed_container_id",
            Reject::MalformedTimestamp => "malformed_timestamp",
            Reject::IllegalEvent => "illegal_event",
            Reject::InvalidUtf8 => "invalid_utf8",
            Reject::NonFiniteValue => "non_finite_value",
            Reject::EmptyName => "empty_name",
        }
    }
}

/// What happened to one line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineStats {
    /// Valid samples appended to `out`. `samples + errors.len()` is the
    /// number of samples received (statsd_exporter's `samples_total`, except
    /// that it does not count line-level rejections).
    pub samples: u32,
    /// One entry per rejected line or sample.
    pub errors: Vec<Reject>,
    /// Accepted tags, counted once per occurrence in the line text.
    pub tags: u32,
    /// Skipped tags (no separator, empty key or value, unmatched SignalFx bracket).
    pub tag_errors: u32,
}

/// Splits a datagram / stream chunk into lines on `\n`, dropping empty lines
/// and one trailing `\r` per line.
pub fn split_lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    // memchr finds the newlines a vector at a time (a byte-wise split was
    // ~2% of a reader's time at 10 lines per datagram).
    let mut start = 0;
    memchr::memchr_iter(b'\n', data)
        .chain(std::iter::once(data.len()))
        .map(move |end| {
            let line = &data[start..end];
            start = end + 1;
            line.strip_suffix(b"\r").unwrap_or(line)
        })
        .filter(|l| !l.is_empty())
}

/// [`split_lines`] for text already known to be UTF-8 (a datagram validated
/// at once: one pass instead of one per line).
pub fn split_text_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', text.as_bytes())
        .chain(std::iter::once(text.len()))
        .map(move |end| {
            let line = &text[start..end];
            start = end + 1;
            line.strip_suffix('\r').unwrap_or(line)
        })
        .filter(|l| !l.is_empty())
}

/// Parses one line (no `\n` inside). Appends every valid sample to `out` and
/// returns what happened.
pub fn parse_line<'a>(line: &'a [u8], opts: &ParseOptions, out: &mut Vec<Sample<'a>>) -> LineStats {
    match std::str::from_utf8(line) {
        Ok(line) => parse_text_line(line, opts, out),
        Err(_) => LineStats {
            errors: vec![Reject::InvalidUtf8],
            ..Default::default()
        },
    }
}

/// [`parse_line`] for a line known to be UTF-8.
pub fn parse_text_line<'a>(
    line: &'a str,
    opts: &ParseOptions,
    out: &mut Vec<Sample<'a>>,
) -> LineStats {
    let mut stats = LineStats::default();
    if line.is_empty() {
        return stats;
    }
    let Some((raw_name, rest)) = split_once_byte(line, b':') else {
        stats.errors.push(Reject::MalformedLine);
        return stats;
    };
    if raw_name.is_empty() {
        stats.errors.push(Reject::MalformedLine);
        return stats;
    }

    let mut name_tags: Vec<Tag<'a>> = Vec::new();
    let name = parse_name_and_tags(raw_name, opts, &mut name_tags, &mut stats);
    let cx = SampleCx {
        name,
        name_tags,
        opts,
        out,
        stats,
    };
    match simple_value_and_type(rest) {
        Some((value, ty)) => cx.simple(value, ty),
        None => cx.general(rest),
    }
}

/// `value|type` with nothing else after the name (how Airflow and most
/// clients send): one pass over a few bytes instead of the general path's
/// searches. `None` for anything else, which the general path handles.
fn simple_value_and_type(rest: &str) -> Option<(&str, &str)> {
    let mut pipe = None;
    for (i, &b) in rest.as_bytes().iter().enumerate() {
        match b {
            b'|' if pipe.is_none() => pipe = Some(i),
            b'|' | b':' | b'#' => return None,
            _ => {}
        }
    }
    pipe.map(|i| (&rest[..i], &rest[i + 1..]))
}

impl<'a> SampleCx<'a, '_> {
    /// The general path's checks for a simple line: none of its tag,
    /// extended-aggregation or multi-value cases apply.
    fn simple(mut self, value: &'a str, ty: &'a str) -> LineStats {
        if self.name.is_empty() {
            self.stats.errors.push(Reject::EmptyName);
        } else {
            let tail = Tail {
                ty,
                too_many: false,
                section_err: None,
                rate: 1.0,
                tags: Vec::new(),
            };
            self.emit(value, &tail);
        }
        self.stats
    }

    /// Everything after the name's `:`, in statsd_exporter's order of checks.
    fn general(mut self, rest: &'a str) -> LineStats {
        // statsd_exporter looks for `|#` whether or not DogStatsD tags are enabled.
        let dogstatsd = has_dogstatsd_tags(rest.as_bytes());
        if dogstatsd && !self.name_tags.is_empty() {
            self.stats.errors.push(Reject::MixedTaggingStyles);
            return self.stats;
        }
        let Some((first, after_first_pipe)) = split_once_byte(rest, b'|') else {
            self.stats.errors.push(Reject::NotEnoughPartsAfterColon);
            return self.stats;
        };
        let extended = memchr::memchr(b':', first.as_bytes()).is_some();
        if extended {
            let ty = after_first_pipe.split('|').next().unwrap_or("");
            if !matches!(ty, "ms" | "h" | "d") {
                self.stats.errors.push(Reject::InvalidExtendedAggregateType);
                return self.stats;
            }
        }
        if self.name.is_empty() {
            self.stats.errors.push(Reject::EmptyName);
            return self.stats;
        }
        if extended {
            // DogStatsD extended aggregation: every value shares the suffix.
            let tail = parse_tail(after_first_pipe, self.opts, &mut self.stats);
            for value in first.split(':') {
                self.emit(value, &tail);
            }
        } else if dogstatsd {
            // statsd_exporter disables multi-metric lines when tags are present.
            self.emit_piece(rest);
        } else {
            for piece in (Pieces {
                s: rest,
                pos: 0,
                done: false,
            }) {
                self.emit_piece(piece);
            }
        }
        self.stats
    }

    /// One `value|type|sections` sample.
    fn emit_piece(&mut self, piece: &'a str) {
        match split_once_byte(piece, b'|') {
            Some((value, tail)) => {
                let tail = parse_tail(tail, self.opts, &mut self.stats);
                self.emit(value, &tail);
            }
            None => self.stats.errors.push(Reject::MalformedComponent),
        }
    }

    fn emit(&mut self, value: &'a str, tail: &Tail<'a>) {
        match build(value, tail) {
            Ok((value, set_member)) => {
                let mut tags = Vec::new();
                if !self.name_tags.is_empty() || !tail.tags.is_empty() {
                    tags.reserve_exact(self.name_tags.len() + tail.tags.len());
                    tags.extend_from_slice(&self.name_tags);
                    tags.extend_from_slice(&tail.tags);
                    dedup_tags(&mut tags);
                }
                self.stats.samples += 1;
                self.out.push(Sample {
                    name: self.name.clone(),
                    value,
                    set_member,
                    tags,
                });
            }
            Err(e) => self.stats.errors.push(e),
        }
    }
}

/// Whether `data` holds `|#` (a DogStatsD tag section). Searches for the
/// rare `#` and looks back: cheaper than a substring search per line.
pub fn has_dogstatsd_tags(data: &[u8]) -> bool {
    memchr::memchr_iter(b'#', data).any(|i| i > 0 && data[i - 1] == b'|')
}

/// `str::split_once` for an ASCII byte, with a SIMD search (the hot path
/// splits every line this way; an ASCII byte is always a char boundary).
fn split_once_byte(s: &str, b: u8) -> Option<(&str, &str)> {
    debug_assert!(b.is_ascii());
    memchr::memchr(b, s.as_bytes()).map(|i| (&s[..i], &s[i + 1..]))
}

/// Removes the name-embedded tag section (SignalFx first, then the first
/// Librato `#` or InfluxDB `,`), collecting its tags.
fn parse_name_and_tags<'a>(
    name: &'a str,
    opts: &ParseOptions,
    tags: &mut Vec<Tag<'a>>,
    stats: &mut LineStats,
) -> Cow<'a, str> {
    // Most names hold none of the bytes that start a tag section: two
    // vector scans settle that (a byte loop here was ~8% of a reader's time).
    let b = name.as_bytes();
    if memchr::memchr3(b'[', b'#', b',', b).is_none() && memchr::memchr(b']', b).is_none() {
        return Cow::Borrowed(name);
    }
    if opts.signalfx_tags {
        let open = memchr::memchr(b'[', name.as_bytes());
        let close = memchr::memchr(b']', name.as_bytes());
        match (open, close) {
            (None, None) => {}
            (Some(start), Some(_)) => {
                // statsd_exporter pairs the first `[` with the first `]`
                // anywhere (and panics when `]` comes first); we look for the
                // first `]` after the `[`.
                let Some(rel) = memchr::memchr(b']', &name.as_bytes()[start + 1..]) else {
                    stats.tag_errors += 1;
                    return Cow::Borrowed(name);
                };
                let end = start + 1 + rel;
                parse_tag_list(&name[start + 1..end], b'=', false, tags, stats);
                let (head, tail) = (&name[..start], &name[end + 1..]);
                return if tail.is_empty() {
                    Cow::Borrowed(head)
                } else if head.is_empty() {
                    Cow::Borrowed(tail)
                } else {
                    let mut joined = String::with_capacity(head.len() + tail.len());
                    joined.push_str(head);
                    joined.push_str(tail);
                    Cow::Owned(joined)
                };
            }
            _ => {
                // Only one bracket: the name stays unparsed (no Librato or
                // InfluxDB parsing either), as in statsd_exporter.
                stats.tag_errors += 1;
                return Cow::Borrowed(name);
            }
        }
    }
    for (i, b) in name.bytes().enumerate() {
        if (b == b'#' && opts.librato_tags) || (b == b',' && opts.influxdb_tags) {
            parse_tag_list(&name[i + 1..], b'=', false, tags, stats);
            return Cow::Borrowed(&name[..i]);
        }
    }
    Cow::Borrowed(name)
}

/// Parses a `,`-separated tag list like statsd_exporter: every piece is a
/// tag except a trailing empty one.
fn parse_tag_list<'a>(
    list: &'a str,
    sep: u8,
    trim_hash: bool,
    tags: &mut Vec<Tag<'a>>,
    stats: &mut LineStats,
) {
    let mut pieces = list.split(',').peekable();
    while let Some(piece) = pieces.next() {
        if piece.is_empty() && pieces.peek().is_none() {
            break;
        }
        let tag = if trim_hash {
            piece.strip_prefix('#').unwrap_or(piece)
        } else {
            piece
        };
        match tag.bytes().position(|b| b == sep) {
            Some(i) if i > 0 && i + 1 < tag.len() => {
                tags.push((escape_metric_name(&tag[..i]), Cow::Borrowed(&tag[i + 1..])));
                stats.tags += 1;
            }
            _ => stats.tag_errors += 1,
        }
    }
}

/// Splits the part after the name into multi-metric samples on `:`, except
/// where the `:` belongs to a `|c:`, `|e:` or `|card:` section value (e.g.
/// `a:1|c|c:sha256:ab`). statsd_exporter splits blindly there.
struct Pieces<'a> {
    s: &'a str,
    pos: usize,
    done: bool,
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.done {
            return None;
        }
        let bytes = self.s.as_bytes();
        let start = self.pos;
        let mut pipes = 0u32;
        let mut section_start = start;
        for (i, &b) in bytes.iter().enumerate().skip(start) {
            match b {
                b'|' => {
                    pipes += 1;
                    section_start = i + 1;
                }
                b':' if !(pipes >= 2 && is_colon_section(&bytes[section_start..i])) => {
                    self.pos = i + 1;
                    return Some(&self.s[start..i]);
                }
                _ => {}
            }
        }
        self.done = true;
        Some(&self.s[start..])
    }
}

/// True for a section (after the type) whose value may contain `:`.
fn is_colon_section(sec: &[u8]) -> bool {
    [&b"c"[..], b"e", b"card"]
        .iter()
        .any(|p| sec.starts_with(p) && (sec.len() == p.len() || sec[p.len()] == b':'))
}

/// Everything after the value: the type and the optional sections.
struct Tail<'a> {
    ty: &'a str,
    /// Too many `|`-separated parts (statsd_exporter allows at most 8).
    too_many: bool,
    /// First error found in the sections (reported after the value check).
    section_err: Option<Reject>,
    rate: f64,
    tags: Vec<Tag<'a>>,
}

fn parse_tail<'a>(tail: &'a str, opts: &ParseOptions, stats: &mut LineStats) -> Tail<'a> {
    if memchr::memchr(b'|', tail.as_bytes()).is_none() {
        // The common case: just the type.
        return Tail {
            ty: tail,
            too_many: false,
            section_err: None,
            rate: 1.0,
            tags: Vec::new(),
        };
    }
    let mut sections = tail.split('|');
    let ty = sections.next().unwrap_or("");
    let mut t = Tail {
        ty,
        too_many: tail.bytes().filter(|&b| b == b'|').count() > 6,
        section_err: None,
        rate: 1.0,
        tags: Vec::new(),
    };
    if t.too_many {
        return t;
    }
    if sections.clone().any(str::is_empty) {
        t.section_err = Some(Reject::MalformedComponent);
        return t;
    }
    for sec in sections {
        let b = sec.as_bytes();
        let err = match b[0] {
            b'@' => match sec[1..].parse::<f64>() {
                Ok(r) if r > 0.0 && r <= 1.0 && (1.0 / (t.rate * r)).is_finite() => {
                    t.rate *= r;
                    None
                }
                _ => Some(Reject::InvalidSampleFactor),
            },
            b'#' => {
                if opts.dogstatsd_tags {
                    parse_tag_list(&sec[1..], b':', true, &mut t.tags, stats);
                }
                None
            }
            _ if sec.starts_with("card:") || sec.starts_with("e:") => None,
            b'c' => match sec.strip_prefix("c:") {
                Some(id) if !id.is_empty() => {
                    if opts.container_id_label {
                        t.tags
                            .push((Cow::Borrowed("container_id"), Cow::Borrowed(id)));
                        stats.tags += 1;
                    }
                    None
                }
                _ => Some(Reject::MalformedContainerId),
            },
            b'T' => match sec[1..].parse::<i64>() {
                Ok(_) => None,
                Err(_) => Some(Reject::MalformedTimestamp),
            },
            _ => Some(Reject::InvalidSampleFactor),
        };
        if err.is_some() {
            t.section_err = err;
            break;
        }
    }
    t
}

struct SampleCx<'a, 'o> {
    name: Cow<'a, str>,
    name_tags: Vec<Tag<'a>>,
    opts: &'o ParseOptions,
    out: &'o mut Vec<Sample<'a>>,
    stats: LineStats,
}

/// Checks in statsd_exporter's order: part count, value, sections, type.
fn build<'a>(value: &'a str, tail: &Tail<'a>) -> Result<(SampleValue, &'a str), Reject> {
    if tail.too_many {
        return Err(Reject::MalformedComponent);
    }
    let is_set = tail.ty == "s";
    let number = if is_set {
        if value.is_empty() {
            return Err(Reject::MalformedValue);
        }
        0.0
    } else {
        let v = parse_number(value).ok_or(Reject::MalformedValue)?;
        if !v.is_finite() {
            return Err(Reject::NonFiniteValue);
        }
        v
    };
    if let Some(e) = tail.section_err {
        return Err(e);
    }
    let weight = 1.0 / tail.rate;
    let sample = match tail.ty {
        "c" => {
            let v = number / tail.rate;
            if !v.is_finite() {
                return Err(Reject::NonFiniteValue);
            }
            SampleValue::Counter(v)
        }
        "g" => SampleValue::Gauge {
            value: number,
            relative: value.starts_with(['+', '-']),
        },
        "ms" => SampleValue::Observer {
            value: number / 1000.0,
            weight,
        },
        "h" | "d" => SampleValue::Observer {
            value: number,
            weight,
        },
        "s" => return Ok((SampleValue::Set, value)),
        _ => return Err(Reject::IllegalEvent),
    };
    Ok((sample, ""))
}

/// A value as `f64`. Up to 15 plain digits (most counters and gauges) are
/// exact in an `f64` and take a shortcut past the float parser.
fn parse_number(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    if !b.is_empty() && b.len() <= 15 && b.iter().all(u8::is_ascii_digit) {
        return Some(b.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')) as f64);
    }
    s.parse().ok()
}

/// Keeps one entry per key, with the last value (as a Go map would).
fn dedup_tags(tags: &mut Vec<Tag<'_>>) {
    if tags.len() < 2 {
        return;
    }
    if tags.len() <= 32 {
        let mut i = 0;
        while i < tags.len() {
            let mut j = i + 1;
            while j < tags.len() {
                if tags[j].0 == tags[i].0 {
                    let later = tags.remove(j);
                    tags[i].1 = later.1;
                } else {
                    j += 1;
                }
            }
            i += 1;
        }
    } else {
        // Stable sort, then keep the last of each run of equal keys.
        tags.sort_by(|a, b| a.0.cmp(&b.0));
        tags.reverse();
        tags.dedup_by(|later, kept| later.0 == kept.0);
        tags.reverse();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dogstatsd_tag_sections_are_found_like_a_substring_search() {
        let cases: &[&[u8]] = &[
            b"a:1|c|#k:v",
            b"a:1|c",
            b"#a:1|c",
            b"a#b:1|c|#",
            b"a:1|c#k",
            b"|#",
            b"#",
            b"",
            b"a:1|c|@0.5|#k:v\n",
            b"a#:1|c\nb:1|g|#x:y",
        ];
        for &c in cases {
            let want = c.windows(2).any(|w| w == b"|#");
            assert_eq!(
                has_dogstatsd_tags(c),
                want,
                "{}",
                String::from_utf8_lossy(c)
            );
        }
    }

    const D: ParseOptions = ParseOptions {
        dogstatsd_tags: true,
        influxdb_tags: true,
        librato_tags: true,
        signalfx_tags: true,
        container_id_label: false,
    };
    const NONE: ParseOptions = ParseOptions {
        dogstatsd_tags: false,
        influxdb_tags: false,
        librato_tags: false,
        signalfx_tags: false,
        container_id_label: false,
    };
    const NO_DOG: ParseOptions = ParseOptions {
        dogstatsd_tags: false,
        ..D
    };
    const NO_INFLUX: ParseOptions = ParseOptions {
        influxdb_tags: false,
        ..D
    };
    const NO_LIBRATO: ParseOptions = ParseOptions {
        librato_tags: false,
        ..D
    };
    const NO_SFX: ParseOptions = ParseOptions {
        signalfx_tags: false,
        ..D
    };
    const CID: ParseOptions = ParseOptions {
        container_id_label: true,
        ..D
    };

    /// An expected sample: name, value, set member, tags.
    #[derive(Debug, Clone)]
    struct Exp {
        name: &'static str,
        value: SampleValue,
        member: &'static str,
        tags: Vec<(&'static str, &'static str)>,
    }

    impl Exp {
        fn t(mut self, tags: &[(&'static str, &'static str)]) -> Exp {
            self.tags = tags.to_vec();
            self
        }
    }

    fn exp(name: &'static str, value: SampleValue) -> Exp {
        Exp {
            name,
            value,
            member: "",
            tags: Vec::new(),
        }
    }
    fn c(name: &'static str, v: f64) -> Exp {
        exp(name, SampleValue::Counter(v))
    }
    fn g(name: &'static str, v: f64) -> Exp {
        exp(
            name,
            SampleValue::Gauge {
                value: v,
                relative: false,
            },
        )
    }
    fn g_rel(name: &'static str, v: f64) -> Exp {
        exp(
            name,
            SampleValue::Gauge {
                value: v,
                relative: true,
            },
        )
    }
    fn o(name: &'static str, v: f64) -> Exp {
        ow(name, v, 1.0)
    }
    fn ow(name: &'static str, v: f64, weight: f64) -> Exp {
        exp(name, SampleValue::Observer { value: v, weight })
    }
    fn set(name: &'static str, member: &'static str) -> Exp {
        Exp {
            member,
            ..exp(name, SampleValue::Set)
        }
    }
    /// The six values of statsd_exporter's extended-aggregation cases.
    fn ext(
        name: &'static str,
        scale: f64,
        weight: f64,
        tags: &[(&'static str, &'static str)],
    ) -> Vec<Exp> {
        [0.5, 120.0, 3000.0, 10.0, 20000.0, 0.01]
            .iter()
            .map(|v| ow(name, v / scale, weight).t(tags))
            .collect()
    }

    struct Case {
        name: &'static str,
        input: &'static [u8],
        opts: ParseOptions,
        samples: Vec<Exp>,
        errors: Vec<Reject>,
        /// Expected (tags, tag_errors), when the case is about them.
        tag_stats: Option<(u32, u32)>,
    }

    fn ok(name: &'static str, input: &'static str, opts: ParseOptions, samples: Vec<Exp>) -> Case {
        Case {
            name,
            input: input.as_bytes(),
            opts,
            samples,
            errors: Vec::new(),
            tag_stats: None,
        }
    }
    fn bad(
        name: &'static str,
        input: &'static [u8],
        opts: ParseOptions,
        errors: &[Reject],
    ) -> Case {
        Case {
            name,
            input,
            opts,
            samples: Vec::new(),
            errors: errors.to_vec(),
            tag_stats: None,
        }
    }
    fn mixed(
        name: &'static str,
        input: &'static str,
        opts: ParseOptions,
        samples: Vec<Exp>,
        errors: &[Reject],
    ) -> Case {
        Case {
            name,
            input: input.as_bytes(),
            opts,
            samples,
            errors: errors.to_vec(),
            tag_stats: None,
        }
    }
    impl Case {
        fn ts(mut self, tags: u32, tag_errors: u32) -> Case {
            self.tag_stats = Some((tags, tag_errors));
            self
        }
    }

    const T12: &[(&str, &str)] = &[("tag1", "bar"), ("tag2", "baz")];
    const KEYS: &[(&str, &str)] = &[("_09digits", "0"), ("tag_with_dots", "1")];

    fn cases() -> Vec<Case> {
        use Reject::*;
        vec![
            // ---- statsd_exporter TestLineToEvents (all styles on) ----
            ok("empty", "", D, vec![]),
            ok("simple counter", "foo:2|c", D, vec![c("foo", 2.0)]),
            ok("simple gauge", "foo:3|g", D, vec![g("foo", 3.0)]),
            ok("gauge with sampling", "foo:3|g|@0.2", D, vec![g("foo", 3.0)]),
            ok("gauge decrement", "foo:-10|g", D, vec![g_rel("foo", -10.0)]),
            ok("simple timer", "foo:200|ms", D, vec![o("foo", 0.2)]),
            ok("simple histogram", "foo:200|h", D, vec![o("foo", 200.0)]),
            ok("simple distribution", "foo:200|d", D, vec![o("foo", 200.0)]),
            // statsd_exporter: 5 events; we: one event of weight 5.
            ok("distribution with sampling", "foo:0.01|d|@0.2|#tag1:bar,#tag2:baz", D,
                vec![ow("foo", 0.01, 5.0).t(T12)]),
            ok("librato tag extension", "foo#tag1=bar,tag2=baz:100|c", D, vec![c("foo", 100.0).t(T12)]),
            ok("librato tag keys unsupported by prometheus", "foo#09digits=0,tag.with.dots=1:100|c", D,
                vec![c("foo", 100.0).t(KEYS)]),
            ok("influxdb tag extension", "foo,tag1=bar,tag2=baz:100|c", D, vec![c("foo", 100.0).t(T12)]),
            ok("SignalFx tag extension", "foo.[tag1=bar,tag2=baz]test:100|c", D,
                vec![c("foo.test", 100.0).t(T12)]),
            ok("SignalFx tags at end of name", "foo.test[tag1=bar,tag2=baz]:100|c", D,
                vec![c("foo.test", 100.0).t(T12)]),
            ok("SignalFx tags at beginning of name", "[tag1=bar,tag2=baz]foo.test:100|c", D,
                vec![c("foo.test", 100.0).t(T12)]),
            ok("SignalFx no tags", "foo.[]test:100|c", D, vec![c("foo.test", 100.0)]).ts(0, 0),
            ok("SignalFx non-kv tags", "foo.[tag1,tag2]test:100|c", D, vec![c("foo.test", 100.0)]).ts(0, 2),
            ok("SignalFx missing closing bracket", "[tag1=bar,tag2=bazfoo.test:100|c", D,
                vec![c("[tag1=bar,tag2=bazfoo.test", 100.0)]).ts(0, 1),
            ok("SignalFx missing opening bracket", "tag1=bar,tag2=baz]foo.test:100|c", D,
                vec![c("tag1=bar,tag2=baz]foo.test", 100.0)]).ts(0, 1),
            ok("influxdb tag keys unsupported by prometheus", "foo,09digits=0,tag.with.dots=1:100|c", D,
                vec![c("foo", 100.0).t(KEYS)]),
            ok("datadog tag extension", "foo:100|c|#tag1:bar,tag2:baz", D, vec![c("foo", 100.0).t(T12)]).ts(2, 0),
            ok("datadog # in all keys (php client)", "foo:100|c|#tag1:bar,#tag2:baz", D,
                vec![c("foo", 100.0).t(T12)]),
            ok("datadog tag keys unsupported by prometheus", "foo:100|c|#09digits:0,tag.with.dots:1", D,
                vec![c("foo", 100.0).t(KEYS)]),
            ok("datadog valueless tag ignored", "foo:100|c|#tag_without_a_value", D, vec![c("foo", 100.0)]).ts(0, 1),
            ok("datadog valueless tag (edge case)", "foo:100|c|#tag_without_a_value,tag:value", D,
                vec![c("foo", 100.0).t(&[("tag", "value")])]).ts(1, 1),
            ok("datadog empty tags (edge case)", "foo:100|c|#tag:value,,", D,
                vec![c("foo", 100.0).t(&[("tag", "value")])]).ts(1, 1),
            ok("datadog tags with sampling", "foo:100|c|@0.1|#tag1:bar,#tag2:baz", D,
                vec![c("foo", 1000.0).t(T12)]),
            bad("librato/dogstatsd mixed", b"foo#tag1=foo,tag3=bing:100|c|#tag1:bar,#tag2:baz", D, &[MixedTaggingStyles]),
            bad("signalfx/dogstatsd mixed", b"foo[tag1=foo,tag3=bing]:100|c|#tag1:bar,#tag2:baz", D, &[MixedTaggingStyles]),
            bad("influxdb/dogstatsd mixed", b"foo,tag1=foo,tag3=bing:100|c|#tag1:bar,#tag2:baz", D, &[MixedTaggingStyles]),
            bad("mixed with sampling", b"foo#tag1=foo,tag3=bing:100|c|@0.1|#tag1:bar,#tag2:baz", D, &[MixedTaggingStyles]),
            ok("histogram with sampling", "foo:0.01|h|@0.2|#tag1:bar,#tag2:baz", D,
                vec![ow("foo", 0.01, 5.0).t(T12)]),
            ok("datadog tag with multiple colons", "foo:100|c|@0.1|#tag1:foo:bar", D,
                vec![c("foo", 1000.0).t(&[("tag1", "foo:bar")])]),
            bad("invalid utf8 tag value", b"foo:100|c|@0.1|#tag:\xc3\x28invalid", D, &[InvalidUtf8]),
            bad("valid and invalid utf8 tag values", b"foo:100|c|@0.1|#tag1:valid,tag2:\xc3\x28invalid", D, &[InvalidUtf8]),
            ok("extended aggregation timings", "foo_timing:0.5:120:3000:10:20000:0.01|ms|#tag1:bar,tag2:baz", D,
                ext("foo_timing", 1000.0, 1.0, T12)),
            ok("extended aggregation without tags", "foo_timing:0.5:120:3000:10:20000:0.01|ms", D,
                ext("foo_timing", 1000.0, 1.0, &[])),
            ok("extended aggregation with sampling", "foo_timing:0.5:120:3000:10:20000:0.01|ms|@0.5", D,
                ext("foo_timing", 1000.0, 2.0, &[])),
            ok("extended aggregation with sampling and tags", "foo_timing:0.5:120:3000:10:20000:0.01|ms|@0.5|#tag1:bar,tag2:baz", D,
                ext("foo_timing", 1000.0, 2.0, T12)).ts(2, 0),
            ok("extended aggregation histogram", "foo_histogram:0.5:120:3000:10:20000:0.01|h|#tag1:bar,tag2:baz", D,
                ext("foo_histogram", 1.0, 1.0, T12)),
            ok("extended aggregation distribution", "foo_distribution:0.5:120:3000:10:20000:0.01|d|#tag1:bar,tag2:baz", D,
                ext("foo_distribution", 1.0, 1.0, T12)),
            bad("extended aggregation counter", b"foo_counter:0.5:120:3000:10:20000:0.01|c|#tag1:bar,tag2:baz", D, &[InvalidExtendedAggregateType]),
            bad("extended aggregation gauge", b"foo_gauge:0.5:120:3000:10:20000:0.01|g|#tag1:bar,tag2:baz", D, &[InvalidExtendedAggregateType]),
            // statsd_exporter's test names these "invalid" but its table does
            // not check them; its code accepts them, and so do we.
            ok("extended aggregation with signalfx tags", "foo.[tag1=bar,tag2=baz]test:0.5:120:3000:10:20000:0.01|ms", D,
                ext("foo.test", 1000.0, 1.0, T12)),
            bad("signalfx counter with extended aggregation", b"foo.[tag1=bar,tag2=baz]test:0.5:120:3000:10:20000:0.01|c", D, &[InvalidExtendedAggregateType]),
            bad("signalfx no tags counter with extended aggregation", b"foo.[]test:0.5:120:3000:10:20000:0.01|c", D, &[InvalidExtendedAggregateType]),
            ok("signalfx no tags timer with extended aggregation", "foo.[]test:0.5:120:3000:10:20000:0.01|ms", D,
                ext("foo.test", 1000.0, 1.0, &[])),
            ok("dotted name timer with extended aggregation", "foo.test:0.5:120:3000:10:20000:0.01|ms", D,
                ext("foo.test", 1000.0, 1.0, &[])),
            // statsd_exporter: 10 events; we: one of weight 10.
            ok("timings with sampling factor", "foo.timing:0.5|ms|@0.1", D, vec![ow("foo.timing", 0.0005, 10.0)]),
            bad("bad line", b"foo", D, &[MalformedLine]),
            bad("bad component", b"foo:1", D, &[NotEnoughPartsAfterColon]),
            bad("bad value", b"foo:1o|c", D, &[MalformedValue]),
            // statsd_exporter counts the error but keeps the sample at rate 1.
            bad("illegal sampling factor", b"foo:1|c|@bar", D, &[InvalidSampleFactor]),
            // statsd_exporter treats @0 as @1.
            bad("zero sampling factor", b"foo:2|c|@0", D, &[InvalidSampleFactor]),
            bad("illegal stat type", b"foo:2|t", D, &[IllegalEvent]),
            bad("empty metric name", b":100|ms", D, &[MalformedLine]),
            bad("empty component", b"foo:1|c|", D, &[MalformedComponent]),
            bad("invalid utf8", b"invalid\xc3\x28utf8:1|c", D, &[InvalidUtf8]),
            bad("event split over lines part 1",
                b"karafka.consumer.consume.cpu_idle_second:  0.111090  -0.055903  -0.195390 (  2.419002)", D,
                &[NotEnoughPartsAfterColon]),
            bad("event split over lines part 2",
                b"|h|#consumer:Kafka::SharedConfigurationConsumer,topic:shared_configuration_update,partition:1,consumer_group:tc_rc_us",
                D, &[NotEnoughPartsAfterColon]),
            // Container ids: dropped by default, a label on request.
            ok("container id dropped", "foo:100|c|#tag1:value|c:container123", D,
                vec![c("foo", 100.0).t(&[("tag1", "value")])]),
            ok("container id label", "foo:100|c|#tag1:value|c:container123", CID,
                vec![c("foo", 100.0).t(&[("tag1", "value"), ("container_id", "container123")])]),
            ok("container id with tags", "foo:100|c|#tag1:bar,tag2:baz|c:container456", CID,
                vec![c("foo", 100.0).t(&[("tag1", "bar"), ("tag2", "baz"), ("container_id", "container456")])]),
            ok("container id with gauge", "foo:50|g|#tag1:value|c:gauge_container", CID,
                vec![g("foo", 50.0).t(&[("tag1", "value"), ("container_id", "gauge_container")])]),
            ok("container id with timer", "foo:1000|ms|#tag1:value|c:timer_container", CID,
                vec![o("foo", 1.0).t(&[("tag1", "value"), ("container_id", "timer_container")])]),
            ok("container id with histogram", "foo:500|h|#tag1:value|c:hist_container", D,
                vec![o("foo", 500.0).t(&[("tag1", "value")])]),
            bad("container id without colon", b"foo:100|c|#tag1:value|c", D, &[MalformedContainerId]),
            bad("container id without value", b"foo:100|c|#tag1:value|c:", D, &[MalformedContainerId]),
            ok("container id with colons", "foo:100|c|#tag1:value|c:sha256:abcd1234efgh5678", CID,
                vec![c("foo", 100.0).t(&[("tag1", "value"), ("container_id", "sha256:abcd1234efgh5678")])]),
            ok("container id with sampling (8 parts allowed)", "foo:100|c|@0.5|#tag1:value|c:abc", CID,
                vec![c("foo", 200.0).t(&[("tag1", "value"), ("container_id", "abc")])]),

            // ---- TestDisableParsingLineToEvents (no tag style) ----
            ok("none: librato", "foo#tag1=bar,tag2=baz:100|c", NONE, vec![c("foo#tag1=bar,tag2=baz", 100.0)]),
            ok("none: influxdb", "foo,tag1=bar,tag2=baz:100|c", NONE, vec![c("foo,tag1=bar,tag2=baz", 100.0)]),
            ok("none: signalfx", "foo.[tag1=bar,tag2=baz]test:100|c", NONE, vec![c("foo.[tag1=bar,tag2=baz]test", 100.0)]),
            ok("none: signalfx no tags", "foo.[]test:100|c", NONE, vec![c("foo.[]test", 100.0)]),
            ok("none: datadog", "foo:100|c|#tag1:bar,tag2:baz", NONE, vec![c("foo", 100.0)]).ts(0, 0),
            ok("none: datadog with sampling", "foo:100|c|@0.1|#tag1:bar,#tag2:baz", NONE, vec![c("foo", 1000.0)]),
            ok("none: extended aggregation with tags", "foo_timing:0.5:120:3000:10:20000:0.01|ms|#tag1:bar,tag2:baz", NONE,
                ext("foo_timing", 1000.0, 1.0, &[])),
            // No name tags are parsed, so the styles are not mixed.
            ok("none: librato/dogstatsd", "foo#tag1=foo,tag3=bing:100|c|#tag1:bar,#tag2:baz", NONE,
                vec![c("foo#tag1=foo,tag3=bing", 100.0)]),
            // ---- TestDisableParsingDogstatsdLineToEvents ----
            ok("no dogstatsd: librato still parsed", "foo#tag1=bar,tag2=baz:100|c", NO_DOG, vec![c("foo", 100.0).t(T12)]),
            ok("no dogstatsd: tags ignored", "foo:100|c|#tag1:bar,tag2:baz", NO_DOG, vec![c("foo", 100.0)]),
            // statsd_exporter checks for `|#` even when DogStatsD tags are off.
            bad("no dogstatsd: still mixed", b"foo#tag1=foo,tag3=bing:100|c|#tag1:bar", NO_DOG, &[MixedTaggingStyles]),
            // ---- TestDisableParsingInfluxdbLineToEvents ----
            ok("no influxdb: influx stays in name", "foo,tag1=bar,tag2=baz:100|c", NO_INFLUX,
                vec![c("foo,tag1=bar,tag2=baz", 100.0)]),
            ok("no influxdb: librato", "foo#tag1=bar,tag2=baz:100|c", NO_INFLUX, vec![c("foo", 100.0).t(T12)]),
            ok("no influxdb: signalfx", "foo.[tag1=bar,tag2=baz]test:100|c", NO_INFLUX, vec![c("foo.test", 100.0).t(T12)]),
            // ---- TestDisableParsingSignalfxLineToEvents: brackets read as InfluxDB ----
            ok("no signalfx: parsed as influxdb", "foo.[tag1=bar,tag2=baz]test:100|c", NO_SFX,
                vec![c("foo.[tag1=bar", 100.0).t(&[("tag2", "baz]test")])]),
            ok("no signalfx: tags at end", "foo.test[tag1=bar,tag2=baz]:100|c", NO_SFX,
                vec![c("foo.test[tag1=bar", 100.0).t(&[("tag2", "baz]")])]),
            ok("no signalfx: tags at beginning", "[tag1=bar,tag2=baz]foo.test:100|c", NO_SFX,
                vec![c("[tag1=bar", 100.0).t(&[("tag2", "baz]foo.test")])]),
            ok("no signalfx: no tags", "foo.[]test:100|c", NO_SFX, vec![c("foo.[]test", 100.0)]),
            ok("no signalfx: non-kv tags", "foo.[tag1,tag2]test:100|c", NO_SFX, vec![c("foo.[tag1", 100.0)]).ts(0, 1),
            ok("no signalfx: missing closing bracket", "[tag1=bar,tag2=bazfoo.test:100|c", NO_SFX,
                vec![c("[tag1=bar", 100.0).t(&[("tag2", "bazfoo.test")])]),
            ok("no signalfx: missing opening bracket", "tag1=bar,tag2=baz]foo.test:100|c", NO_SFX,
                vec![c("tag1=bar", 100.0).t(&[("tag2", "baz]foo.test")])]),
            // ---- TestDisableParsingLibratoLineToEvents: `#` stays, `,` is InfluxDB ----
            ok("no librato: parsed as influxdb", "foo#tag1=bar,tag2=baz:100|c", NO_LIBRATO,
                vec![c("foo#tag1=bar", 100.0).t(&[("tag2", "baz")])]),
            ok("no librato: keys", "foo#09digits=0,tag.with.dots=1:100|c", NO_LIBRATO,
                vec![c("foo#09digits=0", 100.0).t(&[("tag_with_dots", "1")])]),
            ok("no librato: datadog", "foo:100|c|#tag1:bar,tag2:baz", NO_LIBRATO, vec![c("foo", 100.0).t(T12)]),

            // ---- our additions ----
            ok("set", "users:alice|s", D, vec![set("users", "alice")]),
            ok("set numeric member", "users:42|s", D, vec![set("users", "42")]),
            ok("set with rate and tags", "users:bob|s|@0.5|#k:v", D, vec![set("users", "bob").t(&[("k", "v")])]),
            bad("set empty member", b"users:|s", D, &[MalformedValue]),
            ok("multi-metric", "a:1|c:2|ms:3|g", D, vec![c("a", 1.0), o("a", 0.002), g("a", 3.0)]),
            mixed("multi-metric with a bad sample", "a:1|c:x|g:3|g:|c", D,
                vec![c("a", 1.0), g("a", 3.0)], &[MalformedValue, MalformedValue]),
            mixed("multi-metric without type", "a:1|c:2", D, vec![c("a", 1.0)], &[MalformedComponent]),
            ok("multi-metric shares name tags", "a,k=v:1|c:2|g", D,
                vec![c("a", 1.0).t(&[("k", "v")]), g("a", 2.0).t(&[("k", "v")])]).ts(1, 0),
            // DogStatsD tags disable multi-metric: one sample of type "c:2".
            bad("multi-metric disabled by dogstatsd tags", b"a:1|c:2|ms|#t:v", D, &[InvalidSampleFactor]),
            ok("container id without tags", "a:1|c|c:abc", D, vec![c("a", 1.0)]),
            ok("container id with colons without tags", "a:1|c|c:sha256:ab:cd", CID,
                vec![c("a", 1.0).t(&[("container_id", "sha256:ab:cd")])]),
            // The `:` after a container id belongs to the id, so "x:2|g" is
            // the id followed by an unknown section (statsd_exporter:
            // malformed_container_id, malformed_component, then gauge 2).
            bad("colon after container id is part of the id", b"a:1|c|c:x:2|g", D, &[InvalidSampleFactor]),
            ok("external data and cardinality", "a:1|c|e:it-false,cn-x,pu-y|card:low", D, vec![c("a", 1.0)]),
            ok("external data with colons", "a:1|c|e:a:b:c|#k:v", D, vec![c("a", 1.0).t(&[("k", "v")])]),
            ok("timestamp", "a:1|c|T1656581400", D, vec![c("a", 1.0)]),
            ok("everything (8 parts)", "a:1|c|@1|#k:v|T1|e:x|card:low|c:id", CID,
                vec![c("a", 1.0).t(&[("k", "v"), ("container_id", "id")])]),
            bad("too many parts", b"a:1|c|#a:b|#c:d|#e:f|#g:h|#i:j|#k:l|#m:n", D, &[MalformedComponent]),
            bad("bad timestamp", b"a:1|c|Tabc", D, &[MalformedTimestamp]),
            bad("empty timestamp", b"a:1|c|T", D, &[MalformedTimestamp]),
            bad("unknown section", b"a:1|c|x", D, &[InvalidSampleFactor]),
            bad("bare card section", b"a:1|c|card", D, &[MalformedContainerId]),
            bad("bare e section", b"a:1|c|e", D, &[InvalidSampleFactor]),
            bad("empty type", b"a:1|", D, &[IllegalEvent]),
            bad("empty middle part", b"a:1|c||@0.5", D, &[MalformedComponent]),
            bad("value before type error", b"a:x|t", D, &[MalformedValue]),
            ok("negative counter kept", "x:-1|c", D, vec![c("x", -1.0)]),
            ok("relative gauge increment", "g:+5|g", D, vec![g_rel("g", 5.0)]),
            ok("exponent", "a:1e3|c", D, vec![c("a", 1000.0)]),
            ok("negative exponent timer", "a:1.5E-1|h", D, vec![o("a", 0.15)]),
            ok("leading dot", "a:.5|g", D, vec![g("a", 0.5)]),
            bad("nan", b"a:NaN|g", D, &[NonFiniteValue]),
            bad("inf", b"a:inf|c", D, &[NonFiniteValue]),
            bad("-infinity", b"a:-Infinity|ms", D, &[NonFiniteValue]),
            bad("overflow", b"a:1e999|c", D, &[NonFiniteValue]),
            bad("overflow after rate", b"a:1e308|c|@0.01", D, &[NonFiniteValue]),
            bad("hex value", b"a:0x10|c", D, &[MalformedValue]),
            bad("space in value", b"a: 1|c", D, &[MalformedValue]),
            bad("empty value", b"a:|c", D, &[MalformedValue]),
            bad("rate negative", b"a:1|c|@-0.5", D, &[InvalidSampleFactor]),
            bad("rate above one", b"a:1|c|@1.5", D, &[InvalidSampleFactor]),
            bad("rate nan", b"a:1|ms|@NaN", D, &[InvalidSampleFactor]),
            bad("rate inf", b"a:1|ms|@inf", D, &[InvalidSampleFactor]),
            bad("rate empty", b"a:1|h|@", D, &[InvalidSampleFactor]),
            bad("rate denormal", b"a:1|h|@1e-320", D, &[InvalidSampleFactor]),
            bad("rate zero on gauge", b"a:1|g|@0", D, &[InvalidSampleFactor]),
            ok("rate one", "a:1|ms|@1", D, vec![o("a", 0.001)]),
            ok("rate with exponent", "a:3|c|@5e-1", D, vec![c("a", 6.0)]),
            ok("two rates multiply", "a:1|c|@0.5|@0.5", D, vec![c("a", 4.0)]),
            mixed("extended aggregation with a bad value", "a:1:x:3|h", D,
                vec![o("a", 1.0), o("a", 3.0)], &[MalformedValue]),
            bad("extended aggregation with a bad rate", b"a:1:2|ms|@2", D, &[InvalidSampleFactor, InvalidSampleFactor]),
            bad("extended aggregation without type", b"a:1:2", D, &[NotEnoughPartsAfterColon]),
            mixed("extended aggregation with empty value", "a:1::2|d", D,
                vec![o("a", 1.0), o("a", 2.0)], &[MalformedValue]),
            bad("empty name after signalfx", b"[a=b]:1|c", D, &[EmptyName]),
            bad("empty name after influxdb", b",a=b:1|c", D, &[EmptyName]),
            bad("empty name after librato", b"#a=b:1|c", D, &[EmptyName]),
            ok("duplicate dogstatsd keys: last wins", "a:1|c|#k:1,j:0,k:2", D,
                vec![c("a", 1.0).t(&[("k", "2"), ("j", "0")])]).ts(3, 0),
            ok("duplicate influx keys: last wins", "a,k=1,k=2:1|c", D, vec![c("a", 1.0).t(&[("k", "2")])]),
            ok("keys escaped to the same name", "a:1|c|#a.b:1,a_b:2", D, vec![c("a", 1.0).t(&[("a_b", "2")])]),
            ok("user container_id tag and section", "a:1|c|#container_id:u|c:sect", CID,
                vec![c("a", 1.0).t(&[("container_id", "sect")])]),
            ok("influx trailing comma", "a,k=v,:1|c", D, vec![c("a", 1.0).t(&[("k", "v")])]).ts(1, 0),
            ok("influx empty middle tag", "a,k=v,,j=w:1|c", D, vec![c("a", 1.0).t(&[("k", "v"), ("j", "w")])]).ts(2, 1),
            ok("influx empty key and value", "a,=v,k=:1|c", D, vec![c("a", 1.0)]).ts(0, 2),
            ok("dogstatsd lone hash", "a:1|c|#", D, vec![c("a", 1.0)]).ts(0, 0),
            ok("dogstatsd hash after comma", "a:1|c|#k:v,#", D, vec![c("a", 1.0).t(&[("k", "v")])]).ts(1, 1),
            ok("dogstatsd commas only", "a:1|c|#,", D, vec![c("a", 1.0)]).ts(0, 1),
            ok("dogstatsd two tag sections", "a:1|c|#k:v|#j:w", D, vec![c("a", 1.0).t(&[("k", "v"), ("j", "w")])]),
            ok("tag value verbatim", "a:1|c|#my.key:Some Value/x=y", D,
                vec![c("a", 1.0).t(&[("my_key", "Some Value/x=y")])]),
            ok("signalfx reversed brackets", "a]b[c:1|c", D, vec![c("a]b[c", 1.0)]).ts(0, 1),
            ok("signalfx reversed then pair", "a]b[k=v]c:1|c", D, vec![c("a]bc", 1.0).t(&[("k", "v")])]),
            ok("signalfx wins over influx", "foo,a=b[c=d]:1|c", D, vec![c("foo,a=b", 1.0).t(&[("c", "d")])]),
            ok("librato before influx", "foo#a=b,c=d:1|c", D, vec![c("foo", 1.0).t(&[("a", "b"), ("c", "d")])]),
            ok("influx before librato", "foo,a=b#c=d:1|c", D, vec![c("foo", 1.0).t(&[("a", "b#c=d")])]),
            ok("signalfx empty no mixing", "foo[]:1|c|#k:v", D, vec![c("foo", 1.0).t(&[("k", "v")])]),
            ok("invalid name tags do not mix", "foo#bad:1|c|#k:v", D, vec![c("foo", 1.0).t(&[("k", "v")])]).ts(1, 1),
            ok("NUL in name", "a\0b:1|c", D, vec![c("a\0b", 1.0)]),
            ok("multibyte name", "é.ü:1|c", D, vec![c("é.ü", 1.0)]),
            ok("multibyte tags", "a,ключ=значение:1|c", D, vec![c("a", 1.0).t(&[("____", "значение")])]),
            ok("multibyte signalfx", "ä[k=ö]ü:1|c", D, vec![c("äü", 1.0).t(&[("k", "ö")])]),
            bad("carriage return kept by parse_line", b"a:1|c\r", D, &[IllegalEvent]),
            ok("airflow negative counter", "airflow.dag_processing.processes:-1|c", D,
                vec![c("airflow.dag_processing.processes", -1.0)]),
            ok("airflow sampled gauge", "airflow.scheduler.dag_bag.cache_size:2|g|@0.1|#env:corpus,deployment:airflow-run", D,
                vec![g("airflow.scheduler.dag_bag.cache_size", 2.0).t(&[("env", "corpus"), ("deployment", "airflow-run")])]),
        ]
    }

    fn close(a: f64, b: f64) -> bool {
        a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
    }

    fn same_value(a: &SampleValue, b: &SampleValue) -> bool {
        match (a, b) {
            (SampleValue::Counter(x), SampleValue::Counter(y)) => close(*x, *y),
            (
                SampleValue::Gauge {
                    value: x,
                    relative: rx,
                },
                SampleValue::Gauge {
                    value: y,
                    relative: ry,
                },
            ) => close(*x, *y) && rx == ry,
            (
                SampleValue::Observer {
                    value: x,
                    weight: wx,
                },
                SampleValue::Observer {
                    value: y,
                    weight: wy,
                },
            ) => close(*x, *y) && close(*wx, *wy),
            (SampleValue::Set, SampleValue::Set) => true,
            _ => false,
        }
    }

    #[test]
    fn table() {
        let cases = cases();
        let mut failures = Vec::new();
        for case in &cases {
            let mut out = Vec::new();
            let stats = parse_line(case.input, &case.opts, &mut out);
            let mut problems = Vec::new();
            if stats.errors != case.errors {
                problems.push(format!("errors {:?}, want {:?}", stats.errors, case.errors));
            }
            if out.len() != case.samples.len() {
                problems.push(format!(
                    "{} samples, want {}: {out:?}",
                    out.len(),
                    case.samples.len()
                ));
            }
            for (got, want) in out.iter().zip(&case.samples) {
                let mut got_tags: Vec<(&str, &str)> = got
                    .tags
                    .iter()
                    .map(|(k, v)| (k.as_ref(), v.as_ref()))
                    .collect();
                let mut want_tags = want.tags.clone();
                got_tags.sort();
                want_tags.sort();
                if got.name != want.name
                    || !same_value(&got.value, &want.value)
                    || got.set_member != want.member
                    || got_tags != want_tags
                {
                    problems.push(format!("got {got:?}, want {want:?}"));
                }
            }
            if stats.samples as usize != out.len() {
                problems.push(format!("stats.samples {} != {}", stats.samples, out.len()));
            }
            if let Some((tags, tag_errors)) = case.tag_stats {
                if (stats.tags, stats.tag_errors) != (tags, tag_errors) {
                    problems.push(format!(
                        "tags/tag_errors {}/{}, want {tags}/{tag_errors}",
                        stats.tags, stats.tag_errors
                    ));
                }
            }
            if !problems.is_empty() {
                failures.push(format!(
                    "{} ({:?}): {}",
                    case.name,
                    String::from_utf8_lossy(case.input),
                    problems.join("; ")
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} cases failed:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn table_covers_every_reason() {
        let cases = cases();
        for reason in Reject::ALL {
            assert!(
                cases.iter().any(|c| c.errors.contains(reason)),
                "no table case for {reason:?}"
            );
        }
    }

    #[test]
    fn reasons_are_unique_and_stable() {
        let reasons: Vec<&str> = Reject::ALL.iter().map(|r| r.reason()).collect();
        let mut sorted = reasons.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), reasons.len());
        for name in [
            "malformed_line",
            "mixed_tagging_styles",
            "not_enough_parts_after_colon",
            "invalid_extended_aggregate_type",
            "malformed_component",
            "malformed_value",
            "invalid_sample_factor",
            "malformed_container_id",
            "illegal_event",
            "invalid_utf8",
            "non_finite_value",
            "empty_name",
        ] {
            assert!(reasons.contains(&name), "{name}");
        }
    }

    #[test]
    fn default_options() {
        assert_eq!(ParseOptions::default(), D);
    }

    #[test]
    fn plain_line_does_not_allocate() {
        let mut out = Vec::with_capacity(4);
        let stats = parse_line(b"airflow.scheduler_heartbeat:1|c", &D, &mut out);
        assert_eq!(stats.errors.capacity(), 0);
        assert_eq!(stats.samples, 1);
        assert_eq!(out.len(), 1);
        assert!(matches!(
            out[0].name,
            Cow::Borrowed("airflow.scheduler_heartbeat")
        ));
        assert_eq!(out[0].tags.capacity(), 0);
        // Names stay borrowed when the tag section is at an end of the name.
        for line in [
            &b"a,k=v:1|c"[..],
            b"a#k=v:1|c",
            b"a[k=v]:1|c",
            b"[k=v]a:1|c",
            b"a:1|c|#k:v",
        ] {
            out.clear();
            parse_line(line, &D, &mut out);
            assert!(
                matches!(out[0].name, Cow::Borrowed("a")),
                "{:?}",
                out[0].name
            );
            assert!(matches!(out[0].tags[0].0, Cow::Borrowed("k")));
            assert!(matches!(out[0].tags[0].1, Cow::Borrowed("v")));
        }
        out.clear();
        parse_line(b"a[k=v]b:1|c", &D, &mut out);
        assert!(matches!(&out[0].name, Cow::Owned(n) if n == "ab"));
    }

    #[test]
    fn split_lines_drops_empty_and_cr() {
        let got: Vec<&[u8]> = split_lines(b"a:1|c\nb:2|g\r\n\n\r\nc:3|ms\r\r\n\n").collect();
        assert_eq!(got, vec![&b"a:1|c"[..], b"b:2|g", b"c:3|ms\r"]);
        assert_eq!(split_lines(b"").count(), 0);
        assert_eq!(split_lines(b"\n\r\n").count(), 0);
        assert_eq!(
            split_lines(b"x:1|c").collect::<Vec<_>>(),
            vec![&b"x:1|c"[..]]
        );
    }

    #[test]
    fn many_duplicate_tags() {
        // Exercises the sort-based dedup path (more than 32 tags).
        let mut line = String::from("a:1|c|#");
        for i in 0..100 {
            line.push_str(&format!("k{}:{},", i % 10, i));
        }
        let mut out = Vec::new();
        let stats = parse_line(line.as_bytes(), &D, &mut out);
        assert!(stats.errors.is_empty());
        assert_eq!(stats.tags, 100);
        let mut tags: Vec<(String, String)> = out[0]
            .tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        tags.sort();
        let want: Vec<(String, String)> = (0..10)
            .map(|k| (format!("k{k}"), format!("{}", 90 + k)))
            .collect();
        assert_eq!(tags, want);
    }

    #[test]
    fn corpus_lines_all_parse() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus");
        let files = [
            "airflow-2.11.2-datadog.jsonl",
            "airflow-2.11.2-influxdb.jsonl",
            "airflow-2.11.2-plain.jsonl",
            "airflow-3.3.2-datadog.jsonl",
            "airflow-3.3.2-influxdb.jsonl",
            "airflow-3.3.2-plain.jsonl",
        ];
        let mut bad = Vec::new();
        let mut lines = 0usize;
        let mut samples = 0usize;
        for file in files {
            let text =
                std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            for json in text.lines().filter(|l| !l.trim().is_empty()) {
                let v: serde_json::Value = serde_json::from_str(json).expect("corpus JSON");
                let data = v["data"].as_str().expect("data field");
                for line in split_lines(data.as_bytes()) {
                    lines += 1;
                    let mut out = Vec::new();
                    let stats = parse_line(line, &D, &mut out);
                    samples += out.len();
                    if out.is_empty() || !stats.errors.is_empty() || stats.tag_errors != 0 {
                        bad.push(format!(
                            "{file}: {:?} -> {:?}",
                            String::from_utf8_lossy(line),
                            stats
                        ));
                    }
                    for s in &out {
                        assert!(s.value.value().is_finite() && !s.name.is_empty());
                    }
                }
            }
        }
        assert_eq!(lines, 13_954 + 5_862 + 6_584 + 22_421 + 9_028 + 9_982);
        assert!(samples >= lines);
        assert!(
            bad.is_empty(),
            "{} corpus lines failed:\n{}",
            bad.len(),
            bad.join("\n")
        );
    }

    fn check_invariants(line: &[u8], opts: &ParseOptions) -> Result<(), TestCaseError> {
        let mut out = Vec::new();
        let stats = parse_line(line, opts, &mut out);
        for s in &out {
            prop_assert!(!s.name.is_empty());
            let v = s.value.value();
            prop_assert!(v.is_finite(), "value {v}");
            if let SampleValue::Observer { weight, .. } = s.value {
                prop_assert!(weight.is_finite() && weight > 0.0, "weight {weight}");
            }
            if matches!(s.value, SampleValue::Set) {
                prop_assert!(!s.set_member.is_empty());
            }
            for (k, _) in &s.tags {
                prop_assert!(!k.is_empty());
            }
            let mut keys: Vec<&str> = s.tags.iter().map(|(k, _)| k.as_ref()).collect();
            keys.sort();
            let n = keys.len();
            keys.dedup();
            prop_assert_eq!(n, keys.len(), "duplicate tag keys");
        }
        prop_assert_eq!(stats.samples as usize, out.len());
        // A line is rejected as a whole at most once.
        let line_level = [
            Reject::MalformedLine,
            Reject::MixedTaggingStyles,
            Reject::NotEnoughPartsAfterColon,
            Reject::InvalidExtendedAggregateType,
            Reject::InvalidUtf8,
            Reject::EmptyName,
        ];
        if stats.errors.iter().any(|e| line_level.contains(e)) {
            prop_assert!(out.is_empty() && stats.errors.len() == 1);
        }
        Ok(())
    }

    fn opts_from(b: [bool; 5]) -> ParseOptions {
        ParseOptions {
            dogstatsd_tags: b[0],
            influxdb_tags: b[1],
            librato_tags: b[2],
            signalfx_tags: b[3],
            container_id_label: b[4],
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_bytes_never_panic(line in proptest::collection::vec(any::<u8>(), 0..400), o in any::<[bool; 5]>()) {
            check_invariants(&line, &opts_from(o))?;
        }

        #[test]
        fn statsd_like_text_never_panics(
            line in "[a-cé.#,=:|@\\[\\]0-9+\\-eEinfaNTxsgmhdc\0 ]{0,80}",
            o in any::<[bool; 5]>(),
        ) {
            check_invariants(line.as_bytes(), &opts_from(o))?;
        }

        /// A datagram checked for UTF-8 once splits into the lines the
        /// byte path gives, and each parses the same.
        #[test]
        fn text_lines_are_the_byte_lines(text in "[a-cé.:|0-9\r\n]{0,80}") {
            let by_text: Vec<&str> = split_text_lines(&text).collect();
            let by_bytes: Vec<&[u8]> = split_lines(text.as_bytes()).collect();
            prop_assert_eq!(by_text.len(), by_bytes.len());
            for (t, b) in by_text.iter().zip(&by_bytes) {
                prop_assert_eq!(t.as_bytes(), *b);
                let (mut from_text, mut from_bytes) = (Vec::new(), Vec::new());
                let opts = ParseOptions::default();
                let st = parse_text_line(t, &opts, &mut from_text);
                let sb = parse_line(b, &opts, &mut from_bytes);
                prop_assert_eq!((st.samples, st.errors), (sb.samples, sb.errors));
                prop_assert_eq!(from_text, from_bytes);
            }
        }

        #[test]
        fn the_integer_shortcut_parses_like_the_float_parser(s in "[0-9]{0,20}|[-+0-9.eE]{0,8}") {
            prop_assert_eq!(parse_number(&s), s.parse::<f64>().ok());
        }

        /// The simple path is the general one, wherever it applies.
        #[test]
        fn simple_lines_parse_as_the_general_path_does(
            name in "[a-z.]{0,6}",
            rest in "[0-9.+-]{0,4}[|]?(c|g|ms|s|h|d|x|c@0.5|)",
        ) {
            let opts = ParseOptions::default();
            let run = |simple: bool| {
                let mut out = Vec::new();
                let cx = SampleCx {
                    name: Cow::Borrowed(name.as_str()),
                    name_tags: Vec::new(),
                    opts: &opts,
                    out: &mut out,
                    stats: LineStats::default(),
                };
                let stats = match simple_value_and_type(&rest) {
                    Some((value, ty)) if simple => cx.simple(value, ty),
                    _ => cx.general(&rest),
                };
                (out, stats)
            };
            prop_assert_eq!(run(true), run(false));
        }

        #[test]
        fn split_lines_yields_clean_lines(data in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()], 0..200)) {
            for line in split_lines(&data) {
                prop_assert!(!line.is_empty());
                prop_assert!(!line.contains(&b'\n'));
                // Exactly one trailing '\r' is removed from each line.
                let end = line.as_ptr() as usize - data.as_ptr() as usize + line.len();
                let rest = (data.get(end).copied(), data.get(end + 1).copied());
                prop_assert!(matches!(rest, (None, _) | (Some(b'\n'), _) | (Some(b'\r'), None | Some(b'\n'))));
            }
            // The same lines as the plain definition.
            let plain: Vec<&[u8]> = data
                .split(|&b| b == b'\n')
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                .filter(|l| !l.is_empty())
                .collect();
            prop_assert_eq!(split_lines(&data).collect::<Vec<_>>(), plain);
        }
    }
}
