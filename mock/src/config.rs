//! Apps, users and settings of a mock server: [`MockConfig`], [`MockApp`], [`AppKind`],
//! [`MockUser`].

use std::collections::{HashMap, HashSet};
use std::io;
use std::time::Duration;

use base64::Engine as _;
use sha1::{Digest, Sha1};

use super::douyin_apps::{MockDouyinApp, MockDouyinMiniApp};
use super::wecom_config::{MockWecomCorp, MockWecomSuite};

/// The id of the one simulated Open Platform account every bound app belongs to. Unionids are
/// derived from it, so they are stable across restarts.
const OPEN_PLATFORM_ACCOUNT: &str = "mock-open-platform-account";

/// Default lifetime of a user `refresh_token` (30 days, as most WeChat pages say).
pub(crate) const DEFAULT_REFRESH_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long WeChat waits for a push answer before it re-sends (protocol §7.3).
pub(crate) const DEFAULT_PUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// What kind of WeChat application an appid belongs to. It decides which endpoints accept it.
///
/// ```
/// use wechat_auth_mock::AppKind;
///
/// assert_eq!(AppKind::OfficialAccount.as_str(), "official_account");
/// assert!(AppKind::Website.is_open_platform());
/// assert!(!AppKind::MiniProgram.is_open_platform());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum AppKind {
    /// Open Platform website application (网站应用): `connect/qrconnect`, scope `snsapi_login`.
    Website,
    /// Official Account (服务号): `connect/oauth2/authorize`, global tokens, QR codes, follows.
    OfficialAccount,
    /// Open Platform mobile application: codes come from the OpenSDK.
    Mobile,
    /// Mini program: `js_code`s from `wx.login()`, exchanged at `sns/jscode2session`.
    MiniProgram,
}

impl AppKind {
    /// The name used by the control API (`GET /mock/config`): `website`, `official_account`,
    /// `mobile` or `mini_program`.
    ///
    /// ```
    /// assert_eq!(wechat_auth_mock::AppKind::MiniProgram.as_str(), "mini_program");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            AppKind::Website => "website",
            AppKind::OfficialAccount => "official_account",
            AppKind::Mobile => "mobile",
            AppKind::MiniProgram => "mini_program",
        }
    }

    /// Whether apps of this kind are created on the Open Platform (website and mobile apps).
    /// WeChat refuses such appids on the Official Account authorize page (error 10016).
    ///
    /// ```
    /// assert!(wechat_auth_mock::AppKind::Mobile.is_open_platform());
    /// ```
    pub fn is_open_platform(self) -> bool {
        matches!(self, AppKind::Website | AppKind::Mobile)
    }
}

impl std::fmt::Display for AppKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One registered WeChat application of the mock: its kind, credentials and settings.
///
/// The four defaults have fixed ids and secrets so that docs, scripts and `.env` files can
/// name them:
///
/// | kind | appid | secret |
/// |---|---|---|
/// | website | `wx1000000000000001` | `6b1f0e6d2c4a4f0f9f3a1d2b7c8e9f01` |
/// | official account | `wx2000000000000002` | `2f9c7b3e5a1d4c6b8e0f2a4c6e8b0d13` |
/// | mobile | `wx3000000000000003` | `9a8b7c6d5e4f30211203f4e5d6c7b8a9` |
/// | mini program | `wx4000000000000004` | `0f1e2d3c4b5a69788796a5b4c3d2e1f0` |
///
/// The Official Account also has push `token` `mocktoken`, EncodingAESKey
/// `abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG` and original id `gh_000000000001`. All four
/// are bound to one Open Platform account, so a user has one unionid across them.
///
/// A fifth default, [`MockApp::default_unverified`], is an **unverified subscription
/// account** (未认证订阅号, protocol §25): appid `wx5000000000000005`, secret
/// `5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b`, push token `mocksubtoken`, EncodingAESKey
/// `ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkg`, original id `gh_000000000005`. It has a
/// push URL, passive replies and global tokens, but `cgi-bin/qrcode/create`,
/// `cgi-bin/user/info` and `sns/oauth2/access_token` answer 48001 and the web authorization
/// page shows error 10005, as WeChat does for such accounts. It is never the primary
/// Official Account.
///
/// ```
/// use wechat_auth_mock::{AppKind, MockApp};
///
/// let oa = MockApp::default_for(AppKind::OfficialAccount);
/// assert_eq!(oa.appid, "wx2000000000000002");
/// assert_eq!(oa.token.as_deref(), Some("mocktoken"));
///
/// // An app of your own, not bound to the Open Platform account (no unionid):
/// let app = MockApp::new(AppKind::Website, "wx9000000000000009", "0123456789abcdef0123456789abcdef")
///     .unbound();
/// assert!(!app.bound);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MockApp {
    /// What kind of application this is.
    pub kind: AppKind,
    /// The AppID, e.g. `wx1000000000000001`.
    pub appid: String,
    /// The AppSecret (32 lowercase hex characters for the defaults).
    pub secret: String,
    /// Official Accounts only: the push URL token used to sign pushed messages.
    pub token: Option<String>,
    /// Official Accounts only: the 43-character EncodingAESKey for encrypted push, if any.
    pub encoding_aes_key: Option<String>,
    /// Official Accounts only: the original id (`gh_` + 12 hex) used as `ToUserName`.
    pub original_id: Option<String>,
    /// Whether the app is bound to the mock's Open Platform account; only bound apps see
    /// `unionid`s.
    pub bound: bool,
    /// The allowed redirect domains at start (授权回调域 / 网页授权域名); hosts without port.
    pub redirect_domains: Vec<String>,
    /// Official Accounts only: whether WeChat verified the account (认证). `true` for every
    /// app but [`MockApp::default_unverified`]. An unverified account has no parametric QR
    /// codes, no web authorization and no `cgi-bin/user/info` (protocol §25).
    pub verified: bool,
    /// Mini programs only: the published pages (`pages/index/index`, …), the first being the
    /// home page. When set, `wxa/generate_urllink` and `wxa/generatescheme` refuse a `path`
    /// that is none of them (40165), as WeChat does for a page the version lacks; when empty
    /// (the default) any well-formed path is accepted.
    pub pages: Vec<String>,
}

impl MockApp {
    /// A new app of `kind`, bound to the Open Platform account, allowing redirects to
    /// `127.0.0.1` and `localhost`. An Official Account gets the original id
    /// `gh_000000000001` and no push token; add them with the `with_*` methods.
    ///
    /// ```
    /// use wechat_auth_mock::{AppKind, MockApp};
    ///
    /// let app = MockApp::new(AppKind::Mobile, "wx5000000000000005", "00112233445566778899aabbccddeeff");
    /// assert_eq!(app.redirect_domains, ["127.0.0.1", "localhost"]);
    /// ```
    pub fn new(kind: AppKind, appid: impl Into<String>, secret: impl Into<String>) -> Self {
        MockApp {
            kind,
            appid: appid.into(),
            secret: secret.into(),
            token: None,
            encoding_aes_key: None,
            original_id: (kind == AppKind::OfficialAccount).then(|| "gh_000000000001".to_owned()),
            bound: true,
            redirect_domains: vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
            verified: true,
            pages: Vec::new(),
        }
    }

    /// The fixed default unverified subscription account (see the table on [`MockApp`]):
    /// push URL, passive replies and global tokens work; parametric QR codes,
    /// `cgi-bin/user/info` and web authorization are refused as WeChat refuses them.
    ///
    /// ```
    /// use wechat_auth_mock::{AppKind, MockApp};
    ///
    /// let sub = MockApp::default_unverified();
    /// assert_eq!(sub.kind, AppKind::OfficialAccount);
    /// assert!(!sub.verified);
    /// assert_eq!(sub.appid, "wx5000000000000005");
    /// assert_eq!(sub.token.as_deref(), Some("mocksubtoken"));
    /// assert!(MockApp::default_for(AppKind::OfficialAccount).verified);
    /// ```
    pub fn default_unverified() -> Self {
        MockApp::new(
            AppKind::OfficialAccount,
            "wx5000000000000005",
            "5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b",
        )
        .with_token("mocksubtoken")
        .with_encoding_aes_key("ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkg")
        .with_original_id("gh_000000000005")
        .unverified()
    }

    /// The same Official Account, not verified by WeChat (an unverified subscription
    /// account): `cgi-bin/qrcode/create`, `cgi-bin/user/info` and `sns/oauth2/access_token`
    /// answer 48001 for it and `connect/oauth2/authorize` shows error page 10005.
    /// `MockWechat::start_with` refuses it on other kinds of app.
    ///
    /// ```
    /// use wechat_auth_mock::{AppKind, MockApp};
    ///
    /// let oa = MockApp::new(AppKind::OfficialAccount, "wx2000000000000077", "00112233445566778899aabbccddeeff")
    ///     .with_token("histoken")
    ///     .unverified();
    /// assert!(!oa.verified);
    /// ```
    pub fn unverified(mut self) -> Self {
        self.verified = false;
        self
    }

    /// The fixed default app of `kind` (see the table on [`MockApp`]).
    ///
    /// ```
    /// use wechat_auth_mock::{AppKind, MockApp};
    ///
    /// assert_eq!(MockApp::default_for(AppKind::MiniProgram).appid, "wx4000000000000004");
    /// ```
    pub fn default_for(kind: AppKind) -> Self {
        match kind {
            AppKind::Website => MockApp::new(
                kind,
                "wx1000000000000001",
                "6b1f0e6d2c4a4f0f9f3a1d2b7c8e9f01",
            ),
            AppKind::OfficialAccount => MockApp::new(
                kind,
                "wx2000000000000002",
                "2f9c7b3e5a1d4c6b8e0f2a4c6e8b0d13",
            )
            .with_token("mocktoken")
            .with_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
            AppKind::Mobile => MockApp::new(
                kind,
                "wx3000000000000003",
                "9a8b7c6d5e4f30211203f4e5d6c7b8a9",
            ),
            AppKind::MiniProgram => MockApp::new(
                kind,
                "wx4000000000000004",
                "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
            ),
        }
    }

    /// The same app, not bound to the Open Platform account: WeChat then never returns a
    /// `unionid` for it.
    ///
    /// ```
    /// use wechat_auth_mock::{AppKind, MockApp};
    ///
    /// assert!(!MockApp::default_for(AppKind::MiniProgram).unbound().bound);
    /// ```
    pub fn unbound(mut self) -> Self {
        self.bound = false;
        self
    }

    /// Sets the push URL token (Official Accounts).
    ///
    /// ```
    /// use wechat_auth_mock::{AppKind, MockApp};
    ///
    /// let oa = MockApp::default_for(AppKind::OfficialAccount).with_token("othertoken");
    /// assert_eq!(oa.token.as_deref(), Some("othertoken"));
    /// ```
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Sets the EncodingAESKey (Official Accounts; 43 characters of `[A-Za-z0-9]`).
    ///
    /// ```
    /// use wechat_auth_mock::{AppKind, MockApp};
    ///
    /// let oa = MockApp::default_for(AppKind::OfficialAccount)
    ///     .with_encoding_aes_key("kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR");
    /// assert!(oa.encoding_aes_key.is_some());
    /// ```
    pub fn with_encoding_aes_key(mut self, key: impl Into<String>) -> Self {
        self.encoding_aes_key = Some(key.into());
        self
    }

    /// Removes the EncodingAESKey: an Official Account with a push token but plaintext push.
    ///
    /// ```
    /// use wechat_auth_mock::{AppKind, MockApp};
    ///
    /// let oa = MockApp::default_for(AppKind::OfficialAccount).without_encoding_aes_key();
    /// assert!(oa.encoding_aes_key.is_none() && oa.token.is_some());
    /// ```
    pub fn without_encoding_aes_key(mut self) -> Self {
        self.encoding_aes_key = None;
        self
    }

    /// Sets the original id (`gh_…`, Official Accounts).
    ///
    /// ```
    /// use wechat_auth_mock::{AppKind, MockApp};
    ///
    /// let oa = MockApp::default_for(AppKind::OfficialAccount).with_original_id("gh_0123456789ab");
    /// assert_eq!(oa.original_id.as_deref(), Some("gh_0123456789ab"));
    /// ```
    pub fn with_original_id(mut self, id: impl Into<String>) -> Self {
        self.original_id = Some(id.into());
        self
    }

    /// Replaces the allowed redirect domains (hosts, compared without port).
    ///
    /// ```
    /// use wechat_auth_mock::{AppKind, MockApp};
    ///
    /// let app = MockApp::default_for(AppKind::Website).with_redirect_domains(["example.com"]);
    /// assert_eq!(app.redirect_domains, ["example.com"]);
    /// ```
    pub fn with_redirect_domains<I, S>(mut self, domains: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.redirect_domains = domains.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the published pages of a mini program (the first is its home page): mini program
    /// links to any other page are refused with 40165.
    ///
    /// ```
    /// use wechat_auth_mock::{AppKind, MockApp};
    ///
    /// let mini = MockApp::default_for(AppKind::MiniProgram)
    ///     .with_pages(["pages/index/index", "pages/login/confirm"]);
    /// assert_eq!(mini.pages, ["pages/index/index", "pages/login/confirm"]);
    /// assert!(MockApp::default_for(AppKind::MiniProgram).pages.is_empty());
    /// ```
    pub fn with_pages<I, S>(mut self, pages: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.pages = pages.into_iter().map(Into::into).collect();
        self
    }
}

/// A simulated WeChat user, as the running mock sees it.
///
/// Identifiers are derived from the user's name (and the appid), so they are the same every
/// time the mock starts: an openid per appid, one unionid for all bound apps. Both have the
/// shape of real ones: 28 characters of `[A-Za-z0-9_-]` starting with `o`.
///
/// ```
/// use wechat_auth_mock::MockUser;
///
/// let alice = MockUser::derive("alice", "爱丽丝", "http://127.0.0.1:1/mmopen/vi_32/x/132");
/// let website = "wx1000000000000001";
/// let oa = "wx2000000000000002";
/// assert_eq!(alice.openid_for(website).len(), 28);
/// assert_ne!(alice.openid_for(website), alice.openid_for(oa));
/// assert!(alice.unionid.starts_with('o'));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MockUser {
    /// The short name used in URLs and the control API (`alice`).
    pub name: String,
    /// The WeChat nickname (`爱丽丝`).
    pub nickname: String,
    /// Avatar URL; the last path segment is the size (`/132`). Served by the mock itself so
    /// that pages work offline.
    pub headimgurl: String,
    /// The unionid in the mock's Open Platform account (only sent for bound apps).
    pub unionid: String,
    /// The phone number bound to the account (`138` + 8 digits derived from the name), what
    /// `wxa/business/getuserphonenumber` answers for this user.
    pub phone: String,
}

impl MockUser {
    /// Builds a user with derived identifiers. The mock does this for every configured user;
    /// it is public so that tests can compute a user's ids before a server runs.
    ///
    /// ```
    /// use wechat_auth_mock::MockUser;
    ///
    /// let a = MockUser::derive("bob", "Bob", "");
    /// let b = MockUser::derive("bob", "Robert", "");
    /// assert_eq!(a.unionid, b.unionid); // ids depend on the name only
    /// assert_eq!(a.phone, b.phone);
    /// assert!(a.phone.starts_with("138") && a.phone.len() == 11);
    /// ```
    pub fn derive(
        name: impl Into<String>,
        nickname: impl Into<String>,
        headimgurl: impl Into<String>,
    ) -> Self {
        let name = name.into();
        MockUser {
            unionid: derived_id("unionid", OPEN_PLATFORM_ACCOUNT, &name),
            phone: derived_phone(&name),
            nickname: nickname.into(),
            headimgurl: headimgurl.into(),
            name,
        }
    }

    /// The user's openid in the app `appid` (a different one per appid).
    ///
    /// ```
    /// use wechat_auth_mock::MockUser;
    ///
    /// let carol = MockUser::derive("carol", "Carol", "");
    /// let id = carol.openid_for("wx2000000000000002");
    /// assert!(id.starts_with('o') && id.len() == 28);
    /// assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
    /// ```
    pub fn openid_for(&self, appid: &str) -> String {
        derived_id("openid", appid, &self.name)
    }
}

/// `o` + 27 characters of URL-safe base64. Like real ones, ids of one app (or one Open
/// Platform account) share their first characters: 5 come from `scope`, 22 from (scope, name).
fn derived_id(what: &str, scope: &str, name: &str) -> String {
    let b64 = |parts: &[&str]| {
        let mut h = Sha1::new();
        for p in parts {
            h.update(p.as_bytes());
            h.update([0]);
        }
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize())
    };
    let prefix = b64(&[what, scope]);
    let own = b64(&[what, scope, name]);
    format!("o{}{}", &prefix[..5], &own[..22])
}

/// `138` + 8 decimal digits from SHA-1 of the name: stable, and distinct between users in
/// practice.
fn derived_phone(name: &str) -> String {
    let digest = Sha1::new()
        .chain_update(b"phone\0")
        .chain_update(name.as_bytes())
        .finalize();
    let mut first = [0_u8; 8];
    first.copy_from_slice(&digest[..8]);
    format!("138{:08}", u64::from_be_bytes(first) % 100_000_000)
}

/// A user as configured, before the server knows its own URL (for the avatar).
#[derive(Clone, Debug)]
pub(crate) struct UserSpec {
    pub(crate) name: String,
    pub(crate) nickname: String,
    pub(crate) headimgurl: Option<String>,
}

/// Everything a mock server starts with: apps, users and behaviour switches.
///
/// `MockConfig::default()` has the four fixed apps of [`MockApp`], then the unverified
/// subscription account [`MockApp::default_unverified`], and the users `alice` (爱丽丝),
/// `bob` (Bob) and `carol` (Carol).
///
/// ```
/// use std::time::Duration;
/// use wechat_auth_mock::{AppKind, MockApp, MockConfig};
///
/// let cfg = MockConfig::default()
///     .with_user("dave", "戴夫")
///     .blocked_user("carol") // jscode2session answers 40226 for carol
///     .subscribed_user("alice") // alice follows the Official Account
///     .refresh_token_ttl(Duration::from_secs(180 * 24 * 3600))
///     .website_deny_redirects(false)
///     .with_app(MockApp::default_for(AppKind::MiniProgram).unbound());
/// assert_eq!(cfg.apps().len(), 5);
/// ```
#[derive(Clone, Debug)]
pub struct MockConfig {
    pub(crate) apps: Vec<MockApp>,
    pub(crate) users: Vec<UserSpec>,
    /// Where each user's name is in `users`: adding, changing or finding a user costs the
    /// same with a million users as with three.
    pub(crate) user_index: HashMap<String, usize>,
    pub(crate) blocked: Vec<String>,
    pub(crate) subscribed: Vec<String>,
    pub(crate) refresh_token_ttl: Duration,
    pub(crate) website_deny_redirects: bool,
    pub(crate) text_plain: bool,
    pub(crate) push_timeout: Duration,
    pub(crate) wecom_corps: Vec<MockWecomCorp>,
    pub(crate) wecom_suites: Vec<MockWecomSuite>,
    pub(crate) douyin_apps: Vec<MockDouyinApp>,
    pub(crate) douyin_miniapps: Vec<MockDouyinMiniApp>,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            apps: [
                AppKind::Website,
                AppKind::OfficialAccount,
                AppKind::Mobile,
                AppKind::MiniProgram,
            ]
            .into_iter()
            .map(MockApp::default_for)
            .chain([MockApp::default_unverified()])
            .collect(),
            users: Vec::new(),
            user_index: HashMap::new(),
            blocked: Vec::new(),
            subscribed: Vec::new(),
            refresh_token_ttl: DEFAULT_REFRESH_TTL,
            website_deny_redirects: true,
            text_plain: false,
            push_timeout: DEFAULT_PUSH_TIMEOUT,
            wecom_corps: vec![MockWecomCorp::default_corp()],
            wecom_suites: vec![MockWecomSuite::default_suite()],
            douyin_apps: vec![MockDouyinApp::default_app()],
            douyin_miniapps: vec![MockDouyinMiniApp::default_miniapp()],
        }
        .with_user("alice", "爱丽丝")
        .with_user("bob", "Bob")
        .with_user("carol", "Carol")
    }
}

impl MockConfig {
    /// Same as [`MockConfig::default`].
    ///
    /// ```
    /// assert_eq!(wechat_auth_mock::MockConfig::new().apps().len(), 5);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The configured apps, primary app of each kind first in kind order, then the
    /// unverified subscription account and any added apps.
    ///
    /// ```
    /// use wechat_auth_mock::{AppKind, MockConfig};
    ///
    /// let cfg = MockConfig::default();
    /// assert_eq!(cfg.apps()[0].kind, AppKind::Website);
    /// assert!(cfg.apps()[1].verified && !cfg.apps()[4].verified);
    /// ```
    pub fn apps(&self) -> &[MockApp] {
        &self.apps
    }

    /// Replaces the primary app of `app.kind` (the one returned by `MockWechat::website()` etc.).
    ///
    /// ```
    /// use wechat_auth_mock::{AppKind, MockApp, MockConfig};
    ///
    /// let oa = MockApp::default_for(AppKind::OfficialAccount).without_encoding_aes_key();
    /// let cfg = MockConfig::default().with_app(oa);
    /// assert!(cfg.apps()[1].encoding_aes_key.is_none());
    /// ```
    pub fn with_app(mut self, app: MockApp) -> Self {
        match self.apps.iter_mut().find(|a| a.kind == app.kind) {
            Some(slot) => *slot = app,
            None => self.apps.push(app),
        }
        self
    }

    /// Adds one more app (for example a second Official Account). Its appid must differ from
    /// the others; `MockWechat::start_with` refuses duplicates.
    ///
    /// ```
    /// use wechat_auth_mock::{AppKind, MockApp, MockConfig};
    ///
    /// let extra = MockApp::new(AppKind::OfficialAccount, "wx2000000000000099", "ffeeddccbbaa99887766554433221100");
    /// assert_eq!(MockConfig::default().add_app(extra).apps().len(), 6);
    /// ```
    pub fn add_app(mut self, app: MockApp) -> Self {
        self.apps.push(app);
        self
    }

    /// Replaces the unverified subscription account (the one `MockWechat::unverified_account()`
    /// returns; default [`MockApp::default_unverified`]) with `app`, made unverified. Use it to
    /// give the account other credentials or no EncodingAESKey (plain push only).
    ///
    /// ```
    /// use wechat_auth_mock::{MockApp, MockConfig};
    ///
    /// let sub = MockApp::default_unverified().without_encoding_aes_key();
    /// let cfg = MockConfig::default().with_unverified_account(sub);
    /// assert_eq!(cfg.apps().len(), 5);
    /// assert!(cfg.apps()[4].encoding_aes_key.is_none());
    /// ```
    pub fn with_unverified_account(mut self, app: MockApp) -> Self {
        let app = app.unverified();
        let slot = self
            .apps
            .iter_mut()
            .find(|a| a.kind == AppKind::OfficialAccount && !a.verified);
        match slot {
            Some(slot) => *slot = app,
            None => self.apps.push(app),
        }
        self
    }

    /// Adds a user (or renames the nickname of an existing one). Names are
    /// `[A-Za-z0-9_-]{1,32}`.
    ///
    /// ```
    /// let cfg = wechat_auth_mock::MockConfig::default().with_user("dave", "戴夫");
    /// # let _ = cfg;
    /// ```
    pub fn with_user(mut self, name: impl Into<String>, nickname: impl Into<String>) -> Self {
        let name = name.into();
        let nickname = nickname.into();
        match self.user_index.get(&name) {
            Some(&at) => self.users[at].nickname = nickname,
            None => {
                self.user_index.insert(name.clone(), self.users.len());
                self.users.push(UserSpec {
                    name,
                    nickname,
                    headimgurl: None,
                });
            }
        }
        self
    }

    /// Gives a configured user an avatar URL of your own instead of the one the mock serves.
    ///
    /// ```
    /// let cfg = wechat_auth_mock::MockConfig::default()
    ///     .with_user_avatar("alice", "https://example.com/a/132");
    /// # let _ = cfg;
    /// ```
    pub fn with_user_avatar(mut self, name: &str, url: impl Into<String>) -> Self {
        let url = url.into();
        if let Some(&at) = self.user_index.get(name) {
            self.users[at].headimgurl = Some(url);
        }
        self
    }

    /// Removes a user (and their WeCom memberships).
    ///
    /// ```
    /// let cfg = wechat_auth_mock::MockConfig::default().without_user("carol");
    /// # let _ = cfg;
    /// ```
    pub fn without_user(mut self, name: &str) -> Self {
        if self.user_index.remove(name).is_some() {
            self.users.retain(|u| u.name != name);
            for corp in &mut self.wecom_corps {
                corp.members.retain(|m| m.name != name);
            }
            self.user_index = (self.users.iter().enumerate())
                .map(|(at, u)| (u.name.clone(), at))
                .collect();
        }
        self
    }

    /// Marks a user as "high risk": `sns/jscode2session` answers 40226 `code blocked` for them.
    ///
    /// ```
    /// let cfg = wechat_auth_mock::MockConfig::default().blocked_user("bob");
    /// # let _ = cfg;
    /// ```
    pub fn blocked_user(mut self, name: impl Into<String>) -> Self {
        self.blocked.push(name.into());
        self
    }

    /// Makes a user follow the primary Official Account from the start (`cgi-bin/user/info`
    /// then says `subscribe: 1`). By default nobody follows it.
    ///
    /// ```
    /// let cfg = wechat_auth_mock::MockConfig::default().subscribed_user("alice");
    /// # let _ = cfg;
    /// ```
    pub fn subscribed_user(mut self, name: impl Into<String>) -> Self {
        self.subscribed.push(name.into());
        self
    }

    /// Lifetime of user `refresh_token`s: 30 days by default (some WeChat pages say 180).
    ///
    /// ```
    /// use std::time::Duration;
    /// let cfg = wechat_auth_mock::MockConfig::default().refresh_token_ttl(Duration::from_secs(3600));
    /// # let _ = cfg;
    /// ```
    pub fn refresh_token_ttl(mut self, ttl: Duration) -> Self {
        self.refresh_token_ttl = ttl;
        self
    }

    /// What a refusal on the website QR page does. `true` (default, the older documented
    /// behaviour): redirect to `redirect_uri?state=STATE` without `code`. `false` (the current
    /// documented behaviour): show a page and redirect nowhere.
    ///
    /// ```
    /// let cfg = wechat_auth_mock::MockConfig::default().website_deny_redirects(false);
    /// # let _ = cfg;
    /// ```
    pub fn website_deny_redirects(mut self, redirects: bool) -> Self {
        self.website_deny_redirects = redirects;
        self
    }

    /// Answer every JSON body with `Content-Type: text/plain` from the start, as `sns/*` has
    /// been seen doing (see also `MockWechat::set_text_plain`).
    ///
    /// ```
    /// let cfg = wechat_auth_mock::MockConfig::default().text_plain(true);
    /// # let _ = cfg;
    /// ```
    pub fn text_plain(mut self, on: bool) -> Self {
        self.text_plain = on;
        self
    }

    /// How long a push delivery waits for the app's answer before WeChat gives up on it and
    /// re-sends (at most 3 deliveries): 5 s, as WeChat. Tests of the retries set a short one.
    /// Must not be zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cfg = wechat_auth_mock::MockConfig::default().push_timeout(Duration::from_millis(300));
    /// # let _ = cfg;
    /// ```
    pub fn push_timeout(mut self, timeout: Duration) -> Self {
        self.push_timeout = timeout;
        self
    }

    /// The WeCom corp apps: [`MockWecomCorp::default_corp`] first, then any added.
    ///
    /// ```
    /// let cfg = wechat_auth_mock::MockConfig::default();
    /// assert_eq!(cfg.wecom_corps()[0].corp_id, "ww6000000000000006");
    /// ```
    pub fn wecom_corps(&self) -> &[MockWecomCorp] {
        &self.wecom_corps
    }

    /// Replaces the primary WeCom corp app (the first one, `MockWechat::wecom_corp()`).
    ///
    /// ```
    /// use wechat_auth_mock::{MockConfig, MockWecomCorp};
    ///
    /// let cfg = MockConfig::default()
    ///     .with_wecom_corp(MockWecomCorp::default_corp().with_trusted_domains(["app.example"]));
    /// assert_eq!(cfg.wecom_corps().len(), 1);
    /// ```
    pub fn with_wecom_corp(mut self, corp: MockWecomCorp) -> Self {
        match self.wecom_corps.first_mut() {
            Some(slot) => *slot = corp,
            None => self.wecom_corps.push(corp),
        }
        self
    }

    /// Adds a WeCom corp app: another corp, or another app (agent) of a corp already there.
    /// `(corp_id, agent_id)` must be unique.
    ///
    /// ```
    /// use wechat_auth_mock::{MockConfig, MockWecomCorp};
    ///
    /// let second_agent = MockWecomCorp::new("ww6000000000000006", "1000003", "another-secret");
    /// assert_eq!(MockConfig::default().add_wecom_corp(second_agent).wecom_corps().len(), 2);
    /// ```
    pub fn add_wecom_corp(mut self, corp: MockWecomCorp) -> Self {
        self.wecom_corps.push(corp);
        self
    }

    /// The WeCom third-party suites: [`MockWecomSuite::default_suite`] first, then any added.
    ///
    /// ```
    /// assert_eq!(wechat_auth_mock::MockConfig::default().wecom_suites().len(), 1);
    /// ```
    pub fn wecom_suites(&self) -> &[MockWecomSuite] {
        &self.wecom_suites
    }

    /// Replaces the primary WeCom suite (`MockWechat::wecom_suite()`).
    ///
    /// ```
    /// use wechat_auth_mock::{MockConfig, MockWecomSuite};
    ///
    /// let cfg = MockConfig::default()
    ///     .with_wecom_suite(MockWecomSuite::default_suite().with_trusted_domains(["saas.example"]));
    /// assert_eq!(cfg.wecom_suites()[0].trusted_domains, ["saas.example"]);
    /// ```
    pub fn with_wecom_suite(mut self, suite: MockWecomSuite) -> Self {
        match self.wecom_suites.first_mut() {
            Some(slot) => *slot = suite,
            None => self.wecom_suites.push(suite),
        }
        self
    }

    /// Adds a WeCom suite (its suite id must be new).
    ///
    /// ```
    /// use wechat_auth_mock::{MockConfig, MockWecomSuite};
    ///
    /// let other = MockWecomSuite::new("ww8000000000000009", "s", "tok", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG");
    /// assert_eq!(MockConfig::default().add_wecom_suite(other).wecom_suites().len(), 2);
    /// ```
    pub fn add_wecom_suite(mut self, suite: MockWecomSuite) -> Self {
        self.wecom_suites.push(suite);
        self
    }

    /// Checks the configuration; `MockWechat::start_with` calls this and fails with
    /// `InvalidInput` on the first problem.
    pub(crate) fn validate(&self) -> io::Result<()> {
        let bad = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        if self.push_timeout.is_zero() {
            return bad("mock config: push_timeout must not be zero".to_owned());
        }
        let mut appids = HashSet::new();
        for app in &self.apps {
            if app.appid.is_empty()
                || app.appid.len() > 32
                || !app
                    .appid
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return bad(format!("mock app: invalid appid {:?}", app.appid));
            }
            if !app.verified && app.kind != AppKind::OfficialAccount {
                return bad(format!(
                    "mock app {}: only Official Accounts can be unverified",
                    app.appid
                ));
            }
            if !appids.insert(app.appid.as_str()) {
                return bad(format!("mock app: duplicate appid {}", app.appid));
            }
            if app.secret.is_empty() {
                return bad(format!("mock app {}: empty secret", app.appid));
            }
            if let Some(token) = &app.token
                && (token.len() < 3
                    || token.len() > 32
                    || !token.chars().all(|c| c.is_ascii_alphanumeric()))
            {
                return bad(format!(
                    "mock app {}: push token must be 3..32 letters or digits",
                    app.appid
                ));
            }
            if let Some(key) = &app.encoding_aes_key
                && (key.len() != 43 || !key.chars().all(|c| c.is_ascii_alphanumeric()))
            {
                return bad(format!(
                    "mock app {}: EncodingAESKey must be 43 letters or digits",
                    app.appid
                ));
            }
        }
        let mut names = HashSet::new();
        for user in &self.users {
            if !valid_user_name(&user.name) {
                return bad(format!("mock user: invalid name {:?}", user.name));
            }
            if !names.insert(user.name.as_str()) {
                return bad(format!("mock user: duplicate name {}", user.name));
            }
        }
        for name in self.blocked.iter().chain(&self.subscribed) {
            if !names.contains(name.as_str()) {
                return bad(format!("mock config names unknown user {name:?}"));
            }
        }
        self.validate_wecom(&appids, &names)?;
        self.validate_douyin(&appids)
    }

    fn validate_wecom(&self, appids: &HashSet<&str>, names: &HashSet<&str>) -> io::Result<()> {
        let bad = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        let mut apps = HashSet::new();
        let mut suites = HashSet::new();
        for suite in &self.wecom_suites {
            let id = &suite.suite_id;
            let shaped =
                !id.is_empty() && id.len() <= 32 && id.chars().all(|c| c.is_ascii_alphanumeric());
            if !shaped || appids.contains(id.as_str()) || !suites.insert(id.as_str()) {
                return bad(format!(
                    "mock wecom suite: invalid or duplicate suite_id {id:?}"
                ));
            }
            if self.wecom_corps.iter().any(|c| &c.corp_id == id) {
                return bad(format!("mock wecom suite {id}: a corp has this id"));
            }
            if suite.suite_secret.is_empty() {
                return bad(format!("mock wecom suite {id}: empty suite_secret"));
            }
            let token_ok = (3..=32).contains(&suite.token.len())
                && suite.token.chars().all(|c| c.is_ascii_alphanumeric());
            if !token_ok || super::wire::SafeModeKey::new(&suite.encoding_aes_key).is_err() {
                return bad(format!(
                    "mock wecom suite {id}: token must be 3..32 letters or digits and the \
                     EncodingAESKey 43 letters or digits"
                ));
            }
            for corp in &suite.authorized_corps {
                if !self.wecom_corps.iter().any(|c| &c.corp_id == corp) {
                    return bad(format!(
                        "mock wecom suite {id}: unknown authorized corp {corp:?}"
                    ));
                }
            }
        }
        for corp in &self.wecom_corps {
            let id = &corp.corp_id;
            if id.is_empty() || id.len() > 32 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
                return bad(format!("mock wecom corp: invalid corp_id {id:?}"));
            }
            if appids.contains(id.as_str()) {
                return bad(format!("mock wecom corp {id}: an app already has this id"));
            }
            let agent = &corp.agent_id;
            if agent.is_empty() || agent.len() > 10 || !agent.chars().all(|c| c.is_ascii_digit()) {
                return bad(format!("mock wecom corp {id}: invalid agent_id {agent:?}"));
            }
            if !apps.insert((id.as_str(), agent.as_str())) {
                return bad(format!("mock wecom corp {id}: duplicate agent_id {agent}"));
            }
            if corp.secret.is_empty() {
                return bad(format!("mock wecom corp {id}: empty secret"));
            }
            let mut user_ids = HashSet::new();
            for m in &corp.members {
                if !names.contains(m.name.as_str()) {
                    return bad(format!("mock wecom corp {id}: unknown member {:?}", m.name));
                }
                let ok = !m.user_id.is_empty()
                    && m.user_id.len() <= 64
                    && (m.user_id.chars()).all(|c| c.is_ascii_alphanumeric() || "_-.@".contains(c));
                if !ok || !user_ids.insert(m.user_id.as_str()) {
                    return bad(format!(
                        "mock wecom corp {id}: bad or duplicate user_id {:?}",
                        m.user_id
                    ));
                }
                if !matches!(m.gender.as_str(), "0" | "1" | "2") {
                    return bad(format!(
                        "mock wecom corp {id}: gender must be \"0\", \"1\" or \"2\""
                    ));
                }
            }
        }
        Ok(())
    }
}

fn valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_have_real_shapes_and_are_stable() {
        let a = MockUser::derive("alice", "x", "");
        let id = a.openid_for("wx1");
        assert_eq!(id, MockUser::derive("alice", "y", "").openid_for("wx1"));
        assert_eq!(id.len(), 28);
        assert!(id.starts_with('o'));
        assert_ne!(id, a.openid_for("wx2"));
        assert_ne!(a.unionid, MockUser::derive("bob", "x", "").unionid);
    }

    #[test]
    fn the_user_index_follows_adds_renames_and_removals() {
        let cfg = MockConfig::default()
            .with_user("dave", "Dave")
            .with_user("alice", "Alice again")
            .with_user_avatar("dave", "https://example.com/d.png")
            .without_user("bob")
            .with_user("erin", "Erin");
        let names: Vec<_> = cfg.users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["alice", "carol", "dave", "erin"]);
        for (at, u) in cfg.users.iter().enumerate() {
            assert_eq!(cfg.user_index[&u.name], at, "{}", u.name);
        }
        assert_eq!(cfg.user_index.len(), 4);
        assert_eq!(cfg.users[0].nickname, "Alice again");
        let dave = &cfg.users[cfg.user_index["dave"]];
        assert_eq!(
            dave.headimgurl.as_deref(),
            Some("https://example.com/d.png")
        );
        assert!(cfg.validate().is_ok());
    }

    #[test]
    fn validation_rejects_duplicates_and_bad_keys() {
        assert!(MockConfig::default().validate().is_ok());
        let dup = MockConfig::default().add_app(MockApp::default_for(AppKind::Website));
        assert!(dup.validate().is_err());
        let badkey = MockConfig::default().with_app(
            MockApp::default_for(AppKind::OfficialAccount).with_encoding_aes_key("short"),
        );
        assert!(badkey.validate().is_err());
        let unverified_site =
            MockConfig::default().with_app(MockApp::default_for(AppKind::Website).unverified());
        assert!(unverified_site.validate().is_err());
        assert!(
            MockConfig::default()
                .blocked_user("nobody")
                .validate()
                .is_err()
        );
        assert!(
            MockConfig::default()
                .with_user("bad name", "x")
                .validate()
                .is_err()
        );
    }
}
