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

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use wechat_auth_client::{ErrorKind, Secret, WechatClient, WechatError};

use crate::{
    config::{AppCredentials, GlobalTokenSource, TokenProvider},
    core::clock::now_unix,
    core::failure::Failure,
    core::store::{
        Store,
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

/// The global access tokens of every configured app with a secret: a service with its own
/// state, made once by the engine and handed to the channels that call `cgi-bin`/`wxa` APIs.
/// It knows apps by AppID only; which app a channel uses is the channel's business.
pub(crate) struct GlobalTokens {
    client: WechatClient,
    store: Arc<dyn Store>,
    source: GlobalTokenSource,
    provider: Option<Arc<dyn TokenProvider>>,
    /// The apps whose tokens this service keeps, each with its per-process state (a handful
    /// at most, so a list).
    apps: Vec<App>,
}

impl std::fmt::Debug for GlobalTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalTokens")
            .field(
                "apps",
                &self
                    .apps
                    .iter()
                    .map(|a| a.creds.appid())
                    .collect::<Vec<_>>(),
            )
            .field("provider", &self.provider.is_some())
            .finish_non_exhaustive()
    }
}

/// One app: its credentials and its token's per-process state.
struct App {
    creds: AppCredentials,
    state: GlobalToken,
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

impl GlobalTokens {
    /// The service for `apps` (the first of several with one AppID wins), fetching with
    /// `client` through `source`, sharing tokens through `store`, or asking `provider` when
    /// another system owns the tokens.
    pub(crate) fn new<'a>(
        client: WechatClient,
        store: Arc<dyn Store>,
        source: GlobalTokenSource,
        provider: Option<Arc<dyn TokenProvider>>,
        apps: impl IntoIterator<Item = &'a AppCredentials>,
    ) -> Self {
        let mut kept: Vec<App> = Vec::new();
        for creds in apps {
            if !kept.iter().any(|a| a.creds.appid() == creds.appid()) {
                kept.push(App {
                    creds: creds.clone(),
                    state: GlobalToken::default(),
                });
            }
        }
        Self {
            client,
            store,
            source,
            provider,
            apps: kept,
        }
    }

    /// The app `appid`, or why its token cannot be had (no app with a secret has that id).
    fn app(&self, appid: &str) -> Result<&App, Failure> {
        self.apps
            .iter()
            .find(|a| a.creds.appid() == appid)
            .ok_or(Failure::ChannelOff("app"))
    }

    async fn global_current(&self, app: &App) -> Result<Current, Failure> {
        let local = &app.state;
        let now = now_unix();
        if let Some(c) = local.cached(now) {
            return Ok(c);
        }
        let _one_at_a_time = local.fetching.lock().await;
        if let Some(c) = local.cached(now_unix()) {
            return Ok(c);
        }
        let creds = &app.creds;
        let appid = creds.appid();
        let key = global_token_key(appid);
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
        let t = match self.source {
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
    async fn drop_global(&self, app: &App, failed: &Current) -> Result<(), Failure> {
        let appid = app.creds.appid();
        {
            let mut local = app.state.local.write().unwrap_or_else(|e| e.into_inner());
            if local.as_ref().is_some_and(|c| c.raw == failed.raw) {
                *local = None;
            }
        }
        let key = global_token_key(appid);
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
        provider: &dyn TokenProvider,
        app: &App,
        refused: Option<&Secret>,
    ) -> Result<Secret, Failure> {
        let appid = app.creds.appid();
        provider
            .access_token(appid, refused)
            .await
            .map_err(|e| super::failure::WechatFailure::TokenProvider(e.to_string()).into())
    }

    /// Runs `call` with the global token of the app `appid`; when WeChat refuses the token
    /// (40001, 42001) it is dropped (only if still current) and `call` runs once more with a
    /// fresh one.
    pub(crate) async fn with_token<T, F, Fut>(&self, appid: &str, call: F) -> Result<T, Failure>
    where
        F: Fn(Secret) -> Fut,
        Fut: Future<Output = Result<T, WechatError>>,
    {
        let app = self.app(appid)?;
        if let Some(provider) = self.provider.as_deref() {
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

/// The key of `appid`'s current global access token (one per app, shared by every instance).
fn global_token_key(appid: &str) -> Key {
    Key::of(appid, "global_token", "current")
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

    /// The service stands alone: it knows apps by AppID, answers from the shared store
    /// without WeChat while the stored token is fresh, and refuses an app it was not given.
    #[tokio::test]
    async fn a_service_keyed_by_appid_reads_the_shared_store() {
        let store: Arc<dyn Store> = Arc::new(crate::core::store::MemoryStore::new());
        let apps = [
            AppCredentials::new("wx1", "s1"),
            AppCredentials::new("wx2", "s2"),
            AppCredentials::new("wx1", "other"),
        ];
        let tokens = GlobalTokens::new(
            WechatClient::new(),
            store.clone(),
            GlobalTokenSource::Stable,
            None,
            &apps,
        );
        assert_eq!(tokens.apps.len(), 2, "one entry per AppID");
        let stored = format!("{} TOKEN_WX1", now_unix() + 7200);
        store
            .set(
                &global_token_key("wx1"),
                stored.into_bytes(),
                Duration::from_secs(7200),
            )
            .await
            .unwrap();
        let got = tokens
            .with_token("wx1", |t| async move {
                Ok::<_, WechatError>(t.expose().to_owned())
            })
            .await
            .unwrap();
        assert_eq!(got, "TOKEN_WX1");
        let unknown = tokens
            .with_token("wx9", |_| async { Ok::<_, WechatError>(()) })
            .await;
        assert!(matches!(unknown, Err(Failure::ChannelOff(_))));
        let debug = format!("{tokens:?}");
        assert!(!debug.contains("s1") && !debug.contains("TOKEN"), "{debug}");
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
