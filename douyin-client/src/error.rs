//! [`DouyinError`] and the error table behind its [`ErrorKind`] and [`hint`](DouyinError::hint).
//!
//! Douyin answers errors with HTTP 200: the open platform (`open.douyin.com`) puts
//! `error_code` (a number, or a string in older answers) and `description` inside `data`, often
//! with `extra: {logid, now}`; the mini-app host (`developer.toutiao.com`) answers `err_no` and
//! `err_tips` (older GET answers: `errcode`, `errmsg`). Everything here matches on the number.

use std::fmt;

pub use wechat_auth_client::ErrorKind;

/// Every Douyin error number this crate knows: `(code, kind, hint)` (protocol §29).
const CODES: &[(i64, ErrorKind, &str)] = &[
    (
        -1,
        ErrorKind::Retryable,
        "Douyin is busy (system error): temporary, retried automatically",
    ),
    (
        10002,
        ErrorKind::InvalidRequest,
        "a parameter is wrong (10002): the request was built incorrectly",
    ),
    (
        10004,
        ErrorKind::Permission,
        "no permission (10004): the app has not been granted this capability in the Douyin \
         Open Platform console (管理中心 → 能力管理), or the refresh token cannot be renewed",
    ),
    (
        10005,
        ErrorKind::InvalidRequest,
        "a required parameter is missing (10005): the request was built incorrectly",
    ),
    (
        10007,
        ErrorKind::LoginAgain,
        "the authorization code is expired, already used or belongs to another client_key \
         (10007): start the login again, and exchange the code with the client key that issued \
         it",
    ),
    (
        10008,
        ErrorKind::TokenInvalid,
        "the user's access_token is expired (10008; it lives 15 days): refresh it with the \
         refresh_token",
    ),
    (
        10010,
        ErrorKind::LoginAgain,
        "the refresh_token is expired (10010; it lives 30 days unless renewed): the user must \
         log in again",
    ),
    (
        10020,
        ErrorKind::LoginAgain,
        "the refresh_token was already renewed the maximum five times (10020): the user must \
         log in again to get a new one",
    ),
    (
        2_100_004,
        ErrorKind::Retryable,
        "Douyin is busy (2100004): temporary, retry later",
    ),
    (
        2_100_005,
        ErrorKind::InvalidRequest,
        "a parameter is wrong (2100005): check client_key, open_id and the token sent together",
    ),
    (
        2_100_007,
        ErrorKind::Permission,
        "no permission (2100007): the scope was not granted to this app or by this user",
    ),
    (
        2_190_001,
        ErrorKind::Quota,
        "the call quota of this app is exhausted (2190001): slow down or ask for a larger quota",
    ),
    (
        2_190_008,
        ErrorKind::TokenInvalid,
        "the access_token is expired (2190008): refresh it with the refresh_token",
    ),
    (
        28_001_005,
        ErrorKind::Retryable,
        "Douyin is busy (28001005): temporary, retry later",
    ),
    (
        28_001_007,
        ErrorKind::InvalidRequest,
        "a parameter is wrong (28001007): check the client key, the code or token and open_id",
    ),
    (
        28_001_008,
        ErrorKind::TokenInvalid,
        "the access_token is expired (28001008): refresh it with the refresh_token",
    ),
    (
        28_001_012,
        ErrorKind::Permission,
        "the user did not grant this scope (28001012): ask for it (scope=user_info) at login, \
         and enable the capability in the console",
    ),
    (
        28_001_015,
        ErrorKind::TokenInvalid,
        "the access_token and open_id do not belong together (28001015): send the open_id that \
         came back with the same token",
    ),
    (
        28_001_016,
        ErrorKind::Configuration,
        "the app is banned or offline on the Douyin Open Platform (28001016): check the app's \
         status in the console",
    ),
    (
        28_003_018,
        ErrorKind::Quota,
        "rate limited (28003018): too many calls in a short time; slow down and cache tokens",
    ),
    (
        40015,
        ErrorKind::Configuration,
        "the mini-app appid is wrong (40015): check WECHAT_DOUYIN_MINIAPP_ID (the tt… appid of \
         the mini-app, not the open platform client key)",
    ),
    (
        40017,
        ErrorKind::Configuration,
        "the mini-app secret is wrong (40017): check WECHAT_DOUYIN_MINIAPP_SECRET",
    ),
    (
        40018,
        ErrorKind::LoginAgain,
        "the tt.login code is invalid, expired or already used (40018): call tt.login() again",
    ),
    (
        40019,
        ErrorKind::LoginAgain,
        "the anonymous code is invalid or expired (40019): call tt.login() again",
    ),
];

/// 10020 from `oauth/client_token/`: too many token fetches, not a renewal limit.
const CLIENT_TOKEN_10020_HINT: &str = "client_token was fetched too often (10020; more than 500 \
     times in 5 minutes): fetch it once and share it until it expires";

const UNKNOWN_HINT: &str = "an error number this crate does not know: see Douyin's status code \
     list (developer.open-douyin.com … /openapi/status-code) and the description";

/// What a Douyin error number means: its kind and a hint naming the likely cause.
///
/// ```
/// use wechat_auth_douyin_client::{describe, ErrorKind};
///
/// assert_eq!(describe(10010).map(|(k, _)| k), Some(ErrorKind::LoginAgain));
/// assert_eq!(describe(28001008).map(|(k, _)| k), Some(ErrorKind::TokenInvalid));
/// assert!(describe(0).is_none());
/// ```
pub fn describe(code: i64) -> Option<(ErrorKind, &'static str)> {
    CODES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, kind, hint)| (*kind, *hint))
}

/// Every error number [`describe`] knows.
///
/// ```
/// assert!(wechat_auth_douyin_client::known_codes().contains(&2190008));
/// ```
pub fn known_codes() -> Vec<i64> {
    CODES.iter().map(|(c, _, _)| *c).collect()
}

fn is_client_token(endpoint: &str) -> bool {
    endpoint == crate::CLIENT_TOKEN_PATH
}

/// 2100005 from `oauth/access_token/`: the parameters are the site's constants but the code,
/// so the code is what is wrong (Douyin does not document the number of a used code).
const ACCESS_TOKEN_2100005_HINT: &str = "the authorization code was refused (2100005: a used, \
     expired or unknown code, or one of another client key): start the login again; if every \
     login fails so, check the client key and secret";

fn classify(endpoint: &str, code: i64) -> (ErrorKind, &'static str) {
    if code == 10020 && is_client_token(endpoint) {
        return (ErrorKind::Quota, CLIENT_TOKEN_10020_HINT);
    }
    if code == 2_100_005 && endpoint == "oauth/access_token/" {
        return (ErrorKind::LoginAgain, ACCESS_TOKEN_2100005_HINT);
    }
    describe(code).unwrap_or((ErrorKind::Other, UNKNOWN_HINT))
}

/// A failed Douyin call.
///
/// `Display` says what to do and the likely cause, then Douyin's number and description;
/// no URL, token or secret is ever part of it.
///
/// ```
/// use wechat_auth_douyin_client::{DouyinError, ErrorKind};
///
/// let err = DouyinError::Api {
///     endpoint: "oauth/renew_refresh_token/",
///     code: 10020,
///     description: "renew limit".into(),
///     logid: None,
/// };
/// assert_eq!(err.kind(), ErrorKind::LoginAgain);
/// assert!(err.is_renew_limit());
/// assert!(err.to_string().contains("five times"));
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum DouyinError {
    /// Douyin answered a non-zero error number.
    #[error("{hint} [Douyin {endpoint} error {code}: {description}]", hint = classify(.endpoint, *.code).1)]
    Api {
        /// The API path, e.g. `oauth/access_token/`.
        endpoint: &'static str,
        /// Douyin's `error_code` / `err_no` / `errcode`.
        code: i64,
        /// Douyin's `description` / `err_tips` / `errmsg` (truncated). Never match on it.
        description: String,
        /// Douyin's `logid`, when the answer had one (quote it to Douyin's support).
        logid: Option<String>,
    },
    /// Douyin did not answer within the configured timeout.
    #[error("Douyin {endpoint} did not answer in time")]
    Timeout {
        /// The API path.
        endpoint: &'static str,
    },
    /// The request could not be sent or the answer not read (the URL is stripped).
    #[error("could not reach Douyin {endpoint}: {}", transport_summary(.source))]
    Transport {
        /// The API path.
        endpoint: &'static str,
        /// The underlying error, URL stripped.
        #[source]
        source: reqwest::Error,
    },
    /// Douyin (or a proxy in front of it) answered a non-2xx HTTP status.
    #[error("Douyin {endpoint} answered HTTP {status}")]
    Http {
        /// The API path.
        endpoint: &'static str,
        /// The HTTP status code.
        status: u16,
    },
    /// The answer was not the JSON this endpoint returns; `detail` never quotes the body.
    #[error("Douyin {endpoint} sent an unreadable answer: {detail}")]
    Decode {
        /// The API path.
        endpoint: &'static str,
        /// What was wrong (length, position, missing field), never content.
        detail: String,
    },
    /// Refused before sending (an empty parameter).
    #[error("invalid Douyin request: {0}")]
    InvalidRequest(String),
    /// The client was configured with impossible settings.
    #[error("invalid Douyin client configuration: {0}")]
    InvalidConfig(String),
}

fn transport_summary(err: &reqwest::Error) -> &'static str {
    if err.is_connect() {
        "connection failed"
    } else if err.is_builder() {
        "the request could not be built"
    } else {
        "the request failed"
    }
}

impl fmt::Debug for DouyinError {
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
        write!(f, "{self} (DouyinError::{variant})")
    }
}

impl DouyinError {
    /// Douyin's error number, for [`DouyinError::Api`] only.
    ///
    /// ```
    /// let err = wechat_auth_douyin_client::DouyinError::Timeout { endpoint: "oauth/userinfo/" };
    /// assert_eq!(err.code(), None);
    /// ```
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The API path the error came from, when it came from a call.
    ///
    /// ```
    /// let err = wechat_auth_douyin_client::DouyinError::Timeout { endpoint: "oauth/userinfo/" };
    /// assert_eq!(err.endpoint(), Some("oauth/userinfo/"));
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
    /// ```
    /// use wechat_auth_douyin_client::{DouyinError, ErrorKind};
    ///
    /// let busy = DouyinError::Http { endpoint: "oauth/userinfo/", status: 503 };
    /// assert_eq!(busy.kind(), ErrorKind::Retryable);
    /// let flood = DouyinError::Api { endpoint: "oauth/client_token/", code: 10020, description: String::new(), logid: None };
    /// assert_eq!(flood.kind(), ErrorKind::Quota);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Api { endpoint, code, .. } => classify(endpoint, *code).0,
            Self::Timeout { .. } => ErrorKind::Retryable,
            Self::Transport { source, .. } if source.is_builder() => ErrorKind::InvalidRequest,
            Self::Transport { .. } => ErrorKind::Retryable,
            Self::Http { status, .. } if (500..600).contains(status) => ErrorKind::Retryable,
            Self::Http { .. } | Self::Decode { .. } => ErrorKind::Other,
            Self::InvalidRequest(_) => ErrorKind::InvalidRequest,
            Self::InvalidConfig(_) => ErrorKind::Configuration,
        }
    }

    /// The likely cause and the fix, for the developer reading the log.
    ///
    /// ```
    /// use wechat_auth_douyin_client::DouyinError;
    ///
    /// let err = DouyinError::Api { endpoint: "api/apps/v2/jscode2session", code: 40017, description: String::new(), logid: None };
    /// assert!(err.hint().contains("WECHAT_DOUYIN_MINIAPP_SECRET"));
    /// ```
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Api { endpoint, code, .. } => classify(endpoint, *code).1,
            Self::Timeout { .. } => {
                "Douyin did not answer within the client timeout: retry later; a timed-out code \
                 exchange may already have used the code, so restart that login"
            }
            Self::Transport { .. } => {
                "could not reach Douyin: check DNS, the outbound firewall or proxy, TLS roots and \
                 the configured base URL"
            }
            Self::Http { status, .. } if (500..600).contains(status) => {
                "Douyin or a proxy in front of it failed (HTTP 5xx): retry later"
            }
            Self::Http { .. } | Self::Decode { .. } => {
                "not the answer this endpoint gives: check that the base URL points at Douyin (or \
                 the mock) and not at a proxy or another service"
            }
            Self::InvalidRequest(_) => "the request was refused before sending: fix the argument",
            Self::InvalidConfig(_) => "fix the client settings",
        }
    }

    /// Whether trying the same call again can succeed (busy, timeout, transport, HTTP 5xx).
    ///
    /// ```
    /// let err = wechat_auth_douyin_client::DouyinError::Http { endpoint: "oauth/userinfo/", status: 404 };
    /// assert!(!err.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        self.kind() == ErrorKind::Retryable
    }

    /// Whether this is the renewal limit: `oauth/renew_refresh_token/` answered 10020 (the
    /// refresh token was already renewed five times). The user must log in again.
    ///
    /// ```
    /// use wechat_auth_douyin_client::DouyinError;
    ///
    /// let err = DouyinError::Api { endpoint: "oauth/client_token/", code: 10020, description: String::new(), logid: None };
    /// assert!(!err.is_renew_limit()); // from client_token it is a rate limit
    /// ```
    pub fn is_renew_limit(&self) -> bool {
        matches!(self, Self::Api { endpoint, code: 10020, .. } if !is_client_token(endpoint))
    }
}

impl wechat_auth_client::transport_kit::CallError for DouyinError {
    fn timeout(endpoint: &'static str) -> Self {
        Self::Timeout { endpoint }
    }
    fn transport(endpoint: &'static str, source: reqwest::Error) -> Self {
        Self::Transport { endpoint, source }
    }
    fn http(endpoint: &'static str, status: u16) -> Self {
        Self::Http { endpoint, status }
    }
    fn decode(endpoint: &'static str, detail: String) -> Self {
        Self::Decode { endpoint, detail }
    }
    fn is_retryable(&self) -> bool {
        DouyinError::is_retryable(self)
    }
    fn code(&self) -> Option<i64> {
        DouyinError::code(self)
    }
    fn kind_name(&self) -> &'static str {
        self.kind().as_str()
    }
}
