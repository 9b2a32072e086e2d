//! The `/cardinality` page and its JSON twin: where the series come from and
//! which limits are near or at their bound.
//!
//! The handler copies a [`CardinalityReport`] and the limit statistics out of
//! the store under its lock ([`collect`]) and renders them here after
//! releasing it. What is rendered is capped ([`TOP_FAMILIES`],
//! [`TOP_LABELS`], [`TOP_VALUES`]) so the page stays small and fast with
//! 100k series. Label values are attacker input: every piece of text from the
//! store is escaped ([`escape_html`]) and the page carries a
//! Content-Security-Policy that forbids scripts ([`CSP`]); it needs none.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::store::{
    CardinalityReport, FamilyCardinality, LimitAction, LimitReason, Limits, Store, OVERFLOW,
};

/// Families shown, ranked by series.
pub const TOP_FAMILIES: usize = 50;
/// Labels shown per family, ranked by distinct values.
pub const TOP_LABELS: usize = 10;
/// Values shown per label, ranked by live series; also what to ask
/// `Store::cardinality` for.
pub const TOP_VALUES: usize = 10;
/// Rows of the folded/dropped table.
pub const TOP_LIMIT_EVENTS: usize = 100;
/// Label values longer than this many characters are shortened on the page.
pub const MAX_SHOWN_VALUE_CHARS: usize = 120;
/// A limit at or above this share of its bound is "near".
pub const NEAR_PERCENT: f64 = 80.0;

/// The page's Content-Security-Policy (also sent as a header): no scripts,
/// no external anything; inline styles only.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Folded or dropped events of one family for one limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitEvents {
    pub family: String,
    pub reason: LimitReason,
    /// `true`: folded into an overflow series; `false`: dropped.
    pub folded: bool,
    pub events: u64,
}

/// What the page needs, copied out of the store.
#[derive(Clone, Debug)]
pub struct Cardinality {
    pub report: CardinalityReport,
    /// Ranked by events, most first.
    pub limit_events: Vec<LimitEvents>,
}

/// Copies the report and the limit statistics; call it under the store lock
/// and render after releasing it.
pub fn collect(store: &Store) -> Cardinality {
    let report = store.cardinality(TOP_VALUES);
    let limit_events = store
        .limit_stats()
        .map(|(family, reason, folded, events)| LimitEvents {
            family: family.to_string(),
            reason,
            folded,
            events,
        })
        .collect();
    Cardinality::new(report, limit_events)
}

/// How close a value is to its bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// The limit is 0 (none).
    Unlimited,
    Ok,
    /// At least [`NEAR_PERCENT`] of the bound.
    Near,
    /// At (or, for overflow series, past) the bound.
    At,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unlimited => "unlimited",
            Status::Ok => "ok",
            Status::Near => "near",
            Status::At => "at",
        }
    }

    fn badge(self) -> &'static str {
        match self {
            Status::Unlimited | Status::Ok => "",
            Status::Near => "<span class=\"badge near\" data-status=\"near\">NEAR LIMIT</span>",
            Status::At => "<span class=\"badge at\" data-status=\"at\">AT LIMIT</span>",
        }
    }
}

/// `value` against `limit` (0 = none): the percentage (None when unlimited)
/// and the status.
pub fn usage(value: usize, limit: usize) -> (Option<f64>, Status) {
    if limit == 0 {
        return (None, Status::Unlimited);
    }
    let pct = value as f64 * 100.0 / limit as f64;
    let status = if value >= limit {
        Status::At
    } else if pct >= NEAR_PERCENT {
        Status::Near
    } else {
        Status::Ok
    };
    (Some(pct), status)
}

impl Cardinality {
    pub fn new(report: CardinalityReport, mut limit_events: Vec<LimitEvents>) -> Self {
        limit_events.sort_by(|a, b| {
            b.events
                .cmp(&a.events)
                .then_with(|| a.family.cmp(&b.family))
                .then_with(|| a.reason.cmp(&b.reason))
                .then_with(|| a.folded.cmp(&b.folded))
        });
        Cardinality {
            report,
            limit_events,
        }
    }

    fn totals(&self) -> (u64, u64) {
        self.limit_events.iter().fold((0, 0), |(f, d), e| {
            if e.folded {
                (f + e.events, d)
            } else {
                (f, d + e.events)
            }
        })
    }

    fn events_by_family(&self) -> HashMap<&str, Vec<&LimitEvents>> {
        let mut m: HashMap<&str, Vec<&LimitEvents>> = HashMap::new();
        for e in &self.limit_events {
            m.entry(e.family.as_str()).or_default().push(e);
        }
        m
    }

    /// The JSON twin of the page (same caps).
    pub fn to_json(&self) -> Value {
        let r = &self.report;
        let l = &r.limits;
        let (gpct, gstatus) = usage(r.series, l.max_series);
        let by_family = self.events_by_family();
        let families: Vec<Value> = r
            .families
            .iter()
            .take(TOP_FAMILIES)
            .map(|f| family_json(f, l, r.series, by_family.get(f.name.as_str())))
            .collect();
        let (folded, dropped) = self.totals();
        json!({
            "series": r.series,
            "families_total": r.families.len(),
            "limits": limits_json(l),
            "global": {
                "series": r.series,
                "limit": l.max_series,
                "percent": gpct,
                "status": gstatus.as_str(),
            },
            "near_percent": NEAR_PERCENT,
            "shown": {
                "families": families.len(),
                "max_families": TOP_FAMILIES,
                "max_labels_per_family": TOP_LABELS,
                "max_values_per_label": TOP_VALUES,
                "max_limit_events": TOP_LIMIT_EVENTS,
            },
            "families": families,
            "limit_events_total": { "folded": folded, "dropped": dropped },
            "limit_events": self.limit_events.iter().take(TOP_LIMIT_EVENTS).map(event_json).collect::<Vec<_>>(),
        })
    }

    /// The HTML page: self-contained, no scripts, every store text escaped.
    pub fn to_html(&self) -> String {
        let r = &self.report;
        let l = &r.limits;
        let by_family = self.events_by_family();
        let (folded, dropped) = self.totals();
        let mut o = String::with_capacity(64 * 1024);
        o.push_str("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">");
        let _ = write!(
            o,
            "<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">",
            escape_html(CSP)
        );
        o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        o.push_str("<title>Cardinality - airflow-statsd-exporter</title>");
        o.push_str(STYLE);
        o.push_str("</head><body>");
        o.push_str("<p class=\"nav\"><a href=\"/\">airflow-statsd-exporter</a> &rsaquo; cardinality &middot; <a href=\"/cardinality.json\">JSON</a></p>");
        o.push_str("<h1>Cardinality</h1>");

        // Totals and limits.
        let (gpct, gstatus) = usage(r.series, l.max_series);
        let _ = write!(
            o,
            "<section id=\"summary\"><p class=\"total\"><b id=\"total-series\">{}</b> live series in <b>{}</b> families{}{}</p>",
            r.series,
            r.families.len(),
            match gpct {
                Some(p) => format!(
                    " &mdash; {} of <code>--statsd.max-series</code>={} {}",
                    fmt_pct(p),
                    l.max_series,
                    bar(p)
                ),
                None => " (no global limit)".to_string(),
            },
            gstatus.badge(),
        );
        let _ = write!(
            o,
            "<p>Events past a limit: <b id=\"total-folded\">{folded}</b> folded into overflow series (labels read <code>{}</code>, sums stay exact), <b id=\"total-dropped\">{dropped}</b> dropped.</p>",
            OVERFLOW
        );
        o.push_str("<table class=\"limits\"><tr><th>limit</th><th>flag</th><th>value</th></tr>");
        for (name, flag, v) in limit_rows(l) {
            let shown = if v == 0 {
                "none".to_string()
            } else {
                v.to_string()
            };
            let _ = write!(
                o,
                "<tr><td>{name}</td><td><code>--statsd.{flag}</code></td><td class=\"n\">{shown}</td></tr>"
            );
        }
        let _ = write!(
            o,
            "<tr><td>action at a limit</td><td><code>--statsd.limit-action</code></td><td class=\"n\">{}</td></tr></table>",
            action_str(l.action)
        );
        let _ = write!(
            o,
            "<p class=\"note\">Shown: the top {TOP_FAMILIES} families by series, for each the top {TOP_LABELS} labels by distinct values and their top {TOP_VALUES} values by series; label values longer than {MAX_SHOWN_VALUE_CHARS} characters are shortened. <span class=\"badge near\">NEAR LIMIT</span> means at least {NEAR_PERCENT:.0}&nbsp;% of the bound, <span class=\"badge at\">AT LIMIT</span> means new series are folded or dropped. Overflow series may go past the series limits (at most 8 per family).</p></section>",
        );

        // Family ranking.
        let shown = r.families.len().min(TOP_FAMILIES);
        let _ = write!(
            o,
            "<h2>Families by series</h2><p class=\"note\">{shown} of {} families shown.</p>",
            r.families.len()
        );
        o.push_str("<table id=\"families\"><tr><th>#</th><th>family</th><th>type</th><th>series</th><th>overflow series</th><th>% of family limit</th><th>% of global limit</th><th>folded</th><th>dropped</th></tr>");
        for (i, f) in r.families.iter().take(TOP_FAMILIES).enumerate() {
            let (fpct, fstatus) = usage(f.series, f.max_series);
            let (gp, _) = usage(f.series, l.max_series);
            let (fo, dr) = family_totals(by_family.get(f.name.as_str()));
            let _ = write!(
                o,
                "<tr class=\"family {status}\" data-family=\"{name}\"><td class=\"n\">{rank}</td><td><a href=\"#f{rank}\"><code>{name}</code></a></td><td>{kind}</td><td class=\"n\">{series}</td><td class=\"n\">{ovf}</td><td>{fp}</td><td class=\"n\">{gp}</td><td class=\"n\">{fo}</td><td class=\"n\">{dr}</td></tr>",
                status = fstatus.as_str(),
                name = escape_html(&f.name),
                rank = i + 1,
                kind = f.kind.as_str(),
                series = f.series,
                ovf = overflow_cell(f.overflow_series),
                fp = pct_cell(fpct, fstatus),
                gp = gp.map_or("&ndash;".to_string(), fmt_pct),
            );
        }
        o.push_str("</table>");

        // Per family: labels and values.
        o.push_str("<h2>Labels by distinct values</h2>");
        for (i, f) in r.families.iter().take(TOP_FAMILIES).enumerate() {
            family_html(&mut o, i + 1, f, by_family.get(f.name.as_str()));
        }

        // Folded / dropped events.
        let _ = write!(
            o,
            "<h2 id=\"limit-events\">Folded and dropped events</h2><p class=\"note\">By family and limit, most first; {} of {} rows shown. <code>{}</code> as a family counts events for families that could not be created (global limit) or past the bookkeeping cap.</p>",
            self.limit_events.len().min(TOP_LIMIT_EVENTS),
            self.limit_events.len(),
            OVERFLOW,
        );
        if self.limit_events.is_empty() {
            o.push_str("<p>None: no limit has been reached.</p>");
        } else {
            o.push_str("<table id=\"events\"><tr><th>family</th><th>limit</th><th>action</th><th>events</th></tr>");
            for e in self.limit_events.iter().take(TOP_LIMIT_EVENTS) {
                let _ = write!(
                    o,
                    "<tr class=\"{act}\"><td><code>{}</code></td><td>{}</td><td>{act}</td><td class=\"n\">{}</td></tr>",
                    escape_html(&e.family),
                    e.reason.as_str(),
                    e.events,
                    act = if e.folded { "folded" } else { "dropped" },
                );
            }
            o.push_str("</table>");
        }
        o.push_str("<p class=\"note\">Self-metrics: <code>statsd_exporter_series{family}</code>, <code>statsd_exporter_series_folded_total{family,reason}</code>, <code>statsd_exporter_series_dropped_total{family,reason}</code>, <code>statsd_exporter_limit{limit}</code>, <code>statsd_exporter_series_expired_total</code> on <a href=\"/metrics\">/metrics</a>.</p>");
        o.push_str("</body></html>\n");
        o
    }
}

fn family_html(
    o: &mut String,
    rank: usize,
    f: &FamilyCardinality,
    events: Option<&Vec<&LimitEvents>>,
) {
    let (fpct, fstatus) = usage(f.series, f.max_series);
    let _ = write!(
        o,
        "<section class=\"fam {}\" id=\"f{rank}\" data-family=\"{}\"><h3>{rank}. <code>{}</code> <small>{} &middot; {} series{}{}</small> {}</h3>",
        fstatus.as_str(),
        escape_html(&f.name),
        escape_html(&f.name),
        f.kind.as_str(),
        f.series,
        if f.overflow_series > 0 {
            format!(
                ", <span class=\"ovf\">{} overflow</span>",
                f.overflow_series
            )
        } else {
            String::new()
        },
        fpct.map_or(String::new(), |p| format!(
            ", {} of the family limit",
            fmt_pct(p)
        )),
        fstatus.badge(),
    );
    if let Some(events) = events {
        o.push_str("<p class=\"events\">Past a limit: ");
        for (i, e) in events.iter().enumerate() {
            if i > 0 {
                o.push_str(", ");
            }
            let _ = write!(
                o,
                "<span class=\"{act}\">{} {act} ({})</span>",
                e.events,
                e.reason.as_str(),
                act = if e.folded { "folded" } else { "dropped" },
            );
        }
        o.push_str("</p>");
    }
    if f.labels.is_empty() {
        o.push_str("<p class=\"note\">No labels.</p></section>");
        return;
    }
    if f.labels.len() > TOP_LABELS {
        let _ = write!(
            o,
            "<p class=\"note\">{TOP_LABELS} of {} labels shown.</p>",
            f.labels.len()
        );
    }
    o.push_str("<table class=\"labels\"><tr><th>label</th><th>distinct values</th><th>% of label limit</th><th>top values (live series)</th></tr>");
    for label in f.labels.iter().take(TOP_LABELS) {
        let (pct, status) = usage(label.distinct_values, label.max_values);
        let _ = write!(
            o,
            "<tr class=\"label {}\" data-label=\"{}\"><td><code>{}</code></td><td class=\"n\">{}</td><td>{}</td><td><ol class=\"values\">",
            status.as_str(),
            escape_html(&label.name),
            escape_html(&label.name),
            label.distinct_values,
            pct_cell(pct, status),
        );
        for (v, n) in label.top_values.iter().take(TOP_VALUES) {
            let class = if v == OVERFLOW { " class=\"ovf\"" } else { "" };
            let _ = write!(
                o,
                "<li{class}><code>{}</code> <span class=\"c\">{n}</span></li>",
                escape_html(&shorten(v))
            );
        }
        o.push_str("</ol></td></tr>");
    }
    o.push_str("</table></section>");
}

fn family_json(
    f: &FamilyCardinality,
    l: &Limits,
    _total: usize,
    events: Option<&Vec<&LimitEvents>>,
) -> Value {
    let (fpct, fstatus) = usage(f.series, f.max_series);
    let (gpct, _) = usage(f.series, l.max_series);
    let (folded, dropped) = family_totals(events);
    let labels: Vec<Value> = f
        .labels
        .iter()
        .take(TOP_LABELS)
        .map(|label| {
            let (pct, status) = usage(label.distinct_values, label.max_values);
            json!({
                "name": label.name,
                "distinct_values": label.distinct_values,
                "overflow": label.overflow,
                "limit": label.max_values,
                "percent_of_limit": pct,
                "status": status.as_str(),
                "top_values": label.top_values.iter().take(TOP_VALUES)
                    .map(|(v, n)| json!({"value": v, "series": n}))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "name": f.name,
        "type": f.kind.as_str(),
        "series": f.series,
        "overflow_series": f.overflow_series,
        "limit": f.max_series,
        "percent_of_family_limit": fpct,
        "percent_of_global_limit": gpct,
        "status": fstatus.as_str(),
        "labels_total": f.labels.len(),
        "labels": labels,
        "folded_events": folded,
        "dropped_events": dropped,
        "limit_events": events.map_or(Vec::new(), |es| es.iter().map(|e| event_json(e)).collect()),
    })
}

fn event_json(e: &LimitEvents) -> Value {
    json!({
        "family": e.family,
        "reason": e.reason.as_str(),
        "action": if e.folded { "folded" } else { "dropped" },
        "events": e.events,
    })
}

fn limits_json(l: &Limits) -> Value {
    json!({
        "max_series": l.max_series,
        "max_series_per_family": l.max_series_per_family,
        "max_label_values": l.max_label_values,
        "max_label_value_length": l.max_label_value_length,
        "max_labels": l.max_labels,
        "action": action_str(l.action),
    })
}

fn limit_rows(l: &Limits) -> [(&'static str, &'static str, usize); 5] {
    [
        ("live series, all families", "max-series", l.max_series),
        (
            "live series per family",
            "max-series-per-family",
            l.max_series_per_family,
        ),
        (
            "distinct values per label and family",
            "max-label-values",
            l.max_label_values,
        ),
        (
            "label value length (bytes)",
            "max-label-value-length",
            l.max_label_value_length,
        ),
        ("labels per series", "max-labels", l.max_labels),
    ]
}

fn action_str(a: LimitAction) -> &'static str {
    match a {
        LimitAction::Fold => "fold",
        LimitAction::Drop => "drop",
    }
}

fn family_totals(events: Option<&Vec<&LimitEvents>>) -> (u64, u64) {
    events.map_or((0, 0), |es| {
        es.iter().fold((0, 0), |(f, d), e| {
            if e.folded {
                (f + e.events, d)
            } else {
                (f, d + e.events)
            }
        })
    })
}

fn fmt_pct(p: f64) -> String {
    if p > 0.0 && p < 0.1 {
        "&lt;0.1&nbsp;%".to_string()
    } else {
        format!("{p:.1}&nbsp;%")
    }
}

/// A percentage bar; the width is a number, never text from the store.
fn bar(p: f64) -> String {
    format!(
        "<span class=\"bar\"><span style=\"width:{:.0}%\"></span></span>",
        p.clamp(0.0, 100.0)
    )
}

fn pct_cell(p: Option<f64>, status: Status) -> String {
    match p {
        None => "&ndash;".to_string(),
        Some(p) => format!("{} {}{}", bar(p), fmt_pct(p), status.badge()),
    }
}

fn overflow_cell(n: usize) -> String {
    if n == 0 {
        "0".to_string()
    } else {
        format!("<span class=\"ovf\" data-overflow=\"{n}\">{n}</span>")
    }
}

/// Shortens long label values (on a character boundary).
fn shorten(v: &str) -> std::borrow::Cow<'_, str> {
    match v.char_indices().nth(MAX_SHOWN_VALUE_CHARS) {
        None => v.into(),
        Some((i, _)) => format!("{}\u{2026} ({} bytes)", &v[..i], v.len()).into(),
    }
}

/// Escapes text for HTML element content and quoted attribute values.
/// Control characters (other than tab and newline) become U+FFFD so nothing
/// can confuse a parser or a terminal.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '`' => out.push_str("&#96;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "<style>\
body{font:14px/1.4 system-ui,-apple-system,'DejaVu Sans',sans-serif;margin:1.5em;color:#1b1f24;background:#fff}\
h1{margin:.2em 0}h2{margin-top:1.6em;border-bottom:1px solid #d0d7de}h3{margin:.3em 0;font-size:15px}\
h3 small{font-weight:normal;color:#57606a}\
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}\
code{font-family:'DejaVu Sans Mono',monospace;font-size:13px;word-break:break-all}\
.note{color:#57606a;font-size:13px}.nav{font-size:13px}\
.badge{display:inline-block;font-size:11px;font-weight:bold;padding:1px 6px;border-radius:8px;margin-left:4px;color:#fff}\
.badge.near{background:#bf8700}.badge.at{background:#cf222e}\
tr.near{background:#fff8c5}tr.at{background:#ffebe9}\
.bar{display:inline-block;width:80px;height:8px;background:#eaeef2;border-radius:4px;vertical-align:middle}\
.bar span{display:block;height:8px;background:#0969da;border-radius:4px}\
tr.near .bar span{background:#bf8700}tr.at .bar span{background:#cf222e}\
.ovf{color:#cf222e;font-weight:bold}.folded{color:#9a6700}.dropped{color:#cf222e}\
section.fam{border:1px solid #d0d7de;border-radius:6px;padding:.5em 1em;margin:.8em 0}\
section.fam.at{border-color:#cf222e}section.fam.near{border-color:#bf8700}\
ol.values{margin:0;padding-left:1.6em}ol.values .c{color:#57606a}\
</style>";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{FamilyType, LabelCardinality};

    fn limits() -> Limits {
        Limits {
            max_series: 100,
            max_series_per_family: 10,
            max_label_values: 5,
            max_label_value_length: 64,
            max_labels: 4,
            action: LimitAction::Fold,
        }
    }

    const EVIL: &str = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>&amp;`";

    fn report() -> CardinalityReport {
        CardinalityReport {
            series: 13,
            limits: limits(),
            families: vec![
                FamilyCardinality {
                    name: "airflow_task_finishes_total".into(),
                    kind: FamilyType::Counter,
                    series: 10,
                    overflow_series: 1,
                    max_series: 10,
                    labels: vec![
                        LabelCardinality {
                            name: "task_id".into(),
                            distinct_values: 5,
                            overflow: true,
                            max_values: 5,
                            top_values: vec![
                                (EVIL.into(), 3),
                                ("t1".into(), 2),
                                (OVERFLOW.into(), 1),
                            ],
                        },
                        LabelCardinality {
                            name: "dag_id".into(),
                            distinct_values: 4,
                            overflow: false,
                            max_values: 5,
                            top_values: vec![("d\"1".into(), 7)],
                        },
                    ],
                },
                FamilyCardinality {
                    name: "g".into(),
                    kind: FamilyType::Gauge,
                    series: 3,
                    overflow_series: 0,
                    max_series: 10,
                    labels: vec![],
                },
            ],
        }
    }

    fn page() -> Cardinality {
        Cardinality::new(
            report(),
            vec![
                LimitEvents {
                    family: "airflow_task_finishes_total".into(),
                    reason: LimitReason::MaxLabelValues,
                    folded: true,
                    events: 42,
                },
                LimitEvents {
                    family: EVIL.into(),
                    reason: LimitReason::MaxSeries,
                    folded: false,
                    events: 7,
                },
            ],
        )
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape_html("<a href=\"x\">'&'</a>`"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;&#96;"
        );
        assert_eq!(escape_html("plain task_id.1"), "plain task_id.1");
        assert_eq!(escape_html("a\u{0}b\u{1b}[31m"), "a\u{fffd}b\u{fffd}[31m");
        assert_eq!(escape_html("tab\there"), "tab\there");
        assert_eq!(escape_html("ünïcødé ✓"), "ünïcødé ✓");
    }

    #[test]
    fn html_escapes_every_store_text() {
        let html = page().to_html();
        // The payload appears only escaped: no tag and no attribute breakout.
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("onerror=alert(1)>"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(html.contains("d&quot;1"));
        // The only <script in the page would be an injected one.
        assert!(!html.to_ascii_lowercase().contains("<script"));
        // Scripts are forbidden by the page itself.
        assert!(html.contains("default-src &#39;none&#39;"));
    }

    #[test]
    fn html_marks_limits_and_caps() {
        let html = page().to_html();
        // 10/10 series per family: at the bound; task_id 5/5 values (6 incl. __overflow__).
        assert!(html.contains("class=\"family at\" data-family=\"airflow_task_finishes_total\""));
        assert!(html.contains("class=\"label at\" data-label=\"task_id\""));
        // dag_id: 4/5 = 80 %: near.
        assert!(html.contains("class=\"label near\" data-label=\"dag_id\""));
        assert!(html.contains("data-overflow=\"1\""));
        assert!(html.contains("AT LIMIT") && html.contains("NEAR LIMIT"));
        assert!(html.contains("42 folded (max_label_values)"));
        assert!(html.contains(&format!("top {TOP_FAMILIES} families")));
        assert!(html.contains("2 of 2 families shown"));
    }

    #[test]
    fn html_caps_families_labels_values_and_long_values() {
        let long = "v".repeat(5000);
        let fam = |i: usize| FamilyCardinality {
            name: format!("fam_{i:03}"),
            kind: FamilyType::Summary,
            series: 1000 - i,
            overflow_series: 0,
            max_series: 0,
            labels: (0..20)
                .map(|j| LabelCardinality {
                    name: format!("label_{j:02}"),
                    distinct_values: 100,
                    overflow: false,
                    max_values: 0,
                    top_values: (0..20).map(|k| (format!("{long}{k}"), 1)).collect(),
                })
                .collect(),
        };
        let c = Cardinality::new(
            CardinalityReport {
                series: 100_000,
                families: (0..200).map(fam).collect(),
                limits: Limits::NONE,
            },
            vec![],
        );
        let html = c.to_html();
        assert!(html.contains("fam_049"));
        assert!(!html.contains("fam_050"));
        assert!(html.contains("label_09"));
        assert!(!html.contains("label_10"));
        assert!(html.contains("50 of 200 families shown"));
        assert!(!html.contains(&long), "long values are shortened");
        assert!(html.len() < 2_000_000, "{}", html.len());
        let json = c.to_json();
        assert_eq!(json["families"].as_array().unwrap().len(), TOP_FAMILIES);
        assert_eq!(json["families_total"], 200);
        assert_eq!(
            json["families"][0]["labels"].as_array().unwrap().len(),
            TOP_LABELS
        );
        assert_eq!(
            json["families"][0]["labels"][0]["top_values"]
                .as_array()
                .unwrap()
                .len(),
            TOP_VALUES
        );
        assert_eq!(json["global"]["status"], "unlimited");
        assert!(json["global"]["percent"].is_null());
    }

    #[test]
    fn json_shape() {
        let v = page().to_json();
        // Round-trips through text (what the handler sends).
        let v: Value = serde_json::from_str(&v.to_string()).unwrap();
        assert_eq!(v["series"], 13);
        assert_eq!(v["families_total"], 2);
        assert_eq!(v["limits"]["max_series"], 100);
        assert_eq!(v["limits"]["max_series_per_family"], 10);
        assert_eq!(v["limits"]["max_label_values"], 5);
        assert_eq!(v["limits"]["max_label_value_length"], 64);
        assert_eq!(v["limits"]["max_labels"], 4);
        assert_eq!(v["limits"]["action"], "fold");
        assert_eq!(v["global"]["series"], 13);
        assert_eq!(v["global"]["percent"], 13.0);
        assert_eq!(v["global"]["status"], "ok");
        assert_eq!(v["near_percent"], 80.0);
        assert_eq!(v["shown"]["max_families"], TOP_FAMILIES);

        let f = &v["families"][0];
        assert_eq!(f["name"], "airflow_task_finishes_total");
        assert_eq!(f["type"], "counter");
        assert_eq!(f["series"], 10);
        assert_eq!(f["overflow_series"], 1);
        assert_eq!(f["percent_of_family_limit"], 100.0);
        assert_eq!(f["percent_of_global_limit"], 10.0);
        assert_eq!(f["status"], "at");
        assert_eq!(f["labels_total"], 2);
        assert_eq!(f["folded_events"], 42);
        assert_eq!(f["dropped_events"], 0);
        assert_eq!(f["limit_events"][0]["reason"], "max_label_values");
        assert_eq!(f["limit_events"][0]["action"], "folded");

        let t = &f["labels"][0];
        assert_eq!(t["name"], "task_id");
        assert_eq!(t["distinct_values"], 5);
        assert_eq!(t["overflow"], true);
        assert_eq!(t["limit"], 5);
        assert_eq!(t["percent_of_limit"], 100.0);
        assert_eq!(t["status"], "at");
        // Values are data in JSON: kept verbatim (serde escapes for JSON).
        assert_eq!(t["top_values"][0]["value"], EVIL);
        assert_eq!(t["top_values"][0]["series"], 3);
        assert_eq!(f["labels"][1]["status"], "near");

        let g = &v["families"][1];
        assert_eq!(g["type"], "gauge");
        assert_eq!(g["labels"], json!([]));
        assert_eq!(g["limit_events"], json!([]));
        assert_eq!(g["status"], "ok");

        assert_eq!(v["limit_events_total"]["folded"], 42);
        assert_eq!(v["limit_events_total"]["dropped"], 7);
        assert_eq!(v["limit_events"][0]["events"], 42);
        assert_eq!(v["limit_events"][1]["family"], EVIL);
        assert_eq!(v["limit_events"][1]["action"], "dropped");
        assert_eq!(v["limit_events"][1]["reason"], "max_series");
    }

    #[test]
    fn usage_thresholds() {
        assert_eq!(usage(5, 0), (None, Status::Unlimited));
        assert_eq!(usage(79, 100).1, Status::Ok);
        assert_eq!(usage(80, 100).1, Status::Near);
        assert_eq!(usage(99, 100).1, Status::Near);
        assert_eq!(usage(100, 100).1, Status::At);
        assert_eq!(usage(108, 100).1, Status::At);
    }

    #[test]
    fn collect_from_a_folding_store() {
        use crate::store::{Op, Update};
        use std::time::{Duration, Instant};
        let mut store = Store::new(Duration::from_secs(60)).with_limits(Limits {
            max_label_values: 3,
            ..Limits::NONE
        });
        let now = Instant::now();
        let values: Vec<String> = (0..10).map(|i| format!("<v{i}>")).collect();
        for v in &values {
            let labels = [("task_id", v.as_str())];
            store
                .apply(
                    &Update {
                        name: "c",
                        help: "h",
                        labels: &labels,
                        op: Op::CounterAdd(1.0),
                        ttl: Duration::ZERO,
                        limits: None,
                    },
                    now,
                )
                .unwrap();
        }
        let c = collect(&store);
        let v = c.to_json();
        assert_eq!(v["series"], 4);
        assert_eq!(v["families"][0]["overflow_series"], 1);
        assert_eq!(v["families"][0]["labels"][0]["distinct_values"], 3);
        assert_eq!(v["families"][0]["labels"][0]["overflow"], true);
        assert_eq!(v["families"][0]["labels"][0]["status"], "at");
        assert_eq!(v["families"][0]["folded_events"], 7);
        let html = c.to_html();
        assert!(html.contains("&lt;v0&gt;") && !html.contains("<v0>"));
        assert!(html.contains(OVERFLOW));
    }
}
