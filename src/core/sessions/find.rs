//! Finding and verifying the session a request carries (bearer token or cookie), locally:
//! no store, no network.

use http::{HeaderMap, header};

use super::Sessions;
use crate::{
    core::sessions::tokens::IssuedToken,
    user::{Carrier, CurrentSession, TokenClass},
};

/// What a session lookup found on a request.
pub(crate) enum Found {
    Session(CurrentSession),
    /// A bearer token was sent but is not valid (expired, revoked, forged).
    InvalidBearer,
    Nothing,
}

impl Sessions {
    /// Finds and verifies the session a request carries: `Authorization: Bearer` first, then
    /// the session cookie. Local work only: no store, no network, no allocation.
    ///
    /// A request with more than one session cookie (in one `Cookie` header or several) has
    /// no session: a second one is a cookie planted on a deeper path or a parent domain to
    /// shadow the real one, and which of them a browser sends first says nothing about
    /// which is ours.
    ///
    /// The same holds for `Authorization`: a request with two of them has no session (and
    /// is told its token is invalid), whatever each says.
    pub(crate) fn find_session(&self, headers: &HeaderMap) -> Found {
        match bearer(headers) {
            Bearer::Token(token) => {
                return match self.verify(token, Carrier::Bearer) {
                    Some(current) => Found::Session(current),
                    None => Found::InvalidBearer,
                };
            }
            Bearer::Ambiguous => return Found::InvalidBearer,
            Bearer::Absent => {}
        }
        match self.cookie_session(headers) {
            Some(current) => Found::Session(current),
            None => Found::Nothing,
        }
    }

    /// Every valid session a request carries: its bearer token's and its cookie's (a
    /// logout ends both).
    pub(crate) fn all_sessions(&self, headers: &HeaderMap) -> Vec<CurrentSession> {
        let bearer = match bearer(headers) {
            Bearer::Token(t) => self.verify(t, Carrier::Bearer),
            Bearer::Absent | Bearer::Ambiguous => None,
        };
        bearer
            .into_iter()
            .chain(self.cookie_session(headers))
            .collect()
    }

    /// The valid session of the request's one session cookie, if any (none when it carries
    /// several).
    fn cookie_session(&self, headers: &HeaderMap) -> Option<CurrentSession> {
        match self.session_cookie(headers) {
            SessionCookie::One(token) => self.verify(token, Carrier::Cookie),
            SessionCookie::Absent | SessionCookie::Several => None,
        }
    }

    /// The request's session cookie, in all its `Cookie` headers.
    fn session_cookie<'h>(&'h self, headers: &'h HeaderMap) -> SessionCookie<'h> {
        let mut found = None;
        for value in headers.get_all(header::COOKIE) {
            // Bytes, not `to_str()`: that checks every byte of the header (the token is most
            // of it) and costs more than the rest of the scan; a token seen before is
            // recognised by its bytes, a new one checked as UTF-8 before it is parsed.
            for token in cookie_values(value.as_bytes(), self.settings.cookie_name.as_bytes()) {
                if found.replace(token).is_some() {
                    return SessionCookie::Several;
                }
            }
        }
        found.map_or(SessionCookie::Absent, SessionCookie::One)
    }

    /// Verifies `token` as sent by `carrier`: signed by us, not expired, of the class that
    /// carrier accepts (a browser's cookie token is no bearer token, and the other way
    /// round), not revoked.
    fn verify(&self, token: &[u8], carrier: Carrier) -> Option<CurrentSession> {
        let session = self.keys.verify_bytes(token)?;
        (session.class == TokenClass::of(carrier) && !self.revocations.contains(&session))
            .then_some(CurrentSession { session, carrier })
    }

    /// Whether an issued token has been revoked (logged out, or refreshed).
    pub(crate) fn is_revoked(&self, token: &IssuedToken) -> bool {
        self.revocations.covers(&token.family, token.generation)
    }

    /// What the guard decided about a request it looked up with `find_session`, for
    /// `wechat_auth_guard_decisions_total`. A valid session costs nothing more; a failed
    /// lookup asks the verified-token cache (no second signature check) whether the token
    /// was genuine, to tell a revoked token from an invalid one.
    pub(crate) fn guard_decision(
        &self,
        found: &Found,
        headers: &HeaderMap,
    ) -> crate::metrics::Guard {
        use crate::metrics::Guard;
        let token = match found {
            Found::Session(_) => return Guard::Valid,
            Found::InvalidBearer => match bearer(headers) {
                Bearer::Token(token) => Some(token),
                Bearer::Absent | Bearer::Ambiguous => return Guard::Invalid,
            },
            Found::Nothing => match self.session_cookie(headers) {
                SessionCookie::One(token) => Some(token),
                SessionCookie::Absent => None,
                SessionCookie::Several => return Guard::Invalid,
            },
        };
        let Some(token) = token else {
            return Guard::Missing;
        };
        match self.keys.verified_before(token) {
            Some(session) if self.revocations.contains(&session) => Guard::Revoked,
            _ => Guard::Invalid,
        }
    }
}

/// The values of the cookies called `name` in one `Cookie` header (`a=1; b=2`), as bytes.
/// A plain scan (`memchr` to each `;`, so the long token is skipped 16 or 32 bytes at a
/// time): on the guard's path, a full cookie parser costs more than the rest of the check.
fn cookie_values<'h>(header: &'h [u8], name: &'h [u8]) -> impl Iterator<Item = &'h [u8]> {
    let mut rest = Some(header);
    std::iter::from_fn(move || {
        loop {
            let h = rest?;
            let pair = match memchr::memchr(b';', h) {
                Some(at) => {
                    rest = Some(&h[at + 1..]);
                    &h[..at]
                }
                None => {
                    rest = None;
                    h
                }
            };
            if let Some(value) = cookie_value(pair, name) {
                return Some(value);
            }
        }
    })
}

/// The value of one `name=value` pair of a `Cookie` header, if its name is `name`; surrounding
/// spaces and one pair of quotes around the value are dropped.
fn cookie_value<'h>(pair: &'h [u8], name: &[u8]) -> Option<&'h [u8]> {
    let rest = pair.trim_ascii_start().strip_prefix(name)?;
    let value = rest.trim_ascii_start().strip_prefix(b"=")?.trim_ascii();
    Some(
        value
            .strip_prefix(b"\"")
            .and_then(|v| v.strip_suffix(b"\""))
            .unwrap_or(value),
    )
}

/// The session cookies a request carries.
enum SessionCookie<'h> {
    Absent,
    /// Exactly one: its value, as bytes.
    One(&'h [u8]),
    /// More than one (see [`Sessions::find_session`]): none of them is taken.
    Several,
}

/// What a request's `Authorization` header says about a bearer token.
#[derive(Debug, PartialEq, Eq)]
enum Bearer<'h> {
    /// No `Authorization: Bearer <token>` (no header, another scheme, or no token).
    Absent,
    /// The token, as bytes.
    Token(&'h [u8]),
    /// More than one `Authorization` header: the field is a single value, and which of two a
    /// proxy or a server framework would pick differs, so neither is taken.
    Ambiguous,
}

/// The token of the request's `Authorization: Bearer …` header.
fn bearer(headers: &HeaderMap) -> Bearer<'_> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Bearer::Absent;
    };
    if values.next().is_some() {
        return Bearer::Ambiguous;
    }
    let value = value.as_bytes();
    let Some(at) = memchr::memchr(b' ', value) else {
        return Bearer::Absent;
    };
    let (scheme, token) = (&value[..at], value[at + 1..].trim_ascii());
    if scheme.eq_ignore_ascii_case(b"bearer") && !token.is_empty() {
        Bearer::Token(token)
    } else {
        Bearer::Absent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    #[test]
    fn cookie_scan_finds_only_the_named_cookie() {
        let h = b"a=1; wechat_session=tok.en.sig;b=2; wechat_sessionx=no; wechat_session=\"q\"";
        let found: Vec<_> = cookie_values(h, b"wechat_session").collect();
        assert_eq!(found, [&b"tok.en.sig"[..], b"q"]);
        assert_eq!(cookie_values(b"novalue; =x", b"wechat_session").count(), 0);
        // The name must match whole, spaces around `=` are tolerated, `"` only in pairs.
        let h = b"xwechat_session=1; wechat_session =2; wechat_session=\"3";
        let found: Vec<_> = cookie_values(h, b"wechat_session").collect();
        assert_eq!(found, [&b"2"[..], b"\"3"]);
    }

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), Bearer::Absent);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer(&h), Bearer::Token(b"abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), Bearer::Absent);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&h), Bearer::Absent);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer  tok "),
        );
        assert_eq!(bearer(&h), Bearer::Token(b"tok"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer"));
        assert_eq!(bearer(&h), Bearer::Absent);
    }

    #[test]
    fn two_authorization_headers_are_ambiguous_whatever_they_say() {
        for second in ["Bearer tok", "Bearer other", "Basic abc"] {
            let mut h = HeaderMap::new();
            h.append(
                header::AUTHORIZATION,
                HeaderValue::from_static("Bearer tok"),
            );
            h.append(
                header::AUTHORIZATION,
                HeaderValue::from_str(second).unwrap(),
            );
            assert_eq!(bearer(&h), Bearer::Ambiguous, "{second}");
        }
    }
}
