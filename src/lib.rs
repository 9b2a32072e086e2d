//! airflow-statsd-exporter: StatsD in, bounded Prometheus series out.
//!
//! The modules follow the data: `listener` → `parser` → `mapping` → `ingest`
//! → `store` → `exposition` → `http`; `app` wires them, `cli` reads flags.

pub mod airflow;
pub mod app;
pub mod cardinality;
pub mod cli;
pub mod duration;
pub mod escape;
pub mod explain;
pub mod exposition;
pub mod http;
pub mod ingest;
pub mod listener;
pub mod liveness;
pub mod logging;
pub mod mapping;
pub mod parser;
pub mod relay;
pub mod sample;
pub mod series_cache;
pub mod simulate;
pub mod store;
pub mod telemetry;
pub mod watch;
pub mod web;
pub mod web_config;
