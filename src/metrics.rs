//! Metrics through the [`metrics`](https://docs.rs/metrics) facade: every counter and
//! histogram the layer records, with its labels, listed here.
//!
//! The crate installs no exporter: with no recorder installed recording is a no-op (a
//! few nanoseconds), and an application exposes them with the exporter of its choice,
//! e.g. `metrics-exporter-prometheus` (the demo serves them at `/metrics`):
//!
//! ```
//! use wechat_auth::metrics;
//!
//! // let handle = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
//! // ... then serve handle.render() at /metrics.
//! assert_eq!(metrics::GUARD_DECISIONS, "wechat_auth_guard_decisions_total");
//! assert!(metrics::ALL.iter().all(|(name, _, _)| name.starts_with("wechat_auth_")));
//! ```
//!
//! | Name | Type | Labels | Counts |
//! |---|---|---|---|
//! | `wechat_auth_logins_total` | counter | `channel` (`website`, `official_account`, `scan_follow`, `mini_program_code`, `message_code`, `mobile_app`, `mini_program`), `outcome` (`ok`: a session issued; `refused`: `on_login` said no) | logins |
//! | `wechat_auth_wechat_requests_total` | counter | `endpoint` (`sns/oauth2/access_token`, `cgi-bin/stable_token`, …), `errcode` (`0` success, WeChat's errcode, `none`: no answer or an unreadable one) | WeChat API calls, one per attempt (a retried call counts each try) |
//! | `wechat_auth_wechat_request_duration_seconds` | histogram | `endpoint` | time from the start of the call to the end of each attempt |
//! | `wechat_auth_global_token_fetches_total` | counter | `source` (`stable_token`, `token`) | global access token fetches (single flight: one per app and renewal across instances) |
//! | `wechat_auth_scans_total` | counter | `event` (`started`, `confirmed`, `refused`, `expired`), `via` (`follow_oa`, `mini_program`, `message`, `link`) | scan logins (QR, mini program code and message code); `refused` and `expired` as the waiting browser learns it |
//! | `wechat_auth_long_poll_waits_total` | counter | — | `GET scan/{id}?wait=S` long-polls (S > 0) |
//! | `wechat_auth_long_poll_wait_seconds` | histogram | — | how long they were held |
//! | `wechat_auth_store_errors_total` | counter | `op` (`get`, `set`, `set_if_absent`, `take`, `delete_if_eq`, `increment`, `publish`, `subscribe`, `revoke`, `revoked`, `connect`) | failed `RedisStore` operations (each answered 503) |
//! | `wechat_auth_scan_budget_total` | counter | `state` (`ok`, `low`: 80 % of the day's budget or more used, `spent`: refused) | follow-the-account scan starts against the daily QR code budget (`WECHAT_SCAN_DAILY_BUDGET`); alert on `low` |
//! | `wechat_auth_guard_decisions_total` | counter | `decision` (`valid`, `missing`, `invalid`, `revoked`) | requests the guard looked at (not the layer's own endpoints) |
//!
//! A failed code exchange shows up as `wechat_auth_wechat_requests_total{endpoint=
//! "sns/oauth2/access_token", errcode="40029"}` (or 40163, …), with the errcode's meaning in
//! `wechat_auth::client`'s table.

use std::time::Instant;

use ::metrics::{counter, describe_counter, describe_histogram, histogram};

use crate::user::Identity;

/// Logins, by `channel` and `outcome`.
pub const LOGINS: &str = "wechat_auth_logins_total";
/// WeChat API calls, by `endpoint` and `errcode` (recorded by the client crate).
pub const WECHAT_REQUESTS: &str = wechat_auth_client::metrics::WECHAT_REQUESTS;
/// Latency of WeChat API calls, by `endpoint` (recorded by the client crate).
pub const WECHAT_REQUEST_DURATION: &str = wechat_auth_client::metrics::WECHAT_REQUEST_DURATION;
/// Global access token fetches, by `source` (recorded by the client crate).
pub const GLOBAL_TOKEN_FETCHES: &str = wechat_auth_client::metrics::GLOBAL_TOKEN_FETCHES;
/// Scan logins, by `event`.
pub const SCANS: &str = "wechat_auth_scans_total";
/// Scan status long-polls.
pub const LONG_POLL_WAITS: &str = "wechat_auth_long_poll_waits_total";
/// How long scan status long-polls were held.
pub const LONG_POLL_WAIT: &str = "wechat_auth_long_poll_wait_seconds";
/// Failed store operations, by `op`.
pub const STORE_ERRORS: &str = "wechat_auth_store_errors_total";
/// Scan starts by what they left of today's QR code budget, by `state`.
pub const SCAN_BUDGET: &str = "wechat_auth_scan_budget_total";
/// The guard's decisions, by `decision`.
pub const GUARD_DECISIONS: &str = "wechat_auth_guard_decisions_total";

/// Every metric: name, whether it is a histogram, description.
pub const ALL: &[(&str, bool, &str)] = &[
    (
        LOGINS,
        false,
        "Logins by channel and outcome (ok, refused).",
    ),
    (
        WECHAT_REQUESTS,
        false,
        "WeChat API calls by endpoint and errcode (0 = success, none = no answer).",
    ),
    (
        WECHAT_REQUEST_DURATION,
        true,
        "Latency of WeChat API calls by endpoint, retries included.",
    ),
    (
        GLOBAL_TOKEN_FETCHES,
        false,
        "Global access token fetches by source (stable_token, token).",
    ),
    (
        SCANS,
        false,
        "Scan logins by event (started, confirmed, refused, expired).",
    ),
    (LONG_POLL_WAITS, false, "Scan status long-polls."),
    (
        LONG_POLL_WAIT,
        true,
        "How long scan status long-polls were held.",
    ),
    (
        STORE_ERRORS,
        false,
        "Failed store operations by op (each answered 503).",
    ),
    (
        GUARD_DECISIONS,
        false,
        "Guard decisions by decision (valid, missing, invalid, revoked).",
    ),
    (
        SCAN_BUDGET,
        false,
        "Scan starts by the state of today's QR code budget (ok, low: 80 % used, spent: refused).",
    ),
];

/// Registers the descriptions of every metric with the installed recorder (call it once
/// after installing one; exporters show them as `# HELP`).
///
/// ```
/// wechat_auth::metrics::describe(); // no recorder installed: nothing happens
/// ```
pub fn describe() {
    for &(name, is_histogram, help) in ALL {
        if is_histogram {
            describe_histogram!(name, ::metrics::Unit::Seconds, help);
        } else {
            describe_counter!(name, help);
        }
    }
}

/// What the guard decided about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guard {
    Valid = 0,
    Missing = 1,
    Invalid = 2,
    Revoked = 3,
}

/// The guard's four counters as `static` keys: their hash is computed at compile time, so a
/// decision costs the recorder lookup and nothing else (the `counter!` macro with a `const`
/// name builds and hashes its key on every call — measurable on the guard's path).
static GUARD_KEYS: [::metrics::Key; 4] = {
    use ::metrics::{Key, Label};
    static LABELS: [[Label; 1]; 4] = [
        [Label::from_static_parts("decision", "valid")],
        [Label::from_static_parts("decision", "missing")],
        [Label::from_static_parts("decision", "invalid")],
        [Label::from_static_parts("decision", "revoked")],
    ];
    [
        Key::from_static_parts(GUARD_DECISIONS, &LABELS[0]),
        Key::from_static_parts(GUARD_DECISIONS, &LABELS[1]),
        Key::from_static_parts(GUARD_DECISIONS, &LABELS[2]),
        Key::from_static_parts(GUARD_DECISIONS, &LABELS[3]),
    ]
};

static GUARD_METADATA: ::metrics::Metadata<'static> =
    ::metrics::Metadata::new(module_path!(), ::metrics::Level::INFO, Some(module_path!()));

/// One guard decision: no allocation, no hashing, a no-op without a recorder.
#[inline]
pub(crate) fn guard(decision: Guard) {
    let key = &GUARD_KEYS[decision as usize];
    ::metrics::with_recorder(|r| r.register_counter(key, &GUARD_METADATA)).increment(1);
}

/// A session was issued to `user`: a login, unless it is the `refresh` of a native one.
pub(crate) fn session_issued(channel: crate::user::Channel, refresh: bool) {
    if !refresh {
        counter!(LOGINS, "channel" => channel.as_str(), "outcome" => "ok").increment(1);
    }
}

/// `answer` is `on_login`'s for `user`: counted when it refuses, passed through.
pub(crate) fn refusal<T, E>(identity: &Identity, answer: Result<T, E>) -> Result<T, E> {
    if answer.is_err() {
        counter!(LOGINS, "channel" => identity.channel().as_str(), "outcome" => "refused")
            .increment(1);
    }
    answer
}

/// A scan login event: `started`, `confirmed`, `refused`, `expired`; `via` what the phone
/// scanned or sent: `follow_oa`, `mini_program`, `message`.
pub(crate) fn scan(event: &'static str, via: &'static str) {
    counter!(SCANS, "event" => event, "via" => via).increment(1);
}

/// A follow-the-account scan start, by the state of today's QR code budget: `ok`, `low`
/// (80 % or more used), `spent` (refused).
pub(crate) fn scan_budget(state: &'static str) {
    counter!(SCAN_BUDGET, "state" => state).increment(1);
}

/// A failed store operation.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) fn store_error(op: &'static str) {
    counter!(STORE_ERRORS, "op" => op).increment(1);
}

/// A long-poll in progress: counted when it starts, its duration recorded when it ends
/// (however it ends). `None` for a poll that does not wait.
pub(crate) struct LongPoll(Option<Instant>);

impl LongPoll {
    pub(crate) fn start(wait_secs: u64) -> Self {
        if wait_secs == 0 {
            return Self(None);
        }
        counter!(LONG_POLL_WAITS).increment(1);
        Self(Some(Instant::now()))
    }
}

impl Drop for LongPoll {
    fn drop(&mut self) {
        if let Some(started) = self.0 {
            histogram!(LONG_POLL_WAIT).record(started.elapsed().as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_prometheus_names_and_listed_once() {
        let mut names: Vec<&str> = ALL.iter().map(|(n, _, _)| *n).collect();
        assert!(
            names
                .iter()
                .all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
        for (name, histogram, _) in ALL {
            assert_eq!(*histogram, name.ends_with("_seconds"), "{name}");
            assert!(*histogram || name.ends_with("_total"), "{name}");
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }

    #[test]
    fn each_guard_decision_has_its_own_static_key() {
        let expect = [
            (Guard::Valid, "valid"),
            (Guard::Missing, "missing"),
            (Guard::Invalid, "invalid"),
            (Guard::Revoked, "revoked"),
        ];
        for (decision, label) in expect {
            let key = &GUARD_KEYS[decision as usize];
            assert_eq!(key.name(), GUARD_DECISIONS);
            let labels: Vec<_> = key.labels().map(|l| (l.key(), l.value())).collect();
            assert_eq!(labels, [("decision", label)]);
        }
    }
}
