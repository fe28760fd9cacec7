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
    /// Message-code login: the desktop browser's session, for the WeChat user who sent the
    /// browser's code to the Official Account and answered `1` (the account's openid; no
    /// unionid from an unverified account).
    MessageCode,
    /// WeCom (企业微信) login: its SSO page, its embedded panel or inside the WeCom client.
    /// Only a [`WecomUser`] carries it; no login of this crate issues it yet, and `channel=`
    /// does not accept it.
    Wecom,
    /// Douyin (抖音) login: its website QR, the Douyin app or a Douyin mini-app. Only a
    /// [`DouyinUser`] carries it; no login of this crate issues it yet, and `channel=` does
    /// not accept it.
    Douyin,
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
            Channel::MessageCode => "message_code",
            Channel::Wecom => "wecom",
            Channel::Douyin => "douyin",
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
            "message" | "message_code" => Channel::MessageCode,
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

/// Who vouched for a signed-in person: the identity provider behind an [`Identity`].
///
/// ```
/// use wechat_auth::Provider;
/// assert_eq!(Provider::Wechat.as_str(), "wechat");
/// assert_eq!(serde_json::to_string(&Provider::Wecom).unwrap(), r#""wecom""#);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Provider {
    /// WeChat (微信): every [`Channel`] of WeChat's own apps. Sessions issued before
    /// identities were provider-neutral carry no provider, and are WeChat's.
    #[default]
    Wechat,
    /// WeCom (企业微信).
    Wecom,
    /// Douyin (抖音).
    Douyin,
}

impl Provider {
    /// The short, stable name used in JSON (`/me`'s `provider`).
    ///
    /// ```
    /// assert_eq!(wechat_auth::Provider::Douyin.as_str(), "douyin");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Wechat => "wechat",
            Provider::Wecom => "wecom",
            Provider::Douyin => "douyin",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person signed in through WeCom (企业微信): a member of a corp is `corp_id` + `user_id`,
/// someone who is not a member (an external contact, a WeChat user) is `corp_id` + `openid`.
/// Exactly one of `user_id` and `openid` is set by the constructors.
///
/// ```
/// use wechat_auth::WecomUser;
/// let member = WecomUser::member("ww1234567890abcdef", "zhangsan");
/// assert_eq!(member.user_id.as_deref(), Some("zhangsan"));
/// assert!(member.openid.is_none());
/// let guest = WecomUser::non_member("ww1234567890abcdef", "oGUEST");
/// assert_eq!(guest.openid.as_deref(), Some("oGUEST"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WecomUser {
    /// The corp (企业) the person signed in to.
    pub corp_id: String,
    /// The member's `UserId` within the corp, for a member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The person's `OpenId` within the corp, for someone who is not a member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openid: Option<String>,
    /// The login channel ([`Channel::Wecom`]).
    pub channel: Channel,
    /// Display name, when the scope allowed reading it.
    pub nickname: Option<String>,
    /// Avatar URL, when the scope allowed reading it.
    pub avatar_url: Option<String>,
    /// The application's own user id, when an `on_login` hook set one.
    pub subject: Option<String>,
}

impl WecomUser {
    /// A member of `corp_id`, known by their `UserId`.
    pub fn member(corp_id: impl Into<String>, user_id: impl Into<String>) -> Self {
        Self {
            corp_id: corp_id.into(),
            user_id: Some(user_id.into()),
            openid: None,
            channel: Channel::Wecom,
            nickname: None,
            avatar_url: None,
            subject: None,
        }
    }

    /// Someone who is not a member of `corp_id`, known by their `OpenId` there.
    pub fn non_member(corp_id: impl Into<String>, openid: impl Into<String>) -> Self {
        Self {
            openid: Some(openid.into()),
            user_id: None,
            ..Self::member(corp_id, String::new())
        }
    }
}

/// A person signed in through Douyin (抖音): `open_id` within one Douyin app (its client
/// key, or a mini-app's appid), and `union_id` across the apps of one developer.
///
/// ```
/// use wechat_auth::DouyinUser;
/// let u = DouyinUser::new("awkey123", "_000OPENID").with_union_id("UNION1");
/// assert_eq!(u.union_id.as_deref(), Some("UNION1"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DouyinUser {
    /// The Douyin app the person signed in through: its client key, or a mini-app's appid.
    pub client_key: String,
    /// The person's id within [`DouyinUser::client_key`].
    pub open_id: String,
    /// The person's id across the developer's Douyin apps, when Douyin gave one.
    pub union_id: Option<String>,
    /// The login channel ([`Channel::Douyin`]).
    pub channel: Channel,
    /// Nickname, when the scope allowed reading it.
    pub nickname: Option<String>,
    /// Avatar URL, when the scope allowed reading it.
    pub avatar_url: Option<String>,
    /// The application's own user id, when an `on_login` hook set one.
    pub subject: Option<String>,
}

impl DouyinUser {
    /// A user of Douyin app `client_key` known by `open_id`.
    pub fn new(client_key: impl Into<String>, open_id: impl Into<String>) -> Self {
        Self {
            client_key: client_key.into(),
            open_id: open_id.into(),
            union_id: None,
            channel: Channel::Douyin,
            nickname: None,
            avatar_url: None,
            subject: None,
        }
    }

    /// Sets the union_id.
    pub fn with_union_id(mut self, union_id: impl Into<String>) -> Self {
        self.union_id = Some(union_id.into());
        self
    }
}

/// Who is signed in, whatever provider vouched for them: what every session carries.
///
/// [`WechatUser`] stays the WeChat view; a WeCom member or a Douyin user has ids of its
/// own ([`WecomUser`], [`DouyinUser`]) rather than a made-up openid. Take `Identity` (or
/// `Option<Identity>`) as an extractor on routes that accept any provider: it rejects like
/// `WechatUser` (`401` JSON) when nobody is signed in. As JSON (what `GET /auth/wechat/me`
/// shows) it is the provider's fields plus `provider`.
///
/// Match with a `_` arm: more providers may come.
///
/// ```
/// use axum::{routing::get, Router};
/// use wechat_auth::{Channel, Identity, Provider, WechatUser, WecomUser};
///
/// async fn whoami(id: Identity) -> String {
///     match &id {
///         Identity::Wechat(u) => format!("WeChat {}", u.openid),
///         Identity::Wecom(m) => format!("WeCom {:?}@{}", m.user_id, m.corp_id),
///         other => format!("{} user", other.provider()),
///     }
/// }
/// let app: Router = Router::new().route("/whoami", get(whoami));
///
/// let id = Identity::from(WechatUser::new("wx1", "oAlice", Channel::Website));
/// assert_eq!((id.provider(), id.channel()), (Provider::Wechat, Channel::Website));
/// let json = serde_json::to_value(&id).unwrap();
/// assert_eq!(json["provider"], "wechat");
/// assert_eq!(json["openid"], "oAlice");
///
/// let member = Identity::from(WecomUser::member("wwCORP", "zhangsan"));
/// assert_eq!(member.key(), "wecom:wwCORP:user:zhangsan");
/// assert!(member.as_wechat().is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Identity {
    /// A WeChat user (openid + unionid).
    Wechat(WechatUser),
    /// A WeCom member (corp id + user id) or non-member (corp id + openid).
    Wecom(WecomUser),
    /// A Douyin user (open_id + union_id).
    Douyin(DouyinUser),
}

impl Identity {
    /// The provider that vouched for this person.
    pub fn provider(&self) -> Provider {
        match self {
            Identity::Wechat(_) => Provider::Wechat,
            Identity::Wecom(_) => Provider::Wecom,
            Identity::Douyin(_) => Provider::Douyin,
        }
    }

    /// The login channel.
    pub fn channel(&self) -> Channel {
        match self {
            Identity::Wechat(u) => u.channel,
            Identity::Wecom(u) => u.channel,
            Identity::Douyin(u) => u.channel,
        }
    }

    /// The application's own user id, when an `on_login` hook set one.
    pub fn subject(&self) -> Option<&str> {
        match self {
            Identity::Wechat(u) => u.subject.as_deref(),
            Identity::Wecom(u) => u.subject.as_deref(),
            Identity::Douyin(u) => u.subject.as_deref(),
        }
    }

    /// Sets the application's own user id (what an `on_login` hook answered).
    pub(crate) fn set_subject(&mut self, subject: Option<String>) {
        match self {
            Identity::Wechat(u) => u.subject = subject,
            Identity::Wecom(u) => u.subject = subject,
            Identity::Douyin(u) => u.subject = subject,
        }
    }

    /// The WeChat view, for a WeChat identity.
    pub fn as_wechat(&self) -> Option<&WechatUser> {
        match self {
            Identity::Wechat(u) => Some(u),
            _ => None,
        }
    }

    /// The identity to key accounts on, never equal across providers: a WeChat user's
    /// [`WechatUser::key`] (as before), `wecom:CORP:user:USERID` or `wecom:CORP:openid:OPENID`,
    /// `douyin:union:UNIONID` or `douyin:open:CLIENTKEY:OPENID`.
    ///
    /// ```
    /// use wechat_auth::{DouyinUser, Identity};
    /// let u = Identity::from(DouyinUser::new("awkey", "_0OPEN"));
    /// assert_eq!(u.key(), "douyin:open:awkey:_0OPEN");
    /// ```
    pub fn key(&self) -> String {
        match self {
            Identity::Wechat(u) => u.key(),
            Identity::Wecom(u) => match (&u.user_id, &u.openid) {
                (Some(id), _) => format!("wecom:{}:user:{id}", u.corp_id),
                (None, Some(o)) => format!("wecom:{}:openid:{o}", u.corp_id),
                (None, None) => format!("wecom:{}:", u.corp_id),
            },
            Identity::Douyin(u) => match &u.union_id {
                Some(id) => format!("douyin:union:{id}"),
                None => format!("douyin:open:{}:{}", u.client_key, u.open_id),
            },
        }
    }

    /// The app (WeChat appid, WeCom corp id, Douyin client key) the ids belong to: where
    /// the store keeps this session's refresh claims.
    pub(crate) fn app(&self) -> &str {
        match self {
            Identity::Wechat(u) => &u.appid,
            Identity::Wecom(u) => &u.corp_id,
            Identity::Douyin(u) => &u.client_key,
        }
    }
}

impl From<WechatUser> for Identity {
    fn from(user: WechatUser) -> Self {
        Identity::Wechat(user)
    }
}

impl From<WecomUser> for Identity {
    fn from(user: WecomUser) -> Self {
        Identity::Wecom(user)
    }
}

impl From<DouyinUser> for Identity {
    fn from(user: DouyinUser) -> Self {
        Identity::Douyin(user)
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
pub struct SharedUser(Arc<Session>);

impl SharedUser {
    /// The WeChat user of `session`; `None` for another provider's identity.
    pub(crate) fn of(session: &Arc<Session>) -> Option<Self> {
        session
            .identity
            .as_wechat()
            .is_some()
            .then(|| Self(session.clone()))
    }

    /// The user (a `SharedUser` is only made for a WeChat identity, by [`SharedUser::of`]).
    fn user(&self) -> &WechatUser {
        match &self.0.identity {
            Identity::Wechat(user) => user,
            _ => unreachable!("SharedUser::of admits WeChat identities only"),
        }
    }

    /// An owned copy of the user, for keeping beyond the request.
    ///
    /// ```
    /// fn keep(user: &wechat_auth::SharedUser) -> wechat_auth::WechatUser {
    ///     user.to_user()
    /// }
    /// ```
    pub fn to_user(&self) -> WechatUser {
        self.user().clone()
    }
}

impl std::ops::Deref for SharedUser {
    type Target = WechatUser;

    fn deref(&self) -> &WechatUser {
        self.user()
    }
}

impl AsRef<WechatUser> for SharedUser {
    fn as_ref(&self) -> &WechatUser {
        self.user()
    }
}

impl fmt::Debug for SharedUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.user(), f)
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
    /// Who is signed in.
    pub(crate) identity: Identity,
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
