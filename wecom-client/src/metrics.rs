//! The client's metrics, through the [`metrics`](https://docs.rs/metrics) facade. No exporter
//! here: with no recorder installed recording is a no-op.
//!
//! | Name | Type | Labels | Counts |
//! |---|---|---|---|
//! | `wechat_auth_wecom_requests_total` | counter | `endpoint` (`cgi-bin/gettoken`, …), `errcode` (`0` success, WeCom's errcode, `none`: no answer or an unreadable one) | WeCom API calls, one per attempt |
//! | `wechat_auth_wecom_request_duration_seconds` | histogram | `endpoint` | time from the start of the call to the end of each attempt |
//!
//! The names keep the `wechat_auth_` prefix of the layer, which lists them with its own.
//!
//! ```
//! assert_eq!(wecom_client::metrics::WECOM_REQUESTS, "wechat_auth_wecom_requests_total");
//! ```

use std::time::Instant;

/// WeCom API calls, by `endpoint` and `errcode`.
pub const WECOM_REQUESTS: &str = "wechat_auth_wecom_requests_total";
/// Latency of WeCom API calls, by `endpoint`.
pub const WECOM_REQUEST_DURATION: &str = "wechat_auth_wecom_request_duration_seconds";

/// One attempt of a call to `endpoint` (begun at `started`) ended with `errcode` (`Some(0)` on
/// success, `None` when WeCom gave no readable answer).
pub(crate) fn wecom_call(endpoint: &'static str, started: Instant, errcode: Option<i64>) {
    wechat_auth_client::transport_kit::record_call(
        WECOM_REQUESTS,
        WECOM_REQUEST_DURATION,
        endpoint,
        started,
        errcode,
    );
}
