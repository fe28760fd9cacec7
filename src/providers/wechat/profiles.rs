//! WeChat user tokens and profiles kept server-side, and reading a profile later.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::store::keys::Key;
use std::sync::Arc;

use wechat_auth_client::{ErrorKind, Lang, OAuthToken, Secret, WechatClient, WechatError};

use crate::core::store::Store;

use crate::{
    core::clock::now_unix,
    core::store::{self},
};

/// Lifetime of a website or Official Account refresh_token (30 days, protocol §3.5, §21).
const REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// Lifetime of a mobile app refresh_token (180 days, not renewable: the mobile UnionID
/// guide, protocol §21). The mobile guides disagree (one says 30 days); keeping the tokens
/// longer costs nothing, since a lapsed refresh_token is answered 42002 and the user logs in
/// again.
const MOBILE_REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(180 * 24 * 3600);

/// How long the refresh_token of a login through `channel` lasts.
pub(crate) fn refresh_token_lifetime(channel: crate::user::Channel) -> Duration {
    match channel {
        crate::user::Channel::MobileApp => MOBILE_REFRESH_TOKEN_LIFETIME,
        _ => REFRESH_TOKEN_LIFETIME,
    }
}

/// WeChat user tokens as kept server-side.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StoredTokens {
    pub(crate) access_token: Secret,
    pub(crate) refresh_token: Secret,
    pub(crate) access_expires_at: u64,
    pub(crate) refresh_expires_at: u64,
    pub(crate) scope: String,
}

/// A WeChat profile as kept server-side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Profile {
    /// Nickname.
    pub nickname: String,
    /// Avatar URL (`headimgurl`); empty when the user has none.
    pub avatar_url: String,
    /// The unionid, when the app is bound to an Open Platform account.
    pub unionid: Option<String>,
}

/// The WeChat user tokens and profiles kept server-side: saving them at login, and reading a
/// profile later (from the cache, else from WeChat with the user's token, refreshed when it
/// has expired).
pub(crate) struct Profiles {
    client: WechatClient,
    store: Arc<dyn Store>,
    /// How long a profile is cached.
    ttl: Duration,
    /// The language of profiles read from WeChat.
    lang: Lang,
}

impl std::fmt::Debug for Profiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profiles")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Profiles {
    pub(crate) fn new(
        client: WechatClient,
        store: Arc<dyn Store>,
        ttl: Duration,
        lang: Lang,
    ) -> Self {
        Self {
            client,
            store,
            ttl,
            lang,
        }
    }

    /// Keeps a user's WeChat tokens server-side.
    pub(crate) async fn save_tokens(
        &self,
        appid: &str,
        token: &OAuthToken,
        channel: crate::user::Channel,
    ) {
        let lifetime = refresh_token_lifetime(channel);
        let now = now_unix();
        let stored = StoredTokens {
            access_token: token.access_token.clone(),
            refresh_token: token.refresh_token.clone(),
            access_expires_at: now + token.expires_in,
            refresh_expires_at: now + lifetime.as_secs(),
            scope: token.scope.clone(),
        };
        let key = Key::of(appid, "tokens", &token.openid);
        if let Err(e) = store::set_json(self.store.as_ref(), &key, &stored, lifetime).await {
            tracing::warn!(error = %e, "could not keep the user's WeChat tokens");
        }
    }

    /// The cached profile of (`appid`, `openid`), if still fresh.
    pub(crate) async fn cached_profile(&self, appid: &str, openid: &str) -> Option<Profile> {
        self.read_profile(&Key::of(appid, "profile", openid)).await
    }

    /// What `cgi-bin/user/info` last said about follower `openid` of Official Account
    /// `appid`, if it is fresh (the unionid of an openid never changes while the account
    /// stays bound to one Open Platform account; the cache lasts `userinfo_ttl`).
    pub(crate) async fn cached_follower(&self, appid: &str, openid: &str) -> Option<Profile> {
        self.read_profile(&Key::of(appid, "follower", openid)).await
    }

    /// Keeps what `cgi-bin/user/info` said about a follower, for `userinfo_ttl`: a repeat
    /// scan login of the same person then asks WeChat nothing but its QR code.
    pub(crate) async fn save_follower(&self, appid: &str, openid: &str, follower: &Profile) {
        self.keep_profile(&Key::of(appid, "follower", openid), follower)
            .await;
    }

    /// A profile kept under `key`, if still there (a store failure reads as none).
    async fn read_profile(&self, key: &Key) -> Option<Profile> {
        store::get_json::<Profile>(self.store.as_ref(), key)
            .await
            .ok()
            .flatten()
    }

    /// Keeps `profile` under `key` for `userinfo_ttl`; a store failure is logged, not fatal.
    async fn keep_profile(&self, key: &Key, profile: &Profile) {
        if let Err(e) = store::set_json(self.store.as_ref(), key, profile, self.ttl).await {
            tracing::warn!(error = %e, "could not cache the WeChat profile");
        }
    }

    /// Reads the profile with `access_token` and caches it.
    pub(crate) async fn fetch_profile(
        &self,
        appid: &str,
        openid: &str,
        access_token: &Secret,
    ) -> Result<Profile, WechatError> {
        let info = self
            .client
            .userinfo(access_token, openid, self.lang)
            .await?;
        let profile = Profile {
            nickname: info.nickname,
            avatar_url: info.headimgurl,
            unionid: info.unionid,
        };
        self.keep_profile(&Key::of(appid, "profile", openid), &profile)
            .await;
        Ok(profile)
    }

    /// The profile of a signed-in user: from the cache, else from WeChat with the stored
    /// user token, refreshed through the refresh_token when it has expired.
    pub(crate) async fn profile(
        &self,
        appid: &str,
        openid: &str,
    ) -> Result<Option<Profile>, crate::error::HandleError> {
        if let Some(p) = self.cached_profile(appid, openid).await {
            return Ok(Some(p));
        }
        let key = Key::of(appid, "tokens", openid);
        let Some(mut tokens) = store::get_json::<StoredTokens>(self.store.as_ref(), &key).await?
        else {
            return Ok(None);
        };
        if !(tokens.scope.contains("snsapi_userinfo") || tokens.scope.contains("snsapi_login")) {
            return Ok(None);
        }
        let now = now_unix();
        if tokens.access_expires_at > now + 60 {
            match self
                .fetch_profile(appid, openid, &tokens.access_token)
                .await
            {
                Ok(p) => return Ok(Some(p)),
                // WeChat dropped the token early (or our clock disagrees): refresh below.
                Err(e) if e.kind() == ErrorKind::TokenInvalid => {}
                Err(e) => return Err(e.into()),
            }
        }
        if tokens.refresh_expires_at <= now {
            return Ok(None);
        }
        let fresh = match self
            .client
            .oauth2_refresh_token(appid, &tokens.refresh_token)
            .await
        {
            Ok(fresh) => fresh,
            // The refresh_token lapsed or was revoked: the user must log in again.
            Err(e) if e.kind() == ErrorKind::LoginAgain => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        tokens.access_token = fresh.access_token;
        tokens.refresh_token = fresh.refresh_token;
        tokens.access_expires_at = now + fresh.expires_in;
        let ttl = Duration::from_secs(tokens.refresh_expires_at.saturating_sub(now).max(1));
        store::set_json(self.store.as_ref(), &key, &tokens, ttl).await?;
        Ok(Some(
            self.fetch_profile(appid, openid, &tokens.access_token)
                .await?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::Channel;

    #[test]
    fn refresh_token_lifetime_depends_on_the_channel() {
        let days = |c| refresh_token_lifetime(c).as_secs() / 86_400;
        assert_eq!(days(Channel::MobileApp), 180);
        assert_eq!(days(Channel::Website), 30);
        assert_eq!(days(Channel::OfficialAccount), 30);
    }
}
