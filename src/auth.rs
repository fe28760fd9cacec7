//! The layer's engine, shared by the guard and every flow: configuration, WeChat client,
//! store, key ring, deny-list, and the steps every login ends with.

use std::{sync::Arc, time::Duration};

use axum_core::body::Body;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use crate::{
    Secret, WechatConfig, WechatUser,
    client::{ErrorKind, OAuthToken, WechatClient, WechatError},
    config::LoginRefused,
    flows::FlowError,
    respond::{self, CookieSpec},
    session::{IssuedToken, Lifetimes, Revocations, SessionKeys, now_unix},
    store::{self, Revocation, Store},
    user::{Carrier, CurrentSession, Session, TokenClass},
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
/// Longest lifetime of a WeChat refresh_token (30 days).
const REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

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
        user: WechatUser,
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

/// WeChat user tokens as kept server-side.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StoredTokens {
    pub(crate) access_token: Secret,
    pub(crate) refresh_token: Secret,
    pub(crate) access_expires_at: u64,
    pub(crate) refresh_expires_at: u64,
    pub(crate) scope: String,
}

/// A WeChat profile as kept server-side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Profile {
    /// Nickname.
    pub nickname: String,
    /// Avatar URL (`headimgurl`); empty when the user has none.
    pub avatar_url: String,
    /// The unionid, when the app is bound to an Open Platform account.
    pub unionid: Option<String>,
}

/// Public paths: exact ones and folder prefixes.
#[derive(Debug, Default)]
struct PublicPaths {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl PublicPaths {
    fn new(paths: &[String]) -> Self {
        let mut p = Self::default();
        for path in paths {
            match path.strip_suffix('*') {
                Some(prefix) => p.prefixes.push(prefix.to_owned()),
                None => p.exact.push(path.clone()),
            }
        }
        p
    }

    fn contains(&self, path: &str) -> bool {
        self.exact.iter().any(|e| e == path) || self.prefixes.iter().any(|p| path.starts_with(p))
    }
}

/// Everything the layer shares between requests.
pub(crate) struct Auth {
    pub(crate) cfg: WechatConfig,
    pub(crate) client: WechatClient,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) keys: SessionKeys,
    pub(crate) revocations: Revocations,
    /// The push URL's signature and crypto, when the Official Account has a push token.
    pub(crate) push: Option<Arc<crate::push::PushCrypto>>,
    /// The Official Account's global access token.
    pub(crate) global: crate::token::GlobalToken,
    /// Whether the background work (the deny-list listener) has been started.
    background: std::sync::atomic::AtomicBool,
    /// In-process single flight and memory of used codes.
    logins: moka::future::Cache<String, Arc<LoginOutcome>>,
    /// Per-client bounds on code exchanges.
    limits: crate::limit::ClientLimits,
    public: PublicPaths,
    login_path: String,
    /// The body of every `401`.
    unauthenticated: bytes::Bytes,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// What a session lookup found on a request.
pub(crate) enum Found {
    Session(CurrentSession),
    /// A bearer token was sent but is not valid (expired, revoked, forged).
    InvalidBearer,
    Nothing,
}

impl Auth {
    pub(crate) fn new(cfg: WechatConfig) -> Self {
        let client = cfg.client();
        let store = cfg.store.clone();
        let keys = SessionKeys::new(&cfg.session_keys);
        let public = PublicPaths::new(&cfg.public_paths);
        let login_path = format!("{}/login", cfg.prefix);
        let push = cfg.push_crypto().cloned();
        Self {
            push,
            global: crate::token::GlobalToken::default(),
            background: std::sync::atomic::AtomicBool::new(false),
            client,
            store,
            keys,
            revocations: Revocations::default(),
            logins: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(CODE_MEMORY_LOCAL)
                .build(),
            limits: crate::limit::ClientLimits::default(),
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

    /// The client that sent `req`, as the per-client limits know it.
    pub(crate) fn client_ip(&self, req: &http::request::Parts) -> Option<std::net::IpAddr> {
        crate::limit::client_ip(req, self.cfg.client_ip_header.as_ref())
    }

    /// Whether `path` bypasses the guard.
    pub(crate) fn is_public(&self, path: &str) -> bool {
        self.public.contains(path)
    }

    pub(crate) fn login_path(&self) -> &str {
        &self.login_path
    }

    pub(crate) fn cookie_spec(&self) -> CookieSpec<'_> {
        CookieSpec {
            secure: self.cfg.secure_cookies,
            domain: self.cfg.cookie_domain.as_deref(),
        }
    }

    /// Finds and verifies the session a request carries: `Authorization: Bearer` first, then
    /// the session cookie. Local work only: no store, no network, no allocation.
    ///
    /// A request with more than one session cookie (in one `Cookie` header or several) has
    /// no session: a second one is a cookie planted on a deeper path or a parent domain to
    /// shadow the real one, and which of them a browser sends first says nothing about
    /// which is ours.
    pub(crate) fn find_session(&self, headers: &HeaderMap) -> Found {
        if let Some(token) = bearer(headers) {
            return match self.verify(token, Carrier::Bearer) {
                Some(current) => Found::Session(current),
                None => Found::InvalidBearer,
            };
        }
        match self.cookie_session(headers) {
            Some(current) => Found::Session(current),
            None => Found::Nothing,
        }
    }

    /// Every valid session a request carries: its bearer token's and its cookie's (a
    /// logout ends both).
    pub(crate) fn all_sessions(&self, headers: &HeaderMap) -> Vec<CurrentSession> {
        let bearer = bearer(headers).and_then(|t| self.verify(t, Carrier::Bearer));
        bearer
            .into_iter()
            .chain(self.cookie_session(headers))
            .collect()
    }

    /// The valid session of the request's one session cookie, if any (none when it carries
    /// several).
    fn cookie_session(&self, headers: &HeaderMap) -> Option<CurrentSession> {
        let mut found = None;
        for value in headers.get_all(header::COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            for token in cookie_values(value, &self.cfg.session_cookie) {
                if found.replace(token).is_some() {
                    return None;
                }
            }
        }
        self.verify(found?, Carrier::Cookie)
    }

    /// Verifies `token` as sent by `carrier`: signed by us, not expired, of the class that
    /// carrier accepts (a browser's cookie token is no bearer token, and the other way
    /// round), not revoked.
    fn verify(&self, token: &str, carrier: Carrier) -> Option<CurrentSession> {
        let session = self.keys.verify(token)?;
        (session.class == TokenClass::of(carrier) && !self.revocations.contains(&session))
            .then_some(CurrentSession { session, carrier })
    }

    /// Whether an issued token has been revoked (logged out, or refreshed).
    pub(crate) fn is_revoked(&self, token: &IssuedToken) -> bool {
        self.revocations.covers(&token.family, token.generation)
    }

    /// The answer to a request that needs a session and has none: a redirect into the login
    /// for a browser navigation, else `401` JSON.
    pub(crate) fn unauthenticated<B>(
        &self,
        req: &Request<B>,
        invalid_bearer: bool,
    ) -> Response<Body> {
        let headers = req.headers();
        let navigation = matches!(*req.method(), Method::GET | Method::HEAD)
            && !headers.contains_key("x-requested-with")
            && headers
                .get(header::ACCEPT)
                .and_then(|a| a.to_str().ok())
                .is_some_and(|a| a.contains("text/html"));
        let path_and_query = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        if navigation {
            let location = format!(
                "{}?return_to={}",
                self.login_path,
                percent_encoding::utf8_percent_encode(path_and_query, QUERY_VALUE)
            );
            return respond::redirect(StatusCode::FOUND, &location);
        }
        self.unauthenticated_json(invalid_bearer)
    }

    /// `401` JSON with `WWW-Authenticate: Bearer` and where to log in.
    pub(crate) fn unauthenticated_json(&self, invalid_bearer: bool) -> Response<Body> {
        // Rendered once: this answer is the hot path of unauthenticated API traffic.
        let mut res = respond::json_bytes(StatusCode::UNAUTHORIZED, self.unauthenticated.clone());
        let challenge = if invalid_bearer {
            HeaderValue::from_static(r#"Bearer error="invalid_token""#)
        } else {
            HeaderValue::from_static("Bearer")
        };
        res.headers_mut()
            .insert(header::WWW_AUTHENTICATE, challenge);
        res
    }

    /// A namespaced store key.
    pub(crate) fn key(appid: &str, kind: &str, id: &str) -> String {
        format!("wechat-auth:{appid}:{kind}:{id}")
    }

    /// The store key of a code's outcome (the code itself is not kept, only its digest).
    fn code_key(appid: &str, code: &str) -> String {
        Self::key(appid, "code", &hex::encode(Sha1::digest(code.as_bytes())))
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
    ) -> Result<Arc<LoginOutcome>, FlowError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<LoginOutcome, FlowError>>,
    {
        let slot = self.limits.acquire(client).map_err(FlowError::TooMany)?;
        let key = Self::code_key(appid, code);
        let store = self.store.as_ref();
        let fut = async {
            if let Some(done) = store::get_json::<LoginOutcome>(store, &key).await? {
                return Ok(Arc::new(done));
            }
            let lock = format!("{key}:lock");
            let mut sub = store.subscribe(&key).await?;
            if !store.set_if_absent(&lock, b"1".to_vec(), CODE_LOCK).await? {
                // Another instance is exchanging this code: wait for its outcome.
                let deadline = tokio::time::Instant::now() + CODE_WAIT;
                loop {
                    if let Some(done) = store::get_json::<LoginOutcome>(store, &key).await? {
                        return Ok(Arc::new(done));
                    }
                    // A deadline, or a subscription that ended: stop waiting either way.
                    if !matches!(
                        tokio::time::timeout_at(deadline, sub.next()).await,
                        Ok(Some(_))
                    ) {
                        if let Some(done) = store::get_json::<LoginOutcome>(store, &key).await? {
                            return Ok(Arc::new(done));
                        }
                        return Err(FlowError::Busy);
                    }
                }
            }
            let outcome = match work().await {
                Ok(outcome) => outcome,
                // WeChat refused the code itself (made up, used, expired): remember that, so
                // a repeat costs no upstream call, and count it against the client.
                Err(FlowError::Wechat(e)) if e.kind() == ErrorKind::LoginAgain => {
                    slot.failed();
                    LoginOutcome::Failed {
                        errcode: e.errcode().unwrap_or_default(),
                    }
                }
                Err(e) => {
                    // Let a later attempt try again.
                    let _ = store.take(&lock).await;
                    return Err(e);
                }
            };
            store::set_json(store, &key, &outcome, CODE_MEMORY).await?;
            store.publish(&key, Vec::new()).await?;
            Ok(Arc::new(outcome))
        };
        let outcome = self
            .logins
            .try_get_with(key.clone(), fut)
            .await
            .map_err(|e: Arc<FlowError>| (*e).clone())?;
        match outcome.as_ref() {
            LoginOutcome::Failed { errcode } => Err(FlowError::CodeRefused(*errcode)),
            _ => Ok(outcome),
        }
    }

    /// The remembered outcome of a code already exchanged, if any.
    pub(crate) async fn remembered(&self, appid: &str, code: &str) -> Option<Arc<LoginOutcome>> {
        let key = Self::code_key(appid, code);
        if let Some(hit) = self.logins.get(&key).await {
            return Some(hit);
        }
        store::get_json::<LoginOutcome>(self.store.as_ref(), &key)
            .await
            .ok()
            .flatten()
            .map(Arc::new)
    }

    /// Keeps a user's WeChat tokens server-side.
    pub(crate) async fn save_tokens(&self, appid: &str, token: &OAuthToken) {
        let now = now_unix();
        let stored = StoredTokens {
            access_token: token.access_token.clone(),
            refresh_token: token.refresh_token.clone(),
            access_expires_at: now + token.expires_in,
            refresh_expires_at: now + REFRESH_TOKEN_LIFETIME.as_secs(),
            scope: token.scope.clone(),
        };
        let key = Self::key(appid, "tokens", &token.openid);
        if let Err(e) =
            store::set_json(self.store.as_ref(), &key, &stored, REFRESH_TOKEN_LIFETIME).await
        {
            tracing::warn!(error = %e, "could not keep the user's WeChat tokens");
        }
    }

    /// The cached profile of (`appid`, `openid`), if still fresh.
    pub(crate) async fn cached_profile(&self, appid: &str, openid: &str) -> Option<Profile> {
        let key = Self::key(appid, "profile", openid);
        store::get_json::<Profile>(self.store.as_ref(), &key)
            .await
            .ok()
            .flatten()
    }

    /// Reads the profile with `access_token` and caches it.
    pub(crate) async fn fetch_profile(
        &self,
        appid: &str,
        openid: &str,
        access_token: &Secret,
    ) -> Result<Profile, WechatError> {
        let info = self
            .client
            .userinfo(access_token, openid, self.cfg.lang)
            .await?;
        let profile = Profile {
            nickname: info.nickname,
            avatar_url: info.headimgurl,
            unionid: info.unionid,
        };
        let key = Self::key(appid, "profile", openid);
        if let Err(e) =
            store::set_json(self.store.as_ref(), &key, &profile, self.cfg.userinfo_ttl).await
        {
            tracing::warn!(error = %e, "could not cache the WeChat profile");
        }
        Ok(profile)
    }

    /// The profile of a signed-in user: from the cache, else from WeChat with the stored
    /// user token, refreshed through the refresh_token when it has expired.
    pub(crate) async fn profile(
        &self,
        appid: &str,
        openid: &str,
    ) -> Result<Option<Profile>, crate::handle::HandleError> {
        if let Some(p) = self.cached_profile(appid, openid).await {
            return Ok(Some(p));
        }
        let key = Self::key(appid, "tokens", openid);
        let Some(mut tokens) = store::get_json::<StoredTokens>(self.store.as_ref(), &key).await?
        else {
            return Ok(None);
        };
        if !(tokens.scope.contains("snsapi_userinfo") || tokens.scope.contains("snsapi_login")) {
            return Ok(None);
        }
        let now = now_unix();
        if tokens.access_expires_at > now + 60 {
            match self
                .fetch_profile(appid, openid, &tokens.access_token)
                .await
            {
                Ok(p) => return Ok(Some(p)),
                // WeChat dropped the token early (or our clock disagrees): refresh below.
                Err(e) if e.kind() == ErrorKind::TokenInvalid => {}
                Err(e) => return Err(e.into()),
            }
        }
        if tokens.refresh_expires_at <= now {
            return Ok(None);
        }
        let fresh = match self
            .client
            .oauth2_refresh_token(appid, &tokens.refresh_token)
            .await
        {
            Ok(fresh) => fresh,
            // The refresh_token lapsed or was revoked: the user must log in again.
            Err(e) if e.kind() == ErrorKind::LoginAgain => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        tokens.access_token = fresh.access_token;
        tokens.refresh_token = fresh.refresh_token;
        tokens.access_expires_at = now + fresh.expires_in;
        let ttl = Duration::from_secs(tokens.refresh_expires_at.saturating_sub(now).max(1));
        store::set_json(self.store.as_ref(), &key, &tokens, ttl).await?;
        Ok(Some(
            self.fetch_profile(appid, openid, &tokens.access_token)
                .await?,
        ))
    }

    /// Exchanges an OAuth code (website, Official Account, mobile app) and builds the user:
    /// the part of a login done once per code. Keeps the user's tokens, reads the profile
    /// when the scope allows (from the cache while fresh), runs `on_login`.
    pub(crate) async fn login_with_code(
        &self,
        app: &crate::AppCredentials,
        code: &str,
        channel: crate::Channel,
        state: &str,
        return_to: &str,
    ) -> Result<LoginOutcome, FlowError> {
        let appid = app.appid();
        let token = self
            .client
            .oauth2_access_token(appid, app.secret(), code)
            .await?;
        if token.is_snapshotuser {
            // A virtual identity: never stored, never a session.
            return Ok(LoginOutcome::Snapshot {
                state: state.to_owned(),
            });
        }
        self.save_tokens(appid, &token).await;
        let mut user = WechatUser::new(appid, token.openid.clone(), channel);
        user.unionid = token.unionid.clone();
        let readable = token
            .scope
            .split(',')
            .any(|s| matches!(s.trim(), "snsapi_userinfo" | "snsapi_login"));
        if readable {
            let profile = match self.cached_profile(appid, &token.openid).await {
                Some(p) => Some(p),
                None => match self
                    .fetch_profile(appid, &token.openid, &token.access_token)
                    .await
                {
                    Ok(p) => Some(p),
                    Err(e) => {
                        // The login stands without a profile; the nickname can come later.
                        tracing::warn!(error = %e, "could not read the WeChat profile");
                        None
                    }
                },
            };
            if let Some(p) = profile {
                user.nickname = Some(p.nickname).filter(|n| !n.is_empty());
                user.avatar_url = Some(p.avatar_url).filter(|a| !a.is_empty());
                if user.unionid.is_none() {
                    user.unionid = p.unionid;
                }
            }
        }
        Ok(self.finish_login(user, state, return_to).await)
    }

    /// Runs `on_login` and records the outcome of a login.
    pub(crate) async fn finish_login(
        &self,
        user: WechatUser,
        state: &str,
        return_to: &str,
    ) -> LoginOutcome {
        match self.run_on_login(user).await {
            Ok(user) => LoginOutcome::Success {
                state: state.to_owned(),
                return_to: return_to.to_owned(),
                user,
                token: None,
            },
            Err(refused) => LoginOutcome::Refused {
                state: state.to_owned(),
                message: refused.message().to_owned(),
            },
        }
    }

    /// Runs the `on_login` hook; its answer becomes the user's `subject`.
    pub(crate) async fn run_on_login(
        &self,
        mut user: WechatUser,
    ) -> Result<WechatUser, LoginRefused> {
        if let Some(hook) = &self.cfg.on_login {
            user.subject = hook(user.clone()).await?;
        }
        Ok(user)
    }

    /// How long sessions live: one token, and a login with all its refreshes.
    fn lifetimes(&self) -> Lifetimes {
        Lifetimes {
            ttl: self.cfg.session_ttl,
            max: self.cfg.session_max_lifetime,
        }
    }

    /// Signs a browser session (cookie) for `user`.
    pub(crate) fn issue(&self, user: &WechatUser) -> IssuedToken {
        self.keys
            .issue(user, TokenClass::Web, self.lifetimes(), None)
    }

    /// Signs a native session (bearer) for `user`: a new login, or the refresh of `parent`.
    pub(crate) fn issue_native(&self, user: &WechatUser, parent: Option<&Session>) -> IssuedToken {
        self.keys
            .issue(user, TokenClass::Native, self.lifetimes(), parent)
    }

    /// Puts a session cookie for `token` on `res`.
    pub(crate) fn set_session_cookie(&self, res: &mut Response<Body>, token: &IssuedToken) {
        let max_age = token.exp.saturating_sub(now_unix());
        let cookie = self.cookie_spec().build(
            self.cfg.session_cookie.as_str(),
            token.token.expose(),
            "/",
            max_age,
        );
        respond::set_cookie(res, &cookie);
    }

    /// Clears the session cookie on `res`.
    pub(crate) fn clear_session_cookie(&self, res: &mut Response<Body>) {
        let cookie = self
            .cookie_spec()
            .build(self.cfg.session_cookie.as_str(), "", "/", 0);
        respond::set_cookie(res, &cookie);
    }

    /// Revokes a session everywhere: the store's deny-list (other instances) and this
    /// process's copy (the guard). The token's whole family up to its generation goes: its
    /// ancestors are already revoked, or are revoked with it.
    pub(crate) async fn revoke(&self, session: &Session) -> Result<(), FlowError> {
        self.revoke_entry(&Revocation::new(
            session.family.as_str(),
            session.generation,
            session.exp,
        ))
        .await
    }

    async fn revoke_entry(&self, entry: &Revocation) -> Result<(), FlowError> {
        self.revocations
            .insert(&entry.family, entry.through, entry.until);
        self.store.revoke(entry).await?;
        self.store
            .publish(
                REVOKED_TOPIC,
                format!("{} {} {}", entry.family, entry.through, entry.until).into_bytes(),
            )
            .await?;
        Ok(())
    }

    /// Refreshes a native session: exactly one caller per token wins (atomic in the store,
    /// so on every instance), the token's family is revoked through its generation, and the
    /// winner gets the next generation. `None` when the token was refreshed already or its
    /// login has outlived the absolute session lifetime.
    pub(crate) async fn refresh(
        &self,
        session: &Session,
    ) -> Result<Option<IssuedToken>, FlowError> {
        let now = now_unix();
        let end = session
            .auth_time
            .saturating_add(self.cfg.session_max_lifetime.as_secs());
        if end <= now {
            return Ok(None);
        }
        let claim = Self::key(
            &session.user.appid,
            "refreshed",
            &format!("{}.{}", session.family, session.generation),
        );
        let ttl = Duration::from_secs(session.exp.saturating_sub(now).saturating_add(10));
        if !self.store.set_if_absent(&claim, b"1".to_vec(), ttl).await? {
            return Ok(None);
        }
        self.revoke(session).await?;
        Ok(Some(self.issue_native(&session.user, Some(session))))
    }
}

/// How often the deny-list is read again in full, in case a notification was lost (the
/// store was down when another instance revoked a session).
const DENY_LIST_RELOAD: Duration = Duration::from_secs(30);

impl Auth {
    /// Starts the background work once, from the first request (which runs on the runtime):
    /// the deny-list listener that brings revocations from other instances into this
    /// process. Cheap after the first call: one atomic load.
    pub(crate) fn ensure_background(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        if self.background.load(Ordering::Relaxed) || self.background.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(async move { listen_revocations(weak).await });
    }

    /// Reads the whole deny-list from the store into this process.
    async fn load_revocations(&self) -> Result<usize, crate::store::StoreError> {
        let list = self.store.revoked().await?;
        for r in &list {
            self.revocations.insert(&r.family, r.through, r.until);
        }
        Ok(list.len())
    }
}

/// Keeps this process's deny-list in step with the store: everything at start and every
/// [`DENY_LIST_RELOAD`], and each revocation as it is announced. Ends with the layer.
async fn listen_revocations(auth: std::sync::Weak<Auth>) {
    loop {
        let Some(strong) = auth.upgrade() else { return };
        let subscription = strong.store.subscribe(REVOKED_TOPIC).await;
        match strong.load_revocations().await {
            Ok(n) => tracing::debug!(revoked = n, "deny-list loaded"),
            Err(e) => tracing::debug!(error = %e, "deny-list not loaded; retrying"),
        }
        let Ok(mut sub) = subscription else {
            drop(strong);
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        drop(strong);
        let reload = tokio::time::sleep(DENY_LIST_RELOAD);
        tokio::pin!(reload);
        loop {
            tokio::select! {
                msg = sub.next() => {
                    let Some(msg) = msg else { break };
                    let Some(auth) = auth.upgrade() else { return };
                    if let Some((family, through, until)) = parse_revocation(&msg) {
                        auth.revocations.insert(family, through, until);
                    }
                }
                () = &mut reload => break,
            }
        }
    }
}

/// Reads a revocation announced by [`Auth::revoke`]: `FAMILY THROUGH UNTIL`.
fn parse_revocation(msg: &[u8]) -> Option<(&str, u32, u64)> {
    let mut parts = std::str::from_utf8(msg).ok()?.split(' ');
    let family = parts.next().filter(|f| !f.is_empty())?;
    let through = parts.next()?.parse().ok()?;
    let until = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((family, through, until))
}

/// Where revocations are announced to other instances.
pub(crate) const REVOKED_TOPIC: &str = "wechat-auth:revoked";

/// Characters escaped in a query value.
pub(crate) const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// The values of the cookies called `name` in one `Cookie` header (`a=1; b=2`). A plain
/// scan: on the guard's path, a full cookie parser costs more than the rest of the check.
fn cookie_values<'h>(header: &'h str, name: &'h str) -> impl Iterator<Item = &'h str> {
    header.split(';').filter_map(move |pair| {
        let (n, v) = pair.split_once('=')?;
        (n.trim() == name).then(|| v.trim().trim_matches('"'))
    })
}

/// The token of an `Authorization: Bearer …` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_paths_match_exact_and_folders() {
        let p = PublicPaths::new(&["/".into(), "/assets/*".into()]);
        assert!(p.contains("/"));
        assert!(p.contains("/assets/app.css"));
        assert!(!p.contains("/profile"));
        assert!(!p.contains("/assets"));
    }

    #[test]
    fn cookie_scan_finds_only_the_named_cookie() {
        let h = "a=1; wechat_session=tok.en.sig;b=2; wechat_sessionx=no; wechat_session=\"q\"";
        let found: Vec<_> = cookie_values(h, "wechat_session").collect();
        assert_eq!(found, ["tok.en.sig", "q"]);
        assert_eq!(cookie_values("novalue; =x", "wechat_session").count(), 0);
    }

    #[test]
    fn revocation_messages_parse_or_are_ignored() {
        assert_eq!(parse_revocation(b"fam 3 99"), Some(("fam", 3, 99)));
        let max = format!("f {} {}", u32::MAX, u64::MAX);
        assert_eq!(
            parse_revocation(max.as_bytes()),
            Some(("f", u32::MAX, u64::MAX))
        );
        for junk in [
            &b""[..],
            b"fam",
            b"fam 1",
            b" 1 2",
            b"f x 2",
            b"f 1 2 3",
            b"\xff 1 2",
        ] {
            assert_eq!(parse_revocation(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&h), None);
    }
}
