//! The `on_login` hook and the steps every login ends with: the hook runs (told who is
//! already signed in), and its answer becomes the user's `subject` or refuses the login.

use std::sync::Arc;

use crate::{
    core::exchange::LoginOutcome,
    core::sessions::{Found, Sessions},
    core::store::BoxFuture,
    user::Identity,
};

/// What an `on_login` hook may answer to refuse a login: the message is shown to the person
/// (or returned as JSON to an app), with status 403.
///
/// `Debug` prints the message, as `Display` does.
///
/// ```
/// let r = wechat_auth::LoginRefused::new("this account is suspended");
/// assert_eq!(r.message(), "this account is suspended");
/// assert_eq!(format!("{r:?}"), "login refused: this account is suspended (LoginRefused)");
/// ```
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("login refused: {message}")]
pub struct LoginRefused {
    message: String,
}

impl std::fmt::Debug for LoginRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self} (LoginRefused)")
    }
}

impl LoginRefused {
    /// A refusal with a message for the person.
    ///
    /// ```
    /// let r = wechat_auth::LoginRefused::new("no");
    /// assert_eq!(r.message(), "no");
    /// assert_eq!(r.to_string(), "login refused: no");
    /// ```
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message.
    ///
    /// ```
    /// assert_eq!(wechat_auth::LoginRefused::new("no").message(), "no");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The boxed form of an `on_login` hook: who just logged in, and who the verified session
/// the login request already carried belongs to, if any (for binding), of any provider.
pub(crate) type LoginHook = Arc<
    dyn Fn(Identity, Option<Identity>) -> BoxFuture<'static, Result<Option<String>, LoginRefused>>
        + Send
        + Sync,
>;

/// The login service: the `on_login` hook, and who a login request is signed in as.
pub(crate) struct Logins {
    hook: Option<LoginHook>,
    sessions: Arc<Sessions>,
}

impl std::fmt::Debug for Logins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logins")
            .field("on_login", &self.hook.is_some())
            .finish_non_exhaustive()
    }
}

impl Logins {
    pub(crate) fn new(hook: Option<LoginHook>, sessions: Arc<Sessions>) -> Self {
        Self { hook, sessions }
    }

    /// Runs `on_login` (told who is already signed in) and records the outcome of a login.
    pub(crate) async fn finish_login(
        &self,
        identity: Identity,
        state: &str,
        return_to: &str,
        signed_in: Option<Identity>,
    ) -> LoginOutcome {
        match self.run_on_login_signed_in(identity, signed_in).await {
            Ok(identity) => LoginOutcome::Success {
                state: state.to_owned(),
                return_to: return_to.to_owned(),
                identity,
                token: None,
            },
            Err(refused) => LoginOutcome::Refused {
                state: state.to_owned(),
                message: refused.message().to_owned(),
            },
        }
    }

    /// Runs the `on_login` hook for a login whose request carried no session (the scan
    /// logins: the phone confirms, not the browser); its answer becomes the `subject`.
    pub(crate) async fn run_on_login(&self, identity: Identity) -> Result<Identity, LoginRefused> {
        self.run_on_login_signed_in(identity, None).await
    }

    /// Runs the `on_login` hook, telling it who is already signed in on the request (a
    /// verified session, from [`Logins::signed_in`]); its answer becomes the user's `subject`.
    pub(crate) async fn run_on_login_signed_in(
        &self,
        mut identity: Identity,
        signed_in: Option<Identity>,
    ) -> Result<Identity, LoginRefused> {
        if let Some(hook) = &self.hook {
            let subject = hook(identity.clone(), signed_in).await;
            identity.set_subject(crate::metrics::refusal(&identity, subject)?);
        }
        Ok(identity)
    }

    /// The user of the verified session a login request already carries (its bearer token,
    /// else its one session cookie: signed by us, unexpired, not revoked, from its own
    /// carrier), for `on_login` to bind the new identity to. Nothing unsigned is trusted; an
    /// invalid token counts as no session.
    pub(crate) fn signed_in(&self, headers: &http::HeaderMap) -> Option<Identity> {
        match self.sessions.find_session(headers) {
            Found::Session(current) => Some(current.session.identity.clone()),
            Found::InvalidBearer | Found::Nothing => None,
        }
    }
}
