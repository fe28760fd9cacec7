//! Session cookies and session tokens: how they are named, issued, set and cleared; and the
//! bound on the short-lived state cookies one browser can hold.

use axum_core::body::Body;
use http::{Response, request::Parts};

use super::Sessions;
use crate::{
    core::clock::now_unix,
    core::respond::{self, CookieSpec},
    core::sessions::tokens::{IssuedToken, Lifetimes, TicketPurpose},
    user::{Identity, Session, TokenClass},
};

/// The most `wechat_state_*` cookies one browser keeps, the one being set included.
///
/// Each login start sets a ~300-byte state cookie that lives `state_ttl` (10 minutes), so a
/// browser that starts many logins (reloads of the login page, many tabs) would otherwise send
/// a Cookie header past the 8 KB that common reverse proxies accept, and be answered 400 on
/// every request. A few concurrent tabs still work: only the oldest logins are forgotten.
pub(crate) const MAX_STATE_COOKIES: usize = 4;

/// How many of a request's state cookies are looked at (a hostile header may hold
/// thousands): the rest are ignored, not verified.
const STATE_COOKIES_EXAMINED: usize = 32;

impl Sessions {
    /// Expires the oldest state cookies the browser sent with `req`, so that with the one
    /// `res` sets it keeps at most [`MAX_STATE_COOKIES`]; and every one whose ticket does not
    /// verify (expired, forged, signed by another key, planted twice), which no login can use.
    ///
    /// Age comes from the ticket's expiry (every state cookie lives `state_ttl`), and within
    /// one second from the header's order: browsers list cookies of one path oldest first
    /// (RFC 6265 §5.4).
    pub(crate) fn drop_old_state_cookies(&self, req: &Parts, res: &mut Response<Body>) {
        let prefix = self.flow_cookie_name("wechat_state_", "");
        // (exp, position, name) of each state cookie; exp 0 for one that does not verify.
        let mut held: Vec<(u64, usize, String)> = Vec::new();
        for c in respond::request_cookies(req) {
            let Some(state) = c.name().strip_prefix(prefix.as_str()) else {
                continue;
            };
            if held.len() >= STATE_COOKIES_EXAMINED {
                break;
            }
            let exp = self
                .verify_state(c.value(), state, TicketPurpose::Login)
                .map_or(0, |ticket| ticket.exp);
            match held.iter_mut().find(|(_, _, name)| name == c.name()) {
                // Two of one name: one was planted beside ours; trust neither.
                Some(entry) => entry.0 = 0,
                None => held.push((exp, held.len(), c.name().to_owned())),
            }
        }
        // Newest first; the unusable ones last.
        held.sort_unstable_by_key(|h| std::cmp::Reverse((h.0, h.1)));
        let usable = held.iter().filter(|(exp, _, _)| *exp > 0).count();
        let keep = usable.min(MAX_STATE_COOKIES - 1);
        for (_, _, name) in held.drain(keep..) {
            self.expire_flow_cookie(res, name);
        }
    }

    /// Expires the login-flow cookie called `name` (state, scan and confirm cookies live on
    /// the flow path).
    pub(crate) fn expire_flow_cookie(&self, res: &mut Response<Body>, name: String) {
        let expired = self
            .cookie_spec()
            .build(name, "", self.flow_cookie_path(), 0);
        respond::set_cookie(res, &expired);
    }

    pub(crate) fn cookie_spec(&self) -> CookieSpec<'_> {
        CookieSpec {
            secure: self.settings.secure,
            domain: self.settings.domain.as_deref(),
        }
    }

    /// How long sessions live: one token, and a login with all its refreshes.
    fn lifetimes(&self) -> Lifetimes {
        Lifetimes {
            ttl: self.settings.ttl,
            max: self.settings.max_lifetime,
        }
    }

    /// Signs a browser session (cookie) for `identity`, of any provider.
    pub(crate) fn issue(&self, identity: &Identity) -> IssuedToken {
        crate::metrics::session_issued(identity.channel(), false);
        self.keys
            .issue(identity, TokenClass::Web, self.lifetimes(), None)
    }

    /// Signs a native session (bearer) for `identity`, of any provider.
    pub(crate) fn issue_native_for(
        &self,
        identity: &Identity,
        parent: Option<&Session>,
    ) -> IssuedToken {
        crate::metrics::session_issued(identity.channel(), parent.is_some());
        self.keys
            .issue(identity, TokenClass::Native, self.lifetimes(), parent)
    }

    /// Puts a session cookie for `token` on `res`.
    pub(crate) fn set_session_cookie(&self, res: &mut Response<Body>, token: &IssuedToken) {
        let max_age = token.exp.saturating_sub(now_unix());
        let cookie = self.cookie_spec().build(
            self.settings.cookie_name.as_str(),
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
            .build(self.settings.cookie_name.as_str(), "", "/", 0);
        respond::set_cookie(res, &cookie);
    }
}
