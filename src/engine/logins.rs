//! Exactly-once code exchange and the steps every login ends with: the exchange itself,
//! the profile when the scope allows, `on_login`, and the outcome remembered for repeats.

use std::{sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};

use super::Engine;
use wechat_auth_client::ErrorKind;

use crate::{
    config::LoginRefused,
    error::Failure,
    session::IssuedToken,
    store::{
        self,
        flight::{self, Turn},
        keys::Key,
    },
    user::WechatUser,
};

/// How long a used code's outcome is remembered in the store (a website code lives 10
/// minutes).
const CODE_MEMORY: Duration = Duration::from_secs(10 * 60);
/// How long this process keeps a code's outcome besides: long enough for a double redirect
/// or a quick reload; later repeats read the store.
pub(super) const CODE_MEMORY_LOCAL: Duration = Duration::from_secs(60);
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

impl Engine {
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
                Err(Failure::Wechat(e)) if e.kind() == ErrorKind::LoginAgain => {
                    slot.failed();
                    LoginOutcome::Failed {
                        errcode: e.errcode().unwrap_or_default(),
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
            .logins
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
        if let Some(hit) = self.logins.get(&*key).await {
            return Some(hit);
        }
        store::get_json::<LoginOutcome>(self.store.as_ref(), &key)
            .await
            .ok()
            .flatten()
            .map(Arc::new)
    }

    /// Exchanges an OAuth code (website, Official Account, mobile app) and builds the user:
    /// the part of a login done once per code. Keeps the user's tokens, reads the profile
    /// when the scope allows (from the cache while fresh), runs `on_login` with the user of
    /// the session the request already carried (`signed_in`, see [`Engine::signed_in`]).
    pub(crate) async fn login_with_code(
        &self,
        app: &crate::config::AppCredentials,
        code: &str,
        channel: crate::user::Channel,
        state: &str,
        return_to: &str,
        signed_in: Option<WechatUser>,
    ) -> Result<LoginOutcome, Failure> {
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
        self.save_tokens(appid, &token, channel).await;
        let mut user = WechatUser::new(appid, token.openid.clone(), channel);
        user.unionid = token.unionid.clone();
        let readable = token
            .scope
            .split(',')
            .any(|s| matches!(s.trim(), "snsapi_userinfo" | "snsapi_login"));
        if readable {
            // The login stands without a profile (the nickname can come later), so reading it
            // gets one attempt's time, not every retry's: a slow sns/userinfo must not hold
            // the callback for `(retries + 1) × http_timeout`.
            let budget = self.cfg.http_timeout;
            let profile = match self.cached_profile(appid, &token.openid).await {
                Some(p) => Some(p),
                None => match tokio::time::timeout(
                    budget,
                    self.fetch_profile(appid, &token.openid, &token.access_token),
                )
                .await
                {
                    Ok(Ok(p)) => Some(p),
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "could not read the WeChat profile");
                        None
                    }
                    Err(_) => {
                        tracing::warn!(
                            budget_ms = u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
                            "the WeChat profile took too long; logging in without it"
                        );
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
        Ok(self.finish_login(user, state, return_to, signed_in).await)
    }

    /// Runs `on_login` (told who is already signed in) and records the outcome of a login.
    pub(crate) async fn finish_login(
        &self,
        user: WechatUser,
        state: &str,
        return_to: &str,
        signed_in: Option<WechatUser>,
    ) -> LoginOutcome {
        match self.run_on_login_signed_in(user, signed_in).await {
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

    /// Runs the `on_login` hook for a login whose request carried no session (the scan
    /// logins: the phone confirms, not the browser); its answer becomes the user's `subject`.
    pub(crate) async fn run_on_login(&self, user: WechatUser) -> Result<WechatUser, LoginRefused> {
        self.run_on_login_signed_in(user, None).await
    }

    /// Runs the `on_login` hook, telling it who is already signed in on the request (a
    /// verified session, from [`Engine::signed_in`]); its answer becomes the user's `subject`.
    pub(crate) async fn run_on_login_signed_in(
        &self,
        mut user: WechatUser,
        signed_in: Option<WechatUser>,
    ) -> Result<WechatUser, LoginRefused> {
        if let Some(hook) = &self.cfg.on_login {
            user.subject = crate::metrics::refusal(&user, hook(user.clone(), signed_in).await)?;
        }
        Ok(user)
    }

    /// The user of the verified session a login request already carries (its bearer token,
    /// else its one session cookie: signed by us, unexpired, not revoked, from its own
    /// carrier), for `on_login` to bind the new WeChat identity to. Nothing unsigned is
    /// trusted; an invalid token counts as no session.
    pub(crate) fn signed_in(&self, headers: &http::HeaderMap) -> Option<WechatUser> {
        match self.find_session(headers) {
            super::Found::Session(current) => current.session.identity.as_wechat().cloned(),
            super::Found::InvalidBearer | super::Found::Nothing => None,
        }
    }
}
