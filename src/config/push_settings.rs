//! What the push URL beyond login and the guards of scan login are set to: the `on_push`
//! hook, the forward target, phone confirmation, and the limits on starting scans (the
//! `with_*` methods are in `push.rs`).

use std::{fmt, num::NonZeroU32, sync::Arc};

use url::Url;

use super::ConfigError;
use crate::{
    push::{OpenedPush, PushReply},
    store::BoxFuture,
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

    pub(crate) fn quotas(&self) -> Option<[NonZeroU32; 3]> {
        Some([
            NonZeroU32::new(self.per_ip)?,
            NonZeroU32::new(self.per_browser)?,
            NonZeroU32::new(self.total)?,
        ])
    }
}

/// The settings of this file, kept together in the builder and in the config.
#[derive(Clone, Default)]
pub(crate) struct PushSettings {
    pub(crate) on_push: Option<PushHook>,
    pub(crate) forward: Option<Url>,
    pub(crate) forward_raw: Option<String>,
    /// `None`: the default (on when an Official Account is configured).
    pub(crate) scan_confirm: Option<bool>,
    pub(crate) start_limits: ScanStartLimits,
    /// QR codes a day across instances; `None`: [`DEFAULT_SCAN_DAILY_BUDGET`].
    pub(crate) daily_budget: Option<u32>,
}

/// The default daily budget of scan-login QR codes per account
/// ([`with_scan_daily_budget`](crate::WechatConfigBuilder::with_scan_daily_budget)): half of
/// the 100,000 `qrcode/create` calls WeChat allows an account a day.
///
/// ```
/// assert_eq!(wechat_auth::DEFAULT_SCAN_DAILY_BUDGET, 50_000);
/// ```
pub const DEFAULT_SCAN_DAILY_BUDGET: u32 = 50_000;

impl fmt::Debug for PushSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushSettings")
            .field("on_push", &self.on_push.is_some())
            .field("forward", &self.forward.as_ref().map(Url::origin))
            .field("scan_confirm", &self.scan_confirm)
            .field("start_limits", &self.start_limits)
            .field("daily_budget", &self.daily_budget())
            .finish()
    }
}

impl PushSettings {
    /// Checks what `build` can check.
    pub(crate) fn checked(mut self) -> Result<Self, ConfigError> {
        if let Some(raw) = self.forward_raw.take() {
            let url = Url::parse(&raw)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
                .ok_or_else(|| ConfigError::InvalidPushForward(raw.clone()))?;
            self.forward = Some(url);
        }
        if self.start_limits.quotas().is_none() {
            return Err(ConfigError::InvalidScanLimits);
        }
        if self.daily_budget == Some(0) {
            return Err(ConfigError::InvalidSetting {
                setting: "WECHAT_SCAN_DAILY_BUDGET",
                value: "0".to_owned(),
                expected: BUDGET_EXPECTED,
            });
        }
        Ok(self)
    }

    /// The daily budget of scan-login QR codes.
    pub(crate) fn daily_budget(&self) -> u32 {
        self.daily_budget.unwrap_or(DEFAULT_SCAN_DAILY_BUDGET)
    }
}

/// What `WECHAT_SCAN_DAILY_BUDGET` may be.
pub(crate) const BUDGET_EXPECTED: &str = "use the number of scan-login QR codes a day, at least 1 (WeChat allows 100000 a day per account)";
