//! Native clients: the mobile app (`POST app`), the mini program (`POST miniprogram`), and
//! long sessions for both (`POST refresh`).
//!
//! - **Mobile app.** The WeChat OpenSDK hands the app a `code` (the app holds only its
//!   AppID); the app posts it here; the layer exchanges it with the mobile app's AppSecret,
//!   reads the profile, keeps WeChat's tokens server-side, and answers a bearer session.
//! - **Mini program.** `wx.login()` gives a `js_code`; the layer exchanges it with
//!   `jscode2session`. The `session_key` stays on the server, keyed by (appid, openid), for
//!   [`WechatHandle::decrypt_mini_program_data`](crate::WechatHandle::decrypt_mini_program_data).
//! - **Refresh.** A valid bearer token is exchanged for a fresh one (the old one is revoked),
//!   so apps keep long sessions without storing anything but the token.
//!
//! Every answer is `{token, token_type: "Bearer", expires_in, user}`.

use std::time::Duration;

use axum_core::body::Body;
use bytes::Bytes;
use http::{Response, StatusCode, request::Parts};
use serde::{Deserialize, Serialize};

use super::FlowError;
use crate::{
    Channel, WechatUser,
    auth::{Auth, Found, LoginOutcome},
    respond,
    session::now_unix,
    user::Carrier,
};

/// Largest JSON body read from an app.
pub(crate) const MAX_BODY: usize = 16 * 1024;
/// How long a mini program's `session_key` is kept (WeChat does not say how long it lives;
/// every login replaces it).
const SESSION_KEY_TTL: Duration = Duration::from_secs(3 * 24 * 3600);

/// What an app posts: the SDK's result.
#[derive(Deserialize)]
struct CodeBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    /// `SendAuth.Resp.errCode`, when the app forwards the SDK's result as it is.
    #[serde(default, rename = "errCode", alias = "err_code")]
    err_code: Option<i64>,
}

/// The answer of every native login.
#[derive(Serialize)]
struct TokenBody<'a> {
    token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    user: &'a WechatUser,
}

/// Signs a bearer session for `user` and answers it.
fn token_response(auth: &Auth, user: &WechatUser) -> Response<Body> {
    let issued = auth.issue(user);
    respond::json(
        StatusCode::OK,
        &TokenBody {
            token: issued.token.expose(),
            token_type: "Bearer",
            expires_in: issued.exp.saturating_sub(now_unix()),
            user,
        },
    )
}

/// Why a posted body holds no usable code: `(error, message)` for a `400`.
struct BadCode(&'static str, String);

impl BadCode {
    fn response(self) -> Response<Body> {
        respond::json_error(StatusCode::BAD_REQUEST, self.0, &self.1)
    }
}

/// Parses the body; anything but a usable code is a [`BadCode`].
fn read_code(body: &Bytes) -> Result<(String, Option<String>), BadCode> {
    let parsed: CodeBody = serde_json::from_slice(body)
        .map_err(|_| BadCode("bad_request", r#"send JSON like {"code": "…"}"#.into()))?;
    match parsed.err_code {
        None | Some(0) => {}
        Some(-2) => {
            return Err(BadCode(
                "cancelled",
                "the user cancelled the WeChat authorization (errCode -2)".into(),
            ));
        }
        Some(-4) => {
            return Err(BadCode(
                "denied",
                "the user denied the WeChat authorization (errCode -4)".into(),
            ));
        }
        Some(other) => {
            return Err(BadCode(
                "sdk_error",
                format!("the WeChat SDK reported errCode {other}; no code to exchange"),
            ));
        }
    }
    let code = parsed.code.unwrap_or_default();
    let usable = !code.is_empty()
        && code.len() <= 128
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !usable {
        return Err(BadCode(
            "bad_request",
            "`code` is missing or malformed".into(),
        ));
    }
    Ok((code, parsed.state))
}

/// Answers a login outcome to an app.
fn outcome_response(auth: &Auth, outcome: &LoginOutcome) -> Response<Body> {
    match outcome {
        LoginOutcome::Success { user, .. } => {
            tracing::info!(channel = %user.channel, "login");
            token_response(auth, user)
        }
        LoginOutcome::Refused { message, .. } => {
            respond::json_error(StatusCode::FORBIDDEN, "refused", message)
        }
        LoginOutcome::Snapshot { .. } => respond::json_error(
            StatusCode::FORBIDDEN,
            "snapshot_user",
            "WeChat gave a virtual (snapshot-page) identity; ask the user to use the full service",
        ),
    }
}

/// `POST PREFIX/app` `{code, state?}` (or the SDK's `{errCode}`): mobile app login.
pub(crate) async fn mobile(auth: &Auth, body: Bytes) -> Response<Body> {
    let Some(app) = &auth.cfg.mobile else {
        return FlowError::ChannelOff("mobile app (set WECHAT_MOBILE_APP_ID and _SECRET)").json();
    };
    let (code, state) = match read_code(&body) {
        Ok(c) => c,
        Err(bad) => return bad.response(),
    };
    // The app checks `state` itself (it made it); it is kept only to tell repeats apart.
    let state = state.unwrap_or_default();
    let outcome = auth
        .exchange_once(app.appid(), &code, || {
            auth.login_with_code(app, &code, Channel::MobileApp, &state, "/")
        })
        .await;
    match outcome {
        Ok(o) if o.state() == state => outcome_response(auth, &o),
        Ok(_) => FlowError::BadRequest("this code belongs to another login".into()).json(),
        Err(e) => e.json(),
    }
}

/// `POST PREFIX/miniprogram` `{code}`: mini program login through `jscode2session`.
pub(crate) async fn mini_program(auth: &Auth, body: Bytes) -> Response<Body> {
    let Some(app) = &auth.cfg.mini_program else {
        return FlowError::ChannelOff("mini program (set WECHAT_MINI_APP_ID and _SECRET)").json();
    };
    let (code, _) = match read_code(&body) {
        Ok(c) => c,
        Err(bad) => return bad.response(),
    };
    let appid = app.appid();
    let outcome = auth
        .exchange_once(appid, &code, || async {
            let session = auth
                .client
                .jscode2session(appid, app.secret(), &code)
                .await?;
            let key = Auth::key(appid, "session_key", &session.openid);
            auth.store
                .set(
                    &key,
                    session.session_key.expose().as_bytes().to_vec(),
                    SESSION_KEY_TTL,
                )
                .await?;
            let mut user = WechatUser::new(appid, session.openid, Channel::MiniProgram);
            user.unionid = session.unionid.filter(|u| !u.is_empty());
            Ok(auth.finish_login(user, "", "/").await)
        })
        .await;
    match outcome {
        Ok(o) => outcome_response(auth, &o),
        Err(e) => e.json(),
    }
}

/// `POST PREFIX/refresh` with `Authorization: Bearer …`: a fresh token for a valid one.
pub(crate) async fn refresh(auth: &Auth, req: &Parts) -> Response<Body> {
    match auth.find_session(&req.headers) {
        Found::Session(current) if current.carrier == Carrier::Bearer => {
            let session = &current.session;
            if let Err(e) = auth.revoke(&session.jti, session.exp).await {
                return e.json();
            }
            token_response(auth, &session.user)
        }
        found => auth.unauthenticated_json(matches!(found, Found::InvalidBearer)),
    }
}

/// Why a mini program's `encryptedData` could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MiniDataError {
    /// `encryptedData`, `iv` or the stored `session_key` is not the base64 it should be.
    #[error("encryptedData, iv or session_key is not valid base64 of the right length")]
    BadEncoding,
    /// Decryption failed: the data was sealed with another `session_key` (the user logged in
    /// again in the mini program since, or the data is forged). Call `wx.login()` and retry.
    #[error(
        "the data does not decrypt with this user's session_key: log in again (wx.login) and fetch the data anew"
    )]
    WrongKey,
    /// The data decrypts but is not JSON with a `watermark`.
    #[error("the decrypted data is not the JSON WeChat sends")]
    NotJson,
    /// The watermark names another appid: the data was meant for another mini program.
    #[error("the data's watermark names another appid")]
    WrongApp,
}

/// Opens a mini program's `encryptedData` (AES-128-CBC, key = the `session_key`, PKCS#7)
/// and checks its watermark names `appid`.
pub(crate) fn decrypt_mini_data(
    session_key: &str,
    encrypted_data: &str,
    iv: &str,
    appid: &str,
) -> Result<serde_json::Value, MiniDataError> {
    use aes::cipher::{BlockDecryptMut as _, KeyIvInit as _, block_padding::Pkcs7};
    use base64::{Engine as _, engine::general_purpose::STANDARD};
    type Dec = cbc::Decryptor<aes::Aes128>;

    let decode = |s: &str| {
        STANDARD
            .decode(s.trim())
            .map_err(|_| MiniDataError::BadEncoding)
    };
    let key = decode(session_key)?;
    let iv = decode(iv)?;
    let mut data = decode(encrypted_data)?;
    if key.len() != 16 || iv.len() != 16 || data.is_empty() || data.len() > 64 * 1024 {
        return Err(MiniDataError::BadEncoding);
    }
    let plain = Dec::new_from_slices(&key, &iv)
        .map_err(|_| MiniDataError::BadEncoding)?
        .decrypt_padded_mut::<Pkcs7>(&mut data)
        .map_err(|_| MiniDataError::WrongKey)?;
    let value: serde_json::Value =
        serde_json::from_slice(plain).map_err(|_| MiniDataError::NotJson)?;
    match value.pointer("/watermark/appid").and_then(|a| a.as_str()) {
        Some(a) if a == appid => Ok(value),
        Some(_) => Err(MiniDataError::WrongApp),
        None => Err(MiniDataError::NotJson),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::{BlockEncryptMut as _, KeyIvInit as _, block_padding::Pkcs7};
    use base64::{Engine as _, engine::general_purpose::STANDARD};

    fn seal(key: &[u8; 16], iv: &[u8; 16], json: &str) -> String {
        let enc = cbc::Encryptor::<aes::Aes128>::new(key.into(), iv.into());
        STANDARD.encode(enc.encrypt_padded_vec_mut::<Pkcs7>(json.as_bytes()))
    }

    #[test]
    fn opens_and_checks_the_watermark() {
        let (key, iv) = ([7u8; 16], [9u8; 16]);
        let json = r#"{"phoneNumber":"13800138000","watermark":{"appid":"wx4","timestamp":1}}"#;
        let data = seal(&key, &iv, json);
        let (k, i) = (STANDARD.encode(key), STANDARD.encode(iv));
        let v = decrypt_mini_data(&k, &data, &i, "wx4").unwrap();
        assert_eq!(v["phoneNumber"], "13800138000");
        assert_eq!(
            decrypt_mini_data(&k, &data, &i, "wx5"),
            Err(MiniDataError::WrongApp)
        );
        let other = STANDARD.encode([8u8; 16]);
        assert!(matches!(
            decrypt_mini_data(&other, &data, &i, "wx4"),
            Err(MiniDataError::WrongKey | MiniDataError::NotJson)
        ));
        assert_eq!(
            decrypt_mini_data(&k, "%%%", &i, "wx4"),
            Err(MiniDataError::BadEncoding)
        );
        let no_mark = seal(&key, &iv, r#"{"a":1}"#);
        assert_eq!(
            decrypt_mini_data(&k, &no_mark, &i, "wx4"),
            Err(MiniDataError::NotJson)
        );
    }

    #[test]
    fn sdk_results_and_bad_bodies_are_400() {
        for body in [
            r#"{"errCode":-2}"#,
            r#"{"errCode":-4}"#,
            r#"{"errCode":-1}"#,
            r#"{}"#,
            r#"{"code":""}"#,
            r#"{"code":"a b"}"#,
            "not json",
        ] {
            let res = read_code(&Bytes::from(body)).map_err(BadCode::response);
            assert_eq!(res.unwrap_err().status(), 400, "{body}");
        }
        let ok = read_code(&Bytes::from(r#"{"code":"abc123","state":"s"}"#));
        assert_eq!(ok.ok(), Some(("abc123".to_owned(), Some("s".to_owned()))));
    }
}
