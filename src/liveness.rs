//! PLACEHOLDER so the crate compiles while the real module is written
//! (helper-owned file: replace wholesale).
use std::time::{Duration, Instant};

use crate::store::FamilySnapshot;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Component {
    Scheduler,
    Triggerer,
    DagProcessor,
}

impl Component {
    pub const ALL: [Component; 3] = [
        Component::Scheduler,
        Component::Triggerer,
        Component::DagProcessor,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Scheduler => "scheduler",
            Component::Triggerer => "triggerer",
            Component::DagProcessor => "dag_processor",
        }
    }
    pub fn from_heartbeat(name: &str) -> Option<Component> {
        match name {
            "scheduler_heartbeat" => Some(Component::Scheduler),
            "triggerer_heartbeat" => Some(Component::Triggerer),
            "dag_processor_heartbeat" => Some(Component::DagProcessor),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct LivenessConfig {
    pub live_window: Duration,
    pub silence: Duration,
    pub pair_tolerance: Duration,
    pub forget_after: Duration,
    pub max_senders: usize,
}

impl Default for LivenessConfig {
    fn default() -> Self {
        LivenessConfig {
            live_window: Duration::from_secs(30),
            silence: Duration::from_secs(15),
            pair_tolerance: Duration::from_secs(10),
            forget_after: Duration::from_secs(3600),
            max_senders: 256,
        }
    }
}

pub struct Liveness;

impl Liveness {
    pub fn new(_cfg: LivenessConfig) -> Self {
        Liveness
    }
    pub fn heartbeat(&mut self, _c: Component, _sender: u64, _now: Instant, _unix_seconds: f64) {}
    pub fn families(&mut self, _now: Instant) -> Vec<FamilySnapshot> {
        Vec::new()
    }
    pub fn restarts(&self, _c: Component) -> u64 {
        0
    }
    pub fn starts(&self, _c: Component) -> u64 {
        0
    }
    pub fn live(&self, _c: Component, _now: Instant) -> usize {
        0
    }
}
