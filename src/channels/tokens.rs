//! Which configured app's global access token a channel calls WeChat with: the channels'
//! side of the token service, which knows apps by AppID only.

use wechat_auth_client::{Secret, WechatError};

use crate::{channels::Engine, core::failure::Failure};

/// The app whose global access token a channel uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenFor {
    /// The mini program's (mini program codes, phone numbers, session checks).
    MiniProgram,
}

impl TokenFor {
    /// The AppID of this app, or why this channel is not configured.
    fn appid(self, auth: &Engine) -> Result<&str, Failure> {
        let cfg = auth.config();
        match self {
            Self::MiniProgram => cfg
                .mini_program
                .as_ref()
                .map(|mp| mp.appid())
                .ok_or(Failure::ChannelOff("mini program")),
        }
    }
}

/// Runs `call` with `app`'s global access token, through the engine's token service (which
/// renews it, shares it and replaces it once when WeChat refuses it).
pub(crate) async fn with_token<T, F, Fut>(
    auth: &Engine,
    app: TokenFor,
    call: F,
) -> Result<T, Failure>
where
    F: Fn(Secret) -> Fut,
    Fut: Future<Output = Result<T, WechatError>>,
{
    auth.tokens().with_token(app.appid(auth)?, call).await
}
