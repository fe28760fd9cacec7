//! The login flows, one file per channel, and what they share: dispatch of the layer's
//! endpoints and the mapping of every failure to a response a person or an app can act on.
//!
//! - [`oauth`]: website QR login and Official Account web authorization (`login`, `callback`).
//! - [`scan`]: follow-the-Official-Account scan login (`scan`, `scan/{id}`), and [`push`]: the
//!   push URL that confirms scans.
//! - [`app`]: the mobile app (`app`) and long sessions for native clients (`refresh`);
//!   [`miniprogram`]: the mini program (`miniprogram`).
//! - [`account`]: the current session (`me`, `logout`).

use std::sync::Arc;

use axum_core::body::Body;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header, request::Parts};

use crate::{
    auth::Auth,
    client::{ErrorKind, WechatError},
    respond,
    store::StoreError,
};

pub(crate) mod account;
pub(crate) mod app;
pub(crate) mod miniprogram;
pub(crate) mod oauth;
pub(crate) mod push;
pub(crate) mod scan;

/// Why a flow could not finish. Cheap to clone (shared by every caller of one exchange).
#[derive(Clone, Debug)]
pub(crate) enum FlowError {
    /// The request is malformed or incomplete.
    BadRequest(String),
    /// The login was not started in this browser, or its state expired.
    StateMismatch,
    /// The channel is not configured.
    ChannelOff(&'static str),
    /// WeChat refused or failed.
    Wechat(Arc<WechatError>),
    /// The store failed.
    Store(Arc<StoreError>),
    /// Another instance is still exchanging this code.
    Busy,
    /// WeChat already refused this code (errcode kept): a repeat is not sent upstream again.
    CodeRefused(i64),
    /// This client has too many exchanges under way, or too many refused codes lately.
    TooMany(crate::limit::Exceeded),
    /// A native login's code was used already: its token was handed out once (or has been
    /// revoked since), and a repeat gets no new one.
    CodeUsed,
}

impl From<WechatError> for FlowError {
    fn from(e: WechatError) -> Self {
        Self::Wechat(Arc::new(e))
    }
}

impl From<StoreError> for FlowError {
    fn from(e: StoreError) -> Self {
        Self::Store(Arc::new(e))
    }
}

impl FlowError {
    /// The HTTP status: 4xx when the person, the request or the configuration is at fault,
    /// 502/503 when WeChat (or the store) is down or slow.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::StateMismatch | Self::CodeRefused(_) | Self::CodeUsed => {
                StatusCode::BAD_REQUEST
            }
            Self::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::ChannelOff(_) => StatusCode::NOT_FOUND,
            Self::Store(_) | Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Wechat(e) => match e.as_ref() {
                WechatError::Timeout { .. } => StatusCode::SERVICE_UNAVAILABLE,
                e => match e.kind() {
                    ErrorKind::LoginAgain | ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
                    ErrorKind::Configuration | ErrorKind::Permission => StatusCode::FORBIDDEN,
                    ErrorKind::Quota => StatusCode::TOO_MANY_REQUESTS,
                    _ => StatusCode::BAD_GATEWAY,
                },
            },
        }
    }

    /// A short machine-readable code for JSON answers.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::StateMismatch => "state_mismatch",
            Self::ChannelOff(_) => "channel_not_configured",
            Self::Store(_) => "store_unavailable",
            Self::Busy => "busy",
            Self::CodeRefused(_) | Self::CodeUsed => "login_again",
            Self::TooMany(_) => "too_many_requests",
            Self::Wechat(e) => match e.as_ref() {
                WechatError::Timeout { .. } => "wechat_timeout",
                e => match e.kind() {
                    ErrorKind::LoginAgain => "login_again",
                    ErrorKind::Configuration | ErrorKind::Permission => "wechat_configuration",
                    ErrorKind::Quota => "wechat_quota",
                    ErrorKind::InvalidRequest => "bad_request",
                    _ => "wechat_unavailable",
                },
            },
        }
    }

    /// What to tell a person (Chinese, then English).
    fn message(&self) -> (String, String) {
        match self {
            Self::BadRequest(m) => ("请求不完整或有误。".into(), m.clone()),
            Self::StateMismatch => (
                "这次登录不是在本浏览器中发起的，或已过期。请重新登录。".into(),
                "This login was not started in this browser, or it has expired. Please log in again."
                    .into(),
            ),
            Self::ChannelOff(c) => (
                "此登录方式未启用。".into(),
                format!("The {c} login is not configured on this site."),
            ),
            Self::Store(_) | Self::Busy => (
                "服务暂时繁忙，请稍后再试。".into(),
                "The service is busy. Please try again in a moment.".into(),
            ),
            Self::CodeRefused(_) => (
                "登录凭证已失效（可能已使用或已过期），请重新登录。".into(),
                "This login link was already used or has expired. Please log in again.".into(),
            ),
            Self::CodeUsed => (
                "该登录凭证已使用，请重新登录。".into(),
                "This code was already used to log in: get a new code (wx.login or SendAuth) and log in again."
                    .into(),
            ),
            Self::TooMany(crate::limit::Exceeded::InFlight) => (
                "登录请求过多，请稍后再试。".into(),
                "Too many logins at once from this client. Please try again in a moment.".into(),
            ),
            Self::TooMany(crate::limit::Exceeded::Failures) => (
                "无效的登录请求过多，请一分钟后再试。".into(),
                "Too many invalid login codes from this client. Please wait a minute and try again."
                    .into(),
            ),
            Self::Wechat(e) => match e.as_ref() {
                WechatError::Timeout { .. } => (
                    "微信服务器响应超时，请稍后再试。".into(),
                    "WeChat did not answer in time. Please try again.".into(),
                ),
                e => match e.kind() {
                    ErrorKind::LoginAgain => (
                        "登录凭证已失效（可能已使用或已过期），请重新登录。".into(),
                        "This login link was already used or has expired. Please log in again."
                            .into(),
                    ),
                    ErrorKind::Configuration | ErrorKind::Permission => (
                        "本站的微信登录配置有误，请联系网站管理员。".into(),
                        format!(
                            "WeChat refused this site's configuration (errcode {}): {}",
                            e.errcode().unwrap_or_default(),
                            e.hint()
                        ),
                    ),
                    ErrorKind::Quota => (
                        "登录人数过多，请稍后再试。".into(),
                        "Too many logins right now. Please try again in a minute.".into(),
                    ),
                    _ => (
                        "微信服务暂时不可用，请稍后再试。".into(),
                        "WeChat is temporarily unavailable. Please try again.".into(),
                    ),
                },
            },
        }
    }

    fn log(&self) {
        match self {
            Self::Wechat(e)
                if matches!(e.kind(), ErrorKind::Configuration | ErrorKind::Permission) =>
            {
                tracing::error!(error = %e, "WeChat refused the configuration")
            }
            Self::Wechat(e) => tracing::warn!(error = %e, "WeChat call failed"),
            // The store logs its own outages, once per burst.
            Self::Store(e) => tracing::debug!(error = %e, "store unavailable"),
            Self::CodeRefused(errcode) => {
                tracing::info!(errcode, "login refused: WeChat refused this code before")
            }
            other => tracing::info!(error = other.code(), "login refused"),
        }
    }

    /// An HTML page for a person, with a link to try again.
    pub(crate) fn html(&self, retry: Option<&str>) -> Response<Body> {
        self.log();
        let (zh, en) = self.message();
        let link = retry
            .map(|r| {
                format!(
                    r#"<a class="button" href="{}">重新登录 · Log in again</a>"#,
                    respond::escape(r)
                )
            })
            .unwrap_or_default();
        let body = format!(
            "<h1>登录失败</h1><p>{}</p><p class=\"en\">{}</p>{link}",
            respond::escape(&zh),
            respond::escape(&en)
        );
        let mut res = respond::html(
            self.status(),
            respond::page("登录失败 · Login failed", &body),
        );
        self.retry_after(&mut res);
        res
    }

    /// A JSON answer for an app.
    pub(crate) fn json(&self) -> Response<Body> {
        self.log();
        let (_, en) = self.message();
        let mut res = respond::json_error(self.status(), self.code(), &en);
        self.retry_after(&mut res);
        res
    }

    fn retry_after(&self, res: &mut Response<Body>) {
        let secs = match self.status() {
            StatusCode::TOO_MANY_REQUESTS => "60",
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::BAD_GATEWAY => "5",
            _ => return,
        };
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static(secs));
    }
}

/// A tiny view over a query string.
pub(crate) struct Query<'a>(Vec<(std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>);

impl<'a> Query<'a> {
    pub(crate) fn parse(query: Option<&'a str>) -> Self {
        Self(
            query
                .map(|q| form_urlencoded::parse(q.as_bytes()).take(32).collect())
                .unwrap_or_default(),
        )
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    }
}

/// Serves one of the layer's own endpoints; `sub` is the path after the prefix.
pub(crate) async fn dispatch<B>(auth: Arc<Auth>, req: Request<B>, sub: &str) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum_core::BoxError>,
{
    let (parts, body) = req.into_parts();
    let span = tracing::debug_span!("wechat_auth", endpoint = sub, method = %parts.method);
    tracing::Instrument::instrument(route(&auth, &parts, body, sub), span).await
}

async fn route<B>(auth: &Arc<Auth>, req: &Parts, body: B, sub: &str) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum_core::BoxError>,
{
    let read = matches!(req.method, Method::GET | Method::HEAD);
    let post = req.method == Method::POST;
    match sub {
        "/login" if read => oauth::login(auth, req),
        "/callback" if read => oauth::callback(auth, req).await,
        "/me" if read => account::me(auth, req),
        "/logout" if post => account::logout(auth, req).await,
        "/scan" if read => scan::page(auth, req),
        "/scan" if post => scan::start(auth, req).await,
        "/app" if post => match read_body(auth, body, app::MAX_BODY).await {
            Ok(bytes) => app::mobile(auth, auth.client_ip(req), bytes).await,
            Err(res) => res,
        },
        "/miniprogram" if post => match read_body(auth, body, app::MAX_BODY).await {
            Ok(bytes) => miniprogram::mini_program(auth, auth.client_ip(req), bytes).await,
            Err(res) => res,
        },
        "/refresh" if post => app::refresh(auth, req).await,
        "/push" if read => push::verify(auth, req).await,
        "/push" if post => match read_body(auth, body, push::MAX_BODY).await {
            Ok(bytes) => push::receive(auth, req, bytes).await,
            Err(res) => res,
        },
        "/login" | "/callback" | "/me" => method_not_allowed("GET, HEAD"),
        "/logout" | "/app" | "/miniprogram" | "/refresh" => method_not_allowed("POST"),
        "/scan" | "/push" => method_not_allowed("GET, HEAD, POST"),
        _ => match sub.strip_prefix("/scan/") {
            Some(rest) if read => match rest.strip_suffix("/qr.svg") {
                Some(id) => scan::image(auth, req, id).await,
                None => scan::status(auth, req, rest).await,
            },
            Some(_) => method_not_allowed("GET, HEAD"),
            None => respond::json_error(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such WeChat login endpoint",
            ),
        },
    }
}

/// Reads a request body of at most `limit` bytes, within the configured body deadline
/// ([`crate::WechatConfigBuilder::with_body_timeout`], default
/// [`crate::config::DEFAULT_BODY_TIMEOUT`], for the whole body, not per chunk): a larger
/// one is `413`, a slower one `408` with `Connection: close`, so a client that trickles a
/// body (or announces more than it sends) cannot hold a connection and a task for ever.
async fn read_body<B>(auth: &Auth, body: B, limit: usize) -> Result<Bytes, Response<Body>>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum_core::BoxError>,
{
    use http_body_util::BodyExt;
    let read = tokio::time::timeout(
        auth.cfg.body_timeout,
        http_body_util::Limited::new(body, limit).collect(),
    );
    let Ok(collected) = read.await else {
        tracing::info!(
            timeout_ms = u64::try_from(auth.cfg.body_timeout.as_millis()).unwrap_or(u64::MAX),
            "request body too slow; closing the connection"
        );
        let mut res = respond::json_error(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body did not arrive in time",
        );
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Err(res);
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(respond::json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "request body too large",
            ))
        }
        Err(_) => Err(respond::json_error(
            StatusCode::BAD_REQUEST,
            "bad_body",
            "could not read the request body",
        )),
    }
}

/// Whether a state-changing request comes from our own origin (or an allow-listed one), or
/// says nothing about it, as non-browser clients do. Browsers send `Origin` on every
/// cross-site POST.
pub(crate) fn same_origin(auth: &Auth, req: &Parts) -> bool {
    match req.headers.get(header::ORIGIN).map(|o| o.to_str()) {
        None => true,
        Some(Ok(origin)) => {
            origin.eq_ignore_ascii_case(auth.cfg.origin())
                || auth.cfg.allowed_origins.iter().any(|a| a == origin)
        }
        Some(Err(_)) => false,
    }
}

/// The value of the cookie called `name`, if the request carries it exactly once. Two
/// cookies of one name are one planted beside ours (another path or a parent domain): then
/// neither is trusted.
pub(crate) fn cookie_value<'r>(req: &'r Parts, name: &str) -> Option<&'r str> {
    let mut named = req
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| cookie::Cookie::split_parse(v).flatten())
        .filter(|c| c.name() == name);
    let first = named.next()?;
    if named.next().is_some() {
        return None;
    }
    first.value_raw()
}

fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut res = respond::json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed",
    );
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    res
}
