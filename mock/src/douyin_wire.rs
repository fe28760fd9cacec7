//! What Douyin's answers carry besides their data: the `log_id` of every answer. A leaf shared
//! by the Open Platform side (`douyin`) and the mini-app side (`douyin_mini`).

use std::time::SystemTime;

use super::clock::unix_secs;

/// Douyin's `log_id` / `logid`: `YYYYMMDDHHMMSS` in Beijing time (UTC+8) of the mock clock,
/// then 20 hex digits — the sample's `2020070614111601022506808001045D59` with `now`
/// 1594015876138.
pub(crate) fn log_id(now: SystemTime) -> String {
    let secs = unix_secs(now) + 8 * 3600;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let tail: String = (0..20)
        .map(|_| char::from(b"0123456789ABCDEF"[rand::random_range(0..16)]))
        .collect();
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}{tail}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
