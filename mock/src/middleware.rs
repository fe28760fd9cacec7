//! Call counting, fault injection and the `text/plain` switch: one middleware in front of
//! every WeChat endpoint of the mock.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::errors::WxError;
use super::faults::{ENDPOINTS, Fault};
use super::pages;
use super::state::Shared;

/// Counts the call, applies a queued fault, logs, and relabels JSON as `text/plain` when
/// asked to.
pub(crate) async fn count_and_inject(
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
        let fault = endpoint.and_then(|ep| inner.faults.take(ep));
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
