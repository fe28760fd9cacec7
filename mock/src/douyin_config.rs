//! Douyin (抖音) apps of the mock, as configured: Open Platform apps (website / mobile, one
//! `client_key`) and mini-apps (`tt…` appid), and the ids a simulated user has in them.
//! Plain data: the pages and APIs are in `douyin` and `douyin_mini`.

use base64::Engine as _;
use sha1::{Digest, Sha1};

use std::collections::HashSet;
use std::io;

use super::config::{MockConfig, MockUser};
use super::douyin_apps::{MockDouyinApp, MockDouyinMiniApp};

/// The one simulated Douyin developer entity every Douyin app of the mock belongs to: a user's
/// `union_id` is derived from it, so it is the same in every Douyin app (and differs from the
/// WeChat unionid).
const DOUYIN_DEVELOPER: &str = "mock-douyin-developer";

/// SHA-256 of the parts (NUL-separated), URL-safe base64 (43 characters).
fn digest(parts: &[&str]) -> String {
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize())
}

/// SHA-1 of the parts as 40 lowercase hex digits.
fn hex_digest(parts: &[&str]) -> String {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

impl MockUser {
    /// The user's Douyin `open_id` in the Douyin app or mini-app `client_key_or_appid` (a
    /// different one per app, stable across restarts): `_000` and 32 characters of
    /// `[A-Za-z0-9_-]`, the shape of real ones.
    ///
    /// ```
    /// use wechat_auth_mock::MockUser;
    ///
    /// let alice = MockUser::derive("alice", "爱丽丝", "");
    /// let id = alice.douyin_open_id_for("awmock0000000001");
    /// assert!(id.starts_with("_000") && id.len() == 36);
    /// assert_ne!(id, alice.douyin_open_id_for("ttmock00000000001"));
    /// ```
    pub fn douyin_open_id_for(&self, client_key_or_appid: &str) -> String {
        let own = digest(&["douyin open_id", client_key_or_appid, &self.name]);
        format!("_000{}", &own[..32])
    }

    /// The user's Douyin `union_id`: one for every Douyin app of the mock (they belong to one
    /// developer entity), different from the WeChat [`MockUser::unionid`]. Shaped like a UUID,
    /// as real ones are.
    ///
    /// ```
    /// use wechat_auth_mock::MockUser;
    ///
    /// let bob = MockUser::derive("bob", "Bob", "");
    /// let id = bob.douyin_union_id();
    /// assert_eq!(id.len(), 36);
    /// assert_eq!(id.matches('-').count(), 4);
    /// assert_ne!(id, bob.unionid);
    /// assert_ne!(id, MockUser::derive("carol", "Carol", "").douyin_union_id());
    /// ```
    pub fn douyin_union_id(&self) -> String {
        let h = hex_digest(&["douyin union_id", DOUYIN_DEVELOPER, &self.name]);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    /// The `anonymous_openid` a mini-app sees for this user's device before login (from a
    /// `tt.login()` `anonymousCode`): one per mini-app.
    ///
    /// ```
    /// use wechat_auth_mock::MockUser;
    ///
    /// let carol = MockUser::derive("carol", "Carol", "");
    /// let anon = carol.douyin_anonymous_openid_for("ttmock00000000001");
    /// assert_ne!(anon, carol.douyin_open_id_for("ttmock00000000001"));
    /// assert_eq!(anon.len(), 36);
    /// ```
    pub fn douyin_anonymous_openid_for(&self, appid: &str) -> String {
        let own = digest(&["douyin anonymous_openid", appid, &self.name]);
        format!("_000{}", &own[..32])
    }
}

/// Whether `id` can be a client key or a mini-app appid: 1..=64 letters, digits or `_`.
pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl MockConfig {
    /// The Douyin Open Platform apps: [`MockDouyinApp::default_app`] first, then any added.
    ///
    /// ```
    /// let cfg = wechat_auth_mock::MockConfig::default();
    /// assert_eq!(cfg.douyin_apps()[0].client_key, "awmock0000000001");
    /// ```
    pub fn douyin_apps(&self) -> &[MockDouyinApp] {
        &self.douyin_apps
    }

    /// Replaces the primary Douyin app (`MockWechat::douyin_app()`).
    ///
    /// ```
    /// use wechat_auth_mock::{MockConfig, MockDouyinApp};
    ///
    /// let cfg = MockConfig::default().with_douyin_app(MockDouyinApp::new("awmine0000000001", "s"));
    /// assert_eq!(cfg.douyin_apps().len(), 1);
    /// ```
    pub fn with_douyin_app(mut self, app: MockDouyinApp) -> Self {
        match self.douyin_apps.first_mut() {
            Some(slot) => *slot = app,
            None => self.douyin_apps.push(app),
        }
        self
    }

    /// Adds a Douyin app (its client key must be new).
    ///
    /// ```
    /// use wechat_auth_mock::{MockConfig, MockDouyinApp};
    ///
    /// let cfg = MockConfig::default().add_douyin_app(MockDouyinApp::new("awother000000002", "s"));
    /// assert_eq!(cfg.douyin_apps().len(), 2);
    /// ```
    pub fn add_douyin_app(mut self, app: MockDouyinApp) -> Self {
        self.douyin_apps.push(app);
        self
    }

    /// The Douyin mini-apps: [`MockDouyinMiniApp::default_miniapp`] first, then any added.
    ///
    /// ```
    /// assert_eq!(wechat_auth_mock::MockConfig::default().douyin_miniapps().len(), 1);
    /// ```
    pub fn douyin_miniapps(&self) -> &[MockDouyinMiniApp] {
        &self.douyin_miniapps
    }

    /// Replaces the primary Douyin mini-app (`MockWechat::douyin_miniapp()`).
    ///
    /// ```
    /// use wechat_auth_mock::{MockConfig, MockDouyinMiniApp};
    ///
    /// let cfg = MockConfig::default().with_douyin_miniapp(MockDouyinMiniApp::new("ttmine", "s"));
    /// assert_eq!(cfg.douyin_miniapps()[0].appid, "ttmine");
    /// ```
    pub fn with_douyin_miniapp(mut self, mini: MockDouyinMiniApp) -> Self {
        match self.douyin_miniapps.first_mut() {
            Some(slot) => *slot = mini,
            None => self.douyin_miniapps.push(mini),
        }
        self
    }

    /// Adds a Douyin mini-app (its appid must be new).
    ///
    /// ```
    /// use wechat_auth_mock::{MockConfig, MockDouyinMiniApp};
    ///
    /// let cfg = MockConfig::default().add_douyin_miniapp(MockDouyinMiniApp::new("ttother", "s"));
    /// assert_eq!(cfg.douyin_miniapps().len(), 2);
    /// ```
    pub fn add_douyin_miniapp(mut self, mini: MockDouyinMiniApp) -> Self {
        self.douyin_miniapps.push(mini);
        self
    }

    /// Douyin ids are well-formed, unique, and no WeChat or WeCom app has them; secrets are
    /// not empty.
    pub(crate) fn validate_douyin(&self, wechat_appids: &HashSet<&str>) -> io::Result<()> {
        let bad = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        if self.douyin_apps.is_empty() || self.douyin_miniapps.is_empty() {
            return bad("mock config: at least one Douyin app and one Douyin mini-app".to_owned());
        }
        let wecom = |id: &str| {
            (self.wecom_corps.iter()).any(|c| c.corp_id == id)
                || (self.wecom_suites.iter()).any(|w| w.suite_id == id)
        };
        let mut seen = HashSet::new();
        let ids = (self.douyin_apps.iter())
            .map(|a| (a.client_key.as_str(), a.client_secret.as_str()))
            .chain((self.douyin_miniapps.iter()).map(|m| (m.appid.as_str(), m.secret.as_str())));
        for (id, secret) in ids {
            if !valid_id(id) || wechat_appids.contains(id) || wecom(id) || !seen.insert(id) {
                return bad(format!("mock douyin app: invalid or duplicate id {id:?}"));
            }
            if secret.is_empty() {
                return bad(format!("mock douyin app {id}: empty secret"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_douyin_configs_are_refused() {
        assert!(MockConfig::default().validate().is_ok());
        let dup = MockConfig::default().add_douyin_app(MockDouyinApp::default_app());
        assert!(dup.validate().is_err());
        let clash = MockConfig::default()
            .add_douyin_miniapp(MockDouyinMiniApp::new("awmock0000000001", "s"));
        assert!(clash.validate().is_err());
        let wechat =
            MockConfig::default().add_douyin_app(MockDouyinApp::new("wx1000000000000001", "s"));
        assert!(wechat.validate().is_err());
        let empty = MockConfig::default().with_douyin_app(MockDouyinApp::new("awx", ""));
        assert!(empty.validate().is_err());
        let shape = MockConfig::default().with_douyin_miniapp(MockDouyinMiniApp::new("tt x", "s"));
        assert!(shape.validate().is_err());
    }

    #[test]
    fn debug_shows_no_secret() {
        let app = format!("{:?}", MockDouyinApp::default_app());
        assert!(app.contains("awmock0000000001") && !app.contains("d0e1f2a3b4c5"));
        let mini = format!("{:?}", MockDouyinMiniApp::default_miniapp());
        assert!(mini.contains("ttmock00000000001") && !mini.contains("7a6b5c4d3e2f"));
    }

    #[test]
    fn ids_are_stable_per_app_and_the_union_id_is_shared() {
        let a = MockUser::derive("alice", "x", "");
        let a2 = MockUser::derive("alice", "y", "");
        assert_eq!(a.douyin_open_id_for("aw1"), a2.douyin_open_id_for("aw1"));
        assert_ne!(a.douyin_open_id_for("aw1"), a.douyin_open_id_for("aw2"));
        assert_ne!(
            a.douyin_open_id_for("aw1"),
            MockUser::derive("bob", "x", "").douyin_open_id_for("aw1")
        );
        assert_eq!(a.douyin_union_id(), a2.douyin_union_id());
        assert!(
            a.douyin_open_id_for("aw1")[4..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        );
    }
}
