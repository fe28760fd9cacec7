//! What the channels are given when they are mounted: the core's services, the WeChat
//! provider's services, the client and the store, and the settings each channel takes its
//! own section from. (Transitional: the accessors go once every channel holds its state.)

use std::sync::Arc;

use wechat_auth_client::WechatClient;

use crate::{
    config::WechatConfig,
    core::{
        exchange::Exchanges,
        guard::Guard,
        limit::StartLimits,
        login::Logins,
        sessions::{SessionSettings, Sessions},
        store::Store,
        weblogin::{WebLogins, WebSettings},
    },
    providers::{
        douyin::tokens::UserTokens,
        wechat::{code::CodeLogin, profiles::Profiles, tokens::GlobalTokens},
    },
};

/// The services every channel is given, built once from the checked settings.
pub(crate) struct Mount {
    /// The checked settings each channel copies its section from.
    pub(crate) cfg: WechatConfig,
    /// The WeChat API client.
    pub(crate) client: WechatClient,
    /// Where server-side state lives (a channel keeps its records there, under its keys).
    pub(crate) store: Arc<dyn Store>,
    /// The push URL's signature and crypto, when the Official Account has a push token.
    pub(crate) push: Option<Arc<crate::push::PushCrypto>>,
    /// Every app's global access token.
    pub(crate) tokens: Arc<GlobalTokens>,
    /// Per-client rate limits on starting scan logins.
    pub(crate) start_limits: Arc<StartLimits>,
    /// Which client sent a request.
    pub(crate) client_ip: Option<crate::core::limit::ClientIpHeader>,
    /// Sessions: tokens, cookies, state tickets, revocation.
    pub(crate) sessions: Arc<Sessions>,
    /// The guard.
    pub(crate) guard: Arc<Guard>,
    /// Where state-changing requests may come from.
    pub(crate) origins: crate::core::request::Origins,
    /// Exactly-once code exchange.
    pub(crate) exchanges: Arc<Exchanges>,
    /// The `on_login` hook.
    pub(crate) logins: Arc<Logins>,
    /// Logging in with a WeChat OAuth code.
    pub(crate) code_login: Arc<CodeLogin>,
    /// WeChat users' tokens and profiles.
    pub(crate) profiles: Arc<Profiles>,
    /// The ends of a browser login (state cookies, the callback's answers).
    pub(crate) web: Arc<WebLogins>,
    /// Douyin users' tokens and profiles, when the Douyin app is configured (shared by the
    /// Douyin channel and the [`DouyinHandle`](crate::handle::DouyinHandle)).
    pub(crate) douyin_tokens: Option<Arc<UserTokens>>,
}

impl std::fmt::Debug for Mount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mount")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Mount {
    pub(crate) fn new(cfg: WechatConfig) -> Self {
        let client = cfg.client().clone();
        let store = cfg.store.clone();
        let sessions = Arc::new(Sessions::new(
            SessionSettings {
                keys: cfg.session_keys.clone(),
                cookie_name: cfg.session_cookie.clone(),
                flow_prefix: cfg.cookie_prefix,
                flow_path: cfg.flow_cookie_path().to_owned(),
                secure: cfg.secure_cookies,
                domain: cfg.cookie_domain.clone(),
                ttl: cfg.session_ttl,
                max_lifetime: cfg.session_max_lifetime,
            },
            store.clone(),
        ));
        let guard = Arc::new(Guard::new(sessions.clone(), &cfg.public_paths, &cfg.prefix));
        let logins = Arc::new(Logins::new(cfg.on_login.clone(), sessions.clone()));
        let profiles = Arc::new(Profiles::new(
            client.clone(),
            store.clone(),
            cfg.userinfo_ttl,
            cfg.lang,
        ));
        let web = Arc::new(WebLogins::new(
            WebSettings {
                origin: cfg.origin().to_owned(),
                state_ttl: cfg.state_ttl,
                pages: cfg.pages.clone(),
                language: cfg.language,
            },
            sessions.clone(),
        ));
        let douyin_tokens = cfg.douyin.as_ref().map(|section| {
            Arc::new(UserTokens::new(
                section.client.clone(),
                store.clone(),
                cfg.userinfo_ttl,
            ))
        });
        Self {
            web,
            douyin_tokens,
            push: cfg.push_crypto().cloned(),
            client_ip: cfg.client_ip_header.clone(),
            tokens: Arc::new(GlobalTokens::new(
                client.clone(),
                store.clone(),
                cfg.global_token_source,
                cfg.token_provider.clone(),
                cfg.global_token_apps(),
            )),
            start_limits: {
                let q = cfg.push_settings.start_quotas;
                Arc::new(StartLimits::new(q.per_ip, q.per_browser, q.total))
            },
            exchanges: Arc::new(Exchanges::new(store.clone())),
            origins: crate::core::request::Origins::new(
                cfg.origin().to_owned(),
                cfg.allowed_origins.clone(),
            ),
            code_login: Arc::new(CodeLogin::new(
                client.clone(),
                profiles.clone(),
                logins.clone(),
                cfg.http_timeout,
            )),
            profiles,
            logins,
            guard,
            sessions,
            client,
            store,
            cfg,
        }
    }
}
