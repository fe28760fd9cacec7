//! Who a Douyin code belongs to: an authorization code (website, the Douyin webview, the
//! Douyin app's OpenSDK) through `oauth/access_token` + `oauth/userinfo`, or a mini-app
//! `tt.login()` code through `apps/v2/jscode2session`, whose `session_key` stays here.

use std::{sync::Arc, time::Duration};

use wechat_auth_client::Secret;
use wechat_auth_douyin_client::{DouyinClient, ErrorKind};

use super::tokens::{DouyinProfile, UserTokens};
use crate::core::store::Deferred;
use crate::{
    config::AppCredentials,
    core::{failure::Failure, store::keys::Key},
    user::DouyinUser,
};

/// How long a mini-app's `session_key` is kept (every login replaces it).
const SESSION_KEY_TTL: Duration = Duration::from_secs(3 * 24 * 3600);

/// The Douyin code login service.
pub(crate) struct DouyinLogin {
    client: DouyinClient,
    tokens: Arc<UserTokens>,
}

impl std::fmt::Debug for DouyinLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DouyinLogin").finish_non_exhaustive()
    }
}

impl DouyinLogin {
    pub(crate) fn new(client: DouyinClient, tokens: Arc<UserTokens>) -> Self {
        Self { client, tokens }
    }

    /// The user's tokens and profile.
    pub(crate) fn tokens(&self) -> &Arc<UserTokens> {
        &self.tokens
    }

    /// Exchanges an authorization `code` of `app` (client key + secret), keeps the user's
    /// tokens server-side and reads the profile: the user it belongs to. The code is spent
    /// by the first call; a profile Douyin refuses for lack of the `user_info` scope leaves
    /// the user without nickname and union_id rather than failing the login.
    pub(crate) async fn code_user(
        &self,
        app: &AppCredentials,
        code: &str,
        keep: &Deferred,
    ) -> Result<DouyinUser, Failure> {
        let client_key = app.appid();
        let token = self
            .client
            .access_token(client_key, app.secret(), code)
            .await?;
        self.tokens.save(client_key, &token, keep)?;
        let mut user = DouyinUser::new(client_key, token.open_id.clone());
        match self
            .client
            .userinfo(&token.access_token, &token.open_id)
            .await
        {
            Ok(info) => {
                user.union_id = info.union_id.clone();
                user.nickname = info.nickname.clone();
                user.avatar_url = info.avatar.clone();
                let profile = DouyinProfile {
                    open_id: token.open_id.clone(),
                    union_id: info.union_id,
                    nickname: info.nickname,
                    avatar_url: info.avatar,
                };
                self.tokens.keep_profile_with(client_key, &profile, keep);
            }
            Err(e) if e.kind() == ErrorKind::Permission => {
                tracing::info!(error = %e, "Douyin gave no profile for this login");
            }
            Err(e) => return Err(e.into()),
        }
        Ok(user)
    }

    /// Exchanges a mini-app `tt.login()` code of `app` (appid + secret) with
    /// `jscode2session`, keeps the `session_key` on the server (replacing the last one) and
    /// answers the user: `open_id` within the mini-app, the developer's `union_id`.
    pub(crate) async fn miniapp_user(
        &self,
        app: &AppCredentials,
        code: &str,
        keep: &Deferred,
    ) -> Result<DouyinUser, Failure> {
        let appid = app.appid();
        let session = self
            .client
            .jscode2session(appid, app.secret(), code)
            .await?;
        if session.openid.is_empty() {
            return Err(Failure::BadRequest(
                "Douyin answered no openid for this code (an anonymous tt.login code?): call tt.login() with a logged-in user"
                    .into(),
            ));
        }
        Self::keep_session_key(appid, &session.openid, &session.session_key, keep);
        let mut user = DouyinUser::new(appid, session.openid);
        user.union_id = session.unionid;
        Ok(user)
    }

    fn keep_session_key(appid: &str, openid: &str, session_key: &Secret, keep: &Deferred) {
        let key = Key::of(appid, "douyin-session-key", openid);
        keep.set(
            &key,
            session_key.expose().as_bytes().to_vec(),
            SESSION_KEY_TTL,
        );
    }
}
