//! The ends of a browser login, whatever the provider: the `state` bound to the browser
//! that started the login (a signed, short-lived cookie), the single use of that state, and
//! the callback's answer as the login was shown — a redirect to `return_to`, a popup that
//! tells its opener, or the embedded QR's frame that moves the top window — with the
//! session cookie on success, and the cancelled, refused and failed pages.
//!
//! A channel builds the provider's authorize URL and exchanges the code; [`WebLogins`] does
//! the rest, so every provider's callback finishes the same way.
//!
//! Several channels share `PREFIX/callback`: a channel other than WeChat's own makes its
//! states with [`tagged_state`] and guards its callback route with [`state_tagged`].

use std::{sync::Arc, time::Duration};

use axum_core::body::Body;
use http::{Response, StatusCode, request::Parts};

use crate::{
    core::clock::random_token,
    core::exchange::LoginOutcome,
    core::failure::Failure,
    core::pages::{self, Language, Page, PageKind, Pages},
    core::request::{Query, cookie_value},
    core::respond,
    core::sessions::Sessions,
    core::sessions::tokens::{StateTicket, TicketPurpose},
    user::{Channel, Provider},
};

pub(crate) mod popup;

/// How a login was shown, and so how its callback answers (`display=` on the callback).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A page of its own: redirect to `return_to`.
    Redirect,
    /// A popup: tell the opener, close.
    Popup,
    /// The embedded QR's frame: move the top window.
    Frame,
}

impl Answer {
    /// The answer a callback's query asks for.
    pub(crate) fn of(q: &Query<'_>) -> Self {
        match q.get("display") {
            Some("popup") => Self::Popup,
            Some("iframe") => Self::Frame,
            _ => Self::Redirect,
        }
    }

    /// The frame policy of a message page: inside the embedded QR's iframe it must show there.
    pub(crate) fn framing(self) -> respond::Framing<'static> {
        match self {
            Self::Frame => respond::Framing::InOwnFrame,
            _ => respond::Framing::None,
        }
    }
}

// The tagged states and their guard serve the channels of other providers, which share
// `PREFIX/callback` with WeChat's own.
/// The length of a state's random part (WeChat's own states are exactly this).
#[cfg_attr(not(test), allow(dead_code))]
const STATE_RANDOM: usize = 32;

/// A login `state` that names the channel it belongs to: `tag` and 32 random characters
/// of `[A-Za-z0-9]`. An untagged state is exactly 32 characters, so a tagged one (longer)
/// never looks like one.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn tagged_state(tag: &'static str) -> String {
    let mut state = String::with_capacity(tag.len() + STATE_RANDOM);
    state.push_str(tag);
    state.push_str(&random_token(STATE_RANDOM));
    state
}

/// Whether the callback `req` carries a state made by [`tagged_state`] with `tag`: the
/// route guard of a channel's callback.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn state_tagged(req: &Parts, tag: &str) -> bool {
    Query::parse(req.uri.query())
        .get("state")
        .is_some_and(|s| s.len() == tag.len() + STATE_RANDOM && s.starts_with(tag))
}

/// Whether `state` has the shape we issue (WeChat's rule, which the others accept too:
/// `[A-Za-z0-9]`, at most 128 bytes).
pub(crate) fn valid_state(state: &str) -> bool {
    !state.is_empty() && state.len() <= 128 && state.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// What the person is told when they declined on the provider's page.
pub(crate) fn declined_text(lang: Language, provider: Provider) -> String {
    let (zh, en) = provider_names(provider);
    match lang {
        Language::En => format!("You declined the {en} authorization, so you are not logged in."),
        _ => format!("你拒绝了{zh}授权，因此没有登录。"),
    }
}

/// The provider's name in Chinese and in English.
fn provider_names(provider: Provider) -> (&'static str, &'static str) {
    match provider {
        Provider::Wecom => ("企业微信", "WeCom"),
        Provider::Douyin => ("抖音", "Douyin"),
        _ => ("微信", "WeChat"),
    }
}

/// What the browser-login ends need of the settings, copied once when the layer is built.
pub(crate) struct WebSettings {
    /// This site's origin (the popup's messages are addressed to it).
    pub(crate) origin: String,
    /// How long a state (its cookie, its binding to a code) lives.
    pub(crate) state_ttl: Duration,
    /// The site's pages.
    pub(crate) pages: Arc<dyn Pages>,
    /// The pages' fixed language (else the visitor's `Accept-Language`).
    pub(crate) language: Option<Language>,
}

/// The browser-login service: binds states to browsers, and answers callbacks.
pub(crate) struct WebLogins {
    settings: WebSettings,
    sessions: Arc<Sessions>,
}

impl std::fmt::Debug for WebLogins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebLogins")
            .field("origin", &self.settings.origin)
            .finish_non_exhaustive()
    }
}

impl WebLogins {
    pub(crate) fn new(settings: WebSettings, sessions: Arc<Sessions>) -> Self {
        Self { settings, sessions }
    }

    /// The visitor's language for the pages: the site's fixed one, else `Accept-Language`.
    pub(crate) fn language(&self, req: &Parts) -> Language {
        Language::of(self.settings.language, &req.headers)
    }

    /// The site's pages.
    pub(crate) fn pages(&self) -> &dyn Pages {
        &*self.settings.pages
    }

    /// Name of the cookie that vouches for one `state`.
    fn state_cookie_name(&self, state: &str) -> String {
        self.sessions.flow_cookie_name("wechat_state_", state)
    }

    /// Binds `state` to this browser: the signed, short-lived cookie named after it, carrying
    /// the checked `return_to`, the channel and a popup's nonce. The browser's expired,
    /// unreadable and oldest state cookies are cleared, so they cannot pile up into a request
    /// header too large for the server or a proxy in front of it.
    pub(crate) fn start(
        &self,
        req: &Parts,
        res: &mut Response<Body>,
        state: String,
        return_to: String,
        channel: Channel,
        nonce: Option<String>,
    ) {
        let ttl = self.settings.state_ttl;
        self.sessions.drop_old_state_cookies(req, res);
        let name = self.state_cookie_name(&state);
        let ticket = StateTicket::new(TicketPurpose::Login, state, return_to, channel, ttl)
            .with_nonce(nonce);
        let value = self.sessions.sign_state(&ticket);
        let cookie = self.sessions.cookie_spec().build(
            name,
            value,
            self.sessions.flow_cookie_path(),
            ttl.as_secs(),
        );
        respond::set_cookie(res, &cookie);
    }

    /// The ticket this browser holds for `state`: signed by us, unexpired, for this state.
    pub(crate) fn ticket(&self, req: &Parts, state: &str) -> Option<StateTicket> {
        cookie_value(req, &self.state_cookie_name(state))
            .and_then(|v| self.sessions.verify_state(v, state, TicketPurpose::Login))
    }

    /// Clears the state cookie of `state` on `res` (the login is over, one way or another).
    pub(crate) fn clear_state(&self, res: &mut Response<Body>, state: &str) {
        let name = self.state_cookie_name(state);
        let cookie = self.sessions.cookie_spec().build(
            name.as_str(),
            "",
            self.sessions.flow_cookie_path(),
            0,
        );
        respond::set_cookie(res, &cookie);
    }

    /// How long a state's login is remembered: its ticket's lifetime, so that no second
    /// code can use the state while a browser could still present it.
    pub(crate) fn state_memory(&self) -> std::time::Duration {
        self.settings.state_ttl
    }

    /// A finished login, answered the way it was shown (a popup's answer with its `nonce`).
    pub(crate) fn success(
        &self,
        answer: Answer,
        lang: Language,
        return_to: &str,
        nonce: Option<&str>,
    ) -> Response<Body> {
        match answer {
            Answer::Redirect => respond::redirect(StatusCode::FOUND, return_to),
            Answer::Popup => popup::success(self, lang, return_to, nonce),
            Answer::Frame => popup::move_top(self, lang, return_to),
        }
    }

    /// A failed login, shown the way it was: an error page (in the frame, for the embedded
    /// QR) with a link to try again, or a message to the popup's opener. `nonce` only once
    /// the state cookie verified: a callback anyone can open must not speak for a popup.
    pub(crate) fn failure(
        &self,
        answer: Answer,
        lang: Language,
        failure: &Failure,
        retry: Option<&str>,
        nonce: Option<&str>,
    ) -> Response<Body> {
        match answer {
            Answer::Popup => popup::failure(self, lang, failure, nonce),
            Answer::Frame => popup::in_frame_failure(self, lang, failure, retry),
            Answer::Redirect => crate::core::render::page(
                failure,
                self.pages(),
                lang,
                retry,
                respond::Framing::None,
            ),
        }
    }

    /// The person declined on `provider`'s page: no session, a link to try again.
    pub(crate) fn cancelled(
        &self,
        answer: Answer,
        lang: Language,
        provider: Provider,
        retry: &str,
        nonce: Option<&str>,
    ) -> Response<Body> {
        if answer == Answer::Popup {
            return popup::cancelled(self, lang, provider, nonce);
        }
        let text = declined_text(lang, provider);
        let page = match lang {
            Language::En => Page::new(
                PageKind::Cancelled,
                lang,
                "Login cancelled",
                "Login cancelled",
            )
            .with_text(text.as_str()),
            _ => Page::new(
                PageKind::Cancelled,
                lang,
                "已取消登录 · Login cancelled",
                "已取消登录",
            )
            .with_text(text.as_str())
            .with_note(&declined_text(Language::En, provider)),
        }
        .code("cancelled")
        .retry(Some(retry))
        .compose(Default::default(), Default::default());
        respond::html_framed(
            StatusCode::OK,
            pages::render(self.pages(), &page),
            answer.framing(),
        )
    }

    /// The `on_login` hook refused: its message, status 403.
    pub(crate) fn refused(
        &self,
        answer: Answer,
        lang: Language,
        message: &str,
        nonce: Option<&str>,
    ) -> Response<Body> {
        if answer == Answer::Popup {
            return popup::failure(self, lang, &Failure::Refused(message.to_owned()), nonce);
        }
        let page = match lang {
            Language::En => Page::new(PageKind::Refused, lang, "Login refused", "Login refused")
                .with_text(message)
                .with_note("This site refused the login."),
            _ => Page::new(
                PageKind::Refused,
                lang,
                "无法登录 · Login refused",
                "无法登录",
            )
            .with_text(message)
            .with_note("This site refused the login."),
        }
        .status(StatusCode::FORBIDDEN)
        .code("refused")
        .compose(Default::default(), Default::default());
        respond::html_framed(
            StatusCode::FORBIDDEN,
            pages::render(self.pages(), &page),
            answer.framing(),
        )
    }

    /// Answers the outcome of a login's code: the session cookie and the way on for a
    /// success, the refused or failed page otherwise. `None` for an outcome only its
    /// provider knows how to show (a WeChat snapshot-page user).
    pub(crate) fn finish(
        &self,
        answer: Answer,
        lang: Language,
        outcome: &LoginOutcome,
        retry: &str,
        nonce: Option<&str>,
    ) -> Option<Response<Body>> {
        Some(match outcome {
            LoginOutcome::Success {
                identity,
                return_to,
                ..
            } => {
                let token = self.sessions.issue(identity);
                let mut res = self.success(answer, lang, return_to, nonce);
                self.sessions.set_session_cookie(&mut res, &token);
                tracing::info!(
                    provider = %identity.provider(),
                    channel = %identity.channel(),
                    "login"
                );
                res
            }
            LoginOutcome::Refused { message, .. } => self.refused(answer, lang, message, nonce),
            LoginOutcome::Failed { errcode } => self.failure(
                answer,
                lang,
                &Failure::CodeRefused(*errcode),
                Some(retry),
                nonce,
            ),
            LoginOutcome::Snapshot { .. } => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_states_are_told_apart_from_untagged_ones() {
        let s = tagged_state("wecom");
        assert_eq!(s.len(), 5 + STATE_RANDOM);
        assert!(valid_state(&s));
        let req = |state: &str| {
            http::Request::get(format!("/callback?code=c&state={state}"))
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        assert!(state_tagged(&req(&s), "wecom"));
        assert!(!state_tagged(&req(&s), "douyin"));
        // An untagged state that happens to start with the tag is 32 long: not tagged.
        let lookalike = format!("wecom{}", random_token(STATE_RANDOM - 5));
        assert!(!state_tagged(&req(&lookalike), "wecom"));
        assert!(!state_tagged(&req(""), "wecom"));
        let no_state = http::Request::get("/callback")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert!(!state_tagged(&no_state, "wecom"));
    }

    #[test]
    fn the_declined_text_names_the_provider() {
        assert!(declined_text(Language::En, Provider::Wecom).contains("WeCom"));
        assert!(declined_text(Language::Zh, Provider::Douyin).contains("抖音"));
        assert!(declined_text(Language::Zh, Provider::Wechat).contains("微信授权"));
    }
}
