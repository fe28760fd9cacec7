//! [`WechatError`], the [`ErrorKind`] classification and the errcode table behind it.
//!
//! WeChat reports business errors as `{"errcode": N, "errmsg": "..."}` with HTTP 200. The
//! `errmsg` carries a per-call trace suffix (`rid: ...`), so everything here matches on the
//! number only. [`describe`] turns an errcode into a [`ErrorKind`] (what the caller should do)
//! and a hint written for the developer who has to fix the cause.

use std::fmt;

/// What a caller should do about a failed WeChat call.
///
/// ```
/// use wechat_auth_client::{describe, ErrorKind};
///
/// assert_eq!(describe(40163).map(|(kind, _)| kind), Some(ErrorKind::LoginAgain));
/// assert_eq!(describe(-1).map(|(kind, _)| kind), Some(ErrorKind::Retryable));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Temporary: WeChat was busy (`-1`), the network failed, a timeout or an HTTP 5xx.
    /// Trying again later can succeed.
    Retryable,
    /// The code or refresh token is spent, expired or refused: send the user through the
    /// login again. Retrying the same call cannot succeed.
    LoginAgain,
    /// This deployment is misconfigured (AppID, AppSecret, IP whitelist, API permission,
    /// base URL): an operator must fix the console or the settings.
    Configuration,
    /// A call quota is exhausted (daily or per minute): slow down, cache tokens.
    Quota,
    /// An access token (user or global) is invalid or expired: refresh it and call again.
    TokenInvalid,
    /// The account or the user is not allowed to do this (banned API, restricted user).
    Permission,
    /// The request itself was malformed (missing or wrong parameter): a bug in the caller.
    InvalidRequest,
    /// Anything else, including errcodes this crate does not know.
    Other,
}

impl ErrorKind {
    /// A short stable name, handy for metrics labels and logs.
    ///
    /// ```
    /// assert_eq!(wechat_auth_client::ErrorKind::Quota.as_str(), "quota");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retryable => "retryable",
            Self::LoginAgain => "login_again",
            Self::Configuration => "configuration",
            Self::Quota => "quota",
            Self::TokenInvalid => "token_invalid",
            Self::Permission => "permission",
            Self::InvalidRequest => "invalid_request",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every JSON errcode this crate knows: `(errcode, kind, hint)`.
///
/// Covers every code of the protocol notes' error table except `0` (success). The hints say
/// what most likely went wrong and what to change.
const ERRCODES: &[(i64, ErrorKind, &str)] = &[
    (
        -1,
        ErrorKind::Retryable,
        "WeChat is busy (system error): temporary, retried automatically; if it persists, try \
         again later",
    ),
    (
        40001,
        ErrorKind::TokenInvalid,
        "the global access_token is invalid, expired or superseded by a newer fetch: get a fresh \
         one (from cgi-bin/token or stable_token this code instead means the AppSecret is wrong)",
    ),
    (
        40002,
        ErrorKind::InvalidRequest,
        "grant_type is wrong for this endpoint: the request was built incorrectly",
    ),
    (
        40003,
        ErrorKind::InvalidRequest,
        "the openid is malformed or does not belong to this AppID/token: pass the openid that \
         came back with the same token",
    ),
    (
        40013,
        ErrorKind::Configuration,
        "the AppID is invalid: check it for typos, stray spaces and case, and that it is the \
         AppID of the app that issued the code (website, OA, mobile or mini program)",
    ),
    (
        40014,
        ErrorKind::TokenInvalid,
        "the access_token is malformed or unknown: send it exactly as WeChat returned it, or \
         fetch a new one",
    ),
    (
        40029,
        ErrorKind::LoginAgain,
        "the code is invalid, expired, or was issued for another AppID: start the login again, \
         and exchange the code with the credentials of the app that issued it",
    ),
    (
        40030,
        ErrorKind::LoginAgain,
        "the refresh_token is invalid or was replaced: the user must authorize again",
    ),
    (
        40053,
        ErrorKind::InvalidRequest,
        "qrcode/create rejected action_info: check the action_info.scene wrapper and the scene \
         value; for permanent codes the 100,000 quota may be used up",
    ),
    (
        40066,
        ErrorKind::Configuration,
        "invalid url: the request path is not the documented API path — check the configured \
         API base URL (no extra path segment, no trailing junk)",
    ),
    (
        40097,
        ErrorKind::Configuration,
        "invalid arguments (wxa/getwxacodeunlimit: env_version must be release, trial or \
         develop, not empty): fix the configured mini program version",
    ),
    (
        40125,
        ErrorKind::Configuration,
        "the AppSecret is wrong or was reset in the console: copy the current AppSecret of \
         this app",
    ),
    (
        40129,
        ErrorKind::InvalidRequest,
        "invalid scene (wxa/getwxacodeunlimit): only digits, ASCII letters and \
         !#$&'()*+,/:;=?@-._~ are allowed, no % — encode the value differently (plain \
         alphanumerics are safest)",
    ),
    (
        40163,
        ErrorKind::LoginAgain,
        "this code was already exchanged: the callback ran twice (reload, Android double \
         redirect) — exchange each code once and reuse the first result",
    ),
    (
        40164,
        ErrorKind::Configuration,
        "this server's IP is not in the API IP whitelist: add the egress IP shown in errmsg in \
         the console",
    ),
    (
        40165,
        ErrorKind::Configuration,
        "invalid page (wxa/generate_urllink, wxa/generatescheme): the link's path has a \
         leading / or a query string, or is not a page of the published version — fix the \
         configured mini program page (pages/login/confirm) or publish it",
    ),
    (
        40169,
        ErrorKind::InvalidRequest,
        "invalid scene length, or the body is not JSON (wxa/getwxacodeunlimit): the scene must \
         be 1 to 32 characters and the body a JSON string",
    ),
    (
        40212,
        ErrorKind::InvalidRequest,
        "invalid query (wxa/generate_urllink, wxa/generatescheme): the link's query is longer \
         than 1024 characters or has characters WeChat refuses",
    ),
    (
        40226,
        ErrorKind::LoginAgain,
        "WeChat blocked this login as high-risk (code blocked): this user cannot log in with \
         this code; show a friendly message",
    ),
    (
        40243,
        ErrorKind::Configuration,
        "the AppSecret is frozen: unfreeze or reset it in the console",
    ),
    (
        41001,
        ErrorKind::InvalidRequest,
        "access_token parameter missing: pass a non-empty token",
    ),
    (
        41002,
        ErrorKind::InvalidRequest,
        "appid parameter missing: is the AppID configured?",
    ),
    (
        41003,
        ErrorKind::InvalidRequest,
        "refresh_token parameter missing: pass the stored refresh_token",
    ),
    (
        41004,
        ErrorKind::Configuration,
        "secret parameter missing: is the AppSecret configured (non-empty)?",
    ),
    (
        41008,
        ErrorKind::InvalidRequest,
        "code parameter missing: the callback must forward the code WeChat sent",
    ),
    (
        41009,
        ErrorKind::InvalidRequest,
        "openid parameter missing: pass the openid returned with the token",
    ),
    (
        41030,
        ErrorKind::Configuration,
        "invalid page (wxa/getwxacodeunlimit): the page is not in the published version, or has \
         a leading / or a query string; while developing use check_path false and env_version \
         develop or trial",
    ),
    (
        42001,
        ErrorKind::TokenInvalid,
        "the access_token expired: refresh it (user token: oauth2_refresh_token; global token: \
         fetch a new one) and call again",
    ),
    (
        42002,
        ErrorKind::LoginAgain,
        "the refresh_token expired (it lasts about 30 days and cannot be extended): the user \
         must authorize again",
    ),
    (
        42003,
        ErrorKind::LoginAgain,
        "the code expired before it was exchanged (5 minutes for OA and mini program, 10 for \
         website login): start the login again and exchange codes promptly",
    ),
    (
        42007,
        ErrorKind::LoginAgain,
        "the user changed their WeChat password, which revoked their tokens: authorize again",
    ),
    (
        43001,
        ErrorKind::InvalidRequest,
        "this API requires GET: the request used the wrong method",
    ),
    (
        43002,
        ErrorKind::InvalidRequest,
        "this API requires POST: the request used the wrong method",
    ),
    (
        43003,
        ErrorKind::Configuration,
        "this API requires HTTPS: the configured API base URL uses plain http",
    ),
    (
        44002,
        ErrorKind::InvalidRequest,
        "empty post data: this API needs a JSON body (stable_token, qrcode/create, \
         getuserphonenumber); the request was sent without one",
    ),
    (
        44990,
        ErrorKind::Quota,
        "frequency limit of mini program links (wxa/generate_urllink, wxa/generatescheme): \
         too many links a second — slow down and try again in a moment",
    ),
    (
        45009,
        ErrorKind::Quota,
        "the daily quota of this API is used up: cache the global token instead of fetching it \
         per request; an admin can reset quotas with clear_quota (10 times a month) \
         (wxa/getwxacodeunlimit: 5000 codes a minute — slow down or pre-generate codes)",
    ),
    (
        45011,
        ErrorKind::Quota,
        "per-minute frequency limit reached (jscode2session: 100 per user per minute): slow \
         down and try again next minute",
    ),
    (
        45063,
        ErrorKind::Permission,
        "no permission to generate this mini program code (wxa/getwxacodeunlimit): check the \
         mini program's status and the API permissions granted to it",
    ),
    (
        47001,
        ErrorKind::InvalidRequest,
        "data format error: the POST body must be JSON (not a form), with access_token in the \
         query string and not in the JSON",
    ),
    (
        48001,
        ErrorKind::Configuration,
        "this app lacks permission for this API: sns/userinfo needs a snsapi_userinfo (or \
         snsapi_login) token, not snsapi_base; qrcode/create needs a verified service account",
    ),
    (
        48004,
        ErrorKind::Permission,
        "WeChat banned this API for this account over rule violations: see the notice in the \
         console",
    ),
    (
        50001,
        ErrorKind::Permission,
        "the user has not authorized this API",
    ),
    (
        50002,
        ErrorKind::Permission,
        "the user's WeChat account is restricted, frozen or cancelled",
    ),
    (
        61004,
        ErrorKind::Configuration,
        "this server's IP is not registered in the API IP whitelist: add the egress IP in the \
         console",
    ),
    (
        61024,
        ErrorKind::Configuration,
        "this AppID is a third-party platform (component) account, which cannot use \
         cgi-bin/token: fetch its token through cgi-bin/component/api_component_token, or \
         configure the AppID of the Official Account or mini program itself",
    ),
    (
        85079,
        ErrorKind::Configuration,
        "the mini program has no published version (wxa/generate_urllink, \
         wxa/generatescheme, 85079): links open only a released mini program — publish it \
         (a first release passes WeChat's review)",
    ),
    (
        87009,
        ErrorKind::LoginAgain,
        "invalid signature (wxa/checksession): the session_key is stale — a later wx.login \
         replaced it — so the mini program must call wx.login again and send a fresh code",
    ),
    (
        89501,
        ErrorKind::Configuration,
        "WeChat is still waiting for an admin to confirm this server's risky IP (a request is \
         already pending): ask the admin to approve it in WeChat, or add the IP to the API IP \
         whitelist; retrying will not help until then",
    ),
    (
        89503,
        ErrorKind::Configuration,
        "WeChat flagged this server's IP as risky and sent the admin a confirmation message: \
         the admin must approve it (then the same call succeeds), or add the IP to the API IP \
         whitelist",
    ),
    (
        89506,
        ErrorKind::Configuration,
        "the admin refused this server's IP more than once: it is blocked for 24 hours — talk \
         to the admin, then add the IP to the API IP whitelist",
    ),
    (
        89507,
        ErrorKind::Configuration,
        "the admin refused this server's IP: it is blocked for 1 hour — ask the admin to \
         approve it next time, or add the IP to the API IP whitelist",
    ),
];

/// The hint for an errcode missing from the table.
const UNKNOWN_ERRCODE_HINT: &str = "WeChat returned an errcode this crate does not know: look it up in WeChat's global \
     error code table";

/// The hint for 40001 from a token endpoint, where it means a wrong AppSecret.
const TOKEN_40001_HINT: &str = "the AppSecret is wrong (40001 from a token endpoint): copy the \
     current AppSecret of this app, and check it belongs to the same AppID";

/// The kind of failure and a developer-facing hint for a WeChat JSON errcode.
///
/// Returns `None` for `0` (success) and for errcodes this crate does not know.
///
/// ```
/// use wechat_auth_client::{describe, ErrorKind};
///
/// let (kind, hint) = describe(40125).unwrap();
/// assert_eq!(kind, ErrorKind::Configuration);
/// assert!(hint.contains("AppSecret"));
/// assert!(describe(0).is_none());
/// assert!(describe(99_999_999).is_none());
/// ```
pub fn describe(errcode: i64) -> Option<(ErrorKind, &'static str)> {
    ERRCODES
        .iter()
        .find(|(code, _, _)| *code == errcode)
        .map(|(_, kind, hint)| (*kind, *hint))
}

/// Every errcode [`describe`] knows, in ascending order.
///
/// ```
/// let codes = wechat_auth_client::known_errcodes();
/// assert!(codes.contains(&40163));
/// ```
pub fn known_errcodes() -> Vec<i64> {
    ERRCODES.iter().map(|(code, _, _)| *code).collect()
}

/// A hint for an error number shown on WeChat's authorize / qrconnect HTML error page.
///
/// Those pages are seen by the user in the browser, not returned to the server; these hints
/// help whoever gets the screenshot.
///
/// ```
/// let hint = wechat_auth_client::describe_authorize_page(10003).unwrap();
/// assert!(hint.contains("redirect_uri"));
/// ```
pub fn describe_authorize_page(code: u32) -> Option<&'static str> {
    let hint = match code {
        10003 => {
            "redirect_uri's host is not the web-authorization domain configured for this \
             Official Account (exact host, no scheme, no path)"
        }
        10004 => "this Official Account is banned",
        10005 => {
            "this Official Account has no permission for the requested scope (only verified \
             service accounts have snsapi_base/snsapi_userinfo)"
        }
        10006 => "the user must follow this sandbox test account first",
        10009 => "too many authorization requests: try again later",
        10010 => "the scope parameter is empty",
        10011 => "the redirect_uri parameter is empty",
        10012 => "the appid parameter is empty",
        10013 => "the state parameter is empty",
        10015 => "the Official Account has not authorized this third-party platform",
        10016 => {
            "an Open Platform (website/mobile) AppID was used for Official Account \
             authorization: use the Official Account's AppID"
        }
        _ => return None,
    };
    Some(hint)
}

/// Every way a WeChat call can fail.
///
/// Secrets never appear in `Display` or `Debug`: WeChat's `errmsg` is kept verbatim (it never
/// echoes secrets), transport errors have their URL (whose query holds `secret=` or
/// `access_token=`) stripped, and decoding errors never quote the body.
///
/// ```
/// use wechat_auth_client::{ErrorKind, WechatError};
///
/// let err = WechatError::Api {
///     endpoint: "sns/oauth2/access_token",
///     errcode: 40163,
///     errmsg: "code been used, rid: 6512a0f1-1b2c3d4e-5f607182".into(),
/// };
/// assert_eq!(err.errcode(), Some(40163));
/// assert_eq!(err.kind(), ErrorKind::LoginAgain);
/// assert!(!err.is_retryable());
/// assert!(err.to_string().starts_with("this code was already exchanged"));
/// ```
///
/// `Debug` prints the same message, then the variant (and for a transport failure the
/// causes, e.g. `Connection refused`), because that is what Rust prints when `main` returns
/// the error through `?`:
///
/// ```
/// # use wechat_auth_client::WechatError;
/// let err = WechatError::Http { endpoint: "cgi-bin/token", status: 502 };
/// assert_eq!(format!("{err:?}"), "WeChat cgi-bin/token answered HTTP 502 (WechatError::Http)");
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum WechatError {
    /// WeChat answered with a non-zero `errcode`.
    #[error("{hint} [WeChat {endpoint} errcode {errcode}: {errmsg}]", hint = api_hint(.endpoint, *.errcode))]
    Api {
        /// The API path, e.g. `sns/oauth2/access_token`.
        endpoint: &'static str,
        /// WeChat's error number (may be negative: `-1` = busy).
        errcode: i64,
        /// WeChat's message, including its `rid:` trace suffix. Never match on it.
        errmsg: String,
    },
    /// WeChat did not answer within the configured timeout.
    #[error("WeChat {endpoint} did not answer in time")]
    Timeout {
        /// The API path.
        endpoint: &'static str,
    },
    /// The request could not be sent or the answer could not be read (DNS, connect, TLS,
    /// reset). The inner error has no URL attached.
    #[error("could not reach WeChat {endpoint}: {}", transport_summary(.source))]
    Transport {
        /// The API path.
        endpoint: &'static str,
        /// The underlying error, URL stripped.
        #[source]
        source: reqwest::Error,
    },
    /// WeChat (or a proxy in front of it) answered with a non-2xx HTTP status.
    #[error("WeChat {endpoint} answered HTTP {status}")]
    Http {
        /// The API path.
        endpoint: &'static str,
        /// The HTTP status code.
        status: u16,
    },
    /// The answer was not the JSON this endpoint returns. `detail` never quotes the body.
    #[error("WeChat {endpoint} sent an unreadable answer: {detail}")]
    Decode {
        /// The API path.
        endpoint: &'static str,
        /// What was wrong (body length, JSON position, missing field), never body content.
        detail: String,
    },
    /// The request was refused by this crate before sending (an empty parameter, a QR scene
    /// out of range).
    #[error("invalid WeChat request: {0}")]
    InvalidRequest(String),
    /// The client was configured with impossible settings (a base URL that is not an
    /// absolute http(s) URL).
    #[error("invalid WeChat client configuration: {0}")]
    InvalidConfig(String),
}

/// The mini program link endpoints, where some errcodes mean something of their own.
fn is_link_endpoint(endpoint: &str) -> bool {
    matches!(endpoint, "wxa/generate_urllink" | "wxa/generatescheme")
}

/// What an errcode means from a mini program link endpoint, where it differs from the table.
fn link_errcode(endpoint: &str, errcode: i64) -> Option<(ErrorKind, &'static str)> {
    if !is_link_endpoint(endpoint) {
        return None;
    }
    match errcode {
        40002 => Some((ErrorKind::Permission, LINK_40002_HINT)),
        45009 => Some((ErrorKind::Quota, LINK_45009_HINT)),
        _ => None,
    }
}

/// 40002 from `wxa/generate_urllink` / `wxa/generatescheme`.
const LINK_40002_HINT: &str = "no permission to make mini program links (40002): an individual \
     (personal) mini program cannot make URL Links or URL Schemes — only a mini program of a \
     company or organisation can";

/// 45009 from `wxa/generate_urllink` / `wxa/generatescheme`.
const LINK_45009_HINT: &str = "the daily limit of mini program links is reached (45009; about \
     500,000 a day): no more links until WeChat's next day (Beijing time)";

/// The endpoints whose 40001 means "wrong AppSecret" rather than "stale token".
fn is_token_endpoint(endpoint: &str) -> bool {
    matches!(endpoint, "cgi-bin/token" | "cgi-bin/stable_token")
}

fn api_hint(endpoint: &str, errcode: i64) -> &'static str {
    if errcode == 40001 && is_token_endpoint(endpoint) {
        return TOKEN_40001_HINT;
    }
    if let Some((_, hint)) = link_errcode(endpoint, errcode) {
        return hint;
    }
    describe(errcode).map_or(UNKNOWN_ERRCODE_HINT, |(_, hint)| hint)
}

fn transport_summary(err: &reqwest::Error) -> &'static str {
    if err.is_connect() {
        "connection failed"
    } else if err.is_builder() {
        "the request could not be built"
    } else if err.is_body() || err.is_decode() {
        "the response body could not be read"
    } else {
        "the request failed"
    }
}

/// The message a person can act on, then the variant: what `main` returning this error
/// prints. A transport failure adds its causes (connect, TLS, I/O), which `Display` leaves
/// out; the URL was stripped from them before they got here.
impl fmt::Debug for WechatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let variant = match self {
            Self::Api { .. } => "Api",
            Self::Timeout { .. } => "Timeout",
            Self::Transport { .. } => "Transport",
            Self::Http { .. } => "Http",
            Self::Decode { .. } => "Decode",
            Self::InvalidRequest(_) => "InvalidRequest",
            Self::InvalidConfig(_) => "InvalidConfig",
        };
        write!(f, "{self} (WechatError::{variant})")?;
        if let Self::Transport { source, .. } = self {
            f.write_str(", caused by")?;
            let mut cause: Option<&dyn std::error::Error> = Some(source);
            while let Some(e) = cause {
                write!(f, ": {e}")?;
                cause = e.source();
            }
        }
        Ok(())
    }
}

impl WechatError {
    /// WeChat's errcode, for [`WechatError::Api`] only.
    ///
    /// ```
    /// use wechat_auth_client::WechatError;
    ///
    /// let err = WechatError::Http { endpoint: "sns/userinfo", status: 502 };
    /// assert_eq!(err.errcode(), None);
    /// ```
    pub fn errcode(&self) -> Option<i64> {
        match self {
            Self::Api { errcode, .. } => Some(*errcode),
            _ => None,
        }
    }

    /// The API path the error came from, when it came from a call.
    ///
    /// ```
    /// use wechat_auth_client::WechatError;
    ///
    /// let err = WechatError::Timeout { endpoint: "cgi-bin/token" };
    /// assert_eq!(err.endpoint(), Some("cgi-bin/token"));
    /// ```
    pub fn endpoint(&self) -> Option<&'static str> {
        match self {
            Self::Api { endpoint, .. }
            | Self::Timeout { endpoint }
            | Self::Transport { endpoint, .. }
            | Self::Http { endpoint, .. }
            | Self::Decode { endpoint, .. } => Some(endpoint),
            Self::InvalidRequest(_) | Self::InvalidConfig(_) => None,
        }
    }

    /// What the caller should do about this error.
    ///
    /// Timeouts, transport failures and HTTP 5xx are [`ErrorKind::Retryable`]; errcodes follow
    /// [`describe`] (unknown ones are [`ErrorKind::Other`]); 40001 from `cgi-bin/token` or
    /// `cgi-bin/stable_token` is [`ErrorKind::Configuration`] (a wrong AppSecret).
    ///
    /// ```
    /// use wechat_auth_client::{ErrorKind, WechatError};
    ///
    /// let err = WechatError::Api { endpoint: "cgi-bin/token", errcode: 40001, errmsg: String::new() };
    /// assert_eq!(err.kind(), ErrorKind::Configuration);
    /// let err = WechatError::Api { endpoint: "cgi-bin/qrcode/create", errcode: 40001, errmsg: String::new() };
    /// assert_eq!(err.kind(), ErrorKind::TokenInvalid);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Api {
                endpoint, errcode, ..
            } => {
                if *errcode == 40001 && is_token_endpoint(endpoint) {
                    ErrorKind::Configuration
                } else if let Some((kind, _)) = link_errcode(endpoint, *errcode) {
                    kind
                } else {
                    describe(*errcode).map_or(ErrorKind::Other, |(kind, _)| kind)
                }
            }
            Self::Timeout { .. } => ErrorKind::Retryable,
            Self::Transport { source, .. } => {
                if source.is_builder() {
                    ErrorKind::InvalidRequest
                } else {
                    ErrorKind::Retryable
                }
            }
            Self::Http { status, .. } => {
                if (500..600).contains(status) {
                    ErrorKind::Retryable
                } else {
                    ErrorKind::Other
                }
            }
            Self::Decode { .. } => ErrorKind::Other,
            Self::InvalidRequest(_) => ErrorKind::InvalidRequest,
            Self::InvalidConfig(_) => ErrorKind::Configuration,
        }
    }

    /// A developer-facing explanation of the likely cause and the fix.
    ///
    /// ```
    /// use wechat_auth_client::WechatError;
    ///
    /// let err = WechatError::Api { endpoint: "cgi-bin/token", errcode: 40164, errmsg: String::new() };
    /// assert!(err.hint().contains("whitelist"));
    /// ```
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Api {
                endpoint, errcode, ..
            } => api_hint(endpoint, *errcode),
            Self::Timeout { .. } => {
                "WeChat did not answer within the client timeout: retry later; a timed-out code \
                 exchange may already have used the code, so restart that login"
            }
            Self::Transport { source, .. } if source.is_builder() => {
                "the request could not be built: check the configured base URL"
            }
            Self::Transport { .. } => {
                "could not reach WeChat: check DNS, the outbound firewall or proxy, TLS roots and \
                 the configured base URL"
            }
            Self::Http { status, .. } if (500..600).contains(status) => {
                "WeChat or a proxy in front of it failed (HTTP 5xx): retry later"
            }
            Self::Http { .. } => {
                "unexpected HTTP status: WeChat reports errors with HTTP 200, so check that the \
                 base URL points at WeChat (or the mock) and not at a proxy or another service"
            }
            Self::Decode { .. } => {
                "the answer was not the JSON this endpoint returns: check the base URL points at \
                 WeChat (or the mock)"
            }
            Self::InvalidRequest(_) => "the request was refused before sending: fix the argument",
            Self::InvalidConfig(_) => "fix the client settings",
        }
    }

    /// Whether trying the same call again can succeed: `-1`, timeouts, transport failures and
    /// HTTP 5xx.
    ///
    /// The client already retries these (see [`WechatClientBuilder::with_max_retries`]), except
    /// for the ambiguous failures of calls that consume something (a timed-out code exchange).
    ///
    /// [`WechatClientBuilder::with_max_retries`]: crate::WechatClientBuilder::with_max_retries
    ///
    /// ```
    /// use wechat_auth_client::WechatError;
    ///
    /// assert!(WechatError::Http { endpoint: "sns/userinfo", status: 503 }.is_retryable());
    /// assert!(!WechatError::Http { endpoint: "sns/userinfo", status: 404 }.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        self.kind() == ErrorKind::Retryable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_carries_the_message_then_the_variant() {
        for (err, variant) in [
            (
                WechatError::Api {
                    endpoint: "cgi-bin/token",
                    errcode: 40164,
                    errmsg: "invalid ip 1.2.3.4, rid: x".into(),
                },
                "Api",
            ),
            (
                WechatError::Timeout {
                    endpoint: "sns/oauth2/access_token",
                },
                "Timeout",
            ),
            (
                WechatError::Http {
                    endpoint: "sns/userinfo",
                    status: 502,
                },
                "Http",
            ),
            (
                WechatError::Decode {
                    endpoint: "sns/userinfo",
                    detail: "expected value at line 1 column 1".into(),
                },
                "Decode",
            ),
            (
                WechatError::InvalidRequest("empty code".into()),
                "InvalidRequest",
            ),
            (
                WechatError::InvalidConfig("base URL".into()),
                "InvalidConfig",
            ),
        ] {
            let debug = format!("{err:?}");
            assert_eq!(debug, format!("{err} (WechatError::{variant})"));
            assert_eq!(format!("{err:#?}"), debug);
        }
        let boxed: Box<dyn std::error::Error> = Box::new(WechatError::Api {
            endpoint: "cgi-bin/token",
            errcode: 40164,
            errmsg: String::new(),
        });
        assert!(format!("{boxed:?}").contains("whitelist"), "{boxed:?}");
    }

    #[tokio::test]
    async fn transport_debug_names_the_cause_but_never_the_url() {
        // Nothing listens on port 1: refused at once. The query holds a secret, as WeChat's do.
        let err = reqwest::Client::new()
            .get("http://127.0.0.1:1/cgi-bin/token?appid=wx1&secret=S3CRET-VALUE")
            .send()
            .await
            .unwrap_err()
            .without_url();
        let err = WechatError::Transport {
            endpoint: "cgi-bin/token",
            source: err,
        };
        let debug = format!("{err:?}");
        assert!(
            debug.starts_with(&format!("{err} (WechatError::Transport), caused by: ")),
            "{debug}"
        );
        assert!(debug.to_lowercase().contains("refused"), "{debug}");
        assert!(
            !debug.contains("S3CRET") && !debug.contains("127.0.0.1:1"),
            "{debug}"
        );
    }

    /// Every errcode listed in the protocol notes' error table (§4), except 0 (success).
    const PROTOCOL_ERRCODES: &[i64] = &[
        -1, 40001, 40002, 40003, 40013, 40014, 40029, 40030, 40125, 40163, 40164, 40226, 40243,
        41001, 41002, 41003, 41004, 41008, 41009, 42001, 42002, 42003, 42007, 43001, 43002, 43003,
        45009, 45011, 48001, 48004, 50001, 50002, 61004, 89503, 40053,
        // §17–§19.2: phone number, checksession, getwxacodeunlimit.
        87009, 41030, 40169, 40129, 45063, 40097, 47001,
        // §19.1: token endpoints and gateway codes.
        89501, 89506, 89507, 61024, 44002, 40066, // §26: mini program links.
        40165, 40212, 44990, 85079,
    ];

    #[test]
    fn every_protocol_errcode_has_a_kind_and_a_hint() {
        for &code in PROTOCOL_ERRCODES {
            let (kind, hint) = describe(code).unwrap_or_else(|| panic!("{code} missing"));
            assert!(hint.len() > 20, "{code}: hint too short");
            assert_ne!(kind, ErrorKind::Other, "{code} left unclassified");
        }
    }

    #[test]
    fn table_has_no_duplicates_and_no_success_code() {
        let mut codes = known_errcodes();
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n);
        assert!(describe(0).is_none());
    }

    #[test]
    fn classification_follows_the_protocol_notes() {
        let expect = |codes: &[i64], kind: ErrorKind| {
            for &c in codes {
                assert_eq!(describe(c).map(|d| d.0), Some(kind), "{c}");
            }
        };
        expect(&[-1], ErrorKind::Retryable);
        expect(&[45009, 45011], ErrorKind::Quota);
        expect(
            &[40029, 40163, 42003, 40226, 42002, 40030, 42007],
            ErrorKind::LoginAgain,
        );
        expect(
            &[40125, 40013, 40164, 40243, 48001, 61004, 89503],
            ErrorKind::Configuration,
        );
        expect(&[40001, 40014, 42001], ErrorKind::TokenInvalid);
        expect(&[87009], ErrorKind::LoginAgain);
        expect(&[41030, 40097], ErrorKind::Configuration);
        expect(&[40169, 40129, 47001], ErrorKind::InvalidRequest);
        // §19.1: risky-IP confirmation, component accounts, wrong path: operators fix them.
        expect(
            &[89501, 89503, 89506, 89507, 61024, 40066],
            ErrorKind::Configuration,
        );
        expect(&[44002], ErrorKind::InvalidRequest);
        expect(&[45063], ErrorKind::Permission);
    }

    #[test]
    fn mini_program_link_errcodes_name_the_likely_cause() {
        let api = |endpoint, errcode| WechatError::Api {
            endpoint,
            errcode,
            errmsg: "x".into(),
        };
        for endpoint in ["wxa/generate_urllink", "wxa/generatescheme"] {
            let e = api(endpoint, 40002);
            assert_eq!(e.kind(), ErrorKind::Permission);
            assert!(e.hint().contains("individual"), "{e}");
            assert!(
                e.to_string()
                    .starts_with("no permission to make mini program links")
            );
            assert!(api(endpoint, 85079).hint().contains("published"));
            assert_eq!(api(endpoint, 44990).kind(), ErrorKind::Quota);
            assert_eq!(api(endpoint, 45009).kind(), ErrorKind::Quota);
            assert!(api(endpoint, 45009).hint().contains("links"));
            assert_eq!(api(endpoint, 40165).kind(), ErrorKind::Configuration);
            assert_eq!(api(endpoint, 40212).kind(), ErrorKind::InvalidRequest);
        }
        // Elsewhere 40002 keeps its meaning.
        let e = api("sns/oauth2/access_token", 40002);
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
        assert!(e.hint().contains("grant_type"));
    }

    #[test]
    fn table_is_in_ascending_order() {
        let codes = known_errcodes();
        assert!(codes.windows(2).all(|w| w[0] < w[1]), "{codes:?}");
    }

    #[test]
    fn specific_hints_name_the_cause() {
        assert!(describe(40163).unwrap().1.contains("already exchanged"));
        assert!(describe(40125).unwrap().1.contains("AppSecret"));
        assert!(describe(40164).unwrap().1.contains("whitelist"));
        assert!(describe(61004).unwrap().1.contains("whitelist"));
        assert!(describe(48001).unwrap().1.contains("snsapi_base"));
        assert!(describe(89501).unwrap().1.contains("pending"));
        assert!(describe(89506).unwrap().1.contains("24 hours"));
        assert!(describe(89507).unwrap().1.contains("1 hour"));
        assert!(describe(61024).unwrap().1.contains("api_component_token"));
    }

    #[test]
    fn only_transient_failures_are_retryable() {
        let api = |errcode| WechatError::Api {
            endpoint: "sns/userinfo",
            errcode,
            errmsg: "x".into(),
        };
        assert!(api(-1).is_retryable());
        for code in known_errcodes().into_iter().filter(|c| *c != -1) {
            assert!(!api(code).is_retryable(), "{code}");
        }
        assert!(!api(12345).is_retryable());
        assert_eq!(api(12345).kind(), ErrorKind::Other);
        assert_eq!(api(12345).hint(), UNKNOWN_ERRCODE_HINT);
        assert!(WechatError::Timeout { endpoint: "x" }.is_retryable());
        for status in [500, 502, 503, 599] {
            assert!(
                WechatError::Http {
                    endpoint: "x",
                    status
                }
                .is_retryable()
            );
        }
        for status in [301, 400, 404, 429] {
            assert!(
                !WechatError::Http {
                    endpoint: "x",
                    status
                }
                .is_retryable()
            );
        }
        let decode = WechatError::Decode {
            endpoint: "x",
            detail: "d".into(),
        };
        assert!(!decode.is_retryable());
        assert!(!WechatError::InvalidRequest("r".into()).is_retryable());
        assert!(!WechatError::InvalidConfig("c".into()).is_retryable());
    }

    #[test]
    fn api_display_leads_with_the_hint_and_keeps_errmsg() {
        let err = WechatError::Api {
            endpoint: "sns/jscode2session",
            errcode: 45011,
            errmsg: "api minute-quota reach limit, rid: 658c03c7-029c8f19-07211e07".into(),
        };
        let text = err.to_string();
        assert!(text.starts_with("per-minute frequency limit"), "{text}");
        assert!(text.contains("errcode 45011"));
        assert!(text.contains("rid: 658c03c7-029c8f19-07211e07"));
        assert!(text.contains("sns/jscode2session"));
    }

    #[test]
    fn errcode_40001_depends_on_the_endpoint() {
        let err = |endpoint| WechatError::Api {
            endpoint,
            errcode: 40001,
            errmsg: String::new(),
        };
        assert_eq!(err("cgi-bin/stable_token").kind(), ErrorKind::Configuration);
        assert!(err("cgi-bin/stable_token").hint().contains("AppSecret"));
        assert_eq!(err("cgi-bin/user/info").kind(), ErrorKind::TokenInvalid);
    }

    #[test]
    fn authorize_page_codes_have_hints() {
        for code in [
            10003, 10004, 10005, 10006, 10009, 10010, 10011, 10012, 10013, 10015, 10016,
        ] {
            assert!(describe_authorize_page(code).is_some_and(|h| !h.is_empty()));
        }
        assert!(describe_authorize_page(10007).is_none());
    }

    #[test]
    fn endpoint_and_errcode_accessors() {
        let err = WechatError::Decode {
            endpoint: "cgi-bin/token",
            detail: "d".into(),
        };
        assert_eq!(err.endpoint(), Some("cgi-bin/token"));
        assert_eq!(err.errcode(), None);
        assert_eq!(WechatError::InvalidRequest("x".into()).endpoint(), None);
        assert_eq!(ErrorKind::LoginAgain.to_string(), "login_again");
    }
}
