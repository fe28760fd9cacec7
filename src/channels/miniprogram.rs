//! Mini program login (`POST miniprogram`): `wx.login()` gives a `js_code`, the layer
//! exchanges it with `jscode2session`, and answers the same bearer session as the mobile app.
//! The `session_key` stays on the server, keyed by (appid, openid), for
//! [`WechatHandle::decrypt_mini_program_data`](crate::WechatHandle::decrypt_mini_program_data),
//! which opens `getPhoneNumber`-style `encryptedData` with it.

use std::time::Duration;

use axum_core::body::Body;
use bytes::Bytes;
use http::Response;

use super::app::{outcome_response, read_code, with_native_token};
use wechat_auth_client::{PhoneNumber, Secret};

use crate::{
    channels::Engine,
    channels::tokens::{TokenFor, with_token},
    core::failure::Failure,
    core::store::keys::Key,
    error::{HandleError, MiniDataError},
    user::Channel,
    user::WechatUser,
};

/// How long a mini program's `session_key` is kept (WeChat does not say how long it lives;
/// every login replaces it).
const SESSION_KEY_TTL: Duration = Duration::from_secs(3 * 24 * 3600);

/// `POST PREFIX/miniprogram` `{code}`: mini program login through `jscode2session`;
/// `signed_in` is the session the request already carried ([`super::app::signed_in`]).
pub(crate) async fn mini_program(
    auth: &Engine,
    client: Option<std::net::IpAddr>,
    signed_in: Option<WechatUser>,
    body: Bytes,
) -> Result<Response<Body>, Failure> {
    let Some(app) = &auth.config().mini_program else {
        return Err(Failure::ChannelOff(
            "mini program (set WECHAT_MINI_APP_ID and _SECRET)",
        ));
    };
    let (code, _) = read_code(&body)?;
    let appid = app.appid();
    let outcome = auth
        .exchanges
        .exchange_once(appid, &code, client, || async {
            let user = session_user(auth, app, &code).await?;
            let outcome = auth.logins.finish_login(user, "", "/", signed_in).await;
            Ok(with_native_token(auth, outcome))
        })
        .await?;
    outcome_response(auth, &outcome)
}

/// Exchanges a `wx.login()` code with `jscode2session`, keeps the `session_key` on the
/// server, and answers who the user is: the one place a mini program code becomes a user.
pub(super) async fn session_user(
    auth: &Engine,
    app: &crate::config::AppCredentials,
    code: &str,
) -> Result<WechatUser, Failure> {
    let appid = app.appid();
    let session = auth
        .client()
        .jscode2session(appid, app.secret(), code)
        .await?;
    keep_session_key(auth, appid, &session.openid, &session.session_key).await?;
    let mut user = WechatUser::new(appid, session.openid, Channel::MiniProgram);
    user.unionid = session.unionid.filter(|u| !u.is_empty());
    Ok(user)
}

/// Keeps a mini program user's `session_key` on the server (replacing the last one).
async fn keep_session_key(
    auth: &Engine,
    appid: &str,
    openid: &str,
    session_key: &Secret,
) -> Result<(), crate::core::store::StoreError> {
    let key = Key::session_key(appid, openid);
    auth.store()
        .set(
            &key,
            session_key.expose().as_bytes().to_vec(),
            SESSION_KEY_TTL,
        )
        .await
}

/// Opens `encryptedData` of `user` with the `session_key` kept at their last login
/// ([`WechatHandle::decrypt_mini_program_data`](crate::WechatHandle::decrypt_mini_program_data)).
pub(crate) async fn open_data(
    auth: &Engine,
    user: &WechatUser,
    encrypted_data: &str,
    iv: &str,
) -> Result<serde_json::Value, HandleError> {
    let session_key = auth
        .store()
        .get(&Key::session_key(&user.appid, &user.openid))
        .await?
        .and_then(|k| String::from_utf8(k).ok())
        .ok_or(HandleError::NoSessionKey)?;
    Ok(decrypt_mini_data(
        &session_key,
        encrypted_data,
        iv,
        &user.appid,
    )?)
}

/// The phone number behind a `getPhoneNumber` code; with `user`, checked to be theirs.
pub(crate) async fn phone_number(
    auth: &Engine,
    code: &str,
    user: Option<&WechatUser>,
) -> Result<PhoneNumber, HandleError> {
    let Some(app) = &auth.config().mini_program else {
        return Err(Failure::ChannelOff("mini program").into());
    };
    let openid = user.map(|u| u.openid.as_str());
    let phone = with_token(auth, TokenFor::MiniProgram, |token| async move {
        auth.client().phone_number(&token, code, openid).await
    })
    .await?;
    // The watermark names the mini program the number was given to (empty in old samples).
    if user.is_some() && !phone.watermark_appid.is_empty() && phone.watermark_appid != app.appid() {
        return Err(HandleError::NotThisUser);
    }
    Ok(phone)
}

/// Whether `user`'s kept `session_key` is still WeChat's.
pub(crate) async fn check_session(auth: &Engine, user: &WechatUser) -> Result<bool, HandleError> {
    let session_key = auth
        .store()
        .get(&Key::session_key(&user.appid, &user.openid))
        .await?
        .and_then(|k| String::from_utf8(k).ok())
        .map(Secret::new)
        .ok_or(HandleError::NoSessionKey)?;
    let checked = with_token(auth, TokenFor::MiniProgram, |token| {
        let session_key = session_key.clone();
        async move {
            auth.client()
                .check_session(&token, &user.openid, &session_key)
                .await
        }
    })
    .await;
    match checked {
        Ok(()) => Ok(true),
        Err(f)
            if crate::providers::wechat::failure::wechat_error(&f)
                .and_then(wechat_auth_client::WechatError::errcode)
                == Some(87009) =>
        {
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
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

/// Mounts this channel on a layer: its state and its routes.
pub(crate) fn mount(
    engine: &std::sync::Arc<crate::channels::Engine>,
) -> Box<dyn crate::core::route::Endpoints> {
    crate::core::route::Mounted::boxed(engine.clone(), routes())
}

/// This channel's endpoint in the layer's route table: `POST miniprogram`, a body of at
/// most [`super::app::MAX_BODY`] bytes.
pub(crate) fn routes() -> &'static [crate::channels::Route] {
    use crate::channels::Route;
    use crate::core::route::{Path, boxed};
    static ROUTES: [Route; 1] = [Route::post_body(
        Path::Exact("/miniprogram"),
        super::app::MAX_BODY,
        |c| {
            boxed(async move {
                let signed_in = super::app::signed_in(c.auth, c.req);
                mini_program(c.auth, c.auth.client_ip(c.req), signed_in, c.body).await
            })
        },
    )];
    &ROUTES
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
}
