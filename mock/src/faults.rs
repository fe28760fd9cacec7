//! Call counting, fault injection and the `text/plain` switch: one middleware in front of
//! every WeChat endpoint of the mock.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::errors::WxError;
use super::pages;
use super::state::{ENDPOINTS, Inner, MAX_FAULTS_PER_ENDPOINT, Shared};

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

/// Queues `fault` for the next `times` calls of `endpoint` (path without leading slash).
/// Names that are no endpoint are ignored (they could never fire, and must not grow state).
pub(crate) fn queue(inner: &mut Inner, endpoint: &str, fault: Fault, times: u32) {
    let endpoint = endpoint.trim_start_matches('/');
    if times == 0 || !ENDPOINTS.contains(&endpoint) {
        return;
    }
    let queue = inner.faults.entry(endpoint.to_owned()).or_default();
    if queue.len() < MAX_FAULTS_PER_ENDPOINT {
        queue.push_back((fault, times));
    }
}

/// Takes the fault due for one call of `endpoint`, if any.
fn take(inner: &mut Inner, endpoint: &str) -> Option<Fault> {
    let queue = inner.faults.get_mut(endpoint)?;
    let (fault, left) = queue.front_mut()?;
    let fault = *fault;
    *left -= 1;
    if *left == 0 {
        queue.pop_front();
    }
    if queue.is_empty() {
        inner.faults.remove(endpoint);
    }
    Some(fault)
}

/// Counts the call, applies a queued fault, logs, and relabels JSON as `text/plain` when
/// asked to.
pub(crate) async fn middleware(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().trim_start_matches('/');
    let endpoint = ENDPOINTS.iter().copied().find(|e| *e == path);
    let is_page = path.starts_with("connect/");
    let (fault, sticky_plain) = {
        let mut inner = shared.lock();
        if let Some(ep) = endpoint {
            *inner.calls.entry(ep.to_owned()).or_default() += 1;
        }
        let fault = endpoint.and_then(|ep| take(&mut inner, ep));
        (fault, inner.text_plain)
    };
    if let Some(fault) = fault {
        tracing::debug!(endpoint = path, ?fault, "mock wechat: injecting fault");
    }
    let mut text_plain = sticky_plain;
    let resp = match fault {
        Some(Fault::Errcode(code)) => {
            if is_page {
                pages::error_page(Some(code), "系统错误（mock 注入）", "injected").into_response()
            } else {
                WxError::new(code).into_response()
            }
        }
        Some(Fault::HttpStatus(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (
                status,
                format!("mock wechat: injected HTTP {}", status.as_u16()),
            )
                .into_response()
        }
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            next.run(req).await
        }
        Some(Fault::TextPlain) => {
            text_plain = true;
            next.run(req).await
        }
        None => next.run(req).await,
    };
    relabel(resp, text_plain)
}

fn relabel(mut resp: Response, text_plain: bool) -> Response {
    if !text_plain {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    resp
}

/// Logs every request the mock serves (control API and avatars included) at debug level.
pub(crate) async fn log_requests(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = next.run(req).await;
    tracing::debug!(%method, %path, status = resp.status().as_u16(), "mock wechat: request");
    resp
}
