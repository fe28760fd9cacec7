//! The answers of the Douyin calls, as typed values (tokens are [`Secret`]s).

use serde::Deserialize;
use wechat_auth_client::Secret;

/// A user token from `oauth/access_token/` or `oauth/refresh_token/`.
///
/// The access token lives `expires_in` seconds (15 days), the refresh token
/// `refresh_expires_in` (30 days). Both are secrets: keep them on the server.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct UserToken {
    /// The user's access token (`act.…`).
    pub access_token: Secret,
    /// Seconds the access token lives.
    pub expires_in: u64,
    /// The user's id for this client key.
    pub open_id: String,
    /// The refresh token (`rft.…`).
    pub refresh_token: Secret,
    /// Seconds the refresh token lives.
    #[serde(default)]
    pub refresh_expires_in: u64,
    /// The granted scopes, comma-separated (e.g. `user_info`).
    #[serde(default)]
    pub scope: String,
}

/// A new refresh token from `oauth/renew_refresh_token/`.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct RenewedRefreshToken {
    /// The new refresh token; the old one stops working.
    pub refresh_token: Secret,
    /// Seconds it lives.
    pub expires_in: u64,
}

/// The app's own token from `oauth/client_token/` (no user).
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct ClientToken {
    /// The token (`clt.…`). A new one ends the previous one 5 minutes later: share it.
    pub access_token: Secret,
    /// Seconds it lives (7200).
    pub expires_in: u64,
}

/// The profile `oauth/userinfo/` returns. Only `open_id`, `nickname` and `avatar` are
/// promised; Douyin never returns `uid`, `short_id` or `unique_id` to a login.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct Profile {
    /// The user's id for this client key.
    pub open_id: String,
    /// The user's id for every app of the same developer, when Douyin sends it.
    #[serde(default, deserialize_with = "non_empty")]
    pub union_id: Option<String>,
    /// The nickname.
    #[serde(default, deserialize_with = "non_empty")]
    pub nickname: Option<String>,
    /// The avatar URL (one string).
    #[serde(default, deserialize_with = "non_empty")]
    pub avatar: Option<String>,
}

/// A Douyin mini-app session from `apps/v2/jscode2session`.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct MiniappSession {
    /// The session key: never send it to the mini-app or anyone else.
    #[serde(default)]
    pub session_key: Secret,
    /// The user's id for this mini-app (empty when only an anonymous code was sent).
    #[serde(default)]
    pub openid: String,
    /// The id of an anonymous (not logged in) user, when an anonymous code was sent.
    #[serde(default, deserialize_with = "non_empty")]
    pub anonymous_openid: Option<String>,
    /// The user's id for every app of the same developer: the same `union_id` as a web login.
    #[serde(default, deserialize_with = "non_empty")]
    pub unionid: Option<String>,
}

/// `""` and `null` are "absent".
fn non_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.trim().is_empty()))
}
