//! Line formatting: how Airflow's StatsD clients write one metric, per mode.
//!
//! * plain and InfluxDB mode: pystatsd 4.0.1 (`statsd.StatsClient`): one line
//!   per datagram, no trailing newline, timers as `%0.6f` milliseconds,
//!   gauges with Python's `str()` of the value; InfluxDB tags are appended to
//!   the name by Airflow (`name,k=v,k2=v2`) before the prefix is added.
//! * DogStatsD mode: datadog 0.56.0 (`DogStatsd`): one line per datagram
//!   terminated by `\n`, values with Python's `repr()`, `|@rate` before
//!   `|#tags`, constant tags appended after the metric's own tags.

use std::fmt::Write as _;

/// How the simulated Airflow sends its metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `statsd_on=True`: tags are silently dropped.
    Plain,
    /// `statsd_datadog_enabled=True`: `|#k:v` tags, trailing `\n`.
    Dogstatsd,
    /// `statsd_influxdb_enabled=True`: `name,k=v:` tags.
    Influxdb,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Dogstatsd => "dogstatsd",
            Mode::Influxdb => "influxdb",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "plain" | "statsd" => Some(Mode::Plain),
            "dogstatsd" | "datadog" => Some(Mode::Dogstatsd),
            "influxdb" | "influx" => Some(Mode::Influxdb),
            _ => None,
        }
    }
}

/// What a timer value really is, which decides the unit on the wire
/// (`docs/simulator.md`, "Timer units"; `airflow-metrics.md` §2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerKind {
    /// A `timedelta` passed to `Stats.timing`: ms in plain/Influx mode; in
    /// DogStatsD mode seconds on 2.x (no `timer_unit_consistency`), ms on 3.x.
    Timedelta,
    /// A `Stats.timer()` context manager: ms in plain/Influx mode, seconds in
    /// DogStatsD mode (`timed()` without `use_ms`), every version.
    Context,
    /// A float number of seconds passed to `Stats.timing` (2.11
    /// queued/scheduled durations, 3.x `dag_processing.last_duration`):
    /// seconds in every mode although typed `ms`.
    Seconds,
    /// A float number of milliseconds (3.x task runner): ms everywhere.
    Millis,
}

/// One metric value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Val {
    Count(i64),
    GaugeInt(i64),
    GaugeFloat(f64),
    /// A duration in seconds; the unit on the wire follows the kind.
    Timer(TimerKind, f64),
}

/// Python's `repr(float)`: shortest round-trip digits, `.0` on integral
/// values. Values are kept in `[1e-4, 1e16)` by the generator, where Python
/// does not switch to exponent notation.
pub fn py_float(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e16 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Everything needed to write lines for one deployment.
#[derive(Clone, Debug)]
pub struct Wire {
    pub mode: Mode,
    pub v3: bool,
    pub prefix: String,
    /// DogStatsD constant tags (`statsd_datadog_tags`), `k:v` each.
    pub constant_tags: Vec<String>,
}

impl Wire {
    /// The wire value and StatsD type of `val`.
    fn value(&self, val: Val) -> (String, &'static str) {
        let dd = self.mode == Mode::Dogstatsd;
        match val {
            Val::Count(n) => (n.to_string(), "c"),
            Val::GaugeInt(n) => (n.to_string(), "g"),
            Val::GaugeFloat(f) => (py_float(f), "g"),
            Val::Timer(kind, secs) => {
                let number = match kind {
                    TimerKind::Timedelta => {
                        // timedelta has microsecond resolution.
                        let micros = (secs * 1e6).round();
                        if dd && !self.v3 {
                            micros / 1e6
                        } else {
                            micros / 1e3
                        }
                    }
                    TimerKind::Context => {
                        if dd {
                            secs
                        } else {
                            secs * 1e3
                        }
                    }
                    TimerKind::Seconds => secs,
                    TimerKind::Millis => secs * 1e3,
                };
                if dd {
                    (py_float(number), "ms")
                } else {
                    (format!("{number:.6}"), "ms")
                }
            }
        }
    }

    /// One line (with its trailing `\n` in DogStatsD mode). `tags` are the
    /// metric's own tags; plain mode drops them.
    pub fn line(&self, name: &str, tags: &[(&str, &str)], val: Val, rate: Option<&str>) -> String {
        let (value, kind) = self.value(val);
        let mut out = String::with_capacity(64 + name.len());
        out.push_str(&self.prefix);
        out.push('.');
        out.push_str(name);
        if self.mode == Mode::Influxdb {
            for (k, v) in tags {
                let _ = write!(out, ",{k}={v}");
            }
        }
        let _ = write!(out, ":{value}|{kind}");
        if let Some(rate) = rate {
            let _ = write!(out, "|@{rate}");
        }
        if self.mode == Mode::Dogstatsd {
            let mut first = true;
            let all = tags
                .iter()
                .map(|(k, v)| format!("{k}:{v}"))
                .chain(self.constant_tags.iter().cloned());
            for t in all {
                out.push_str(if first { "|#" } else { "," });
                first = false;
                out.push_str(&t);
            }
            out.push('\n');
        }
        out
    }

    /// The datadog client's own telemetry datagram (11 lines, no prefix),
    /// sent about every 10 s by every long-lived DogStatsD client.
    pub fn dogstatsd_telemetry(&self, metrics: u64, bytes: u64, packets: u64) -> String {
        let mut tags = String::from("client:py,client_version:0.56.0,client_transport:udp");
        for t in &self.constant_tags {
            tags.push(',');
            tags.push_str(t);
        }
        let values: [(&str, u64); 11] = [
            ("metrics", metrics),
            ("events", 0),
            ("service_checks", 0),
            ("bytes_sent", bytes),
            ("bytes_dropped", 0),
            ("bytes_dropped_queue", 0),
            ("bytes_dropped_writer", 0),
            ("packets_sent", packets),
            ("packets_dropped", 0),
            ("packets_dropped_queue", 0),
            ("packets_dropped_writer", 0),
        ];
        let mut out = String::new();
        for (name, v) in values {
            let _ = writeln!(out, "datadog.dogstatsd.client.{name}:{v}|c|#{tags}");
        }
        out
    }

    /// A substituted value in a legacy name: 3.2+ replaces `.` by `__`.
    pub fn ev<'a>(&self, value: &'a str) -> std::borrow::Cow<'a, str> {
        if self.v3 && value.contains('.') {
            value.replace('.', "__").into()
        } else {
            value.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(mode: Mode, v3: bool) -> Wire {
        Wire {
            mode,
            v3,
            prefix: "airflow".into(),
            constant_tags: vec!["env:prod".into()],
        }
    }

    #[test]
    fn formats_like_the_captures() {
        let w = wire(Mode::Plain, true);
        assert_eq!(
            w.line(
                "dagrun.duration.success.d1",
                &[],
                Val::Timer(TimerKind::Timedelta, 1.5),
                None
            ),
            "airflow.dagrun.duration.success.d1:1500.000000|ms"
        );
        assert_eq!(
            w.line(
                "dag_processing.processes",
                &[("a", "b")],
                Val::Count(-1),
                None
            ),
            "airflow.dag_processing.processes:-1|c"
        );
        let w = wire(Mode::Influxdb, true);
        assert_eq!(
            w.line(
                "pool.open_slots",
                &[("pool_name", "default_pool")],
                Val::GaugeInt(128),
                None
            ),
            "airflow.pool.open_slots,pool_name=default_pool:128|g"
        );
        let w = wire(Mode::Dogstatsd, true);
        assert_eq!(
            w.line(
                "dagrun.duration.success",
                &[("dag_id", "d1")],
                Val::Timer(TimerKind::Timedelta, 1.5),
                None
            ),
            "airflow.dagrun.duration.success:1500.0|ms|#dag_id:d1,env:prod\n"
        );
        assert_eq!(
            w.line("dagbag_size", &[], Val::GaugeInt(7), Some("0.1")),
            "airflow.dagbag_size:7|g|@0.1|#env:prod\n"
        );
        assert_eq!(
            w.line("x", &[], Val::Timer(TimerKind::Context, 0.25), None),
            "airflow.x:0.25|ms|#env:prod\n"
        );
        let w2 = wire(Mode::Dogstatsd, false);
        assert_eq!(
            w2.line("x", &[], Val::Timer(TimerKind::Timedelta, 14.674156), None),
            "airflow.x:14.674156|ms|#env:prod\n"
        );
        assert_eq!(py_float(1.0), "1.0");
        assert_eq!(py_float(0.5), "0.5");
        assert_eq!(w.ev("a.b"), "a__b");
        assert_eq!(w2.ev("a.b"), "a.b");
    }
}
