//! airflow-statsd-exporter: StatsD in, bounded Prometheus series out.
//!
//! The modules follow the data: `listener` → `parser` → `mapping` → `store`
//! → `exposition` → `http`.

pub mod escape;
pub mod mapping;
pub mod parser;
pub mod sample;
