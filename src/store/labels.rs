//! A series' label set, stored as its exposition text in one allocation.
//!
//! `/metrics` reads every series' labels on each scrape (to sort and to
//! write them). With one allocation per name and per value that was most of
//! a 72k-series scrape, spent on cache misses. Here the set is the text that
//! goes between the braces, `k="v",k2="v2"` with values escaped, so writing
//! it is one copy and reading it touches one allocation. Pairs are parsed
//! back on demand (cardinality tracking, sorting, tests), which is cheap
//! because label names never contain `=` or `"` (they are validated or
//! escaped before they get here) and escaped values never contain a bare `"`.

use std::borrow::{Borrow, Cow};
use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

/// Label pairs sorted by name; shared with snapshots without copying.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Labels(Arc<str>);

impl Default for Labels {
    fn default() -> Self {
        Labels(Arc::from(""))
    }
}

/// Writes `v` escaped as a Prometheus label value (`\\`, `\"`, `\n`).
fn escape_label_value(out: &mut String, v: &str) {
    // Label values rarely need escaping: copy runs between special bytes.
    let mut rest = v;
    while let Some(i) = memchr::memchr3(b'\\', b'"', b'\n', rest.as_bytes()) {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'\\' => "\\\\",
            b'"' => "\\\"",
            _ => "\\n",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Labels {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        let mut text = String::new();
        for (k, v) in pairs {
            let k = k.as_ref();
            debug_assert!(!k.contains(['=', '"', ',']), "label name {k:?}");
            if !text.is_empty() {
                text.push(',');
            }
            text.push_str(k);
            text.push_str("=\"");
            escape_label_value(&mut text, v.as_ref());
            text.push('"');
        }
        Labels(text.into())
    }
}

impl Labels {
    /// The same allocation (not merely equal).
    pub fn ptr_eq(&self, other: &Labels) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The text between the braces: `k="v",k2="v2"`, values escaped.
    pub fn rendered(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.iter_raw().count()
    }

    /// The pairs, values unescaped (borrowed unless they held an escape).
    pub fn iter(&self) -> impl Iterator<Item = (&str, Cow<'_, str>)> {
        self.iter_raw().map(|(k, raw, escaped)| {
            let v = if escaped {
                Cow::Owned(unescape(raw))
            } else {
                Cow::Borrowed(raw)
            };
            (k, v)
        })
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// (name, escaped value, whether it holds an escape) per pair.
    fn iter_raw(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        let mut rest: &str = &self.0;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            // Names hold no `=`: the first one ends the name.
            let eq = memchr::memchr(b'=', rest.as_bytes())?;
            let key = &rest[..eq];
            let value = rest.get(eq + 2..).unwrap_or("");
            let bytes = value.as_bytes();
            // The closing quote is the first `"` not escaped by a `\`.
            let (mut i, mut escaped) = (0, false);
            while let Some(j) = memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                i += j;
                if bytes[i] == b'"' {
                    break;
                }
                escaped = true;
                i += 2;
            }
            let i = i.min(value.len());
            let raw = &value[..i];
            rest = value.get(i + 1..).unwrap_or("");
            rest = rest.strip_prefix(',').unwrap_or(rest);
            Some((key, raw, escaped))
        })
    }

    /// The same text: the same allocation (no read), else equal text.
    pub fn same(&self, other: &Labels) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }

    /// Whether these are exactly `wanted` (same names, values and order),
    /// compared against the stored text without building it.
    pub fn matches(&self, wanted: &[(&str, &str)]) -> bool {
        let mut rest = self.0.as_bytes();
        let mut scratch = String::new();
        for (i, (k, v)) in wanted.iter().enumerate() {
            let escaped = if memchr::memchr3(b'\\', b'"', b'\n', v.as_bytes()).is_some() {
                scratch.clear();
                escape_label_value(&mut scratch, v);
                scratch.as_bytes()
            } else {
                v.as_bytes()
            };
            let sep: &[u8] = if i == 0 { b"" } else { b"," };
            let next = rest
                .strip_prefix(sep)
                .and_then(|r| r.strip_prefix(k.as_bytes()))
                .and_then(|r| r.strip_prefix(b"=\""))
                .and_then(|r| r.strip_prefix(escaped))
                .and_then(|r| r.strip_prefix(b"\""));
            match next {
                Some(r) => rest = r,
                None => return false,
            }
        }
        rest.is_empty()
    }
}

/// client_golang's MetricSorter: fewer labels first, then label values in
/// label-name order.
pub fn exposition_cmp(a: &Labels, b: &Labels) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| {
        for ((_, va), (_, vb)) in a.iter().zip(b.iter()) {
            match va.cmp(&vb) {
                Ordering::Equal => continue,
                o => return o,
            }
        }
        Ordering::Equal
    })
}

/// The positions of `sets` in `exposition_cmp` order, fast: each set's
/// values are copied once into one buffer, `\0`-separated, and the sort
/// compares those contiguous keys (one `memcmp`) instead of parsing both
/// sets on each comparison. `\0` sorts before every other byte, so the
/// order is the same as value by value, provided no value holds a `\0`
/// (then the comparator is used directly).
pub fn exposition_order<L: Borrow<Labels>>(sets: &[L]) -> Vec<u32> {
    let mut keys = Vec::new();
    // (pairs, key start, key end, position); byte offsets are `usize`: a
    // family's label text is not bounded by 4 GiB when limits are off.
    let mut order: Vec<(usize, usize, usize, u32)> = Vec::with_capacity(sets.len());
    let mut has_nul = false;
    for (i, l) in sets.iter().enumerate() {
        let start = keys.len();
        let mut n = 0;
        for (_, v) in l.borrow().iter() {
            has_nul |= memchr::memchr(0, v.as_bytes()).is_some();
            keys.extend_from_slice(v.as_bytes());
            keys.push(0);
            n += 1;
        }
        order.push((n, start, keys.len(), i as u32));
    }
    if has_nul {
        let mut idx: Vec<u32> = (0..sets.len() as u32).collect();
        idx.sort_by(|&a, &b| exposition_cmp(sets[a as usize].borrow(), sets[b as usize].borrow()));
        return idx;
    }
    let key = |&(_, start, end, _): &(usize, usize, usize, u32)| &keys[start..end];
    // Label sets are unique within a family: stability does not matter.
    order.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| key(a).cmp(key(b))));
    order.into_iter().map(|(_, _, _, i)| i).collect()
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn renders_and_parses_back() {
        let cases: &[&[(&str, &str)]] = &[
            &[],
            &[("a", "")],
            &[("a", "x"), ("b", "y")],
            &[("dag_id", "etl.daily-v2"), ("state", "success")],
            &[("a", "q\"uote"), ("b", "back\\slash"), ("c", "new\nline")],
            &[("a", "\\\""), ("b", "\\"), ("c", "\"")],
            &[("a", "x=\"y\",b=\"z")],
            &[("a", "ünï©ødé"), ("b", "\0")],
        ];
        for pairs in cases {
            let labels: Labels = pairs.iter().copied().collect();
            let back: Vec<(String, String)> = labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.into_owned()))
                .collect();
            let want: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(back, want, "{labels:?}");
            assert_eq!(labels.len(), pairs.len());
            assert_eq!(labels.is_empty(), pairs.is_empty());
            assert!(labels.matches(pairs), "{labels:?}");
        }
        let l: Labels = [("a", "q\"uote"), ("b", "new\nline")].into_iter().collect();
        assert_eq!(l.rendered(), r#"a="q\"uote",b="new\nline""#);
        assert_eq!(l.get("b").as_deref(), Some("new\nline"));
        assert_eq!(l.get("c"), None);
    }

    #[test]
    fn matches_only_the_same_pairs() {
        let l: Labels = [("a", "ab"), ("b", "x\"")].into_iter().collect();
        let no: &[&[(&str, &str)]] = &[
            &[],
            &[("a", "ab")],
            &[("a", "a"), ("b", "x\"")],
            &[("a", "abc"), ("b", "x\"")],
            &[("a", "ab"), ("b", "x")],
            &[("a", "ab"), ("b", "x\\\"")],
            &[("aa", "ab"), ("b", "x\"")],
            &[("a", "ab"), ("b", "x\""), ("c", "")],
            &[("b", "x\""), ("a", "ab")],
        ];
        for w in no {
            assert!(!l.matches(w), "{w:?}");
        }
        assert!(l.matches(&[("a", "ab"), ("b", "x\"")]));
    }

    proptest! {
        #[test]
        fn the_keyed_order_is_client_golangs(
            sets in proptest::collection::vec(
                proptest::collection::vec("[ab\\x00\"]{0,3}", 0..3), 0..40)
        ) {
            let sets: Vec<Labels> = sets
                .iter()
                .map(|values| values.iter().enumerate().map(|(k, v)| (format!("l{k}"), v)).collect())
                .collect();
            let mut want = sets.clone();
            want.sort_by(exposition_cmp);
            let got: Vec<Labels> =
                exposition_order(&sets).iter().map(|&i| sets[i as usize].clone()).collect();
            // Duplicate label sets may come in either order: compare the sets.
            prop_assert_eq!(got, want);
        }

        #[test]
        fn any_values_round_trip_and_match_only_themselves(
            a in proptest::collection::vec(("[a-c]{1,2}", ".{0,4}"), 0..4),
            b in proptest::collection::vec(("[a-c]{1,2}", ".{0,4}"), 0..4),
        ) {
            let la: Labels = a.iter().map(|(k, v)| (k, v)).collect();
            let back: Vec<(String, String)> =
                la.iter().map(|(k, v)| (k.to_string(), v.into_owned())).collect();
            prop_assert_eq!(&back, &a);
            fn refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
                v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
            }
            prop_assert!(la.matches(&refs(&a)));
            prop_assert_eq!(la.matches(&refs(&b)), a == b);
        }
    }
}
