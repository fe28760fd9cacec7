//! Logging in with an OAuth code (website, Official Account, mobile app): the part of a
//! login done once per code.

use std::{sync::Arc, time::Duration};

use wechat_auth_client::WechatClient;

use super::profiles::Profiles;
use crate::core::store::Deferred;
use crate::{
    config::AppCredentials,
    core::{exchange::LoginOutcome, failure::Failure, login::Logins},
    user::{Channel, Identity, WechatUser},
};

/// The code login service: exchanges a code, keeps the user's tokens, reads the profile
/// when the scope allows, and finishes the login.
pub(crate) struct CodeLogin {
    client: WechatClient,
    profiles: Arc<Profiles>,
    logins: Arc<Logins>,
    /// The budget of one profile read.
    http_timeout: Duration,
}

impl std::fmt::Debug for CodeLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeLogin").finish_non_exhaustive()
    }
}

impl CodeLogin {
    pub(crate) fn new(
        client: WechatClient,
        profiles: Arc<Profiles>,
        logins: Arc<Logins>,
        http_timeout: Duration,
    ) -> Self {
        Self {
            client,
            profiles,
            logins,
            http_timeout,
        }
    }

    /// Exchanges an OAuth code (website, Official Account, mobile app) and builds the user:
    /// the part of a login done once per code. Keeps the user's tokens, reads the profile
    /// when the scope allows (from the cache while fresh), runs `on_login` with the user of
    /// the session the request already carried (`signed_in`, see [`Logins::signed_in`]).
    #[expect(
        clippy::too_many_arguments,
        reason = "one login's facts, each from a different place of the callback; a struct for one call site each would only rename them"
    )]
    pub(crate) async fn login_with_code(
        &self,
        app: &AppCredentials,
        code: &str,
        channel: Channel,
        state: &str,
        return_to: &str,
        signed_in: Option<Identity>,
        keep: &Deferred,
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
        self.profiles.save_tokens(appid, &token, channel, keep);
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
            let budget = self.http_timeout;
            let profile = match self.profiles.cached_profile(appid, &token.openid).await {
                Some(p) => Some(p),
                None => match tokio::time::timeout(
                    budget,
                    self.profiles.fetch_profile(
                        appid,
                        &token.openid,
                        &token.access_token,
                        Some(keep),
                    ),
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
        Ok(self
            .logins
            .finish_login(user.into(), state, return_to, signed_in)
            .await)
    }
}
