//! Global access tokens, one per app with a secret (the Official Account's for QR codes and
//! user info, the mini program's for mini program codes and phone numbers): fetched once,
//! shared by every caller and every instance, renewed before they expire, and replaced when
//! WeChat says one is no longer valid. An app whose token another system owns asks the
//! configured [`TokenProvider`](crate::config::TokenProvider) instead.
//!
//! WeChat invalidates the previous token whenever a new one is fetched with `cgi-bin/token`,
//! so instances that each fetch their own log each other out; `stable_token` (the default)
//! avoids that, and the store makes one fetch serve everyone regardless:
//!
//! 1. a copy in this process answers while it has more than a safety margin left;
//! 2. concurrent callers in this process wait for one fetch (a mutex);
//! 3. the store holds the token for every instance; one instance at a time fetches, under a
//!    store lock, and the others wait for its notification;
//! 4. a token WeChat refuses (40001, 42001) is dropped only if it is still the current one,
//!    so a late failure on an old token never throws away a fresh one.

use std::{sync::RwLock, time::Duration};

use wechat_auth_client::{ErrorKind, Secret, WechatError};

use crate::{
    clock::now_unix,
    config::GlobalTokenSource,
    engine::Engine,
    error::Failure,
    store::{
        flight::{self, Turn},
        keys::Key,
    },
};

/// How long a fetch may hold the store lock.
const LOCK_TTL: Duration = Duration::from_secs(20);
/// How long a waiting instance waits for another's fetch.
const WAIT: Duration = Duration::from_secs(15);

/// A token and when it stops being usable, as the store keeps it: `"EXPIRES_AT TOKEN"`.
#[derive(Clone)]
pub(crate) struct Current {
    raw: String,
    expires_at: u64,
}

impl Current {
    fn from_bytes(raw: &[u8]) -> Option<Self> {
        Self::parse(String::from_utf8(raw.to_vec()).ok()?)
    }

    fn parse(raw: String) -> Option<Self> {
        let (exp, token) = raw.split_once(' ')?;
        let expires_at = exp.parse().ok()?;
        (!token.is_empty()).then_some(Self { raw, expires_at })
    }

    fn token(&self) -> Secret {
        Secret::new(self.raw.split_once(' ').map(|(_, t)| t).unwrap_or_default())
    }

    /// Whether it can still be handed out: more than [`MARGIN`] left.
    fn fresh(&self, now: u64) -> bool {
        self.expires_at > now + MARGIN
    }
}

/// Renew this long before expiry. `stable_token` hands out its successor during the last
/// five minutes, so asking again inside this margin gets the next token.
const MARGIN: u64 = 120;

/// Which app's global access token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenFor {
    /// The Official Account's.
    OfficialAccount,
    /// The mini program's.
    MiniProgram,
}

/// Per-process state of every app's global token.
#[derive(Debug, Default)]
pub(crate) struct GlobalTokens {
    official_account: GlobalToken,
    mini_program: GlobalToken,
}

impl GlobalTokens {
    fn of(&self, app: TokenFor) -> &GlobalToken {
        match app {
            TokenFor::OfficialAccount => &self.official_account,
            TokenFor::MiniProgram => &self.mini_program,
        }
    }
}

/// Per-process state of one app's global token.
#[derive(Default)]
struct GlobalToken {
    local: RwLock<Option<Current>>,
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for GlobalToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GlobalToken(***)")
    }
}

impl GlobalToken {
    fn cached(&self, now: u64) -> Option<Current> {
        let local = self.local.read().unwrap_or_else(|e| e.into_inner());
        local.as_ref().filter(|c| c.fresh(now)).cloned()
    }

    fn remember(&self, current: Option<Current>) {
        *self.local.write().unwrap_or_else(|e| e.into_inner()) = current;
    }
}

impl Engine {
    /// The credentials of `app`, or why that app is not configured.
    fn token_app(&self, app: TokenFor) -> Result<&crate::config::AppCredentials, Failure> {
        match app {
            TokenFor::OfficialAccount => self
                .cfg
                .official_account
                .as_ref()
                .map(|oa| oa.app())
                .ok_or(Failure::ChannelOff("Official Account")),
            TokenFor::MiniProgram => self
                .cfg
                .mini_program
                .as_ref()
                .ok_or(Failure::ChannelOff("mini program")),
        }
    }

    async fn global_current(&self, app: TokenFor) -> Result<Current, Failure> {
        let local = self.global.of(app);
        let now = now_unix();
        if let Some(c) = local.cached(now) {
            return Ok(c);
        }
        let _one_at_a_time = local.fetching.lock().await;
        if let Some(c) = local.cached(now_unix()) {
            return Ok(c);
        }
        let creds = self.token_app(app)?;
        let appid = creds.appid();
        let key = Key::global_token(appid);
        let store = self.store.as_ref();
        let usable = |raw: &[u8]| Current::from_bytes(raw).is_some_and(|c| c.fresh(now_unix()));
        match flight::join(store, &key, usable, LOCK_TTL, WAIT).await? {
            Turn::Ready(raw) => {
                let c = Current::from_bytes(&raw).ok_or(Failure::Busy)?;
                local.remember(Some(c.clone()));
                Ok(c)
            }
            Turn::Busy => Err(Failure::Busy),
            Turn::Mine(lease) => match self.fetch_global(creds.secret(), appid).await {
                Ok(c) => {
                    let ttl = Duration::from_secs(c.expires_at.saturating_sub(now_unix()));
                    lease.finish(c.raw.clone().into_bytes(), ttl).await?;
                    local.remember(Some(c.clone()));
                    Ok(c)
                }
                Err(e) => {
                    lease.give_up().await?;
                    Err(e)
                }
            },
        }
    }

    async fn fetch_global(&self, secret: &Secret, appid: &str) -> Result<Current, Failure> {
        let t = match self.cfg.global_token_source {
            GlobalTokenSource::Stable => self.client.stable_token(appid, secret, false).await?,
            GlobalTokenSource::Classic => self.client.token(appid, secret).await?,
        };
        tracing::info!(
            appid,
            expires_in = t.expires_in,
            "fetched the global access token"
        );
        let expires_at = now_unix() + t.expires_in;
        Ok(Current {
            raw: format!("{expires_at} {}", t.access_token.expose()),
            expires_at,
        })
    }

    /// Drops `failed` if it is still `app`'s current token (WeChat refused it), so the next
    /// caller fetches a new one.
    async fn drop_global(&self, app: TokenFor, failed: &Current) -> Result<(), Failure> {
        let appid = self.token_app(app)?.appid();
        {
            let mut local = self
                .global
                .of(app)
                .local
                .write()
                .unwrap_or_else(|e| e.into_inner());
            if local.as_ref().is_some_and(|c| c.raw == failed.raw) {
                *local = None;
            }
        }
        let key = Key::global_token(appid);
        if self.store.delete_if_eq(&key, failed.raw.as_bytes()).await? {
            tracing::warn!(
                appid,
                "WeChat refused the global access token; fetching a new one"
            );
        }
        Ok(())
    }

    /// `app`'s token from the configured provider.
    async fn provided(
        &self,
        provider: &dyn crate::config::TokenProvider,
        app: TokenFor,
        refused: Option<&Secret>,
    ) -> Result<Secret, Failure> {
        let appid = self.token_app(app)?.appid();
        provider
            .access_token(appid, refused)
            .await
            .map_err(|e| Failure::TokenProvider(e.to_string().into()))
    }

    /// Runs `call` with `app`'s global token; when WeChat refuses the token (40001, 42001)
    /// it is dropped (only if still current) and `call` runs once more with a fresh one.
    pub(crate) async fn with_token<T, F, Fut>(&self, app: TokenFor, call: F) -> Result<T, Failure>
    where
        F: Fn(Secret) -> Fut,
        Fut: Future<Output = Result<T, WechatError>>,
    {
        if let Some(provider) = self.cfg.token_provider.as_deref() {
            let token = self.provided(provider, app, None).await?;
            return match call(token.clone()).await {
                Err(e) if e.kind() == ErrorKind::TokenInvalid => {
                    let fresh = self.provided(provider, app, Some(&token)).await?;
                    Ok(call(fresh).await?)
                }
                other => Ok(other?),
            };
        }
        let current = self.global_current(app).await?;
        match call(current.token()).await {
            Err(e) if e.kind() == ErrorKind::TokenInvalid => {
                self.drop_global(app, &current).await?;
                let fresh = self.global_current(app).await?;
                Ok(call(fresh.token()).await?)
            }
            other => Ok(other?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_round_trips() {
        let c = Current::parse("1700000000 ACCESS_TOKEN".to_owned()).unwrap();
        assert_eq!(c.expires_at, 1_700_000_000);
        assert_eq!(c.token().expose(), "ACCESS_TOKEN");
        assert!(Current::parse("junk".into()).is_none());
        assert!(Current::parse("12 ".into()).is_none());
    }

    #[test]
    fn renews_before_expiry() {
        let now = 1_000_000;
        let c = |left: u64| Current {
            raw: String::new(),
            expires_at: now + left,
        };
        assert!(c(7200).fresh(now));
        assert!(!c(100).fresh(now), "inside the two-minute margin");
        assert!(
            c(300).fresh(now),
            "a stable_token in its last five minutes is still used"
        );
        assert!(!c(0).fresh(now));
    }
}
