//! One WeCom call end to end: attempts, retry policy with backoff, bounded body, parsing.
//!
//! Parsing is the pure function [`parse_response`] over `(status, body bytes)`, so every answer
//! shape is unit-tested without a socket.

use std::time::{Duration, Instant};

use rand::Rng;
use serde::de::DeserializeOwned;
use tracing::Instrument;
use url::Url;

use super::error::WecomError;

/// The largest response body accepted (WeCom's JSON answers are a few hundred bytes).
pub(crate) const MAX_BODY_BYTES: usize = 1 << 20;

/// Longest wait between two attempts, whatever the base backoff.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

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

/// Whether sending the same request twice is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replay {
    /// Token fetches and reads: retry every retryable failure, timeouts included.
    Safe,
    /// Code exchanges: retry only when WeCom surely did not act (connect failure) or said it
    /// did not (`-1`, HTTP 5xx). A timeout after sending is not retried: the code is single use
    /// and a second exchange would only earn 40029.
    OnlyIfUnsent,
}

/// How far a failed attempt got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The request never left (connect or build failure).
    NotSent,
    /// Sent, but no complete answer (timeout, connection lost).
    Unknown,
    /// WeCom answered (an errcode, an HTTP status, a body we could not read).
    Answered,
}

#[derive(Debug)]
struct Failure {
    error: WecomError,
    phase: Phase,
}

/// Retry settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) backoff: Duration,
}

impl RetryPolicy {
    fn should_retry(&self, failure: &Failure, replay: Replay, retries_done: u32) -> bool {
        retries_done < self.max_retries
            && failure.error.is_retryable()
            && (replay == Replay::Safe || failure.phase != Phase::Unknown)
    }

    /// Exponential backoff (`base`, `2×base`, `4×base`, …, at most 10 s) plus up to 25 % jitter.
    fn delay(&self, retries_done: u32) -> Duration {
        let exp = self
            .backoff
            .saturating_mul(1_u32 << retries_done.min(16))
            .min(MAX_BACKOFF);
        let jitter_cap = u64::try_from((exp / 4).as_nanos()).unwrap_or(u64::MAX);
        let jitter = if jitter_cap == 0 {
            0
        } else {
            rand::rng().random_range(0..=jitter_cap)
        };
        exp + Duration::from_nanos(jitter)
    }
}

/// Sends the request made by `build` until it succeeds or the policy says stop, and parses
/// the answer as `T`.
///
/// `build` gets the shared client and the full URL (API base + endpoint path) and adds the
/// method, query and body; it runs once per attempt.
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
    let path = endpoint.path();
    let url = api_base.join(path).map_err(|e| {
        WecomError::InvalidConfig(format!("cannot join the API base URL and a path: {e}"))
    })?;
    let run = async {
        let started = Instant::now();
        let mut retries_done = 0_u32;
        loop {
            let attempt = retries_done + 1;
            match attempt_once(build(http, url.clone()), path).await {
                Ok(value) => {
                    tracing::Span::current().record("attempt", attempt);
                    crate::metrics::wecom_call(path, started, Some(0));
                    tracing::debug!(
                        attempt,
                        elapsed_ms = elapsed_ms(started),
                        "WeCom call succeeded"
                    );
                    return Ok(value);
                }
                Err(failure) => {
                    crate::metrics::wecom_call(path, started, failure.error.errcode());
                    let retry = policy.should_retry(&failure, replay, retries_done);
                    if !retry {
                        tracing::Span::current().record("attempt", attempt);
                    }
                    tracing::warn!(
                        attempt,
                        elapsed_ms = elapsed_ms(started),
                        errcode = failure.error.errcode(),
                        kind = %failure.error.kind(),
                        retry,
                        error = %failure.error,
                        "WeCom call failed"
                    );
                    if !retry {
                        return Err(failure.error);
                    }
                    tokio::time::sleep(policy.delay(retries_done)).await;
                    retries_done += 1;
                }
            }
        }
    };
    run.instrument(endpoint.span()).await
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

async fn attempt_once<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
    path: &'static str,
) -> Result<T, Failure> {
    let mut response = request.send().await.map_err(|err| {
        let err = err.without_url();
        let phase = if err.is_connect() || err.is_builder() {
            Phase::NotSent
        } else {
            Phase::Unknown
        };
        Failure {
            error: transport_error(path, err),
            phase,
        }
    })?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(answered(WecomError::Http {
            endpoint: path,
            status,
        }));
    }
    if let Some(encoding) = response
        .headers()
        .get(reqwest::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity"))
    {
        // No compression was asked for: a proxy is rewriting answers.
        let shown: String = encoding
            .chars()
            .take(32)
            .filter(|c| c.is_ascii_graphic())
            .collect();
        return Err(answered(WecomError::Decode {
            endpoint: path,
            detail: format!(
                "the answer is compressed (Content-Encoding: {shown}), which this client did \
                 not ask for: a proxy between this server and WeCom is rewriting answers"
            ),
        }));
    }
    let body = read_body(&mut response, path).await?;
    parse_response(path, status, &body).map_err(answered)
}

fn answered(error: WecomError) -> Failure {
    Failure {
        error,
        phase: Phase::Answered,
    }
}

/// A reqwest error as ours: timeouts become [`WecomError::Timeout`], the rest `Transport`
/// with the URL (and its secret-bearing query) already removed.
fn transport_error(endpoint: &'static str, err: reqwest::Error) -> WecomError {
    let source = err.without_url();
    if source.is_timeout() {
        WecomError::Timeout { endpoint }
    } else {
        WecomError::Transport { endpoint, source }
    }
}

/// Reads at most [`MAX_BODY_BYTES`], chunk by chunk.
async fn read_body(
    response: &mut reqwest::Response,
    endpoint: &'static str,
) -> Result<Vec<u8>, Failure> {
    let too_large = |len: u64| {
        answered(WecomError::Decode {
            endpoint,
            detail: format!(
                "response body of {len}+ bytes exceeds the {MAX_BODY_BYTES}-byte limit"
            ),
        })
    };
    if let Some(len) = response.content_length()
        && len > MAX_BODY_BYTES as u64
    {
        return Err(too_large(len));
    }
    let mut body = Vec::new();
    loop {
        let chunk = response.chunk().await.map_err(|err| Failure {
            error: transport_error(endpoint, err),
            phase: Phase::Unknown,
        })?;
        let Some(chunk) = chunk else { break };
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large((body.len() + chunk.len()) as u64));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Turns an HTTP answer into a value or an error, whatever its `Content-Type`.
///
/// - non-2xx status → [`WecomError::Http`];
/// - a JSON object with a non-zero `errcode` → [`WecomError::Api`] (errmsg kept);
/// - otherwise the object is decoded as `T` (WeCom's `errcode: 0, errmsg: "ok"` is fine);
/// - anything unreadable → [`WecomError::Decode`], whose detail never quotes the body.
pub(crate) fn parse_response<T: DeserializeOwned>(
    endpoint: &'static str,
    status: u16,
    body: &[u8],
) -> Result<T, WecomError> {
    if !(200..300).contains(&status) {
        return Err(WecomError::Http { endpoint, status });
    }
    let decode = |detail: String| WecomError::Decode { endpoint, detail };
    if body.len() > MAX_BODY_BYTES {
        return Err(decode(format!(
            "response body of {} bytes exceeds the {MAX_BODY_BYTES}-byte limit",
            body.len()
        )));
    }
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        decode(format!(
            "not JSON ({} bytes; {:?} error at line {} column {})",
            body.len(),
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    let Some(object) = value.as_object() else {
        return Err(decode(format!(
            "expected a JSON object, got {} ({} bytes)",
            json_type(&value),
            body.len()
        )));
    };
    if let Some(raw) = object.get("errcode") {
        let errcode = errcode_of(raw)
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
    T::deserialize(value).map_err(|e| decode(safe_data_error(&e, body.len())))
}

/// errcode as WeCom sends it (a number), or a numeric string from a sloppy proxy.
fn errcode_of(raw: &serde_json::Value) -> Option<i64> {
    match raw {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// serde's data errors may quote a value, and a value here may be a token: only messages
/// that name a field, never a value, are passed on.
fn safe_data_error(err: &serde_json::Error, len: usize) -> String {
    let message = err.to_string();
    if message.starts_with("missing field") || message.starts_with("duplicate field") {
        format!("{message} ({len} bytes)")
    } else {
        format!("a field has an unexpected type or value ({len} bytes)")
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
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
        let mut big = b"{\"a\":\"".to_vec();
        big.resize(MAX_BODY_BYTES + 1, b'x');
        assert!(decode_err(&big).contains("exceeds"));
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

    #[test]
    fn retry_policy() {
        let policy = RetryPolicy {
            max_retries: 2,
            backoff: Duration::from_millis(1),
        };
        let failure = |error, phase| Failure { error, phase };
        let busy = || WecomError::Api {
            endpoint: EP,
            errcode: -1,
            errmsg: String::new(),
        };
        let timeout = || WecomError::Timeout { endpoint: EP };
        for replay in [Replay::Safe, Replay::OnlyIfUnsent] {
            assert!(policy.should_retry(&failure(busy(), Phase::Answered), replay, 1));
            assert!(!policy.should_retry(&failure(busy(), Phase::Answered), replay, 2));
            assert!(policy.should_retry(&failure(timeout(), Phase::NotSent), replay, 0));
        }
        let used = WecomError::Api {
            endpoint: EP,
            errcode: 40029,
            errmsg: String::new(),
        };
        assert!(!policy.should_retry(&failure(used, Phase::Answered), Replay::Safe, 0));
        assert!(policy.should_retry(&failure(timeout(), Phase::Unknown), Replay::Safe, 0));
        assert!(!policy.should_retry(&failure(timeout(), Phase::Unknown), Replay::OnlyIfUnsent, 0));
    }

    #[test]
    fn backoff_grows_exponentially_with_bounded_jitter() {
        let policy = RetryPolicy {
            max_retries: 5,
            backoff: Duration::from_millis(100),
        };
        for _ in 0..20 {
            let d1 = policy.delay(1);
            assert!(d1 >= Duration::from_millis(200) && d1 <= Duration::from_millis(250));
        }
        assert!(policy.delay(40) <= MAX_BACKOFF + MAX_BACKOFF / 4);
    }
}
