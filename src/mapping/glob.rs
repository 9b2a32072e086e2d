//! Port of statsd_exporter's glob FSM (`pkg/mapper/fsm/fsm.go`).
//!
//! The structure is copied on purpose, quirks included, so that the same
//! config picks the same rule:
//! * one trie per metric type; a rule without `match_metric_type` is added to
//!   all three;
//! * `*` is stored as an ordinary transition key, so a metric component that
//!   is literally `*` takes it as a literal (and records no capture);
//! * a state's result is only set when the rule *creates* the final state, so a
//!   rule whose pattern is a prefix path of an earlier, longer rule never
//!   matches, while the priority is overwritten by the last rule ending there;
//! * with ordering (the default) every path is searched (literal first, then
//!   `*`) and the lowest rule index wins; with `glob_disable_ordering` the first
//!   final state reached wins, and alternatives are only explored when
//!   [`needs_backtracking`] says so.

use regex::Regex;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::template::Span;
use crate::sample::MetricKind;

/// FNV-1a: the keys are short metric components.
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

#[derive(Debug, Default)]
struct State {
    transitions: FnvMap<Box<str>, u32>,
    min_remaining: usize,
    max_remaining: usize,
    /// Rule index of the mapping that ends here.
    result: Option<usize>,
    priority: usize,
}

#[derive(Debug)]
pub(crate) struct Fsm {
    states: Vec<State>,
    roots: [u32; 3],
    pub(crate) ordering_disabled: bool,
    pub(crate) backtracking_needed: bool,
}

fn kind_index(k: MetricKind) -> usize {
    match k {
        MetricKind::Counter => 0,
        MetricKind::Gauge => 1,
        MetricKind::Observer => 2,
    }
}

/// Reusable per-thread buffers so that matching does not allocate.
#[derive(Default)]
pub(crate) struct Scratch {
    fields: Vec<(usize, usize)>,
    captures: Vec<Span>,
    pub(crate) final_captures: Vec<Span>,
    stack: Vec<(usize, usize, u32)>,
}

impl Fsm {
    pub(crate) fn new(ordering_disabled: bool) -> Fsm {
        let mut states = Vec::with_capacity(16);
        for _ in 0..4 {
            states.push(State::default());
        }
        Fsm {
            states,
            roots: [1, 2, 3],
            ordering_disabled,
            backtracking_needed: true,
        }
    }

    /// `AddState`: returns the number of `*` in the pattern, and what was
    /// already at the final state(s) when it existed before: `Some(None)` for
    /// a state without result (the rule is dead there), `Some(Some(r))` when
    /// rule `r` already ends there (this rule is shadowed).
    pub(crate) fn add(
        &mut self,
        pattern: &str,
        kind: Option<MetricKind>,
        rule: usize,
    ) -> (usize, Option<Option<usize>>) {
        let mut prior: Option<Option<usize>> = None;
        let fields: Vec<&str> = pattern.split('.').collect();
        let roots: Vec<u32> = match kind {
            None => self.roots.to_vec(),
            Some(k) => vec![self.roots[kind_index(k)]],
        };
        let mut capture_count = 0;
        let n = fields.len();
        for root in roots {
            capture_count = 0;
            let mut cur = root;
            for (i, field) in fields.iter().enumerate() {
                let remaining = n - i - 1;
                let next = match self.states[cur as usize].transitions.get(*field) {
                    Some(&s) => {
                        let st = &mut self.states[s as usize];
                        if i == n - 1 && (prior.is_none() || st.result.is_none()) {
                            prior = Some(st.result);
                        }
                        st.max_remaining = st.max_remaining.max(remaining);
                        st.min_remaining = st.min_remaining.min(remaining);
                        s
                    }
                    None => {
                        let id = self.states.len() as u32;
                        self.states.push(State {
                            min_remaining: remaining,
                            max_remaining: remaining,
                            result: (i == n - 1).then_some(rule),
                            ..State::default()
                        });
                        self.states[cur as usize]
                            .transitions
                            .insert((*field).into(), id);
                        id
                    }
                };
                if *field == "*" {
                    capture_count += 1;
                }
                cur = next;
            }
            self.states[cur as usize].priority = rule;
        }
        (capture_count, prior)
    }

    fn step(&self, from: u32, key: &str, fields_left: usize) -> Option<u32> {
        let s = *self.states[from as usize].transitions.get(key)?;
        let st = &self.states[s as usize];
        (fields_left <= st.max_remaining && fields_left >= st.min_remaining).then_some(s)
    }

    /// `GetMapping`: returns the matching rule index; its captures are left in
    /// `scratch.final_captures`.
    pub(crate) fn lookup(&self, name: &str, kind: MetricKind, sc: &mut Scratch) -> Option<usize> {
        sc.fields.clear();
        let mut start = 0;
        for (i, b) in name.bytes().enumerate() {
            if b == b'.' {
                sc.fields.push((start, i));
                start = i + 1;
            }
        }
        sc.fields.push((start, name.len()));
        let n = sc.fields.len();
        sc.captures.clear();
        sc.captures.resize(n, None);
        sc.stack.clear();
        let field_at = |sc: &Scratch, i: usize| -> (usize, usize) { sc.fields[i] };

        let mut current = self.roots[kind_index(kind)];
        let mut resume = false;
        let mut final_state: Option<u32> = None;
        let mut capture_idx = 0usize;
        let mut i = 0usize;
        let mut state: u32 = current;
        loop {
            loop {
                if !resume {
                    if self.states[current as usize].transitions.is_empty() {
                        break;
                    }
                    let (a, b) = field_at(sc, i);
                    let field = &name[a..b];
                    let fields_left = n - i - 1;
                    if let Some(s) = self.step(current, field, fields_left) {
                        state = s;
                        if self.backtracking_needed {
                            if let Some(alt) = self.step(current, "*", fields_left) {
                                sc.stack.push((i, capture_idx, alt));
                            }
                        }
                    } else if let Some(s) = self.step(current, "*", fields_left) {
                        state = s;
                        sc.captures[capture_idx] = Some((a, b));
                        capture_idx += 1;
                    } else {
                        break;
                    }
                }
                let st = &self.states[state as usize];
                if st.result.is_some() && i == n - 1 {
                    if self.ordering_disabled {
                        sc.final_captures.clear();
                        sc.final_captures.extend_from_slice(&sc.captures);
                        return st.result;
                    }
                    let better = match final_state {
                        None => true,
                        Some(f) => self.states[f as usize].priority > st.priority,
                    };
                    if better {
                        final_state = Some(state);
                        sc.final_captures.clear();
                        sc.final_captures.extend_from_slice(&sc.captures);
                    }
                    break;
                }
                i += 1;
                if i >= n {
                    break;
                }
                resume = false;
                current = state;
            }
            match sc.stack.pop() {
                None => break,
                Some((fi, ci, s)) => {
                    state = s;
                    current = s;
                    i = fi;
                    capture_idx = ci + 1;
                    sc.captures[capture_idx - 1] = Some(field_at(sc, i));
                    resume = true;
                }
            }
        }
        final_state.and_then(|s| self.states[s as usize].result)
    }
}

fn glob_to_regex(pattern: &str) -> Option<Regex> {
    let re = pattern.replace('.', "\\.").replace('*', "([^.]*)");
    Regex::new(&format!("^{re}$")).ok()
}

/// `TestIfNeedBacktracking`, plus the warnings it logs. Only the glob
/// patterns, in file order, are considered (metric types are ignored, as in Go).
pub(crate) fn needs_backtracking(
    patterns: &[&str],
    ordering_disabled: bool,
    warnings: &mut Vec<String>,
) -> bool {
    let mut by_len: Vec<(usize, Vec<&str>)> = Vec::new();
    for p in patterns {
        let l = p.split('.').count();
        match by_len.iter_mut().find(|(k, _)| *k == l) {
            Some((_, v)) => v.push(p),
            None => by_len.push((l, vec![p])),
        }
    }
    let mut needed = false;
    for (_, rules) in &by_len {
        if rules.len() == 1 {
            continue;
        }
        let res: Vec<Option<Regex>> = rules.iter().map(|r| glob_to_regex(r)).collect();
        for (i1, r1) in rules.iter().enumerate() {
            let Some(re1) = &res[i1] else { continue };
            if !r1.contains('*') {
                continue;
            }
            let mut need = false;
            for (index, c) in r1.char_indices() {
                if c != '*' {
                    continue;
                }
                let prefix = r1[..index].replace('.', "\\.").replace('*', "\\*");
                let Ok(re) = Regex::new(&format!("^{prefix}")) else {
                    continue;
                };
                if rules
                    .iter()
                    .enumerate()
                    .any(|(i2, r2)| i2 != i1 && re.is_match(r2))
                {
                    need = true;
                }
            }
            for (i2, r2) in rules.iter().enumerate() {
                if i2 != i1 && re1.is_match(r2) {
                    if !ordering_disabled && i1 < i2 {
                        warnings.push(format!(
                            "glob match \"{r1}\" is a super set of match \"{r2}\" but in a lower order, the second will never be matched"
                        ));
                    }
                    need = false;
                }
            }
            for (i2, re2) in res.iter().enumerate() {
                if i2 == i1 {
                    continue;
                }
                if let Some(re2) = re2 {
                    if re2.is_match(r1) {
                        need = false;
                    }
                }
            }
            if need {
                if ordering_disabled {
                    warnings.push(format!(
                        "backtracking required because of glob match \"{r1}\", matching performance may be degraded"
                    ));
                }
                needed = true;
            }
        }
    }
    !ordering_disabled || needed
}
