//! The mini program's server side, shared by the mini program channels (login, mini program
//! code scans) and the handle: a `wx.login()` code becomes a user through `jscode2session`,
//! whose `session_key` is kept on the server keyed by (appid, openid); the handle opens
//! `encryptedData` with it, checks it (`wxa/checksession`), and reads phone numbers
//! (`wxa/business/getuserphonenumber`) with the mini program's global access token.

use std::{sync::Arc, time::Duration};

use wechat_auth_client::{PhoneNumber, Secret, WechatClient};

use crate::core::store::Deferred;
use crate::{
    config::AppCredentials,
    core::{
        failure::Failure,
        store::{Store, keys::Key},
    },
    error::{HandleError, MiniDataError},
    providers::wechat::tokens::GlobalTokens,
    user::{Channel, WechatUser},
};

/// How long a mini program's `session_key` is kept (WeChat does not say how long it lives;
/// every login replaces it).
const SESSION_KEY_TTL: Duration = Duration::from_secs(3 * 24 * 3600);

/// Exchanges a `wx.login()` code of `app` with `jscode2session`, keeps the `session_key`
/// (replacing the last one; stored with the exchange's outcome, `keep`), and answers who the
/// user is: the one place a mini program code becomes a user.
pub(crate) async fn session_user(
    client: &WechatClient,
    keep: &Deferred,
    app: &AppCredentials,
    code: &str,
) -> Result<WechatUser, Failure> {
    let appid = app.appid();
    let session = client.jscode2session(appid, app.secret(), code).await?;
    keep_session_key(keep, appid, &session.openid, &session.session_key);
    let mut user = WechatUser::new(appid, session.openid, Channel::MiniProgram);
    user.unionid = session.unionid.filter(|u| !u.is_empty());
    Ok(user)
}

/// Keeps a mini program user's `session_key` on the server (replacing the last one).
fn keep_session_key(keep: &Deferred, appid: &str, openid: &str, session_key: &Secret) {
    let key = Key::of(appid, "session_key", openid);
    keep.set(
        &key,
        session_key.expose().as_bytes().to_vec(),
        SESSION_KEY_TTL,
    );
}

/// The configured mini program's server-side calls: what the handle asks of it.
pub(crate) struct MiniPrograms {
    client: WechatClient,
    store: Arc<dyn Store>,
    tokens: Arc<GlobalTokens>,
    /// The configured mini program's AppID, if there is one.
    appid: Option<String>,
}

impl std::fmt::Debug for MiniPrograms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiniPrograms")
            .field("appid", &self.appid)
            .finish_non_exhaustive()
    }
}

impl MiniPrograms {
    /// The mini program `appid` (none when it is not configured), calling WeChat through
    /// `client` with the global tokens of `tokens`, its session keys kept in `store`.
    pub(crate) fn new(
        client: WechatClient,
        store: Arc<dyn Store>,
        tokens: Arc<GlobalTokens>,
        appid: Option<String>,
    ) -> Self {
        Self {
            client,
            store,
            tokens,
            appid,
        }
    }

    /// [`session_user`] with this service's client.
    pub(crate) async fn session_user(
        &self,
        app: &AppCredentials,
        code: &str,
        keep: &Deferred,
    ) -> Result<WechatUser, Failure> {
        session_user(&self.client, keep, app, code).await
    }

    /// The AppID whose global token the calls use, or why there is none.
    fn appid(&self) -> Result<&str, Failure> {
        self.appid
            .as_deref()
            .ok_or(Failure::ChannelOff("mini program"))
    }

    /// The `session_key` kept at `user`'s last mini program login.
    async fn kept_session_key(&self, user: &WechatUser) -> Result<String, HandleError> {
        self.store
            .get(&Key::of(&user.appid, "session_key", &user.openid))
            .await?
            .and_then(|k| String::from_utf8(k).ok())
            .ok_or(HandleError::NoSessionKey)
    }

    /// Opens `encryptedData` of `user` with the `session_key` kept at their last login.
    pub(crate) async fn open_data(
        &self,
        user: &WechatUser,
        encrypted_data: &str,
        iv: &str,
    ) -> Result<serde_json::Value, HandleError> {
        let session_key = self.kept_session_key(user).await?;
        Ok(decrypt_mini_data(
            &session_key,
            encrypted_data,
            iv,
            &user.appid,
        )?)
    }

    /// The phone number behind a `getPhoneNumber` code; with `user`, checked to be theirs.
    pub(crate) async fn phone_number(
        &self,
        code: &str,
        user: Option<&WechatUser>,
    ) -> Result<PhoneNumber, HandleError> {
        let appid = self.appid()?;
        let openid = user.map(|u| u.openid.as_str());
        let phone = self
            .tokens
            .with_token(appid, |token| async move {
                self.client.phone_number(&token, code, openid).await
            })
            .await?;
        // The watermark names the mini program the number was given to (empty in old samples).
        if user.is_some() && !phone.watermark_appid.is_empty() && phone.watermark_appid != appid {
            return Err(HandleError::NotThisUser);
        }
        Ok(phone)
    }

    /// Whether `user`'s kept `session_key` is still WeChat's.
    pub(crate) async fn check_session(&self, user: &WechatUser) -> Result<bool, HandleError> {
        let session_key = Secret::new(self.kept_session_key(user).await?);
        let checked = self
            .tokens
            .with_token(self.appid()?, |token| {
                let session_key = session_key.clone();
                async move {
                    self.client
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
}
