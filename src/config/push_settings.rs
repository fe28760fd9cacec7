//! What the push URL beyond login and the guards of scan login are set to: the `on_push`
//! hook, the forward target, phone confirmation, and the limits on starting scans (the
//! `with_*` methods are in `push.rs`).

use std::{fmt, num::NonZeroU32, sync::Arc};

use url::Url;

use super::ConfigError;
use crate::{
    core::store::BoxFuture,
    push::{OpenedPush, PushReply},
};

/// The boxed form of an `on_push` hook.
pub(crate) type PushHook =
    Arc<dyn Fn(OpenedPush) -> BoxFuture<'static, Option<PushReply>> + Send + Sync>;

/// How many scan logins one client may start (each one costs a `qrcode/create` call, and
/// WeChat allows 100,000 a day): a burst of that many, refilled evenly over a minute.
///
/// ```
/// let l = wechat_auth::ScanStartLimits::default();
/// assert_eq!((l.per_ip, l.per_browser, l.total), (20, 6, 600));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScanStartLimits {
    /// Starts per minute from one IP address (an office behind one NAT shares it).
    pub per_ip: u32,
    /// Starts per minute from one browser (known by its pending-scan cookie).
    pub per_browser: u32,
    /// Starts per minute in this process, all clients together.
    pub total: u32,
}

impl Default for ScanStartLimits {
    fn default() -> Self {
        Self {
            per_ip: 20,
            per_browser: 6,
            total: 600,
        }
    }
}

impl ScanStartLimits {
    /// Limits of `per_ip`, `per_browser` and `total` starts a minute (each at least 1).
    ///
    /// ```
    /// let l = wechat_auth::ScanStartLimits::new(5, 2, 100);
    /// assert_eq!(l.per_browser, 2);
    /// ```
    pub fn new(per_ip: u32, per_browser: u32, total: u32) -> Self {
        Self {
            per_ip,
            per_browser,
            total,
        }
    }

    /// The limits as non-zero quotas, or `None` when one of them is zero.
    pub(crate) fn quotas(&self) -> Option<StartQuotas> {
        Some(StartQuotas {
            per_ip: NonZeroU32::new(self.per_ip)?,
            per_browser: NonZeroU32::new(self.per_browser)?,
            total: NonZeroU32::new(self.total)?,
        })
    }
}

/// [`ScanStartLimits`] as `build` accepted them: each at least 1 a minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StartQuotas {
    pub(crate) per_ip: NonZeroU32,
    pub(crate) per_browser: NonZeroU32,
    pub(crate) total: NonZeroU32,
}

/// The settings of this file as the builder holds them, unchecked.
#[derive(Clone, Default)]
pub(crate) struct PushSettings {
    pub(crate) on_push: Option<PushHook>,
    pub(crate) forward_raw: Option<String>,
    /// `None`: the default (on when an Official Account is configured).
    pub(crate) scan_confirm: Option<bool>,
    pub(crate) start_limits: ScanStartLimits,
    /// QR codes a day across instances; `None`: [`DEFAULT_SCAN_DAILY_BUDGET`].
    pub(crate) daily_budget: Option<u32>,
}

/// The settings of this file as `build` accepted them: the values the layer uses.
#[derive(Clone)]
pub(crate) struct PushSection {
    pub(crate) on_push: Option<PushHook>,
    pub(crate) forward: Option<Url>,
    /// Whether a follow-the-account scan waits for the user to confirm on the phone.
    pub(crate) scan_confirm: bool,
    pub(crate) start_quotas: StartQuotas,
    /// QR codes a day across instances.
    daily_budget: NonZeroU32,
}

/// What `WECHAT_SCAN_DAILY_BUDGET` may be.
pub(super) const BUDGET_EXPECTED: &str = "use the number of scan-login QR codes a day, at least 1 (WeChat allows 100000 a day per account)";

/// The default daily budget of scan-login QR codes per account
/// ([`with_scan_daily_budget`](crate::WechatConfigBuilder::with_scan_daily_budget)): half of
/// the 100,000 `qrcode/create` calls WeChat allows an account a day.
///
/// ```
/// assert_eq!(wechat_auth::DEFAULT_SCAN_DAILY_BUDGET, 50_000);
/// ```
pub const DEFAULT_SCAN_DAILY_BUDGET: u32 = 50_000;

impl fmt::Debug for PushSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushSection")
            .field("on_push", &self.on_push.is_some())
            .field("forward", &self.forward.as_ref().map(Url::origin))
            .field("scan_confirm", &self.scan_confirm)
            .field("start_quotas", &self.start_quotas)
            .field("daily_budget", &self.daily_budget())
            .finish()
    }
}

impl PushSettings {
    /// Checks what `build` can check, once, into the values the layer uses; scan
    /// confirmation is on by default when an Official Account (`official_account`) is
    /// configured.
    pub(crate) fn checked(self, official_account: bool) -> Result<PushSection, ConfigError> {
        let forward = match self.forward_raw {
            None => None,
            Some(raw) => Some(
                Url::parse(&raw)
                    .ok()
                    .filter(|u| {
                        matches!(u.scheme(), "http" | "https")
                            && u.host_str().is_some_and(|h| !h.is_empty())
                            && u.username().is_empty()
                            && u.password().is_none()
                            && u.fragment().is_none()
                    })
                    .ok_or_else(|| ConfigError::InvalidPushForward(super::checks::shown(&raw)))?,
            ),
        };
        let start_quotas = self
            .start_limits
            .quotas()
            .ok_or(ConfigError::InvalidScanLimits)?;
        let daily_budget = match self.daily_budget {
            None => NonZeroU32::new(DEFAULT_SCAN_DAILY_BUDGET),
            Some(n) => NonZeroU32::new(n),
        }
        .ok_or_else(|| ConfigError::InvalidSetting {
            setting: "WECHAT_SCAN_DAILY_BUDGET",
            value: "0".to_owned(),
            expected: BUDGET_EXPECTED,
        })?;
        Ok(PushSection {
            on_push: self.on_push,
            forward,
            scan_confirm: self.scan_confirm.unwrap_or(official_account),
            start_quotas,
            daily_budget,
        })
    }
}

impl PushSection {
    /// The daily budget of scan-login QR codes.
    pub(crate) fn daily_budget(&self) -> u32 {
        self.daily_budget.get()
    }
}
