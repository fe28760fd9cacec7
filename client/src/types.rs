//! Typed WeChat responses and request bodies.
//!
//! Response types ignore fields they do not name and, where WeChat leaves fields out, fall back
//! to serde defaults, so an extra `errcode: 0` or a retired field never breaks decoding. Every
//! token, refresh token and `session_key` is a [`Secret`]: `{:?}` prints `Secret(***)`.
//!
//! The types also implement `Serialize` so a server-side store can keep them; that output holds
//! the secrets in clear, so it must never reach a browser or a log.

use serde::{Deserialize, Deserializer, Serialize};

use super::error::WechatError;
use crate::secret::Secret;

/// Language of the region names in profile answers (`lang` query parameter).
///
/// ```
/// use wechat_auth_client::Lang;
///
/// assert_eq!(Lang::ZhCn.as_str(), "zh_CN");
/// assert_eq!(Lang::default(), Lang::ZhCn);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    /// Simplified Chinese, `zh_CN` (WeChat's default).
    #[default]
    ZhCn,
    /// Traditional Chinese, `zh_TW`.
    ZhTw,
    /// English, `en`.
    En,
}

impl Lang {
    /// The value WeChat expects in the `lang` parameter.
    ///
    /// ```
    /// assert_eq!(wechat_auth_client::Lang::En.as_str(), "en");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ZhCn => "zh_CN",
            Self::ZhTw => "zh_TW",
            Self::En => "en",
        }
    }
}

/// Scope requested from Official Account web authorization (`connect/oauth2/authorize`).
///
/// ```
/// use wechat_auth_client::OaScope;
///
/// assert_eq!(OaScope::Base.as_str(), "snsapi_base");
/// assert_eq!(OaScope::UserInfo.as_str(), "snsapi_userinfo");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OaScope {
    /// `snsapi_base`: silent, yields the openid only.
    Base,
    /// `snsapi_userinfo`: consent prompt, the token can read `sns/userinfo`.
    UserInfo,
    /// Adaptive (a login policy, not a wire value): sign in silently with `snsapi_base`, ask
    /// for `snsapi_userinfo` only when the app needs the profile
    /// (the `wechat-auth` layer's `WechatHandle::profile` says so). Sent as `snsapi_base`.
    BaseThenUserinfo,
}

impl OaScope {
    /// The value WeChat expects in the `scope` parameter.
    ///
    /// ```
    /// assert_eq!(wechat_auth_client::OaScope::Base.as_str(), "snsapi_base");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Base | Self::BaseThenUserinfo => "snsapi_base",
            Self::UserInfo => "snsapi_userinfo",
        }
    }
}

/// A user-level OAuth token from `sns/oauth2/access_token` or `sns/oauth2/refresh_token`.
///
/// Not the global token of [`GlobalToken`]: this one is for `sns/*` calls about one user.
///
/// ```
/// use wechat_auth_client::OAuthToken;
///
/// let body = r#"{"access_token":"AT","expires_in":7200,"refresh_token":"RT",
///     "openid":"OPENID","scope":"snsapi_userinfo","is_snapshotuser":1,"unionid":"UNIONID"}"#;
/// let token: OAuthToken = serde_json::from_str(body).unwrap();
/// assert!(token.is_snapshotuser);
/// assert_eq!(token.access_token.expose(), "AT");
/// assert!(!format!("{token:?}").contains("RT"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct OAuthToken {
    /// The user access token (about 2 hours).
    pub access_token: Secret,
    /// Lifetime of `access_token` in seconds (7200).
    pub expires_in: u64,
    /// Renews `access_token` (about 30 days, cannot be extended).
    pub refresh_token: Secret,
    /// The user's id for this AppID (stray spaces trimmed).
    #[serde(deserialize_with = "trimmed")]
    pub openid: String,
    /// Granted scopes, comma-separated (`snsapi_base`, `snsapi_userinfo`, `snsapi_login`).
    #[serde(default)]
    pub scope: String,
    /// Same person across every app of one Open Platform account; absent when the app is not
    /// bound, for `snsapi_base`, and in refresh answers. Stray spaces are trimmed.
    #[serde(default, deserialize_with = "trimmed_opt")]
    pub unionid: Option<String>,
    /// `true` for an Official Account "snapshot page" virtual user (`"is_snapshotuser": 1`):
    /// its openid/unionid are virtual — treat the visitor as anonymous and persist nothing.
    #[serde(default, deserialize_with = "flag")]
    pub is_snapshotuser: bool,
}

/// A user's profile from `sns/userinfo`.
///
/// Since late 2021 `sex` is always 0 and the region fields are empty.
///
/// ```
/// use wechat_auth_client::UserInfo;
///
/// let info: UserInfo = serde_json::from_str(r#"{"openid":"O","nickname":"N"}"#).unwrap();
/// assert_eq!(info.nickname, "N");
/// assert!(info.privilege.is_empty());
/// assert_eq!(info.unionid, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct UserInfo {
    /// The user's id for this AppID (stray spaces trimmed).
    #[serde(deserialize_with = "trimmed")]
    pub openid: String,
    /// Nickname.
    pub nickname: String,
    /// 1 male, 2 female, 0 unknown (always 0 since 2021-10). Older answers send it as a
    /// string (`"1"`); both read, anything else reads as 0.
    #[serde(deserialize_with = "sex")]
    pub sex: u8,
    /// Province (empty since 2021-10).
    pub province: String,
    /// City (empty since 2021-10).
    pub city: String,
    /// Country (empty since 2021-10).
    pub country: String,
    /// Avatar URL; the last path segment is the size (`0` = 640×640, `46`, `64`, `96`, `132`).
    /// Empty when the user has none; dies when the user changes avatar.
    pub headimgurl: String,
    /// Privileges, e.g. `["chinaunicom"]`; usually empty.
    pub privilege: Vec<String>,
    /// Present when the app is bound to an Open Platform account (stray spaces trimmed).
    #[serde(deserialize_with = "trimmed_opt")]
    pub unionid: Option<String>,
}

/// A mini program login session from `sns/jscode2session`.
///
/// ```
/// use wechat_auth_client::MiniSession;
///
/// let body = r#"{"openid":"O","session_key":"tiihtNczf5v6AKRyjwEUhQ==","errcode":0,"errmsg":"ok"}"#;
/// let s: MiniSession = serde_json::from_str(body).unwrap();
/// assert_eq!(s.openid, "O");
/// assert!(!format!("{s:?}").contains("tiih"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct MiniSession {
    /// The user's id for this mini program (stray spaces trimmed).
    #[serde(deserialize_with = "trimmed")]
    pub openid: String,
    /// Key for decrypting `encryptedData`; never send it to the mini program.
    pub session_key: Secret,
    /// Present when the mini program is bound to an Open Platform account (stray spaces
    /// trimmed).
    #[serde(default, deserialize_with = "trimmed_opt")]
    pub unionid: Option<String>,
}

/// An app-wide ("global") access token from `cgi-bin/token` or `cgi-bin/stable_token`.
///
/// ```
/// use wechat_auth_client::GlobalToken;
///
/// let t: GlobalToken = serde_json::from_str(r#"{"access_token":"70_x","expires_in":7200}"#).unwrap();
/// assert_eq!(t.expires_in, 7200);
/// assert_eq!(format!("{t:?}"), "GlobalToken { access_token: Secret(***), expires_in: 7200 }");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct GlobalToken {
    /// The token for `cgi-bin/*` calls (store at least 512 characters).
    pub access_token: Secret,
    /// Lifetime in seconds (at most 7200).
    pub expires_in: u64,
}

/// A parametric QR code ticket from `cgi-bin/qrcode/create`.
///
/// ```
/// use wechat_auth_client::QrTicket;
///
/// let t: QrTicket = serde_json::from_str(
///     r#"{"ticket":"gQH4=","expire_seconds":60,"url":"http://weixin.qq.com/q/kZgf"}"#,
/// ).unwrap();
/// assert_eq!(t.expire_seconds, Some(60));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct QrTicket {
    /// Exchange for the image at `showqrcode` (see [`WechatClient::showqrcode_url`]); contains
    /// `+`, `/` and `=`.
    ///
    /// [`WechatClient::showqrcode_url`]: crate::WechatClient::showqrcode_url
    pub ticket: String,
    /// Validity in seconds; absent for permanent codes (and once seen as `0` while the code
    /// kept the requested lifetime — do not trust `Some(0)`).
    #[serde(default)]
    pub expire_seconds: Option<u64>,
    /// The content encoded in the QR image: render your own QR code from it.
    pub url: String,
}

/// A follower's profile from `cgi-bin/user/info` (Official Account user management).
///
/// When `subscribe` is false the user does not follow the account and only `openid` (and
/// perhaps `unionid`) is filled. Since 2021-12-27 `nickname` and `headimgurl` are empty.
///
/// ```
/// use wechat_auth_client::OaUserInfo;
///
/// let u: OaUserInfo = serde_json::from_str(
///     r#"{"subscribe":1,"openid":"O","subscribe_scene":"ADD_SCENE_QR_CODE","qr_scene_str":"login_1"}"#,
/// ).unwrap();
/// assert!(u.subscribe);
/// assert_eq!(u.qr_scene_str, "login_1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct OaUserInfo {
    /// Whether the user follows the Official Account (`subscribe`: 1).
    #[serde(deserialize_with = "flag")]
    pub subscribe: bool,
    /// The user's id for this Official Account (stray spaces trimmed).
    #[serde(deserialize_with = "trimmed")]
    pub openid: String,
    /// Present when the account is bound to an Open Platform account (stray spaces trimmed).
    #[serde(deserialize_with = "trimmed_opt")]
    pub unionid: Option<String>,
    /// Empty since 2021-12-27.
    pub nickname: String,
    /// Empty since 2021-12-27.
    pub headimgurl: String,
    /// The user's language, e.g. `zh_CN`.
    pub language: String,
    /// Unix seconds of the latest follow.
    pub subscribe_time: u64,
    /// How the user followed, e.g. `ADD_SCENE_QR_CODE`, `ADD_SCENE_SEARCH`.
    pub subscribe_scene: String,
    /// Integer scene of the parametric QR code the user followed through (0 if none).
    pub qr_scene: u64,
    /// String scene of the parametric QR code the user followed through (empty if none).
    pub qr_scene_str: String,
    /// The operator's remark about this follower.
    pub remark: String,
    /// Legacy group id.
    pub groupid: i64,
    /// Tag ids.
    pub tagid_list: Vec<i64>,
}

/// Reads WeChat's 0/1 flags; also accepts `true`/`false` and `null`, so values this crate
/// serialized itself read back.
fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Int(i64),
        Bool(bool),
    }
    Ok(match Option::<Flag>::deserialize(deserializer)? {
        None => false,
        Some(Flag::Int(n)) => n != 0,
        Some(Flag::Bool(b)) => b,
    })
}

/// An id (openid, unionid) without the stray spaces some WeChat samples carry
/// (`" o6_bm…"`); a null reads as empty.
fn trimmed<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let raw = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
    Ok(match raw.trim() {
        t if t.len() == raw.len() => raw,
        t => t.to_owned(),
    })
}

/// An optional id, trimmed; blank reads as absent.
fn trimmed_opt<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let raw = Option::<String>::deserialize(deserializer)?;
    Ok(raw.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()))
}

/// `sex` as current answers send it (a number) or older ones did (a numeric string, `"1"`);
/// anything else (out of range, not a number, null) is 0, "unknown".
fn sex<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u8, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Text(String),
        Other(serde::de::IgnoredAny),
    }
    let n = match Raw::deserialize(deserializer)? {
        Raw::Int(n) => n,
        Raw::Text(s) => s.trim().parse().unwrap_or(0),
        Raw::Other(_) => 0,
    };
    Ok(u8::try_from(n).ok().filter(|n| *n <= 2).unwrap_or(0))
}

/// Longest valid `scene_str` in bytes.
pub(crate) const MAX_SCENE_STR_BYTES: usize = 64;
/// Longest lifetime of a temporary QR code (30 days), in seconds.
pub(crate) const MAX_QR_EXPIRE_SECONDS: u32 = 2_592_000;
/// Largest permanent integer scene.
pub(crate) const MAX_PERMANENT_SCENE_ID: u32 = 100_000;

/// The body of `cgi-bin/qrcode/create`: which kind of parametric QR code and its scene.
///
/// Serializes exactly as WeChat expects, with the `action_info.scene` wrapper (without it
/// WeChat silently uses scene 0). Values are checked by [`QrCodeRequest::validate`], which
/// [`WechatClient::qrcode_create`] runs before sending anything.
///
/// [`WechatClient::qrcode_create`]: crate::WechatClient::qrcode_create
///
/// ```
/// use wechat_auth_client::QrCodeRequest;
///
/// let req = QrCodeRequest::temporary_str("login_3f9a2c", 300);
/// assert_eq!(
///     serde_json::to_string(&req).unwrap(),
///     r#"{"expire_seconds":300,"action_name":"QR_STR_SCENE","action_info":{"scene":{"scene_str":"login_3f9a2c"}}}"#,
/// );
/// assert!(req.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QrCodeRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    expire_seconds: Option<u32>,
    action_name: &'static str,
    action_info: ActionInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct ActionInfo {
    scene: Scene,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
enum Scene {
    #[serde(rename = "scene_id")]
    Id(u32),
    #[serde(rename = "scene_str")]
    Str(String),
}

impl QrCodeRequest {
    /// A temporary code with a string scene (`QR_STR_SCENE`): what scan login uses.
    ///
    /// `scene_str` must be 1..=64 bytes; `expire_seconds` 1..=2592000 (30 days).
    ///
    /// ```
    /// let req = wechat_auth_client::QrCodeRequest::temporary_str("login_abc", 600);
    /// assert_eq!(req.action_name(), "QR_STR_SCENE");
    /// assert_eq!(req.expire_seconds(), Some(600));
    /// ```
    pub fn temporary_str(scene_str: impl Into<String>, expire_seconds: u32) -> Self {
        Self::new(
            Some(expire_seconds),
            "QR_STR_SCENE",
            Scene::Str(scene_str.into()),
        )
    }

    /// A temporary code with an integer scene (`QR_SCENE`); `scene_id` must be non-zero.
    ///
    /// ```
    /// let req = wechat_auth_client::QrCodeRequest::temporary_int(123, 604_800);
    /// assert_eq!(
    ///     serde_json::to_string(&req).unwrap(),
    ///     r#"{"expire_seconds":604800,"action_name":"QR_SCENE","action_info":{"scene":{"scene_id":123}}}"#,
    /// );
    /// ```
    pub fn temporary_int(scene_id: u32, expire_seconds: u32) -> Self {
        Self::new(Some(expire_seconds), "QR_SCENE", Scene::Id(scene_id))
    }

    /// A permanent code with a string scene (`QR_LIMIT_STR_SCENE`); at most 100,000 permanent
    /// codes per account.
    ///
    /// ```
    /// let req = wechat_auth_client::QrCodeRequest::permanent_str("promo");
    /// assert_eq!(
    ///     serde_json::to_string(&req).unwrap(),
    ///     r#"{"action_name":"QR_LIMIT_STR_SCENE","action_info":{"scene":{"scene_str":"promo"}}}"#,
    /// );
    /// ```
    pub fn permanent_str(scene_str: impl Into<String>) -> Self {
        Self::new(None, "QR_LIMIT_STR_SCENE", Scene::Str(scene_str.into()))
    }

    /// A permanent code with an integer scene (`QR_LIMIT_SCENE`); `scene_id` must be
    /// 1..=100000.
    ///
    /// ```
    /// let req = wechat_auth_client::QrCodeRequest::permanent_int(123);
    /// assert_eq!(
    ///     serde_json::to_string(&req).unwrap(),
    ///     r#"{"action_name":"QR_LIMIT_SCENE","action_info":{"scene":{"scene_id":123}}}"#,
    /// );
    /// ```
    pub fn permanent_int(scene_id: u32) -> Self {
        Self::new(None, "QR_LIMIT_SCENE", Scene::Id(scene_id))
    }

    fn new(expire_seconds: Option<u32>, action_name: &'static str, scene: Scene) -> Self {
        Self {
            expire_seconds,
            action_name,
            action_info: ActionInfo { scene },
        }
    }

    /// The `action_name`: `QR_SCENE`, `QR_STR_SCENE`, `QR_LIMIT_SCENE` or `QR_LIMIT_STR_SCENE`.
    ///
    /// ```
    /// let req = wechat_auth_client::QrCodeRequest::permanent_int(7);
    /// assert_eq!(req.action_name(), "QR_LIMIT_SCENE");
    /// ```
    pub fn action_name(&self) -> &'static str {
        self.action_name
    }

    /// The requested lifetime; `None` for permanent codes.
    ///
    /// ```
    /// let req = wechat_auth_client::QrCodeRequest::permanent_str("p");
    /// assert_eq!(req.expire_seconds(), None);
    /// ```
    pub fn expire_seconds(&self) -> Option<u32> {
        self.expire_seconds
    }

    /// Whether the code is permanent (`QR_LIMIT_*`).
    ///
    /// ```
    /// assert!(wechat_auth_client::QrCodeRequest::permanent_int(1).is_permanent());
    /// ```
    pub fn is_permanent(&self) -> bool {
        self.expire_seconds.is_none()
    }

    /// The string scene, for `*_STR_SCENE` codes.
    ///
    /// ```
    /// let req = wechat_auth_client::QrCodeRequest::temporary_str("s", 60);
    /// assert_eq!(req.scene_str(), Some("s"));
    /// assert_eq!(req.scene_id(), None);
    /// ```
    pub fn scene_str(&self) -> Option<&str> {
        match &self.action_info.scene {
            Scene::Str(s) => Some(s),
            Scene::Id(_) => None,
        }
    }

    /// The integer scene, for `QR_SCENE` / `QR_LIMIT_SCENE` codes.
    ///
    /// ```
    /// let req = wechat_auth_client::QrCodeRequest::temporary_int(9, 60);
    /// assert_eq!(req.scene_id(), Some(9));
    /// ```
    pub fn scene_id(&self) -> Option<u32> {
        match self.action_info.scene {
            Scene::Id(id) => Some(id),
            Scene::Str(_) => None,
        }
    }

    /// Checks the limits WeChat documents: `scene_str` 1..=64 bytes (bytes, the stricter
    /// reading), temporary `scene_id` non-zero, permanent `scene_id` 1..=100000,
    /// `expire_seconds` 1..=2592000.
    ///
    /// ```
    /// use wechat_auth_client::QrCodeRequest;
    ///
    /// assert!(QrCodeRequest::temporary_str("", 60).validate().is_err());
    /// assert!(QrCodeRequest::temporary_str("x".repeat(65), 60).validate().is_err());
    /// assert!(QrCodeRequest::temporary_str("ok", 2_592_001).validate().is_err());
    /// assert!(QrCodeRequest::permanent_int(100_001).validate().is_err());
    /// assert!(QrCodeRequest::temporary_str("x".repeat(64), 2_592_000).validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<(), WechatError> {
        let invalid = |msg: String| Err(WechatError::InvalidRequest(msg));
        if let Some(expire) = self.expire_seconds
            && !(1..=MAX_QR_EXPIRE_SECONDS).contains(&expire)
        {
            return invalid(format!(
                "QR expire_seconds must be 1..={MAX_QR_EXPIRE_SECONDS} (30 days), got {expire}"
            ));
        }
        match &self.action_info.scene {
            Scene::Str(s) if s.is_empty() || s.len() > MAX_SCENE_STR_BYTES => invalid(format!(
                "QR scene_str must be 1..={MAX_SCENE_STR_BYTES} bytes, got {} bytes",
                s.len()
            )),
            Scene::Id(0) => invalid("QR scene_id must not be 0".to_owned()),
            Scene::Id(id) if self.is_permanent() && *id > MAX_PERMANENT_SCENE_ID => invalid(
                format!("permanent QR scene_id must be 1..={MAX_PERMANENT_SCENE_ID}, got {id}"),
            ),
            _ => Ok(()),
        }
    }
}

/// A user's phone number from `wxa/business/getuserphonenumber` (protocol §17.1).
///
/// Built from `phone_info`: `phoneNumber` (with the area code for foreign numbers),
/// `purePhoneNumber`, `countryCode` (WeChat sends a number or a string; kept as text) and
/// the `watermark`. Check that `watermark_appid` is your mini program's AppID.
///
/// ```
/// use wechat_auth_client::PhoneNumber;
///
/// let stored = r#"{"phone_number":"13800138000","pure_phone_number":"13800138000",
///     "country_code":"86","watermark_appid":"wxMINI","watermark_timestamp":1637744274}"#;
/// let phone: PhoneNumber = serde_json::from_str(stored)?;
/// assert_eq!(phone.country_code, "86");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneNumber {
    /// The bound number; foreign numbers include the area code.
    pub phone_number: String,
    /// The number without area code.
    pub pure_phone_number: String,
    /// The area code, e.g. `86`.
    pub country_code: String,
    /// The AppID the number was issued for (should be yours).
    pub watermark_appid: String,
    /// When the user obtained the number (Unix seconds).
    pub watermark_timestamp: u64,
}

/// The wire shape of a `getuserphonenumber` success.
#[derive(Debug, Deserialize)]
pub(crate) struct PhoneAnswer {
    phone_info: PhoneInfo,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PhoneInfo {
    phone_number: String,
    #[serde(default)]
    pure_phone_number: String,
    #[serde(default, deserialize_with = "text_or_number")]
    country_code: String,
    #[serde(default)]
    watermark: Watermark,
}

#[derive(Debug, Default, Deserialize)]
struct Watermark {
    #[serde(default)]
    appid: String,
    #[serde(default)]
    timestamp: u64,
}

impl From<PhoneAnswer> for PhoneNumber {
    fn from(answer: PhoneAnswer) -> Self {
        let info = answer.phone_info;
        PhoneNumber {
            phone_number: info.phone_number,
            pure_phone_number: info.pure_phone_number,
            country_code: info.country_code,
            watermark_appid: info.watermark.appid,
            watermark_timestamp: info.watermark.timestamp,
        }
    }
}

/// A string, or a number written as its decimal text (`86` and `"86"` both give `"86"`);
/// `null` gives `""`.
fn text_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Int(i64),
        Float(f64),
        Null(()),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::Text(s) => s,
        Raw::Int(n) => n.to_string(),
        Raw::Float(f) => f.to_string(),
        Raw::Null(()) => String::new(),
    })
}

/// What to draw in a mini program code (`wxa/getwxacodeunlimit`, protocol §18.1).
///
/// Only `scene` is required; unset fields are left out of the request, so WeChat's defaults
/// apply (home page, `check_path: true`, `env_version: "release"`, width 430). WeChat checks
/// the scene (at most 32 visible characters of `[0-9A-Za-z!#$&'()*+,/:;=?@-._~]`) and
/// answers 40169 / 40129; this type does not.
///
/// ```
/// use wechat_auth_client::WxaCodeRequest;
///
/// let req = WxaCodeRequest::new("t3f9a2c")
///     .with_page("pages/login/confirm")
///     .with_env_version("develop")
///     .with_check_path(false)
///     .with_width(280);
/// assert_eq!(req.scene, "t3f9a2c");
/// assert_eq!(req.page.as_deref(), Some("pages/login/confirm"));
/// assert_eq!(req.env_version.as_deref(), Some("develop"));
/// assert_eq!(req.check_path, Some(false));
/// assert_eq!(req.width, Some(280));
/// ```
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct WxaCodeRequest {
    /// The value the opened page reads as `decodeURIComponent(query.scene)`.
    pub scene: String,
    /// The page to open, e.g. `pages/index/index` (no leading `/`, no query); `None`: the
    /// home page.
    pub page: Option<String>,
    /// `release` (default), `trial` or `develop`.
    pub env_version: Option<String>,
    /// `false` lets the code open a page missing from the published version (while
    /// developing); WeChat's default is `true`.
    pub check_path: Option<bool>,
    /// Width in pixels, 280–1280 (WeChat's default 430).
    pub width: Option<u32>,
}

impl WxaCodeRequest {
    /// A request for `scene` with every option left to WeChat's default.
    ///
    /// ```
    /// let req = wechat_auth_client::WxaCodeRequest::new("login_1");
    /// assert_eq!(req.scene, "login_1");
    /// assert!(req.page.is_none() && req.env_version.is_none());
    /// assert!(req.check_path.is_none() && req.width.is_none());
    /// ```
    pub fn new(scene: impl Into<String>) -> Self {
        WxaCodeRequest {
            scene: scene.into(),
            page: None,
            env_version: None,
            check_path: None,
            width: None,
        }
    }

    /// The page the code opens (`pages/index/index`: no leading `/`, no query string).
    ///
    /// ```
    /// let req = wechat_auth_client::WxaCodeRequest::new("s").with_page("pages/a/a");
    /// assert_eq!(req.page.as_deref(), Some("pages/a/a"));
    /// ```
    pub fn with_page(mut self, page: impl Into<String>) -> Self {
        self.page = Some(page.into());
        self
    }

    /// The mini program version to open: `release`, `trial` or `develop`.
    ///
    /// ```
    /// let req = wechat_auth_client::WxaCodeRequest::new("s").with_env_version("trial");
    /// assert_eq!(req.env_version.as_deref(), Some("trial"));
    /// ```
    pub fn with_env_version(mut self, env_version: impl Into<String>) -> Self {
        self.env_version = Some(env_version.into());
        self
    }

    /// Whether WeChat checks that the page exists in the published version.
    ///
    /// ```
    /// let req = wechat_auth_client::WxaCodeRequest::new("s").with_check_path(false);
    /// assert_eq!(req.check_path, Some(false));
    /// ```
    pub fn with_check_path(mut self, check_path: bool) -> Self {
        self.check_path = Some(check_path);
        self
    }

    /// The image width in pixels (280–1280).
    ///
    /// ```
    /// let req = wechat_auth_client::WxaCodeRequest::new("s").with_width(1280);
    /// assert_eq!(req.width, Some(1280));
    /// ```
    pub fn with_width(mut self, width: u32) -> Self {
        self.width = Some(width);
        self
    }

    pub(crate) fn body(&self) -> WxaCodeBody<'_> {
        WxaCodeBody {
            scene: &self.scene,
            page: self.page.as_deref(),
            env_version: self.env_version.as_deref(),
            check_path: self.check_path,
            width: self.width,
        }
    }
}

/// The JSON body of `wxa/getwxacodeunlimit`; unset options are left out.
#[derive(Debug, Serialize)]
pub(crate) struct WxaCodeBody<'a> {
    scene: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    page: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    env_version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    check_path: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    width: Option<u32>,
}

/// A mini program code image from `wxa/getwxacodeunlimit`.
///
/// `content_type` comes from the bytes, never from the header (WeChat labels PNGs
/// `image/jpeg`): `image/png` or `image/jpeg`.
///
/// ```no_run
/// # async fn run(client: wechat_auth_client::WechatClient, token: wechat_auth_client::Secret) -> Result<(), wechat_auth_client::WechatError> {
/// use wechat_auth_client::WxaCodeRequest;
///
/// let code = client.wxa_code_unlimit(&token, &WxaCodeRequest::new("t3f9a2c")).await?;
/// assert!(matches!(code.content_type, "image/png" | "image/jpeg"));
/// # Ok(()) }
/// ```
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct WxaCode {
    /// The image file.
    pub bytes: bytes::Bytes,
    /// `image/png` or `image/jpeg`, sniffed from the bytes.
    pub content_type: &'static str,
}

/// The longest `query` a mini program link may carry (WeChat answers 40212 beyond).
pub(crate) const MAX_LINK_QUERY_CHARS: usize = 1024;

/// What a mini program link opens, and until when (`wxa/generate_urllink` and
/// `wxa/generatescheme`, protocol §26): a page of the mini program with a query string, in
/// a version of it, up to an absolute expiry (`expire_type: 0`).
///
/// Unset options are left out of the request, so WeChat's defaults apply (home page,
/// `release`). WeChat checks the page (40165: a leading `/` or a `?`, or a page the version
/// does not have) and the query (40212); this type refuses a query longer than 1024
/// characters before sending.
///
/// ```
/// use wechat_auth_client::WxaLinkRequest;
///
/// let req = WxaLinkRequest::new(1_700_000_300)
///     .with_path("pages/login/confirm")
///     .with_query("scene=t3f9a2c")
///     .with_env_version("trial");
/// assert_eq!(req.path.as_deref(), Some("pages/login/confirm"));
/// assert_eq!(req.query.as_deref(), Some("scene=t3f9a2c"));
/// assert_eq!(req.env_version.as_deref(), Some("trial"));
/// assert_eq!(req.expire_time, 1_700_000_300);
/// ```
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct WxaLinkRequest {
    /// The page to open, e.g. `pages/login/confirm` (no leading `/`, no query); `None`: the
    /// home page.
    pub path: Option<String>,
    /// The page's query string, e.g. `scene=ID` (at most 1024 characters), read in the
    /// page's `onLoad(options)`.
    pub query: Option<String>,
    /// `release` (default), `trial` or `develop`.
    pub env_version: Option<String>,
    /// When the link stops opening the mini program, Unix seconds (at most 30 days ahead).
    pub expire_time: u64,
}

impl WxaLinkRequest {
    /// A link to the home page of the released version that expires at `expire_time`
    /// (Unix seconds).
    ///
    /// ```
    /// let req = wechat_auth_client::WxaLinkRequest::new(1_700_000_000);
    /// assert!(req.path.is_none() && req.query.is_none() && req.env_version.is_none());
    /// ```
    pub fn new(expire_time: u64) -> Self {
        Self {
            path: None,
            query: None,
            env_version: None,
            expire_time,
        }
    }

    /// The page the link opens (`pages/index/index`: no leading `/`, no query string).
    ///
    /// ```
    /// let req = wechat_auth_client::WxaLinkRequest::new(1).with_path("pages/a/a");
    /// assert_eq!(req.path.as_deref(), Some("pages/a/a"));
    /// ```
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// The query string the page is opened with (`a=1&b=2`, at most 1024 characters).
    ///
    /// ```
    /// let req = wechat_auth_client::WxaLinkRequest::new(1).with_query("scene=abc");
    /// assert_eq!(req.query.as_deref(), Some("scene=abc"));
    /// ```
    pub fn with_query(mut self, query: impl Into<String>) -> Self {
        self.query = Some(query.into());
        self
    }

    /// The mini program version to open: `release`, `trial` or `develop`.
    ///
    /// ```
    /// let req = wechat_auth_client::WxaLinkRequest::new(1).with_env_version("develop");
    /// assert_eq!(req.env_version.as_deref(), Some("develop"));
    /// ```
    pub fn with_env_version(mut self, env_version: impl Into<String>) -> Self {
        self.env_version = Some(env_version.into());
        self
    }

    /// Refuses, before sending, a query longer than WeChat accepts or an expiry of zero.
    pub(crate) fn validate(&self) -> Result<(), WechatError> {
        if let Some(q) = &self.query
            && q.chars().count() > MAX_LINK_QUERY_CHARS
        {
            return Err(WechatError::InvalidRequest(format!(
                "a mini program link's query is at most {MAX_LINK_QUERY_CHARS} characters \
                 (WeChat answers 40212)"
            )));
        }
        if self.expire_time == 0 {
            return Err(WechatError::InvalidRequest(
                "a mini program link needs an expiry (expire_time, Unix seconds)".into(),
            ));
        }
        Ok(())
    }

    /// The JSON body of `wxa/generate_urllink`.
    pub(crate) fn urllink_body(&self) -> serde_json::Value {
        let mut body = self.jump();
        body.insert("expire_type".into(), 0.into());
        body.insert("expire_time".into(), self.expire_time.into());
        serde_json::Value::Object(body)
    }

    /// The JSON body of `wxa/generatescheme`.
    pub(crate) fn scheme_body(&self) -> serde_json::Value {
        serde_json::json!({
            "jump_wxa": serde_json::Value::Object(self.jump()),
            "is_expire": true,
            "expire_type": 0,
            "expire_time": self.expire_time,
        })
    }

    /// `{path?, query?, env_version?}`.
    fn jump(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        for (name, value) in [
            ("path", &self.path),
            ("query", &self.query),
            ("env_version", &self.env_version),
        ] {
            if let Some(v) = value {
                m.insert(name.into(), v.clone().into());
            }
        }
        m
    }
}

/// A mini program URL Link from `wxa/generate_urllink`: an `https://wxaurl.cn/…` address
/// that opens the mini program from a phone browser (scene 1194).
///
/// ```
/// let l: wechat_auth_client::UrlLink =
///     serde_json::from_str(r#"{"errcode":0,"errmsg":"ok","url_link":"https://wxaurl.cn/abc"}"#).unwrap();
/// assert_eq!(l.url_link, "https://wxaurl.cn/abc");
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct UrlLink {
    /// The link to open.
    pub url_link: String,
}

/// A mini program URL Scheme from `wxa/generatescheme`: a `weixin://dl/business/?t=…`
/// address that opens the mini program (scene 1065); on Android only from a web page.
///
/// ```
/// let s: wechat_auth_client::UrlScheme = serde_json::from_str(
///     r#"{"errcode":0,"errmsg":"ok","openlink":"weixin://dl/business/?t=abc"}"#,
/// ).unwrap();
/// assert_eq!(s.openlink, "weixin://dl/business/?t=abc");
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct UrlScheme {
    /// The `weixin://` link to open.
    pub openlink: String,
}

/// The MIME type of a PNG (`89 50 4E 47`) or JPEG (`FF D8`) file, from its first bytes.
pub(crate) fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG") {
        Some("image/png")
    } else if bytes.starts_with(b"\xFF\xD8") {
        Some("image/jpeg")
    } else {
        None
    }
}

/// The body of `cgi-bin/stable_token`.
#[derive(Serialize)]
pub(crate) struct StableTokenBody<'a> {
    pub(crate) grant_type: &'static str,
    pub(crate) appid: &'a str,
    pub(crate) secret: &'a str,
    pub(crate) force_refresh: bool,
}

/// A success answer with nothing in it (`sns/auth`'s `{"errcode":0,"errmsg":"ok"}`).
#[derive(Debug, Deserialize)]
pub(crate) struct Ack {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn link_requests_have_wechats_two_body_shapes() {
        let req = WxaLinkRequest::new(1_700_000_300)
            .with_path("pages/login/confirm")
            .with_query("scene=abc")
            .with_env_version("trial");
        assert_eq!(
            req.urllink_body(),
            json!({
                "path": "pages/login/confirm",
                "query": "scene=abc",
                "env_version": "trial",
                "expire_type": 0,
                "expire_time": 1_700_000_300u64,
            })
        );
        assert_eq!(
            req.scheme_body(),
            json!({
                "jump_wxa": {"path": "pages/login/confirm", "query": "scene=abc", "env_version": "trial"},
                "is_expire": true,
                "expire_type": 0,
                "expire_time": 1_700_000_300u64,
            })
        );
        // Unset options are left out: WeChat's defaults (home page, release).
        let bare = WxaLinkRequest::new(5);
        assert_eq!(
            bare.urllink_body(),
            json!({"expire_type": 0, "expire_time": 5})
        );
        assert_eq!(bare.scheme_body()["jump_wxa"], json!({}));
    }

    #[test]
    fn link_requests_wechat_would_refuse_are_not_sent() {
        assert!(
            WxaLinkRequest::new(1)
                .with_query("q".repeat(1024))
                .validate()
                .is_ok()
        );
        assert!(matches!(
            WxaLinkRequest::new(1).with_query("q".repeat(1025)).validate(),
            Err(WechatError::InvalidRequest(m)) if m.contains("40212")
        ));
        // Characters, not bytes.
        assert!(
            WxaLinkRequest::new(1)
                .with_query("码".repeat(1024))
                .validate()
                .is_ok()
        );
        assert!(matches!(
            WxaLinkRequest::new(0).validate(),
            Err(WechatError::InvalidRequest(_))
        ));
    }

    #[test]
    fn qr_bodies_match_the_protocol_examples() {
        let cases = [
            (
                QrCodeRequest::temporary_int(123, 604_800),
                json!({"expire_seconds":604800,"action_name":"QR_SCENE","action_info":{"scene":{"scene_id":123}}}),
            ),
            (
                QrCodeRequest::temporary_str("login_3f9a2c", 300),
                json!({"expire_seconds":300,"action_name":"QR_STR_SCENE","action_info":{"scene":{"scene_str":"login_3f9a2c"}}}),
            ),
            (
                QrCodeRequest::permanent_int(123),
                json!({"action_name":"QR_LIMIT_SCENE","action_info":{"scene":{"scene_id":123}}}),
            ),
            (
                QrCodeRequest::permanent_str("promo"),
                json!({"action_name":"QR_LIMIT_STR_SCENE","action_info":{"scene":{"scene_str":"promo"}}}),
            ),
        ];
        for (req, expected) in cases {
            assert_eq!(serde_json::to_value(&req).unwrap(), expected);
            assert!(req.validate().is_ok());
        }
    }

    #[test]
    fn qr_validation_limits() {
        let bad = [
            QrCodeRequest::temporary_str("", 60),
            QrCodeRequest::temporary_str("a".repeat(65), 60),
            QrCodeRequest::temporary_str("扫".repeat(22), 60), // 66 bytes
            QrCodeRequest::temporary_str("ok", 0),
            QrCodeRequest::temporary_str("ok", 2_592_001),
            QrCodeRequest::temporary_int(0, 60),
            QrCodeRequest::permanent_int(0),
            QrCodeRequest::permanent_int(100_001),
            QrCodeRequest::permanent_str(""),
        ];
        for req in bad {
            assert!(
                matches!(req.validate(), Err(WechatError::InvalidRequest(_))),
                "{req:?}"
            );
        }
        let good = [
            QrCodeRequest::temporary_str("a", 1),
            QrCodeRequest::temporary_str("a".repeat(64), 2_592_000),
            QrCodeRequest::temporary_int(u32::MAX, 60),
            QrCodeRequest::permanent_int(1),
            QrCodeRequest::permanent_int(100_000),
            QrCodeRequest::permanent_str("z".repeat(64)),
        ];
        for req in good {
            assert!(req.validate().is_ok(), "{req:?}");
        }
    }

    #[test]
    fn phone_answer_accepts_a_numeric_or_text_country_code() {
        // wechatpy's fixture: countryCode a number, appid empty.
        let fixture = json!({"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"13123456789",
            "purePhoneNumber":"13123456789","countryCode":86,
            "watermark":{"timestamp":1637744274,"appid":""}}});
        let phone = PhoneNumber::from(serde_json::from_value::<PhoneAnswer>(fixture).unwrap());
        assert_eq!(phone.phone_number, "13123456789");
        assert_eq!(phone.pure_phone_number, "13123456789");
        assert_eq!(phone.country_code, "86");
        assert_eq!(phone.watermark_appid, "");
        assert_eq!(phone.watermark_timestamp, 1_637_744_274);
        // Real answers: countryCode a string.
        let real = json!({"phone_info":{"phoneNumber":"+1 2025550123","purePhoneNumber":"2025550123",
            "countryCode":"1","watermark":{"timestamp":1,"appid":"wxMINI"}}});
        let phone = PhoneNumber::from(serde_json::from_value::<PhoneAnswer>(real).unwrap());
        assert_eq!(
            (phone.country_code.as_str(), phone.watermark_appid.as_str()),
            ("1", "wxMINI")
        );
        assert!(serde_json::from_value::<PhoneAnswer>(json!({"errcode":0})).is_err());
        let again: PhoneNumber =
            serde_json::from_str(&serde_json::to_string(&phone).unwrap()).unwrap();
        assert_eq!(again, phone);
    }

    #[test]
    fn wxa_code_body_leaves_unset_options_out() {
        let bare = WxaCodeRequest::new("t1");
        assert_eq!(
            serde_json::to_value(bare.body()).unwrap(),
            json!({"scene":"t1"})
        );
        let full = WxaCodeRequest::new("t1")
            .with_page("pages/a/a")
            .with_env_version("develop")
            .with_check_path(false)
            .with_width(300);
        assert_eq!(
            serde_json::to_value(full.body()).unwrap(),
            json!({"scene":"t1","page":"pages/a/a","env_version":"develop","check_path":false,"width":300})
        );
    }

    #[test]
    fn images_are_sniffed_from_their_magic_bytes() {
        assert_eq!(sniff_image(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff_image(b"\xFF\xD8\xFF\xE0..JFIF"), Some("image/jpeg"));
        assert_eq!(sniff_image(b"{\"errcode\":40169}"), None);
        assert_eq!(sniff_image(b"GIF89a"), None);
        assert_eq!(sniff_image(b"\x89P"), None);
        assert_eq!(sniff_image(b""), None);
    }

    #[test]
    fn flags_accept_numbers_bools_and_null() {
        let parse = |v: serde_json::Value| serde_json::from_value::<OaUserInfo>(v).unwrap();
        assert!(parse(json!({"subscribe":1})).subscribe);
        assert!(!parse(json!({"subscribe":0})).subscribe);
        assert!(parse(json!({"subscribe":true})).subscribe);
        assert!(!parse(json!({"subscribe":null})).subscribe);
        assert!(!parse(json!({})).subscribe);
    }

    #[test]
    fn oauth_token_round_trips_through_serde() {
        let body = json!({"access_token":"AT","expires_in":7200,"refresh_token":"RT",
            "openid":"O","scope":"snsapi_userinfo","is_snapshotuser":1});
        let token: OAuthToken = serde_json::from_value(body).unwrap();
        let again: OAuthToken =
            serde_json::from_str(&serde_json::to_string(&token).unwrap()).unwrap();
        assert_eq!(token, again);
        assert!(again.is_snapshotuser);
    }

    #[test]
    fn oa_user_info_full_and_unsubscribed() {
        let full: OaUserInfo = serde_json::from_value(json!({
            "subscribe": 1, "openid": "o7SgMtyK8z_9E5kH4ivYI6UKdcro", "nickname": "",
            "sex": 0, "language": "zh_CN", "city": "", "province": "", "country": "",
            "headimgurl": "", "subscribe_time": 1_647_932_588_u64,
            "unionid": "o6CHC0zOqArENk209OBP7lLLgX8Y", "remark": "", "groupid": 0,
            "tagid_list": [128, 2], "subscribe_scene": "ADD_SCENE_QR_CODE",
            "qr_scene": 3229, "qr_scene_str": ""
        }))
        .unwrap();
        assert!(full.subscribe);
        assert_eq!(full.subscribe_time, 1_647_932_588);
        assert_eq!(full.qr_scene, 3229);
        assert_eq!(full.tagid_list, vec![128, 2]);
        assert_eq!(
            full.unionid.as_deref(),
            Some("o6CHC0zOqArENk209OBP7lLLgX8Y")
        );

        let gone: OaUserInfo =
            serde_json::from_value(json!({"subscribe":0,"openid":"O","tagid_list":[]})).unwrap();
        assert!(!gone.subscribe);
        assert_eq!(gone.unionid, None);
        assert_eq!(gone.subscribe_scene, "");
    }
}
