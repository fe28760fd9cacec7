//! Which kind of browser asked for a login, from its `User-Agent` (and the `Referer` a mini
//! program sends), so `GET login` can give every browser a login it can finish
//! (protocol §26; the README's table "Which login each browser gets").
//!
//! The markers, matched without regard to case (some proxies and logs lowercase the header):
//! `wxwork/` is WeCom (its UA also carries `MicroMessenger/`); `miniProgram` (Android
//! web-view), `MiniProgramEnv/` (desktop mini program runtime) or a `Referer` on
//! `https://servicewechat.com/` is a mini program; `WindowsWechat` / `MacWechat` is desktop
//! WeChat's built-in browser (the Mac client sends both); any other `MicroMessenger/` is
//! WeChat on a phone. Without those, a phone or tablet (`iPhone`, `iPad`, `iPod`, `Android`,
//! `Mobile`, `Windows Phone`, HarmonyOS `Phone`/`Tablet`) is a phone browser, everything
//! else a desktop browser.

/// The kind of browser a request comes from, as far as its `User-Agent` tells.
///
/// ```
/// use wechat_auth::BrowserKind;
///
/// let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 14_6 like Mac OS X) AppleWebKit/605.1.15 \
///               (KHTML, like Gecko) Version/14.1.1 Mobile/15E148 Safari/604.1";
/// assert_eq!(BrowserKind::of(safari, None), BrowserKind::PhoneBrowser);
/// let wechat = "Mozilla/5.0 (iPhone; CPU iPhone OS 14_6 like Mac OS X) AppleWebKit/605.1.15 \
///               (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.7(0x18000722) \
///               NetType/WIFI Language/zh_CN";
/// assert_eq!(BrowserKind::of(wechat, None), BrowserKind::WechatPhone);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BrowserKind {
    /// A desktop browser (Chrome, Firefox, Safari, Edge on a computer): the website QR,
    /// scanned with the phone.
    Desktop,
    /// WeChat's built-in browser on a phone (`MicroMessenger/`): Official Account web
    /// authorization, at the top level.
    WechatPhone,
    /// Desktop WeChat's built-in browser (`WindowsWechat`, `MacWechat`): Official Account
    /// web authorization.
    WechatDesktop,
    /// A page inside a mini program's `web-view` (`miniProgram`, or a `servicewechat.com`
    /// `Referer`): the same as WeChat.
    MiniProgramWebView,
    /// The WeCom (企业微信) client (`wxwork/`): the desktop choice on a computer, the
    /// phone-browser path on a phone.
    Wecom,
    /// A browser on a phone or tablet outside WeChat (Safari, Chrome, the system browser,
    /// UC, QQ Browser, HarmonyOS): a mini program link that opens WeChat; never a QR code,
    /// which the same phone cannot scan.
    PhoneBrowser,
}

impl BrowserKind {
    /// The kind of browser that sends `user_agent` (and `referer`, when the request has one).
    pub fn of(user_agent: &str, referer: Option<&str>) -> Self {
        let ua = user_agent.to_ascii_lowercase();
        const MINI_PROGRAM: &[u8] = b"https://servicewechat.com/";
        let from_mini_program = referer.is_some_and(|r| {
            r.as_bytes()
                .get(..MINI_PROGRAM.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(MINI_PROGRAM))
        });
        if ua.contains("wxwork/") {
            Self::Wecom
        } else if ua.contains("miniprogram") || from_mini_program {
            Self::MiniProgramWebView
        } else if ua.contains("windowswechat") || ua.contains("macwechat") {
            Self::WechatDesktop
        } else if ua.contains("micromessenger") {
            Self::WechatPhone
        } else if is_phone(user_agent) {
            Self::PhoneBrowser
        } else {
            Self::Desktop
        }
    }

    /// Whether this browser is inside WeChat (a phone, the desktop client or a mini program's
    /// web-view), where Official Account web authorization works and an authorize page must
    /// be opened at the top level.
    pub fn in_wechat(self) -> bool {
        matches!(
            self,
            Self::WechatPhone | Self::WechatDesktop | Self::MiniProgramWebView
        )
    }
}

/// Whether `user_agent` is a phone or tablet (where a QR code on the screen cannot be
/// scanned by the same device).
pub fn is_phone(user_agent: &str) -> bool {
    let ua = user_agent.to_ascii_lowercase();
    // HarmonyOS names its device type first: `(Phone; OpenHarmony 5.0)`, `(Tablet; …)`,
    // `(PC; …)` for a 2-in-1 computer.
    if ua.contains("openharmony") {
        return !ua.contains("(pc;");
    }
    [
        "iphone",
        "ipad",
        "ipod",
        "android",
        "mobile",
        "windows phone",
    ]
    .iter()
    .any(|m| ua.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_and_their_order() {
        let k = |ua: &str| BrowserKind::of(ua, None);
        assert_eq!(k(""), BrowserKind::Desktop);
        assert_eq!(k("curl/8.0"), BrowserKind::Desktop);
        assert_eq!(k("Mozilla/5.0 (iPhone) Mobile"), BrowserKind::PhoneBrowser);
        assert_eq!(k("X MicroMessenger/8.0"), BrowserKind::WechatPhone);
        assert_eq!(k("x micromessenger/8.0"), BrowserKind::WechatPhone);
        assert_eq!(
            k("X MicroMessenger/6.8 MacWechat/3.3 WindowsWechat"),
            BrowserKind::WechatDesktop
        );
        assert_eq!(
            k("Android MicroMessenger/8.0 miniProgram"),
            BrowserKind::MiniProgramWebView
        );
        assert_eq!(
            k("iPhone Mobile wxwork/3.1 MicroMessenger/7.0.1"),
            BrowserKind::Wecom
        );
        let referer = Some("https://servicewechat.com/wx1234567890abcdef/3/page-frame.html");
        assert_eq!(
            BrowserKind::of("iPhone MicroMessenger/8.0", referer),
            BrowserKind::MiniProgramWebView
        );
        assert_eq!(
            BrowserKind::of(
                "iPhone MicroMessenger/8.0",
                Some("https://servicewechat.co")
            ),
            BrowserKind::WechatPhone
        );
        assert_eq!(
            BrowserKind::of(
                "iPhone Mobile",
                Some("https://servicewechat.com.evil.example/")
            ),
            BrowserKind::PhoneBrowser
        );
        assert!(is_phone(
            "Mozilla/5.0 (Phone; OpenHarmony 5.0) ArkWeb/4.1.6.1 Mobile"
        ));
        assert!(!is_phone(
            "Mozilla/5.0 (PC; OpenHarmony 5.0) ArkWeb/4.1.6.1"
        ));
    }
}
