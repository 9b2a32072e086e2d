//! Command line: every statsd_exporter (v0.26–v0.30) invocation, unchanged.
//!
//! statsd_exporter parses its flags with kingpin, so this module accepts the
//! kingpin syntax on top of clap:
//!
//! * `--flag=value` and `--flag value`;
//! * booleans as `--flag`, `--no-flag` and `--flag=true|false` (Go
//!   `strconv.ParseBool` spellings: `1 t T TRUE true True 0 f F FALSE false
//!   False`);
//! * integers in Go base-0 syntax (`1000`, `0x400`, `0o755`, `1_000`);
//!   durations in Go syntax (`200ms`, `1m30s`);
//! * a single-valued flag given twice keeps the last value (kingpin refuses
//!   it; being lenient costs nothing);
//! * `-h`/`--help`, `--version`.
//!
//! Every flag also reads an environment variable, named the way kingpin's
//! `DefaultEnvars()` would for the app `statsd_exporter`:
//! `STATSD_EXPORTER_` + the flag name upper-cased with every run of
//! characters other than `[A-Za-z0-9_]` turned into `_`. The command line
//! wins over the environment. An empty environment value counts as unset
//! (kingpin's rule), except for single-valued string flags, where it is an
//! explicit empty value (so `STATSD_EXPORTER_STATSD_LISTEN_TCP=` disables the
//! TCP listener). Repeatable flags split their variable on commas and
//! newlines.
//!
//! All of it — clap arguments, help text, env twins, `docs/flags.md` — is
//! generated from the one table [`FLAGS`].

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches};

use crate::duration::{format_go_duration, parse_go_duration};

/// Name shown in `--version` and usage.
pub const APP_NAME: &str = "airflow-statsd-exporter";

/// Prefix of every flag's environment variable (kingpin `DefaultEnvars()`
/// for the app `statsd_exporter`).
pub const ENV_PREFIX: &str = "STATSD_EXPORTER_";

/// Text after the program name in `--version`.
const VERSION_TEXT: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncompatible with statsd_exporter 0.30 flags (accepts every v0.26-v0.30 command line)"
);

const ABOUT: &str = "StatsD in, bounded Prometheus series out: a drop-in replacement for \
prometheus/statsd_exporter, tuned for Apache Airflow.";

const AFTER_HELP: &str = "\
Flag syntax is kingpin's, as in statsd_exporter: --flag=value or --flag value; \
booleans as --flag, --no-flag or --flag=true|false. \
An empty address (--statsd.listen-tcp= or --statsd.listen-tcp \"\") disables that listener. \
Every flag can also be set through the environment variable shown next to it; \
the command line wins. Flags under \"No-op flags\" are accepted and validated \
for compatibility, then ignored.";

/// What `main` should do.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Run the exporter (no subcommand).
    Run(Config),
    /// `explain`: show how StatsD lines go through parsing and mapping.
    /// Lines given as arguments come first, then those of `file` if any
    /// (`-` means stdin). Both may be empty; the caller decides what that
    /// means.
    /// `print-profile`: the built-in Airflow profile as a statsd_exporter
    /// mapping file.
    PrintProfile { config: Config },
    /// `healthcheck`: GET `/-/healthy` on the first --web.listen-address;
    /// exit 0 on 200 (the image's HEALTHCHECK; no curl needed).
    Healthcheck { config: Config },
    Explain {
        config: Config,
        lines: Vec<String>,
        file: Option<PathBuf>,
    },
    /// `simulate`: send the StatsD traffic of a simulated Airflow deployment
    /// (flags in [`crate::simulate::cli::SIM_FLAGS`]).
    Simulate(SimulateArgs),
}

pub use crate::simulate::cli::SimulateArgs;

/// Which built-in model applies (`--statsd.profile`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    Auto,
    Airflow,
    None,
}

/// Mapping cache replacement policy (`--statsd.cache-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CacheKind {
    Lru,
    Random,
}

/// Minimum log severity (`--log.level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// Log line format (`--log.format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogFormat {
    Logfmt,
    Json,
}

/// Everything the flags say. `Config::default()` is what no flags and no
/// environment give.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `--web.listen-address` (repeatable; empty values are dropped, so an
    /// explicit `--web.listen-address=` alone leaves this empty).
    pub web_listen_addresses: Vec<String>,
    pub web_telemetry_path: String,
    pub web_enable_lifecycle: bool,
    pub web_enable_openmetrics: bool,
    pub web_config_file: Option<PathBuf>,
    /// `--web.read-header-timeout` (0 = none).
    pub web_read_header_timeout: Duration,
    pub web_max_header_bytes: usize,
    /// `--web.request-timeout` (0 = none).
    pub web_request_timeout: Duration,
    /// `--web.max-requests` (0 = no limit).
    pub web_max_requests: usize,
    /// `--web.max-connections` (0 = no limit).
    pub web_max_connections: usize,
    /// `None` = disabled (explicitly empty).
    pub statsd_listen_udp: Option<String>,
    /// `None` = disabled (explicitly empty).
    pub statsd_listen_tcp: Option<String>,
    pub statsd_listen_unixgram: Option<PathBuf>,
    pub statsd_listen_unixstream: Option<PathBuf>,
    /// Permission bits, parsed as octal (`755` → `0o755`).
    pub statsd_unixsocket_mode: u32,
    pub mapping_config: Option<PathBuf>,
    /// SO_RCVBUF in bytes; 0 = let the exporter choose.
    pub read_buffer: usize,
    /// 0 disables the mapping cache.
    pub cache_size: usize,
    pub cache_type: CacheKind,
    pub parse_dogstatsd_tags: bool,
    pub parse_influxdb_tags: bool,
    pub parse_librato_tags: bool,
    pub parse_signalfx_tags: bool,
    pub container_id_label: bool,
    /// `--statsd.relay.address` (repeatable; empty values are dropped).
    pub relay_addresses: Vec<String>,
    pub relay_packet_length: usize,
    pub tcp_max_connections: usize,
    /// UDP sockets/threads on one port (SO_REUSEPORT); 0 = available cores.
    pub udp_readers: usize,
    /// `--statsd.profile`.
    pub profile: Profile,
    /// `--statsd.airflow-prefix`.
    pub airflow_prefix: String,
    /// `--statsd.max-series` (0 = unlimited).
    pub max_series: usize,
    pub max_series_per_family: usize,
    pub max_label_values: usize,
    pub max_label_value_length: usize,
    pub max_labels: usize,
    /// `--statsd.ttl`.
    pub default_ttl: Duration,
    /// `--statsd.mapping-config-watch-interval` (zero: no watching).
    pub mapping_watch_interval: Duration,
    /// `--web.shutdown-grace-period`.
    pub shutdown_grace_period: Duration,
    /// `--statsd.limit-action=drop`.
    pub limit_action_drop: bool,
    pub max_line_length: usize,
    pub set_window: Duration,
    pub check_config: bool,
    pub log_level: LogLevel,
    pub log_format: LogFormat,
    /// No-op, kept for logging/compatibility.
    pub event_queue_size: usize,
    /// No-op, kept for logging/compatibility.
    pub event_flush_threshold: usize,
    /// No-op, kept for logging/compatibility.
    pub event_flush_interval: Duration,
    /// No-op, kept for logging/compatibility.
    pub udp_packet_queue_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        match parse_args_with_env([APP_NAME], &|_| None) {
            Ok(Command::Run(config)) => config,
            other => panic!("flag table bug: parsing no arguments gave {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// The flag table.
// ---------------------------------------------------------------------------

/// Type of a flag's value; decides parsing, validation and the value name
/// shown in help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagKind {
    /// Any text.
    Text,
    /// A URL path; must start with `/`.
    UrlPath,
    /// A listen or target address; empty = disabled / none.
    Address,
    /// A file path; empty = unset.
    Path,
    /// Go `strconv.ParseBool`.
    Bool,
    /// Non-negative integer, Go base-0 syntax (kingpin `Int`/`Uint`).
    Uint,
    /// Permission bits in octal, at most `7777`.
    OctalMode,
    /// Go duration, non-negative.
    Duration,
    /// One of a fixed, case-sensitive set (kingpin `Enum`).
    Choice(&'static [&'static str]),
}

impl FlagKind {
    fn value_name(self) -> String {
        match self {
            FlagKind::Text => "STRING".into(),
            FlagKind::UrlPath => "PATH".into(),
            FlagKind::Address => "ADDRESS".into(),
            FlagKind::Path => "FILE".into(),
            FlagKind::Bool => "BOOL".into(),
            FlagKind::Uint => "N".into(),
            FlagKind::OctalMode => "MODE".into(),
            FlagKind::Duration => "DURATION".into(),
            FlagKind::Choice(choices) => choices.join("|"),
        }
    }

    /// Whether an empty environment value is an explicit empty value
    /// (string kinds) rather than "unset" (kingpin's rule for the rest).
    fn empty_env_is_value(self) -> bool {
        matches!(self, FlagKind::Text | FlagKind::Address | FlagKind::Path)
    }
}

/// Help section of a flag. No-op flags always go to their own section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagGroup {
    Web,
    Listeners,
    Parsing,
    Mapping,
    Relay,
    Logging,
    Other,
}

impl FlagGroup {
    fn heading(self) -> &'static str {
        match self {
            FlagGroup::Web => "Web",
            FlagGroup::Listeners => "StatsD listeners",
            FlagGroup::Parsing => "StatsD parsing",
            FlagGroup::Mapping => "Mapping",
            FlagGroup::Relay => "Relay",
            FlagGroup::Logging => "Logging",
            FlagGroup::Other => "Other",
        }
    }
}

const NOOP_HEADING: &str =
    "No-op flags (accepted and validated for statsd_exporter compatibility, then ignored)";

/// One flag. `FLAGS` holds them all.
#[derive(Clone, Copy, Debug)]
pub struct FlagSpec {
    /// Long name without the leading `--`.
    pub name: &'static str,
    /// Default as the user would type it; `""` = empty / none.
    pub default: &'static str,
    /// Help text (statsd_exporter's wording where the flag is theirs).
    pub help: &'static str,
    pub kind: FlagKind,
    pub group: FlagGroup,
    /// May be given several times; values accumulate.
    pub repeatable: bool,
    /// `Some(why)` for flags that parse and validate but do nothing here.
    pub noop: Option<&'static str>,
    /// Added by this exporter (statsd_exporter does not have it).
    pub new: bool,
}

impl FlagSpec {
    const fn new(
        name: &'static str,
        kind: FlagKind,
        default: &'static str,
        group: FlagGroup,
        help: &'static str,
    ) -> FlagSpec {
        FlagSpec {
            name,
            default,
            help,
            kind,
            group,
            repeatable: false,
            noop: None,
            new: false,
        }
    }

    const fn repeatable(self) -> FlagSpec {
        FlagSpec {
            repeatable: true,
            ..self
        }
    }

    const fn noop(self, why: &'static str) -> FlagSpec {
        FlagSpec {
            noop: Some(why),
            ..self
        }
    }

    const fn ours(self) -> FlagSpec {
        FlagSpec { new: true, ..self }
    }

    /// The environment twin, e.g. `STATSD_EXPORTER_STATSD_LISTEN_UDP`.
    pub fn env_var(&self) -> String {
        let mut out = String::from(ENV_PREFIX);
        let mut last_was_sep = false;
        for c in self.name.chars() {
            if c.is_ascii_alphanumeric() || c == '_' {
                out.push(c.to_ascii_uppercase());
                last_was_sep = false;
            } else if !last_was_sep {
                out.push('_');
                last_was_sep = true;
            }
        }
        out
    }

    fn heading(&self) -> &'static str {
        if self.noop.is_some() {
            NOOP_HEADING
        } else {
            self.group.heading()
        }
    }
}

use FlagGroup as G;
use FlagKind as K;

const NO_EVENT_QUEUE: &str =
    "events are applied as they are parsed; there is no internal event queue";
const NO_PACKET_QUEUE: &str = "there is no userspace packet queue; the kernel receive buffer \
(--statsd.read-buffer) is the queue";

/// Every flag, in help order. statsd_exporter's flags keep its names,
/// defaults and (mostly) help texts.
pub static FLAGS: &[FlagSpec] = &[
    // Web.
    FlagSpec::new(
        "web.listen-address",
        K::Address,
        ":9102",
        G::Web,
        "Address on which to expose the web interface and generated Prometheus metrics. \
         Repeatable for multiple addresses, e.g. `:9102` or `[::1]:9102`.",
    )
    .repeatable(),
    FlagSpec::new(
        "web.telemetry-path",
        K::UrlPath,
        "/metrics",
        G::Web,
        "Path under which to expose metrics.",
    ),
    FlagSpec::new(
        "web.enable-lifecycle",
        K::Bool,
        "false",
        G::Web,
        "Enable shutdown and reload via HTTP request (PUT/POST `/-/quit`, `/-/reload`).",
    ),
    FlagSpec::new(
        "web.shutdown-grace-period",
        K::Duration,
        "15s",
        G::Web,
        "On SIGTERM or SIGINT: stop receiving, ingest what is queued, then keep serving \
         `/metrics` this long so the last values can be scraped, and exit 0. A second signal \
         exits at once; `/-/quit` does not wait. Keep it below the pod's \
         terminationGracePeriodSeconds (30 s by default).",
    )
    .ours(),
    FlagSpec::new(
        "web.enable-openmetrics",
        K::Bool,
        "false",
        G::Web,
        "Serve OpenMetrics 1.0 text when the scraper asks for it in its Accept header; \
         otherwise the Prometheus text format 0.0.4 is served.",
    )
    .ours(),
    FlagSpec::new(
        "web.config.file",
        K::Path,
        "",
        G::Web,
        "Path to configuration file that can enable TLS or authentication (exporter-toolkit \
         format, see https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md). \
         Supported keys and limits: docs/web-config.md. The file and the certificates it names are \
         re-read when they change.",
    ),
    FlagSpec::new(
        "web.read-header-timeout",
        K::Duration,
        "10s",
        G::Web,
        "Time a client has to complete the TLS handshake and send a request's headers; slower \
         connections are closed (slowloris protection). 0 = no limit.",
    )
    .ours(),
    FlagSpec::new(
        "web.max-header-bytes",
        K::Uint,
        "65536",
        G::Web,
        "Largest request head (request line and headers) in bytes; larger ones get 431. \
         Values below 8192 count as 8192.",
    )
    .ours(),
    FlagSpec::new(
        "web.request-timeout",
        K::Duration,
        "30s",
        G::Web,
        "A request not answered within this gets 503. 0 = no limit.",
    )
    .ours(),
    FlagSpec::new(
        "web.max-requests",
        K::Uint,
        "40",
        G::Web,
        "Maximum number of parallel scrape requests on the metrics path; further ones get 503 at \
         once. 0 = no limit.",
    )
    .ours(),
    FlagSpec::new(
        "web.max-connections",
        K::Uint,
        "512",
        G::Web,
        "Maximum number of simultaneous HTTP connections; further ones wait in the listen \
         backlog. 0 = no limit.",
    )
    .ours(),
    // Listeners.
    FlagSpec::new(
        "statsd.listen-udp",
        K::Address,
        ":9125",
        G::Listeners,
        "The UDP address on which to receive statsd metric lines. \"\" disables it.",
    ),
    FlagSpec::new(
        "statsd.listen-tcp",
        K::Address,
        ":9125",
        G::Listeners,
        "The TCP address on which to receive statsd metric lines. \"\" disables it.",
    ),
    FlagSpec::new(
        "statsd.listen-unixgram",
        K::Path,
        "",
        G::Listeners,
        "The Unixgram socket path to receive statsd metric lines in datagram. \"\" disables it.",
    ),
    FlagSpec::new(
        "statsd.listen-unixstream",
        K::Path,
        "",
        G::Listeners,
        "The Unix stream socket path to receive newline-separated statsd metric lines \
         (what Airflow's `statsd_socket_path` connects to). \"\" disables it.",
    )
    .ours(),
    FlagSpec::new(
        "statsd.unixsocket-mode",
        K::OctalMode,
        "755",
        G::Listeners,
        "The permission mode of the unix sockets, in octal.",
    ),
    FlagSpec::new(
        "statsd.read-buffer",
        K::Uint,
        "0",
        G::Listeners,
        "Size (in bytes) of the operating system's receive buffer associated with the UDP or \
         Unixgram socket; 0 lets the exporter choose. Please make sure the kernel parameter \
         net.core.rmem_max is set to a value greater than the value specified.",
    ),
    FlagSpec::new(
        "statsd.udp-readers",
        K::Uint,
        "1",
        G::Listeners,
        "UDP sockets bound to --statsd.listen-udp with SO_REUSEPORT, one reader thread each \
         (the kernel spreads senders over them). One reader saturates one core (see \
         docs/performance.md); raise it only when the exporter has more than one core. 0 = one \
         per available core.",
    )
    .ours(),
    FlagSpec::new(
        "statsd.tcp-max-connections",
        K::Uint,
        "1024",
        G::Listeners,
        "Maximum number of concurrent TCP connections; further connections are refused.",
    )
    .ours(),
    FlagSpec::new(
        "statsd.max-series",
        K::Uint,
        "50000",
        G::Listeners,
        "Limit on live series across all families (0 = none). An event that would create one \
         more is folded into its family's overflow series (see --statsd.limit-action).",
    )
    .ours(),
    FlagSpec::new(
        "statsd.max-series-per-family",
        K::Uint,
        "10000",
        G::Listeners,
        "Limit on live series in one family (0 = none).",
    )
    .ours(),
    FlagSpec::new(
        "statsd.max-label-values",
        K::Uint,
        "2000",
        G::Listeners,
        "Limit on distinct values of one label within a family, e.g. task_id (0 = none); \
         further values read __overflow__.",
    )
    .ours(),
    FlagSpec::new(
        "statsd.max-label-value-length",
        K::Uint,
        "1024",
        G::Listeners,
        "Longest label value in bytes (0 = none); longer values read __overflow__.",
    )
    .ours(),
    FlagSpec::new(
        "statsd.max-labels",
        K::Uint,
        "32",
        G::Listeners,
        "Most labels on one series (0 = none); labels past this, in name order, are removed.",
    )
    .ours(),
    FlagSpec::new(
        "statsd.ttl",
        K::Duration,
        "0s",
        G::Listeners,
        "Default series TTL: a series not updated for this long is removed (0 = never). A \
         mapping's ttl, or the mapping file's defaults.ttl, takes precedence when not zero. \
         Counters that come back after expiring start again from zero.",
    )
    .ours(),
    FlagSpec::new(
        "statsd.limit-action",
        K::Choice(&["fold", "drop"]),
        "fold",
        G::Listeners,
        "What an event that breaks a cardinality limit does. fold: it goes to an overflow \
         series of its family whose offending labels read __overflow__, so sums stay exact; \
         drop: it is refused. Both are counted per family and limit.",
    )
    .ours(),
    FlagSpec::new(
        "statsd.max-line-length",
        K::Uint,
        "65536",
        G::Listeners,
        "Maximum length in bytes of a line on TCP and Unix stream connections; longer lines \
         are discarded and counted.",
    )
    .ours(),
    // Parsing.
    FlagSpec::new(
        "statsd.parse-dogstatsd-tags",
        K::Bool,
        "true",
        G::Parsing,
        "Parse DogStatsd style tags. Enabled by default.",
    ),
    FlagSpec::new(
        "statsd.parse-influxdb-tags",
        K::Bool,
        "true",
        G::Parsing,
        "Parse InfluxDB style tags. Enabled by default.",
    ),
    FlagSpec::new(
        "statsd.parse-librato-tags",
        K::Bool,
        "true",
        G::Parsing,
        "Parse Librato style tags. Enabled by default.",
    ),
    FlagSpec::new(
        "statsd.parse-signalfx-tags",
        K::Bool,
        "true",
        G::Parsing,
        "Parse SignalFX style tags. Enabled by default.",
    ),
    FlagSpec::new(
        "statsd.container-id-label",
        K::Bool,
        "false",
        G::Parsing,
        "Keep DogStatsD container ids (`|c:<id>`) as a `container_id` label, as \
         statsd_exporter always does. Off by default: one series per container is a \
         cardinality trap.",
    )
    .ours(),
    FlagSpec::new(
        "statsd.set-window",
        K::Duration,
        "1m",
        G::Parsing,
        "StatsD sets (`|s`) are exposed as the number of distinct members seen in this window.",
    )
    .ours(),
    // Mapping.
    FlagSpec::new(
        "statsd.mapping-config",
        K::Path,
        "",
        G::Mapping,
        "Metric mapping configuration file name.",
    ),
    FlagSpec::new(
        "statsd.mapping-config-watch-interval",
        K::Duration,
        "5s",
        G::Mapping,
        "How often the mapping file is checked for changes (content, so a Kubernetes ConfigMap's \
         symlink swap is seen); a change is reloaded once the file has stayed the same for one \
         more interval. 0 = only on SIGHUP or `/-/reload`.",
    )
    .ours(),
    FlagSpec::new(
        "statsd.profile",
        K::Choice(&["auto", "airflow", "none"]),
        "auto",
        G::Mapping,
        "Built-in metric model. auto: the Airflow profile when no --statsd.mapping-config is \
         given, statsd_exporter's behaviour otherwise; airflow: the mapping file's rules first, \
         then the Airflow profile; none: statsd_exporter's behaviour (escaped names).",
    )
    .ours(),
    FlagSpec::new(
        "statsd.airflow-prefix",
        K::Text,
        "airflow",
        G::Mapping,
        "Airflow's [metrics] statsd_prefix: names starting with it go through the Airflow profile.",
    )
    .ours(),
    FlagSpec::new(
        "statsd.cache-size",
        K::Uint,
        "1000",
        G::Mapping,
        "Maximum size of your metric mapping cache. Relies on least recently used replacement \
         policy if max size is reached. 0 disables the cache.",
    ),
    FlagSpec::new(
        "statsd.cache-type",
        K::Choice(&["lru", "random"]),
        "lru",
        G::Mapping,
        "Metric mapping cache type. Valid options are \"lru\" and \"random\".",
    ),
    // Relay.
    FlagSpec::new(
        "statsd.relay.address",
        K::Address,
        "",
        G::Relay,
        "The UDP relay target address (host:port). Repeatable.",
    )
    .repeatable(),
    FlagSpec::new(
        "statsd.relay.packet-length",
        K::Uint,
        "1400",
        G::Relay,
        "Maximum relay output packet length to avoid fragmentation.",
    ),
    // Logging.
    FlagSpec::new(
        "log.level",
        K::Choice(&["debug", "info", "warn", "error"]),
        "info",
        G::Logging,
        "Only log messages with the given severity or above. One of: [debug, info, warn, error]",
    ),
    FlagSpec::new(
        "log.format",
        K::Choice(&["logfmt", "json"]),
        "logfmt",
        G::Logging,
        "Output format of log messages. One of: [logfmt, json]",
    ),
    // Other.
    FlagSpec::new(
        "check-config",
        K::Bool,
        "false",
        G::Other,
        "Check configuration and exit.",
    ),
    // No-ops.
    FlagSpec::new(
        "statsd.event-queue-size",
        K::Uint,
        "10000",
        G::Listeners,
        "Size of internal queue for processing events.",
    )
    .noop(NO_EVENT_QUEUE),
    FlagSpec::new(
        "statsd.event-flush-threshold",
        K::Uint,
        "1000",
        G::Listeners,
        "Number of events to hold in queue before flushing.",
    )
    .noop(NO_EVENT_QUEUE),
    FlagSpec::new(
        "statsd.event-flush-interval",
        K::Duration,
        "200ms",
        G::Listeners,
        "Maximum time between event queue flushes.",
    )
    .noop(NO_EVENT_QUEUE),
    FlagSpec::new(
        "statsd.udp-packet-queue-size",
        K::Uint,
        "10000",
        G::Listeners,
        "Size of internal queue for processing UDP packets.",
    )
    .noop(NO_PACKET_QUEUE),
    FlagSpec::new(
        "web.systemd-socket",
        K::Bool,
        "false",
        G::Web,
        "Use systemd socket activation listeners instead of port listeners (Linux only).",
    )
    .noop("socket activation is not supported; the exporter binds --web.listen-address itself"),
    FlagSpec::new(
        "debug.dump-fsm",
        K::Text,
        "",
        G::Other,
        "The path to dump internal FSM generated for glob matching as Dot file.",
    )
    .noop("the mapping engine has no FSM to dump; use the `explain` subcommand to see how lines map"),
];

/// Looks a flag up by name.
pub fn flag_spec(name: &str) -> Option<&'static FlagSpec> {
    FLAGS.iter().find(|f| f.name == name)
}

// ---------------------------------------------------------------------------
// Values.
// ---------------------------------------------------------------------------

/// A parsed, validated flag value.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Text(String),
    Bool(bool),
    Uint(usize),
    Mode(u32),
    Duration(Duration),
}

fn parse_value(kind: FlagKind, raw: &str) -> Result<Value, String> {
    match kind {
        FlagKind::Text | FlagKind::Address | FlagKind::Path => Ok(Value::Text(raw.to_string())),
        FlagKind::UrlPath => {
            if raw.starts_with('/') {
                Ok(Value::Text(raw.to_string()))
            } else {
                Err(format!("the path must start with '/', got {raw:?}"))
            }
        }
        FlagKind::Bool => parse_go_bool(raw).map(Value::Bool),
        FlagKind::Uint => parse_go_uint(raw).map(Value::Uint),
        FlagKind::OctalMode => parse_octal_mode(raw).map(Value::Mode),
        FlagKind::Duration => parse_go_duration(raw).map(Value::Duration),
        FlagKind::Choice(choices) => {
            if choices.contains(&raw) {
                Ok(Value::Text(raw.to_string()))
            } else {
                Err(format!(
                    "{raw:?} is not one of {}",
                    choices
                        .iter()
                        .map(|c| format!("{c:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
        }
    }
}

/// Go `strconv.ParseBool`.
fn parse_go_bool(raw: &str) -> Result<bool, String> {
    match raw {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("expected true or false, got {raw:?}")),
    }
}

/// Go `strconv.ParseUint(s, 0, 64)` (what kingpin's integer flags use),
/// restricted to non-negative values: `1000`, `+5`, `0x400`, `0o755`,
/// `0755` (octal), `0b101`, `1_000`.
fn parse_go_uint(raw: &str) -> Result<usize, String> {
    let err = || format!("expected a non-negative integer, got {raw:?}");
    if raw.starts_with('-') {
        return Err(format!(
            "expected a non-negative integer, got {raw:?} (negative)"
        ));
    }
    let s = raw.strip_prefix('+').unwrap_or(raw);
    let lower = s.to_ascii_lowercase();
    let (digits, radix) = if let Some(d) = lower.strip_prefix("0x") {
        (d, 16)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (d, 8)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (d, 2)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (&lower[1..], 8)
    } else {
        (lower.as_str(), 10)
    };
    // Underscores only between digits.
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c == '_' || c.is_digit(radix))
    {
        return Err(err());
    }
    let cleaned: String = digits.chars().filter(|&c| c != '_').collect();
    usize::from_str_radix(&cleaned, radix).map_err(|_| format!("integer {raw:?} is too large"))
}

/// statsd_exporter: `strconv.ParseUint(mode, 8, 32)`; additionally capped at
/// `7777` since anything above is not a permission.
fn parse_octal_mode(raw: &str) -> Result<u32, String> {
    if raw.is_empty() || !raw.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(format!(
            "expected an octal permission mode like 755, got {raw:?}"
        ));
    }
    match u32::from_str_radix(raw, 8) {
        Ok(mode) if mode <= 0o7777 => Ok(mode),
        _ => Err(format!("permission mode {raw:?} is above 7777")),
    }
}

// ---------------------------------------------------------------------------
// clap.
// ---------------------------------------------------------------------------

fn flag_arg(spec: &'static FlagSpec) -> Arg {
    let kind = spec.kind;
    let mut help = String::new();
    if let Some(why) = spec.noop {
        let _ = write!(help, "[no-op: {why}] ");
    }
    help.push_str(spec.help);
    let _ = write!(help, " [env: {}]", spec.env_var());

    let mut arg = Arg::new(spec.name)
        .long(spec.name)
        .global(true)
        .help(help)
        .help_heading(spec.heading())
        .value_name(kind.value_name())
        .value_parser(move |s: &str| parse_value(kind, s));
    if kind == FlagKind::Bool {
        arg = arg
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true");
    }
    arg = if spec.repeatable {
        arg.action(ArgAction::Append)
    } else {
        arg.action(ArgAction::Set)
    };
    if !spec.default.is_empty() {
        arg = arg.default_value(spec.default);
    }
    arg
}

fn build_command() -> clap::Command {
    let explain = clap::Command::new("explain")
        .about(
            "Show how StatsD lines are parsed and mapped with the given flags \
             (notably --statsd.mapping-config), then exit",
        )
        .args_override_self(true)
        .arg(
            Arg::new("file")
                .long("file")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Also read StatsD lines from FILE, one per line (`-` = stdin)"),
        )
        .arg(
            Arg::new("lines")
                .value_name("LINE")
                .num_args(0..)
                .action(ArgAction::Append)
                .help("StatsD lines, e.g. 'airflow.dag.mydag.mytask.duration:12|ms'"),
        );

    let mut cmd = clap::Command::new(APP_NAME)
        .display_name(APP_NAME)
        .version(VERSION_TEXT)
        .about(ABOUT)
        .after_help(AFTER_HELP)
        .args_override_self(true)
        .subcommand_value_name("COMMAND")
        .subcommand(explain)
        .subcommand(crate::simulate::cli::command())
        .subcommand(clap::Command::new("healthcheck").about(
            "GET /-/healthy on the first --web.listen-address and exit 0 when it answers 200",
        ))
        .subcommand(clap::Command::new("print-profile").about(
            "Print the built-in Airflow profile as a statsd_exporter mapping file \
             (names under --statsd.airflow-prefix), then exit",
        ));
    for spec in FLAGS {
        cmd = cmd.arg(flag_arg(spec));
    }
    cmd
}

/// kingpin's `--no-flag` for boolean flags becomes `--flag=false`. Stops at
/// `--` (everything after it is positional).
fn rewrite_negations(args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut positional_only = false;
    for (i, arg) in args.into_iter().enumerate() {
        if i == 0 || positional_only {
            out.push(arg);
            continue;
        }
        if arg == "--" {
            positional_only = true;
            out.push(arg);
            continue;
        }
        let negated = arg
            .to_str()
            .and_then(|s| s.strip_prefix("--no-"))
            .and_then(flag_spec)
            .filter(|spec| spec.kind == FlagKind::Bool);
        match negated {
            Some(spec) => out.push(format!("--{}=false", spec.name).into()),
            None => out.push(arg),
        }
    }
    out
}

/// Values of every flag after command line, environment and defaults.
struct Resolved(HashMap<&'static str, Vec<Value>>);

fn resolve(
    cmd: &mut clap::Command,
    matches: &ArgMatches,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Resolved, clap::Error> {
    let mut values = HashMap::new();
    for spec in FLAGS {
        let from_cli = matches.value_source(spec.name) == Some(ValueSource::CommandLine);
        let resolved = if from_cli {
            matches
                .get_many::<Value>(spec.name)
                .map(|vs| vs.cloned().collect())
                .unwrap_or_default()
        } else if let Some(from_env) = env_values(cmd, spec, env)? {
            from_env
        } else if spec.default.is_empty() {
            Vec::new()
        } else {
            let value = parse_value(spec.kind, spec.default).map_err(|e| {
                cmd.error(
                    ErrorKind::InvalidValue,
                    format!("flag table bug: default of --{}: {e}", spec.name),
                )
            })?;
            vec![value]
        };
        values.insert(spec.name, resolved);
    }
    Ok(Resolved(values))
}

/// `Ok(None)` when the environment does not set the flag.
fn env_values(
    cmd: &mut clap::Command,
    spec: &FlagSpec,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Vec<Value>>, clap::Error> {
    let var = spec.env_var();
    let Some(raw) = env(&var) else {
        return Ok(None);
    };
    let pieces: Vec<&str> = if spec.repeatable {
        raw.split([',', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    } else {
        vec![raw.as_str()]
    };
    if pieces.is_empty() || (raw.is_empty() && !spec.kind.empty_env_is_value()) {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(pieces.len());
    for piece in pieces {
        let value = parse_value(spec.kind, piece).map_err(|e| {
            cmd.error(
                ErrorKind::ValueValidation,
                format!(
                    "invalid value '{piece}' in environment variable {var} for '--{}': {e}",
                    spec.name
                ),
            )
        })?;
        out.push(value);
    }
    Ok(Some(out))
}

impl Resolved {
    fn values(&self, name: &str) -> &[Value] {
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("flag table bug: no flag named {name}"))
    }

    fn last(&self, name: &str) -> Option<&Value> {
        self.values(name).last()
    }

    fn text(&self, name: &str) -> String {
        match self.last(name) {
            None => String::new(),
            Some(Value::Text(s)) => s.clone(),
            Some(other) => panic!("flag table bug: {name} is not text: {other:?}"),
        }
    }

    /// `None` for empty.
    fn non_empty(&self, name: &str) -> Option<String> {
        Some(self.text(name)).filter(|s| !s.is_empty())
    }

    fn list(&self, name: &str) -> Vec<String> {
        self.values(name)
            .iter()
            .filter_map(|v| match v {
                Value::Text(s) if s.is_empty() => None,
                Value::Text(s) => Some(s.clone()),
                other => panic!("flag table bug: {name} is not text: {other:?}"),
            })
            .collect()
    }

    fn bool(&self, name: &str) -> bool {
        match self.last(name) {
            Some(Value::Bool(b)) => *b,
            other => panic!("flag table bug: {name} is not a bool: {other:?}"),
        }
    }

    fn uint(&self, name: &str) -> usize {
        match self.last(name) {
            Some(Value::Uint(n)) => *n,
            other => panic!("flag table bug: {name} is not an integer: {other:?}"),
        }
    }

    fn mode(&self, name: &str) -> u32 {
        match self.last(name) {
            Some(Value::Mode(m)) => *m,
            other => panic!("flag table bug: {name} is not a mode: {other:?}"),
        }
    }

    fn duration(&self, name: &str) -> Duration {
        match self.last(name) {
            Some(Value::Duration(d)) => *d,
            other => panic!("flag table bug: {name} is not a duration: {other:?}"),
        }
    }

    fn config(&self) -> Config {
        let cache_type = match self.text("statsd.cache-type").as_str() {
            "random" => CacheKind::Random,
            _ => CacheKind::Lru,
        };
        let log_level = match self.text("log.level").as_str() {
            "debug" => LogLevel::Debug,
            "warn" => LogLevel::Warn,
            "error" => LogLevel::Error,
            _ => LogLevel::Info,
        };
        let log_format = match self.text("log.format").as_str() {
            "json" => LogFormat::Json,
            _ => LogFormat::Logfmt,
        };
        let profile = match self.text("statsd.profile").as_str() {
            "airflow" => Profile::Airflow,
            "none" => Profile::None,
            _ => Profile::Auto,
        };
        Config {
            profile,
            airflow_prefix: self.text("statsd.airflow-prefix"),
            web_listen_addresses: self.list("web.listen-address"),
            web_telemetry_path: self.text("web.telemetry-path"),
            web_enable_lifecycle: self.bool("web.enable-lifecycle"),
            web_enable_openmetrics: self.bool("web.enable-openmetrics"),
            web_config_file: self.non_empty("web.config.file").map(PathBuf::from),
            web_read_header_timeout: self.duration("web.read-header-timeout"),
            web_max_header_bytes: self.uint("web.max-header-bytes"),
            web_request_timeout: self.duration("web.request-timeout"),
            web_max_requests: self.uint("web.max-requests"),
            web_max_connections: self.uint("web.max-connections"),
            statsd_listen_udp: self.non_empty("statsd.listen-udp"),
            statsd_listen_tcp: self.non_empty("statsd.listen-tcp"),
            statsd_listen_unixgram: self.non_empty("statsd.listen-unixgram").map(PathBuf::from),
            statsd_listen_unixstream: self
                .non_empty("statsd.listen-unixstream")
                .map(PathBuf::from),
            statsd_unixsocket_mode: self.mode("statsd.unixsocket-mode"),
            mapping_config: self.non_empty("statsd.mapping-config").map(PathBuf::from),
            read_buffer: self.uint("statsd.read-buffer"),
            cache_size: self.uint("statsd.cache-size"),
            cache_type,
            parse_dogstatsd_tags: self.bool("statsd.parse-dogstatsd-tags"),
            parse_influxdb_tags: self.bool("statsd.parse-influxdb-tags"),
            parse_librato_tags: self.bool("statsd.parse-librato-tags"),
            parse_signalfx_tags: self.bool("statsd.parse-signalfx-tags"),
            container_id_label: self.bool("statsd.container-id-label"),
            relay_addresses: self.list("statsd.relay.address"),
            relay_packet_length: self.uint("statsd.relay.packet-length"),
            tcp_max_connections: self.uint("statsd.tcp-max-connections"),
            udp_readers: self.uint("statsd.udp-readers"),
            max_series: self.uint("statsd.max-series"),
            max_series_per_family: self.uint("statsd.max-series-per-family"),
            max_label_values: self.uint("statsd.max-label-values"),
            max_label_value_length: self.uint("statsd.max-label-value-length"),
            max_labels: self.uint("statsd.max-labels"),
            limit_action_drop: self.text("statsd.limit-action") == "drop",
            default_ttl: self.duration("statsd.ttl"),
            mapping_watch_interval: self.duration("statsd.mapping-config-watch-interval"),
            shutdown_grace_period: self.duration("web.shutdown-grace-period"),
            max_line_length: self.uint("statsd.max-line-length"),
            set_window: self.duration("statsd.set-window"),
            check_config: self.bool("check-config"),
            log_level,
            log_format,
            event_queue_size: self.uint("statsd.event-queue-size"),
            event_flush_threshold: self.uint("statsd.event-flush-threshold"),
            event_flush_interval: self.duration("statsd.event-flush-interval"),
            udp_packet_queue_size: self.uint("statsd.udp-packet-queue-size"),
        }
    }
}

/// Parses `args` (the first item is the program name, as with
/// `std::env::args_os()`) and the flags' environment twins from the process
/// environment. `--help`, `--version` and errors come back as
/// `clap::Error`; call `err.exit()` to print them with the right exit code.
pub fn parse_args<I, T>(args: I) -> Result<Command, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    parse_args_with_env(args, &|name| std::env::var(name).ok())
}

/// [`parse_args`] with the environment lookup injected (for tests).
pub fn parse_args_with_env<I, T>(
    args: I,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Command, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut cmd = build_command();
    let matches = cmd.try_get_matches_from_mut(rewrite_negations(args))?;
    match matches.subcommand() {
        Some(("explain", sub)) => {
            let config = resolve(&mut cmd, sub, env)?.config();
            let lines = sub
                .get_many::<String>("lines")
                .map(|vs| vs.cloned().collect())
                .unwrap_or_default();
            let file = sub.get_one::<PathBuf>("file").cloned();
            Ok(Command::Explain {
                config,
                lines,
                file,
            })
        }
        Some(("simulate", sub)) => {
            // The exporter's flags are global; resolving them validates them.
            resolve(&mut cmd, sub, env)?;
            crate::simulate::cli::args_from(sub)
                .map(Command::Simulate)
                .map_err(|e| cmd.error(ErrorKind::ValueValidation, e))
        }
        Some(("healthcheck", sub)) => Ok(Command::Healthcheck {
            config: resolve(&mut cmd, sub, env)?.config(),
        }),
        Some(("print-profile", sub)) => Ok(Command::PrintProfile {
            config: resolve(&mut cmd, sub, env)?.config(),
        }),
        Some((other, _)) => Err(cmd.error(
            ErrorKind::InvalidSubcommand,
            format!("unrecognized subcommand '{other}'"),
        )),
        None => {
            let config = resolve(&mut cmd, &matches, env)?.config();
            if !config.check_config
                && config.statsd_listen_udp.is_none()
                && config.statsd_listen_tcp.is_none()
                && config.statsd_listen_unixgram.is_none()
                && config.statsd_listen_unixstream.is_none()
            {
                return Err(cmd.error(
                    ErrorKind::ArgumentConflict,
                    "at least one of --statsd.listen-udp, --statsd.listen-tcp, \
                     --statsd.listen-unixgram, --statsd.listen-unixstream must be non-empty",
                ));
            }
            Ok(Command::Run(config))
        }
    }
}

// ---------------------------------------------------------------------------
// Docs.
// ---------------------------------------------------------------------------

/// Markdown tables of every flag (flag, env var, default, description), one
/// section per help heading, no-ops last. `docs/flags.md` embeds it verbatim.
pub fn flags_markdown() -> String {
    let mut headings: Vec<&'static str> = Vec::new();
    for spec in FLAGS {
        if !headings.contains(&spec.heading()) {
            headings.push(spec.heading());
        }
    }
    let mut out = String::new();
    for heading in headings {
        let _ = writeln!(out, "### {heading}\n");
        out.push_str("| Flag | Environment variable | Default | Description |\n");
        out.push_str("|---|---|---|---|\n");
        for spec in FLAGS.iter().filter(|s| s.heading() == heading) {
            let flag = if spec.kind == FlagKind::Bool {
                format!("`--[no-]{}`", spec.name)
            } else {
                format!("`--{}=<{}>`", spec.name, spec.kind.value_name())
            };
            let flag = if spec.repeatable {
                format!("{flag} (repeatable)")
            } else {
                flag
            };
            let env = if spec.repeatable {
                format!("`{}` (comma-separated)", spec.env_var())
            } else {
                format!("`{}`", spec.env_var())
            };
            let default = if spec.default.is_empty() {
                if spec.repeatable {
                    "(none)".to_string()
                } else {
                    "`\"\"`".to_string()
                }
            } else if spec.kind == FlagKind::Duration {
                // Show what Go would print, e.g. `1m0s` for `1m`.
                let shown = parse_go_duration(spec.default)
                    .map(format_go_duration)
                    .unwrap_or_else(|_| spec.default.to_string());
                format!("`{shown}`")
            } else {
                format!("`{}`", spec.default)
            };
            let mut description = String::new();
            if let Some(why) = spec.noop {
                let _ = write!(description, "**No-op:** {why}. ");
            }
            if spec.new {
                description.push_str("**New** (not in statsd_exporter). ");
            }
            description.push_str(spec.help);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                md_cell(&flag),
                md_cell(&env),
                md_cell(&default),
                md_cell(&description)
            );
        }
        out.push('\n');
    }
    out
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BIN: &str = APP_NAME;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        let mut argv = vec![BIN];
        argv.extend_from_slice(args);
        parse_args_with_env(argv, &no_env)
    }

    fn parse_env(args: &[&str], env: &[(&str, &str)]) -> Result<Command, clap::Error> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut argv = vec![BIN];
        argv.extend_from_slice(args);
        parse_args_with_env(argv, &move |k| env.get(k).cloned())
    }

    fn run(args: &[&str]) -> Config {
        match parse(args) {
            Ok(Command::Run(c)) => c,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn run_env(args: &[&str], env: &[(&str, &str)]) -> Config {
        match parse_env(args, env) {
            Ok(Command::Run(c)) => c,
            other => panic!("{args:?} {env:?}: {other:?}"),
        }
    }

    fn err(args: &[&str]) -> clap::Error {
        match parse(args) {
            Err(e) => e,
            Ok(c) => panic!("{args:?} should fail, got {c:?}"),
        }
    }

    #[test]
    fn defaults_match_statsd_exporter() {
        let c = Config::default();
        assert_eq!(c.web_listen_addresses, vec![":9102"]);
        assert_eq!(c.web_telemetry_path, "/metrics");
        assert!(!c.web_enable_lifecycle);
        assert!(!c.web_enable_openmetrics);
        assert_eq!(c.web_config_file, None);
        assert_eq!(c.statsd_listen_udp.as_deref(), Some(":9125"));
        assert_eq!(c.statsd_listen_tcp.as_deref(), Some(":9125"));
        assert_eq!(c.statsd_listen_unixgram, None);
        assert_eq!(c.statsd_listen_unixstream, None);
        assert_eq!(c.statsd_unixsocket_mode, 0o755);
        assert_eq!(c.mapping_config, None);
        assert_eq!(c.read_buffer, 0);
        assert_eq!(c.cache_size, 1000);
        assert_eq!(c.cache_type, CacheKind::Lru);
        assert!(c.parse_dogstatsd_tags);
        assert!(c.parse_influxdb_tags);
        assert!(c.parse_librato_tags);
        assert!(c.parse_signalfx_tags);
        assert!(!c.container_id_label);
        assert!(c.relay_addresses.is_empty());
        assert_eq!(c.relay_packet_length, 1400);
        assert_eq!(c.tcp_max_connections, 1024);
        assert_eq!(c.udp_readers, 1);
        assert_eq!(c.max_line_length, 65536);
        assert_eq!(c.set_window, Duration::from_secs(60));
        assert!(!c.check_config);
        assert_eq!(c.log_level, LogLevel::Info);
        assert_eq!(c.log_format, LogFormat::Logfmt);
        assert_eq!(c.event_queue_size, 10000);
        assert_eq!(c.event_flush_threshold, 1000);
        assert_eq!(c.event_flush_interval, Duration::from_millis(200));
        assert_eq!(c.udp_packet_queue_size, 10000);
    }

    #[test]
    fn table_is_consistent() {
        let mut names = std::collections::HashSet::new();
        for spec in FLAGS {
            assert!(names.insert(spec.name), "duplicate flag {}", spec.name);
            if !spec.default.is_empty() {
                parse_value(spec.kind, spec.default)
                    .unwrap_or_else(|e| panic!("default of {}: {e}", spec.name));
            }
            assert!(
                !(spec.kind == FlagKind::Bool && spec.repeatable),
                "{}",
                spec.name
            );
        }
        let noops: Vec<_> = FLAGS
            .iter()
            .filter(|f| f.noop.is_some())
            .map(|f| f.name)
            .collect();
        assert_eq!(
            noops,
            [
                "statsd.event-queue-size",
                "statsd.event-flush-threshold",
                "statsd.event-flush-interval",
                "statsd.udp-packet-queue-size",
                "web.systemd-socket",
                "debug.dump-fsm",
            ]
        );
        // clap's own consistency checks.
        build_command().debug_assert();
    }

    #[test]
    fn env_var_names_follow_kingpin_default_envars() {
        let cases = [
            ("statsd.listen-udp", "STATSD_EXPORTER_STATSD_LISTEN_UDP"),
            ("web.listen-address", "STATSD_EXPORTER_WEB_LISTEN_ADDRESS"),
            ("web.config.file", "STATSD_EXPORTER_WEB_CONFIG_FILE"),
            (
                "statsd.relay.address",
                "STATSD_EXPORTER_STATSD_RELAY_ADDRESS",
            ),
            ("check-config", "STATSD_EXPORTER_CHECK_CONFIG"),
            ("log.level", "STATSD_EXPORTER_LOG_LEVEL"),
        ];
        for (flag, var) in cases {
            assert_eq!(flag_spec(flag).unwrap().env_var(), var);
        }
    }

    /// One non-default value per value-taking flag, checked in both the
    /// `--flag=value` and `--flag value` forms.
    /// `debug.dump-fsm` is the only flag whose value `Config` does not carry.
    fn spec_is_config_field(flag: &str) -> bool {
        flag != "debug.dump-fsm"
    }

    #[test]
    fn every_value_flag_in_both_forms() {
        type Check = fn(&Config) -> bool;
        let cases: &[(&str, &str, Check)] = &[
            ("web.listen-address", "127.0.0.1:9999", |c| {
                c.web_listen_addresses == ["127.0.0.1:9999"]
            }),
            ("web.telemetry-path", "/m", |c| c.web_telemetry_path == "/m"),
            ("web.config.file", "/etc/web.yml", |c| {
                c.web_config_file == Some(PathBuf::from("/etc/web.yml"))
            }),
            ("web.read-header-timeout", "2s", |c| {
                c.web_read_header_timeout == Duration::from_secs(2)
            }),
            ("web.max-header-bytes", "16384", |c| {
                c.web_max_header_bytes == 16384
            }),
            ("web.request-timeout", "1m", |c| {
                c.web_request_timeout == Duration::from_secs(60)
            }),
            ("web.max-requests", "3", |c| c.web_max_requests == 3),
            ("web.max-connections", "7", |c| c.web_max_connections == 7),
            ("statsd.listen-udp", "127.0.0.1:8125", |c| {
                c.statsd_listen_udp.as_deref() == Some("127.0.0.1:8125")
            }),
            ("statsd.listen-tcp", "[::1]:8125", |c| {
                c.statsd_listen_tcp.as_deref() == Some("[::1]:8125")
            }),
            ("statsd.listen-unixgram", "/run/s.sock", |c| {
                c.statsd_listen_unixgram == Some(PathBuf::from("/run/s.sock"))
            }),
            ("statsd.listen-unixstream", "/run/t.sock", |c| {
                c.statsd_listen_unixstream == Some(PathBuf::from("/run/t.sock"))
            }),
            ("statsd.unixsocket-mode", "660", |c| {
                c.statsd_unixsocket_mode == 0o660
            }),
            ("statsd.mapping-config", "/etc/m.yml", |c| {
                c.mapping_config == Some(PathBuf::from("/etc/m.yml"))
            }),
            ("statsd.read-buffer", "8388608", |c| {
                c.read_buffer == 8_388_608
            }),
            ("statsd.udp-readers", "3", |c| c.udp_readers == 3),
            ("statsd.cache-size", "0", |c| c.cache_size == 0),
            ("statsd.cache-type", "random", |c| {
                c.cache_type == CacheKind::Random
            }),
            ("statsd.event-queue-size", "2048", |c| {
                c.event_queue_size == 2048
            }),
            ("statsd.event-flush-threshold", "10", |c| {
                c.event_flush_threshold == 10
            }),
            ("statsd.event-flush-interval", "1s", |c| {
                c.event_flush_interval == Duration::from_secs(1)
            }),
            ("statsd.udp-packet-queue-size", "256", |c| {
                c.udp_packet_queue_size == 256
            }),
            ("statsd.relay.address", "relay:9125", |c| {
                c.relay_addresses == ["relay:9125"]
            }),
            ("statsd.relay.packet-length", "512", |c| {
                c.relay_packet_length == 512
            }),
            ("statsd.tcp-max-connections", "16", |c| {
                c.tcp_max_connections == 16
            }),
            ("statsd.max-series", "10", |c| c.max_series == 10),
            ("statsd.max-series-per-family", "5", |c| {
                c.max_series_per_family == 5
            }),
            ("statsd.max-label-values", "7", |c| c.max_label_values == 7),
            ("statsd.max-label-value-length", "9", |c| {
                c.max_label_value_length == 9
            }),
            ("statsd.max-labels", "3", |c| c.max_labels == 3),
            ("statsd.limit-action", "drop", |c| c.limit_action_drop),
            ("statsd.ttl", "5m", |c| {
                c.default_ttl == Duration::from_secs(300)
            }),
            ("statsd.mapping-config-watch-interval", "0s", |c| {
                c.mapping_watch_interval.is_zero()
            }),
            ("web.shutdown-grace-period", "2s", |c| {
                c.shutdown_grace_period == Duration::from_secs(2)
            }),
            ("statsd.profile", "none", |c| c.profile == Profile::None),
            ("statsd.profile", "airflow", |c| {
                c.profile == Profile::Airflow
            }),
            ("statsd.airflow-prefix", "af", |c| c.airflow_prefix == "af"),
            ("statsd.max-line-length", "1024", |c| {
                c.max_line_length == 1024
            }),
            ("statsd.set-window", "5m", |c| {
                c.set_window == Duration::from_secs(300)
            }),
            ("debug.dump-fsm", "/tmp/fsm.dot", |_| true),
            ("log.level", "debug", |c| c.log_level == LogLevel::Debug),
            ("log.level", "warn", |c| c.log_level == LogLevel::Warn),
            ("log.level", "error", |c| c.log_level == LogLevel::Error),
            ("log.format", "json", |c| c.log_format == LogFormat::Json),
        ];
        let mut covered = std::collections::HashSet::new();
        for (flag, value, check) in cases {
            covered.insert(*flag);
            let eq = format!("--{flag}={value}");
            let c = run(&[&eq]);
            assert!(check(&c), "{eq}: {c:?}");
            if spec_is_config_field(flag) {
                assert_ne!(c, Config::default(), "{eq} changed nothing");
            }
            let long = format!("--{flag}");
            let c2 = run(&[&long, value]);
            assert!(check(&c2), "{long} {value}: {c2:?}");
            assert_eq!(c, c2, "{flag}: both forms must agree");
        }
        for spec in FLAGS.iter().filter(|s| s.kind != FlagKind::Bool) {
            assert!(covered.contains(spec.name), "no test for --{}", spec.name);
        }
    }

    #[test]
    fn every_bool_flag_all_spellings() {
        type Get = fn(&Config) -> bool;
        let cases: &[(&str, Get)] = &[
            ("web.enable-lifecycle", |c| c.web_enable_lifecycle),
            ("web.enable-openmetrics", |c| c.web_enable_openmetrics),
            ("statsd.parse-dogstatsd-tags", |c| c.parse_dogstatsd_tags),
            ("statsd.parse-influxdb-tags", |c| c.parse_influxdb_tags),
            ("statsd.parse-librato-tags", |c| c.parse_librato_tags),
            ("statsd.parse-signalfx-tags", |c| c.parse_signalfx_tags),
            ("statsd.container-id-label", |c| c.container_id_label),
            ("check-config", |c| c.check_config),
        ];
        for (flag, get) in cases {
            let yes = [
                format!("--{flag}"),
                format!("--{flag}=true"),
                format!("--{flag}=1"),
                format!("--{flag}=T"),
                format!("--{flag}=True"),
                format!("--no-{flag} --{flag}"),
            ];
            for spelling in &yes {
                let args: Vec<&str> = spelling.split(' ').collect();
                assert!(get(&run(&args)), "{spelling}");
            }
            let no = [
                format!("--no-{flag}"),
                format!("--{flag}=false"),
                format!("--{flag}=0"),
                format!("--{flag}=F"),
                format!("--{flag}=FALSE"),
                format!("--{flag} --no-{flag}"),
                format!("--{flag}=true --{flag}=false"),
            ];
            for spelling in &no {
                let args: Vec<&str> = spelling.split(' ').collect();
                assert!(!get(&run(&args)), "{spelling}");
            }
            let e = err(&[&format!("--{flag}=maybe")]);
            assert_eq!(e.kind(), ErrorKind::ValueValidation);
            assert!(e.to_string().contains(flag), "{e}");
        }
        // The no-op boolean too.
        run(&["--web.systemd-socket"]);
        run(&["--no-web.systemd-socket"]);
        assert!(parse(&["--web.systemd-socket=yes"]).is_err());
        // kingpin does not take a space-separated value for booleans either.
        assert!(parse(&["--web.enable-lifecycle", "true"]).is_err());
    }

    #[test]
    fn official_airflow_chart_argv() {
        // chart/values.yaml `statsd.args`, image ENTRYPOINT = the exporter.
        let c = run(&["--statsd.mapping-config=/etc/statsd-exporter/mappings.yml"]);
        assert_eq!(
            c.mapping_config,
            Some(PathBuf::from("/etc/statsd-exporter/mappings.yml"))
        );
        assert_eq!(c.statsd_listen_udp.as_deref(), Some(":9125"));
        assert_eq!(c.statsd_listen_tcp.as_deref(), Some(":9125"));
        assert_eq!(c.web_listen_addresses, vec![":9102"]);
        assert_eq!(c.web_telemetry_path, "/metrics");
        assert_eq!(
            Config {
                mapping_config: None,
                ..c
            },
            Config::default()
        );

        // What users commonly add in `statsd.args`.
        let c = run(&[
            "--statsd.mapping-config=/etc/statsd-exporter/mappings.yml",
            "--statsd.listen-udp=:9125",
            "--web.listen-address=:9102",
            "--statsd.cache-size=1000",
            "--statsd.cache-type=random",
            "--statsd.event-queue-size=10000",
            "--statsd.event-flush-threshold=1000",
            "--statsd.event-flush-interval=200ms",
            "--statsd.udp-packet-queue-size=10000",
            "--log.level=debug",
            "--log.format=json",
            "--web.enable-lifecycle",
            "--no-statsd.parse-influxdb-tags",
        ]);
        assert_eq!(c.cache_type, CacheKind::Random);
        assert_eq!(c.log_level, LogLevel::Debug);
        assert!(c.web_enable_lifecycle);
        assert!(!c.parse_influxdb_tags);

        // A docker-style invocation from the wild (odoo sidecar).
        let c = run(&[
            "--statsd.listen-udp=",
            "--statsd.listen-tcp=",
            "--statsd.listen-unixgram=/run/mon/statsd.sock",
            "--statsd.unixsocket-mode=660",
            "--statsd.mapping-config=/etc/mon/statsd-mapping.yml",
            "--web.listen-address=:9102",
            "--statsd.event-queue-size=2048",
            "--statsd.udp-packet-queue-size=256",
            "--statsd.cache-size=1000",
            "--no-statsd.parse-influxdb-tags",
            "--no-statsd.parse-librato-tags",
            "--no-statsd.parse-signalfx-tags",
        ]);
        assert_eq!(c.statsd_listen_udp, None);
        assert_eq!(c.statsd_listen_tcp, None);
        assert_eq!(c.statsd_unixsocket_mode, 0o660);
        assert!(c.parse_dogstatsd_tags && !c.parse_signalfx_tags);
    }

    #[test]
    fn empty_address_disables_listener() {
        for args in [
            vec!["--statsd.listen-tcp="],
            vec!["--statsd.listen-tcp", ""],
        ] {
            let c = run(&args);
            assert_eq!(c.statsd_listen_tcp, None, "{args:?}");
            assert_eq!(c.statsd_listen_udp.as_deref(), Some(":9125"));
        }
        let c = run(&["--statsd.listen-udp=", "--statsd.listen-unixstream=/run/s"]);
        assert_eq!(c.statsd_listen_udp, None);
        // Later value wins, also back to enabled.
        let c = run(&["--statsd.listen-tcp=", "--statsd.listen-tcp=:1"]);
        assert_eq!(c.statsd_listen_tcp.as_deref(), Some(":1"));
        // Empty unix paths mean "off" too.
        let c = run(&["--statsd.listen-unixgram="]);
        assert_eq!(c.statsd_listen_unixgram, None);
        // Environment can disable too.
        let c = run_env(&[], &[("STATSD_EXPORTER_STATSD_LISTEN_TCP", "")]);
        assert_eq!(c.statsd_listen_tcp, None);
    }

    #[test]
    fn all_listeners_disabled_is_an_error_unless_check_config() {
        let e = err(&["--statsd.listen-udp=", "--statsd.listen-tcp="]);
        assert!(e.to_string().contains("at least one"), "{e}");
        run(&[
            "--statsd.listen-udp=",
            "--statsd.listen-tcp=",
            "--check-config",
        ]);
        run(&[
            "--statsd.listen-udp=",
            "--statsd.listen-tcp=",
            "--statsd.listen-unixgram=/s",
        ]);
    }

    #[test]
    fn repeatable_flags_accumulate() {
        let c = run(&[
            "--web.listen-address=:9102",
            "--web.listen-address",
            "[::1]:9103",
            "--statsd.relay.address=a:9125",
            "--statsd.relay.address",
            "b:9125",
        ]);
        assert_eq!(c.web_listen_addresses, vec![":9102", "[::1]:9103"]);
        assert_eq!(c.relay_addresses, vec!["a:9125", "b:9125"]);
        // Giving the flag replaces the default rather than adding to it.
        let c = run(&["--web.listen-address=:1"]);
        assert_eq!(c.web_listen_addresses, vec![":1"]);
        // Empty values are dropped.
        let c = run(&["--statsd.relay.address=", "--statsd.relay.address=x:1"]);
        assert_eq!(c.relay_addresses, vec!["x:1"]);
        let c = run(&["--web.listen-address="]);
        assert!(c.web_listen_addresses.is_empty());
    }

    #[test]
    fn single_valued_flags_last_wins() {
        let c = run(&["--statsd.cache-size=1", "--statsd.cache-size", "2"]);
        assert_eq!(c.cache_size, 2);
    }

    #[test]
    fn env_twins_and_precedence() {
        let env = [
            ("STATSD_EXPORTER_STATSD_MAPPING_CONFIG", "/env/m.yml"),
            ("STATSD_EXPORTER_STATSD_CACHE_SIZE", "5"),
            ("STATSD_EXPORTER_STATSD_CACHE_TYPE", "random"),
            ("STATSD_EXPORTER_STATSD_PARSE_DOGSTATSD_TAGS", "false"),
            ("STATSD_EXPORTER_WEB_ENABLE_LIFECYCLE", "true"),
            ("STATSD_EXPORTER_STATSD_SET_WINDOW", "30s"),
            ("STATSD_EXPORTER_STATSD_UNIXSOCKET_MODE", "700"),
            ("STATSD_EXPORTER_WEB_LISTEN_ADDRESS", ":1, :2\n:3"),
            ("STATSD_EXPORTER_STATSD_RELAY_ADDRESS", "r:1"),
            ("STATSD_EXPORTER_LOG_LEVEL", "warn"),
            ("STATSD_EXPORTER_STATSD_EVENT_FLUSH_INTERVAL", "1s"),
        ];
        let c = run_env(&[], &env);
        assert_eq!(c.mapping_config, Some(PathBuf::from("/env/m.yml")));
        assert_eq!(c.cache_size, 5);
        assert_eq!(c.cache_type, CacheKind::Random);
        assert!(!c.parse_dogstatsd_tags);
        assert!(c.web_enable_lifecycle);
        assert_eq!(c.set_window, Duration::from_secs(30));
        assert_eq!(c.statsd_unixsocket_mode, 0o700);
        assert_eq!(c.web_listen_addresses, vec![":1", ":2", ":3"]);
        assert_eq!(c.relay_addresses, vec!["r:1"]);
        assert_eq!(c.log_level, LogLevel::Warn);
        assert_eq!(c.event_flush_interval, Duration::from_secs(1));

        // The command line wins, for every kind, including the
        // repeatable flag (replaced, not appended) and `--no-`.
        let c = run_env(
            &[
                "--statsd.mapping-config=/cli/m.yml",
                "--statsd.cache-size=7",
                "--statsd.parse-dogstatsd-tags",
                "--no-web.enable-lifecycle",
                "--web.listen-address=:9",
                "--log.level=error",
            ],
            &env,
        );
        assert_eq!(c.mapping_config, Some(PathBuf::from("/cli/m.yml")));
        assert_eq!(c.cache_size, 7);
        assert!(c.parse_dogstatsd_tags);
        assert!(!c.web_enable_lifecycle);
        assert_eq!(c.web_listen_addresses, vec![":9"]);
        assert_eq!(c.log_level, LogLevel::Error);
        // Untouched ones still come from the environment.
        assert_eq!(c.cache_type, CacheKind::Random);

        // Empty env values count as unset for non-string flags.
        let c = run_env(
            &[],
            &[
                ("STATSD_EXPORTER_STATSD_CACHE_SIZE", ""),
                ("STATSD_EXPORTER_WEB_LISTEN_ADDRESS", ""),
            ],
        );
        assert_eq!(c.cache_size, 1000);
        assert_eq!(c.web_listen_addresses, vec![":9102"]);

        // Bad env values are errors naming the variable and the flag.
        let e = parse_env(&[], &[("STATSD_EXPORTER_STATSD_SET_WINDOW", "soon")]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("STATSD_EXPORTER_STATSD_SET_WINDOW"), "{msg}");
        assert!(msg.contains("--statsd.set-window"), "{msg}");
        // ...but not when the command line overrides them.
        run_env(
            &["--statsd.set-window=2m"],
            &[("STATSD_EXPORTER_STATSD_SET_WINDOW", "soon")],
        );
    }

    #[test]
    fn invalid_values_name_the_flag() {
        let cases = [
            (
                "--statsd.event-flush-interval=fast",
                "statsd.event-flush-interval",
            ),
            ("--statsd.set-window=-1m", "statsd.set-window"),
            ("--statsd.set-window=10", "statsd.set-window"),
            ("--statsd.unixsocket-mode=789", "statsd.unixsocket-mode"),
            ("--statsd.unixsocket-mode=rwx", "statsd.unixsocket-mode"),
            ("--statsd.unixsocket-mode=17777", "statsd.unixsocket-mode"),
            ("--statsd.cache-type=fifo", "statsd.cache-type"),
            ("--statsd.cache-type=LRU", "statsd.cache-type"),
            ("--log.format=text", "log.format"),
            ("--log.level=trace", "log.level"),
            ("--statsd.cache-size=-1", "statsd.cache-size"),
            ("--statsd.cache-size=1k", "statsd.cache-size"),
            ("--statsd.read-buffer=", "statsd.read-buffer"),
            (
                "--statsd.relay.packet-length=0x",
                "statsd.relay.packet-length",
            ),
            ("--web.telemetry-path=metrics", "web.telemetry-path"),
            ("--statsd.event-queue-size=many", "statsd.event-queue-size"),
        ];
        for (arg, flag) in cases {
            let e = err(&[arg]);
            assert_eq!(e.kind(), ErrorKind::ValueValidation, "{arg}: {e}");
            let msg = e.to_string();
            assert!(msg.contains(&format!("--{flag}")), "{arg}: {msg}");
        }
    }

    #[test]
    fn go_integer_syntax() {
        assert_eq!(parse_go_uint("1000"), Ok(1000));
        assert_eq!(parse_go_uint("+5"), Ok(5));
        assert_eq!(parse_go_uint("0"), Ok(0));
        assert_eq!(parse_go_uint("0x400"), Ok(1024));
        assert_eq!(parse_go_uint("0X400"), Ok(1024));
        assert_eq!(parse_go_uint("0o17"), Ok(15));
        assert_eq!(parse_go_uint("017"), Ok(15));
        assert_eq!(parse_go_uint("0b101"), Ok(5));
        assert_eq!(parse_go_uint("1_000"), Ok(1000));
        for bad in [
            "", "-1", "x", "1_", "_1", "1__0", "08", "0x", "1.5", " 1", "0xg",
        ] {
            assert!(parse_go_uint(bad).is_err(), "{bad:?}");
        }
        assert!(parse_go_uint("99999999999999999999999").is_err());
        assert_eq!(parse_octal_mode("0755"), Ok(0o755));
        assert_eq!(parse_octal_mode("7777"), Ok(0o7777));
        assert_eq!(parse_octal_mode("0"), Ok(0));
    }

    #[test]
    fn unknown_flags_and_arguments_are_errors() {
        assert_eq!(err(&["--statsd.listen"]).kind(), ErrorKind::UnknownArgument);
        assert_eq!(err(&["--ttl=5m"]).kind(), ErrorKind::UnknownArgument);
        assert_eq!(
            err(&["--no-statsd.listen-udp"]).kind(),
            ErrorKind::UnknownArgument
        );
        assert_eq!(err(&["--no-bogus"]).kind(), ErrorKind::UnknownArgument);
        assert_eq!(err(&["-x"]).kind(), ErrorKind::UnknownArgument);
        assert!(parse(&["serve"]).is_err());
        // Missing value.
        assert!(parse(&["--statsd.mapping-config"]).is_err());
    }

    #[test]
    fn help_and_version_are_display_errors() {
        for flag in ["-h", "--help"] {
            let e = err(&[flag]);
            assert_eq!(e.kind(), ErrorKind::DisplayHelp);
            let text = e.to_string();
            for spec in FLAGS {
                assert!(text.contains(&format!("--{}", spec.name)), "{}", spec.name);
                assert!(text.contains(&spec.env_var()), "{}", spec.name);
            }
            assert!(text.contains(NOOP_HEADING), "{text}");
            // The no-op section comes after every real flag.
            let noop_at = text.find(NOOP_HEADING).unwrap();
            assert!(text.find("--check-config").unwrap() < noop_at);
            assert!(text.find("--statsd.event-queue-size").unwrap() > noop_at);
            assert!(text.contains("[no-op: "));
            assert!(text.contains("explain"));
        }
        let e = err(&["--version"]);
        assert_eq!(e.kind(), ErrorKind::DisplayVersion);
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("{APP_NAME} {}\n", env!("CARGO_PKG_VERSION"))),
            "{text}"
        );
        assert!(text.contains("statsd_exporter 0.30"), "{text}");

        let e = err(&["explain", "--help"]);
        assert_eq!(e.kind(), ErrorKind::DisplayHelp);
        assert!(e.to_string().contains("--file"));
        assert!(e.to_string().contains("--statsd.mapping-config"));
        let e = err(&["help", "explain"]);
        assert_eq!(e.kind(), ErrorKind::DisplayHelp);
    }

    #[test]
    fn print_profile_subcommand() {
        let Command::PrintProfile { config } =
            parse(&["--statsd.airflow-prefix=af", "print-profile"]).unwrap()
        else {
            panic!("not print-profile");
        };
        assert_eq!(config.airflow_prefix, "af");
    }

    #[test]
    fn explain_subcommand() {
        let cmd = parse(&[
            "explain",
            "--statsd.mapping-config=/etc/m.yml",
            "airflow.dag.d.t.duration:12|ms",
            "airflow.pool.open_slots.default:3|g",
        ])
        .unwrap();
        let Command::Explain {
            config,
            lines,
            file,
        } = cmd
        else {
            panic!("{cmd:?}")
        };
        assert_eq!(config.mapping_config, Some(PathBuf::from("/etc/m.yml")));
        assert_eq!(
            lines,
            vec![
                "airflow.dag.d.t.duration:12|ms",
                "airflow.pool.open_slots.default:3|g"
            ]
        );
        assert_eq!(file, None);

        // Flags before the subcommand, lines around flags, --file.
        let cmd = parse(&[
            "--statsd.mapping-config",
            "/etc/m.yml",
            "--no-statsd.parse-dogstatsd-tags",
            "explain",
            "a:1|c",
            "--file",
            "-",
            "b:2|c",
        ])
        .unwrap();
        let Command::Explain {
            config,
            lines,
            file,
        } = cmd
        else {
            panic!("{cmd:?}")
        };
        assert_eq!(config.mapping_config, Some(PathBuf::from("/etc/m.yml")));
        assert!(!config.parse_dogstatsd_tags);
        assert_eq!(lines, vec!["a:1|c", "b:2|c"]);
        assert_eq!(file, Some(PathBuf::from("-")));

        // File only; env twins apply; listeners may all be off.
        let cmd = parse_env(
            &[
                "explain",
                "--file=/tmp/lines.txt",
                "--statsd.listen-udp=",
                "--statsd.listen-tcp=",
            ],
            &[("STATSD_EXPORTER_STATSD_MAPPING_CONFIG", "/env/m.yml")],
        )
        .unwrap();
        let Command::Explain {
            config,
            lines,
            file,
        } = cmd
        else {
            panic!("{cmd:?}")
        };
        assert_eq!(config.mapping_config, Some(PathBuf::from("/env/m.yml")));
        assert!(lines.is_empty());
        assert_eq!(file, Some(PathBuf::from("/tmp/lines.txt")));

        // Lines that look like flags after `--`.
        let cmd = parse(&["explain", "--", "--no-statsd.parse-dogstatsd-tags"]).unwrap();
        let Command::Explain { config, lines, .. } = cmd else {
            panic!("{cmd:?}")
        };
        assert!(config.parse_dogstatsd_tags);
        assert_eq!(lines, vec!["--no-statsd.parse-dogstatsd-tags"]);

        // Bad flag values are still errors in explain.
        assert!(parse(&["explain", "--statsd.cache-type=x", "a:1|c"]).is_err());
    }

    #[test]
    fn markdown_lists_every_flag() {
        let md = flags_markdown();
        for spec in FLAGS {
            assert!(md.contains(&spec.env_var()), "{}", spec.name);
            assert!(md.contains(spec.name), "{}", spec.name);
        }
        assert!(md.contains("**No-op:**"));
        assert!(md.contains("`1m0s`"));
    }

    const DOC_BEGIN: &str = "<!-- BEGIN GENERATED: cli::flags_markdown() -->\n";
    const DOC_END: &str = "<!-- END GENERATED -->";

    /// `docs/flags.md` must embed `flags_markdown()` verbatim. To
    /// regenerate: `UPDATE_DOCS=1 cargo test --lib cli::tests::docs_flags_md`.
    #[test]
    fn docs_flags_md_is_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/flags.md");
        let generated = flags_markdown();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            let doc = std::fs::read_to_string(&path).expect("read docs/flags.md");
            let start =
                doc.find(DOC_BEGIN).expect("begin marker in docs/flags.md") + DOC_BEGIN.len();
            let end = doc.find(DOC_END).expect("end marker in docs/flags.md");
            let updated = format!("{}{}{}", &doc[..start], generated, &doc[end..]);
            std::fs::write(&path, updated).expect("write docs/flags.md");
        }
        let doc = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            doc.contains(&generated),
            "docs/flags.md is out of date with the flag table in src/cli.rs; regenerate it with\n\
             UPDATE_DOCS=1 cargo test --lib cli::tests::docs_flags_md"
        );
    }
}
