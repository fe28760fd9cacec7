//! How every key the layer writes to the [`Store`](super::Store) is spelled:
//! `wechat-auth:APPID:KIND:{ID}`, plus `:lock` / `:claim` / `:image` for coordination. The
//! core's own kinds (`code`, `refreshed`) are here; each channel and provider names its own
//! kinds where it keeps the records ([`Key::of`], [`Key::hashed`]).
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

    /// A channel's own key: `kind` names the record (`scan`, `push-seen`, …; each channel
    /// owns its kinds), `id` picks the slot.
    pub(crate) fn of(appid: &str, kind: &'static str, id: &str) -> Self {
        Self::new(appid, kind, id)
    }

    /// A channel's own key for a value that must not appear in the store (a code, a
    /// state): the value is hashed first.
    pub(crate) fn hashed(appid: &str, kind: &'static str, value: &str) -> Self {
        Self::new(appid, kind, &digest(value))
    }

    /// The outcome of exchanging `code` (only its digest is kept).
    pub(crate) fn code(appid: &str, code: &str) -> Self {
        Self::new(appid, "code", &digest(code))
    }

    /// The claim that generation `generation` of the session family `family` was refreshed.
    pub(crate) fn refreshed(appid: &str, family: &str, generation: u32) -> Self {
        Self::new(appid, "refreshed", &format!("{family}.{generation}"))
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
    fn channels_spell_their_own_keys_the_same_way() {
        assert_eq!(
            &*Key::of("wx1", "scan", "abc"),
            "wechat-auth:wx1:scan:{abc}"
        );
        let hashed = Key::hashed("wx1", "message", "123456");
        assert!(hashed.starts_with("wechat-auth:wx1:message:{"));
        assert!(!hashed.contains("123456"));
        assert_eq!(hashed, Key::hashed("wx1", "message", "123456"));
    }

    #[test]
    fn keys_are_namespaced_and_hide_codes() {
        assert_eq!(
            &*Key::of("wx1", "tokens", "o1"),
            "wechat-auth:wx1:tokens:{o1}"
        );
        let code = Key::code("wx1", "the-code");
        assert!(code.starts_with("wechat-auth:wx1:code:"));
        assert!(!code.contains("the-code"));
        assert!(!Key::hashed("wx1", "state", "S").ends_with(":S"));
        assert_eq!(&*code.lock(), format!("{}:lock", &*code));
        assert_eq!(
            &*Key::refreshed("wx1", "fam", 3),
            "wechat-auth:wx1:refreshed:{fam.3}"
        );
        // A key and what derives from it share one Cluster hash tag.
        let scan = Key::of("wx1", "scan", "s1");
        assert_eq!(&*scan.claim(), "wechat-auth:wx1:scan:{s1}:claim");
        assert_eq!(&*scan.claim_image(), "wechat-auth:wx1:scan:{s1}:image");
    }
}
