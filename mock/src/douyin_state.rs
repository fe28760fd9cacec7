//! What the mock remembers for Douyin (codes, access, refresh and client tokens, callback
//! domains, the `client_token` rate window): plain data shared by the state and the Douyin
//! handlers.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use super::bounded::{Bounded, Expiring};
use super::douyin_apps::MockDouyinApp;

/// An authorization code (page or OpenSDK) lives 10 minutes and works once.
pub(crate) const CODE_TTL: Duration = Duration::from_secs(10 * 60);
/// A `tt.login()` code: 5 minutes (the protocol notes name none; WeChat's js_code lifetime).
pub(crate) const MINI_CODE_TTL: Duration = Duration::from_secs(5 * 60);
/// `access_token`: 15 days (`expires_in` 1296000, protocol §29).
pub(crate) const ACCESS_TTL: Duration = Duration::from_secs(15 * 24 * 3600);
/// `refresh_token`: 30 days (`refresh_expires_in` 2592000).
pub(crate) const REFRESH_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// `client_token`: 7200 s.
pub(crate) const CLIENT_TTL: Duration = Duration::from_secs(7200);
/// A new `client_token` kills the previous one after 5 minutes.
pub(crate) const CLIENT_OVERLAP: Duration = Duration::from_secs(5 * 60);
/// More than 500 `client_token` calls in 5 minutes → 10020.
pub(crate) const CLIENT_RATE: usize = 500;
/// The `client_token` rate window.
pub(crate) const CLIENT_WINDOW: Duration = Duration::from_secs(5 * 60);
/// At most 5 `renew_refresh_token` calls per refresh-token chain.
pub(crate) const MAX_RENEWALS: u32 = 5;

const MAX_CODES: usize = 20_000;
const MAX_TOKENS: usize = 20_000;
const MAX_CLIENT_TOKENS: usize = 4_096;

/// Whose code: an Open Platform app or a mini-app (index in their list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum DyOwner {
    Open(usize),
    Mini(usize),
}

/// What a code was minted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DyCodeKind {
    /// The authorize page or the OpenSDK: for `oauth/access_token/`.
    OAuth,
    /// `tt.login()`'s `code`.
    Login,
    /// `tt.login()`'s `anonymousCode`.
    Anonymous,
}

#[derive(Debug, Clone)]
pub(crate) struct DyCode {
    pub(crate) owner: DyOwner,
    pub(crate) kind: DyCodeKind,
    pub(crate) user: String,
    /// The granted scopes, comma-separated (`user_info`).
    pub(crate) scope: String,
    pub(crate) expires_at: SystemTime,
    pub(crate) used: bool,
}

impl Expiring for DyCode {
    fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

/// A user `access_token` (`act.…`).
#[derive(Debug, Clone)]
pub(crate) struct DyAccess {
    pub(crate) app: usize,
    pub(crate) user: String,
    pub(crate) scope: String,
    pub(crate) expires_at: SystemTime,
}

impl Expiring for DyAccess {
    fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

/// A `refresh_token` (`rft.…`) and how many renewals its chain has had.
#[derive(Debug, Clone)]
pub(crate) struct DyRefresh {
    pub(crate) app: usize,
    pub(crate) user: String,
    pub(crate) scope: String,
    pub(crate) expires_at: SystemTime,
    pub(crate) renewals: u32,
}

impl Expiring for DyRefresh {
    fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

/// A `client_token` (`clt.…`).
#[derive(Debug, Clone)]
pub(crate) struct DyClient {
    pub(crate) app: usize,
    pub(crate) expires_at: SystemTime,
}

impl Expiring for DyClient {
    fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

/// What the mock remembers for Douyin.
#[derive(Debug)]
pub(crate) struct DouyinState {
    pub(crate) codes: Bounded<DyCode>,
    pub(crate) access: Bounded<DyAccess>,
    pub(crate) refresh: Bounded<DyRefresh>,
    pub(crate) clients: Bounded<DyClient>,
    /// App index → its newest `client_token`.
    pub(crate) client_latest: HashMap<usize, String>,
    /// App index → times of `client_token` calls in the last 5 minutes.
    pub(crate) client_calls: HashMap<usize, VecDeque<SystemTime>>,
    /// App index → callback domains (hosts, lower case, no port).
    pub(crate) redirect_domains: HashMap<usize, Vec<String>>,
    /// The older sample shapes: `error_code` `"0"` and lifetimes as strings, `userinfo` with
    /// `gender`/`city`/`country`/`province`.
    pub(crate) legacy: bool,
}

impl DouyinState {
    /// The state of `apps`, their callback domains put in the form `normalize` gives.
    pub(crate) fn new(apps: &[MockDouyinApp], normalize: fn(&[String]) -> Vec<String>) -> Self {
        DouyinState {
            codes: Bounded::new(MAX_CODES),
            access: Bounded::new(MAX_TOKENS),
            refresh: Bounded::new(MAX_TOKENS),
            clients: Bounded::new(MAX_CLIENT_TOKENS),
            client_latest: HashMap::new(),
            client_calls: HashMap::new(),
            redirect_domains: (apps.iter().enumerate())
                .map(|(i, a)| (i, normalize(&a.redirect_domains)))
                .collect(),
            legacy: false,
        }
    }
}
