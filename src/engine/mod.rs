//! The layer's engine, shared by the guard and every flow: configuration, WeChat client,
//! store, key ring, deny-list, and the steps every login ends with.

use std::sync::Arc;

use wechat_auth_client::WechatClient;

use crate::{
    config::WechatConfig,
    session::{Revocations, SessionKeys},
    store::Store,
};

mod cookies;
mod guard;
mod logins;
mod profiles;
mod revocation;
mod tokens;

pub(crate) use guard::Found;
use guard::PublicPaths;
use logins::CODE_MEMORY_LOCAL;
pub(crate) use logins::LoginOutcome;
pub use profiles::Profile;
pub(crate) use tokens::GlobalTokens;

/// Used codes this process remembers itself, besides the store.
const LOCAL_CODES: u64 = 1_000;

/// Everything the layer shares between requests.
pub(crate) struct Engine {
    cfg: WechatConfig,
    client: WechatClient,
    store: Arc<dyn Store>,
    keys: SessionKeys,
    revocations: Revocations,
    /// The push URL's signature and crypto, when the Official Account has a push token.
    push: Option<Arc<crate::push::PushCrypto>>,
    /// Every app's global access token (a service of its own).
    tokens: GlobalTokens,
    /// Whether the background work (the deny-list listener) has been started.
    background: std::sync::atomic::AtomicBool,
    /// In-process single flight and memory of used codes (at most [`LOCAL_CODES`]).
    logins: moka::future::Cache<String, Arc<LoginOutcome>>,
    /// Per-client bounds on code exchanges.
    limits: crate::limit::ClientLimits,
    /// Per-client rate limits on starting scan logins.
    start_limits: crate::limit::StartLimits,
    public: PublicPaths,
    login_path: String,
    /// The body of every `401`.
    unauthenticated: bytes::Bytes,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Engine {
    pub(crate) fn new(cfg: WechatConfig) -> Self {
        let client = cfg.client().clone();
        let store = cfg.store.clone();
        let keys = SessionKeys::new(&cfg.session_keys);
        let public = PublicPaths::new(&cfg.public_paths);
        let login_path = format!("{}/login", cfg.prefix);
        // Built and checked once, by `build()`.
        let push = cfg.push_crypto().cloned();
        Self {
            push,
            tokens: GlobalTokens::new(
                client.clone(),
                store.clone(),
                cfg.global_token_source,
                cfg.token_provider.clone(),
                cfg.global_token_apps(),
            ),
            background: std::sync::atomic::AtomicBool::new(false),
            client,
            store,
            keys,
            revocations: Revocations::default(),
            logins: moka::future::Cache::builder()
                // The most recent codes only (~2 KiB each with moka's bookkeeping): older
                // repeats read the store, which keeps every outcome for 10 minutes.
                .max_capacity(LOCAL_CODES)
                .time_to_live(CODE_MEMORY_LOCAL)
                .build(),
            limits: crate::limit::ClientLimits::default(),
            start_limits: {
                let q = cfg.push_settings.start_quotas;
                crate::limit::StartLimits::new(q.per_ip, q.per_browser, q.total)
            },
            public,
            unauthenticated: serde_json::to_vec(
                &serde_json::json!({ "error": "unauthenticated", "login_url": login_path }),
            )
            .unwrap_or_default()
            .into(),
            login_path,
            cfg,
        }
    }

    /// The settings this engine was built from.
    pub(crate) fn config(&self) -> &WechatConfig {
        &self.cfg
    }

    /// The WeChat API client.
    pub(crate) fn client(&self) -> &WechatClient {
        &self.client
    }

    /// Where server-side state lives (a flow keeps its own records there, under typed keys).
    pub(crate) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The global access tokens of the configured apps.
    pub(crate) fn tokens(&self) -> &GlobalTokens {
        &self.tokens
    }

    /// The push URL's signature and crypto, when the Official Account has a push token.
    pub(crate) fn push_crypto(&self) -> Option<&crate::push::PushCrypto> {
        self.push.as_deref()
    }

    /// Signs a state ticket (the state cookie, the scan cookie).
    pub(crate) fn sign_state(&self, ticket: &crate::session::StateTicket) -> String {
        self.keys.sign_state(ticket)
    }

    /// Verifies a signed state ticket of kind `purpose` for `state`.
    pub(crate) fn verify_state(
        &self,
        value: &str,
        state: &str,
        purpose: crate::session::TicketPurpose,
    ) -> Option<crate::session::StateTicket> {
        self.keys.verify_state(value, state, purpose)
    }

    /// Takes one scan start for the client at `ip` whose browser is known by `browser`, or
    /// says how long it must wait.
    pub(crate) fn allow_scan_start(
        &self,
        ip: Option<std::net::IpAddr>,
        browser: Option<&str>,
    ) -> Result<(), std::time::Duration> {
        self.start_limits.check(ip, browser)
    }

    /// A slot for one code exchange outside the login flows (the scan confirm page's
    /// `snsapi_base` code), under the same per-client bounds as logins.
    pub(crate) fn exchange_slot(
        &self,
        ip: Option<std::net::IpAddr>,
    ) -> Result<crate::limit::Slot, crate::limit::Exceeded> {
        self.limits.acquire(ip)
    }

    /// Whether a follow-the-account scan waits for the user to confirm on the phone.
    pub(crate) fn scan_confirm(&self) -> bool {
        self.cfg.push_settings.scan_confirm
    }

    /// The client that sent `req`, as the per-client limits know it.
    pub(crate) fn client_ip(&self, req: &http::request::Parts) -> Option<std::net::IpAddr> {
        crate::limit::client_ip(req, self.cfg.client_ip_header.as_ref())
    }
}
