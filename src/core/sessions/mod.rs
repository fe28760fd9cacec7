//! The session service: signs and verifies session tokens and state tickets, sets and
//! clears the session and flow cookies, finds the session a request carries, and revokes
//! sessions (in this process and, through the store, on every instance).
//!
//! [`Sessions`] is one value with private state (the key ring, the deny-list, the cookie
//! settings); the guard, the channels and the handle are given it and call its methods.

use std::{sync::Arc, time::Duration};

use wechat_auth_client::Secret;

use crate::core::store::Store;

mod cookies;
mod find;
mod revocation;
pub(crate) mod tokens;

pub(crate) use find::Found;
use tokens::{Revocations, SessionKeys, StateTicket, TicketPurpose};

/// How sessions and the login flows' cookies are named, scoped and timed, as `build()`
/// accepted them.
#[derive(Clone, Debug)]
pub(crate) struct SessionSettings {
    /// The signing keys: the first signs, every one verifies.
    pub(crate) keys: Vec<Secret>,
    /// The session cookie's name as browsers see it (with its `__Host-`/`__Secure-` prefix).
    pub(crate) cookie_name: String,
    /// The prefix of the flow cookies' names (`""`, `__Host-` or `__Secure-`).
    pub(crate) flow_prefix: &'static str,
    /// The `Path` of the flow cookies.
    pub(crate) flow_path: String,
    /// Whether cookies are `Secure`.
    pub(crate) secure: bool,
    /// The cookies' `Domain`, when shared with subdomains.
    pub(crate) domain: Option<String>,
    /// How long one token lives.
    pub(crate) ttl: Duration,
    /// How long a login lives with all its refreshes.
    pub(crate) max_lifetime: Duration,
}

/// The session service.
pub(crate) struct Sessions {
    keys: SessionKeys,
    revocations: Revocations,
    settings: SessionSettings,
    /// Where revocations are shared with other instances.
    store: Arc<dyn Store>,
    /// Whether the deny-list listener has been started.
    background: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("cookie_name", &self.settings.cookie_name)
            .finish_non_exhaustive()
    }
}

impl Sessions {
    pub(crate) fn new(settings: SessionSettings, store: Arc<dyn Store>) -> Self {
        Self {
            keys: SessionKeys::new(&settings.keys),
            revocations: Revocations::default(),
            settings,
            store,
            background: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Signs a state ticket (the state cookie, the scan cookie).
    pub(crate) fn sign_state(&self, ticket: &StateTicket) -> String {
        self.keys.sign_state(ticket)
    }

    /// Verifies a signed state ticket of kind `purpose` for `state`.
    pub(crate) fn verify_state(
        &self,
        value: &str,
        state: &str,
        purpose: TicketPurpose,
    ) -> Option<StateTicket> {
        self.keys.verify_state(value, state, purpose)
    }

    /// The name of a login-flow cookie: `kind` (`wechat_state_`, `wechat_scan_`…) and `id`,
    /// with the site's cookie prefix.
    pub(crate) fn flow_cookie_name(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}{id}", self.settings.flow_prefix)
    }

    /// The `Path` of the login-flow cookies.
    pub(crate) fn flow_cookie_path(&self) -> &str {
        &self.settings.flow_path
    }
}
