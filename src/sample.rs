//! The values that flow from the parser to the mapper and the store.

use std::borrow::Cow;

/// The StatsD metric classes that mapping rules can match on
/// (`match_metric_type`). Sets are matched as gauges because that is how
/// they are exposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricKind {
    Counter,
    Gauge,
    Observer,
}

impl MetricKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Observer => "observer",
        }
    }
}

/// One parsed value, already converted the way statsd_exporter converts it:
/// counters are divided by their sample rate, `ms` timers are divided by 1000.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SampleValue {
    Counter(f64),
    /// `relative` is set when the wire value carried a leading `+` or `-`.
    Gauge {
        value: f64,
        relative: bool,
    },
    /// `weight` is 1/sample-rate (1.0 when unsampled): how many observations
    /// this one sample stands for.
    Observer {
        value: f64,
        weight: f64,
    },
    /// A StatsD set member; the member text is in `Sample::set_member`.
    Set,
}

impl SampleValue {
    pub fn kind(&self) -> MetricKind {
        match self {
            SampleValue::Counter(_) => MetricKind::Counter,
            SampleValue::Gauge { .. } | SampleValue::Set => MetricKind::Gauge,
            SampleValue::Observer { .. } => MetricKind::Observer,
        }
    }

    /// The numeric value (0 for sets).
    pub fn value(&self) -> f64 {
        match *self {
            SampleValue::Counter(v) => v,
            SampleValue::Gauge { value, .. } => value,
            SampleValue::Observer { value, .. } => value,
            SampleValue::Set => 0.0,
        }
    }
}

/// A tag: key already escaped like a metric name, value verbatim.
pub type Tag<'a> = (Cow<'a, str>, Cow<'a, str>);

/// One sample of one StatsD line, borrowing from the datagram where it can.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample<'a> {
    /// The metric name with any name-embedded tag sections removed.
    pub name: Cow<'a, str>,
    pub value: SampleValue,
    /// For sets: the member as sent. Empty otherwise.
    pub set_member: &'a str,
    pub tags: Vec<Tag<'a>>,
}
