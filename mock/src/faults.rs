//! The faults a test can inject, the endpoints they can target, and the per-endpoint queues
//! they wait in. A leaf: the middleware (`middleware.rs`) takes faults from the queues kept in
//! the mock's state; nothing here knows the state, the pages or HTTP.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// Every endpoint the mock counts calls for (and can inject faults into), keyed by path
/// without the leading slash.
pub(crate) const ENDPOINTS: &[&str] = &[
    "connect/qrconnect",
    "connect/oauth2/authorize",
    "sns/oauth2/access_token",
    "sns/oauth2/refresh_token",
    "sns/userinfo",
    "sns/auth",
    "sns/jscode2session",
    "cgi-bin/token",
    "cgi-bin/stable_token",
    "cgi-bin/qrcode/create",
    "cgi-bin/showqrcode",
    "cgi-bin/user/info",
    "wxa/business/getuserphonenumber",
    "wxa/checksession",
    "wxa/getwxacodeunlimit",
    "wxa/generate_urllink",
    "wxa/generatescheme",
    // WeCom (企业微信), see `wecom::ENDPOINTS`.
    "wwlogin/sso/login",
    "cgi-bin/gettoken",
    "cgi-bin/auth/getuserinfo",
    "cgi-bin/auth/getuserdetail",
    "cgi-bin/service/get_suite_token",
    "cgi-bin/service/auth/getuserinfo3rd",
    "cgi-bin/service/auth/getuserdetail3rd",
    // Douyin (抖音), see `douyin::ENDPOINTS`.
    "platform/oauth/connect/",
    "oauth/access_token/",
    "oauth/refresh_token/",
    "oauth/renew_refresh_token/",
    "oauth/client_token/",
    "oauth/userinfo/",
    "api/apps/v2/jscode2session",
];

/// At most this many queued entries per endpoint (more are dropped).
pub(crate) const MAX_FAULTS_PER_ENDPOINT: usize = 64;

/// A misbehaviour to inject into the next calls of one endpoint
/// (see [`MockWechat::inject`](super::MockWechat::inject)).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use wechat_auth_mock::{Fault, MockWechat};
///
/// let mock = MockWechat::start().await?;
/// mock.inject("sns/oauth2/access_token", Fault::Errcode(-1), 2); // "system error" twice
/// mock.inject("cgi-bin/stable_token", Fault::HttpStatus(503), 1);
/// mock.inject("sns/userinfo", Fault::Delay(Duration::from_millis(1500)), 1);
/// mock.inject("sns/auth", Fault::TextPlain, 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer `{"errcode":N,"errmsg":"…"}` (HTTP 200) instead of the real answer; on the
    /// browser pages, WeChat's HTML error page with that code.
    Errcode(i64),
    /// Answer this HTTP status with a short plain-text body (a gateway failure). A number
    /// that is no HTTP status answers 500.
    HttpStatus(u16),
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Answer normally, but label a JSON body `Content-Type: text/plain`.
    TextPlain,
}

/// The queued faults: endpoint → (fault, calls left) in order.
#[derive(Debug, Default)]
pub(crate) struct FaultQueues(HashMap<String, VecDeque<(Fault, u32)>>);

impl FaultQueues {
    /// Queues `fault` for the next `times` calls of `endpoint` (path without leading slash).
    /// Names that are no endpoint are ignored (they could never fire, and must not grow
    /// state).
    pub(crate) fn queue(&mut self, endpoint: &str, fault: Fault, times: u32) {
        let endpoint = endpoint.trim_start_matches('/');
        if times == 0 || !ENDPOINTS.contains(&endpoint) {
            return;
        }
        let queue = self.0.entry(endpoint.to_owned()).or_default();
        if queue.len() < MAX_FAULTS_PER_ENDPOINT {
            queue.push_back((fault, times));
        }
    }

    /// Takes the fault due for one call of `endpoint`, if any.
    pub(crate) fn take(&mut self, endpoint: &str) -> Option<Fault> {
        let queue = self.0.get_mut(endpoint)?;
        let (fault, left) = queue.front_mut()?;
        let fault = *fault;
        *left -= 1;
        if *left == 0 {
            queue.pop_front();
        }
        if queue.is_empty() {
            self.0.remove(endpoint);
        }
        Some(fault)
    }

    /// Forgets every queued fault.
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
}
