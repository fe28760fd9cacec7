//! The provider-neutral half of one HTTP API call, for the provider client crates of this
//! workspace (WeChat's own calls, Douyin's `wechat-auth-douyin-client`, and WeCom's when it
//! moves over): attempts with a retry policy, exponential backoff with jitter, a bounded body,
//! a `tracing` span per call and a metrics hook, plus the JSON reading every provider's
//! envelope starts with (byte-order mark, "an object or an error", errors that never quote the
//! body).
//!
//! What stays with each provider: its error type (through [`CallError`]), its endpoints and
//! span names (span names must be literals, so the caller makes the span), and how its
//! envelope says "error" (`errcode`, `data.error_code`, `err_no`, …).
//!
//! ```
//! use std::time::Duration;
//! use wechat_auth_client::transport_kit::{Replay, RetryPolicy};
//!
//! let policy = RetryPolicy { max_retries: 2, backoff: Duration::from_millis(100) };
//! // A temporary failure of a code exchange whose request surely never left: retried.
//! assert!(policy.allows(true, Replay::OnlyIfUnsent, false, 0));
//! // The same failure after the request may have reached the server: not retried.
//! assert!(!policy.allows(true, Replay::OnlyIfUnsent, true, 0));
//! ```

use std::time::{Duration, Instant};

use rand::Rng;
use tracing::Instrument;
use url::Url;

/// The largest response body a JSON API call accepts by default (provider JSON answers are a
/// few hundred bytes; this only bounds a hostile or broken answer).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Longest wait between two attempts, whatever the base backoff.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Whether sending the same request twice is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Replay {
    /// Reads and token fetches: retry every retryable failure, timeouts included.
    Safe,
    /// Calls that consume or create something (a code exchange, a refresh token renewal):
    /// retry only when the server surely did not act (nothing was sent) or said it did not
    /// (busy, HTTP 5xx). A timeout or a connection lost after sending is not retried.
    OnlyIfUnsent,
}

/// Retry settings: how many retries, and the first backoff (doubled each time, at most
/// [`MAX_BACKOFF`], plus up to 25 % jitter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// The first wait before a retry.
    pub backoff: Duration,
}

impl RetryPolicy {
    /// Whether a failed attempt is tried again: `retryable` is the error's own verdict,
    /// `maybe_acted` says the request may have reached the server without a complete answer
    /// (a timeout or a connection lost after sending), `retries_done` counts retries so far.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use wechat_auth_client::transport_kit::{Replay, RetryPolicy};
    ///
    /// let p = RetryPolicy { max_retries: 1, backoff: Duration::ZERO };
    /// assert!(p.allows(true, Replay::Safe, true, 0));
    /// assert!(!p.allows(true, Replay::Safe, true, 1)); // spent
    /// assert!(!p.allows(false, Replay::Safe, false, 0)); // a business error
    /// ```
    pub fn allows(
        &self,
        retryable: bool,
        replay: Replay,
        maybe_acted: bool,
        retries_done: u32,
    ) -> bool {
        retries_done < self.max_retries && retryable && (replay == Replay::Safe || !maybe_acted)
    }

    /// The wait before retry number `retries_done + 1`: `backoff × 2^retries_done`, at most
    /// [`MAX_BACKOFF`], plus up to 25 % random jitter.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let p = wechat_auth_client::transport_kit::RetryPolicy { max_retries: 3, backoff: Duration::from_millis(100) };
    /// let d = p.delay(1);
    /// assert!(d >= Duration::from_millis(200) && d <= Duration::from_millis(250));
    /// ```
    pub fn delay(&self, retries_done: u32) -> Duration {
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

/// What the shared call loop needs from a provider's error type.
pub trait CallError: std::error::Error + Sized {
    /// The server did not answer in time.
    fn timeout(endpoint: &'static str) -> Self;
    /// The request could not be sent or the answer not read (the URL is already stripped).
    fn transport(endpoint: &'static str, source: reqwest::Error) -> Self;
    /// A non-2xx HTTP status.
    fn http(endpoint: &'static str, status: u16) -> Self;
    /// An unreadable answer; `detail` never quotes the body.
    fn decode(endpoint: &'static str, detail: String) -> Self;
    /// Whether trying again can succeed (busy, timeout, transport, 5xx).
    fn is_retryable(&self) -> bool;
    /// The provider's error number, when the provider answered one (for logs and metrics).
    fn code(&self) -> Option<i64>;
    /// A short stable name of the error's kind (for logs).
    fn kind_name(&self) -> &'static str;
}

/// One endpoint's call, as the loop needs it.
#[derive(Debug, Clone, Copy)]
pub struct Call {
    /// The provider, in log messages (`"Douyin"`).
    pub provider: &'static str,
    /// The endpoint's path, in errors, logs and metrics.
    pub endpoint: &'static str,
    /// Whether a timed-out attempt may be sent again.
    pub replay: Replay,
    /// The largest body read; a longer one is a decode error.
    pub max_body: usize,
}

/// A 2xx answer, its body read (bounded) but not yet interpreted.
#[derive(Debug)]
#[non_exhaustive]
pub struct Answer {
    /// The HTTP status (2xx).
    pub status: u16,
    /// The `Content-Type` header, if any (lower-cased, parameters kept).
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

struct Failure<E> {
    error: E,
    /// Sent, but no complete answer: the server may have acted.
    maybe_acted: bool,
}

/// Sends the request `build` makes (once per attempt, with the shared client and `url`) until
/// `parse` accepts an answer or the policy says stop. Runs inside `span` (its `attempt` field,
/// if any, is filled in when the call ends); `record(endpoint, started, code)` is called after
/// every attempt (`Some(0)` on success, the provider's code, or `None` without a readable one).
#[allow(clippy::too_many_arguments)]
pub async fn execute<T, E, F, P, M>(
    http: &reqwest::Client,
    policy: RetryPolicy,
    url: Url,
    call: Call,
    span: tracing::Span,
    build: F,
    parse: P,
    record: M,
) -> Result<T, E>
where
    E: CallError,
    F: Fn(&reqwest::Client, Url) -> reqwest::RequestBuilder,
    P: Fn(&'static str, Answer) -> Result<T, E>,
    M: Fn(&'static str, Instant, Option<i64>),
{
    let Call {
        provider,
        endpoint,
        replay,
        ..
    } = call;
    let run = async {
        let started = Instant::now();
        let mut retries_done = 0_u32;
        loop {
            let attempt = retries_done + 1;
            match attempt_once(build(http, url.clone()), call, &parse).await {
                Ok(value) => {
                    tracing::Span::current().record("attempt", attempt);
                    record(endpoint, started, Some(0));
                    tracing::debug!(
                        attempt,
                        elapsed_ms = elapsed_ms(started),
                        "{provider} call succeeded"
                    );
                    return Ok(value);
                }
                Err(failure) => {
                    record(endpoint, started, failure.error.code());
                    let retry = policy.allows(
                        failure.error.is_retryable(),
                        replay,
                        failure.maybe_acted,
                        retries_done,
                    );
                    if !retry {
                        tracing::Span::current().record("attempt", attempt);
                    }
                    tracing::warn!(
                        attempt,
                        elapsed_ms = elapsed_ms(started),
                        errcode = failure.error.code(),
                        kind = %failure.error.kind_name(),
                        retry,
                        error = %failure.error,
                        "{provider} call failed"
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
    run.instrument(span).await
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

async fn attempt_once<T, E, P>(
    request: reqwest::RequestBuilder,
    call: Call,
    parse: &P,
) -> Result<T, Failure<E>>
where
    E: CallError,
    P: Fn(&'static str, Answer) -> Result<T, E>,
{
    let Call {
        provider,
        endpoint,
        max_body,
        ..
    } = call;
    let mut response = request.send().await.map_err(|err| {
        let err = err.without_url();
        let maybe_acted = !(err.is_connect() || err.is_builder());
        Failure {
            error: transport_error(endpoint, err),
            maybe_acted,
        }
    })?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(answered(E::http(endpoint, status)));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    if let Some(encoding) = response
        .headers()
        .get(reqwest::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity"))
    {
        let shown: String = encoding
            .chars()
            .take(32)
            .filter(|c| c.is_ascii_graphic())
            .collect();
        return Err(answered(E::decode(
            endpoint,
            format!(
                "the answer is compressed (Content-Encoding: {shown}), which this client did \
                 not ask for: a proxy between this server and {provider} is rewriting answers"
            ),
        )));
    }
    let body = read_body(&mut response, endpoint, max_body).await?;
    parse(
        endpoint,
        Answer {
            status,
            content_type,
            body,
        },
    )
    .map_err(answered)
}

fn answered<E>(error: E) -> Failure<E> {
    Failure {
        error,
        maybe_acted: false,
    }
}

fn transport_error<E: CallError>(endpoint: &'static str, err: reqwest::Error) -> E {
    let source = err.without_url();
    if source.is_timeout() {
        E::timeout(endpoint)
    } else {
        E::transport(endpoint, source)
    }
}

async fn read_body<E: CallError>(
    response: &mut reqwest::Response,
    endpoint: &'static str,
    max_body: usize,
) -> Result<Vec<u8>, Failure<E>> {
    let too_large = |len: u64| {
        answered(E::decode(
            endpoint,
            format!("response body of {len}+ bytes exceeds the {max_body}-byte limit"),
        ))
    };
    if let Some(len) = response.content_length()
        && len > max_body as u64
    {
        return Err(too_large(len));
    }
    let mut body = Vec::new();
    loop {
        let chunk = response.chunk().await.map_err(|err| Failure {
            error: transport_error(endpoint, err),
            maybe_acted: true,
        })?;
        let Some(chunk) = chunk else { break };
        if body.len() + chunk.len() > max_body {
            return Err(too_large((body.len() + chunk.len()) as u64));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The HTTP client every provider's client calls through: both timeouts (which must be
/// greater than zero), no redirect followed (an API answer is never a redirect), and its
/// `User-Agent`. The error says what is wrong, for the caller's own "invalid settings" error.
///
/// ```
/// use std::time::Duration;
/// use wechat_auth_client::transport_kit::http_client;
///
/// assert!(http_client(Duration::from_secs(3), Duration::from_secs(10), "ua/1").is_ok());
/// let err = http_client(Duration::ZERO, Duration::from_secs(10), "ua/1").unwrap_err();
/// assert_eq!(err, "timeouts must be greater than zero");
/// ```
pub fn http_client(
    connect_timeout: Duration,
    timeout: Duration,
    user_agent: &str,
) -> Result<reqwest::Client, String> {
    if timeout.is_zero() || connect_timeout.is_zero() {
        return Err("timeouts must be greater than zero".to_owned());
    }
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(user_agent)
        .build()
        .map_err(|e| format!("the HTTP client cannot be built: {e}"))
}

/// Reads `body` as one JSON object (a leading byte-order mark is ignored); the error is a
/// detail for a decode error that names lengths and positions, never the body's content.
///
/// ```
/// use wechat_auth_client::transport_kit::json_object;
///
/// assert_eq!(json_object(b"\xEF\xBB\xBF{\"a\":1}").unwrap()["a"], 1);
/// assert!(json_object(b"[\"secret\"]").unwrap_err().contains("an array"));
/// assert!(!json_object(b"<html>secret</html>").unwrap_err().contains("secret"));
/// ```
pub fn json_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if body.starts_with(&[0x1f, 0x8b]) {
        return Err(format!(
            "the answer is gzip-compressed without saying so ({} bytes)",
            body.len()
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "not JSON ({} bytes; {:?} error at line {} column {})",
            body.len(),
            e.classify(),
            e.line(),
            e.column()
        )
    })?;
    match value {
        serde_json::Value::Object(map) => Ok(map),
        other => Err(format!(
            "expected a JSON object, got {} ({} bytes)",
            json_type(&other),
            body.len()
        )),
    }
}

/// An error number as providers send it: a JSON number, or a numeric string (older answers,
/// sloppy proxies).
///
/// ```
/// use serde_json::json;
/// use wechat_auth_client::transport_kit::code_of;
///
/// assert_eq!(code_of(&json!(10008)), Some(10008));
/// assert_eq!(code_of(&json!(" 0 ")), Some(0));
/// assert_eq!(code_of(&json!(true)), None);
/// ```
pub fn code_of(raw: &serde_json::Value) -> Option<i64> {
    match raw {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// "a number", "an object", …: what a JSON value is, for decode details.
///
/// ```
/// assert_eq!(wechat_auth_client::transport_kit::json_type(&serde_json::json!([])), "an array");
/// ```
pub fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A serde data error as a decode detail: serde's messages may quote a value (a token), so
/// only those that name a field (missing, duplicate) are passed on.
///
/// ```
/// use wechat_auth_client::transport_kit::safe_data_error;
///
/// #[derive(serde::Deserialize, Debug)]
/// struct T { #[allow(dead_code)] n: u32 }
/// let e = serde_json::from_str::<T>(r#"{"n":"tok-123"}"#).unwrap_err();
/// assert!(!safe_data_error(&e, 12).contains("tok-123"));
/// ```
pub fn safe_data_error(err: &serde_json::Error, len: usize) -> String {
    let message = err.to_string();
    if message.starts_with("missing field") || message.starts_with("duplicate field") {
        format!("{message} ({len} bytes)")
    } else {
        format!("a field has an unexpected type or value ({len} bytes)")
    }
}

/// `s` cut to at most `max` bytes on a character boundary, with `…` when cut.
///
/// ```
/// assert_eq!(wechat_auth_client::transport_kit::truncate("错误", 4), "错…");
/// ```
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// One attempt of a call as the two metrics every provider client keeps: a counter
/// `requests{endpoint, code}` (`0` success, the provider's code, `none`) and a histogram
/// `duration{endpoint}` of the time since the call began.
pub fn record_call(
    requests: &'static str,
    duration: &'static str,
    endpoint: &'static str,
    started: Instant,
    code: Option<i64>,
) {
    let code = match code {
        Some(e) => std::borrow::Cow::Owned(e.to_string()),
        None => std::borrow::Cow::Borrowed("none"),
    };
    metrics::counter!(requests, "endpoint" => endpoint, "errcode" => code).increment(1);
    metrics::histogram!(duration, "endpoint" => endpoint).record(started.elapsed().as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_never_replays_an_ambiguous_exchange() {
        let p = RetryPolicy {
            max_retries: 2,
            backoff: Duration::from_millis(1),
        };
        for replay in [Replay::Safe, Replay::OnlyIfUnsent] {
            assert!(p.allows(true, replay, false, 1));
            assert!(!p.allows(true, replay, false, 2));
            assert!(!p.allows(false, replay, false, 0));
        }
        assert!(p.allows(true, Replay::Safe, true, 0));
        assert!(!p.allows(true, Replay::OnlyIfUnsent, true, 0));
    }

    #[test]
    fn backoff_is_bounded() {
        let p = RetryPolicy {
            max_retries: 5,
            backoff: Duration::from_millis(100),
        };
        for _ in 0..20 {
            let d = p.delay(0);
            assert!(d >= Duration::from_millis(100) && d <= Duration::from_millis(125));
        }
        assert!(p.delay(40) <= MAX_BACKOFF + MAX_BACKOFF / 4);
    }

    #[test]
    fn json_reading_never_quotes_the_body() {
        let secret = "SECRETVALUE_42";
        for body in [
            format!("<html>{secret}</html>"),
            format!(r#"["{secret}"]"#),
            format!(r#""{secret}""#),
        ] {
            let detail = json_object(body.as_bytes()).unwrap_err();
            assert!(!detail.contains(secret), "{detail}");
        }
        assert!(
            json_object(&[0x1f, 0x8b, 0, 0])
                .unwrap_err()
                .contains("gzip")
        );
        let long = "错".repeat(1000);
        let cut = truncate(&long, 1024);
        assert!(cut.len() <= 1024 + '…'.len_utf8() && cut.ends_with('…'));
    }
}
