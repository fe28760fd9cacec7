//! The client's metrics, through the [`metrics`](https://docs.rs/metrics) facade: names and
//! labels below. No exporter here: with no recorder installed recording is a no-op, and an
//! application exposes them with the exporter of its choice.
//!
//! | Name | Type | Labels | Counts |
//! |---|---|---|---|
//! | `wechat_auth_wechat_requests_total` | counter | `endpoint` (`sns/oauth2/access_token`, `cgi-bin/stable_token`, …), `errcode` (`0` success, WeChat's errcode, `none`: no answer or an unreadable one) | WeChat API calls, one per attempt (a retried call counts each try) |
//! | `wechat_auth_wechat_request_duration_seconds` | histogram | `endpoint` | time from the start of the call to the end of each attempt |
//! | `wechat_auth_global_token_fetches_total` | counter | `source` (`stable_token`, `token`) | global access token fetches |
//!
//! The names keep the `wechat_auth_` prefix of the layer (`wechat-auth`), which lists them
//! with its own in `wechat_auth::metrics`.
//!
//! ```
//! use wechat_auth_client::metrics;
//!
//! assert_eq!(metrics::WECHAT_REQUESTS, "wechat_auth_wechat_requests_total");
//! ```

use std::time::Instant;

use ::metrics::{counter, histogram};

/// WeChat API calls, by `endpoint` and `errcode`.
pub const WECHAT_REQUESTS: &str = "wechat_auth_wechat_requests_total";
/// Latency of WeChat API calls, by `endpoint`.
pub const WECHAT_REQUEST_DURATION: &str = "wechat_auth_wechat_request_duration_seconds";
/// Global access token fetches, by `source`.
pub const GLOBAL_TOKEN_FETCHES: &str = "wechat_auth_global_token_fetches_total";

/// One attempt of a WeChat API call to `endpoint` (the call began at `started`) ended with
/// `errcode` (`Some(0)` on success, `None` when WeChat gave no readable answer).
pub(crate) fn wechat_call(endpoint: &'static str, started: Instant, errcode: Option<i64>) {
    let errcode = match errcode {
        Some(0) => "0".into(),
        Some(e) => e.to_string().into(),
        None => std::borrow::Cow::Borrowed("none"),
    };
    counter!(WECHAT_REQUESTS, "endpoint" => endpoint, "errcode" => errcode).increment(1);
    histogram!(WECHAT_REQUEST_DURATION, "endpoint" => endpoint)
        .record(started.elapsed().as_secs_f64());
}

/// A global access token fetch from `source` (`stable_token`, `token`).
pub(crate) fn global_token_fetch(source: &'static str) {
    counter!(GLOBAL_TOKEN_FETCHES, "source" => source).increment(1);
}
