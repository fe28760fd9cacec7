//! Mini program server APIs (`wxa/*`): the phone number behind a `getPhoneNumber` button
//! code, the session-key check and the unlimited mini program code (protocol §17, §18).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::Mac as _;
use serde_json::{Value, json};

use super::cgi::{global_app, json_body, qr_png_sized};
use super::clock::unix_secs;
use super::config::{AppKind, MockApp};
use super::errors::{WxError, json};
use super::params::Params;
use super::state::Shared;

/// The longest scene (visible characters).
pub(crate) const MAX_SCENE_CHARS: usize = 32;
/// Punctuation allowed in a scene besides digits and ASCII letters (protocol §18.1).
const SCENE_PUNCTUATION: &str = "!#$&'()*+,/:;=?@-._~";
/// The host the mock's mini program codes point at (what a phone would read).
pub(crate) const WXA_CODE_BASE: &str = "https://mock.weixin.qq.com/mp/scene";

type Answer = Result<Value, WxError>;

fn respond(answer: Answer) -> Response {
    match answer {
        Ok(v) => json(&v),
        Err(e) => e.into_response(),
    }
}

/// The scene rules of `getwxacodeunlimit`: 1..=32 characters (40169) of digits, ASCII
/// letters and `!#$&'()*+,/:;=?@-._~` (40129).
pub(crate) fn check_scene(scene: &str) -> Result<(), WxError> {
    let chars = scene.chars().count();
    if chars == 0 || chars > MAX_SCENE_CHARS {
        return Err(WxError::new(40169));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || SCENE_PUNCTUATION.contains(c);
    if !scene.chars().all(allowed) {
        return Err(WxError::new(40129));
    }
    Ok(())
}

/// The global token's app, which must be a mini program (else 48001).
fn mini_token<'a>(s: &'a Shared, p: &Params) -> Result<&'a MockApp, WxError> {
    let app = global_app(s, p)?;
    if app.kind != AppKind::MiniProgram {
        return Err(WxError::new(48001));
    }
    Ok(app)
}

/// `POST /wxa/business/getuserphonenumber?access_token=…` `{"code", "openid"?}`
pub(crate) async fn phone_number(
    State(s): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    respond(phone(&s, &Params::parse(q.as_deref()), &body))
}

fn phone(s: &Shared, p: &Params, body: &Bytes) -> Answer {
    let app = global_app(s, p)?;
    let body = json_body(body)?;
    let code = body
        .get("code")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .ok_or(WxError::new(41008))?;
    let openid = match body.get("openid") {
        None | Some(Value::Null) => None,
        Some(Value::String(o)) => Some(o.as_str()),
        Some(_) => return Err(WxError::new(47001)),
    };
    let now = s.now();
    let mut inner = s.lock();
    let record = inner.phone_codes.get_mut(code).ok_or(WxError::new(40029))?;
    // A code of another mini program, or another app's token (protocol §17.1).
    if record.appid != app.appid {
        return Err(WxError::new(40013));
    }
    if record.used || record.expires_at <= now {
        return Err(WxError::new(40029));
    }
    if openid.is_some_and(|o| o != record.openid) {
        return Err(WxError::with_detail(
            40003,
            "invalid openid, the code belongs to another user",
        ));
    }
    record.used = true;
    let user = record.user.clone();
    drop(inner);
    let phone = s.user(&user).map(|u| u.phone.clone()).unwrap_or_default();
    Ok(json!({
        "errcode": 0,
        "errmsg": "ok",
        "phone_info": {
            "phoneNumber": phone,
            "purePhoneNumber": phone,
            "countryCode": "86",
            "watermark": { "timestamp": unix_secs(now), "appid": app.appid },
        },
    }))
}

/// `GET /wxa/checksession?access_token&signature&openid&sig_method=hmac_sha256`
pub(crate) async fn checksession(State(s): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    respond(check(&s, &p).map(|()| json!({"errcode": 0, "errmsg": "ok"})))
}

fn check(s: &Shared, p: &Params) -> Result<(), WxError> {
    let app = mini_token(s, p)?;
    let openid = p.get("openid").ok_or(WxError::new(41009))?;
    if p.get("sig_method") != Some("hmac_sha256") {
        return Err(WxError::new(87008));
    }
    let signature = p.get("signature").unwrap_or_default();
    let key = s
        .lock()
        .session_keys
        .get(&(app.appid.clone(), openid.to_owned()))
        .cloned()
        .ok_or(WxError::new(87009))?;
    if signature != session_signature(&key) {
        return Err(WxError::new(87009));
    }
    Ok(())
}

/// `hmac_sha256(session_key, "")` in lowercase hex, keyed with the key's Base64 text.
pub(crate) fn session_signature(session_key: &str) -> String {
    match hmac::Hmac::<sha2::Sha256>::new_from_slice(session_key.as_bytes()) {
        Ok(mac) => hex::encode(mac.finalize().into_bytes()),
        // HMAC takes keys of any length; never reached.
        Err(_) => String::new(),
    }
}

/// `POST /wxa/getwxacodeunlimit?access_token=…` `{"scene", "page"?, "check_path"?,
/// "env_version"?, "width"?, …}`: a PNG labelled `image/jpeg`, or a JSON error.
pub(crate) async fn wxa_code_unlimit(
    State(s): State<Arc<Shared>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    match wxa_code(&s, &Params::parse(q.as_deref()), &body) {
        Ok(png) => {
            let mut resp = (StatusCode::OK, png).into_response();
            // WeChat labels its codes image/jpeg, PNGs included (protocol §18.2).
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
            resp
        }
        Err(e) => e.into_response(),
    }
}

fn wxa_code(s: &Shared, p: &Params, body: &Bytes) -> Result<Vec<u8>, WxError> {
    let app = mini_token(s, p)?;
    let body = json_body(body)?;
    let scene = match body.get("scene") {
        Some(Value::String(scene)) => scene.as_str(),
        _ => return Err(WxError::new(40169)),
    };
    check_scene(scene)?;
    let page = match body.get("page") {
        None | Some(Value::Null) => None,
        Some(Value::String(page)) if page.is_empty() => None,
        Some(Value::String(page)) => {
            if page.starts_with('/') || page.contains('?') {
                return Err(WxError::new(41030));
            }
            Some(page.as_str())
        }
        Some(_) => return Err(WxError::new(41030)),
    };
    let env_version = match body.get("env_version") {
        None | Some(Value::Null) => "release",
        Some(Value::String(v)) if matches!(v.as_str(), "release" | "trial" | "develop") => v,
        Some(_) => return Err(WxError::new(40097)),
    };
    if !matches!(
        body.get("check_path"),
        None | Some(Value::Null | Value::Bool(_))
    ) {
        return Err(WxError::new(40097));
    }
    let width = match body.get("width") {
        None | Some(Value::Null) => 430,
        Some(v) => v.as_u64().ok_or(WxError::new(40097))?.clamp(280, 1280),
    };
    let mut url = url::form_urlencoded::Serializer::new(format!("{WXA_CODE_BASE}?"));
    url.append_pair("appid", &app.appid)
        .append_pair("scene", scene);
    if let Some(page) = page {
        url.append_pair("page", page);
    }
    if env_version != "release" {
        url.append_pair("env_version", env_version);
    }
    let content = url.finish();
    tracing::debug!(scene, "mock wechat: mini program code drawn");
    let width = u32::try_from(width).unwrap_or(430);
    let png = qr_png_sized(&content, width).ok_or(WxError::new(-1))?;
    s.remember_wxa_code(&app.appid, scene);
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_protocol_vector() {
        assert_eq!(
            session_signature("o0q0otL8aEzpcZL/FT9WsQ=="),
            "46e043c5525c2d817c44be603d30837a808a1d930d038f6fdc3e62a201fed128"
        );
    }

    #[test]
    fn scene_rules() {
        for ok in [
            "a",
            "0123456789abcdefABCDEF0123456789",
            "!#$&'()*+,/:;=?@-._~",
            "id=1&x=2",
        ] {
            assert!(check_scene(ok).is_ok(), "{ok}");
        }
        let code = |scene: &str| check_scene(scene).unwrap_err().code;
        assert_eq!(code(""), 40169);
        assert_eq!(code(&"a".repeat(33)), 40169);
        for bad in ["a%20b", "登录", "a b", "a\"b", "a<b", "a^b"] {
            assert_eq!(code(bad), 40129, "{bad}");
        }
    }
}
