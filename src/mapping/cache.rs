//! The `--statsd.cache-size` / `--statsd.cache-type` lookup cache.
//!
//! Keyed by metric kind + name like statsd_exporter's `formatKey`. Size 0
//! disables caching (statsd_exporter then uses a no-op cache that counts
//! nothing, so `gets`/`hits` stay 0).

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;

use lru::LruCache;

use super::{MapOutcome, Mapper};
use crate::sample::MetricKind;

/// `--statsd.cache-type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheType {
    Lru,
    /// Random replacement: when full, a random entry is evicted.
    Random,
}

enum Store {
    Disabled,
    Lru(LruCache<String, Arc<MapOutcome>>),
    Random {
        cap: usize,
        /// key -> (outcome, slot in `keys`)
        map: HashMap<String, (Arc<MapOutcome>, usize)>,
        keys: Vec<String>,
        rng: u64,
    },
}

/// A bounded cache of [`Mapper::map`] results. Not shared: one per worker,
/// or wrap it in a lock. Call [`MapCache::clear`] when the mapper is reloaded.
pub struct MapCache {
    store: Store,
    key: String,
    gets: u64,
    hits: u64,
}

fn kind_tag(k: MetricKind) -> char {
    match k {
        MetricKind::Counter => 'c',
        MetricKind::Gauge => 'g',
        MetricKind::Observer => 'o',
    }
}

impl MapCache {
    pub fn new(size: usize, kind: CacheType) -> MapCache {
        let store = match (NonZeroUsize::new(size), kind) {
            (None, _) => Store::Disabled,
            (Some(n), CacheType::Lru) => Store::Lru(LruCache::new(n)),
            (Some(n), CacheType::Random) => Store::Random {
                cap: n.get(),
                map: HashMap::new(),
                keys: Vec::new(),
                rng: 0x9E37_79B9_7F4A_7C15,
            },
        };
        MapCache {
            store,
            key: String::new(),
            gets: 0,
            hits: 0,
        }
    }

    /// Looks `name` up through the cache.
    pub fn map(&mut self, mapper: &Mapper, name: &str, kind: MetricKind) -> Arc<MapOutcome> {
        if matches!(self.store, Store::Disabled) {
            return Arc::new(mapper.map(name, kind));
        }
        self.gets += 1;
        self.key.clear();
        self.key.push(kind_tag(kind));
        self.key.push_str(name);
        let cached = match &mut self.store {
            Store::Disabled => None,
            Store::Lru(c) => c.get(self.key.as_str()).cloned(),
            Store::Random { map, .. } => map.get(self.key.as_str()).map(|(o, _)| o.clone()),
        };
        if let Some(o) = cached {
            self.hits += 1;
            return o;
        }
        let out = Arc::new(mapper.map(name, kind));
        match &mut self.store {
            Store::Disabled => {}
            Store::Lru(c) => {
                c.put(self.key.clone(), out.clone());
            }
            Store::Random {
                cap,
                map,
                keys,
                rng,
            } => {
                if map.len() >= *cap {
                    // xorshift64
                    *rng ^= *rng << 13;
                    *rng ^= *rng >> 7;
                    *rng ^= *rng << 17;
                    let victim = (*rng % keys.len() as u64) as usize;
                    let old = keys.swap_remove(victim);
                    map.remove(&old);
                    if let Some(moved) = keys.get(victim) {
                        if let Some(e) = map.get_mut(moved) {
                            e.1 = victim;
                        }
                    }
                }
                keys.push(self.key.clone());
                map.insert(self.key.clone(), (out.clone(), keys.len() - 1));
            }
        }
        out
    }

    /// `statsd_metric_mapper_cache_gets_total`.
    pub fn gets(&self) -> u64 {
        self.gets
    }

    /// `statsd_metric_mapper_cache_hits_total`.
    pub fn hits(&self) -> u64 {
        self.hits
    }

    /// `statsd_metric_mapper_cache_length`.
    pub fn len(&self) -> usize {
        match &self.store {
            Store::Disabled => 0,
            Store::Lru(c) => c.len(),
            Store::Random { map, .. } => map.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry (on reload); the counters keep counting.
    pub fn clear(&mut self) {
        match &mut self.store {
            Store::Disabled => {}
            Store::Lru(c) => c.clear(),
            Store::Random { map, keys, .. } => {
                map.clear();
                keys.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapper() -> Mapper {
        Mapper::from_yaml_str(
            "mappings:\n- match: a.*\n  name: a\n  labels:\n    xx: $1\n",
            "t.yml",
        )
        .unwrap()
    }

    #[test]
    fn lru_bound_and_hits() {
        let m = mapper();
        let mut c = MapCache::new(2, CacheType::Lru);
        c.map(&m, "a.1", MetricKind::Counter);
        c.map(&m, "a.2", MetricKind::Counter);
        assert_eq!(c.len(), 2);
        // hit refreshes a.1, so a.2 is the eviction victim
        let o = c.map(&m, "a.1", MetricKind::Counter);
        assert!(matches!(&*o, MapOutcome::Mapped { labels, .. } if labels[0].1 == "1"));
        c.map(&m, "a.3", MetricKind::Counter);
        assert_eq!(c.len(), 2);
        assert_eq!((c.gets(), c.hits()), (4, 1));
        c.map(&m, "a.1", MetricKind::Counter);
        assert_eq!(c.hits(), 2);
        c.map(&m, "a.2", MetricKind::Counter); // evicted earlier: miss
        assert_eq!((c.gets(), c.hits()), (6, 2));
        // the kind is part of the key
        c.map(&m, "a.2", MetricKind::Gauge);
        assert_eq!(c.hits(), 2);
        c.clear();
        assert_eq!(c.len(), 0);
        assert!(c.is_empty());
    }

    #[test]
    fn random_bound() {
        let m = mapper();
        let mut c = MapCache::new(10, CacheType::Random);
        for i in 0..1000 {
            let name = format!("a.{i}");
            let o = c.map(&m, &name, MetricKind::Counter);
            assert!(
                matches!(&*o, MapOutcome::Mapped { labels, .. } if labels[0].1 == i.to_string())
            );
            assert!(c.len() <= 10);
        }
        assert_eq!(c.len(), 10);
        assert_eq!(c.hits(), 0);
        // the entry just inserted is present: a hit, with the right result
        let o = c.map(&m, "a.999", MetricKind::Counter);
        assert!(matches!(&*o, MapOutcome::Mapped { labels, .. } if labels[0].1 == "999"));
        assert_eq!((c.gets(), c.hits()), (1001, 1));
        assert_eq!(c.len(), 10);
    }

    #[test]
    fn disabled() {
        let m = mapper();
        let mut c = MapCache::new(0, CacheType::Lru);
        let o = c.map(&m, "a.1", MetricKind::Counter);
        assert!(matches!(&*o, MapOutcome::Mapped { .. }));
        assert_eq!((c.len(), c.gets(), c.hits()), (0, 0, 0));
    }
}
