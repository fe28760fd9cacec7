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

use axum_core::response::{IntoResponse, Response};
use http::StatusCode;

use wechat_auth_client::{OaScope, PhoneNumber};

use crate::{
    config::WechatConfig,
    core::{redirect::safe_return_to, respond::QUERY_VALUE},
    error::HandleError,
    providers::douyin::{
        failure::handle_error,
        tokens::{DouyinProfile, DouyinRenewal, UserTokens},
    },
    providers::wechat::{mini::MiniPrograms, profiles::Profile, profiles::Profiles},
    user::{Channel, DouyinUser, WechatUser},
};

/// What the handle calls: the WeChat provider's services, and where a consent login goes.
/// Built once per layer.
pub(crate) struct HandleServices {
    /// WeChat users' tokens and profiles.
    profiles: Arc<Profiles>,
    /// The mini program's session keys and phone numbers.
    mini: MiniPrograms,
    /// Where a browser logs in (`{prefix}/login`).
    login_path: String,
    /// The other sites a login may come back to.
    allowed_origins: Vec<String>,
    /// The Official Account's AppID when it signs users in silently first
    /// ([`OaScope::BaseThenUserinfo`]): its users may consent to the profile later.
    consent_app: Option<String>,
}

impl std::fmt::Debug for HandleServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandleServices")
            .field("login_path", &self.login_path)
            .finish_non_exhaustive()
    }
}

impl HandleServices {
    /// The handle's services for a layer built from `cfg`, whose browsers log in at
    /// `login_path`.
    pub(crate) fn new(
        cfg: &WechatConfig,
        profiles: Arc<Profiles>,
        mini: MiniPrograms,
        login_path: &str,
    ) -> Self {
        Self {
            profiles,
            mini,
            login_path: login_path.to_owned(),
            allowed_origins: cfg.allowed_origins.clone(),
            // An unverified account has no web authorization: no consent to ask for.
            consent_app: cfg
                .official_account
                .as_ref()
                .filter(|_| cfg.message.verified)
                .filter(|oa| oa.scope() == OaScope::BaseThenUserinfo)
                .map(|oa| oa.app().appid().to_owned()),
        }
    }

    /// The login that asks the Official Account user for the profile (`snsapi_userinfo`)
    /// and comes back to `return_to` (a local path; `/` when none).
    fn consent_login_url(&self, return_to: Option<&str>) -> String {
        consent_login_url(&self.login_path, &self.allowed_origins, return_to)
    }
}

/// The consent login under `login_path`, coming back to `return_to` when it is a local path
/// (or an allowed origin), else to `/`.
fn consent_login_url(login_path: &str, allowed: &[String], return_to: Option<&str>) -> String {
    let return_to = safe_return_to(return_to, allowed);
    format!(
        "{login_path}?return_to={}&channel=oa&scope=userinfo",
        percent_encoding::utf8_percent_encode(&return_to, QUERY_VALUE)
    )
}

/// Access to the layer from a handler: the signed-in user's WeChat profile (kept
/// server-side, refreshed through the stored refresh_token when needed) and session
/// revocation.
///
/// Extract it in any handler behind [`WechatAuthLayer`](crate::WechatAuthLayer); without the
/// layer the extraction fails with `500`.
#[derive(Clone, Debug)]
pub struct WechatHandle {
    services: Arc<HandleServices>,
    /// The page the request was for (path and query of a GET), where a consent login
    /// comes back to.
    here: Option<String>,
}

impl WechatHandle {
    /// The handle of a request for `here` (see the field), calling `services`.
    pub(crate) fn new(services: Arc<HandleServices>, here: Option<String>) -> Self {
        Self { services, here }
    }
}

impl WechatHandle {
    /// The user's WeChat profile: from the cache while fresh, else from WeChat with the user
    /// token kept at login (refreshed through its refresh_token once expired). `None` when
    /// the login's scope cannot read a profile (`snsapi_base`, mini program) or the
    /// refresh_token has lapsed (the user must log in again).
    ///
    /// Under [`OaScope::BaseThenUserinfo`](crate::client::OaScope::BaseThenUserinfo) an
    /// Official Account user signed in silently has no profile yet: then the answer is
    /// [`HandleError::ConsentRequired`] with a ready login URL that asks for the profile
    /// (`login?channel=oa&scope=userinfo`) and comes back to the page of this request.
    ///
    /// ```
    /// # use axum::{body::Body, http::{header, Request, StatusCode}, response::{IntoResponse, Redirect, Response}, routing::get, Router};
    /// # use tower::ServiceExt as _;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use wechat_auth::{client::OaScope, HandleError, WechatAuthLayer, WechatConfig, WechatHandle, WechatUser};
    ///
    /// async fn me(user: WechatUser, wechat: WechatHandle) -> Response {
    ///     match wechat.profile(&user).await {
    ///         Ok(p) => format!("{:?}", p.map(|p| p.nickname)).into_response(),
    ///         // Silent sign-in so far: ask for consent now, come back here.
    ///         Err(HandleError::ConsentRequired { login_url }) => Redirect::to(&login_url).into_response(),
    ///         Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    ///     }
    /// }
    /// let cfg = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_official_account("wx2000000000000002", "secret")
    ///     .with_oa_scope(OaScope::BaseThenUserinfo)
    ///     .build()?;
    /// let app = Router::new().route("/me", get(me)).layer(WechatAuthLayer::new(cfg));
    /// // The first login is silent …
    /// let res = app.clone().oneshot(Request::get("/auth/wechat/login?channel=oa").body(Body::empty())?).await?;
    /// assert!(res.headers()[header::LOCATION].to_str()?.contains("&scope=snsapi_base&"));
    /// // … and `scope=userinfo` (the login URL of ConsentRequired) asks for the profile.
    /// let res = app.oneshot(Request::get("/auth/wechat/login?channel=oa&scope=userinfo").body(Body::empty())?).await?;
    /// assert!(res.headers()[header::LOCATION].to_str()?.contains("&scope=snsapi_userinfo&"));
    /// # Ok(()) }
    /// ```
    ///
    /// ```no_run
    /// # async fn f(wechat: wechat_auth::WechatHandle, user: wechat_auth::WechatUser) -> Result<(), wechat_auth::HandleError> {
    /// if let Some(p) = wechat.profile(&user).await? {
    ///     println!("{}", p.nickname);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn profile(&self, user: &WechatUser) -> Result<Option<Profile>, HandleError> {
        let found = self
            .services
            .profiles
            .profile(&user.appid, &user.openid)
            .await?;
        if found.is_none() && self.consent_may_help(user) {
            return Err(HandleError::ConsentRequired {
                login_url: self.services.consent_login_url(self.here.as_deref()),
            });
        }
        Ok(found)
    }

    /// Whether `user` signed in through the Official Account under the adaptive scope, so
    /// that a `snsapi_userinfo` consent would give the profile.
    fn consent_may_help(&self, user: &WechatUser) -> bool {
        user.channel == Channel::OfficialAccount
            && self.services.consent_app.as_deref() == Some(user.appid.as_str())
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
        self.services.mini.open_data(user, encrypted_data, iv).await
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
        self.services.mini.phone_number(code, None).await
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
        self.services.mini.phone_number(code, Some(user)).await
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
        self.services.mini.check_session(user).await
    }
}

/// [`WechatHandle`]'s equivalent for Douyin (抖音): the signed-in Douyin user's profile,
/// kept server-side with the user token of their login (refreshed through
/// `oauth/refresh_token` when Douyin says it expired), and renewing their refresh token.
///
/// Extract it in any handler behind [`WechatAuthLayer`](crate::WechatAuthLayer); without the
/// layer the extraction fails with `500`. Its calls take a [`DouyinUser`] (from
/// [`Identity::Douyin`](crate::Identity::Douyin)); a login without a Douyin user token (a
/// mini-app's `tt.login()`) has no profile to read.
///
/// ```
/// use axum::{http::StatusCode, response::{IntoResponse, Response}, routing::get, Router};
/// use serde_json::{json, Value};
/// use wechat_auth::{mock::MockWechat, DouyinHandle, HandleError, Identity, WechatAuthLayer, WechatConfig};
///
/// async fn douyin_me(who: Identity, douyin: DouyinHandle) -> Response {
///     let Identity::Douyin(user) = who else {
///         return (StatusCode::FORBIDDEN, "log in with Douyin").into_response();
///     };
///     match douyin.profile(&user).await {
///         Ok(p) => p.nickname.unwrap_or_default().into_response(),
///         // Expired, or renewed five times: send the user through the Douyin login.
///         Err(HandleError::DouyinLoginAgain { .. }) => StatusCode::UNAUTHORIZED.into_response(),
///         Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mock = MockWechat::start().await?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let url = format!("http://{}", listener.local_addr()?);
/// let app = mock.douyin_app();
/// let cfg = WechatConfig::builder()
///     .with_public_url(&url)
///     .with_session_secret("0123456789abcdef0123456789abcdef")
///     .with_douyin_app(&app.client_key, &app.client_secret)
///     .with_douyin_bases(mock.douyin_open_base(), mock.douyin_miniapp_base())
///     .build()?;
/// let router = Router::new().route("/douyin/me", get(douyin_me)).layer(WechatAuthLayer::new(cfg));
/// tokio::spawn(async move { axum::serve(listener, router).await });
///
/// // The Douyin app logs in with its OpenSDK code, then asks for the profile.
/// let http = reqwest::Client::new();
/// let code = mock.sdk_code(&app.client_key, "alice")?;
/// let login: Value = http.post(format!("{url}/auth/wechat/douyin/app"))
///     .json(&json!({ "code": code })).send().await?.json().await?;
/// let res = http.get(format!("{url}/douyin/me"))
///     .bearer_auth(login["token"].as_str().unwrap_or_default())
///     .send().await?;
/// assert_eq!(res.status(), 200);
/// let nickname = res.text().await?;
/// assert!(!nickname.is_empty());
/// assert_eq!(nickname, login["user"]["nickname"].as_str().unwrap_or_default());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct DouyinHandle {
    /// Douyin users' tokens and profiles (`None`: the layer has no Douyin app).
    tokens: Option<Arc<UserTokens>>,
}

impl DouyinHandle {
    /// The handle of a request, calling `tokens`.
    pub(crate) fn new(tokens: Option<Arc<UserTokens>>) -> Self {
        Self { tokens }
    }

    fn tokens(&self) -> Result<&UserTokens, HandleError> {
        self.tokens.as_deref().ok_or(HandleError::NoDouyinToken)
    }

    /// The user's Douyin profile: from the cache while fresh, else from Douyin
    /// (`oauth/userinfo`) with the access token kept at login — refreshed through
    /// `oauth/refresh_token` when Douyin says it expired (and the refresh token renewed too
    /// when it nears its end).
    ///
    /// # Errors
    ///
    /// [`HandleError::DouyinLoginAgain`] when the refresh token is over (30 days after the
    /// login without renewal), [`HandleError::NoDouyinToken`] for a login that keeps no user
    /// token (a mini-app), [`HandleError::Douyin`] when Douyin refuses or fails,
    /// [`HandleError::Store`] when the store does.
    ///
    /// ```no_run
    /// # async fn f(douyin: wechat_auth::DouyinHandle, user: wechat_auth::DouyinUser) -> Result<(), wechat_auth::HandleError> {
    /// let p = douyin.profile(&user).await?;
    /// println!("{:?} {:?}", p.nickname, p.avatar_url);
    /// # Ok(()) }
    /// ```
    pub async fn profile(&self, user: &DouyinUser) -> Result<DouyinProfile, HandleError> {
        self.tokens()?
            .profile(&user.client_key, &user.open_id)
            .await
            .map_err(handle_error)
    }

    /// Renews the user's refresh token now (`oauth/renew_refresh_token`, 30 more days).
    /// Douyin allows five renewals per login; after them the answer is
    /// [`HandleError::DouyinLoginAgain`] with `renew_limit: true` and no call is made.
    ///
    /// # Errors
    ///
    /// As [`profile`](Self::profile); Douyin's own count (its 10020) is the same
    /// `DouyinLoginAgain { renew_limit: true }`.
    ///
    /// ```no_run
    /// # async fn f(douyin: wechat_auth::DouyinHandle, user: wechat_auth::DouyinUser) -> Result<(), wechat_auth::HandleError> {
    /// match douyin.renew(&user).await {
    ///     Ok(r) => println!("{} renewals left", r.renewals_left),
    ///     Err(wechat_auth::HandleError::DouyinLoginAgain { .. }) => { /* log in with Douyin again */ }
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn renew(&self, user: &DouyinUser) -> Result<DouyinRenewal, HandleError> {
        self.tokens()?
            .renew(&user.client_key, &user.open_id)
            .await
            .map_err(handle_error)
    }
}

/// The rejection when [`WechatHandle`] or [`DouyinHandle`] is extracted outside the layer. `Debug` prints the
/// message too (then the type).
///
/// ```
/// use axum_core::response::IntoResponse;
/// let e = wechat_auth::MissingLayer::default();
/// assert_eq!(format!("{e:?}"), format!("{e} (MissingLayer)"));
/// assert_eq!(e.into_response().status(), 500);
/// ```
#[derive(Default, thiserror::Error)]
#[error("WechatHandle or DouyinHandle used on a route that WechatAuthLayer does not wrap")]
#[non_exhaustive]
pub struct MissingLayer {}

impl std::fmt::Debug for MissingLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self} (MissingLayer)")
    }
}

impl IntoResponse for MissingLayer {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::consent_login_url;

    #[test]
    fn consent_url_comes_back_here_only_when_local() {
        assert_eq!(
            consent_login_url("/auth/wechat/login", &[], Some("/profile?tab=1")),
            "/auth/wechat/login?return_to=/profile%3Ftab%3D1&channel=oa&scope=userinfo"
        );
        for here in [
            None,
            Some(""),
            Some("//evil.example/x"),
            Some("https://evil.example/"),
        ] {
            assert_eq!(
                consent_login_url("/sso/login", &[], here),
                "/sso/login?return_to=/&channel=oa&scope=userinfo",
                "{here:?}"
            );
        }
    }
}
