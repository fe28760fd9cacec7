//! The scan channel's own failures: a scan that is not this browser's or this user's, one
//! answered or taken already, and the limits on starting scans (per client, the site's
//! daily budget, WeChat's daily quota). Each describes itself; the core renders it.

use std::borrow::Cow;

use http::StatusCode;

use crate::core::failure::{Description, Failure, Refusal};

/// Why a scan request was refused.
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum ScanFailure {
    /// A scan started by another browser (or none at all: the answer is the same).
    #[error("not_your_scan")]
    NotYourScan,
    /// The scan was answered already (confirmed, cancelled) or is being answered.
    #[error("already_answered")]
    Answered,
    /// A mini program code opened by another WeChat user first: only they may answer it.
    #[error("opened_by_another_user")]
    Taken,
    /// This client started too many scans lately; seconds until it may start one.
    #[error("too_many_requests")]
    Limited(u64),
    /// The confirm page of a scan was opened by a WeChat user other than the one who
    /// scanned (or before anyone scanned).
    #[error("not_your_scan")]
    NotYourConfirm,
    /// Today's budget of scan-login QR codes is spent; seconds until the next (UTC) day.
    #[error("scan_budget_spent")]
    BudgetSpent(u64),
    /// WeChat answered 45009 to `qrcode/create`: the account's daily quota is reached;
    /// seconds until WeChat's next day (Beijing time).
    #[error("wechat_qr_quota")]
    QuotaReached(u64),
    /// No free message code was found (nearly a million logins pending): try again soon.
    #[error("no_free_code")]
    NoFreeCode,
}

impl Refusal for ScanFailure {
    fn describe(&self) -> Description {
        use tracing::Level;
        let d = |status, code, zh: &'static str, en: &'static str| Description {
            status,
            code,
            zh: Cow::Borrowed(zh),
            en: Cow::Borrowed(en),
            level: Level::INFO,
            retry_after: None,
        };
        match self {
            Self::NotYourScan => d(
                StatusCode::FORBIDDEN,
                "not_your_scan",
                "此扫码登录是在另一个浏览器中发起的。",
                "this scan was started by another browser",
            ),
            Self::Answered => d(
                StatusCode::CONFLICT,
                "already_answered",
                "此扫码登录已处理。",
                "this scan was answered already",
            ),
            Self::Taken => d(
                StatusCode::CONFLICT,
                "opened_by_another_user",
                "这个登录码已被另一个微信用户打开，只有该用户可以确认。",
                "this login code was opened by another WeChat user first; only they may answer it",
            ),
            Self::Limited(secs) => Description {
                // Whole seconds, rounded up to a few steps.
                retry_after: Some(match secs {
                    0..=1 => 1,
                    2..=5 => 5,
                    6..=10 => 10,
                    11..=30 => 30,
                    _ => 60,
                }),
                ..d(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    "二维码生成过于频繁，请稍后再试。",
                    "Too many QR codes asked for from this client. Please wait and try again.",
                )
            },
            Self::NotYourConfirm => d(
                StatusCode::FORBIDDEN,
                "not_your_scan",
                "只有扫码的微信用户本人可以确认这次登录。",
                "only the WeChat user who scanned this code may answer it",
            ),
            // Until the next day.
            Self::BudgetSpent(secs) => Description {
                retry_after: Some((*secs).max(1)),
                ..d(
                    StatusCode::TOO_MANY_REQUESTS,
                    "scan_budget_spent",
                    "今天的扫码登录二维码已用完，请明天再试，或换用其他登录方式。",
                    "Today's scan-login QR codes are used up. Please try again tomorrow, or log in another way.",
                )
            },
            Self::QuotaReached(secs) => Description {
                level: Level::WARN,
                retry_after: Some((*secs).max(1)),
                ..d(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "wechat_qr_quota",
                    "微信今天的二维码生成次数已达上限，扫码登录暂不可用，请明天再试，或换用其他登录方式。",
                    "WeChat's daily quota of QR codes for this account is reached: scan login is unavailable until tomorrow. Please log in another way.",
                )
            },
            Self::NoFreeCode => Description {
                level: Level::WARN,
                retry_after: Some(10),
                ..d(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no_free_code",
                    "登录码暂时用完了，请稍后再试。",
                    "No login code is free right now. Please try again in a moment.",
                )
            },
        }
    }
}

impl From<ScanFailure> for Failure {
    fn from(f: ScanFailure) -> Self {
        Failure::channel(f)
    }
}

#[cfg(test)]
mod tests {
    use http::{StatusCode, header};

    use super::ScanFailure;
    use crate::core::{failure::Failure, render};

    /// Every scan failure answers as it did when the core owned it: status, code, texts,
    /// and `Retry-After` where waiting helps.
    #[test]
    fn every_scan_failure_is_described_as_before() {
        let cases = [
            (ScanFailure::NotYourScan, 403, "not_your_scan", None),
            (ScanFailure::Answered, 409, "already_answered", None),
            (ScanFailure::Taken, 409, "opened_by_another_user", None),
            (ScanFailure::Limited(0), 429, "too_many_requests", Some("1")),
            (ScanFailure::Limited(1), 429, "too_many_requests", Some("1")),
            (ScanFailure::Limited(3), 429, "too_many_requests", Some("5")),
            (
                ScanFailure::Limited(10),
                429,
                "too_many_requests",
                Some("10"),
            ),
            (
                ScanFailure::Limited(11),
                429,
                "too_many_requests",
                Some("30"),
            ),
            (
                ScanFailure::Limited(31),
                429,
                "too_many_requests",
                Some("60"),
            ),
            (ScanFailure::NotYourConfirm, 403, "not_your_scan", None),
            (
                ScanFailure::BudgetSpent(0),
                429,
                "scan_budget_spent",
                Some("1"),
            ),
            (
                ScanFailure::BudgetSpent(3600),
                429,
                "scan_budget_spent",
                Some("3600"),
            ),
            (
                ScanFailure::QuotaReached(120),
                503,
                "wechat_qr_quota",
                Some("120"),
            ),
            (ScanFailure::NoFreeCode, 503, "no_free_code", Some("10")),
        ];
        for (f, status, code, retry) in cases {
            let failure = Failure::from(f.clone());
            let d = failure.describe();
            assert_eq!(d.status, StatusCode::from_u16(status).unwrap(), "{f:?}");
            assert_eq!(d.code, code, "{f:?}");
            assert_eq!(f.to_string(), code, "{f:?}: Display is the code");
            assert!(!d.zh.is_empty() && !d.en.is_empty(), "{f:?}");
            let res = render::json(&failure);
            assert_eq!(res.status(), d.status, "{f:?}");
            assert_eq!(
                res.headers()
                    .get(header::RETRY_AFTER)
                    .map(|v| v.to_str().unwrap()),
                retry,
                "{f:?}"
            );
            assert!(failure.refusal::<ScanFailure>().is_some());
        }
        assert_eq!(
            ScanFailure::QuotaReached(1).to_string(),
            "wechat_qr_quota",
            "logged at warn with its code"
        );
    }
}
