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
use super::params::Params;
use super::state::Shared;
use super::{douyin, wecom};

/// The most of a `stable_token` body read to learn its appid: axum's own default limit for a
/// body, so the handler sees every body it would have seen.
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Which app a call is made for: the query's `appid` (pages, `sns/*` exchanges,
/// `cgi-bin/token`) or `corpid` (WeCom `cgi-bin/gettoken`), else the app of the query's
/// global `access_token` (`cgi-bin/*`, `wxa/*`) or the corp of a WeCom one, else the `appid` of a JSON body (`cgi-bin/stable_token`). `None` when the call
/// names none (user tokens of `sns/userinfo` and `sns/auth` are not traced to an app).
fn app_of_call(shared: &Shared, query: Option<&str>, body: Option<&[u8]>) -> Option<String> {
    let p = Params::parse(query);
    if let Some(appid) = p.get("appid").or_else(|| p.get("corpid")) {
        return Some(appid.to_owned());
    }
    if let Some(token) = p.get("access_token") {
        if let Some(record) = shared.lock().global_tokens.get(token) {
            return Some(record.appid.clone());
        }
        if let Some(corp_id) = shared.wecom_token_corp(token) {
            return Some(corp_id);
        }
    }
    if let Some(token) = p.get("suite_access_token") {
        return shared.suite_token_owner(token);
    }
    let body: serde_json::Value = serde_json::from_slice(body?).ok()?;
    body.get("appid")
        .or_else(|| body.get("suite_id"))
        .and_then(serde_json::Value::as_str)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
}

/// Counts the call (per endpoint, and per app when the call names one), applies a queued
/// fault, logs, and relabels JSON as `text/plain` when asked to.
pub(crate) async fn count_and_inject(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().trim_start_matches('/').to_owned();
    let endpoint = ENDPOINTS.iter().copied().find(|e| *e == path);
    let is_page =
        path.starts_with("connect/") || path.starts_with("wwlogin/") || path == douyin::CONNECT;
    let is_wecom = wecom::ENDPOINTS.contains(&path.as_str());
    let is_douyin = douyin::ENDPOINTS.contains(&path.as_str());
    // `stable_token` names its app in the body: read it (the handler gets the same bytes).
    // So do Douyin's APIs (`client_key`, `appid` or a user token in a form or JSON body).
    let reads_body = matches!(
        endpoint,
        Some("cgi-bin/stable_token" | "cgi-bin/service/get_suite_token")
    ) || (is_douyin && path != douyin::CONNECT);
    let (req, body) = if reads_body {
        let (parts, body) = req.into_parts();
        match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Ok(bytes) => (
                Request::from_parts(parts, axum::body::Body::from(bytes.clone())),
                Some(bytes),
            ),
            Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
        }
    } else {
        (req, None)
    };
    let app = match endpoint {
        None => None,
        Some(_) if is_douyin => {
            douyin::app_of_call(&shared, req.uri().query(), req.headers(), body.as_deref())
        }
        Some(_) => app_of_call(&shared, req.uri().query(), body.as_deref()),
    };
    let (fault, sticky_plain) = {
        let mut inner = shared.lock();
        if let Some(ep) = endpoint {
            *inner.calls.entry(ep.to_owned()).or_default() += 1;
            if let Some(appid) = &app {
                inner.count_for_app(ep, appid);
            }
        }
        let fault = endpoint.and_then(|ep| inner.faults.take(ep));
        (fault, inner.text_plain)
    };
    if let Some(fault) = fault {
        tracing::debug!(endpoint = %path, ?fault, "mock wechat: injecting fault");
    }
    let mut text_plain = sticky_plain;
    let resp = match fault {
        Some(Fault::Errcode(code)) => {
            if is_page {
                pages::error_page(Some(code), "系统错误（mock 注入）", "injected").into_response()
            } else if is_wecom {
                wecom::wecom_error(code)
            } else if is_douyin {
                douyin::injected(&shared, &path, code)
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
