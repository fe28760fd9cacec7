//! The follow-the-Official-Account scan: the parametric QR code drawn for the browser that
//! started it, and the confirmation that turns the scan event WeChat pushed into a
//! confirmed scene (once, whatever WeChat delivers again).

use super::*;
use crate::core::store::Deferred;
use crate::providers::wechat::profiles::Profile;

/// `GET PREFIX/scan/{id}/qr.svg`: the QR code of a pending scene, for the browser that
/// started it; anyone else gets the answer an unknown id gets.
pub(crate) async fn image(auth: &Scan, req: &Parts, id: &str) -> Result<Response<Body>, Failure> {
    let key = scene_key(auth, id)
        .filter(|_| valid_id(id))
        .ok_or(NOT_FOUND)?;
    let mine = browser_of(auth, req, id).ok_or(NOT_FOUND)?;
    let scene = load_scene(auth, &key)
        .await?
        .filter(|s| s.browser == mine)
        .ok_or(NOT_FOUND)?;
    let code = qrcode::QrCode::new(scene.url.as_bytes()).map_err(|_| NOT_FOUND)?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build();
    let mut res = Response::new(Body::from(svg));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// The value of a scene's claim written before the claim named its scanner.
const CLAIMED: &[u8] = b"scanned";

impl ScanRecords {
    /// Records that `openid` scanned the code of scene `scene_id`: once, whatever arrives
    /// again. With confirmation on, the scene waits in `scanned` for that user's answer on
    /// the phone ([`super::confirm`]); with it off, the user is looked up and the scene
    /// confirmed at once. Another user who scans the code after the first is told only that
    /// it was scanned already, and the requesting browser learns that a second WeChat
    /// scanned it. Returns what to tell the user, or `None` when the store failed before
    /// anything was decided, so that a re-delivery may try again.
    pub(crate) async fn scanned(&self, scene_id: String, openid: String) -> Option<ScanNotice> {
        let confirm = self.confirm;
        let gone = |id: &str| ScanNotice {
            id: id.to_owned(),
            requester: None,
            confirm,
            taken: false,
        };
        let key = self.key(&scene_id)?;
        self.official_account.as_ref()?;
        // A scene nobody started (or one long gone, claim and all) has nothing to claim, and
        // such a push writes nothing. A scene that exists goes through the claim, which says
        // whether this is its first scan: one transition per scene, on every instance (a
        // re-delivery, or another instance that has it under way, is acknowledged without
        // waiting). The claim is a `set_if_absent`, taken in the same round trip as the
        // scene is read ([`Store::get_and_claim`]): only one caller ever gets it, and nobody
        // waits for it. Its value is the first scanner's openid, so a later scan can tell a
        // re-delivery (or the same person scanning again) from another person.
        let claim = key.claim();
        let mine = openid.as_bytes().to_vec();
        let release = || async {
            let _ = self.store.delete_if_eq(&claim, &mine).await;
        };
        let found = match self
            .store
            .get_and_claim(&key, &claim, mine.clone(), self.ttl)
            .await
        {
            Ok(None) => return Some(gone(&scene_id)),
            Ok(Some((_, false))) => {
                return Some(self.scanned_again(&key, scene_id, &openid).await);
            }
            Ok(Some((found, true))) => found,
            Err(e) => {
                tracing::error!(error = %e, "store unavailable while recording a scan");
                return None;
            }
        };
        let mut scene = match crate::core::store::from_json::<Scene>(&key, &found) {
            Ok(s)
                if s.expires_at > now_unix()
                    && s.status == SceneStatus::Pending
                    && s.via == Via::FollowOa =>
            {
                s
            }
            Ok(_) => {
                // Expired or already handled: nothing changes (the claim says so to the
                // next).
                return Some(gone(&scene_id));
            }
            Err(e) => {
                tracing::error!(error = ?e, "an unreadable scan record");
                release().await;
                return None;
            }
        };
        let notice = ScanNotice {
            id: scene_id,
            requester: scene.requester.clone(),
            confirm,
            taken: false,
        };
        if !confirm {
            // Nobody confirms on the phone: pending → confirmed (or refused) in one write,
            // the claim keeping re-deliveries out meanwhile.
            if !self.log_in(&key, scene, openid).await {
                release().await;
                return None;
            }
            return Some(notice);
        }
        scene.status = SceneStatus::Scanned {
            openid: openid.clone(),
        };
        if let Err(e) = self.save(&key, &scene).await {
            tracing::error!(error = ?e, "store unavailable while recording a scan");
            release().await;
            return None;
        }
        tracing::debug!(confirm, "scan recorded");
        Some(notice)
    }

    /// A scan of a code whose claim is taken: by this same user (WeChat re-delivering, or
    /// the person scanning again), who is told the same again; or by someone else, who is
    /// told only that the code was scanned already (never who asked for it), while the
    /// browser that asked is told that a second WeChat scanned its code.
    async fn scanned_again(&self, key: &Key, scene_id: String, openid: &str) -> ScanNotice {
        let confirm = self.confirm;
        let scene = self.load(key).await.ok().flatten();
        let first = self.store.get(&key.claim()).await.ok().flatten();
        let same = match first.as_deref() {
            Some(v) if v != CLAIMED => v == openid.as_bytes(),
            // A claim from before it named the scanner: the scene says who scanned.
            _ => match scene.as_ref().map(|s| &s.status) {
                Some(SceneStatus::Scanned { openid: who }) => who == openid,
                Some(SceneStatus::Confirmed { user }) => user.openid == openid,
                _ => false,
            },
        };
        if same {
            return ScanNotice {
                id: scene_id,
                requester: scene.and_then(|s| s.requester),
                confirm,
                taken: false,
            };
        }
        if scene.is_some() {
            let marked = self
                .store
                .set_if_absent(&key.others(), b"1".to_vec(), self.ttl)
                .await;
            match marked {
                // Wake the waiting browser: it has news.
                Ok(true) => {
                    if let Err(e) = self.store.publish(key, Vec::new()).await {
                        tracing::warn!(error = %e, "could not tell the browser of a second scanner");
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "could not record a second scanner"),
            }
            tracing::info!("a second WeChat user scanned a scan login's code");
        }
        ScanNotice {
            id: scene_id,
            requester: None,
            confirm,
            taken: true,
        }
    }

    /// What `cgi-bin/user/info` says about follower `openid` (asked when this person did
    /// not scan within `userinfo_ttl`; the answer kept with the scan's outcome, `keep`).
    /// `None` when the lookup failed or took too long: the login stands without the unionid
    /// and nickname, so reading them gets one attempt's time, not every retry's (as the
    /// website callback's profile read): a slow `cgi-bin/user/info` must not keep the
    /// waiting browser for `(retries + 1) × http_timeout`.
    async fn follower(&self, appid: &str, openid: &str, keep: &Deferred) -> Option<Profile> {
        let budget = self.http_timeout;
        let read = self.tokens.with_token(appid, |token| {
            let openid = openid.to_owned();
            let (client, lang) = (self.client.clone(), self.lang);
            async move { client.user_info(&token, &openid, lang).await }
        });
        match tokio::time::timeout(budget, read).await {
            Ok(Ok(info)) => {
                let known = Profile {
                    nickname: info.nickname,
                    avatar_url: info.headimgurl,
                    unionid: info.unionid,
                };
                self.profiles.save_follower(appid, openid, &known, keep);
                Some(known)
            }
            Ok(Err(e)) => {
                tracing::warn!(error = ?e, "cgi-bin/user/info failed; confirming without unionid");
                None
            }
            Err(_) => {
                tracing::warn!(
                    budget_ms = u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
                    "cgi-bin/user/info took too long; confirming without unionid"
                );
                None
            }
        }
    }

    /// Looks the user up, runs `on_login`, and confirms (or refuses) `scene`; `false` when
    /// the outcome could not be stored.
    pub(super) async fn log_in(&self, key: &Key, mut scene: Scene, openid: String) -> bool {
        let keep = Deferred::default();
        let Some(status) = self.decide(scene.via, openid, &keep).await else {
            return false;
        };
        scene.status = status;
        if let Err(e) = self.save_with(key, &scene, keep.take()).await {
            tracing::error!(error = ?e, "could not record a confirmed scan");
            return false;
        }
        tracing::debug!("scan confirmed");
        true
    }

    /// Who `openid` is (the follower lookup, only for a verified account) and what
    /// `on_login` says: the scene's outcome. `None` without an Official Account. What it
    /// learnt goes in `keep`, to be stored with the outcome.
    pub(super) async fn decide(
        &self,
        via: Via,
        openid: String,
        keep: &Deferred,
    ) -> Option<SceneStatus> {
        let appid = self.official_account.clone()?;
        let channel = match via {
            Via::Message => Channel::MessageCode,
            _ => Channel::ScanFollow,
        };
        let mut user = WechatUser::new(appid.clone(), openid.clone(), channel);
        // An unverified account has no `cgi-bin/user/info`: never asked.
        let (follower, profile) = self
            .profiles
            .known_person(&appid, &openid, self.verified)
            .await;
        let info = match follower {
            Some(known) => Some(known),
            None if self.verified => self.follower(&appid, &openid, keep).await,
            None => None,
        };
        if let Some(info) = info {
            user.unionid = info.unionid.filter(|u| !u.is_empty());
            user.nickname = Some(info.nickname).filter(|n| !n.is_empty());
            user.avatar_url = Some(info.avatar_url).filter(|h| !h.is_empty());
        }
        if user.nickname.is_none()
            && let Some(p) = profile
        {
            user.nickname = Some(p.nickname).filter(|n| !n.is_empty());
            user.avatar_url = Some(p.avatar_url).filter(|a| !a.is_empty());
            user.unionid = user.unionid.or(p.unionid);
        }
        Some(match self.logins.run_on_login(user.clone().into()).await {
            Ok(id) => {
                user.subject = id.subject().map(str::to_owned);
                SceneStatus::Confirmed { user }
            }
            Err(r) => SceneStatus::Refused {
                message: r.message().to_owned(),
            },
        })
    }
}
