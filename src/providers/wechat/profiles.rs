//! WeChat user tokens and profiles kept server-side, and reading a profile later.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::store::Deferred;
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
    /// This instance's copy of recent tokens and profiles, in front of a networked store
    /// (`None` in front of a [`MemoryStore`](crate::store::MemoryStore), which is already
    /// in process): see [`Local`].
    local: Option<Local>,
}

/// How many tokens and profiles one instance keeps itself (~0.5 KiB each with moka's
/// bookkeeping: at most ~5 MiB).
const LOCAL_ENTRIES: u64 = 10_000;
/// The longest a local copy is used without asking the store again.
const LOCAL_TTL: Duration = Duration::from_secs(10 * 60);
/// A user token's local copy stops this long before the token itself expires, as the
/// store's copy is only used while it has a minute left.
const TOKEN_MARGIN: u64 = 60;

/// A per-instance cache of WeChat user tokens and profiles in front of a networked store,
/// so that a repeat login of a known person and `WechatHandle::profile()` cost no store
/// round trip on a hit.
///
/// Staleness rule (no invalidation messages, which would cost a `PUBLISH` per login): a
/// copy is used at most [`LOCAL_TTL`] (and a profile no longer than `userinfo_ttl`, a
/// token never past its own expiry less [`TOKEN_MARGIN`]). A token refreshed on another
/// instance can make this instance's copy of the old one rejected early (40001/42001 and
/// the like, [`ErrorKind::TokenInvalid`]): then the copy is dropped, the store read once
/// more, and the call retried once with what it holds before refreshing here — so a
/// refresh on one instance is not repeated on the next.
struct Local {
    entries: moka::sync::Cache<String, (u64, Kept)>,
}

/// What [`Local`] keeps under a store key.
#[derive(Clone)]
enum Kept {
    Profile(Profile),
    Tokens(StoredTokens),
}

impl Local {
    fn new() -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(LOCAL_ENTRIES)
                .time_to_live(LOCAL_TTL)
                .build(),
        }
    }

    /// The copy under `key` while it is good (its own deadline, Unix seconds, not passed).
    fn get(&self, key: &Key) -> Option<Kept> {
        let (until, kept) = self.entries.get(&**key)?;
        if until > now_unix() {
            Some(kept)
        } else {
            self.entries.invalidate(&**key);
            None
        }
    }

    /// Keeps `kept` under `key` until `until` (Unix seconds; [`LOCAL_TTL`] at most).
    fn put(&self, key: &Key, kept: Kept, until: u64) {
        let until = until.min(now_unix() + LOCAL_TTL.as_secs());
        if until > now_unix() {
            self.entries.insert(key.to_string(), (until, kept));
        } else {
            self.entries.invalidate(&**key);
        }
    }

    fn forget(&self, key: &Key) {
        self.entries.invalidate(&**key);
    }
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
        let local = (!store.is_local()).then(Local::new);
        Self {
            client,
            store,
            ttl,
            lang,
            local,
        }
    }

    /// Keeps a user's WeChat tokens server-side: here at once, in the store with the
    /// login's outcome (`keep`).
    pub(crate) fn save_tokens(
        &self,
        appid: &str,
        token: &OAuthToken,
        channel: crate::user::Channel,
        keep: &Deferred,
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
        match store::to_json(&key, &stored) {
            Ok(json) => keep.set(&key, json, lifetime),
            Err(e) => {
                tracing::warn!(error = %e, "could not keep the user's WeChat tokens");
                self.forget(&key);
                return;
            }
        }
        self.keep_tokens_here(&key, &stored);
    }

    /// Keeps this instance's copy of `tokens` (until the access token's last minute).
    fn keep_tokens_here(&self, key: &Key, tokens: &StoredTokens) {
        if let Some(local) = &self.local {
            let until = tokens.access_expires_at.saturating_sub(TOKEN_MARGIN);
            local.put(key, Kept::Tokens(tokens.clone()), until);
        }
    }

    fn forget(&self, key: &Key) {
        if let Some(local) = &self.local {
            local.forget(key);
        }
    }

    /// The user's tokens: this instance's copy (`true`), else the store's (`false`).
    async fn tokens(
        &self,
        key: &Key,
    ) -> Result<Option<(StoredTokens, bool)>, crate::core::store::StoreError> {
        if let Some(Kept::Tokens(t)) = self.local.as_ref().and_then(|l| l.get(key)) {
            return Ok(Some((t, true)));
        }
        let Some(tokens) = store::get_json::<StoredTokens>(self.store.as_ref(), key).await? else {
            return Ok(None);
        };
        self.keep_tokens_here(key, &tokens);
        Ok(Some((tokens, false)))
    }

    /// The cached profile of (`appid`, `openid`), if still fresh.
    pub(crate) async fn cached_profile(&self, appid: &str, openid: &str) -> Option<Profile> {
        self.read_profile(&Key::of(appid, "profile", openid)).await
    }

    /// What is known about `openid` of `appid` for a scan login: what `cgi-bin/user/info`
    /// last said (only when `follower`: a verified account asks it) and the profile a web
    /// login kept, each if fresh. This instance's copies first; what it lacks comes from the
    /// store in one round trip ([`Store::get_many`]; the two keys share the openid's hash
    /// tag). A store failure reads as nothing known.
    pub(crate) async fn known_person(
        &self,
        appid: &str,
        openid: &str,
        follower: bool,
    ) -> (Option<Profile>, Option<Profile>) {
        let keys = [
            Key::of(appid, "follower", openid),
            Key::of(appid, "profile", openid),
        ];
        let here = |key: &Key| match self.local.as_ref().and_then(|l| l.get(key)) {
            Some(Kept::Profile(p)) => Some(p),
            _ => None,
        };
        let mut found = [follower.then(|| here(&keys[0])).flatten(), here(&keys[1])];
        let missing: Vec<usize> = (0..2)
            .filter(|&i| found[i].is_none() && (i == 1 || follower))
            .collect();
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|&i| &*keys[i]).collect();
            if let Ok(values) = self.store.get_many(&names).await {
                for (&i, value) in missing.iter().zip(values) {
                    let Some(value) = value else { continue };
                    if let Ok(p) = store::from_json::<Profile>(&keys[i], &value) {
                        self.keep_profile_here(&keys[i], &p);
                        found[i] = Some(p);
                    }
                }
            }
        }
        let [f, p] = found;
        (f, p)
    }

    /// Keeps what `cgi-bin/user/info` said about a follower, for `userinfo_ttl`: a repeat
    /// scan login of the same person then asks WeChat nothing but its QR code. Here at once;
    /// in the store with the scan's outcome (`keep`).
    pub(crate) fn save_follower(
        &self,
        appid: &str,
        openid: &str,
        follower: &Profile,
        keep: &Deferred,
    ) {
        self.keep_profile_with(&Key::of(appid, "follower", openid), follower, keep);
    }

    /// Keeps `profile` under `key` for `userinfo_ttl`: here at once, in the store with the
    /// step's outcome (`keep`).
    fn keep_profile_with(&self, key: &Key, profile: &Profile, keep: &Deferred) {
        match store::to_json(key, profile) {
            Ok(json) => {
                keep.set(key, json, self.ttl);
                self.keep_profile_here(key, profile);
            }
            Err(e) => tracing::warn!(error = %e, "could not cache the WeChat profile"),
        }
    }

    /// A profile kept under `key`, if still there (a store failure reads as none): this
    /// instance's copy, else the store's (then copied here).
    async fn read_profile(&self, key: &Key) -> Option<Profile> {
        if let Some(Kept::Profile(p)) = self.local.as_ref().and_then(|l| l.get(key)) {
            return Some(p);
        }
        let found = store::get_json::<Profile>(self.store.as_ref(), key)
            .await
            .ok()
            .flatten()?;
        self.keep_profile_here(key, &found);
        Some(found)
    }

    /// Keeps this instance's copy of `profile` (for `userinfo_ttl` at most).
    fn keep_profile_here(&self, key: &Key, profile: &Profile) {
        if let Some(local) = &self.local {
            let until = now_unix() + self.ttl.as_secs();
            local.put(key, Kept::Profile(profile.clone()), until);
        }
    }

    /// Keeps `profile` under `key` for `userinfo_ttl`; a store failure is logged, not fatal.
    async fn keep_profile(&self, key: &Key, profile: &Profile) {
        if let Err(e) = store::set_json(self.store.as_ref(), key, profile, self.ttl).await {
            tracing::warn!(error = %e, "could not cache the WeChat profile");
            self.forget(key);
            return;
        }
        self.keep_profile_here(key, profile);
    }

    /// Reads the profile with `access_token` and caches it: in the store at once, or with
    /// the login's outcome when `keep` is given.
    pub(crate) async fn fetch_profile(
        &self,
        appid: &str,
        openid: &str,
        access_token: &Secret,
        keep: Option<&Deferred>,
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
        let key = Key::of(appid, "profile", openid);
        match keep {
            Some(keep) => self.keep_profile_with(&key, &profile, keep),
            None => self.keep_profile(&key, &profile).await,
        }
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
        let Some((mut tokens, mut local_copy)) = self.tokens(&key).await? else {
            return Ok(None);
        };
        if !(tokens.scope.contains("snsapi_userinfo") || tokens.scope.contains("snsapi_login")) {
            return Ok(None);
        }
        let now = now_unix();
        while tokens.access_expires_at > now + TOKEN_MARGIN {
            match self
                .fetch_profile(appid, openid, &tokens.access_token, None)
                .await
            {
                Ok(p) => return Ok(Some(p)),
                // This instance's copy may be of a token another instance has refreshed
                // since: drop it and try once more with the store's.
                Err(e) if e.kind() == ErrorKind::TokenInvalid && local_copy => {
                    self.forget(&key);
                    local_copy = false;
                    match store::get_json::<StoredTokens>(self.store.as_ref(), &key).await? {
                        Some(stored) if stored.access_token != tokens.access_token => {
                            self.keep_tokens_here(&key, &stored);
                            tokens = stored;
                        }
                        // The store holds the same token: refresh below.
                        Some(_) => break,
                        None => return Ok(None),
                    }
                }
                // WeChat dropped the token early (or our clock disagrees): refresh below.
                Err(e) if e.kind() == ErrorKind::TokenInvalid => break,
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
        self.keep_tokens_here(&key, &tokens);
        Ok(Some(
            self.fetch_profile(appid, openid, &tokens.access_token, None)
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
