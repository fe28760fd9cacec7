//! The Official Account's global access token: fetched once, shared by every caller and every
//! instance, renewed before it expires, and replaced when WeChat says it is no longer valid.
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

use crate::{
    GlobalTokenSource, Secret,
    client::{ErrorKind, WechatError},
    clock::now_unix,
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

/// Per-process state of the global token.
#[derive(Default)]
pub(crate) struct GlobalToken {
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
    async fn global_current(&self) -> Result<Current, Failure> {
        let now = now_unix();
        if let Some(c) = self.global.cached(now) {
            return Ok(c);
        }
        let _one_at_a_time = self.global.fetching.lock().await;
        if let Some(c) = self.global.cached(now_unix()) {
            return Ok(c);
        }
        let oa = self
            .cfg
            .official_account
            .as_ref()
            .ok_or(Failure::ChannelOff("Official Account"))?;
        let appid = oa.app().appid();
        let key = Key::global_token(appid);
        let store = self.store.as_ref();
        let usable = |raw: &[u8]| Current::from_bytes(raw).is_some_and(|c| c.fresh(now_unix()));
        match flight::join(store, &key, usable, LOCK_TTL, WAIT).await? {
            Turn::Ready(raw) => {
                let c = Current::from_bytes(&raw).ok_or(Failure::Busy)?;
                self.global.remember(Some(c.clone()));
                Ok(c)
            }
            Turn::Busy => Err(Failure::Busy),
            Turn::Mine(lease) => match self.fetch_global(oa.app().secret(), appid).await {
                Ok(c) => {
                    let ttl = Duration::from_secs(c.expires_at.saturating_sub(now_unix()));
                    lease.finish(c.raw.clone().into_bytes(), ttl).await?;
                    self.global.remember(Some(c.clone()));
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
        tracing::info!(expires_in = t.expires_in, "fetched the global access token");
        let expires_at = now_unix() + t.expires_in;
        Ok(Current {
            raw: format!("{expires_at} {}", t.access_token.expose()),
            expires_at,
        })
    }

    /// Drops `failed` if it is still the current token (WeChat refused it), so the next
    /// caller fetches a new one.
    async fn drop_global(&self, failed: &Current) -> Result<(), Failure> {
        let Some(oa) = &self.cfg.official_account else {
            return Ok(());
        };
        {
            let mut local = self.global.local.write().unwrap_or_else(|e| e.into_inner());
            if local.as_ref().is_some_and(|c| c.raw == failed.raw) {
                *local = None;
            }
        }
        let key = Key::global_token(oa.app().appid());
        if self.store.delete_if_eq(&key, failed.raw.as_bytes()).await? {
            tracing::warn!("WeChat refused the global access token; fetching a new one");
        }
        Ok(())
    }

    /// Runs `call` with the global token; when WeChat refuses the token (40001, 42001) it is
    /// dropped (only if still current) and `call` runs once more with a fresh one.
    pub(crate) async fn with_global_token<T, F, Fut>(&self, call: F) -> Result<T, Failure>
    where
        F: Fn(Secret) -> Fut,
        Fut: Future<Output = Result<T, WechatError>>,
    {
        let current = self.global_current().await?;
        match call(current.token()).await {
            Err(e) if e.kind() == ErrorKind::TokenInvalid => {
                self.drop_global(&current).await?;
                let fresh = self.global_current().await?;
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
