//! The answer every native login shares, whatever the provider: a bearer session
//! `{token, token_type: "Bearer", expires_in, user}`, issued once per code inside the
//! exactly-once exchange, handed to the code's first caller and, for [`REPEAT_WINDOW`]
//! seconds, to repeats (an app that retried because its answer was lost) — never once
//! revoked, never a second token. The channels (WeChat's app and mini program, Douyin's app
//! and mini-app) parse their own bodies and map their own refusals.

use axum_core::body::Body;
use http::{Response, StatusCode, request::Parts};
use serde::Serialize;

use crate::{
    core::{
        clock::now_unix,
        exchange::LoginOutcome,
        login::Logins,
        request::Origins,
        respond,
        sessions::{Sessions, tokens::IssuedToken},
    },
    user::Identity,
};

/// How long a native login that is repeated with the same code gets the same token back;
/// later repeats are refused (each channel says "log in again" in its own words).
pub(crate) const REPEAT_WINDOW: u64 = 10;

/// The answer of every native login.
#[derive(Serialize)]
struct TokenBody<'a, U> {
    token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    user: &'a U,
}

/// Answers an issued bearer session for `user` (a WeChat user keeps its own shape; another
/// provider's login shows its [`Identity`]).
pub(crate) fn token_response<U: Serialize>(user: &U, issued: &IssuedToken) -> Response<Body> {
    respond::json(
        StatusCode::OK,
        &TokenBody {
            token: issued.token.expose(),
            token_type: "Bearer",
            expires_in: issued.exp.saturating_sub(now_unix()),
            user,
        },
    )
}

/// Gives a native login's outcome its bearer token: issued once per code, inside the
/// exchange, so every repeat of the code sees the same token.
pub(crate) fn with_native_token(sessions: &Sessions, outcome: LoginOutcome) -> LoginOutcome {
    match outcome {
        LoginOutcome::Success {
            state,
            return_to,
            identity,
            token: None,
        } => {
            let token = Some(Box::new(sessions.issue_native_for(&identity, None)));
            LoginOutcome::Success {
                state,
                return_to,
                identity,
                token,
            }
        }
        other => other,
    }
}

/// The code's token, if it may still be handed out: within [`REPEAT_WINDOW`] of its issue
/// and not revoked (logged out, refreshed). `None` for any other outcome.
pub(crate) fn handed_out<'a>(
    sessions: &Sessions,
    outcome: &'a LoginOutcome,
) -> Option<(&'a Identity, &'a IssuedToken)> {
    match outcome {
        LoginOutcome::Success {
            identity,
            token: Some(issued),
            ..
        } if now_unix() <= issued.iat.saturating_add(REPEAT_WINDOW)
            && !sessions.is_revoked(issued) =>
        {
            tracing::info!(provider = %identity.provider(), channel = %identity.channel(), "login");
            Some((identity, issued))
        }
        _ => None,
    }
}

/// Who is already signed in on a native login request, for `on_login` to bind to: the
/// user of its bearer token, or of its session cookie when the request comes from our own
/// origin (a cross-site page must not bind its visitor's account).
pub(crate) fn signed_in(origins: &Origins, logins: &Logins, req: &Parts) -> Option<Identity> {
    let bearer = req.headers.contains_key(http::header::AUTHORIZATION);
    (bearer || origins.same_origin(req))
        .then(|| logins.signed_in(&req.headers))
        .flatten()
}
