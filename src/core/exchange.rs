//! Exactly-once code exchange: however often a login's callback arrives and on however many
//! instances, its code is exchanged once and every caller gets the one outcome.

use std::{sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{
    core::failure::Failure,
    core::limit::{ClientLimits, Exceeded, Slot},
    core::sessions::tokens::IssuedToken,
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
    local: moka::future::Cache<String, Arc<LoginOutcome>>,
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
    /// remembered for the code's lifetime.
    pub(crate) async fn exchange_once<F, Fut>(
        &self,
        appid: &str,
        code: &str,
        client: Option<std::net::IpAddr>,
        work: F,
    ) -> Result<Arc<LoginOutcome>, Failure>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<LoginOutcome, Failure>>,
    {
        let slot = self.limits.acquire(client).map_err(Failure::TooMany)?;
        let key = Key::code(appid, code);
        let store = self.store.as_ref();
        let fut = async {
            let lease = match flight::join(store, &key, |_| true, CODE_LOCK, CODE_WAIT).await? {
                Turn::Ready(done) => return Ok(Arc::new(store::from_json(&key, &done)?)),
                // Another instance is still exchanging this code.
                Turn::Busy => return Err(Failure::Busy),
                Turn::Mine(lease) => lease,
            };
            let outcome = match work().await {
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
            lease
                .finish(store::to_json(&key, &outcome)?, CODE_MEMORY)
                .await?;
            Ok(Arc::new(outcome))
        };
        let outcome = self
            .local
            .try_get_with(key.to_string(), fut)
            .await
            .map_err(|e: Arc<Failure>| (*e).clone())?;
        match outcome.as_ref() {
            LoginOutcome::Failed { errcode } => Err(Failure::CodeRefused(*errcode)),
            _ => Ok(outcome),
        }
    }

    /// The remembered outcome of a code already exchanged, if any.
    pub(crate) async fn remembered(&self, appid: &str, code: &str) -> Option<Arc<LoginOutcome>> {
        let key = Key::code(appid, code);
        if let Some(hit) = self.local.get(&*key).await {
            return Some(hit);
        }
        store::get_json::<LoginOutcome>(self.store.as_ref(), &key)
            .await
            .ok()
            .flatten()
            .map(Arc::new)
    }
}
