//! The Official Account's push URL beyond login, and the guards of scan login: the
//! `on_push` hook, push forwarding, phone confirmation, and the limits on starting scans.

use std::{fmt, future::Future, num::NonZeroU32, sync::Arc};

use url::Url;

use super::{ConfigError, WechatConfigBuilder};
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
}

impl fmt::Debug for PushSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushSettings")
            .field("on_push", &self.on_push.is_some())
            .field("forward", &self.forward.as_ref().map(Url::origin))
            .field("scan_confirm", &self.scan_confirm)
            .field("start_limits", &self.start_limits)
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
        Ok(self)
    }
}

impl WechatConfigBuilder {
    /// A hook for every message and event the Official Account receives that is not a scan
    /// login: users' messages, menu clicks, plain follows… It gets the common fields and the
    /// whole (decrypted) document, and may answer with a [`PushReply`] that WeChat shows the
    /// user (encrypted by the layer in safe mode). Return `None` for no reply. The hook has 4
    /// seconds: WeChat gives up after 5, so a slower hook is answered `success` (and
    /// logged) while it runs on. WeChat's re-deliveries of one message reach it once.
    ///
    /// With a hook set, [`with_push_forward`](Self::with_push_forward) is not used.
    ///
    /// ```
    /// use wechat_auth::{push::PushReply, WechatConfig};
    ///
    /// let cfg = WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_official_account("wx2000000000000002", "oa-secret")
    ///     .with_oa_push("pushtoken", Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"))
    ///     .with_on_push(|push| async move {
    ///         match push.message.msg_type.as_str() {
    ///             "text" => Some(PushReply::text("收到")),
    ///             _ => None,
    ///         }
    ///     })
    ///     .build()?;
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn with_on_push<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(OpenedPush) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<PushReply>> + Send + 'static,
    {
        self.push_settings.on_push = Some(Arc::new(move |push| Box::pin(hook(push))));
        self
    }

    /// Forwards every push that is not a scan login to the Official Account's existing push
    /// backend (`WECHAT_OA_PUSH_FORWARD_URL`): the original request — query and body as
    /// received, so the backend checks WeChat's signatures itself — and relays its answer to
    /// WeChat (encrypted in safe mode when the backend answered in plain). The backend has 4
    /// seconds; a slower one is answered `success` (and logged). `build()` refuses a URL
    /// that is not absolute `http(s)`.
    ///
    /// ```
    /// use wechat_auth::{ConfigError, WechatConfig};
    ///
    /// let b = || WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_official_account("wx2000000000000002", "oa-secret")
    ///     .with_oa_push("pushtoken", Some("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"));
    /// assert!(b().with_push_forward("http://10.0.0.5:8080/wechat").build().is_ok());
    /// assert!(matches!(b().with_push_forward("/wechat").build(), Err(ConfigError::InvalidPushForward(_))));
    /// ```
    pub fn with_push_forward(mut self, url: impl Into<String>) -> Self {
        self.push_settings.forward_raw = Some(url.into());
        self
    }

    /// Whether a scan login waits for the scanning user to confirm on the phone
    /// (`WECHAT_SCAN_CONFIRM=on|off`). Default on: the Official Account's reply to the scan
    /// links to `PREFIX/scan/{id}/confirm`, opened inside WeChat, where only the user who
    /// scanned can tap 确认登录 or 取消 (this stops QRLjacking: a victim scanning a code shown
    /// in an attacker's browser sees who asked and does not confirm). It needs the Official
    /// Account's web authorization (网页授权域名 set to this site). Off: the scan itself logs
    /// in, and the reply still names the browser.
    ///
    /// ```
    /// let cfg = wechat_auth::WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_official_account("wx2000000000000002", "oa-secret")
    ///     .with_scan_confirm(false)
    ///     .build()?;
    /// # Ok::<(), wechat_auth::ConfigError>(())
    /// ```
    pub fn with_scan_confirm(mut self, on: bool) -> Self {
        self.push_settings.scan_confirm = Some(on);
        self
    }

    /// How many scan logins a client may start per minute ([`ScanStartLimits`]); past that
    /// `POST PREFIX/scan` answers `429` with `Retry-After`. `build()` refuses a zero.
    ///
    /// ```
    /// use wechat_auth::{ConfigError, ScanStartLimits, WechatConfig};
    ///
    /// let b = || WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_official_account("wx2000000000000002", "oa-secret");
    /// assert!(b().with_scan_start_limits(ScanStartLimits::new(60, 10, 3000)).build().is_ok());
    /// assert_eq!(b().with_scan_start_limits(ScanStartLimits::new(0, 1, 1)).build().unwrap_err(),
    ///            ConfigError::InvalidScanLimits);
    /// ```
    pub fn with_scan_start_limits(mut self, limits: ScanStartLimits) -> Self {
        self.push_settings.start_limits = limits;
        self
    }
}

/// Reads `WECHAT_OA_PUSH_FORWARD_URL` and `WECHAT_SCAN_CONFIRM`.
pub(super) fn from_env(
    b: &mut WechatConfigBuilder,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    b.push_settings.forward_raw = env("WECHAT_OA_PUSH_FORWARD_URL");
    if let Some(v) = env("WECHAT_SCAN_CONFIRM") {
        b.push_settings.scan_confirm = Some(match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => true,
            "0" | "false" | "no" | "off" => false,
            _ => {
                return Err(ConfigError::InvalidFlag {
                    var: "WECHAT_SCAN_CONFIRM",
                    value: v,
                });
            }
        });
    }
    Ok(())
}
