//! Time and randomness every module needs: Unix seconds and random ids. A leaf: it names no
//! other module of the crate.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::{Rng, distr::Alphanumeric};

/// Seconds since the Unix epoch.
pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A random string of `[A-Za-z0-9]`: WeChat's `state` alphabet, also fine for ids.
pub(crate) fn random_token(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_tokens_use_the_state_alphabet() {
        let t = random_token(128);
        assert_eq!(t.len(), 128);
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(random_token(32), random_token(32));
    }
}
