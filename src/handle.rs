//! [`WechatHandle`]: what handlers can ask of the layer beyond "who is this".
//!
//! ```
//! use axum::{routing::get, Json, Router};
//! use wechat_auth::{WechatHandle, WechatUser};
//!
//! async fn profile(user: WechatUser, wechat: WechatHandle) -> String {
//!     match wechat.profile(&user).await {
//!         Ok(Some(p)) => format!("{} ({})", p.nickname, p.avatar_url),
//!         Ok(None) => "no profile (snsapi_base, or the user must log in again)".into(),
//!         Err(e) => format!("WeChat is unavailable: {e}"),
//!     }
//! }
//! let app: Router = Router::new().route("/profile", get(profile));
//! ```

use std::sync::Arc;

use axum_core::{
    extract::FromRequestParts,
    response::{IntoResponse, Response},
};
use http::{StatusCode, request::Parts};

use crate::{
    WechatUser,
    client::PhoneNumber,
    engine::{Engine, Profile},
    error::HandleError,
    extract::RequestAuth,
    flows::miniprogram,
};

/// Access to the layer from a handler: the signed-in user's WeChat profile (kept
/// server-side, refreshed through the stored refresh_token when needed) and session
/// revocation.
///
/// Extract it in any handler behind [`WechatAuthLayer`](crate::WechatAuthLayer); without the
/// layer the extraction fails with `500`.
#[derive(Clone, Debug)]
pub struct WechatHandle {
    auth: Arc<Engine>,
}

impl WechatHandle {
    /// The user's WeChat profile: from the cache while fresh, else from WeChat with the user
    /// token kept at login (refreshed through its refresh_token once expired). `None` when
    /// the login's scope cannot read a profile (`snsapi_base`, mini program) or the
    /// refresh_token has lapsed (the user must log in again).
    ///
    /// ```no_run
    /// # async fn f(wechat: wechat_auth::WechatHandle, user: wechat_auth::WechatUser) -> Result<(), wechat_auth::HandleError> {
    /// if let Some(p) = wechat.profile(&user).await? {
    ///     println!("{}", p.nickname);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn profile(&self, user: &WechatUser) -> Result<Option<Profile>, HandleError> {
        self.auth.profile(&user.appid, &user.openid).await
    }

    /// Opens data a mini program got from WeChat (`wx.getPhoneNumber`-style
    /// `encryptedData` + `iv`) with the `session_key` kept server-side at the user's login,
    /// and checks its watermark names the mini program. The `session_key` itself never
    /// leaves the server.
    ///
    /// ```no_run
    /// # async fn f(wechat: wechat_auth::WechatHandle, user: wechat_auth::WechatUser) -> Result<(), wechat_auth::HandleError> {
    /// let data = wechat.decrypt_mini_program_data(&user, "ENCRYPTED_DATA", "IV").await?;
    /// println!("{}", data["phoneNumber"]);
    /// # Ok(()) }
    /// ```
    pub async fn decrypt_mini_program_data(
        &self,
        user: &WechatUser,
        encrypted_data: &str,
        iv: &str,
    ) -> Result<serde_json::Value, HandleError> {
        miniprogram::open_data(&self.auth, user, encrypted_data, iv).await
    }

    /// The phone number behind a mini program's `getPhoneNumber` button: the page hands its
    /// `code` (`e.detail.code`, not a `wx.login()` code) to the server, which exchanges it
    /// with `wxa/business/getuserphonenumber` using the mini program's global access token
    /// (fetched once and shared, like every global token). Codes are single use and live 5
    /// minutes; a used or foreign code is [`HandleError::Wechat`] with errcode 40029.
    ///
    /// ```no_run
    /// # async fn f(wechat: wechat_auth::WechatHandle) -> Result<(), wechat_auth::HandleError> {
    /// let phone = wechat.phone_number("CODE_FROM_THE_BUTTON").await?;
    /// println!("+{} {}", phone.country_code, phone.pure_phone_number);
    /// # Ok(()) }
    /// ```
    pub async fn phone_number(&self, code: &str) -> Result<PhoneNumber, HandleError> {
        miniprogram::phone_number(&self.auth, code, None).await
    }

    /// [`phone_number`](Self::phone_number), checked to belong to `user`: WeChat is told the
    /// user's openid (it refuses a code of someone else), and the number's watermark must name
    /// the user's mini program.
    ///
    /// ```no_run
    /// # async fn f(wechat: wechat_auth::WechatHandle, user: wechat_auth::WechatUser) -> Result<(), wechat_auth::HandleError> {
    /// let phone = wechat.phone_number_of(&user, "CODE_FROM_THE_BUTTON").await?;
    /// # Ok(()) }
    /// ```
    pub async fn phone_number_of(
        &self,
        user: &WechatUser,
        code: &str,
    ) -> Result<PhoneNumber, HandleError> {
        miniprogram::phone_number(&self.auth, code, Some(user)).await
    }

    /// Whether the `session_key` kept from the user's last mini program login is still the
    /// one WeChat holds (`wxa/checksession`): `false` when it was replaced (the mini program
    /// ran `wx.login()` again) or lapsed — log in again before decrypting data with it.
    ///
    /// ```no_run
    /// # async fn f(wechat: wechat_auth::WechatHandle, user: wechat_auth::WechatUser) -> Result<(), wechat_auth::HandleError> {
    /// if !wechat.check_mini_session(&user).await? {
    ///     // ask the mini program to call wx.login() and POST /auth/wechat/miniprogram again
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn check_mini_session(&self, user: &WechatUser) -> Result<bool, HandleError> {
        miniprogram::check_session(&self.auth, user).await
    }
}

/// The rejection when [`WechatHandle`] is extracted outside the layer.
///
/// ```
/// use axum_core::response::IntoResponse;
/// assert_eq!(wechat_auth::MissingLayer::default().into_response().status(), 500);
/// ```
#[derive(Debug, Default, thiserror::Error)]
#[error("WechatHandle used on a route that WechatAuthLayer does not wrap")]
#[non_exhaustive]
pub struct MissingLayer {}

impl IntoResponse for MissingLayer {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WechatHandle {
    type Rejection = MissingLayer;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<RequestAuth>()
            .map(|r| WechatHandle {
                auth: r.auth.clone(),
            })
            .ok_or_else(MissingLayer::default)
    }
}
