//! One WeCom token shared by every caller and every instance: a corp app's `access_token`
//! (`cgi-bin/gettoken`, per corp + agent) or a suite's `suite_access_token`
//! (`service/get_suite_token`). As the WeChat provider's global tokens:
//!
//! 1. a copy in this process answers while it has more than [`MARGIN`] left;
//! 2. concurrent callers in this process wait for one fetch (a mutex);
//! 3. the store holds the token for every instance; one instance at a time fetches, under a
//!    store lock, and the others wait for its notification;
//! 4. a token WeCom refuses is dropped only if it is still the current one, so a late
//!    failure on an old token never throws away a fresh one.

use std::{sync::RwLock, time::Duration};

use wechat_auth_client::Secret;

use crate::core::{
    clock::now_unix,
    failure::Failure,
    store::{
        Store,
        flight::{self, Turn},
        keys::Key,
    },
};

/// How long a fetch may hold the store lock.
const LOCK_TTL: Duration = Duration::from_secs(20);
/// How long a waiting instance waits for another's fetch.
const WAIT: Duration = Duration::from_secs(15);
/// Renew this long before expiry.
pub(super) const MARGIN: u64 = 300;

/// A token and when it stops being usable, as the store keeps it: `"EXPIRES_AT TOKEN"`.
#[derive(Clone)]
pub(super) struct Current {
    raw: String,
    expires_at: u64,
}

impl Current {
    pub(super) fn new(token: &Secret, expires_in: u64) -> Self {
        let expires_at = now_unix() + expires_in;
        Self {
            raw: format!("{expires_at} {}", token.expose()),
            expires_at,
        }
    }

    fn from_bytes(raw: &[u8]) -> Option<Self> {
        let raw = String::from_utf8(raw.to_vec()).ok()?;
        let (exp, token) = raw.split_once(' ')?;
        let expires_at = exp.parse().ok()?;
        (!token.is_empty()).then_some(Self { raw, expires_at })
    }

    pub(super) fn token(&self) -> Secret {
        Secret::new(self.raw.split_once(' ').map(|(_, t)| t).unwrap_or_default())
    }

    fn fresh(&self, now: u64) -> bool {
        self.expires_at > now + MARGIN
    }
}

/// One shared token: its store key and its per-process state.
pub(super) struct SharedToken {
    key: Key,
    local: RwLock<Option<Current>>,
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for SharedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedToken")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl SharedToken {
    pub(super) fn new(key: Key) -> Self {
        Self {
            key,
            local: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The copy this process holds, while fresh.
    pub(super) fn cached(&self) -> Option<Current> {
        let local = self.local.read().unwrap_or_else(|e| e.into_inner());
        local.as_ref().filter(|c| c.fresh(now_unix())).cloned()
    }

    fn remember(&self, current: Option<Current>) {
        *self.local.write().unwrap_or_else(|e| e.into_inner()) = current;
    }

    /// The current token: this process's copy, the store's, or one fetched by `fetch` (one
    /// caller of the whole fleet at a time).
    pub(super) async fn current<F, Fut>(
        &self,
        store: &dyn Store,
        fetch: F,
    ) -> Result<Current, Failure>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Current, Failure>>,
    {
        if let Some(c) = self.cached() {
            return Ok(c);
        }
        let _one_at_a_time = self.fetching.lock().await;
        if let Some(c) = self.cached() {
            return Ok(c);
        }
        let usable = |raw: &[u8]| Current::from_bytes(raw).is_some_and(|c| c.fresh(now_unix()));
        match flight::join(store, &self.key, usable, LOCK_TTL, WAIT).await? {
            Turn::Ready(raw) => {
                let c = Current::from_bytes(&raw).ok_or(Failure::Busy)?;
                self.remember(Some(c.clone()));
                Ok(c)
            }
            Turn::Busy => Err(Failure::Busy),
            Turn::Mine(lease) => match fetch().await {
                Ok(c) => {
                    let ttl = Duration::from_secs(c.expires_at.saturating_sub(now_unix()));
                    lease.finish(c.raw.clone().into_bytes(), ttl).await?;
                    self.remember(Some(c.clone()));
                    Ok(c)
                }
                Err(e) => {
                    lease.give_up().await?;
                    Err(e)
                }
            },
        }
    }

    /// Drops `failed` if it is still the current token (WeCom refused it), here and in the
    /// store, so the next caller fetches a new one.
    pub(super) async fn drop_if_current(
        &self,
        store: &dyn Store,
        failed: &Current,
    ) -> Result<(), Failure> {
        {
            let mut local = self.local.write().unwrap_or_else(|e| e.into_inner());
            if local.as_ref().is_some_and(|c| c.raw == failed.raw) {
                *local = None;
            }
        }
        if store.delete_if_eq(&self.key, failed.raw.as_bytes()).await? {
            tracing::warn!(key = ?self.key, "WeCom refused the token; fetching a new one");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;
    use crate::core::store::MemoryStore;

    /// Many callers on two "instances" (two services, one store) fetch once.
    #[tokio::test]
    async fn two_instances_fetch_once() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let key = Key::of("ww1", "wecom_token", "1000002");
        let a = Arc::new(SharedToken::new(key.clone()));
        let b = Arc::new(SharedToken::new(key));
        let fetched = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let (t, store, fetched) = (
                    if i % 2 == 0 { a.clone() } else { b.clone() },
                    store.clone(),
                    fetched.clone(),
                );
                tokio::spawn(async move {
                    t.current(store.as_ref(), || async move {
                        fetched.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(30)).await;
                        Ok(Current::new(&Secret::new("T1"), 7200))
                    })
                    .await
                    .map(|c| c.token().expose().to_owned())
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), "T1");
        }
        assert_eq!(fetched.load(Ordering::SeqCst), 1);
        // A refused token is dropped everywhere; the next caller fetches.
        let c = a.cached().unwrap();
        a.drop_if_current(store.as_ref(), &c).await.unwrap();
        let next = a
            .current(store.as_ref(), || async {
                Ok(Current::new(&Secret::new("T2"), 7200))
            })
            .await
            .unwrap();
        assert_eq!(next.token().expose(), "T2");
    }

    #[test]
    fn a_token_inside_the_margin_is_renewed() {
        assert!(Current::new(&Secret::new("x"), 7200).fresh(now_unix()));
        assert!(!Current::new(&Secret::new("x"), MARGIN - 1).fresh(now_unix()));
        assert!(Current::from_bytes(b"junk").is_none());
    }
}
