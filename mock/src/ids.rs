//! Random identifiers shaped like WeChat's: codes, tokens, session keys, tickets, rids.

use base64::Engine as _;
use rand::Rng as _;
use rand::distr::Alphanumeric;

const URL_SAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

/// `n` random characters of `[A-Za-z0-9]`.
pub(crate) fn alnum(n: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// `n` random characters of `[A-Za-z0-9_-]`.
pub(crate) fn url_safe(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(URL_SAFE[rng.random_range(0..URL_SAFE.len())]))
        .collect()
}

/// An authorization code / js_code: 32 alphanumeric characters.
pub(crate) fn code() -> String {
    alnum(32)
}

/// A user or global access token: `NN_` and a long random tail, like `86_…`.
pub(crate) fn access_token() -> String {
    format!("86_{}", url_safe(133))
}

/// A user refresh token, same shape as an access token.
pub(crate) fn refresh_token() -> String {
    format!("86_{}", url_safe(133))
}

/// Openid/unionid of a snapshot ("virtual") user: random, never stable.
pub(crate) fn virtual_id() -> String {
    format!("o{}", url_safe(27))
}

/// A `session_key`: standard base64 of 16 random bytes (24 characters).
pub(crate) fn session_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>())
}

/// The trace suffix WeChat adds to errmsg: three groups of 8 hex digits.
pub(crate) fn rid() -> String {
    let [a, b, c]: [u32; 3] = rand::random();
    format!("{a:08x}-{b:08x}-{c:08x}")
}

/// The content of a parametric QR code: `http://weixin.qq.com/q/` + 22 characters.
pub(crate) fn qr_url() -> String {
    format!("http://weixin.qq.com/q/02{}", url_safe(20))
}

/// A QR ticket: standard base64 over bytes that embed the QR url and the times, like real
/// tickets do. Bytes 3..6 are chosen so the ticket always contains `+` and `/`, and the length
/// so it always ends with `=`, which catches callers that forget to URL-encode it.
pub(crate) fn qr_ticket(url: &str, created: u64, expires: u64) -> String {
    let mut bytes: Vec<u8> = vec![0x81, 0x07, rand::random::<u8>(), 0xFB, 0xFF, 0xBF];
    bytes.extend_from_slice(&[0, 0, 0, 0]);
    bytes.push(u8::try_from(url.len()).unwrap_or(u8::MAX));
    bytes.extend_from_slice(url.as_bytes());
    bytes.extend_from_slice(&[0x02, 0x04]);
    bytes.extend_from_slice(&(created as u32).to_be_bytes());
    bytes.extend_from_slice(&[0x03, 0x04]);
    bytes.extend_from_slice(&(expires as u32).to_be_bytes());
    if bytes.len().is_multiple_of(3) {
        bytes.push(0);
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let c = code();
        assert_eq!(c.len(), 32);
        assert!(c.chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(access_token().starts_with("86_") && access_token().len() > 100);
        assert_eq!(session_key().len(), 24);
        assert_eq!(virtual_id().len(), 28);
        let r = rid();
        assert_eq!(r.len(), 26);
        assert_eq!(r.matches('-').count(), 2);
        let url = qr_url();
        assert_eq!(url.len(), "http://weixin.qq.com/q/".len() + 22);
        let t = qr_ticket(&url, 1_700_000_000, 1_700_000_060);
        assert!(
            t.contains('+') && t.contains('/') && t.ends_with('='),
            "{t}"
        );
    }
}
