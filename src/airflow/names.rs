//! Matching Airflow names against the catalog: an exact table for tagged
//! names, and small token patterns for legacy names with ids inside.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::catalog::FAMILIES;

/// Hash maps on the per-sample path: foldhash, not SipHash. Keys here are
/// the catalog's own names, or DAG ids (bounded by `MAX_KNOWN_DAGS`).
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
/// DAG ids known whole.
pub type DagSet = HashSet<String, foldhash::fast::RandomState>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(&'static str),
    Var(&'static str),
}

/// Placeholders that are always exactly one dot-separated component.
const SINGLE: &[&str] = &["state", "job_id", "return_code", "queue", "bundle"];

fn tokenize(pattern: &'static str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            out.push(Tok::Lit(&rest[..open]));
        }
        let close = rest[open..]
            .find('}')
            .expect("catalog patterns are well formed")
            + open;
        out.push(Tok::Var(&rest[open + 1..close]));
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        out.push(Tok::Lit(rest));
    }
    out
}

struct Legacy {
    toks: Vec<Tok>,
    family: usize,
    event: usize,
    /// 3.x-only shape (a `{bundle}` component): skipped once 2.x is detected.
    v3_only: bool,
}

pub struct Index {
    tagged: FastMap<&'static str, (usize, usize)>,
    legacy: Vec<Legacy>,
    /// Legacy patterns whose first literal holds a `.`, by the component
    /// before it (`ti` for `ti.finish.{dag_id}...`): a name is tried only
    /// against the patterns of its own first component, plus `legacy_other`.
    legacy_by_head: FastMap<&'static str, Vec<usize>>,
    /// The other legacy patterns (first literal without a `.`).
    legacy_other: Vec<usize>,
}

/// The component before the first `.` of a pattern's leading literal.
fn head_of(toks: &[Tok]) -> Option<&'static str> {
    match toks.first() {
        Some(Tok::Lit(lit)) => lit.split_once('.').map(|(head, _)| head),
        _ => None,
    }
}

/// A legacy match: family, event, and the kept captures as slices of the
/// name (still `__`-escaped).
type RawMatch<'a> = (usize, usize, Vec<(&'static str, &'a str)>);

/// Captured identities: label name and value (`__` turned back into `.`).
pub type Captures<'a> = Vec<(&'static str, LabelValue<'a>)>;

/// A label value the profile found: a slice of the sample, or a value made
/// once and shared (an unescaped id kept by the per-reader name cache, so a
/// repeated name costs no allocation). Compares and hashes as its text.
#[derive(Clone, Debug)]
pub enum LabelValue<'a> {
    Borrowed(&'a str),
    Shared(Arc<str>),
    Owned(String),
}

impl std::ops::Deref for LabelValue<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            LabelValue::Borrowed(s) => s,
            LabelValue::Shared(s) => s,
            LabelValue::Owned(s) => s,
        }
    }
}

impl PartialEq for LabelValue<'_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for LabelValue<'_> {}

impl std::hash::Hash for LabelValue<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl<'a> From<&'a str> for LabelValue<'a> {
    fn from(s: &'a str) -> Self {
        LabelValue::Borrowed(s)
    }
}

impl Index {
    pub fn new() -> Self {
        let mut tagged = FastMap::default();
        let mut legacy = Vec::new();
        for (fi, f) in FAMILIES.iter().enumerate() {
            for (ei, e) in f.events.iter().enumerate() {
                if let Some(t) = e.tagged {
                    let prev = tagged.insert(t, (fi, ei));
                    assert!(
                        prev.is_none(),
                        "tagged name {t} listed twice in the catalog"
                    );
                }
                for p in e.legacy {
                    legacy.push(Legacy {
                        toks: tokenize(p),
                        family: fi,
                        event: ei,
                        v3_only: p.contains("{bundle}"),
                    });
                }
            }
        }
        let mut legacy_by_head: FastMap<&'static str, Vec<usize>> = FastMap::default();
        let mut legacy_other = Vec::new();
        for (i, l) in legacy.iter().enumerate() {
            match head_of(&l.toks) {
                Some(head) => legacy_by_head.entry(head).or_default().push(i),
                None => legacy_other.push(i),
            }
        }
        Index {
            tagged,
            legacy,
            legacy_by_head,
            legacy_other,
        }
    }

    /// The legacy patterns a name can match, in catalog order.
    fn legacy_candidates(&self, name: &str) -> impl Iterator<Item = &Legacy> {
        let head = name.split_once('.').map_or(name, |(h, _)| h);
        let mut by_head = self
            .legacy_by_head
            .get(head)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .peekable();
        let mut other = self.legacy_other.iter().peekable();
        // Merge two ascending index lists: the first match in catalog order wins.
        std::iter::from_fn(move || {
            let next = match (by_head.peek(), other.peek()) {
                (Some(&&a), Some(&&b)) if a < b => by_head.next(),
                (Some(_), None) => by_head.next(),
                _ => other.next(),
            };
            next.map(|&i| &self.legacy[i])
        })
    }

    pub fn tagged(&self, name: &str) -> Option<(usize, usize)> {
        self.tagged.get(name).copied()
    }

    /// Matches a legacy name; `dags` are DAG ids known whole, for names whose
    /// DAG id contains dots (2.x).
    #[cfg(test)]
    pub fn legacy<'a>(
        &self,
        name: &'a str,
        dags: &DagSet,
        version: u8,
    ) -> Option<(usize, usize, Captures<'a>)> {
        Self::first_legacy(self.legacy_candidates(name), name, dags, version).map(unescaped)
    }

    /// The first of `patterns` that `name` matches, with the captures its
    /// family keeps, as slices of `name` (still `__`-escaped).
    fn first_legacy<'a, 'p>(
        patterns: impl Iterator<Item = &'p Legacy>,
        name: &'a str,
        dags: &DagSet,
        version: u8,
    ) -> Option<RawMatch<'a>> {
        for l in patterns {
            if l.v3_only && version == 2 {
                continue;
            }
            if let Some(Tok::Lit(p)) = l.toks.first() {
                if !name.starts_with(p) {
                    continue;
                }
            }
            let mut caps = Vec::new();
            if match_toks(name, 0, &l.toks, dags, &mut caps) {
                let labels = &FAMILIES[l.family].labels;
                caps.retain(|(k, _)| labels.contains(k));
                return Some((l.family, l.event, caps));
            }
        }
        None
    }
}

/// Legacy names already matched, so a name seen again skips the pattern
/// search. One per ingester (no lock). An answer depends on the known DAG ids
/// and the detected version: when either changes, the cache starts over.
#[derive(Default)]
pub struct LegacyCache {
    /// (version, number of known DAG ids) the entries were computed with;
    /// the set only grows, so its size identifies it.
    valid_for: (u8, usize),
    /// name → (family, event, captures).
    entries: FastMap<Box<str>, Option<CachedMatch>>,
}

type CachedMatch = (usize, usize, Vec<(&'static str, Capture)>);

/// A cached capture: a byte range of the name, or its unescaped value.
enum Capture {
    Range(u32, u32),
    Unescaped(Arc<str>),
}

/// Bounds the cache; it is cleared when full (names are a sender's choice).
pub const LEGACY_CACHE_ENTRIES: usize = 20_000;

impl Index {
    /// `legacy`, through `cache`.
    /// `legacy`, remembered per name. `dags` is only called on a miss (it
    /// takes a lock); `dag_count` is its size. Also says whether the answer
    /// came from the cache (then the caller has seen this name before).
    pub fn legacy_cached<'a, D: std::ops::Deref<Target = DagSet>>(
        &self,
        name: &'a str,
        dag_count: usize,
        dags: impl FnOnce() -> D,
        version: u8,
        cache: &mut LegacyCache,
    ) -> (Option<(usize, usize, Captures<'a>)>, bool) {
        let key = (version, dag_count);
        if cache.valid_for != key || cache.entries.len() >= LEGACY_CACHE_ENTRIES {
            cache.entries.clear();
            cache.valid_for = key;
        }
        let to_caps = |(fi, ei, caps): &CachedMatch| {
            let caps = caps
                .iter()
                .map(|(k, c)| {
                    let v = match c {
                        Capture::Range(start, end) => {
                            LabelValue::Borrowed(&name[*start as usize..*end as usize])
                        }
                        Capture::Unescaped(v) => LabelValue::Shared(v.clone()),
                    };
                    (*k, v)
                })
                .collect();
            (*fi, *ei, caps)
        };
        if let Some(hit) = cache.entries.get(name) {
            return (hit.as_ref().map(to_caps), true);
        }
        let base = name.as_ptr() as usize;
        let dags = dags();
        let entry = Self::first_legacy(self.legacy_candidates(name), name, &dags, version).map(
            |(fi, ei, raw)| {
                let caps = raw
                    .into_iter()
                    .map(|(k, v)| match unescape(v) {
                        LabelValue::Borrowed(v) => {
                            let start = v.as_ptr() as usize - base;
                            (k, Capture::Range(start as u32, (start + v.len()) as u32))
                        }
                        owned => (k, Capture::Unescaped(Arc::from(&*owned))),
                    })
                    .collect();
                (fi, ei, caps)
            },
        );
        let found = entry.as_ref().map(to_caps);
        cache.entries.insert(name.into(), entry);
        (found, false)
    }
}

/// A raw match with its captures unescaped.
#[cfg(test)]
fn unescaped((fi, ei, raw): RawMatch<'_>) -> (usize, usize, Captures<'_>) {
    (
        fi,
        ei,
        raw.into_iter().map(|(k, v)| (k, unescape(v))).collect(),
    )
}

/// 3.2+ legacy names replace `.` inside ids with `__`; undo it.
fn unescape(v: &str) -> LabelValue<'_> {
    if memchr::memmem::find(v.as_bytes(), b"__").is_some() {
        LabelValue::Owned(v.replace("__", "."))
    } else {
        LabelValue::Borrowed(v)
    }
}

fn match_toks<'a>(
    name: &'a str,
    pos: usize,
    toks: &[Tok],
    dags: &DagSet,
    caps: &mut Vec<(&'static str, &'a str)>,
) -> bool {
    let Some((tok, rest)) = toks.split_first() else {
        return pos == name.len();
    };
    match *tok {
        Tok::Lit(lit) => {
            name[pos..].starts_with(lit) && match_toks(name, pos + lit.len(), rest, dags, caps)
        }
        Tok::Var(var) => {
            for end in candidates(name, pos, var, rest, dags) {
                caps.push((var, &name[pos..end]));
                if match_toks(name, end, rest, dags, caps) {
                    return true;
                }
                caps.pop();
            }
            false
        }
    }
}

/// Where a placeholder starting at `pos` may end, best guess first.
fn candidates(name: &str, pos: usize, var: &str, rest: &[Tok], dags: &DagSet) -> Vec<usize> {
    let tail = &name[pos..];
    if tail.is_empty() {
        return Vec::new();
    }
    // Last placeholder, or followed only by a literal suffix: it takes all.
    match rest {
        [] => {
            let ok = !SINGLE.contains(&var) || !tail.contains('.');
            return if ok { vec![name.len()] } else { Vec::new() };
        }
        [Tok::Lit(suffix)] => {
            return match tail.strip_suffix(suffix) {
                Some(v) if !v.is_empty() && (!SINGLE.contains(&var) || !v.contains('.')) => {
                    vec![pos + v.len()]
                }
                _ => Vec::new(),
            };
        }
        _ => {}
    }
    let dots: Vec<usize> = tail.match_indices('.').map(|(i, _)| pos + i).collect();
    if SINGLE.contains(&var) {
        return dots.first().copied().into_iter().collect();
    }
    if var == "dag_id" {
        // Known whole DAG ids first (longest first), then one component.
        let mut out: Vec<usize> = dots
            .iter()
            .rev()
            .copied()
            .filter(|&d| d > pos && dags.contains(&name[pos..d]))
            .collect();
        if let Some(&first) = dots.first() {
            if !out.contains(&first) {
                out.push(first);
            }
        }
        return out;
    }
    // Other ids (task_id, …) may contain dots: longest first.
    dots.into_iter().rev().filter(|&d| d > pos).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> DagSet {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn caps(name: &str, dags: &[&str], version: u8) -> Option<(String, Vec<(String, String)>)> {
        let idx = Index::new();
        idx.legacy(name, &set(dags), version).map(|(f, _, c)| {
            (
                FAMILIES[f].name.to_string(),
                c.into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        })
    }

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn legacy_names_table() {
        let dags = ["corpus.quick-success_v1", "every_minute.heartbeat-dag"];
        type Case<'a> = (&'a str, u8, &'a str, &'a [(&'a str, &'a str)]);
        let cases: &[Case] = &[
            (
                "ti.finish.d.t.success",
                0,
                "airflow_task_finishes_total",
                &[("dag_id", "d"), ("task_id", "t"), ("state", "success")],
            ),
            // 2.x: dots inside ids, resolved with the known DAG id.
            (
                "ti.finish.corpus.quick-success_v1.extract.part-1.success",
                2,
                "airflow_task_finishes_total",
                &[
                    ("dag_id", "corpus.quick-success_v1"),
                    ("task_id", "extract.part-1"),
                    ("state", "success"),
                ],
            ),
            // 3.2+: dots escaped as `__`.
            (
                "ti.finish.corpus__quick-success_v1.extract__part-1.success",
                3,
                "airflow_task_finishes_total",
                &[
                    ("dag_id", "corpus.quick-success_v1"),
                    ("task_id", "extract.part-1"),
                    ("state", "success"),
                ],
            ),
            (
                "ti.start.every_minute.heartbeat-dag.tock.step-2_end",
                2,
                "airflow_task_starts_total",
                &[
                    ("dag_id", "every_minute.heartbeat-dag"),
                    ("task_id", "tock.step-2_end"),
                ],
            ),
            (
                "dagrun.duration.success.every_minute.heartbeat-dag",
                2,
                "airflow_dagrun_duration_seconds",
                &[("dag_id", "every_minute.heartbeat-dag")],
            ),
            (
                "dagrun.a.b.first_task_scheduling_delay",
                2,
                "airflow_dagrun_first_task_scheduling_delay_seconds",
                &[("dag_id", "a.b")],
            ),
            (
                "dag.corpus.quick-success_v1.load.final-step.duration",
                2,
                "airflow_task_duration_seconds",
                &[
                    ("dag_id", "corpus.quick-success_v1"),
                    ("task_id", "load.final-step"),
                ],
            ),
            (
                "local_task_job.task_exit.67.every_minute.heartbeat-dag.tick.0",
                2,
                "airflow_task_exits_total",
                &[
                    ("dag_id", "every_minute.heartbeat-dag"),
                    ("task_id", "tick"),
                    ("return_code", "0"),
                ],
            ),
            (
                "pool.open_slots.default_pool",
                3,
                "airflow_pool_slots",
                &[("pool", "default_pool")],
            ),
            (
                "executor.open_slots.LocalExecutor",
                3,
                "airflow_executor_slots",
                &[("executor", "LocalExecutor")],
            ),
            (
                "operator_successes_BashOperator",
                2,
                "airflow_operator_successes_total",
                &[("operator", "BashOperator")],
            ),
            (
                "ti.running.default.corpus__long-sensor_dag.sleep-20s__long_task",
                3,
                "airflow_task_instances",
                &[
                    ("queue", "default"),
                    ("dag_id", "corpus.long-sensor_dag"),
                    ("task_id", "sleep-20s.long_task"),
                ],
            ),
            (
                "dag_processing.last_duration.dags-folder.corpus_fail_retry",
                3,
                "airflow_dag_processing_last_duration_seconds",
                &[("bundle", "dags-folder"), ("dag_file", "corpus_fail_retry")],
            ),
            (
                "dag_processing.last_duration.corpus_fail_retry",
                2,
                "airflow_dag_processing_last_duration_seconds",
                &[("dag_file", "corpus_fail_retry")],
            ),
            (
                "triggers.running.host.example.com",
                2,
                "airflow_triggers_running",
                &[("hostname", "host.example.com")],
            ),
        ];
        for (name, version, family, want) in cases {
            let got = caps(name, &dags, *version).unwrap_or_else(|| panic!("{name} did not match"));
            assert_eq!(got.0, *family, "{name}");
            assert_eq!(got.1, kv(want), "{name}");
        }
    }

    #[test]
    fn unknown_dag_falls_back_to_first_component() {
        let got = caps("ti.finish.x.y.z.success", &[], 2).unwrap();
        assert_eq!(
            got.1,
            kv(&[("dag_id", "x"), ("task_id", "y.z"), ("state", "success")])
        );
    }

    #[test]
    fn the_head_index_answers_like_a_scan_of_every_pattern() {
        let idx = Index::new();
        assert!(idx.legacy_by_head.len() > 5, "most patterns are indexed");
        let dags = set(&["corpus.quick-success_v1", "d"]);
        let mut names: Vec<String> = Vec::new();
        // Every legacy pattern filled in, plus near misses around it.
        for l in &idx.legacy {
            let filled: String = l
                .toks
                .iter()
                .map(|t| match t {
                    Tok::Lit(s) => s.to_string(),
                    Tok::Var("dag_id") => "corpus.quick-success_v1".into(),
                    Tok::Var(_) => "x".into(),
                })
                .collect();
            names.push(format!("{filled}.extra"));
            names.push(filled[1..].to_string());
            names.push(filled);
        }
        names.extend(["", ".", "ti", "pool", "dag..x", "no.such.head"].map(String::from));
        let mut matched = 0;
        for name in &names {
            for version in [0, 2, 3] {
                let fast = idx.legacy(name, &dags, version);
                let scan =
                    Index::first_legacy(idx.legacy.iter(), name, &dags, version).map(unescaped);
                assert_eq!(fast, scan, "{name} (version {version})");
                matched += usize::from(fast.is_some());
            }
        }
        assert!(matched >= idx.legacy.len(), "{matched} matches");
    }

    #[test]
    fn the_cache_answers_like_a_fresh_match_and_follows_new_dags() {
        let idx = Index::new();
        let mut cache = LegacyCache::default();
        let mut dags = set(&["d"]);
        let names = [
            "ti.finish.d.t.success",
            "ti.finish.corpus.quick-success_v1.extract.part-1.success",
            "ti.finish.corpus__quick-success_v1.extract__part-1.success",
            "dagrun.duration.success.d",
            "nothing.here",
        ];
        for version in [0, 2, 3] {
            for _ in 0..2 {
                // A miss, then a hit.
                for name in names {
                    let (cached, _) =
                        idx.legacy_cached(name, dags.len(), || &dags, version, &mut cache);
                    assert_eq!(
                        cached,
                        idx.legacy(name, &dags, version),
                        "{name} v{version}"
                    );
                }
            }
        }
        // A DAG id learnt later changes how a 2.x name splits: no stale answer.
        let name = names[1];
        let (first, hit) = idx.legacy_cached(name, dags.len(), || &dags, 2, &mut cache);
        assert!(!hit, "the version changed since the loop above");
        let (before, hit) = idx.legacy_cached(name, dags.len(), || &dags, 2, &mut cache);
        assert!(hit);
        assert_eq!(before, first);
        let before = before.unwrap();
        assert_eq!(before.2[0], ("dag_id", "corpus".into()));
        dags.insert("corpus.quick-success_v1".into());
        let (after, hit) = idx.legacy_cached(name, dags.len(), || &dags, 2, &mut cache);
        assert!(!hit, "the cache was cleared");
        let after = after.unwrap();
        assert_eq!(after.2[0], ("dag_id", "corpus.quick-success_v1".into()));
        // Bounded: a flood of distinct names never grows it past the limit.
        for i in 0..LEGACY_CACHE_ENTRIES + 10 {
            let name = format!("ti.finish.d{i}.t.success");
            idx.legacy_cached(&name, dags.len(), || &dags, 3, &mut cache);
            assert!(cache.entries.len() <= LEGACY_CACHE_ENTRIES);
        }
    }

    #[test]
    fn non_matching_names() {
        for n in [
            "ti.finish.only_two.success",
            "pool.open_slots",
            "nothing.here",
            "dagrun.duration.success.",
        ] {
            assert!(caps(n, &[], 3).is_none(), "{n}");
        }
    }
}
