//! What the mock remembers for WeCom (codes, tokens, user tickets, trusted domains, suite
//! tickets and tokens) and the trusted-domain rule: plain data shared by the state and the
//! WeCom handlers.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use url::Url;

use super::bounded::{Bounded, Expiring};
use super::wecom_config::{MockWecomCorp, MockWecomSuite};

/// A WeCom code lives 5 minutes and works once (protocol §20.3).
pub(crate) const CODE_TTL: Duration = Duration::from_secs(5 * 60);
/// `cgi-bin/gettoken` tokens live 7200 s (protocol §20.4).
pub(crate) const TOKEN_TTL: Duration = Duration::from_secs(7200);
/// A `user_ticket` lives 1800 s (protocol §20.5).
pub(crate) const USER_TICKET_TTL: Duration = Duration::from_secs(1800);
const MAX_CODES: usize = 20_000;
const MAX_TOKENS: usize = 4_096;
const MAX_TICKETS: usize = 20_000;

/// WeCom pushes a fresh `suite_ticket` every 10 minutes (protocol §27).
pub(crate) const TICKET_EVERY: Duration = Duration::from_secs(10 * 60);
/// A `suite_ticket` is valid 30 minutes (protocol §27).
pub(crate) const TICKET_TTL: Duration = Duration::from_secs(30 * 60);
/// `suite_access_token` lives 7200 s.
pub(crate) const SUITE_TOKEN_TTL: Duration = Duration::from_secs(7200);
/// A third-party `user_ticket` lives 7200 s (`getuserinfo3rd`'s `expires_in`, protocol §20.5).
pub(crate) const SUITE_USER_TICKET_TTL: Duration = Duration::from_secs(7200);
const MAX_SUITE_TOKENS: usize = 4_096;

/// Lower-cases and trims trusted domains, dropping empty ones; ports stay.
pub(crate) fn normalize_trusted(domains: &[String]) -> Vec<String> {
    domains
        .iter()
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect()
}

/// Whether `url`'s host (and port, when the domain names one) is one of `domains`.
pub(crate) fn is_trusted(domains: &[String], url: &Url) -> bool {
    let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
        return false;
    };
    let port = url.port_or_known_default();
    domains.iter().any(|d| {
        let with_port = d
            .rsplit_once(':')
            .filter(|(h, p)| !h.is_empty() && !h.ends_with(':') && p.parse::<u16>().is_ok());
        match with_port {
            Some((h, p)) => h == host && p.parse::<u16>().ok() == port,
            None => *d == host,
        }
    })
}

/// What a WeCom code was issued by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeScope {
    /// `wwlogin/sso/login`: identity only, no `user_ticket`.
    Web,
    /// In-app `snsapi_base`.
    Base,
    /// In-app `snsapi_privateinfo` with an agentid: a `user_ticket` for members.
    PrivateInfo,
}

/// Whose login a code, a trusted domain list or a user ticket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Owner {
    /// A corp app: index in `Shared::wecom_corps`.
    Corp(usize),
    /// A third-party suite: index in `Shared::wecom_suites`.
    Suite(usize),
}

#[derive(Debug, Clone)]
pub(crate) struct WecomCode {
    pub(crate) owner: Owner,
    pub(crate) user: String,
    pub(crate) scope: CodeScope,
    /// The callback the code was issued for (checked against the token's app, 50001).
    pub(crate) redirect: Url,
    pub(crate) expires_at: SystemTime,
    pub(crate) used: bool,
}

impl Expiring for WecomCode {
    fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

#[derive(Debug, Clone)]
pub(crate) struct WecomToken {
    pub(crate) corp: usize,
    pub(crate) expires_at: SystemTime,
}

impl Expiring for WecomToken {
    fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

#[derive(Debug, Clone)]
pub(crate) struct UserTicket {
    pub(crate) owner: Owner,
    /// The member's corp app (index in `Shared::wecom_corps`).
    pub(crate) corp: usize,
    pub(crate) user: String,
    pub(crate) expires_at: SystemTime,
}

impl Expiring for UserTicket {
    fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

/// What the mock remembers for WeCom.
#[derive(Debug)]
pub(crate) struct WecomState {
    pub(crate) codes: Bounded<WecomCode>,
    pub(crate) tokens: Bounded<WecomToken>,
    pub(crate) tickets: Bounded<UserTicket>,
    /// Trusted domains per corp app and per suite.
    pub(crate) trusted: HashMap<Owner, Vec<String>>,
    /// Third-party suites: tokens, tickets, pushes.
    pub(crate) suites: SuiteState,
}

impl WecomState {
    pub(crate) fn new(corps: &[MockWecomCorp], suites: &[MockWecomSuite], now: SystemTime) -> Self {
        let corp_domains = (corps.iter().enumerate())
            .map(|(i, c)| (Owner::Corp(i), normalize_trusted(&c.trusted_domains)));
        let suite_domains = (suites.iter().enumerate())
            .map(|(i, c)| (Owner::Suite(i), normalize_trusted(&c.trusted_domains)));
        WecomState {
            codes: Bounded::new(MAX_CODES),
            tokens: Bounded::new(MAX_TOKENS),
            tickets: Bounded::new(MAX_TICKETS),
            trusted: corp_domains.chain(suite_domains).collect(),
            suites: SuiteState::new(suites.len(), now),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SuiteToken {
    pub(crate) suite: usize,
    pub(crate) expires_at: SystemTime,
}

impl Expiring for SuiteToken {
    fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

/// The newest ticket of one suite.
#[derive(Debug, Clone)]
pub(crate) struct Ticket {
    pub(crate) value: String,
    pub(crate) issued_at: SystemTime,
}

/// What the mock remembers for the suites.
#[derive(Debug)]
pub(crate) struct SuiteState {
    pub(crate) tokens: Bounded<SuiteToken>,
    /// Suite index → its newest ticket.
    pub(crate) tickets: HashMap<usize, Ticket>,
    /// Suite index → when (mock clock) its last scheduled push was due.
    pub(crate) last_due: HashMap<usize, SystemTime>,
}

impl SuiteState {
    pub(crate) fn new(suites: usize, now: SystemTime) -> Self {
        SuiteState {
            tokens: Bounded::new(MAX_SUITE_TOKENS),
            tickets: HashMap::new(),
            last_due: (0..suites).map(|i| (i, now)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_domains_match_host_and_a_named_port_exactly() {
        let d = normalize_trusted(&[
            " Example.COM ".into(),
            "mail.qq.com:8080".into(),
            String::new(),
        ]);
        assert_eq!(d, ["example.com", "mail.qq.com:8080"]);
        let ok = |u: &str| is_trusted(&d, &Url::parse(u).unwrap());
        assert!(ok("https://example.com/cb"));
        assert!(ok("http://example.com:3000/cb"));
        assert!(ok("http://mail.qq.com:8080/x"));
        assert!(!ok("http://mail.qq.com:8081/x"));
        assert!(!ok("http://mail.qq.com/x"));
        assert!(!ok("https://sub.example.com/cb"));
        assert!(!ok("https://example.com.evil.test/cb"));
    }
}
