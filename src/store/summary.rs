//! Sliding-window quantiles for summaries, bounded in memory.
//!
//! client_golang (what statsd_exporter uses) keeps `age_buckets` streams that
//! each see every observation; the oldest one answers queries and is reset
//! every `max_age / age_buckets`. We keep the same window (the last
//! `max_age`, in `age_buckets` slices), but each observation goes only into
//! the newest slice and a query merges the slices: a slice is a uniform
//! reservoir of at most `buf_cap` samples. Memory is bounded by
//! `age_buckets * buf_cap * 8` bytes per series and, unlike five full copies,
//! a quiet series holds only the samples it received. Quantiles are exact
//! while each slice holds fewer than `buf_cap` observations (always the case
//! for Airflow's timers).

use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
struct Reservoir {
    samples: Vec<f64>,
    seen: u64,
    rng: u64,
}

impl Reservoir {
    fn new(seed: u64) -> Self {
        Reservoir {
            samples: Vec::new(),
            seen: 0,
            rng: seed | 1,
        }
    }

    fn reset(&mut self) {
        self.samples.clear();
        self.samples.shrink_to(16);
        self.seen = 0;
    }

    fn next_rand(&mut self) -> u64 {
        // xorshift64: deterministic, no clock, no global state.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    fn insert(&mut self, v: f64, cap: usize) {
        self.seen += 1;
        if self.samples.len() < cap {
            self.samples.push(v);
        } else {
            // Algorithm R: keep each of the `seen` samples with equal probability.
            let j = self.next_rand() % self.seen;
            if (j as usize) < cap {
                self.samples[j as usize] = v;
            }
        }
    }
}

/// The state of one summary series.
#[derive(Clone, Debug)]
pub struct SummaryState {
    streams: Vec<Reservoir>,
    head: usize,
    head_expires: Instant,
    stream_width: Duration,
    buf_cap: usize,
    /// Quantiles from the last query; valid until the window changes, so
    /// scrapes of idle series (most Airflow timers) do not re-sort under the
    /// store lock.
    cached: Option<Vec<f64>>,
    pub sum: f64,
    pub count: f64,
}

impl SummaryState {
    pub fn new(max_age: Duration, age_buckets: u32, buf_cap: u32, now: Instant) -> Self {
        let n = age_buckets.max(1) as usize;
        let max_age = if max_age.is_zero() {
            Duration::from_secs(600)
        } else {
            max_age
        };
        let stream_width = max_age / n as u32;
        let streams = (0..n)
            .map(|i| Reservoir::new(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1)))
            .collect();
        SummaryState {
            streams,
            head: 0,
            head_expires: now + stream_width,
            stream_width,
            buf_cap: buf_cap.clamp(1, 100_000) as usize,
            cached: None,
            sum: 0.0,
            count: 0.0,
        }
    }

    fn rotate(&mut self, now: Instant) {
        // Each elapsed stream width retires the head (oldest) stream.
        let n = self.streams.len();
        let mut rotations = 0;
        while now >= self.head_expires && rotations < n {
            self.cached = None;
            self.streams[self.head].reset();
            self.head = (self.head + 1) % n;
            self.head_expires += self.stream_width;
            rotations += 1;
        }
        if now >= self.head_expires {
            // Idle for longer than the whole window: everything is stale.
            self.head_expires = now + self.stream_width;
        }
    }

    pub fn observe(&mut self, v: f64, weight: f64, now: Instant) {
        self.rotate(now);
        self.cached = None;
        self.sum += v * weight;
        self.count += weight;
        let cap = self.buf_cap;
        let n = self.streams.len();
        // `head` is the oldest slice; the one before it is the newest.
        self.streams[(self.head + n - 1) % n].insert(v, cap);
    }

    /// Quantile values (nearest rank) for `qs`, NaN when the window is empty,
    /// as client_golang reports.
    pub fn quantiles(&mut self, qs: &[f64], now: Instant) -> Vec<f64> {
        self.rotate(now);
        if let Some(c) = &self.cached {
            if c.len() == qs.len() {
                return c.clone();
            }
        }
        let mut sorted: Vec<f64> = self
            .streams
            .iter()
            .flat_map(|r| r.samples.iter().copied())
            .collect();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let values: Vec<f64> = qs.iter().map(|&q| nearest_rank(&sorted, q)).collect();
        self.cached = Some(values.clone());
        values
    }

    /// Bytes held by this series' reservoirs (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.streams
            .iter()
            .map(|s| s.samples.capacity() * 8 + std::mem::size_of::<Reservoir>())
            .sum()
    }
}

fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let n = sorted.len();
    let rank = (q * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_quantiles_for_small_windows() {
        let t0 = Instant::now();
        let mut s = SummaryState::new(Duration::from_secs(600), 5, 500, t0);
        for v in 1..=100 {
            s.observe(v as f64, 1.0, t0);
        }
        assert_eq!(s.quantiles(&[0.5, 0.9, 0.99], t0), vec![50.0, 90.0, 99.0]);
        assert_eq!(s.count, 100.0);
        assert_eq!(s.sum, 5050.0);
        // Cached answer is invalidated by the next observation.
        s.observe(1000.0, 1.0, t0);
        assert_eq!(s.quantiles(&[0.5, 0.9, 0.99], t0), vec![51.0, 91.0, 100.0]);
    }

    #[test]
    fn window_forgets_old_observations_but_not_totals() {
        let t0 = Instant::now();
        let mut s = SummaryState::new(Duration::from_secs(10), 5, 500, t0);
        s.observe(1.0, 1.0, t0);
        let later = t0 + Duration::from_secs(11);
        assert!(s.quantiles(&[0.5], later)[0].is_nan());
        assert_eq!(s.count, 1.0);
        s.observe(7.0, 2.0, later);
        assert_eq!(s.quantiles(&[0.5], later), vec![7.0]);
        assert_eq!(s.count, 3.0);
        assert_eq!(s.sum, 15.0);
    }

    #[test]
    fn window_slides_slice_by_slice() {
        let t0 = Instant::now();
        let s10 = |x: u64| t0 + Duration::from_secs(x);
        let mut s = SummaryState::new(Duration::from_secs(10), 5, 500, t0);
        s.observe(1.0, 1.0, t0);
        s.observe(3.0, 1.0, s10(5));
        assert_eq!(s.quantiles(&[0.0, 1.0], s10(9)), vec![1.0, 3.0]);
        assert_eq!(s.quantiles(&[0.0, 1.0], s10(11)), vec![3.0, 3.0]);
        assert!(s.quantiles(&[0.5], s10(17))[0].is_nan());
    }

    #[test]
    fn reservoir_is_bounded() {
        let t0 = Instant::now();
        let mut s = SummaryState::new(Duration::from_secs(600), 5, 50, t0);
        for v in 0..10_000 {
            s.observe(v as f64, 1.0, t0);
        }
        let held: Vec<usize> = s.streams.iter().map(|r| r.samples.len()).collect();
        assert_eq!(held.iter().sum::<usize>(), 50, "{held:?}");
        let med = s.quantiles(&[0.5], t0)[0];
        // A uniform sample of 0..10000: the median lands well inside the range.
        assert!((2000.0..8000.0).contains(&med), "median {med}");
    }
}
