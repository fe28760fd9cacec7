//! The scan records both scan channels share: the scan channel ([`super::Scan`]) writes a
//! scene when a browser starts a scan and reads it while the browser waits; the push
//! channel ([`crate::channels::push`]) tells a pushed QR scene of ours from the account's own
//! ([`ScanRecords::login_scene`]) and records the scan WeChat reported
//! ([`ScanRecords::scanned`], in `follow_oa.rs`), looking the follower up and confirming the
//! scene when nobody confirms on the phone.

use std::{sync::Arc, time::Duration};

use wechat_auth_client::{Lang, WechatClient};

use super::{SCENE_PREFIX, Scene, valid_id};
use crate::{
    channels::Mount,
    core::{
        clock::now_unix,
        failure::Failure,
        login::Logins,
        store::{Store, keys::Key},
    },
    providers::wechat::{profiles::Profiles, tokens::GlobalTokens},
};

/// Where scans are kept, and how a reported scan becomes a login. Built at mount from the
/// checked settings; it keeps nothing in memory (every record is in the store), so the
/// scan and push channels share what it writes however many values of it there are.
pub(crate) struct ScanRecords {
    /// Where scenes, claims and markers live.
    pub(super) store: Arc<dyn Store>,
    /// The appid scenes are kept under: the Official Account's, else the mini program's
    /// (one namespace per site, whatever the scan goes via); `None`: no scan is possible.
    namespace: Option<String>,
    /// The Official Account's appid, when one is configured (follow-the-account scans).
    pub(super) official_account: Option<String>,
    /// Whether a follow-the-account scan waits for the user to confirm on the phone.
    pub(super) confirm: bool,
    /// How long a scan lives.
    pub(super) ttl: Duration,
    /// For the follower lookup: the WeChat client, the Official Account's global token, the
    /// language of the profile, and the time one lookup may take.
    pub(super) client: WechatClient,
    pub(super) tokens: Arc<GlobalTokens>,
    pub(super) lang: Lang,
    pub(super) http_timeout: Duration,
    /// Cached profiles and followers.
    pub(super) profiles: Arc<Profiles>,
    /// The `on_login` hook.
    pub(super) logins: Arc<Logins>,
    /// Whether the Official Account is verified: only then is `cgi-bin/user/info` called.
    pub(super) verified: bool,
    /// Whether message-code login is on: an Official Account with a push token.
    pub(super) message_login: bool,
    /// The site's host, as replies name it.
    pub(super) public_host: String,
}

impl ScanRecords {
    /// The records of the layer `e` serves (mount time only).
    pub(crate) fn new(e: &Mount) -> Self {
        let cfg = &e.cfg;
        let official_account = cfg
            .official_account
            .as_ref()
            .map(|oa| oa.app().appid().to_owned());
        let namespace = official_account
            .clone()
            .or_else(|| cfg.mini_program.as_ref().map(|m| m.appid().to_owned()));
        Self {
            store: e.store.clone(),
            namespace,
            official_account,
            confirm: cfg.push_settings.scan_confirm,
            ttl: cfg.scan_ttl,
            client: e.client.clone(),
            tokens: e.tokens.clone(),
            lang: cfg.lang,
            http_timeout: cfg.http_timeout,
            profiles: e.profiles.clone(),
            logins: e.logins.clone(),
            verified: cfg.message.verified,
            message_login: cfg
                .official_account
                .as_ref()
                .is_some_and(|oa| oa.push_token().is_some()),
            public_host: cfg.public_host.clone(),
        }
    }

    /// The store key of scene `id`, when scans are possible at all.
    pub(super) fn key(&self, id: &str) -> Option<Key> {
        Some(Key::of(self.namespace.as_deref()?, "scan", id))
    }

    /// Reads a live scene.
    pub(super) async fn load(&self, key: &Key) -> Result<Option<Scene>, Failure> {
        Ok(
            crate::core::store::get_json::<Scene>(self.store.as_ref(), key)
                .await?
                .filter(|s| s.expires_at > now_unix()),
        )
    }

    /// Writes a scene for the rest of its life, and wakes whoever waits on it.
    pub(super) async fn save(&self, key: &Key, scene: &Scene) -> Result<(), Failure> {
        self.save_with(key, scene, Vec::new()).await
    }

    /// [`save`](Self::save), with other writes of the same step (what WeChat said about the
    /// person) in the same round trip.
    pub(super) async fn save_with(
        &self,
        key: &Key,
        scene: &Scene,
        also: Vec<(String, Vec<u8>, Duration)>,
    ) -> Result<(), Failure> {
        let left = scene.expires_at.saturating_sub(now_unix()).max(1);
        let value = crate::core::store::to_json(key, scene)?;
        // One round trip: the record, the wake-up and the other writes together.
        self.store
            .set_and_publish_with(key, value, Duration::from_secs(left), None, also)
            .await?;
        Ok(())
    }

    /// The scan id of a pushed QR scene, when the scene is a login's: one this layer issued
    /// (with [`SCENE_PREFIX`]); or, from before the prefix, a bare id that names a scene still
    /// in the store. Anything else is the account's own code.
    pub(crate) async fn login_scene(&self, scene: &str) -> Option<String> {
        if let Some(id) = scene.strip_prefix(SCENE_PREFIX) {
            return valid_id(id).then(|| id.to_owned());
        }
        // A code made before the prefix: a login only while its scene exists.
        let key = self.key(scene).filter(|_| valid_id(scene))?;
        match self.load(&key).await {
            Ok(found) => found.map(|_| scene.to_owned()),
            Err(e) => {
                tracing::warn!(error = ?e, "store unavailable while looking up a QR scene; handed to the app");
                None
            }
        }
    }
}

/// The key of the phone's answer to scan `id` of `appid` (one answer per scan).
pub(crate) fn scan_confirm_key(appid: &str, id: &str) -> Key {
    Key::of(appid, "scan-confirm", id)
}
