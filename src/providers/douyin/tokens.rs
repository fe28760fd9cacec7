//! Douyin user tokens kept server-side, keyed by (client key, open_id), and reading the
//! profile later: from the cache, else `oauth/userinfo` with the kept access token (15 days),
//! refreshed through `oauth/refresh_token` when Douyin says it expired; the refresh token (30
//! days) renewed through `oauth/renew_refresh_token` at most five times, then "log in again".

use std::{sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};
use wechat_auth_client::Secret;
use wechat_auth_douyin_client::{DouyinClient, ErrorKind, UserToken};

use super::failure::DouyinFailure;
use crate::core::store::Deferred;
use crate::core::{
    clock::now_unix,
    failure::Failure,
    store::{self, Store, keys::Key},
};

/// How many times Douyin renews one login's refresh token (then 10020).
pub(crate) const MAX_RENEWALS: u32 = 5;

/// When a refresh finds the refresh token this close to its end, it renews it too.
const RENEW_BEFORE: u64 = 3 * 24 * 3600;

/// The store kinds of this provider.
const TOKENS: &str = "douyin-tokens";
const PROFILE: &str = "douyin-profile";

/// A Douyin user's tokens as kept server-side.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StoredTokens {
    pub(crate) access_token: Secret,
    pub(crate) refresh_token: Secret,
    pub(crate) access_expires_at: u64,
    pub(crate) refresh_expires_at: u64,
    /// How many times the refresh token was renewed (Douyin allows [`MAX_RENEWALS`]).
    pub(crate) renewals: u32,
    pub(crate) scope: String,
}

/// A Douyin user's profile as kept server-side (`oauth/userinfo`): what
/// [`DouyinHandle::profile`](crate::DouyinHandle::profile) and `GET PREFIX/douyin/profile`
/// answer. Douyin never returns `uid`, `short_id` or `unique_id` to a login.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DouyinProfile {
    /// The person's id within the Douyin app.
    pub open_id: String,
    /// The person's id across the developer's Douyin apps, when Douyin gave one.
    pub union_id: Option<String>,
    /// Nickname, when the scope allowed reading it.
    pub nickname: Option<String>,
    /// Avatar URL, when the scope allowed reading it.
    pub avatar_url: Option<String>,
}

/// What a renewal of the refresh token left (`oauth/renew_refresh_token`): how many
/// renewals remain and how long the new refresh token lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DouyinRenewal {
    /// Renewals Douyin still allows for this login (five per login).
    pub renewals_left: u32,
    /// Seconds the new refresh token lives (Douyin: 30 days).
    pub refresh_expires_in: u64,
}

/// The Douyin user tokens and profiles kept server-side.
pub(crate) struct UserTokens {
    client: DouyinClient,
    store: Arc<dyn Store>,
    /// How long a profile is cached.
    profile_ttl: Duration,
}

impl std::fmt::Debug for UserTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserTokens").finish_non_exhaustive()
    }
}

impl UserTokens {
    pub(crate) fn new(client: DouyinClient, store: Arc<dyn Store>, profile_ttl: Duration) -> Self {
        Self {
            client,
            store,
            profile_ttl,
        }
    }

    fn key(client_key: &str, open_id: &str) -> Key {
        Key::of(client_key, TOKENS, open_id)
    }

    /// Keeps a user's tokens after a login (a new login starts the renewal count again), in
    /// the store with the login's outcome (`keep`).
    pub(crate) fn save(
        &self,
        client_key: &str,
        token: &UserToken,
        keep: &Deferred,
    ) -> Result<(), Failure> {
        let now = now_unix();
        let stored = StoredTokens {
            access_token: token.access_token.clone(),
            refresh_token: token.refresh_token.clone(),
            access_expires_at: now + token.expires_in,
            refresh_expires_at: now + token.refresh_expires_in.max(token.expires_in),
            renewals: 0,
            scope: token.scope.clone(),
        };
        let key = Self::key(client_key, &token.open_id);
        let ttl = Duration::from_secs(stored.refresh_expires_at.saturating_sub(now).max(1));
        keep.set(&key, store::to_json(&key, &stored)?, ttl);
        Ok(())
    }

    async fn put(
        &self,
        client_key: &str,
        open_id: &str,
        tokens: &StoredTokens,
        now: u64,
    ) -> Result<(), Failure> {
        let ttl = Duration::from_secs(tokens.refresh_expires_at.saturating_sub(now).max(1));
        store::set_json(
            self.store.as_ref(),
            &Self::key(client_key, open_id),
            tokens,
            ttl,
        )
        .await?;
        Ok(())
    }

    async fn load(&self, client_key: &str, open_id: &str) -> Result<StoredTokens, Failure> {
        store::get_json::<StoredTokens>(self.store.as_ref(), &Self::key(client_key, open_id))
            .await?
            .ok_or_else(|| DouyinFailure::NoTokens.into())
    }

    /// Keeps `profile` for the profile TTL with a login's outcome (`keep`).
    pub(crate) fn keep_profile_with(
        &self,
        client_key: &str,
        profile: &DouyinProfile,
        keep: &Deferred,
    ) {
        let key = Key::of(client_key, PROFILE, &profile.open_id);
        match store::to_json(&key, profile) {
            Ok(json) => keep.set(&key, json, self.profile_ttl),
            Err(e) => tracing::warn!(error = %e, "could not cache the Douyin profile"),
        }
    }

    /// Keeps `profile` for the profile TTL (a store failure is logged, not fatal).
    pub(crate) async fn keep_profile(&self, client_key: &str, profile: &DouyinProfile) {
        let key = Key::of(client_key, PROFILE, &profile.open_id);
        if let Err(e) = store::set_json(self.store.as_ref(), &key, profile, self.profile_ttl).await
        {
            tracing::warn!(error = %e, "could not cache the Douyin profile");
        }
    }

    /// The profile of (`client_key`, `open_id`): cached while fresh, else read with the kept
    /// access token, refreshed when Douyin says it expired.
    ///
    /// Fails with [`DouyinFailure::NoTokens`] when no token is kept (a mini-app login),
    /// [`DouyinFailure::LoginAgain`] when the refresh token is over.
    pub(crate) async fn profile(
        &self,
        client_key: &str,
        open_id: &str,
    ) -> Result<DouyinProfile, Failure> {
        let cached = Key::of(client_key, PROFILE, open_id);
        if let Ok(Some(p)) = store::get_json::<DouyinProfile>(self.store.as_ref(), &cached).await {
            return Ok(p);
        }
        let mut tokens = self.load(client_key, open_id).await?;
        let now = now_unix();
        if tokens.access_expires_at > now + 60 {
            match self.fetch(client_key, open_id, &tokens.access_token).await {
                Ok(p) => return Ok(p),
                // Douyin says the token expired (its clock, or a token replaced elsewhere).
                Err(e) if e.kind() == ErrorKind::TokenInvalid => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.refresh(client_key, open_id, &mut tokens).await?;
        Ok(self
            .fetch(client_key, open_id, &tokens.access_token)
            .await?)
    }

    async fn fetch(
        &self,
        client_key: &str,
        open_id: &str,
        access_token: &Secret,
    ) -> Result<DouyinProfile, wechat_auth_douyin_client::DouyinError> {
        let info = self.client.userinfo(access_token, open_id).await?;
        let profile = DouyinProfile {
            open_id: info.open_id,
            union_id: info.union_id,
            nickname: info.nickname,
            avatar_url: info.avatar,
        };
        self.keep_profile(client_key, &profile).await;
        Ok(profile)
    }

    /// Refreshes the access token through the refresh token (renewing the refresh token too
    /// when it is close to its end and renewals remain), and keeps the result.
    async fn refresh(
        &self,
        client_key: &str,
        open_id: &str,
        tokens: &mut StoredTokens,
    ) -> Result<(), Failure> {
        let now = now_unix();
        if tokens.refresh_expires_at <= now {
            return Err(DouyinFailure::LoginAgain.into());
        }
        let fresh = match self
            .client
            .refresh_token(client_key, &tokens.refresh_token)
            .await
        {
            Ok(fresh) => fresh,
            Err(e) if e.kind() == ErrorKind::LoginAgain => {
                return Err(DouyinFailure::LoginAgain.into());
            }
            Err(e) => return Err(e.into()),
        };
        tokens.access_token = fresh.access_token;
        tokens.access_expires_at = now + fresh.expires_in;
        if !fresh.refresh_token.is_empty() {
            tokens.refresh_token = fresh.refresh_token;
        }
        self.put(client_key, open_id, tokens, now).await?;
        if tokens.refresh_expires_at.saturating_sub(now) < RENEW_BEFORE
            && tokens.renewals < MAX_RENEWALS
        {
            // Best effort: the refreshed access token stands either way.
            if let Err(e) = self.renew_kept(client_key, open_id, tokens).await {
                tracing::info!(error = ?e, "could not renew the Douyin refresh token");
            }
        }
        Ok(())
    }

    /// Renews the user's refresh token now (`oauth/renew_refresh_token`), at most
    /// [`MAX_RENEWALS`] times per login; then [`DouyinFailure::RenewLimit`].
    pub(crate) async fn renew(
        &self,
        client_key: &str,
        open_id: &str,
    ) -> Result<DouyinRenewal, Failure> {
        let mut tokens = self.load(client_key, open_id).await?;
        self.renew_kept(client_key, open_id, &mut tokens).await
    }

    async fn renew_kept(
        &self,
        client_key: &str,
        open_id: &str,
        tokens: &mut StoredTokens,
    ) -> Result<DouyinRenewal, Failure> {
        let now = now_unix();
        if tokens.renewals >= MAX_RENEWALS {
            return Err(DouyinFailure::RenewLimit.into());
        }
        if tokens.refresh_expires_at <= now {
            return Err(DouyinFailure::LoginAgain.into());
        }
        let renewed = match self
            .client
            .renew_refresh_token(client_key, &tokens.refresh_token)
            .await
        {
            Ok(r) => r,
            Err(e) if e.is_renew_limit() => {
                // Douyin counts too: agree with it, so no further call is made.
                tokens.renewals = MAX_RENEWALS;
                self.put(client_key, open_id, tokens, now).await?;
                return Err(DouyinFailure::RenewLimit.into());
            }
            Err(e) if e.kind() == ErrorKind::LoginAgain => {
                return Err(DouyinFailure::LoginAgain.into());
            }
            Err(e) => return Err(e.into()),
        };
        tokens.refresh_token = renewed.refresh_token;
        tokens.refresh_expires_at = now + renewed.expires_in;
        tokens.renewals += 1;
        self.put(client_key, open_id, tokens, now).await?;
        Ok(DouyinRenewal {
            renewals_left: MAX_RENEWALS - tokens.renewals,
            refresh_expires_in: renewed.expires_in,
        })
    }
}
