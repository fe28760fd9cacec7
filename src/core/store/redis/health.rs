//! Outage logging: one warning when Redis stops answering, one line when it is back.

use std::{
    fmt,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// At most one "Redis unreachable" warning per this long.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Logs "Redis unreachable" at most once per [`WARN_EVERY`], and "back" once it answers.
pub(super) struct Health {
    url: Arc<str>,
    down: AtomicBool,
    last_warning: Mutex<Option<Instant>>,
}

impl Health {
    pub(super) fn new(url: Arc<str>) -> Self {
        Self {
            url,
            down: AtomicBool::new(false),
            last_warning: Mutex::new(None),
        }
    }

    pub(super) fn failed(&self, error: &dyn fmt::Display) {
        let mut last = self.last_warning.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            *last = Some(Instant::now());
            self.down.store(true, Ordering::Relaxed);
            tracing::warn!(
                redis = %self.url,
                error = %error,
                "Redis store unreachable: its operations fail (503) until it answers again"
            );
        }
    }

    pub(super) fn ok(&self) {
        if self.down.load(Ordering::Relaxed) && self.down.swap(false, Ordering::Relaxed) {
            tracing::info!(redis = %self.url, "Redis store reachable again");
        }
    }
}
