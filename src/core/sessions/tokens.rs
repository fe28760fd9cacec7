//! Sessions as signed JWTs, and the signed state cookie that binds a login to its browser.
//!
//! A session is an HS256 JWT (jsonwebtoken) carried in the `wechat_session` cookie or in
//! `Authorization: Bearer`. Verifying one needs only the key ring, so any number of
//! instances can serve the same users. The first key signs; every key verifies, so a key
//! can be rotated in front of the old one without logging anybody out.
//!
//! Verified tokens are remembered in a small bounded cache keyed by the token text, so the
//! guard pays for HMAC and JSON parsing once per token and minute, not once per request.

use std::{
    collections::HashMap,
    hash::BuildHasherDefault,
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use wechat_auth_client::Secret;

use crate::user::{
    Channel, DouyinUser, Identity, Provider, Session, TokenClass, WechatUser, WecomUser,
};

/// The issuer every token of this crate carries.
const ISSUER: &str = "wechat-auth";
/// The audience of session tokens.
const AUD_SESSION: &str = "wechat-auth/session";
/// Clock skew tolerated between instances, in seconds.
const LEEWAY: u64 = 5;

use crate::core::clock::{now_unix, random_token};

/// The claims of a session token. Short names keep cookies small; a claim a provider does not
/// use is left out, so a WeChat token is what it was before identities were
/// provider-neutral, and a token of that time (no `pv`) is read as WeChat's.
#[derive(Debug, Serialize, Deserialize)]
struct SessionClaims {
    iss: String,
    aud: String,
    /// [`Identity::key`].
    sub: String,
    /// The [`Provider`]; absent means WeChat.
    #[serde(default, skip_serializing_if = "is_wechat")]
    pv: Provider,
    /// WeChat: the openid.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    oid: String,
    /// WeChat: the unionid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    uid: Option<String>,
    /// WeChat: the appid.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    aid: String,
    /// WeCom: the corp id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cid: Option<String>,
    /// WeCom: a member's user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wu: Option<String>,
    /// WeCom: a non-member's openid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wo: Option<String>,
    /// Douyin: the client key (or mini-app appid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dk: Option<String>,
    /// Douyin: the open_id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dop: Option<String>,
    /// Douyin: the union_id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dun: Option<String>,
    ch: Channel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    av: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sj: Option<String>,
    jti: String,
    iat: u64,
    exp: u64,
    /// Web (cookie) or native (bearer); absent means web.
    #[serde(default)]
    tc: TokenClass,
    /// The login this token descends from; absent means the token's own `jti`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fam: Option<String>,
    /// Refreshes since the login.
    #[serde(default, skip_serializing_if = "is_zero")]
    gn: u32,
    /// When the login happened; absent means `iat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ait: Option<u64>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_wechat(p: &Provider) -> bool {
    *p == Provider::Wechat
}

impl SessionClaims {
    /// The claims of `identity`, with everything else empty.
    fn of(identity: &Identity) -> Self {
        let mut c = SessionClaims {
            iss: ISSUER.to_owned(),
            aud: AUD_SESSION.to_owned(),
            sub: identity.key(),
            pv: identity.provider(),
            oid: String::new(),
            uid: None,
            aid: String::new(),
            cid: None,
            wu: None,
            wo: None,
            dk: None,
            dop: None,
            dun: None,
            ch: identity.channel(),
            nn: None,
            av: None,
            sj: identity.subject().map(str::to_owned),
            jti: String::new(),
            iat: 0,
            exp: 0,
            tc: TokenClass::Web,
            fam: None,
            gn: 0,
            ait: None,
        };
        match identity {
            Identity::Wechat(u) => {
                c.oid.clone_from(&u.openid);
                c.uid.clone_from(&u.unionid);
                c.aid.clone_from(&u.appid);
                c.nn.clone_from(&u.nickname);
                c.av.clone_from(&u.avatar_url);
            }
            Identity::Wecom(u) => {
                c.cid = Some(u.corp_id.clone());
                c.wu.clone_from(&u.user_id);
                c.wo.clone_from(&u.openid);
                c.nn.clone_from(&u.nickname);
                c.av.clone_from(&u.avatar_url);
            }
            Identity::Douyin(u) => {
                c.dk = Some(u.client_key.clone());
                c.dop = Some(u.open_id.clone());
                c.dun.clone_from(&u.union_id);
                c.nn.clone_from(&u.nickname);
                c.av.clone_from(&u.avatar_url);
            }
        }
        c
    }

    /// The identity the claims carry; `None` when the provider's ids are missing (no token
    /// of ours lacks them).
    fn identity(&mut self) -> Option<Identity> {
        let (channel, nickname, avatar_url, subject) =
            (self.ch, self.nn.take(), self.av.take(), self.sj.take());
        Some(match self.pv {
            Provider::Wechat => {
                if self.oid.is_empty() || self.aid.is_empty() {
                    return None;
                }
                Identity::Wechat(WechatUser {
                    openid: std::mem::take(&mut self.oid),
                    unionid: self.uid.take(),
                    appid: std::mem::take(&mut self.aid),
                    channel,
                    nickname,
                    avatar_url,
                    subject,
                })
            }
            Provider::Wecom => {
                if self.wu.is_some() == self.wo.is_some() {
                    return None;
                }
                Identity::Wecom(WecomUser {
                    corp_id: self.cid.take()?,
                    user_id: self.wu.take(),
                    openid: self.wo.take(),
                    // What a WeCom login read beyond the ids is for `on_login`, not sessions.
                    open_userid: None,
                    detail: None,
                    channel,
                    nickname,
                    avatar_url,
                    subject,
                })
            }
            Provider::Douyin => Identity::Douyin(DouyinUser {
                client_key: self.dk.take()?,
                open_id: self.dop.take()?,
                union_id: self.dun.take(),
                channel,
                nickname,
                avatar_url,
                subject,
            }),
        })
    }
}

/// What a state ticket is for. Each kind is signed with an audience of its own (never the
/// sessions'), and verifying one names the kind it expects, so a ticket of one kind can
/// never be replayed as another (a scan proof as a login state, a confirm page's cookie as
/// its form token, …) even where the bound values would match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TicketPurpose {
    /// The login's state cookie (`wechat_state_*`): website and Official Account logins,
    /// shown as a page, a popup or an embedded QR, relayed or not.
    Login,
    /// A browser's proof that it started a scan (`wechat_scan_*`).
    ScanBrowser,
    /// The scan confirm page's own web authorization state (`wechat_cstate_*`).
    ConfirmState,
    /// Which phone user opened a scan confirm page (`wechat_cuser_*`).
    ConfirmUser,
    /// The scan confirm page's form token.
    ConfirmForm,
}

impl TicketPurpose {
    /// Every purpose, in the order of their validations in [`SessionKeys`].
    const ALL: [Self; 5] = [
        Self::Login,
        Self::ScanBrowser,
        Self::ConfirmState,
        Self::ConfirmUser,
        Self::ConfirmForm,
    ];

    /// The audience tickets of this purpose are signed for.
    fn audience(self) -> &'static str {
        match self {
            Self::Login => "wechat-auth/state/login",
            Self::ScanBrowser => "wechat-auth/state/scan",
            Self::ConfirmState => "wechat-auth/state/confirm-state",
            Self::ConfirmUser => "wechat-auth/state/confirm-user",
            Self::ConfirmForm => "wechat-auth/state/confirm-form",
        }
    }
}

/// The claims of a state ticket: what the callback needs to finish a login safely.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct StateTicket {
    /// The `state` sent to WeChat; the ticket is only valid for this exact value.
    pub(crate) st: String,
    /// Where to go after the login (already checked to be safe).
    pub(crate) rt: String,
    /// The channel the login was started for.
    pub(crate) ch: Channel,
    pub(crate) exp: u64,
    /// The popup's nonce (`login?display=popup&nonce=…`), which the callback's popup page
    /// echoes so that the opener knows the message is about its own login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pn: Option<String>,
    #[serde(default)]
    iss: String,
    /// The [`TicketPurpose`]'s audience.
    #[serde(default)]
    aud: String,
}

impl StateTicket {
    /// A ticket of kind `purpose` for `state`, valid for `ttl`.
    pub(crate) fn new(
        purpose: TicketPurpose,
        state: String,
        return_to: String,
        channel: Channel,
        ttl: Duration,
    ) -> Self {
        Self {
            st: state,
            rt: return_to,
            ch: channel,
            exp: now_unix() + ttl.as_secs(),
            pn: None,
            iss: ISSUER.to_owned(),
            aud: purpose.audience().to_owned(),
        }
    }

    /// The ticket carrying the popup's nonce.
    pub(crate) fn with_nonce(mut self, nonce: Option<String>) -> Self {
        self.pn = nonce;
        self
    }
}

/// An issued session token, and what the layer must know of it later (a native login
/// that is repeated gets the same token back only while it is fresh and not revoked).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IssuedToken {
    pub(crate) token: Secret,
    pub(crate) iat: u64,
    pub(crate) exp: u64,
    pub(crate) family: String,
    pub(crate) generation: u32,
}

/// How long a session may live, and what it descends from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lifetimes {
    /// Lifetime of one token.
    pub(crate) ttl: Duration,
    /// Longest time from the login to the end of its last refreshed token.
    pub(crate) max: Duration,
}

/// The key ring plus the verified-token cache.
pub(crate) struct SessionKeys {
    signing: EncodingKey,
    verifying: Vec<DecodingKey>,
    session_validation: Validation,
    /// One per [`TicketPurpose`], in the order of [`TicketPurpose::ALL`].
    state_validation: [Validation; TicketPurpose::ALL.len()],
    verified: VerifiedCache,
}

/// Verified tokens, so the guard pays for HMAC and JSON once per token, not per request.
///
/// Read-mostly and on every request's path, so it is kept lean: a few `RwLock`ed maps keyed
/// by 8 characters of the token's signature, read from the token's end (an HMAC: already
/// uniformly spread, so one multiplication is all the hashing needed, and only verified
/// tokens are ever inserted). A hit counts only when the whole
/// token is the same. Bounded: a shard that fills up is emptied (entries are re-verified on
/// their next use). Expiry is checked on every hit; revocation is checked by the caller.
struct VerifiedCache {
    shards: [RwLock<Shard>; SHARDS],
}

/// One shard of [`VerifiedCache`].
type Shard = HashMap<u64, Arc<Verified>, BuildHasherDefault<PassThrough>>;

const SHARDS: usize = 8;
/// Entries per shard.
const SHARD_CAPACITY: usize = 4096;

/// A `Hasher` for keys that are already random, up to one multiplication.
#[derive(Default)]
struct PassThrough(u64);

impl std::hash::Hasher for PassThrough {
    fn finish(&self) -> u64 {
        // Folds the characters' varying bits into both the low bits (the bucket) and the
        // top 7 (the tag).
        self.0.wrapping_mul(0xD6E8_FEB8_6659_FD93).rotate_left(32)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl VerifiedCache {
    fn new() -> Self {
        Self {
            shards: std::array::from_fn(|_| RwLock::new(HashMap::default())),
        }
    }

    /// The cache key of a token: the 8 characters before its last one, which are signature
    /// characters for any token the cache can hold (the last one carries only 4 bits of the
    /// HMAC, so it is left out). Taken from the end, no search for the signature's dot is
    /// needed.
    fn key(token: &[u8]) -> u64 {
        let end = token.len().saturating_sub(1);
        let start = end.saturating_sub(8);
        let mut k = [0u8; 8];
        k[..end - start].copy_from_slice(&token[start..end]);
        u64::from_le_bytes(k)
    }

    fn shard(
        &self,
        key: u64,
    ) -> &RwLock<HashMap<u64, Arc<Verified>, BuildHasherDefault<PassThrough>>> {
        // The key is 8 ASCII characters, 6 varying bits in each byte: one multiplication
        // spreads them, and the top bits of the product pick the shard (the map's hasher
        // spreads them differently for its buckets and tags).
        &self.shards[(key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 61) as usize % SHARDS]
    }

    /// The session of `token` if it verified before, whether or not it has expired since,
    /// and the moment it stops being valid.
    fn get(&self, token: &[u8]) -> Option<(Arc<Session>, SystemTime)> {
        let key = Self::key(token);
        let shard = self.shard(key).read().unwrap_or_else(|e| e.into_inner());
        let hit = shard.get(&key)?;
        (hit.token.as_bytes() == token).then(|| (hit.session.clone(), hit.until))
    }

    fn insert(&self, token: &str, session: Arc<Session>) {
        // An `exp` past what `SystemTime` can hold is not remembered (it verifies each time).
        let Some(until) =
            UNIX_EPOCH.checked_add(Duration::from_secs(session.exp.saturating_add(LEEWAY)))
        else {
            return;
        };
        let key = Self::key(token.as_bytes());
        let mut shard = self.shard(key).write().unwrap_or_else(|e| e.into_inner());
        if shard.len() >= SHARD_CAPACITY {
            shard.clear();
        }
        shard.insert(
            key,
            Arc::new(Verified {
                token: token.into(),
                session,
                until,
            }),
        );
    }
}

/// A token that passed verification, and what it says.
struct Verified {
    token: Box<str>,
    session: Arc<Session>,
    /// `exp` plus the leeway, as a `SystemTime`: a hit compares it with the clock directly
    /// (turning the clock into Unix seconds costs more than the rest of the expiry check).
    until: SystemTime,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeys")
            .field("keys", &self.verifying.len())
            .finish_non_exhaustive()
    }
}

impl SessionKeys {
    /// Builds the ring from the configured secrets; the first one signs.
    pub(crate) fn new(secrets: &[Secret]) -> Self {
        let signing = EncodingKey::from_secret(secrets[0].expose().as_bytes());
        let verifying = secrets
            .iter()
            .map(|s| DecodingKey::from_secret(s.expose().as_bytes()))
            .collect();
        let validation = |aud: &str| {
            let mut v = Validation::new(Algorithm::HS256);
            v.leeway = LEEWAY;
            v.set_issuer(&[ISSUER]);
            v.set_audience(&[aud]);
            v.set_required_spec_claims(&["exp", "iss", "aud"]);
            v
        };
        Self {
            signing,
            verifying,
            session_validation: validation(AUD_SESSION),
            state_validation: TicketPurpose::ALL.map(|p| validation(p.audience())),
            verified: VerifiedCache::new(),
        }
    }

    /// Signs a session for `identity` of class `class`. A refresh passes the `parent` session:
    /// the new token keeps its family and login time and counts one generation more. The
    /// token ends after `life.ttl`, and never later than `life.max` after the login.
    pub(crate) fn issue(
        &self,
        identity: &Identity,
        class: TokenClass,
        life: Lifetimes,
        parent: Option<&Session>,
    ) -> IssuedToken {
        let iat = now_unix();
        let jti = random_token(22);
        let (family, generation, auth_time) = match parent {
            Some(p) => (
                p.family.clone(),
                p.generation.saturating_add(1),
                p.auth_time,
            ),
            None => (jti.clone(), 0, iat),
        };
        let exp = iat
            .saturating_add(life.ttl.as_secs())
            .min(auth_time.saturating_add(life.max.as_secs()));
        let claims = SessionClaims {
            fam: (family != jti).then(|| family.clone()),
            jti,
            iat,
            exp,
            tc: class,
            gn: generation,
            ait: (auth_time != iat).then_some(auth_time),
            ..SessionClaims::of(identity)
        };
        // Encoding our own serializable struct with an HMAC key cannot fail.
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.signing)
            .unwrap_or_default();
        IssuedToken {
            token: Secret::new(token),
            iat,
            exp,
            family,
            generation,
        }
    }

    /// Verifies a session token. Tampered, expired, `alg: none`, wrong-audience and
    /// unknown-key tokens are all simply `None`. (The guard calls
    /// [`SessionKeys::verify_bytes`] on what the request carried.)
    #[cfg(test)]
    pub(crate) fn verify(&self, token: &str) -> Option<Arc<Session>> {
        self.verify_bytes(token.as_bytes())
    }

    /// Verifies a session token as the request carried it, in bytes: a token identical to
    /// one verified before is a hit without looking at its bytes again (not even as UTF-8).
    /// Tampered, expired, `alg: none`, wrong-audience and unknown-key tokens are all `None`.
    pub(crate) fn verify_bytes(&self, token: &[u8]) -> Option<Arc<Session>> {
        if token.len() > 4096 {
            return None;
        }
        if let Some((session, until)) = self.verified.get(token) {
            return (SystemTime::now() < until).then_some(session);
        }
        let token = std::str::from_utf8(token).ok()?;
        let mut claims: SessionClaims = self
            .verifying
            .iter()
            .find_map(|key| jsonwebtoken::decode(token, key, &self.session_validation).ok())?
            .claims;
        let session = Arc::new(Session {
            identity: claims.identity()?,
            family: claims.fam.unwrap_or(claims.jti),
            exp: claims.exp,
            class: claims.tc,
            generation: claims.gn,
            auth_time: claims.ait.unwrap_or(claims.iat),
        });
        self.verified.insert(token, session.clone());
        Some(session)
    }

    /// The session of `token` if it verified before (the cache only, no signature check):
    /// tells a revoked token from a forged one after [`verify`](Self::verify) said no, at no
    /// extra cost for forged ones (a token that verified is in the cache).
    pub(crate) fn verified_before(&self, token: &[u8]) -> Option<Arc<Session>> {
        self.verified.get(token).map(|(session, _)| session)
    }

    /// Signs a state ticket (for the purpose it was made for).
    pub(crate) fn sign_state(&self, ticket: &StateTicket) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), ticket, &self.signing)
            .unwrap_or_default()
    }

    /// Verifies a signed ticket's value: that it was signed for `purpose`, and that it
    /// belongs to `state`.
    pub(crate) fn verify_state(
        &self,
        cookie_value: &str,
        state: &str,
        purpose: TicketPurpose,
    ) -> Option<StateTicket> {
        if cookie_value.len() > 4096 {
            return None;
        }
        let validation = &self.state_validation[purpose as usize];
        let ticket: StateTicket = self
            .verifying
            .iter()
            .find_map(|key| jsonwebtoken::decode(cookie_value, key, validation).ok())?
            .claims;
        (ticket.st == state).then_some(ticket)
    }
}

/// The deny-list as the guard consults it: in process, no I/O.
///
/// One entry per login (token family), not per token: "every token of family `F` up to
/// generation `g` is revoked, until `until`". A logout revokes the family through the
/// token's generation; a refresh revokes it through the parent's, so a chain of refreshes
/// keeps one entry, and the list holds at most one entry per login that ended early. The
/// store keeps the authoritative copy; other instances learn of new entries by
/// notification.
#[derive(Debug, Default)]
pub(crate) struct Revocations {
    any: AtomicBool,
    ids: RwLock<HashMap<String, Revoked>>,
    /// The list's length after the last sweep of lapsed entries.
    swept: std::sync::atomic::AtomicUsize,
}

/// One family's entry in [`Revocations`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Revoked {
    through: u32,
    until: u64,
}

impl Revocations {
    /// Records every token of `family` up to generation `through` as revoked until `until`
    /// (Unix seconds). An entry only ever widens. Lapsed entries are swept when the list has
    /// doubled since the last sweep, so inserting stays cheap on average.
    pub(crate) fn insert(&self, family: &str, through: u32, until: u64) {
        let now = now_unix();
        if until.saturating_add(LEEWAY) <= now {
            return;
        }
        let mut ids = self.ids.write().unwrap_or_else(|e| e.into_inner());
        let entry = ids
            .entry(family.to_owned())
            .or_insert(Revoked { through, until });
        entry.through = entry.through.max(through);
        entry.until = entry.until.max(until);
        let swept = self.swept.load(Ordering::Relaxed);
        if ids.len() > 2 * swept + 1024 {
            ids.retain(|_, r| r.until.saturating_add(LEEWAY) > now);
            self.swept.store(ids.len(), Ordering::Relaxed);
        }
        self.any.store(!ids.is_empty(), Ordering::Release);
    }

    /// Whether `session` is revoked.
    pub(crate) fn contains(&self, session: &Session) -> bool {
        self.covers(&session.family, session.generation)
    }

    /// Whether generation `generation` of `family` is revoked.
    pub(crate) fn covers(&self, family: &str, generation: u32) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        self.ids
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(family)
            .is_some_and(|r| generation <= r.through)
    }

    /// How many families are listed.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ids.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn keys(secrets: &[&str]) -> SessionKeys {
        SessionKeys::new(&secrets.iter().map(|s| Secret::new(*s)).collect::<Vec<_>>())
    }

    fn web(k: &SessionKeys, user: &WechatUser, secs: u64) -> IssuedToken {
        k.issue(
            &user.clone().into(),
            TokenClass::Web,
            Lifetimes {
                ttl: Duration::from_secs(secs),
                max: Duration::from_secs(30 * 24 * 3600),
            },
            None,
        )
    }

    const K1: &str = "0123456789abcdef0123456789abcdef-key-one";
    const K2: &str = "0123456789abcdef0123456789abcdef-key-two";

    fn alice() -> WechatUser {
        WechatUser::new("wx1", "oAlice", Channel::Website)
            .with_unionid("uAlice")
            .with_nickname("爱丽丝")
    }

    #[test]
    fn round_trip_keeps_identity_and_profile() {
        let k = keys(&[K1]);
        let t = web(&k, &alice(), 60);
        let s = k.verify(t.token.expose()).expect("valid");
        assert_eq!(s.identity, Identity::Wechat(alice()));
        assert_eq!(s.exp, t.exp);
    }

    fn payload(token: &str) -> serde_json::Value {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let part = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&b64.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn every_provider_round_trips_with_its_own_ids() {
        let k = keys(&[K1]);
        let mut member = WecomUser::member("wwCorp", "zhangsan");
        member.nickname = Some("张三".into());
        member.subject = Some("42".into());
        let mut douyin = DouyinUser::new("awkey", "_0OPEN").with_union_id("UNION");
        douyin.avatar_url = Some("https://example.com/a.png".into());
        for identity in [
            Identity::from(alice().with_subject("7")),
            Identity::from(member),
            Identity::from(WecomUser::non_member("wwCorp", "oGuest")),
            Identity::from(douyin),
            Identity::from(DouyinUser::new("awkey", "_0NOUNION")),
        ] {
            let t = k.issue(
                &identity,
                TokenClass::Web,
                Lifetimes {
                    ttl: Duration::from_secs(60),
                    max: Duration::from_secs(600),
                },
                None,
            );
            let s = k.verify(t.token.expose()).expect("valid");
            assert_eq!(s.identity, identity);
            assert_eq!(payload(t.token.expose())["sub"], identity.key());
        }
    }

    #[test]
    fn a_wechat_token_has_no_provider_claim_and_no_other_providers_ids() {
        let k = keys(&[K1]);
        let t = web(&k, &alice(), 60);
        let json = payload(t.token.expose());
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for absent in ["pv", "cid", "wu", "wo", "dk", "dop", "dun"] {
            assert!(!keys.contains(&absent), "{absent} in {keys:?}");
        }
        let wecom = k.issue(
            &WecomUser::member("wwCorp", "zhangsan").into(),
            TokenClass::Web,
            Lifetimes {
                ttl: Duration::from_secs(60),
                max: Duration::from_secs(600),
            },
            None,
        );
        let json = payload(wecom.token.expose());
        assert_eq!(json["pv"], "wecom");
        assert!(
            json.get("oid").is_none() && json.get("aid").is_none(),
            "{json}"
        );
    }

    #[test]
    fn a_token_of_the_old_claim_shape_is_a_wechat_session() {
        // What `issue` signed before identities were provider-neutral: no `pv`.
        let k = keys(&[K1]);
        let old = serde_json::json!({
            "iss": ISSUER, "aud": AUD_SESSION, "sub": "unionid:uAlice", "oid": "oAlice",
            "uid": "uAlice", "aid": "wx1", "ch": "website", "nn": "爱丽丝", "jti": "j",
            "iat": now_unix(), "exp": now_unix() + 60,
        });
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &old,
            &EncodingKey::from_secret(K1.as_bytes()),
        )
        .unwrap();
        let s = k.verify(&token).expect("an old session keeps working");
        assert_eq!(s.identity, Identity::Wechat(alice()));
        assert_eq!(s.identity.provider(), Provider::Wechat);
    }

    #[test]
    fn claims_that_make_no_identity_are_no_session() {
        let k = keys(&[K1]);
        let sign = |extra: serde_json::Value| {
            let mut claims = serde_json::json!({
                "iss": ISSUER, "aud": AUD_SESSION, "sub": "x", "jti": "j",
                "iat": now_unix(), "exp": now_unix() + 60, "ch": "website",
            });
            claims
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(K1.as_bytes()),
            )
            .unwrap()
        };
        for extra in [
            serde_json::json!({"aid": "wx1"}),
            serde_json::json!({"oid": "o1"}),
            serde_json::json!({"pv": "wecom", "cid": "c", "wu": "u", "wo": "o"}),
            serde_json::json!({"pv": "wecom", "cid": "c"}),
            serde_json::json!({"pv": "wecom", "wu": "u"}),
            serde_json::json!({"pv": "douyin", "dk": "k"}),
            serde_json::json!({"pv": "douyin", "dop": "o"}),
            serde_json::json!({"pv": "github", "oid": "o1", "aid": "wx1"}),
        ] {
            assert!(k.verify(&sign(extra.clone())).is_none(), "{extra}");
        }
        assert!(
            k.verify(&sign(serde_json::json!({"oid": "o1", "aid": "wx1"})))
                .is_some()
        );
    }

    #[test]
    fn tampered_token_is_no_session() {
        let k = keys(&[K1]);
        let t = web(&k, &alice(), 60);
        let tok = t.token.expose();
        let (head, rest) = tok.split_once('.').unwrap();
        let (payload, sig) = rest.split_once('.').unwrap();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut json: serde_json::Value =
            serde_json::from_slice(&b64.decode(payload).unwrap()).unwrap();
        json["oid"] = "oMallory".into();
        let forged = format!("{head}.{}.{sig}", b64.encode(json.to_string()));
        assert!(k.verify(&forged).is_none());
    }

    #[test]
    fn alg_none_is_no_session() {
        let k = keys(&[K1]);
        let t = web(&k, &alice(), 60);
        let payload = t.token.expose().split('.').nth(1).unwrap().to_owned();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let head = b64.encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert!(k.verify(&format!("{head}.{payload}.")).is_none());
        assert!(k.verify(&format!("{head}.{payload}")).is_none());
    }

    #[test]
    fn expired_token_is_no_session() {
        let k = keys(&[K1]);
        let t = web(&k, &alice(), 0);
        // exp == iat: past the leeway only after LEEWAY seconds, so forge an older one.
        let mut u = alice();
        u.subject = Some("s".into());
        let claims = SessionClaims {
            jti: "j".into(),
            iat: now_unix() - 100,
            exp: now_unix() - 50,
            ..SessionClaims::of(&u.into())
        };
        let old = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(K1.as_bytes()),
        )
        .unwrap();
        assert!(k.verify(&old).is_none());
        assert!(t.exp >= now_unix());
    }

    #[test]
    fn rotation_old_key_verifies_unknown_key_does_not() {
        let old = keys(&[K1]);
        let t = web(&old, &alice(), 60);
        let rotated = keys(&[K2, K1]);
        assert!(rotated.verify(t.token.expose()).is_some());
        let fresh = web(&rotated, &alice(), 60);
        assert!(old.verify(fresh.token.expose()).is_none(), "signed with K2");
        let retired = keys(&[K2]);
        assert!(retired.verify(t.token.expose()).is_none());
    }

    #[test]
    fn state_ticket_is_bound_to_its_state_and_not_a_session() {
        let k = keys(&[K1]);
        let ticket = StateTicket::new(
            TicketPurpose::Login,
            "abcDEF123".into(),
            "/profile".into(),
            Channel::Website,
            Duration::from_secs(60),
        );
        let v = k.sign_state(&ticket);
        assert_eq!(
            k.verify_state(&v, "abcDEF123", TicketPurpose::Login),
            Some(ticket)
        );
        assert!(k.verify_state(&v, "other", TicketPurpose::Login).is_none());
        assert!(k.verify(&v).is_none(), "a state ticket is not a session");
        let s = web(&k, &alice(), 60);
        for purpose in TicketPurpose::ALL {
            assert!(
                k.verify_state(s.token.expose(), "abcDEF123", purpose)
                    .is_none()
            );
        }
    }

    #[test]
    fn a_ticket_of_one_purpose_never_passes_for_another() {
        let k = keys(&[K1]);
        for (i, made_for) in TicketPurpose::ALL.into_iter().enumerate() {
            assert_eq!(made_for as usize, i, "ALL is in discriminant order");
            // The same state, return_to and channel: only the purpose differs.
            let ticket = StateTicket::new(
                made_for,
                "S1".into(),
                "oAlice".into(),
                Channel::ScanFollow,
                Duration::from_secs(60),
            );
            let signed = k.sign_state(&ticket);
            for expected in TicketPurpose::ALL {
                let verified = k.verify_state(&signed, "S1", expected);
                if expected == made_for {
                    assert_eq!(verified.as_ref(), Some(&ticket), "{made_for:?}");
                } else {
                    assert!(
                        verified.is_none(),
                        "a {made_for:?} ticket passed as {expected:?}"
                    );
                }
            }
        }
        let audiences: std::collections::HashSet<_> =
            TicketPurpose::ALL.map(TicketPurpose::audience).into();
        assert_eq!(audiences.len(), TicketPurpose::ALL.len());
        assert!(!audiences.contains(AUD_SESSION));
    }

    #[test]
    fn a_ticket_of_the_old_shared_audience_is_refused() {
        // What every kind was signed for before purposes: no longer valid for any.
        let k = keys(&[K1]);
        let mut ticket = StateTicket::new(
            TicketPurpose::Login,
            "S1".into(),
            "/".into(),
            Channel::Website,
            Duration::from_secs(60),
        );
        ticket.aud = "wechat-auth/state".into();
        let signed = k.sign_state(&ticket);
        for purpose in TicketPurpose::ALL {
            assert!(k.verify_state(&signed, "S1", purpose).is_none());
        }
    }

    #[test]
    fn the_popup_nonce_is_signed_with_the_ticket() {
        let k = keys(&[K1]);
        let ticket = StateTicket::new(
            TicketPurpose::Login,
            "S1".into(),
            "/".into(),
            Channel::Website,
            Duration::from_secs(60),
        )
        .with_nonce(Some("n0nce0123456789abcdef".into()));
        let signed = k.sign_state(&ticket);
        let back = k.verify_state(&signed, "S1", TicketPurpose::Login).unwrap();
        assert_eq!(back.pn.as_deref(), Some("n0nce0123456789abcdef"));
        // Another nonce in the payload breaks the signature.
        let (head, rest) = signed.split_once('.').unwrap();
        let (payload, sig) = rest.split_once('.').unwrap();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut json: serde_json::Value =
            serde_json::from_slice(&b64.decode(payload).unwrap()).unwrap();
        json["pn"] = "attacker-nonce-0123456789".into();
        let forged = format!("{head}.{}.{sig}", b64.encode(json.to_string()));
        assert!(
            k.verify_state(&forged, "S1", TicketPurpose::Login)
                .is_none()
        );
    }

    #[test]
    fn the_verified_cache_is_bounded_and_exact() {
        let k = keys(&[K1]);
        let mut first = None;
        for i in 0..(SHARDS * SHARD_CAPACITY + 100) {
            let t = web(&k, &alice().with_subject(i.to_string()), 60);
            assert!(k.verify(t.token.expose()).is_some());
            first.get_or_insert(t);
        }
        let held: usize = k
            .verified
            .shards
            .iter()
            .map(|s| s.read().unwrap().len())
            .sum();
        assert!(held <= SHARDS * SHARD_CAPACITY, "{held}");
        // Evicted or not, a valid token still verifies.
        assert!(k.verify(first.unwrap().token.expose()).is_some());
    }

    #[test]
    fn a_cached_signature_does_not_vouch_for_another_token() {
        let k = keys(&[K1]);
        let t = web(&k, &alice(), 60);
        let tok = t.token.expose();
        assert!(k.verify(tok).is_some());
        let (rest, sig) = tok.rsplit_once('.').unwrap();
        let (head, _) = rest.split_once('.').unwrap();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let forged_payload = b64.encode(r#"{"oid":"oMallory"}"#);
        assert!(
            k.verify(&format!("{head}.{forged_payload}.{sig}"))
                .is_none()
        );
    }

    fn session(family: &str, generation: u32) -> Session {
        Session {
            identity: alice().into(),
            exp: now_unix() + 60,
            class: TokenClass::Native,
            family: family.into(),
            generation,
            auth_time: now_unix(),
        }
    }

    #[test]
    fn revocations_expire_with_their_tokens() {
        let r = Revocations::default();
        assert!(!r.contains(&session("a", 0)));
        r.insert("a", 0, now_unix() + 60);
        r.insert("old", 0, now_unix() - 60);
        assert!(r.contains(&session("a", 0)));
        assert!(!r.contains(&session("old", 0)));
    }

    #[test]
    fn a_family_is_revoked_through_a_generation_and_only_widens() {
        let r = Revocations::default();
        r.insert("f", 3, now_unix() + 60);
        assert!(r.contains(&session("f", 0)));
        assert!(r.contains(&session("f", 3)));
        assert!(
            !r.contains(&session("f", 4)),
            "the refreshed token lives on"
        );
        r.insert("f", 1, now_unix() + 60);
        assert!(
            r.contains(&session("f", 3)),
            "a late, narrower message changes nothing"
        );
        // A chain of refreshes keeps one entry.
        for g in 4..10_000 {
            r.insert("f", g, now_unix() + 60);
        }
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn huge_expiry_times_do_not_overflow() {
        let r = Revocations::default();
        r.insert("f", u32::MAX, u64::MAX);
        let mut s = session("f", u32::MAX);
        assert!(r.contains(&s));
        s.exp = u64::MAX;
        let k = keys(&[K1]);
        let t = k.issue(
            &alice().into(),
            TokenClass::Native,
            Lifetimes {
                ttl: Duration::from_secs(u64::MAX),
                max: Duration::from_secs(u64::MAX),
            },
            Some(&s),
        );
        assert_eq!(t.generation, u32::MAX);
        assert!(k.verify(t.token.expose()).is_some());
        assert!(k.verify(t.token.expose()).is_some(), "cached hit");
    }

    #[test]
    fn a_refresh_keeps_the_family_and_never_outlives_the_login() {
        let k = keys(&[K1]);
        let life = Lifetimes {
            ttl: Duration::from_secs(600),
            max: Duration::from_secs(900),
        };
        let first = k.issue(&alice().into(), TokenClass::Native, life, None);
        let s1 = k.verify(first.token.expose()).unwrap();
        assert_eq!((s1.class, s1.generation), (TokenClass::Native, 0));
        let mut parent = session(&s1.family, 0);
        parent.auth_time = now_unix() - 600;
        let second = k.issue(&alice().into(), TokenClass::Native, life, Some(&parent));
        let s2 = k.verify(second.token.expose()).unwrap();
        assert_eq!((s2.family.as_str(), s2.generation), (s1.family.as_str(), 1));
        assert_eq!(s2.auth_time, parent.auth_time);
        assert!(
            s2.exp <= parent.auth_time + 900,
            "capped by the absolute lifetime"
        );
    }
}
