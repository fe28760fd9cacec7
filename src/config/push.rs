//! The Official Account's push URL beyond login, and the guards of scan login: the
//! `with_*` methods of the `on_push` hook, push forwarding, phone confirmation and the limits
//! on starting scans, and their environment variables.

use std::{future::Future, sync::Arc};

use super::{
    ConfigError, WechatConfigBuilder,
    push_settings::{BUDGET_EXPECTED, ScanStartLimits},
};
use crate::push::{OpenedPush, PushReply};

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
    /// that is not absolute `http(s)`, or that has credentials (`user:pw@`) or a fragment.
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

    /// How many scan-login QR codes (`qrcode/create`) the Official Account may make per
    /// UTC day, counted in the store, so every instance sharing it shares the budget
    /// (`WECHAT_SCAN_DAILY_BUDGET`; default
    /// [`DEFAULT_SCAN_DAILY_BUDGET`](crate::DEFAULT_SCAN_DAILY_BUDGET), half of WeChat's
    /// 100,000 a day, so logins run out before the account's quota that its other uses
    /// share). Past it, `POST PREFIX/scan` answers `429` (page or JSON `scan_budget_spent`)
    /// with `Retry-After` until the next UTC day; from 80 % on, each start counts in
    /// `wechat_auth_scan_budget_total{state="low"}` and one warning is logged. The same
    /// budget bounds the mini program links made for phone browsers (`POST
    /// PREFIX/scan?via=link`, counted under the mini program's appid). `build()` refuses 0.
    ///
    /// ```
    /// use wechat_auth::{ConfigError, WechatConfig};
    ///
    /// let b = || WechatConfig::builder()
    ///     .with_public_url("https://example.com")
    ///     .with_session_secret("0123456789abcdef0123456789abcdef")
    ///     .with_official_account("wx2000000000000002", "oa-secret");
    /// assert!(b().with_scan_daily_budget(5_000).build().is_ok());
    /// assert!(matches!(
    ///     b().with_scan_daily_budget(0).build(),
    ///     Err(ConfigError::InvalidSetting { setting: "WECHAT_SCAN_DAILY_BUDGET", .. })
    /// ));
    /// ```
    pub fn with_scan_daily_budget(mut self, codes: u32) -> Self {
        self.push_settings.daily_budget = Some(codes);
        self
    }
}

/// Reads `WECHAT_OA_PUSH_FORWARD_URL`, `WECHAT_SCAN_CONFIRM` and `WECHAT_SCAN_DAILY_BUDGET`.
pub(super) fn from_env(
    b: &mut WechatConfigBuilder,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    b.push_settings.forward_raw = env("WECHAT_OA_PUSH_FORWARD_URL");
    if let Some(n) = super::checks::number(
        "WECHAT_SCAN_DAILY_BUDGET",
        env("WECHAT_SCAN_DAILY_BUDGET"),
        BUDGET_EXPECTED,
    )? {
        b.push_settings.daily_budget =
            Some(u32::try_from(n).map_err(|_| ConfigError::InvalidSetting {
                setting: "WECHAT_SCAN_DAILY_BUDGET",
                value: n.to_string(),
                expected: BUDGET_EXPECTED,
            })?);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<WechatConfigBuilder, ConfigError> {
        let mut b = WechatConfigBuilder::default();
        from_env(&mut b, |k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        })?;
        Ok(b)
    }

    #[test]
    fn the_environment_sets_forwarding_and_confirmation() {
        let b = read(&[
            ("WECHAT_OA_PUSH_FORWARD_URL", "http://10.0.0.5:8080/wechat"),
            ("WECHAT_SCAN_CONFIRM", "off"),
        ])
        .unwrap();
        assert_eq!(b.push_settings.scan_confirm, Some(false));
        let s = b.push_settings.checked(true).unwrap();
        assert!(!s.scan_confirm, "off as asked");
        assert_eq!(s.forward.unwrap().as_str(), "http://10.0.0.5:8080/wechat");
        assert_eq!(
            read(&[("WECHAT_SCAN_CONFIRM", "ON")])
                .unwrap()
                .push_settings
                .scan_confirm,
            Some(true)
        );
        assert_eq!(read(&[]).unwrap().push_settings.scan_confirm, None);
        assert!(matches!(
            read(&[("WECHAT_SCAN_CONFIRM", "maybe")]),
            Err(ConfigError::InvalidFlag {
                var: "WECHAT_SCAN_CONFIRM",
                ..
            })
        ));
        assert_eq!(
            read(&[("WECHAT_SCAN_DAILY_BUDGET", "5000")])
                .unwrap()
                .push_settings
                .checked(true)
                .unwrap()
                .daily_budget(),
            5000
        );
        assert_eq!(
            read(&[])
                .unwrap()
                .push_settings
                .checked(true)
                .unwrap()
                .daily_budget(),
            crate::config::push_settings::DEFAULT_SCAN_DAILY_BUDGET
        );
        for bad in ["lots", "-1", "1e5", "99999999999"] {
            let e = read(&[("WECHAT_SCAN_DAILY_BUDGET", bad)]).unwrap_err();
            assert!(
                matches!(
                    e,
                    ConfigError::InvalidSetting {
                        setting: "WECHAT_SCAN_DAILY_BUDGET",
                        ..
                    }
                ),
                "{bad}: {e}"
            );
            assert!(
                e.to_string().starts_with("WECHAT_SCAN_DAILY_BUDGET is "),
                "{e}"
            );
        }
        let zero = read(&[("WECHAT_SCAN_DAILY_BUDGET", "0")]).unwrap();
        assert!(matches!(
            zero.push_settings.checked(true),
            Err(ConfigError::InvalidSetting {
                setting: "WECHAT_SCAN_DAILY_BUDGET",
                ..
            })
        ));
        for bad in [
            "ftp://x/",
            "/wechat",
            "http://",
            "http://user:pw@10.0.0.5/wechat",
            "http://:pw@10.0.0.5/wechat",
            "http://10.0.0.5/wechat#frag",
        ] {
            let s = read(&[("WECHAT_OA_PUSH_FORWARD_URL", bad)])
                .unwrap()
                .push_settings;
            let e = s.checked(true).unwrap_err();
            assert!(matches!(e, ConfigError::InvalidPushForward(_)), "{bad}");
            let msg = e.to_string();
            assert!(
                msg.starts_with("WECHAT_OA_PUSH_FORWARD_URL (with_push_forward) is "),
                "{msg}"
            );
            assert!(!msg.contains(":pw@"), "the password is hidden: {msg}");
        }
    }
}
