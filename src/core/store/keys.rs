//! Every key the layer writes to the [`Store`](super::Store), spelled in one place:
//! `wechat-auth:APPID:KIND:{ID}`, plus `:lock` / `:claim` / `:image` for coordination.
//! Secrets and codes never appear in a key: they are hashed first.
//!
//! The braces are a Redis Cluster hash tag: only `ID` picks the slot, so a key and the keys
//! derived from it (a scan and its claim, a code and its lock) always share one slot and can
//! be used together in one script or transaction, while different logins spread over the
//! whole Cluster.

use std::{fmt, ops::Deref};

use sha1::{Digest, Sha1};

/// A store key the layer writes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key(String);

/// Where revocations are announced to other instances (a topic, not a key).
pub(crate) const REVOKED_TOPIC: &str = "wechat-auth:revoked";

fn digest(value: &str) -> String {
    hex::encode(Sha1::digest(value.as_bytes()))
}

impl Key {
    fn new(appid: &str, kind: &str, id: &str) -> Self {
        Self(format!("wechat-auth:{appid}:{kind}:{{{id}}}"))
    }

    /// The outcome of exchanging `code` (only its digest is kept).
    pub(crate) fn code(appid: &str, code: &str) -> Self {
        Self::new(appid, "code", &digest(code))
    }

    /// A user's WeChat tokens.
    pub(crate) fn tokens(appid: &str, openid: &str) -> Self {
        Self::new(appid, "tokens", openid)
    }

    /// A user's cached profile.
    pub(crate) fn profile(appid: &str, openid: &str) -> Self {
        Self::new(appid, "profile", openid)
    }

    /// What `cgi-bin/user/info` said about an Official Account follower (kept apart from
    /// the web-authorization profile, which has the nickname that call no longer gives).
    pub(crate) fn follower(appid: &str, openid: &str) -> Self {
        Self::new(appid, "follower", openid)
    }

    /// A mini program user's `session_key`.
    pub(crate) fn session_key(appid: &str, openid: &str) -> Self {
        Self::new(appid, "session_key", openid)
    }

    /// The app's global access token.
    pub(crate) fn global_token(appid: &str) -> Self {
        Self::new(appid, "global_token", "current")
    }

    /// The claim that generation `generation` of the session family `family` was refreshed.
    pub(crate) fn refreshed(appid: &str, family: &str, generation: u32) -> Self {
        Self::new(appid, "refreshed", &format!("{family}.{generation}"))
    }

    /// The binding of a login `state` to the first code that used it (digest only).
    pub(crate) fn state(appid: &str, state: &str) -> Self {
        Self::new(appid, "state", &digest(state))
    }

    /// A signed push request already accepted (`request` is its digest).
    pub(crate) fn push_nonce(appid: &str, request: &str) -> Self {
        Self::new(appid, "push-nonce", request)
    }

    /// A scan login's scene.
    pub(crate) fn scan(appid: &str, id: &str) -> Self {
        Self::new(appid, "scan", id)
    }

    /// The count of scan-login QR codes made on UTC day `day` (days since the epoch).
    pub(crate) fn scan_budget(appid: &str, day: u64) -> Self {
        Self::new(appid, "scan-budget", &day.to_string())
    }

    /// A pushed message already handed to the app (`dedupe` is WeChat's `MsgId`, or the
    /// sender and time of an event; only its digest is kept).
    pub(crate) fn push_seen(appid: &str, dedupe: &str) -> Self {
        Self::new(appid, "push-seen", &digest(dedupe))
    }

    /// The confirmation token of a scan's phone page (a digest only), for one WeChat user.
    pub(crate) fn scan_confirm(appid: &str, id: &str) -> Self {
        Self::new(appid, "scan-confirm", id)
    }

    /// The claim that something about this key is handled once (a scan's confirmation).
    pub(crate) fn claim(&self) -> Self {
        Self(format!("{}:claim", self.0))
    }

    /// The mark that WeChat users other than the first scanned this key's code.
    pub(crate) fn others(&self) -> Self {
        Self(format!("{}:others", self.0))
    }

    /// The image made for this key (a scan's mini program code).
    pub(crate) fn claim_image(&self) -> Self {
        Self(format!("{}:image", self.0))
    }

    /// The lock of a single flight over this key.
    pub(crate) fn lock(&self) -> Self {
        Self(format!("{}:lock", self.0))
    }
}

impl Deref for Key {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_namespaced_and_hide_codes() {
        assert_eq!(&*Key::tokens("wx1", "o1"), "wechat-auth:wx1:tokens:{o1}");
        let code = Key::code("wx1", "the-code");
        assert!(code.starts_with("wechat-auth:wx1:code:"));
        assert!(!code.contains("the-code"));
        assert!(!Key::state("wx1", "S").ends_with(":S"));
        assert_eq!(&*code.lock(), format!("{}:lock", &*code));
        assert_eq!(
            &*Key::refreshed("wx1", "fam", 3),
            "wechat-auth:wx1:refreshed:{fam.3}"
        );
        // A key and what derives from it share one Cluster hash tag.
        let scan = Key::scan("wx1", "s1");
        assert_eq!(&*scan.claim(), "wechat-auth:wx1:scan:{s1}:claim");
        assert_eq!(&*scan.claim_image(), "wechat-auth:wx1:scan:{s1}:image");
    }
}
