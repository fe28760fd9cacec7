//! The client's metrics, through the [`metrics`](https://docs.rs/metrics) facade. No exporter
//! here: with no recorder installed recording is a no-op.
//!
//! | Name | Type | Labels | Counts |
//! |---|---|---|---|
//! | `wechat_auth_douyin_requests_total` | counter | `endpoint` (`oauth/access_token/`, …), `errcode` (`0` success, Douyin's error number, `none`: no answer or an unreadable one) | Douyin API calls, one per attempt |
//! | `wechat_auth_douyin_request_duration_seconds` | histogram | `endpoint` | time from the start of the call to the end of each attempt |
//!
//! The names keep the `wechat_auth_` prefix of the layer, which lists them with its own.
//!
//! ```
//! assert_eq!(wechat_auth_douyin_client::metrics::DOUYIN_REQUESTS, "wechat_auth_douyin_requests_total");
//! ```

use std::time::Instant;

/// Douyin API calls, by `endpoint` and `errcode`.
pub const DOUYIN_REQUESTS: &str = "wechat_auth_douyin_requests_total";
/// Latency of Douyin API calls, by `endpoint`.
pub const DOUYIN_REQUEST_DURATION: &str = "wechat_auth_douyin_request_duration_seconds";

pub(crate) fn douyin_call(endpoint: &'static str, started: Instant, code: Option<i64>) {
    wechat_auth_client::transport_kit::record_call(
        DOUYIN_REQUESTS,
        DOUYIN_REQUEST_DURATION,
        endpoint,
        started,
        code,
    );
}
