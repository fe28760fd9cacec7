//! One WeCom call: its endpoint, its span and how WeCom's answer reads. The attempts, retry
//! policy with backoff, bounded body, logs and metrics hook are the shared
//! [`transport_kit`] of the WeChat client, as for the WeChat and Douyin calls.
//!
//! Parsing is the pure function [`parse_response`] over `(status, body bytes)`, so every answer
//! shape is unit-tested without a socket.

use serde::de::DeserializeOwned;
use url::Url;
use wechat_auth_client::transport_kit::{
    self, Call, code_of, json_object, json_type, safe_data_error, truncate,
};
pub(crate) use wechat_auth_client::transport_kit::{Replay, RetryPolicy};

use super::error::WecomError;

/// The longest `errmsg` kept (WeCom's are short; this only bounds a hostile answer).
const MAX_ERRMSG_BYTES: usize = 1024;

/// The WeCom API endpoints this client calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    GetToken,
    GetUserInfo,
    GetUserDetail,
    GetSuiteToken,
    GetUserInfo3rd,
    GetUserDetail3rd,
}

impl Endpoint {
    /// The path under the API base; also the `endpoint` of errors, spans and metrics.
    pub(crate) fn path(self) -> &'static str {
        match self {
            Self::GetToken => "cgi-bin/gettoken",
            Self::GetUserInfo => "cgi-bin/auth/getuserinfo",
            Self::GetUserDetail => "cgi-bin/auth/getuserdetail",
            Self::GetSuiteToken => "cgi-bin/service/get_suite_token",
            Self::GetUserInfo3rd => "cgi-bin/service/auth/getuserinfo3rd",
            Self::GetUserDetail3rd => "cgi-bin/service/auth/getuserdetail3rd",
        }
    }

    /// One span per call, named after the endpoint (span names must be literals). `attempt`
    /// is filled in when the call ends.
    fn span(self) -> tracing::Span {
        use tracing::field::Empty;
        let endpoint = self.path();
        match self {
            Self::GetToken => tracing::info_span!("cgi-bin/gettoken", endpoint, attempt = Empty),
            Self::GetUserInfo => {
                tracing::info_span!("cgi-bin/auth/getuserinfo", endpoint, attempt = Empty)
            }
            Self::GetUserDetail => {
                tracing::info_span!("cgi-bin/auth/getuserdetail", endpoint, attempt = Empty)
            }
            Self::GetSuiteToken => {
                tracing::info_span!("cgi-bin/service/get_suite_token", endpoint, attempt = Empty)
            }
            Self::GetUserInfo3rd => tracing::info_span!(
                "cgi-bin/service/auth/getuserinfo3rd",
                endpoint,
                attempt = Empty
            ),
            Self::GetUserDetail3rd => tracing::info_span!(
                "cgi-bin/service/auth/getuserdetail3rd",
                endpoint,
                attempt = Empty
            ),
        }
    }
}

/// Sends the request made by `build` until it succeeds or the policy says stop, and parses
/// the answer as `T`.
///
/// `build` gets the shared client and the full URL (API base + endpoint path) and adds the
/// method, query and body; it runs once per attempt. Token fetches and reads are
/// [`Replay::Safe`]; code exchanges [`Replay::OnlyIfUnsent`]: a code is single use and a
/// second exchange after a timeout would only earn 40029.
pub(crate) async fn execute<T, F>(
    http: &reqwest::Client,
    policy: RetryPolicy,
    api_base: &Url,
    endpoint: Endpoint,
    replay: Replay,
    build: F,
) -> Result<T, WecomError>
where
    T: DeserializeOwned,
    F: Fn(&reqwest::Client, Url) -> reqwest::RequestBuilder,
{
    let url = api_base.join(endpoint.path()).map_err(|e| {
        WecomError::InvalidConfig(format!("cannot join the API base URL and a path: {e}"))
    })?;
    let call = Call {
        provider: "WeCom",
        endpoint: endpoint.path(),
        replay,
        max_body: transport_kit::MAX_BODY_BYTES,
    };
    transport_kit::execute(
        http,
        policy,
        url,
        call,
        endpoint.span(),
        build,
        |path, answer| parse_response(path, answer.status, &answer.body),
        crate::metrics::wecom_call,
    )
    .await
}

/// Turns an HTTP answer into a value or an error, whatever its `Content-Type`.
///
/// - non-2xx status → [`WecomError::Http`];
/// - a JSON object with a non-zero `errcode` → [`WecomError::Api`] (errmsg kept);
/// - otherwise the object is decoded as `T` (WeCom's `errcode: 0, errmsg: "ok"` is fine);
/// - anything unreadable → [`WecomError::Decode`], whose detail never quotes the body.
///
/// The body is already bounded by [`transport_kit::execute`].
pub(crate) fn parse_response<T: DeserializeOwned>(
    endpoint: &'static str,
    status: u16,
    body: &[u8],
) -> Result<T, WecomError> {
    if !(200..300).contains(&status) {
        return Err(WecomError::Http { endpoint, status });
    }
    let decode = |detail: String| WecomError::Decode { endpoint, detail };
    let object = json_object(body).map_err(decode)?;
    if let Some(raw) = object.get("errcode") {
        let errcode = code_of(raw)
            .ok_or_else(|| decode(format!("errcode is {}, not an integer", json_type(raw))))?;
        if errcode != 0 {
            let errmsg = object
                .get("errmsg")
                .and_then(serde_json::Value::as_str)
                .map(|m| truncate(m, MAX_ERRMSG_BYTES))
                .unwrap_or_default();
            return Err(WecomError::Api {
                endpoint,
                errcode,
                errmsg,
            });
        }
    }
    T::deserialize(serde_json::Value::Object(object))
        .map_err(|e| decode(safe_data_error(&e, body.len())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::AccessToken;

    const EP: &str = "cgi-bin/gettoken";

    fn api_err(body: &str) -> (i64, String) {
        match parse_response::<AccessToken>(EP, 200, body.as_bytes()) {
            Err(WecomError::Api {
                errcode, errmsg, ..
            }) => (errcode, errmsg),
            other => panic!("{body}: expected Api error, got {other:?}"),
        }
    }

    fn decode_err(body: &[u8]) -> String {
        match parse_response::<AccessToken>(EP, 200, body) {
            Err(WecomError::Decode { detail, .. }) => detail,
            other => panic!("expected Decode error, got {other:?}"),
        }
    }

    #[test]
    fn success_with_errcode_zero_and_errors_with_suffixes() {
        let t: AccessToken = parse_response(
            EP,
            200,
            br#"{"errcode":0,"errmsg":"ok","access_token":"accesstoken000001","expires_in":7200}"#,
        )
        .unwrap();
        assert_eq!(t.expires_in, 7200);
        let (code, msg) = api_err(
            r#"{"errcode":45009,"errmsg":"api freq out of limit, hint: [1651125626252370061579454], from ip: 122.14.234.1, more info at https://open.work.weixin.qq.com/devtool/query?e=45009"}"#,
        );
        assert_eq!(code, 45009);
        assert!(msg.ends_with("e=45009"));
        assert_eq!(api_err(r#"{"errcode":"42001"}"#).0, 42001);
        assert_eq!(api_err(r#"{"errcode":-1,"errmsg":"system busy"}"#).0, -1);
    }

    #[test]
    fn unreadable_answers_never_quote_the_body() {
        let secret = "SECRETVALUE_9f8e7d";
        for body in [
            format!("<html>{secret}</html>"),
            format!(r#"{{"access_token":"{secret}","expires_in":"{secret}"}}"#),
            format!(r#"["{secret}"]"#),
        ] {
            let detail = decode_err(body.as_bytes());
            assert!(!detail.contains(secret), "{detail}");
        }
        assert!(decode_err(br#"{"expires_in":7200}"#).contains("missing field `access_token`"));
        assert!(decode_err(br#"{"errcode":true}"#).contains("not an integer"));
        for status in [301, 404, 502] {
            let err = parse_response::<AccessToken>(EP, status, b"{}").unwrap_err();
            assert!(matches!(err, WecomError::Http { status: s, .. } if s == status));
        }
    }

    #[test]
    fn long_errmsg_is_truncated_on_a_char_boundary() {
        let body = format!(r#"{{"errcode":40029,"errmsg":"{}"}}"#, "错".repeat(1000));
        let (_, msg) = api_err(&body);
        assert!(msg.len() <= MAX_ERRMSG_BYTES + '…'.len_utf8());
        assert!(msg.ends_with('…'));
    }

    /// WeCom's verdicts (`-1` busy, a timeout, 40029 spent) through the shared policy: what
    /// is retried, how often, and never a code exchange that may have reached WeCom.
    #[test]
    fn retry_policy() {
        use std::time::Duration;
        use transport_kit::CallError;

        let policy = RetryPolicy {
            max_retries: 2,
            backoff: Duration::from_millis(1),
        };
        let busy = WecomError::Api {
            endpoint: EP,
            errcode: -1,
            errmsg: String::new(),
        };
        let timeout = <WecomError as CallError>::timeout(EP);
        let used = WecomError::Api {
            endpoint: EP,
            errcode: 40029,
            errmsg: String::new(),
        };
        let retryable = |e: &WecomError| CallError::is_retryable(e);
        for replay in [Replay::Safe, Replay::OnlyIfUnsent] {
            // Answered (busy): retried until the retries are spent.
            assert!(policy.allows(retryable(&busy), replay, false, 1));
            assert!(!policy.allows(retryable(&busy), replay, false, 2));
            // Never sent: retried whatever the call.
            assert!(policy.allows(retryable(&timeout), replay, false, 0));
            // A spent code is never retried.
            assert!(!policy.allows(retryable(&used), replay, false, 0));
        }
        // A timeout after sending: a token fetch again, a code exchange never.
        assert!(policy.allows(retryable(&timeout), Replay::Safe, true, 0));
        assert!(!policy.allows(retryable(&timeout), Replay::OnlyIfUnsent, true, 0));
    }

    /// The errors the shared loop builds are WeCom's own, with WeCom's numbers and kinds.
    #[test]
    fn call_error_builds_wecom_errors() {
        use transport_kit::CallError;

        assert!(matches!(
            <WecomError as CallError>::timeout(EP),
            WecomError::Timeout { endpoint: EP }
        ));
        let bad_gateway = <WecomError as CallError>::http(EP, 502);
        assert!(matches!(bad_gateway, WecomError::Http { status: 502, .. }));
        assert!(bad_gateway.is_retryable());
        assert!(!<WecomError as CallError>::http(EP, 404).is_retryable());
        let decode = <WecomError as CallError>::decode(EP, "d".into());
        assert!(matches!(decode, WecomError::Decode { .. }));
        assert_eq!(decode.code(), None);
        assert_eq!(CallError::kind_name(&decode), "other");
        let expired = WecomError::Api {
            endpoint: "cgi-bin/auth/getuserinfo",
            errcode: 42001,
            errmsg: String::new(),
        };
        assert_eq!(CallError::code(&expired), Some(42001));
        assert_eq!(CallError::kind_name(&expired), "token_invalid");
    }
}
