//! A reader's cache from an Airflow StatsD name to the series it updates.
//!
//! Most of a line's cost in the built-in profile is finding its series: the
//! legacy-name match, building and sorting its labels, then the store's label
//! hashing and text comparison, each a cache miss on memory the kernel's
//! copies evicted since the name last came by. For a name seen before, this
//! cache keeps the match, the labels and the store's key of the series, so a
//! repeated name costs one lookup here and one probe in the store. What
//! depends on the event rather than the name (repeat suppression, zero
//! increments, unit fixes, the legacy-seen marks) is replayed by the model
//! every time ([`AirflowModel::replay`]), so the output is the same as without
//! the cache.

use hashbrown::HashTable;

use crate::airflow::{AirflowModel, LabelValue, Replay};
use crate::sample::SampleValue;
use crate::store::SeriesKey;

/// At most this many names per reader; a full cache starts over (as the
/// legacy-name cache does), so a source of more distinct names than this
/// simply takes the uncached path.
pub const SERIES_CACHE_ENTRIES: usize = 20_000;

/// Names up to this long are cached (Airflow's longest legacy names are
/// about 100 bytes with long ids). The name sits in the entry itself: a hit
/// reads one stretch of memory instead of the entry and then its name.
const MAX_NAME: usize = 112;

pub struct Entry {
    name: [u8; MAX_NAME],
    len: u8,
    class: u8,
    pub replay: Replay,
    /// The outcome's labels (sorted, constants included), owned.
    pub labels: Box<[(&'static str, LabelValue<'static>)]>,
    /// The store's key, once the series was applied; `None` until then and
    /// when the sample was folded into an overflow series.
    pub series: Option<SeriesKey>,
}

#[derive(Default)]
pub struct SeriesCache {
    /// `AirflowModel::validity()` the entries were made under.
    valid_for: Option<(u8, usize)>,
    index: HashTable<u32>,
    entries: Vec<Entry>,
    /// Set when the entries were forgotten during a batch: they are freed
    /// at the next batch's start, since that batch's samples refer to them.
    stale: bool,
    hits: u64,
}

/// A value's type class: a name's match only holds for the type it was
/// made with. Sets never take the cache (the profile has no set families).
fn class(v: &SampleValue) -> Option<u8> {
    match v {
        SampleValue::Counter(_) => Some(0),
        SampleValue::Gauge { .. } => Some(1),
        SampleValue::Observer { .. } => Some(2),
        SampleValue::Set => None,
    }
}

fn hash(name: &str, class: u8) -> u64 {
    hash_bytes(name.as_bytes(), class)
}

fn hash_bytes(name: &[u8], class: u8) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x5e71_e5ca_c4e0_0001).hash_one((name, class))
}

impl Entry {
    fn name(&self) -> &[u8] {
        &self.name[..usize::from(self.len)]
    }
}

impl SeriesCache {
    /// Between batches only: no prepared sample refers to an entry.
    pub fn clear(&mut self) {
        self.index.clear();
        self.entries.clear();
        self.stale = false;
    }

    /// Frees what was forgotten during the previous batch.
    pub fn start_batch(&mut self) {
        if self.stale {
            self.clear();
        }
    }

    /// No lookup finds the entries any more; they stay readable until the
    /// next batch (bounded: one batch adds at most one entry per sample).
    fn forget(&mut self) {
        self.index.clear();
        self.stale = true;
    }

    /// Samples served from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// The entry for an untagged sample `name` of value `v`, if the model's
    /// matches still hold.
    pub fn get(&mut self, model: &AirflowModel, name: &str, v: &SampleValue) -> Option<u32> {
        let validity = model.validity();
        if self.valid_for != Some(validity) {
            self.forget();
            self.valid_for = Some(validity);
            return None;
        }
        let class = class(v)?;
        let entries = &self.entries;
        let i = *self.index.find(hash(name, class), |&i| {
            let e = &entries[i as usize];
            e.class == class && e.name() == name.as_bytes()
        })?;
        self.hits += 1;
        Some(i)
    }

    /// Keeps what an `Outcome::Series` with `replay: Some(r)` resolved
    /// `name` to; `None` when it cannot be kept.
    pub fn insert(
        &mut self,
        name: &str,
        v: &SampleValue,
        replay: Replay,
        labels: &[(&'static str, LabelValue<'_>)],
    ) -> Option<u32> {
        let class = class(v)?;
        if name.len() > MAX_NAME {
            return None;
        }
        if self.valid_for != Some(replay.valid_for) || self.index.len() >= SERIES_CACHE_ENTRIES {
            self.forget();
            self.valid_for = Some(replay.valid_for);
        }
        let i = u32::try_from(self.entries.len()).ok()?;
        let labels = labels
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    LabelValue::Shared(a) => LabelValue::Shared(a.clone()),
                    other => LabelValue::Shared((&**other).into()),
                };
                (*k, v)
            })
            .collect();
        let mut inline = [0; MAX_NAME];
        inline[..name.len()].copy_from_slice(name.as_bytes());
        self.entries.push(Entry {
            name: inline,
            len: name.len() as u8,
            class,
            replay,
            labels,
            series: None,
        });
        let entries = &self.entries;
        self.index.insert_unique(hash(name, class), i, |&j| {
            let e = &entries[j as usize];
            hash_bytes(e.name(), e.class)
        });
        Some(i)
    }

    pub fn entry(&self, i: u32) -> &Entry {
        &self.entries[i as usize]
    }

    pub fn set_series(&mut self, i: u32, key: Option<SeriesKey>) {
        self.entries[i as usize].series = key;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use crate::ingest::{Origin, Shared};
    use crate::mapping::Mapper;

    /// (seconds since the first, sender, datagram) of a capture.
    fn capture(file: &str) -> Vec<(f64, String, String)> {
        let path = format!("{}/tests/data/corpus/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let rows: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let t0 = rows[0]["t"].as_f64().unwrap();
        rows.iter()
            .map(|v| {
                (
                    v["t"].as_f64().unwrap() - t0,
                    v["src"].as_str().unwrap().to_string(),
                    v["data"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// The store's exposition and the profile's drop counts.
    fn outcome(shared: &Shared, now: Instant) -> (String, Vec<u64>) {
        let mut fams = shared.store.lock().snapshot(now);
        crate::exposition::sort_families(&mut fams);
        let text = crate::exposition::render(&fams, crate::exposition::Format::Text);
        let drops = crate::airflow::DROP_REASONS
            .iter()
            .map(|r| shared.telemetry.airflow_dropped(r).get())
            .collect();
        (text, drops)
    }

    /// Every capture from real Airflow, in batches of 64 datagrams: one
    /// long-lived reader (whose series cache serves the plain captures'
    /// repeated names) gives exactly what a new reader per datagram (no
    /// cache hit ever) gives.
    #[test]
    fn cached_series_give_the_same_output_as_uncached() {
        for file in [
            "airflow-3.3.2-plain.jsonl",
            "airflow-3.3.2-datadog.jsonl",
            "airflow-3.3.2-influxdb.jsonl",
            "airflow-2.11.2-plain.jsonl",
            "airflow-2.11.2-datadog.jsonl",
            "airflow-2.11.2-influxdb.jsonl",
        ] {
            let rows = capture(file);
            let new_shared =
                || Arc::new(Shared::for_tests(Mapper::empty()).with_airflow("airflow"));
            let (cached, uncached) = (new_shared(), new_shared());
            let mut reader = cached.ingester();
            let base = Instant::now();
            let mut end = base;
            for chunk in rows.chunks(64) {
                let now = base + Duration::from_secs_f64(chunk[0].0);
                end = now;
                let batch: Vec<(&[u8], Origin)> = chunk
                    .iter()
                    .map(|(_, src, data)| (data.as_bytes(), Origin::from_addr(src)))
                    .collect();
                reader.ingest_batch(&batch, now);
                for d in &batch {
                    uncached
                        .ingester()
                        .ingest_batch(std::slice::from_ref(d), now);
                }
            }
            let hits = reader.series_cache_hits();
            // Tagged samples (DogStatsD, InfluxDB) do not take the cache.
            if file.ends_with("plain.jsonl") {
                assert!(hits > 1000, "{file}: {hits} cache hits");
            }
            let (a, b) = (outcome(&cached, end), outcome(&uncached, end));
            assert_eq!(a.1, b.1, "{file}: drop counts");
            assert!(a.0 == b.0, "{file}: outputs differ:\n{}\n---\n{}", a.0, b.0);
        }
    }
}
