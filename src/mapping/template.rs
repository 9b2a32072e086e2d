//! `$n` / `${n}` templates for metric names and label values.
//!
//! statsd_exporter expands templates in two different ways, and so do we:
//!
//! * glob rules use `fsm.TemplateFormatter`: every match of
//!   `\$\{?([a-zA-Z0-9_\$]+)\}?` whose inner text is a number between 1 and
//!   the number of `*` in the pattern becomes that capture; every other match
//!   (`$0`, `$7` with only two stars, `$1_foo`, …) becomes the empty string.
//! * regex rules use Go's `regexp.Expand`: `$$` is a literal `$`, `$name` takes
//!   the longest run of letters, digits and `_`, `${name}` is braced, numbers
//!   index groups (`$0` is the whole match), unknown names expand to nothing,
//!   and a malformed reference is kept as a literal `$`.
//!
//! Both are compiled once at load time into a list of pieces.

use regex::Regex;
use std::sync::OnceLock;

/// Byte span of a capture in the metric name; `None` when the group did not
/// participate (expands to "").
pub(crate) type Span = Option<(usize, usize)>;

#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Lit(String),
    /// Index into the capture list handed to `expand_into`.
    Cap(usize),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

fn glob_ref_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\$\{?([a-zA-Z0-9_\$]+)\}?").expect("static regex"))
}

impl Template {
    /// Compiles a template for a glob rule with `capture_count` stars.
    /// Capture `$n` refers to the n-th star, i.e. index `n - 1`.
    pub(crate) fn glob(text: &str, capture_count: usize) -> Template {
        let mut pieces = Vec::new();
        let mut last = 0;
        for caps in glob_ref_re().captures_iter(text) {
            let whole = caps.get(0).expect("group 0");
            push_lit(&mut pieces, &text[last..whole.start()]);
            last = whole.end();
            // Go: strconv.Atoi; the class cannot contain a sign.
            let inner = &caps[1];
            if inner.bytes().all(|b| b.is_ascii_digit()) {
                if let Ok(n) = inner.parse::<usize>() {
                    if n >= 1 && n <= capture_count {
                        pieces.push(Piece::Cap(n - 1));
                    }
                }
            }
        }
        push_lit(&mut pieces, &text[last..]);
        Template { pieces }
    }

    /// Compiles a template for a regex rule, with Go `regexp.Expand`
    /// semantics. Named groups are resolved against `re` now.
    pub(crate) fn regex(text: &str, re: &Regex) -> Template {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(pos) = rest.find('$') {
            push_lit(&mut pieces, &rest[..pos]);
            rest = &rest[pos + 1..];
            if let Some(after) = rest.strip_prefix('$') {
                push_lit(&mut pieces, "$");
                rest = after;
                continue;
            }
            match extract(rest) {
                None => push_lit(&mut pieces, "$"),
                Some((name, num, after)) => {
                    rest = after;
                    match num {
                        Some(n) => {
                            if n < re.captures_len() {
                                pieces.push(Piece::Cap(n));
                            }
                        }
                        None => {
                            if let Some(i) = re.capture_names().position(|g| g == Some(name)) {
                                pieces.push(Piece::Cap(i));
                            }
                        }
                    }
                }
            }
        }
        push_lit(&mut pieces, rest);
        Template { pieces }
    }

    /// The text when the template has no references.
    pub(crate) fn as_static(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [] => Some(""),
            [Piece::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// Appends the expansion to `out`. `caps[i]` is a span of `src`.
    pub(crate) fn expand_into(&self, out: &mut String, src: &str, caps: &[Span]) {
        for p in &self.pieces {
            match p {
                Piece::Lit(s) => out.push_str(s),
                Piece::Cap(i) => {
                    if let Some(Some((a, b))) = caps.get(*i) {
                        out.push_str(&src[*a..*b]);
                    }
                }
            }
        }
    }

    pub(crate) fn expand(&self, src: &str, caps: &[Span]) -> String {
        if let Some(s) = self.as_static() {
            return s.to_string();
        }
        let mut out = String::new();
        self.expand_into(&mut out, src, caps);
        out
    }
}

fn push_lit(pieces: &mut Vec<Piece>, s: &str) {
    if s.is_empty() {
        return;
    }
    if let Some(Piece::Lit(prev)) = pieces.last_mut() {
        prev.push_str(s);
    } else {
        pieces.push(Piece::Lit(s.to_string()));
    }
}

/// Go's `regexp.extract`: parses `name`, `{name}` at the start of `s`.
/// Returns the name, its number when it is a valid group number, and the rest.
fn extract(s: &str) -> Option<(&str, Option<usize>, &str)> {
    let (brace, body) = match s.strip_prefix('{') {
        Some(b) => (true, b),
        None => (false, s),
    };
    let end = body
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '_'))
        .map(|(i, _)| i)
        .unwrap_or(body.len());
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    let mut rest = &body[end..];
    if brace {
        rest = rest.strip_prefix('}')?;
    }
    let mut num: Option<usize> = Some(0);
    for b in name.bytes() {
        match num {
            Some(n) if b.is_ascii_digit() && n < 100_000_000 => {
                num = Some(n * 10 + usize::from(b - b'0'));
            }
            _ => {
                num = None;
                break;
            }
        }
    }
    // Go disallows leading zeros.
    if name.len() > 1 && name.starts_with('0') {
        num = None;
    }
    Some((name, num, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(src: &str, parts: &[&str]) -> Vec<Span> {
        parts
            .iter()
            .map(|p| {
                let i = src.find(p).unwrap();
                Some((i, i + p.len()))
            })
            .collect()
    }

    #[test]
    fn glob_templates() {
        let src = "a.b.c";
        let caps = spans(src, &["a", "b", "c"]);
        let t = |s: &str, n| Template::glob(s, n).expand(src, &caps);
        assert_eq!(t("$1", 3), "a");
        assert_eq!(t("${1}_$2", 3), "a_b");
        assert_eq!(t("$1-$2-$3", 2), "a-b-");
        assert_eq!(t("$1_foo", 3), ""); // `1_foo` is one (bad) reference
        assert_eq!(t("${1}_foo", 3), "a_foo");
        assert_eq!(t("$0x", 3), "");
        assert_eq!(t("${1}_foo", 0), "_foo");
        assert_eq!(t("plain", 3), "plain");
        assert_eq!(t("$1$2", 3), ""); // `$` is part of the reference class
        assert_eq!(t("cost$", 3), "cost$");
    }

    #[test]
    fn regex_templates() {
        let re = Regex::new(r"(?P<first>\w+)\.(\w+)(x)?").unwrap();
        let src = "foo.bar";
        let c = re.captures(src).unwrap();
        let caps: Vec<Span> = (0..c.len())
            .map(|i| c.get(i).map(|m| (m.start(), m.end())))
            .collect();
        let t = |s: &str| Template::regex(s, &re).expand(src, &caps);
        assert_eq!(t("$0"), "foo.bar");
        assert_eq!(t("${2}_$1"), "bar_foo");
        assert_eq!(t("$1_x"), ""); // name `1_x` is unknown
        assert_eq!(t("${first}!"), "foo!");
        assert_eq!(t("$3|"), "|");
        assert_eq!(t("$$1"), "$1");
        assert_eq!(t("a$"), "a$");
        assert_eq!(t("${1"), "${1");
        assert_eq!(t("$01"), "");
        assert_eq!(t("$9"), "");
    }
}
