//! Exactly-once code exchange: however often a login's callback arrives and on however many
//! instances, its code is exchanged once and every caller gets the one outcome.

use std::{sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{
    core::failure::Failure,
    core::limit::{ClientLimits, Exceeded, Slot},
    core::sessions::tokens::IssuedToken,
    core::store::Deferred,
    core::store::{
        self,
        flight::{self, Turn},
        keys::Key,
    },
    user::Identity,
};

/// How long a used code's outcome is remembered in the store (a website code lives 10
/// minutes).
const CODE_MEMORY: Duration = Duration::from_secs(10 * 60);
/// How long this process keeps a code's outcome besides: long enough for a double redirect
/// or a quick reload; later repeats read the store.
const CODE_MEMORY_LOCAL: Duration = Duration::from_secs(60);
/// How long one instance may hold the exchange of one code before another may try.
const CODE_LOCK: Duration = Duration::from_secs(30);
/// How long a repeated callback waits for the first one's exchange on another instance.
const CODE_WAIT: Duration = Duration::from_secs(15);
/// The outcome of exchanging one code, remembered so that a repeated callback (reload,
/// Android double redirect, Back) gets the same answer without a second exchange.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub(crate) enum LoginOutcome {
    /// Logged in.
    Success {
        /// The `state` of the login attempt that used the code.
        state: String,
        /// Where that login was going.
        return_to: String,
        /// Who logged in, whatever the provider.
        identity: Identity,
        /// A native login's bearer token, issued once per code: a repeat of the code gets
        /// this same token while it is fresh and not revoked, never a new one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<Box<IssuedToken>>,
    },
    /// WeChat refused the code (invalid, used, expired): remembered so that a repeat does
    /// not cost another upstream call.
    Failed { errcode: i64 },
    /// An Official Account snapshot-page (virtual) user: no session.
    Snapshot { state: String },
    /// The `on_login` hook refused.
    Refused { state: String, message: String },
}

/// What the store and this process keep of one exchange: the outcome and, for a web
/// login (keyed by its state), the digest of the code that used the state.
#[derive(Debug, Serialize, Deserialize)]
struct Remembered {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    #[serde(flatten)]
    outcome: LoginOutcome,
}

/// A code as kept beside its state: its SHA-1, never the code.
fn code_mark(code: &str) -> String {
    use sha1::{Digest, Sha1};
    hex::encode(Sha1::digest(code.as_bytes()))
}

impl LoginOutcome {
    pub(crate) fn state(&self) -> &str {
        match self {
            Self::Success { state, .. }
            | Self::Snapshot { state }
            | Self::Refused { state, .. } => state,
            Self::Failed { .. } => "",
        }
    }
}

/// The exchange service: single flight per code in this process, the store across
/// instances, the outcome remembered for the code's lifetime, and the per-client bounds.
pub(crate) struct Exchanges {
    store: std::sync::Arc<dyn crate::core::store::Store>,
    /// In-process single flight and memory of used codes (at most [`LOCAL_CODES`]).
    local: moka::future::Cache<String, Arc<Remembered>>,
    /// Per-client bounds on code exchanges.
    limits: ClientLimits,
}

/// Used codes this process remembers itself, besides the store.
const LOCAL_CODES: u64 = 1_000;

impl std::fmt::Debug for Exchanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchanges").finish_non_exhaustive()
    }
}

impl Exchanges {
    pub(crate) fn new(store: std::sync::Arc<dyn crate::core::store::Store>) -> Self {
        Self {
            store,
            local: moka::future::Cache::builder()
                // The most recent codes only (~2 KiB each with moka's bookkeeping): older
                // repeats read the store, which keeps every outcome for 10 minutes.
                .max_capacity(LOCAL_CODES)
                .time_to_live(CODE_MEMORY_LOCAL)
                .build(),
            limits: ClientLimits::default(),
        }
    }

    /// A slot for one code exchange outside the login flows (the scan confirm page's
    /// `snsapi_base` code), under the same per-client bounds as logins.
    pub(crate) fn slot(&self, ip: Option<std::net::IpAddr>) -> Result<Slot, Exceeded> {
        self.limits.acquire(ip)
    }

    /// Exchanges one code exactly once, however often its callback arrives and on however
    /// many instances: concurrent callers in this process share one exchange, other
    /// instances find the outcome in the store (or wait for it), and the outcome is
    /// remembered for the code's lifetime. For the native logins (app, mini program), whose
    /// codes come without a state; a web login uses [`exchange_for_state`](Self::exchange_for_state).
    pub(crate) async fn exchange_once<F, Fut>(
        &self,
        appid: &str,
        code: &str,
        client: Option<std::net::IpAddr>,
        work: F,
    ) -> Result<Arc<LoginOutcome>, Failure>
    where
        F: FnOnce(Deferred) -> Fut,
        Fut: Future<Output = Result<LoginOutcome, Failure>>,
    {
        self.once(Key::code(appid, code), None, CODE_MEMORY, client, work)
            .await
    }

    /// A web login's exchange: the same single flight, keyed by the login's `state`, so the
    /// state is single-use in the same store round trip that takes the exchange. The first
    /// code that comes back with `state` owns it for `memory` (at least the state's
    /// lifetime): the same code again (a reload, a double redirect) gets the one outcome,
    /// another code is refused ([`Failure::StateMismatch`]), so one planted or leaked state
    /// cookie cannot carry a second login. The same code with another state is not ours to
    /// deduplicate: WeChat refuses a used code.
    pub(crate) async fn exchange_for_state<F, Fut>(
        &self,
        appid: &str,
        state: &str,
        code: &str,
        memory: Duration,
        client: Option<std::net::IpAddr>,
        work: F,
    ) -> Result<Arc<LoginOutcome>, Failure>
    where
        F: FnOnce(Deferred) -> Fut,
        Fut: Future<Output = Result<LoginOutcome, Failure>>,
    {
        let key = Key::hashed(appid, "login", state);
        self.once(
            key,
            Some(code_mark(code)),
            memory.max(CODE_MEMORY),
            client,
            work,
        )
        .await
    }

    async fn once<F, Fut>(
        &self,
        key: Key,
        mark: Option<String>,
        memory: Duration,
        client: Option<std::net::IpAddr>,
        work: F,
    ) -> Result<Arc<LoginOutcome>, Failure>
    where
        F: FnOnce(Deferred) -> Fut,
        Fut: Future<Output = Result<LoginOutcome, Failure>>,
    {
        let slot = self.limits.acquire(client).map_err(Failure::TooMany)?;
        let store = self.store.as_ref();
        let mine = mark.clone();
        let fut = async {
            let lease = match flight::join(store, &key, |_| true, CODE_LOCK, CODE_WAIT).await? {
                Turn::Ready(done) => {
                    return Ok(Arc::new(store::from_json::<Remembered>(&key, &done)?));
                }
                // Another instance is still exchanging this code.
                Turn::Busy => return Err(Failure::Busy),
                Turn::Mine(lease) => lease,
            };
            let deferred = Deferred::default();
            let outcome = match work(deferred.clone()).await {
                Ok(outcome) => outcome,
                // WeChat refused the code itself (made up, used, expired): remember that, so
                // a repeat costs no upstream call, and count it against the client.
                Err(f) if f.refused_code().is_some() => {
                    slot.failed();
                    LoginOutcome::Failed {
                        errcode: f.refused_code().unwrap_or_default(),
                    }
                }
                Err(e) => {
                    // Let a later attempt (here or on another instance) try again.
                    let _ = lease.give_up().await;
                    return Err(e);
                }
            };
            let remembered = Remembered {
                code: mine,
                outcome,
            };
            lease
                .finish_with(store::to_json(&key, &remembered)?, memory, deferred.take())
                .await?;
            Ok(Arc::new(remembered))
        };
        let remembered = self
            .local
            .try_get_with(key.to_string(), fut)
            .await
            .map_err(|e: Arc<Failure>| (*e).clone())?;
        if let LoginOutcome::Failed { errcode } = remembered.outcome {
            return Err(Failure::CodeRefused(errcode));
        }
        if remembered.code != mark {
            tracing::warn!("callback refused: this state was already used with another code");
            return Err(Failure::StateMismatch);
        }
        Ok(Arc::new(remembered.outcome.clone()))
    }

    /// The remembered outcome of a web login's `state`, if it was `code`'s.
    pub(crate) async fn remembered_for_state(
        &self,
        appid: &str,
        state: &str,
        code: &str,
    ) -> Option<LoginOutcome> {
        let key = Key::hashed(appid, "login", state);
        let found = match self.local.get(&*key).await {
            Some(hit) => hit,
            None => Arc::new(
                store::get_json::<Remembered>(self.store.as_ref(), &key)
                    .await
                    .ok()
                    .flatten()?,
            ),
        };
        (found.code.as_deref() == Some(code_mark(code).as_str())).then(|| found.outcome.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::{
        core::store::MemoryStore,
        user::{Channel, WechatUser},
    };

    fn success(state: &str) -> LoginOutcome {
        LoginOutcome::Success {
            state: state.into(),
            return_to: "/".into(),
            identity: WechatUser::new("wx1", "oAlice", Channel::Website).into(),
            token: None,
        }
    }

    #[tokio::test]
    async fn a_state_is_bound_to_its_first_code_on_every_instance() {
        let store: Arc<dyn crate::core::store::Store> = Arc::new(MemoryStore::new());
        // Two instances: their own local memories, one store.
        let (a, b) = (Exchanges::new(store.clone()), Exchanges::new(store));
        let runs = AtomicUsize::new(0);
        let work = |_| async {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok(success("st"))
        };
        let ttl = Duration::from_secs(600);
        let first = a
            .exchange_for_state("wx1", "st", "c1", ttl, None, work)
            .await;
        assert!(matches!(
            first.unwrap().as_ref(),
            LoginOutcome::Success { .. }
        ));
        // The same code again, here and on the other instance: the one outcome, no exchange.
        for ex in [&a, &b] {
            let again = ex
                .exchange_for_state("wx1", "st", "c1", ttl, None, work)
                .await;
            assert!(matches!(
                again.unwrap().as_ref(),
                LoginOutcome::Success { .. }
            ));
        }
        // Another code with the same state: refused before any exchange, on both.
        for ex in [&a, &b] {
            let other = ex
                .exchange_for_state("wx1", "st", "c2", ttl, None, work)
                .await;
            assert!(matches!(other, Err(Failure::StateMismatch)));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(b.remembered_for_state("wx1", "st", "c1").await.is_some());
        assert!(b.remembered_for_state("wx1", "st", "c2").await.is_none());
        // A native code (no state) is its own single flight.
        let native = b.exchange_once("wx1", "c2", None, work).await;
        assert!(native.is_ok());
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}
