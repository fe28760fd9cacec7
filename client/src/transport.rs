//! One WeChat call end to end: attempts, retry policy with backoff, bounded body, parsing.
//!
//! Parsing is the pure function [`parse_response`] over `(status, body bytes)`, so every answer
//! shape is unit-tested without a socket.

use serde::de::DeserializeOwned;
use url::Url;

use super::error::WechatError;
use super::types::{Ack, WxaCode, sniff_image};

/// The largest response body accepted (WeChat's JSON answers are a few hundred bytes).
pub(crate) const MAX_BODY_BYTES: usize = 1 << 20;

/// The longest `errmsg` kept (WeChat's are short; this only bounds a hostile answer).
const MAX_ERRMSG_BYTES: usize = 1024;

/// The WeChat API endpoints this client calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    OAuth2AccessToken,
    OAuth2RefreshToken,
    SnsUserinfo,
    SnsAuth,
    JsCode2Session,
    Token,
    StableToken,
    QrCodeCreate,
    UserInfo,
    PhoneNumber,
    CheckSession,
    WxaCodeUnlimit,
    GenerateUrlLink,
    GenerateScheme,
}

impl Endpoint {
    /// The path under the API base; also the `endpoint` of errors and spans.
    pub(crate) fn path(self) -> &'static str {
        match self {
            Self::OAuth2AccessToken => "sns/oauth2/access_token",
            Self::OAuth2RefreshToken => "sns/oauth2/refresh_token",
            Self::SnsUserinfo => "sns/userinfo",
            Self::SnsAuth => "sns/auth",
            Self::JsCode2Session => "sns/jscode2session",
            Self::Token => "cgi-bin/token",
            Self::StableToken => "cgi-bin/stable_token",
            Self::QrCodeCreate => "cgi-bin/qrcode/create",
            Self::UserInfo => "cgi-bin/user/info",
            Self::PhoneNumber => "wxa/business/getuserphonenumber",
            Self::CheckSession => "wxa/checksession",
            Self::WxaCodeUnlimit => "wxa/getwxacodeunlimit",
            Self::GenerateUrlLink => "wxa/generate_urllink",
            Self::GenerateScheme => "wxa/generatescheme",
        }
    }

    /// One span per call, named after the endpoint (span names must be literals). `attempt`
    /// is filled in when the call ends: the number of attempts it took.
    fn span(self) -> tracing::Span {
        use tracing::field::Empty;
        let endpoint = self.path();
        match self {
            Self::OAuth2AccessToken => {
                tracing::info_span!("sns/oauth2/access_token", endpoint, attempt = Empty)
            }
            Self::OAuth2RefreshToken => {
                tracing::info_span!("sns/oauth2/refresh_token", endpoint, attempt = Empty)
            }
            Self::SnsUserinfo => tracing::info_span!("sns/userinfo", endpoint, attempt = Empty),
            Self::SnsAuth => tracing::info_span!("sns/auth", endpoint, attempt = Empty),
            Self::JsCode2Session => {
                tracing::info_span!("sns/jscode2session", endpoint, attempt = Empty)
            }
            Self::Token => tracing::info_span!("cgi-bin/token", endpoint, attempt = Empty),
            Self::StableToken => {
                tracing::info_span!("cgi-bin/stable_token", endpoint, attempt = Empty)
            }
            Self::QrCodeCreate => {
                tracing::info_span!("cgi-bin/qrcode/create", endpoint, attempt = Empty)
            }
            Self::UserInfo => tracing::info_span!("cgi-bin/user/info", endpoint, attempt = Empty),
            Self::PhoneNumber => {
                tracing::info_span!("wxa/business/getuserphonenumber", endpoint, attempt = Empty)
            }
            Self::CheckSession => {
                tracing::info_span!("wxa/checksession", endpoint, attempt = Empty)
            }
            Self::WxaCodeUnlimit => {
                tracing::info_span!("wxa/getwxacodeunlimit", endpoint, attempt = Empty)
            }
            Self::GenerateUrlLink => {
                tracing::info_span!("wxa/generate_urllink", endpoint, attempt = Empty)
            }
            Self::GenerateScheme => {
                tracing::info_span!("wxa/generatescheme", endpoint, attempt = Empty)
            }
        }
    }
}

use crate::transport_kit::{self, CallError};
pub(crate) use crate::transport_kit::{Answer, Replay, RetryPolicy};

impl CallError for WechatError {
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
        WechatError::is_retryable(self)
    }
    fn code(&self) -> Option<i64> {
        self.errcode()
    }
    fn kind_name(&self) -> &'static str {
        self.kind().as_str()
    }
}

/// Sends the request made by `build` until it succeeds or the policy says stop.
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
) -> Result<T, WechatError>
where
    T: DeserializeOwned,
    F: Fn(&reqwest::Client, Url) -> reqwest::RequestBuilder,
{
    let call = Call {
        endpoint,
        replay,
        max_body: MAX_BODY_BYTES,
    };
    execute_with(http, policy, api_base, call, build, |path, answer| {
        parse_response(path, answer.status, &answer.body)
    })
    .await
}

/// What [`execute_with`] needs to know about one endpoint.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call {
    pub(crate) endpoint: Endpoint,
    pub(crate) replay: Replay,
    /// The largest body read; a longer one is a [`WechatError::Decode`].
    pub(crate) max_body: usize,
}

/// [`execute`] for answers that are not (only) JSON: `parse` turns each read answer into the
/// value or an error (a retryable one, such as `-1`, is retried as usual). The attempts,
/// backoff, bounded body and logs are the shared [`transport_kit`]'s.
pub(crate) async fn execute_with<T, F, P>(
    http: &reqwest::Client,
    policy: RetryPolicy,
    api_base: &Url,
    call: Call,
    build: F,
    parse: P,
) -> Result<T, WechatError>
where
    F: Fn(&reqwest::Client, Url) -> reqwest::RequestBuilder,
    P: Fn(&'static str, Answer) -> Result<T, WechatError>,
{
    let Call {
        endpoint,
        replay,
        max_body,
    } = call;
    let url = api_base.join(endpoint.path()).map_err(|e| {
        WechatError::InvalidConfig(format!("cannot join the API base URL and a path: {e}"))
    })?;
    let kit_call = transport_kit::Call {
        provider: "WeChat",
        endpoint: endpoint.path(),
        replay,
        max_body,
    };
    transport_kit::execute(
        http,
        policy,
        url,
        kit_call,
        endpoint.span(),
        build,
        parse,
        crate::metrics::wechat_call,
    )
    .await
}

/// The error for an answer compressed although no compression was asked for.
fn unasked_encoding(endpoint: &'static str, encoding: &str) -> WechatError {
    let shown: String = encoding
        .chars()
        .take(32)
        .filter(|c| c.is_ascii_graphic())
        .collect();
    WechatError::Decode {
        endpoint,
        detail: format!(
            "the answer is compressed (Content-Encoding: {shown}), which this client did not \
             ask for: a proxy between this server and WeChat is rewriting answers"
        ),
    }
}

/// Whether `body` starts with the gzip magic bytes.
fn is_gzip(body: &[u8]) -> bool {
    body.starts_with(&[0x1f, 0x8b])
}

/// Turns an HTTP answer into a value or an error, whatever its `Content-Type`.
///
/// - non-2xx status → [`WechatError::Http`];
/// - a JSON object with a non-zero `errcode` → [`WechatError::Api`] (errmsg kept);
/// - otherwise the object is decoded as `T` (an `errcode: 0` next to the data is fine);
/// - anything unreadable → [`WechatError::Decode`], whose detail never quotes the body.
pub(crate) fn parse_response<T: DeserializeOwned>(
    endpoint: &'static str,
    status: u16,
    body: &[u8],
) -> Result<T, WechatError> {
    if !(200..300).contains(&status) {
        return Err(WechatError::Http { endpoint, status });
    }
    let decode = |detail: String| WechatError::Decode { endpoint, detail };
    if body.len() > MAX_BODY_BYTES {
        return Err(decode(format!(
            "response body of {} bytes exceeds the {MAX_BODY_BYTES}-byte limit",
            body.len()
        )));
    }
    if is_gzip(body) {
        // Compressed bytes without a Content-Encoding label.
        return Err(unasked_encoding(endpoint, "gzip"));
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
            return Err(WechatError::Api {
                endpoint,
                errcode,
                errmsg,
            });
        }
    }
    T::deserialize(value).map_err(|e| decode(safe_data_error(&e, body.len())))
}

/// Turns a `wxa/getwxacodeunlimit` answer into an image or an error (protocol §18.2).
///
/// A JSON label (`application/json`) or a body starting with `{` is an error answer: parsed
/// as one (a JSON object without a non-zero errcode is a [`WechatError::Decode`]). Otherwise
/// the type is sniffed from the bytes — WeChat labels every image `image/jpeg`, PNGs too —
/// and anything neither PNG nor JPEG is a [`WechatError::Decode`].
pub(crate) fn parse_wxa_code(
    endpoint: &'static str,
    answer: Answer,
) -> Result<WxaCode, WechatError> {
    let Answer {
        status,
        content_type,
        body,
    } = answer;
    let json_label = content_type
        .as_deref()
        .is_some_and(|t| t.trim_start().starts_with("application/json"));
    let looks_json = body
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(&body)
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        == Some(&b'{');
    if json_label || looks_json {
        let Ack {} = parse_response(endpoint, status, &body)?;
        return Err(WechatError::Decode {
            endpoint,
            detail: format!(
                "a JSON answer without errcode instead of an image ({} bytes)",
                body.len()
            ),
        });
    }
    if !(200..300).contains(&status) {
        return Err(WechatError::Http { endpoint, status });
    }
    match sniff_image(&body) {
        Some(content_type) => Ok(WxaCode {
            bytes: bytes::Bytes::from(body),
            content_type,
        }),
        None => Err(WechatError::Decode {
            endpoint,
            detail: format!(
                "the answer is neither a PNG nor a JPEG ({} bytes)",
                body.len()
            ),
        }),
    }
}

/// errcode as WeChat sends it (a number), or a numeric string from a sloppy proxy.
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

/// serde's data errors may quote a value (`invalid type: string "…"`), and a value here may be
/// a token. Only messages that name a field, never a value, are passed on.
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
    use crate::ErrorKind;
    use crate::types::{GlobalToken, MiniSession, OAuthToken, OaUserInfo, QrTicket, UserInfo};

    const EP: &str = "sns/oauth2/access_token";

    fn ok<T: DeserializeOwned>(body: &str) -> T {
        match parse_response::<T>(EP, 200, body.as_bytes()) {
            Ok(v) => v,
            Err(e) => panic!("{body}: {e}"),
        }
    }

    fn api_err<T: DeserializeOwned + std::fmt::Debug>(body: &str) -> (i64, String) {
        match parse_response::<T>(EP, 200, body.as_bytes()) {
            Err(WechatError::Api {
                endpoint,
                errcode,
                errmsg,
            }) => {
                assert_eq!(endpoint, EP);
                (errcode, errmsg)
            }
            other => panic!("{body}: expected Api error, got {other:?}"),
        }
    }

    fn decode_err<T: DeserializeOwned + std::fmt::Debug>(body: &[u8]) -> String {
        match parse_response::<T>(EP, 200, body) {
            Err(WechatError::Decode { detail, .. }) => detail,
            other => panic!("expected Decode error, got {other:?}"),
        }
    }

    #[test]
    fn oauth_token_sample_bodies() {
        let t: OAuthToken = ok(
            r#"{"access_token":"ACCESS_TOKEN","expires_in":7200,"refresh_token":"REFRESH_TOKEN","openid":"OPENID","scope":"snsapi_userinfo","unionid":"UNIONID"}"#,
        );
        assert_eq!(t.access_token.expose(), "ACCESS_TOKEN");
        assert_eq!(t.refresh_token.expose(), "REFRESH_TOKEN");
        assert_eq!(t.expires_in, 7200);
        assert_eq!(t.openid, "OPENID");
        assert_eq!(t.scope, "snsapi_userinfo");
        assert_eq!(t.unionid.as_deref(), Some("UNIONID"));
        assert!(!t.is_snapshotuser);

        let snap: OAuthToken = ok(
            r#"{"access_token":"ACCESS_TOKEN","expires_in":7200,"refresh_token":"REFRESH_TOKEN","openid":"OPENID","scope":"snsapi_userinfo","is_snapshotuser":1,"unionid":"UNIONID"}"#,
        );
        assert!(snap.is_snapshotuser);

        // snsapi_base: no unionid; an explicit errcode 0 is still success.
        let base: OAuthToken = ok(
            r#"{"errcode":0,"errmsg":"ok","access_token":"A","expires_in":7200,"refresh_token":"R","openid":"O","scope":"snsapi_base"}"#,
        );
        assert_eq!(base.unionid, None);
        assert!(!base.is_snapshotuser);
        let zero: OAuthToken = ok(
            r#"{"access_token":"A","expires_in":7200,"refresh_token":"R","openid":"O","scope":"snsapi_base","is_snapshotuser":0}"#,
        );
        assert!(!zero.is_snapshotuser);
    }

    #[test]
    fn refresh_sample_body() {
        let t: OAuthToken = ok(
            r#"{"access_token":"ACCESS_TOKEN","expires_in":7200,"refresh_token":"REFRESH_TOKEN","openid":"OPENID","scope":"SCOPE"}"#,
        );
        assert_eq!(t.scope, "SCOPE");
        assert_eq!(t.unionid, None);
        assert!(!t.is_snapshotuser);
        assert_eq!(
            api_err::<OAuthToken>(r#"{"errcode":40030,"errmsg":"invalid refresh_token"}"#).0,
            40030
        );
    }

    #[test]
    fn error_bodies_with_rid_suffixes() {
        let (code, msg) = api_err::<OAuthToken>(r#"{"errcode":40029,"errmsg":"invalid code"}"#);
        assert_eq!((code, msg.as_str()), (40029, "invalid code"));
        let (code, msg) = api_err::<OAuthToken>(
            r#"{"errcode":40163,"errmsg":"code been used, rid: 6512a0f1-1b2c3d4e-5f607182"}"#,
        );
        assert_eq!(code, 40163);
        assert_eq!(msg, "code been used, rid: 6512a0f1-1b2c3d4e-5f607182");
        let (code, _) = api_err::<MiniSession>(
            r#"{"errcode":45011,"errmsg":"api minute-quota reach limit, must slower, retry next minute, rid: 658c03c7-029c8f19-07211e07"}"#,
        );
        assert_eq!(code, 45011);
        let (code, msg) = api_err::<GlobalToken>(
            r#"{"errcode":40001,"errmsg":"invalid credential, access_token is invalid or not latest, could get access_token by getStableAccessToken, more details at https://mmbizurl.cn/s/JtxxFh33r hints: [ req_id: qJlaJTNre-RfDw4 ]"}"#,
        );
        assert_eq!(code, 40001);
        assert!(msg.contains("req_id"));
    }

    #[test]
    fn negative_errcode_is_an_error_and_retryable() {
        let err =
            parse_response::<GlobalToken>(EP, 200, br#"{"errcode":-1,"errmsg":"system error"}"#)
                .unwrap_err();
        assert_eq!(err.errcode(), Some(-1));
        assert_eq!(err.kind(), ErrorKind::Retryable);
    }

    #[test]
    fn errcode_without_errmsg_and_as_string() {
        let (code, msg) = api_err::<Ack>(r#"{"errcode":40003}"#);
        assert_eq!((code, msg.as_str()), (40003, ""));
        assert_eq!(
            api_err::<Ack>(r#"{"errcode":"42001","errmsg":"x"}"#).0,
            42001
        );
        let detail = decode_err::<Ack>(br#"{"errcode":true}"#);
        assert!(detail.contains("not an integer"), "{detail}");
    }

    #[test]
    fn sns_auth_bodies() {
        let _: Ack = ok(r#"{"errcode":0,"errmsg":"ok"}"#);
        let (code, _) = api_err::<Ack>(r#"{"errcode":40003,"errmsg":"invalid openid"}"#);
        assert_eq!(code, 40003);
        assert_eq!(
            api_err::<Ack>(r#"{"errcode":40014,"errmsg":"invalid access_token"}"#).0,
            40014
        );
    }

    #[test]
    fn userinfo_bodies() {
        let u: UserInfo = ok(
            r#"{"openid":"OPENID","nickname":"NICKNAME","sex":0,"province":"","city":"","country":"","headimgurl":"https://thirdwx.qlogo.cn/mmopen/g3MonUZtNHkdmzicIlibx6iaFqAc56vxLSUfpb6n5WKSYVY0ChQKkiaJSgQ1dZuTOgvLLrhJbERQQ4eMsv84eavHiaiceqxibJxCfHe/132","privilege":[],"unionid":"UNIONID"}"#,
        );
        assert_eq!(u.openid, "OPENID");
        assert_eq!(u.nickname, "NICKNAME");
        assert!(u.headimgurl.ends_with("/132"));
        assert_eq!(u.unionid.as_deref(), Some("UNIONID"));

        let old: UserInfo = ok(
            r#"{"openid":"O","nickname":"Band","sex":1,"province":"广东","city":"广州","country":"中国","headimgurl":"","privilege":["chinaunicom"]}"#,
        );
        assert_eq!(old.sex, 1);
        assert_eq!(old.city, "广州");
        assert_eq!(old.privilege, ["chinaunicom"]);
        assert_eq!(old.unionid, None);

        let sparse: UserInfo = ok(r#"{"openid":"O"}"#);
        assert_eq!(sparse.nickname, "");
        assert!(sparse.privilege.is_empty());

        assert_eq!(
            api_err::<UserInfo>(r#"{"errcode":48001,"errmsg":"api unauthorized"}"#).0,
            48001
        );
        assert_eq!(
            api_err::<UserInfo>(r#"{"errcode":42001,"errmsg":"access_token expired"}"#).0,
            42001
        );
    }

    #[test]
    fn sex_as_string_and_ids_with_stray_spaces_still_decode() {
        // The shape of wechatpy's recorded sns/userinfo body: sex as a string.
        let u: UserInfo = ok(
            r#"{"openid":" OPENID","nickname":"N","sex":"1","headimgurl":"http:\/\/wx.qlogo.cn\/mmopen\/x\/46","privilege":["PRIVILEGE1"],"unionid":" o6_bmasdasdsad6_2sgVt7hMZOPfL"}"#,
        );
        assert_eq!(u.sex, 1);
        assert_eq!(u.openid, "OPENID");
        assert_eq!(u.unionid.as_deref(), Some("o6_bmasdasdsad6_2sgVt7hMZOPfL"));
        assert_eq!(u.headimgurl, "http://wx.qlogo.cn/mmopen/x/46");
        for (raw, sex) in [
            ("\"2\"", 2),
            ("2", 2),
            ("\"\"", 0),
            ("\"x\"", 0),
            ("7", 0),
            ("-1", 0),
            ("null", 0),
            ("1.0", 0),
        ] {
            let u: UserInfo = ok(&format!(r#"{{"openid":"O","sex":{raw}}}"#));
            assert_eq!(u.sex, sex, "{raw}");
        }
        let t: OAuthToken = ok(
            r#"{"access_token":"A","expires_in":7200,"refresh_token":"R","openid":"O ","unionid":"  "}"#,
        );
        assert_eq!((t.openid.as_str(), t.unionid), ("O", None));
        let m: MiniSession = ok(r#"{"openid":"\tO\n","session_key":"k","unionid":" U"}"#);
        assert_eq!((m.openid.as_str(), m.unionid.as_deref()), ("O", Some("U")));
        assert!(
            decode_err::<OAuthToken>(br#"{"access_token":"A","expires_in":1,"refresh_token":"R"}"#)
                .contains("openid")
        );
    }

    #[test]
    fn gzip_bytes_are_refused_by_name() {
        let detail = decode_err::<GlobalToken>(b"\x1f\x8b\x08\x00\x00\x00\x00\x00");
        assert!(detail.contains("compressed"), "{detail}");
        assert!(
            unasked_encoding(EP, "br\r\n")
                .to_string()
                .contains("Content-Encoding: br")
        );
    }

    #[test]
    fn jscode2session_bodies() {
        let s: MiniSession = ok(
            r#"{"openid":"oUSERopenid000000000000000001","session_key":"tiihtNczf5v6AKRyjwEUhQ==","unionid":"oUNIONid0000000000000000001"}"#,
        );
        assert_eq!(s.openid, "oUSERopenid000000000000000001");
        assert_eq!(s.session_key.expose(), "tiihtNczf5v6AKRyjwEUhQ==");
        assert_eq!(s.unionid.as_deref(), Some("oUNIONid0000000000000000001"));
        // The doc example carries errcode 0 in a success; older answers had expires_in.
        let s: MiniSession =
            ok(r#"{"openid":"O","session_key":"K","errcode":0,"errmsg":"ok","expires_in":7200}"#);
        assert_eq!(s.unionid, None);
        assert_eq!(
            api_err::<MiniSession>(r#"{"errcode":40226,"errmsg":"code blocked"}"#).0,
            40226
        );
        assert_eq!(
            api_err::<MiniSession>(r#"{"errcode":40029,"errmsg":"invalid code"}"#).0,
            40029
        );
    }

    #[test]
    fn global_token_bodies() {
        let t: GlobalToken = ok(r#"{"access_token":"ACCESS_TOKEN","expires_in":7200}"#);
        assert_eq!(t.access_token.expose(), "ACCESS_TOKEN");
        assert_eq!(t.expires_in, 7200);
        assert_eq!(
            api_err::<GlobalToken>(r#"{"errcode":40013,"errmsg":"invalid appid"}"#).0,
            40013
        );
        assert_eq!(
            api_err::<GlobalToken>(r#"{"errcode":40164,"errmsg":"invalid ip 1.2.3.4 ipv6 ::ffff:1.2.3.4, not in whitelist"}"#).0,
            40164
        );
    }

    #[test]
    fn qr_ticket_bodies() {
        let t: QrTicket = ok(
            r#"{"ticket":"gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw==","expire_seconds":60,"url":"http://weixin.qq.com/q/kZgfwMTm72WWPkovabbI"}"#,
        );
        assert!(t.ticket.ends_with("=="));
        assert_eq!(t.expire_seconds, Some(60));
        assert_eq!(t.url, "http://weixin.qq.com/q/kZgfwMTm72WWPkovabbI");
        let permanent: QrTicket = ok(r#"{"ticket":"T","url":"http://weixin.qq.com/q/x"}"#);
        assert_eq!(permanent.expire_seconds, None);
        assert_eq!(
            api_err::<QrTicket>(r#"{"errcode":40053,"errmsg":"invalid action info"}"#).0,
            40053
        );
    }

    #[test]
    fn oa_user_info_body() {
        let u: OaUserInfo = ok(
            r#"{"subscribe":1,"openid":"O","tagid_list":[],"nickname":"","language":"zh_CN","headimgurl":"","subscribe_time":1609143357,"remark":"","groupid":0,"subscribe_scene":"ADD_SCENE_QR_CODE","qr_scene":0,"qr_scene_str":"login_x"}"#,
        );
        assert!(u.subscribe);
        assert_eq!(u.qr_scene_str, "login_x");
    }

    fn wxa(content_type: Option<&str>, body: &[u8]) -> Result<WxaCode, WechatError> {
        let answer = Answer {
            status: 200,
            content_type: content_type.map(str::to_owned),
            body: body.to_vec(),
        };
        parse_wxa_code("wxa/getwxacodeunlimit", answer)
    }

    #[test]
    fn wxa_code_type_comes_from_the_bytes_not_the_header() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        let code = wxa(Some("image/jpeg"), png).unwrap();
        assert_eq!(code.content_type, "image/png");
        assert_eq!(&code.bytes[..], png);
        let jpeg = b"\xFF\xD8\xFF\xE0\0\x10JFIF";
        assert_eq!(
            wxa(Some("image/png"), jpeg).unwrap().content_type,
            "image/jpeg"
        );
        assert_eq!(wxa(None, jpeg).unwrap().content_type, "image/jpeg");
    }

    #[test]
    fn wxa_code_errors_are_json_by_label_or_by_first_byte() {
        let body = br#"{"errcode":40169,"errmsg":"invalid length for scene, or the data is not json string"}"#;
        for label in [
            Some("application/json; charset=utf-8"),
            Some("image/jpeg"),
            Some("text/plain"),
            None,
        ] {
            let err = wxa(label, body).unwrap_err();
            assert_eq!(err.errcode(), Some(40169), "{label:?}");
        }
        let err = wxa(
            Some("image/jpeg"),
            b"  \n{\"errcode\":-1,\"errmsg\":\"system error\"}",
        )
        .unwrap_err();
        assert!(err.is_retryable());
        // Labelled JSON but not JSON, or JSON without an errcode: unreadable, not an image.
        let err = wxa(Some("application/json"), b"\x89PNG\r\n").unwrap_err();
        assert!(matches!(err, WechatError::Decode { .. }), "{err:?}");
        let err = wxa(None, br#"{"errcode":0}"#).unwrap_err();
        assert!(matches!(err, WechatError::Decode { .. }), "{err:?}");
        for junk in [&b""[..], b"GIF89a", b"<html>"] {
            let err = wxa(Some("image/jpeg"), junk).unwrap_err();
            assert!(
                matches!(err, WechatError::Decode { ref detail, .. } if detail.contains("neither")),
                "{err:?}"
            );
        }
    }

    #[test]
    fn text_plain_labelled_json_is_parsed() {
        // The parser never sees Content-Type: bytes are parsed as JSON whatever the label.
        let body = b"{\"access_token\":\"A\",\"expires_in\":7200}\n";
        let t: GlobalToken = parse_response("cgi-bin/token", 200, body).unwrap();
        assert_eq!(t.expires_in, 7200);
        let with_bom = b"\xEF\xBB\xBF{\"access_token\":\"A\",\"expires_in\":7200}";
        assert!(parse_response::<GlobalToken>("cgi-bin/token", 200, with_bom).is_ok());
    }

    #[test]
    fn non_2xx_is_http_error_whatever_the_body() {
        for status in [301, 404, 500, 503] {
            let err = parse_response::<GlobalToken>(
                "cgi-bin/token",
                status,
                br#"{"access_token":"A","expires_in":7200}"#,
            )
            .unwrap_err();
            assert!(
                matches!(err, WechatError::Http { status: s, endpoint: "cgi-bin/token" } if s == status)
            );
            assert_eq!(err.is_retryable(), status >= 500);
        }
    }

    #[test]
    fn decode_errors_never_quote_the_body() {
        let secret = "SECRETVALUE_9f8e7d";
        let bodies: Vec<Vec<u8>> = vec![
            format!("<html>{secret}</html>").into_bytes(),
            format!("{{\"access_token\":{{\"x\":\"{secret}\"}},\"expires_in\":1}}").into_bytes(),
            format!("{{\"access_token\":\"{secret}\",\"expires_in\":\"{secret}\"}}").into_bytes(),
            format!("[\"{secret}\"]").into_bytes(),
            format!("{{\"access_token\":\"{secret}\"").into_bytes(),
        ];
        for body in bodies {
            let detail = decode_err::<GlobalToken>(&body);
            assert!(!detail.contains(secret), "{detail}");
            assert!(detail.contains("bytes"), "{detail}");
            let err = parse_response::<GlobalToken>(EP, 200, &body).unwrap_err();
            assert!(!format!("{err} {err:?}").contains(secret));
        }
    }

    #[test]
    fn missing_required_field_is_named() {
        let detail = decode_err::<GlobalToken>(br#"{"expires_in":7200}"#);
        assert!(detail.contains("missing field `access_token`"), "{detail}");
        let detail =
            decode_err::<OAuthToken>(br#"{"access_token":"A","expires_in":1,"refresh_token":"R"}"#);
        assert!(detail.contains("`openid`"), "{detail}");
    }

    #[test]
    fn empty_and_odd_bodies_are_decode_errors() {
        assert!(decode_err::<Ack>(b"").contains("not JSON"));
        assert!(decode_err::<Ack>(b"null").contains("null"));
        assert!(decode_err::<Ack>(b"\"ok\"").contains("a string"));
        assert!(decode_err::<Ack>(b"[]").contains("an array"));
        let _: Ack = ok("{}");
    }

    #[test]
    fn oversized_bodies_are_refused() {
        let mut body = b"{\"a\":\"".to_vec();
        body.resize(MAX_BODY_BYTES + 10, b'x');
        let detail = decode_err::<Ack>(&body);
        assert!(detail.contains("exceeds"), "{detail}");
    }

    #[test]
    fn long_errmsg_is_truncated_on_a_char_boundary() {
        let long = "错".repeat(1000);
        let body = format!(r#"{{"errcode":40029,"errmsg":"{long}"}}"#);
        let (_, msg) = api_err::<Ack>(&body);
        assert!(msg.len() <= MAX_ERRMSG_BYTES + '…'.len_utf8());
        assert!(msg.ends_with('…'));
    }

    use crate::transport_kit::MAX_BACKOFF;
    use std::time::Duration;

    /// How far a failed attempt got (the shared loop's `maybe_acted` is `Unknown`).
    #[derive(Clone, Copy)]
    enum Phase {
        NotSent,
        Unknown,
        Answered,
    }

    struct Failure {
        error: WechatError,
        phase: Phase,
    }

    fn failure(error: WechatError, phase: Phase) -> Failure {
        Failure { error, phase }
    }

    /// The shared policy, asked the way the shared loop asks it.
    trait ShouldRetry {
        fn should_retry(&self, f: &Failure, replay: Replay, retries_done: u32) -> bool;
    }

    impl ShouldRetry for RetryPolicy {
        fn should_retry(&self, f: &Failure, replay: Replay, retries_done: u32) -> bool {
            let _ = matches!(f.phase, Phase::NotSent | Phase::Answered);
            self.allows(
                f.error.is_retryable(),
                replay,
                matches!(f.phase, Phase::Unknown),
                retries_done,
            )
        }
    }

    #[test]
    fn retry_policy() {
        let policy = RetryPolicy {
            max_retries: 2,
            backoff: Duration::from_millis(1),
        };
        let busy = || WechatError::Api {
            endpoint: EP,
            errcode: -1,
            errmsg: "system error".into(),
        };
        let used = WechatError::Api {
            endpoint: EP,
            errcode: 40163,
            errmsg: String::new(),
        };
        let timeout = || WechatError::Timeout { endpoint: EP };
        let http = |status| WechatError::Http {
            endpoint: EP,
            status,
        };

        // -1 and 5xx are retried for every call, up to the limit.
        for replay in [Replay::Safe, Replay::OnlyIfUnsent] {
            assert!(policy.should_retry(&failure(busy(), Phase::Answered), replay, 0));
            assert!(policy.should_retry(&failure(busy(), Phase::Answered), replay, 1));
            assert!(!policy.should_retry(&failure(busy(), Phase::Answered), replay, 2));
            assert!(policy.should_retry(&failure(http(502), Phase::Answered), replay, 0));
            assert!(!policy.should_retry(&failure(http(404), Phase::Answered), replay, 0));
            // A timeout before anything was sent (connect) is retried for both.
            assert!(policy.should_retry(&failure(timeout(), Phase::NotSent), replay, 0));
        }
        // Business errors never are.
        assert!(!policy.should_retry(&failure(used, Phase::Answered), Replay::Safe, 0));
        // A timeout after sending: only for calls that are safe to replay.
        assert!(policy.should_retry(&failure(timeout(), Phase::Unknown), Replay::Safe, 0));
        assert!(!policy.should_retry(&failure(timeout(), Phase::Unknown), Replay::OnlyIfUnsent, 0));
        let none = RetryPolicy {
            max_retries: 0,
            backoff: Duration::from_millis(1),
        };
        assert!(!none.should_retry(&failure(busy(), Phase::Answered), Replay::Safe, 0));
    }

    #[test]
    fn backoff_grows_exponentially_with_bounded_jitter() {
        let policy = RetryPolicy {
            max_retries: 5,
            backoff: Duration::from_millis(100),
        };
        for _ in 0..50 {
            let d0 = policy.delay(0);
            let d1 = policy.delay(1);
            let d2 = policy.delay(2);
            assert!(d0 >= Duration::from_millis(100) && d0 <= Duration::from_millis(125));
            assert!(d1 >= Duration::from_millis(200) && d1 <= Duration::from_millis(250));
            assert!(d2 >= Duration::from_millis(400) && d2 <= Duration::from_millis(500));
        }
        assert!(policy.delay(40) <= MAX_BACKOFF + MAX_BACKOFF / 4);
        let zero = RetryPolicy {
            max_retries: 1,
            backoff: Duration::ZERO,
        };
        assert_eq!(zero.delay(3), Duration::ZERO);
    }

    #[test]
    fn endpoint_paths_are_distinct() {
        let all = [
            Endpoint::OAuth2AccessToken,
            Endpoint::OAuth2RefreshToken,
            Endpoint::SnsUserinfo,
            Endpoint::SnsAuth,
            Endpoint::JsCode2Session,
            Endpoint::Token,
            Endpoint::StableToken,
            Endpoint::QrCodeCreate,
            Endpoint::UserInfo,
            Endpoint::PhoneNumber,
            Endpoint::CheckSession,
            Endpoint::WxaCodeUnlimit,
            Endpoint::GenerateUrlLink,
            Endpoint::GenerateScheme,
        ];
        let mut paths: Vec<_> = all.iter().map(|e| e.path()).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), all.len());
    }
}
