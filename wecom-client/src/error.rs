//! [`WecomError`], the [`ErrorKind`] classification and the errcode table behind it.
//!
//! WeCom reports business errors as `{"errcode": N, "errmsg": "..."}` with HTTP 200 (and
//! successes as `errcode: 0`). The `errmsg` ends with a per-call hint, the caller's IP and a
//! `more info at …?e=N` link, so everything here matches on the number only. [`describe`] turns
//! an errcode into an [`ErrorKind`] (what the caller should do) and a hint naming the likely
//! cause for the developer who has to fix it (protocol §20.9 and §27).

use std::fmt;

/// What a caller should do about a failed WeCom call.
///
/// ```
/// use wecom_client::{describe, ErrorKind};
///
/// assert_eq!(describe(42009).map(|(kind, _)| kind), Some(ErrorKind::SuiteTokenInvalid));
/// assert_eq!(describe(-1).map(|(kind, _)| kind), Some(ErrorKind::Retryable));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Temporary: WeCom was busy (`-1`), the network failed, a timeout or an HTTP 5xx.
    Retryable,
    /// The code is spent, expired or was issued for another app: send the user through the
    /// login again. Retrying the same call cannot succeed.
    LoginAgain,
    /// The corp `access_token` is invalid or expired (40001 outside `gettoken`, 40014, 42001):
    /// fetch a new one with `cgi-bin/gettoken` and call again.
    TokenInvalid,
    /// The `suite_access_token` is invalid or expired (40082, 42009): fetch a new one with
    /// `service/get_suite_token` and call again.
    SuiteTokenInvalid,
    /// The `suite_ticket` is invalid, stale or missing (40085, 41023): use the newest ticket
    /// WeCom pushed to the command callback; if none arrives, check the callback URL.
    SuiteTicketInvalid,
    /// The customer corp has not authorized (installed) this third-party suite, or removed it
    /// (41030).
    NotAuthorized,
    /// This deployment is misconfigured (corp id, secret, agent id, suite id or secret,
    /// trusted domain, IP whitelist, base URL): an operator must fix the console or settings.
    Configuration,
    /// The member or the app is not allowed to do this (outside the visible range, API not
    /// granted).
    Permission,
    /// A frequency or concurrency limit was hit: slow down, cache tokens.
    Quota,
    /// The request itself was malformed (missing parameter): a bug in the caller.
    InvalidRequest,
    /// Anything else, including errcodes this crate does not know.
    Other,
}

impl ErrorKind {
    /// A short stable name, handy for metrics labels and logs.
    ///
    /// ```
    /// assert_eq!(wecom_client::ErrorKind::SuiteTokenInvalid.as_str(), "suite_token_invalid");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retryable => "retryable",
            Self::LoginAgain => "login_again",
            Self::TokenInvalid => "token_invalid",
            Self::SuiteTokenInvalid => "suite_token_invalid",
            Self::SuiteTicketInvalid => "suite_ticket_invalid",
            Self::NotAuthorized => "not_authorized",
            Self::Configuration => "configuration",
            Self::Permission => "permission",
            Self::Quota => "quota",
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

/// Every errcode this crate knows: `(errcode, kind, hint)`, ascending.
const ERRCODES: &[(i64, ErrorKind, &str)] = &[
    (
        -1,
        ErrorKind::Retryable,
        "WeCom is busy (system error): temporary, retried automatically; if it persists, try \
         again later",
    ),
    (
        40001,
        ErrorKind::TokenInvalid,
        "the access_token was refused (40001): fetch a new one with cgi-bin/gettoken; if a fresh \
         token is refused too, the corpsecret it was fetched with is wrong",
    ),
    (
        40013,
        ErrorKind::Configuration,
        "the CorpID is invalid: copy it from 我的企业 → 企业信息 (it starts with ww or wx), \
         without stray spaces",
    ),
    (
        40014,
        ErrorKind::TokenInvalid,
        "the access_token is malformed or unknown: fetch a new one with cgi-bin/gettoken and \
         send it exactly as WeCom returned it",
    ),
    (
        40029,
        ErrorKind::LoginAgain,
        "the code is invalid, expired (5 minutes), already used, or was issued for another app: \
         start the login again, and exchange the code with the token of the app (corp + agent, \
         or suite) that issued it",
    ),
    (
        40056,
        ErrorKind::Configuration,
        "the agentid is invalid: use the AgentId of this app from 应用管理, in the corp whose \
         secret fetched the token",
    ),
    (
        40080,
        ErrorKind::Configuration,
        "the suite_secret is invalid: copy the current Secret of this third-party app from \
         服务商后台 → 应用管理",
    ),
    (
        40082,
        ErrorKind::SuiteTokenInvalid,
        "the suite_access_token is invalid: fetch a new one with service/get_suite_token (and \
         check it belongs to this suite)",
    ),
    (
        40083,
        ErrorKind::Configuration,
        "the suite_id is invalid: use the SuiteID of this third-party app from 服务商后台",
    ),
    (
        40084,
        ErrorKind::Configuration,
        "the permanent_code is invalid: the corp re-installed or removed the app — use the \
         permanent_code of its latest authorization",
    ),
    (
        40085,
        ErrorKind::SuiteTicketInvalid,
        "the suite_ticket is invalid or stale (it lasts 30 minutes): use the newest ticket WeCom \
         pushed to the command callback; if none arrives every 10 minutes, check the \
         callback URL, Token and EncodingAESKey",
    ),
    (
        40086,
        ErrorKind::Configuration,
        "the third-party appid is invalid: use the suite's own id",
    ),
    (
        40091,
        ErrorKind::Configuration,
        "the secret is invalid, e.g. the secret of another corp or app: copy the Secret of this \
         app in this corp",
    ),
    (
        41021,
        ErrorKind::Configuration,
        "suite_id is missing: is the SuiteID configured?",
    ),
    (
        41022,
        ErrorKind::InvalidRequest,
        "suite_access_token is missing: fetch one with service/get_suite_token and pass it",
    ),
    (
        41023,
        ErrorKind::SuiteTicketInvalid,
        "suite_ticket is missing: no ticket has arrived yet — check the command callback URL \
         (指令回调) in 服务商后台, and wait for WeCom's next push (every 10 minutes)",
    ),
    (
        41024,
        ErrorKind::Configuration,
        "suite_secret is missing: is the suite's Secret configured?",
    ),
    (
        41025,
        ErrorKind::Configuration,
        "permanent_code is missing: it comes with the corp's authorization \
         (create_auth → get_permanent_code)",
    ),
    (
        41030,
        ErrorKind::NotAuthorized,
        "this corp has not authorized (installed) the third-party app, or removed it: the corp \
         admin must install it before its members can log in",
    ),
    (
        42001,
        ErrorKind::TokenInvalid,
        "the access_token expired (about 2 hours, sometimes sooner): fetch a new one with \
         cgi-bin/gettoken and call again",
    ),
    (
        42009,
        ErrorKind::SuiteTokenInvalid,
        "the suite_access_token expired (about 2 hours): fetch a new one with \
         service/get_suite_token and call again",
    ),
    (
        45009,
        ErrorKind::Quota,
        "frequency limit reached: cache the access_token per app instead of fetching it per \
         request, and slow down",
    ),
    (
        45033,
        ErrorKind::Quota,
        "too many concurrent calls: limit the parallel calls to WeCom",
    ),
    (
        48002,
        ErrorKind::Permission,
        "this app may not call this API: grant it in 应用管理 (e.g. 网页授权及JS-SDK / \
         成员敏感信息 for getuserdetail)",
    ),
    (
        50001,
        ErrorKind::Configuration,
        "the redirect_uri's host is not a trusted domain of the app that owns this token: set it \
         in 应用管理 → 网页授权及JS-SDK / 企业微信授权登录 (exact host and port, no wildcard), or \
         exchange the code with the token of the app the login started with",
    ),
    (
        50002,
        ErrorKind::Permission,
        "the member is outside the app's visible range (可见范围): add them in 应用管理",
    ),
    (
        60020,
        ErrorKind::Configuration,
        "this server's IP is not in the app's trusted IP list (企业可信IP): add the egress IP \
         shown in errmsg",
    ),
];

/// The hint for an errcode missing from the table.
const UNKNOWN_ERRCODE_HINT: &str = "WeCom returned an errcode this crate does not know: look it \
     up at https://open.work.weixin.qq.com/devtool/query";

/// The hint for 40001 from `cgi-bin/gettoken`, where it means a wrong corpsecret.
const GETTOKEN_40001_HINT: &str = "the corpsecret is wrong (40001 from cgi-bin/gettoken): copy \
     the Secret of this app (应用管理 → the app → Secret), in the corp of this CorpID";

/// The kind of failure and a developer-facing hint for a WeCom errcode.
///
/// Returns `None` for `0` (success) and for errcodes this crate does not know.
///
/// ```
/// use wecom_client::{describe, ErrorKind};
///
/// let (kind, hint) = describe(50001).unwrap();
/// assert_eq!(kind, ErrorKind::Configuration);
/// assert!(hint.contains("trusted domain"));
/// assert!(describe(0).is_none());
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
/// assert!(wecom_client::known_errcodes().contains(&41030));
/// ```
pub fn known_errcodes() -> Vec<i64> {
    ERRCODES.iter().map(|(code, _, _)| *code).collect()
}

/// Every way a WeCom call can fail.
///
/// Secrets never appear in `Display` or `Debug`: WeCom's `errmsg` is kept (it never echoes
/// secrets), transport errors have their URL (whose query holds `corpsecret=` or
/// `access_token=`) stripped, and decoding errors never quote the body.
///
/// ```
/// use wecom_client::{ErrorKind, WecomError};
///
/// let err = WecomError::Api {
///     endpoint: "cgi-bin/service/auth/getuserinfo3rd",
///     errcode: 41030,
///     errmsg: "suite not authorized by corp, more info at https://open.work.weixin.qq.com/devtool/query?e=41030".into(),
/// };
/// assert_eq!(err.errcode(), Some(41030));
/// assert_eq!(err.kind(), ErrorKind::NotAuthorized);
/// assert!(err.to_string().starts_with("this corp has not authorized"));
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum WecomError {
    /// WeCom answered with a non-zero `errcode`.
    #[error("{hint} [WeCom {endpoint} errcode {errcode}: {errmsg}]", hint = api_hint(.endpoint, *.errcode))]
    Api {
        /// The API path, e.g. `cgi-bin/auth/getuserinfo`.
        endpoint: &'static str,
        /// WeCom's error number (may be negative: `-1` = busy).
        errcode: i64,
        /// WeCom's message, with its hint/IP/link suffix. Never match on it.
        errmsg: String,
    },
    /// WeCom did not answer within the configured timeout.
    #[error("WeCom {endpoint} did not answer in time")]
    Timeout {
        /// The API path.
        endpoint: &'static str,
    },
    /// The request could not be sent or the answer could not be read (DNS, connect, TLS,
    /// reset). The inner error has no URL attached.
    #[error("could not reach WeCom {endpoint}: {}", transport_summary(.source))]
    Transport {
        /// The API path.
        endpoint: &'static str,
        /// The underlying error, URL stripped.
        #[source]
        source: reqwest::Error,
    },
    /// WeCom (or a proxy in front of it) answered with a non-2xx HTTP status.
    #[error("WeCom {endpoint} answered HTTP {status}")]
    Http {
        /// The API path.
        endpoint: &'static str,
        /// The HTTP status code.
        status: u16,
    },
    /// The answer was not the JSON this endpoint returns. `detail` never quotes the body.
    #[error("WeCom {endpoint} sent an unreadable answer: {detail}")]
    Decode {
        /// The API path.
        endpoint: &'static str,
        /// What was wrong (body length, JSON position, missing field), never body content.
        detail: String,
    },
    /// The request was refused by this crate before sending (an empty parameter).
    #[error("invalid WeCom request: {0}")]
    InvalidRequest(String),
    /// The client was configured with impossible settings (a base URL that is not an
    /// absolute http(s) URL, a zero timeout).
    #[error("invalid WeCom client configuration: {0}")]
    InvalidConfig(String),
}

/// `cgi-bin/gettoken`, whose 40001 means "wrong corpsecret" rather than "stale token".
fn is_gettoken(endpoint: &str) -> bool {
    endpoint == "cgi-bin/gettoken"
}

fn api_hint(endpoint: &str, errcode: i64) -> &'static str {
    if errcode == 40001 && is_gettoken(endpoint) {
        return GETTOKEN_40001_HINT;
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

/// The message a person can act on, then the variant (what `main` returning this error
/// prints); a transport failure adds its causes, URL already stripped.
impl fmt::Debug for WecomError {
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
        write!(f, "{self} (WecomError::{variant})")?;
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

impl WecomError {
    /// WeCom's errcode, for [`WecomError::Api`] only.
    ///
    /// ```
    /// let err = wecom_client::WecomError::Http { endpoint: "cgi-bin/gettoken", status: 502 };
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
    /// let err = wecom_client::WecomError::Timeout { endpoint: "cgi-bin/gettoken" };
    /// assert_eq!(err.endpoint(), Some("cgi-bin/gettoken"));
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
    /// [`describe`] (unknown ones are [`ErrorKind::Other`]); 40001 from `cgi-bin/gettoken` is
    /// [`ErrorKind::Configuration`] (a wrong corpsecret), elsewhere [`ErrorKind::TokenInvalid`].
    ///
    /// ```
    /// use wecom_client::{ErrorKind, WecomError};
    ///
    /// let err = WecomError::Api { endpoint: "cgi-bin/gettoken", errcode: 40001, errmsg: String::new() };
    /// assert_eq!(err.kind(), ErrorKind::Configuration);
    /// let err = WecomError::Api { endpoint: "cgi-bin/auth/getuserinfo", errcode: 40001, errmsg: String::new() };
    /// assert_eq!(err.kind(), ErrorKind::TokenInvalid);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Api {
                endpoint, errcode, ..
            } => {
                if *errcode == 40001 && is_gettoken(endpoint) {
                    ErrorKind::Configuration
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
    /// use wecom_client::WecomError;
    ///
    /// let err = WecomError::Api { endpoint: "cgi-bin/gettoken", errcode: 60020, errmsg: String::new() };
    /// assert!(err.hint().contains("trusted IP"));
    /// ```
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Api {
                endpoint, errcode, ..
            } => api_hint(endpoint, *errcode),
            Self::Timeout { .. } => {
                "WeCom did not answer within the client timeout: retry later; a timed-out code \
                 exchange may already have used the code, so restart that login"
            }
            Self::Transport { source, .. } if source.is_builder() => {
                "the request could not be built: check the configured base URL"
            }
            Self::Transport { .. } => {
                "could not reach WeCom: check DNS, the outbound firewall or proxy, TLS roots and \
                 the configured base URL"
            }
            Self::Http { status, .. } if (500..600).contains(status) => {
                "WeCom or a proxy in front of it failed (HTTP 5xx): retry later"
            }
            Self::Http { .. } => {
                "unexpected HTTP status: WeCom reports errors with HTTP 200, so check that the \
                 base URL points at qyapi.weixin.qq.com (or the mock) and not at a proxy"
            }
            Self::Decode { .. } => {
                "the answer was not the JSON this endpoint returns: check the base URL points at \
                 qyapi.weixin.qq.com (or the mock)"
            }
            Self::InvalidRequest(_) => "the request was refused before sending: fix the argument",
            Self::InvalidConfig(_) => "fix the client settings",
        }
    }

    /// Whether trying the same call again can succeed: `-1`, timeouts, transport failures and
    /// HTTP 5xx.
    ///
    /// ```
    /// use wecom_client::WecomError;
    ///
    /// assert!(WecomError::Http { endpoint: "cgi-bin/gettoken", status: 503 }.is_retryable());
    /// assert!(!WecomError::Http { endpoint: "cgi-bin/gettoken", status: 404 }.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        self.kind() == ErrorKind::Retryable
    }
}

/// How the shared call loop of `wechat_auth_client::transport_kit` builds and reads WeCom's
/// errors (retries, logs and metrics).
impl wechat_auth_client::transport_kit::CallError for WecomError {
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
        WecomError::is_retryable(self)
    }
    fn code(&self) -> Option<i64> {
        self.errcode()
    }
    fn kind_name(&self) -> &'static str {
        self.kind().as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every errcode of protocol §20.9 and §27 that a login can meet, except 0.
    const PROTOCOL_ERRCODES: &[i64] = &[
        // §20.9
        40001, 40013, 40091, 40014, 42001, 40029, 40056, 50001, 50002, 60020, 45009, 45033, 48002,
        // §27
        40080, 40082, 40083, 40084, 40085, 40086, 41021, 41022, 41023, 41024, 41025, 41030, 42009,
        // busy
        -1,
    ];

    #[test]
    fn every_protocol_errcode_has_a_kind_and_a_hint() {
        for &code in PROTOCOL_ERRCODES {
            let (kind, hint) = describe(code).unwrap_or_else(|| panic!("{code} missing"));
            assert!(hint.len() > 20, "{code}: hint too short");
            assert_ne!(kind, ErrorKind::Other, "{code} left unclassified");
        }
        assert_eq!(known_errcodes().len(), PROTOCOL_ERRCODES.len());
    }

    #[test]
    fn table_is_ascending_without_duplicates_or_success() {
        let codes = known_errcodes();
        assert!(codes.windows(2).all(|w| w[0] < w[1]), "{codes:?}");
        assert!(describe(0).is_none());
    }

    /// One row per errcode the brief names: the kind a caller acts on and a word of the cause.
    #[test]
    fn each_errcode_row_names_its_kind_and_cause() {
        let rows: &[(i64, ErrorKind, &str)] = &[
            (40013, ErrorKind::Configuration, "CorpID"),
            (40001, ErrorKind::TokenInvalid, "gettoken"),
            (40014, ErrorKind::TokenInvalid, "gettoken"),
            (42001, ErrorKind::TokenInvalid, "expired"),
            (40029, ErrorKind::LoginAgain, "code"),
            (50001, ErrorKind::Configuration, "trusted domain"),
            (60020, ErrorKind::Configuration, "trusted IP"),
            (40082, ErrorKind::SuiteTokenInvalid, "get_suite_token"),
            (40085, ErrorKind::SuiteTicketInvalid, "newest ticket"),
            (42009, ErrorKind::SuiteTokenInvalid, "get_suite_token"),
            (41030, ErrorKind::NotAuthorized, "not authorized"),
            (40080, ErrorKind::Configuration, "suite_secret"),
            (40083, ErrorKind::Configuration, "suite_id"),
            (40084, ErrorKind::Configuration, "permanent_code"),
            (41021, ErrorKind::Configuration, "suite_id"),
            (41022, ErrorKind::InvalidRequest, "suite_access_token"),
            (41023, ErrorKind::SuiteTicketInvalid, "command callback"),
            (41024, ErrorKind::Configuration, "suite_secret"),
            (41025, ErrorKind::Configuration, "permanent_code"),
        ];
        for &(code, kind, word) in rows {
            let err = WecomError::Api {
                endpoint: "cgi-bin/service/auth/getuserinfo3rd",
                errcode: code,
                errmsg: format!(
                    "x, more info at https://open.work.weixin.qq.com/devtool/query?e={code}"
                ),
            };
            assert_eq!(err.kind(), kind, "{code}");
            assert!(err.hint().contains(word), "{code}: {}", err.hint());
            assert!(err.to_string().contains(&format!("errcode {code}")));
            assert!(!err.is_retryable(), "{code}");
        }
    }

    #[test]
    fn errcode_40001_depends_on_the_endpoint() {
        let err = |endpoint| WecomError::Api {
            endpoint,
            errcode: 40001,
            errmsg: String::new(),
        };
        assert_eq!(err("cgi-bin/gettoken").kind(), ErrorKind::Configuration);
        assert!(err("cgi-bin/gettoken").hint().contains("corpsecret"));
        assert_eq!(
            err("cgi-bin/auth/getuserinfo").kind(),
            ErrorKind::TokenInvalid
        );
    }

    #[test]
    fn only_transient_failures_are_retryable() {
        let api = |errcode| WecomError::Api {
            endpoint: "cgi-bin/auth/getuserinfo",
            errcode,
            errmsg: "x".into(),
        };
        assert!(api(-1).is_retryable());
        for code in known_errcodes().into_iter().filter(|c| *c != -1) {
            assert!(!api(code).is_retryable(), "{code}");
        }
        assert_eq!(api(12345).kind(), ErrorKind::Other);
        assert_eq!(api(12345).hint(), UNKNOWN_ERRCODE_HINT);
        assert!(WecomError::Timeout { endpoint: "x" }.is_retryable());
        let decode = WecomError::Decode {
            endpoint: "x",
            detail: "d".into(),
        };
        assert!(!decode.is_retryable());
        assert!(!WecomError::InvalidRequest("r".into()).is_retryable());
        assert_eq!(
            WecomError::InvalidConfig("c".into()).kind(),
            ErrorKind::Configuration
        );
    }

    #[test]
    fn debug_carries_the_message_then_the_variant() {
        let err = WecomError::Api {
            endpoint: "cgi-bin/gettoken",
            errcode: 60020,
            errmsg: "not allow to access from your ip, from ip: 1.2.3.4".into(),
        };
        assert_eq!(format!("{err:?}"), format!("{err} (WecomError::Api)"));
        assert!(format!("{err}").contains("from ip: 1.2.3.4"));
        assert_eq!(ErrorKind::NotAuthorized.to_string(), "not_authorized");
    }
}
