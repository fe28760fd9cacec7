//! Session cookies and session tokens: how they are named, issued, set and cleared.

use axum_core::body::Body;
use http::Response;

use super::Engine;
use crate::{
    WechatUser,
    clock::now_unix,
    respond::{self, CookieSpec},
    session::{IssuedToken, Lifetimes},
    user::{Session, TokenClass},
};

impl Engine {
    pub(crate) fn cookie_spec(&self) -> CookieSpec<'_> {
        CookieSpec {
            secure: self.cfg.secure_cookies,
            domain: self.cfg.cookie_domain.as_deref(),
        }
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
        crate::metrics::session_issued(user, false);
        self.keys
            .issue(user, TokenClass::Web, self.lifetimes(), None)
    }

    /// Signs a native session (bearer) for `user`: a new login, or the refresh of `parent`.
    pub(crate) fn issue_native(&self, user: &WechatUser, parent: Option<&Session>) -> IssuedToken {
        crate::metrics::session_issued(user, parent.is_some());
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
}
