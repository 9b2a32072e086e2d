//! Matching Airflow names against the catalog: an exact table for tagged
//! names, and small token patterns for legacy names with ids inside.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use super::catalog::FAMILIES;

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
    tagged: HashMap<&'static str, (usize, usize)>,
    legacy: Vec<Legacy>,
}

/// Captured identities: label name and value (`__` turned back into `.`).
pub type Captures<'a> = Vec<(&'static str, Cow<'a, str>)>;

impl Index {
    pub fn new() -> Self {
        let mut tagged = HashMap::new();
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
        Index { tagged, legacy }
    }

    pub fn tagged(&self, name: &str) -> Option<(usize, usize)> {
        self.tagged.get(name).copied()
    }

    /// Matches a legacy name; `dags` are DAG ids known whole, for names whose
    /// DAG id contains dots (2.x).
    pub fn legacy<'a>(
        &self,
        name: &'a str,
        dags: &HashSet<String>,
        version: u8,
    ) -> Option<(usize, usize, Captures<'a>)> {
        for l in &self.legacy {
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
                let caps = caps
                    .into_iter()
                    .filter(|(k, _)| labels.contains(k))
                    .map(|(k, v)| (k, unescape(v)))
                    .collect();
                return Some((l.family, l.event, caps));
            }
        }
        None
    }
}

/// 3.2+ legacy names replace `.` inside ids with `__`; undo it.
fn unescape(v: &str) -> Cow<'_, str> {
    if v.contains("__") {
        Cow::Owned(v.replace("__", "."))
    } else {
        Cow::Borrowed(v)
    }
}

fn match_toks<'a>(
    name: &'a str,
    pos: usize,
    toks: &[Tok],
    dags: &HashSet<String>,
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
fn candidates(
    name: &str,
    pos: usize,
    var: &str,
    rest: &[Tok],
    dags: &HashSet<String>,
) -> Vec<usize> {
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

    fn set(v: &[&str]) -> HashSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn caps(name: &str, dags: &[&str], version: u8) -> Option<(String, Vec<(String, String)>)> {
        let idx = Index::new();
        idx.legacy(name, &set(dags), version).map(|(f, _, c)| {
            (
                FAMILIES[f].name.to_string(),
                c.into_iter()
                    .map(|(k, v)| (k.to_string(), v.into_owned()))
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
