//! [`WechatUser`]: who is signed in, through which [`Channel`], and the session behind it.
//! The extractors that hand it to handlers are in `extract.rs`.
//!
//! ```
//! use axum::{routing::get, Router};
//! use wechat_auth::WechatUser;
//!
//! async fn home(user: WechatUser) -> String {
//!     format!("hi {} ({:?})", user.openid, user.channel)
//! }
//! async fn maybe(user: Option<WechatUser>) -> String {
//!     user.map(|u| u.openid).unwrap_or_else(|| "guest".into())
//! }
//! let app: Router = Router::new().route("/", get(home)).route("/maybe", get(maybe));
//! ```

use std::{fmt, sync::Arc};

use serde::{Deserialize, Serialize};

/// The WeChat channel a user signed in through.
///
/// ```
/// use wechat_auth::Channel;
/// assert_eq!(Channel::Website.as_str(), "website");
/// assert_eq!("oa".parse::<Channel>().unwrap(), Channel::OfficialAccount);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Channel {
    /// Website QR login (`connect/qrconnect`, Open Platform website app).
    Website,
    /// Official Account web authorization inside WeChat (`connect/oauth2/authorize`).
    OfficialAccount,
    /// Follow-the-Official-Account scan login (parametric QR + push event).
    ScanFollow,
    /// Mobile app login through the WeChat OpenSDK.
    MobileApp,
    /// Mini program login (`wx.login()` + `jscode2session`).
    MiniProgram,
    /// Website login by scanning a mini program code: the desktop browser's session, for
    /// the user who confirmed in the mini program (their mini program openid).
    MiniProgramCode,
}

impl Channel {
    /// The short, stable name used in URLs, JSON and tokens.
    ///
    /// ```
    /// assert_eq!(wechat_auth::Channel::MiniProgram.as_str(), "mini_program");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Website => "website",
            Channel::OfficialAccount => "official_account",
            Channel::ScanFollow => "scan_follow",
            Channel::MobileApp => "mobile_app",
            Channel::MiniProgram => "mini_program",
            Channel::MiniProgramCode => "mini_program_code",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`Channel`] from an unknown name. `Debug` prints the message (what
/// `main` returning it shows).
///
/// ```
/// let e = "fax".parse::<wechat_auth::Channel>().unwrap_err();
/// assert_eq!(
///     format!("{e:?}"),
///     r#"unknown WeChat channel "fax": use website, oa, scan, app or miniprogram (UnknownChannel)"#
/// );
/// ```
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown WeChat channel {0:?}: use website, oa, scan, app or miniprogram")]
pub struct UnknownChannel(pub String);

impl fmt::Debug for UnknownChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self} (UnknownChannel)")
    }
}

impl std::str::FromStr for Channel {
    type Err = UnknownChannel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "website" => Channel::Website,
            "oa" | "official_account" => Channel::OfficialAccount,
            "scan" | "scan_follow" => Channel::ScanFollow,
            "app" | "mobile_app" => Channel::MobileApp,
            "miniprogram" | "mini_program" => Channel::MiniProgram,
            "miniprogram_code" | "mini_program_code" => Channel::MiniProgramCode,
            other => return Err(UnknownChannel(other.to_owned())),
        })
    }
}

/// A signed-in WeChat user, as handlers see it.
///
/// Take it as an extractor: `WechatUser` rejects with `401` JSON when nobody is signed in,
/// `Option<WechatUser>` never rejects. The layer ([`crate::WechatAuthLayer`]) must wrap the
/// route, or the extractor always sees "nobody".
///
/// One person has one `unionid` across every app of one Open Platform account, and a
/// different `openid` per app; [`WechatUser::key`] gives the identity to key accounts on.
///
/// ```
/// use wechat_auth::{Channel, WechatUser};
///
/// let user = WechatUser::new("wx1000000000000001", "oOPENID", Channel::Website)
///     .with_unionid("oUNIONID");
/// assert_eq!(user.key(), "unionid:oUNIONID");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WechatUser {
    /// The user's id within [`WechatUser::appid`].
    pub openid: String,
    /// The user's id across the Open Platform account, when WeChat gave one.
    pub unionid: Option<String>,
    /// The WeChat app the user signed in through.
    pub appid: String,
    /// The login channel.
    pub channel: Channel,
    /// Nickname, when the scope allowed reading the profile.
    pub nickname: Option<String>,
    /// Avatar URL, when the scope allowed reading the profile.
    pub avatar_url: Option<String>,
    /// The application's own user id, when an `on_login` hook set one.
    pub subject: Option<String>,
}

impl WechatUser {
    /// A user with just an app, an openid and a channel.
    ///
    /// ```
    /// let u = wechat_auth::WechatUser::new("wx1", "o1", wechat_auth::Channel::MobileApp);
    /// assert!(u.unionid.is_none());
    /// ```
    pub fn new(appid: impl Into<String>, openid: impl Into<String>, channel: Channel) -> Self {
        Self {
            openid: openid.into(),
            unionid: None,
            appid: appid.into(),
            channel,
            nickname: None,
            avatar_url: None,
            subject: None,
        }
    }

    /// Sets the unionid.
    ///
    /// ```
    /// let u = wechat_auth::WechatUser::new("wx1", "o1", wechat_auth::Channel::Website).with_unionid("u1");
    /// assert_eq!(u.unionid.as_deref(), Some("u1"));
    /// ```
    pub fn with_unionid(mut self, unionid: impl Into<String>) -> Self {
        self.unionid = Some(unionid.into());
        self
    }

    /// Sets the nickname.
    ///
    /// ```
    /// let u = wechat_auth::WechatUser::new("wx1", "o1", wechat_auth::Channel::Website).with_nickname("Ann");
    /// assert_eq!(u.nickname.as_deref(), Some("Ann"));
    /// ```
    pub fn with_nickname(mut self, nickname: impl Into<String>) -> Self {
        self.nickname = Some(nickname.into());
        self
    }

    /// Sets the avatar URL.
    ///
    /// ```
    /// let u = wechat_auth::WechatUser::new("wx1", "o1", wechat_auth::Channel::Website)
    ///     .with_avatar_url("https://example.com/a.png");
    /// assert!(u.avatar_url.is_some());
    /// ```
    pub fn with_avatar_url(mut self, url: impl Into<String>) -> Self {
        self.avatar_url = Some(url.into());
        self
    }

    /// Sets the application's own user id.
    ///
    /// ```
    /// let u = wechat_auth::WechatUser::new("wx1", "o1", wechat_auth::Channel::Website).with_subject("42");
    /// assert_eq!(u.subject.as_deref(), Some("42"));
    /// ```
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The identity to key accounts on: `unionid:…` when WeChat gave a unionid (the same
    /// person across the website, the Official Account, the app and the mini program),
    /// else `openid:APPID:…`.
    ///
    /// ```
    /// use wechat_auth::{Channel, WechatUser};
    /// let u = WechatUser::new("wx1", "o1", Channel::MiniProgram);
    /// assert_eq!(u.key(), "openid:wx1:o1");
    /// ```
    pub fn key(&self) -> String {
        match &self.unionid {
            Some(u) => format!("unionid:{u}"),
            None => format!("openid:{}:{}", self.appid, self.openid),
        }
    }
}

/// The signed-in user as the guard verified it, shared rather than copied: extracting it
/// costs one reference count, where [`WechatUser`] copies the user's strings for the handler.
///
/// It dereferences to [`WechatUser`], so a handler reads `user.openid`, `user.unionid` and
/// the rest as before; take it instead of `WechatUser` on routes where every microsecond
/// counts. `SharedUser` rejects with `401` like `WechatUser`; `Option<SharedUser>` never
/// rejects.
///
/// ```
/// use axum::{Router, routing::get};
/// use tower::ServiceExt;
/// use wechat_auth::{SharedUser, WechatAuthLayer, WechatConfig};
///
/// async fn home(user: SharedUser) -> String {
///     format!("hi {}", user.openid)
/// }
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cfg = WechatConfig::builder()
///     .with_public_url("https://example.com")
///     .with_session_secret("0123456789abcdef0123456789abcdef")
///     .with_website_app("wx1000000000000001", "website-app-secret")
///     .build()?;
/// let app = Router::new().route("/", get(home)).layer(WechatAuthLayer::new(cfg));
/// let res = app.oneshot(http::Request::get("/").body(axum::body::Body::empty())?).await?;
/// assert_eq!(res.status(), 401); // nobody signed in
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SharedUser(pub(crate) Arc<Session>);

impl SharedUser {
    /// An owned copy of the user, for keeping beyond the request.
    ///
    /// ```
    /// fn keep(user: &wechat_auth::SharedUser) -> wechat_auth::WechatUser {
    ///     user.to_user()
    /// }
    /// ```
    pub fn to_user(&self) -> WechatUser {
        self.0.user.clone()
    }
}

impl std::ops::Deref for SharedUser {
    type Target = WechatUser;

    fn deref(&self) -> &WechatUser {
        &self.0.user
    }
}

impl AsRef<WechatUser> for SharedUser {
    fn as_ref(&self) -> &WechatUser {
        &self.0.user
    }
}

impl fmt::Debug for SharedUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0.user, f)
    }
}

impl From<SharedUser> for WechatUser {
    fn from(user: SharedUser) -> Self {
        user.to_user()
    }
}

/// How the current request carried its session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Carrier {
    Cookie,
    Bearer,
}

/// Which carrier a session token was issued for: a browser's cookie or a native client's
/// `Authorization: Bearer`. Each is accepted only from its own carrier, and only native
/// tokens can be refreshed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub(crate) enum TokenClass {
    /// A browser session, carried in the session cookie. Tokens without a class are web.
    #[default]
    #[serde(rename = "w")]
    Web,
    /// A native client's session (mobile app, mini program), carried as a bearer token.
    #[serde(rename = "n")]
    Native,
}

impl TokenClass {
    /// The class a carrier accepts.
    pub(crate) fn of(carrier: Carrier) -> Self {
        match carrier {
            Carrier::Cookie => Self::Web,
            Carrier::Bearer => Self::Native,
        }
    }
}

/// A verified session, as the guard attaches it to a request's extensions.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) user: WechatUser,
    pub(crate) exp: u64,
    /// Web or native.
    pub(crate) class: TokenClass,
    /// The login this token descends from (the first token's `jti`); refreshes keep it.
    pub(crate) family: String,
    /// How many refreshes separate this token from the login (0 for the first).
    pub(crate) generation: u32,
    /// When the login happened (Unix seconds): the absolute lifetime counts from here.
    pub(crate) auth_time: u64,
}

/// The session found on one request: shared, so attaching it costs a reference count.
#[derive(Clone, Debug)]
pub(crate) struct CurrentSession {
    pub(crate) session: Arc<Session>,
    pub(crate) carrier: Carrier,
}
