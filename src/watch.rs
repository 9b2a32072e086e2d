//! Reload the mapping file when it changes.
//!
//! In Kubernetes the mapping file is a ConfigMap volume: the kubelet writes
//! the new content into a fresh directory and swaps a `..data` symlink, so
//! the watched path's own inode and mtime may not change and inotify on it
//! sees nothing. Polling the *content* (through the symlinks) catches every
//! kind of update. A change is applied once the content has stayed the same
//! for one more poll (debounce: editors and `kubectl cp` write in steps), and
//! content that failed to load is not retried until it changes again.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::app::App;

/// What the watcher knows; pure, so the debounce is testable without files
/// or clocks.
#[derive(Debug, Default)]
pub struct Debounce {
    /// Digest of the content last loaded or attempted.
    settled: Option<[u8; 32]>,
    /// Digest seen at the previous poll.
    previous: Option<[u8; 32]>,
}

impl Debounce {
    /// Feeds one poll: `seen` is the file's digest now (`None`: unreadable,
    /// e.g. mid-swap or deleted), `loaded` the running config's. Returns
    /// `true` when a reload should be attempted now; its content then counts
    /// as settled whatever the outcome, so a bad file is not retried until it
    /// changes.
    pub fn poll(&mut self, seen: Option<[u8; 32]>, loaded: Option<[u8; 32]>) -> bool {
        let stable = seen.is_some() && seen == self.previous;
        self.previous = seen;
        if seen == loaded {
            // Already running (at start, or loaded by SIGHUP / `/-/reload`).
            self.settled = loaded;
            return false;
        }
        if stable && seen != self.settled {
            self.settled = seen;
            return true;
        }
        false
    }
}

pub fn digest_file(path: &PathBuf) -> Option<[u8; 32]> {
    std::fs::read(path).ok().map(|b| Sha256::digest(&b).into())
}

/// Polls `path` every `interval` and reloads `app` on a settled change.
pub async fn watch_mapping(app: Arc<App>, path: PathBuf, interval: Duration) {
    let mut state = Debounce::default();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let p = path.clone();
        let seen = tokio::task::spawn_blocking(move || digest_file(&p))
            .await
            .ok()
            .flatten();
        if state.poll(seen, app.loaded_digest()) {
            tracing::info!(file = %path.display(), "mapping file changed; reloading");
            let app = app.clone();
            let _ = tokio::task::spawn_blocking(move || app.reload()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(b: u8) -> Option<[u8; 32]> {
        Some([b; 32])
    }

    #[test]
    fn debounce_table() {
        // Polls of (file digest, running config's digest) → reload decisions.
        #[allow(clippy::type_complexity)]
        let cases: &[(&str, &[(Option<[u8; 32]>, Option<[u8; 32]>)], &[bool])] = &[
            ("unchanged", &[(d(1), d(1)), (d(1), d(1))], &[false, false]),
            (
                "a change settles after one more poll",
                &[(d(2), d(1)), (d(2), d(1))],
                &[false, true],
            ),
            (
                "a change mid-write waits for the final content",
                &[(d(2), d(1)), (d(3), d(1)), (d(3), d(1))],
                &[false, false, true],
            ),
            (
                "unreadable during a swap, then the new content",
                &[(None, d(1)), (d(2), d(1)), (d(2), d(1))],
                &[false, false, true],
            ),
            (
                "changed back before settling: nothing to do",
                &[(d(2), d(1)), (d(1), d(1)), (d(1), d(1))],
                &[false, false, false],
            ),
            (
                "a bad content is tried once, then not until it changes",
                &[
                    (d(9), d(1)),
                    (d(9), d(1)),
                    (d(9), d(1)),
                    (d(4), d(1)),
                    (d(4), d(1)),
                ],
                &[false, true, false, false, true],
            ),
            (
                "loaded by SIGHUP in between: nothing to do",
                &[(d(2), d(1)), (d(2), d(2)), (d(2), d(2))],
                &[false, false, false],
            ),
            (
                "deleted file: keep the running config",
                &[(None, d(1)), (None, d(1))],
                &[false, false],
            ),
        ];
        for (name, polls, want) in cases {
            let mut s = Debounce::default();
            let got: Vec<bool> = polls.iter().map(|(f, l)| s.poll(*f, *l)).collect();
            assert_eq!(&got[..], *want, "{name}");
        }
    }
}
