//! The Official Account's message push URL (`GET|POST PREFIX/push`): WeChat verifies it with a
//! signed `echostr`, then pushes every message and event of the account to it. A `subscribe`
//! (with `qrscene_…`) or `SCAN` event for one of our scan-login scenes (those this layer
//! issued, [`SCENE_PREFIX`](super::scan::SCENE_PREFIX)) is a login: it is answered with a
//! passive reply that tells the user which browser asked ([`reply`]); a `subscribe` through a
//! login code then also goes to the app (its reply is dropped). Every other push belongs to
//! the app: its `on_push` hook, or its existing push backend ([`dispatch`]); their reply goes
//! back to WeChat, encrypted when the push was.
//!
//! Every request must carry a valid `signature` (and, in safe mode, `msg_signature` over the
//! ciphertext, which must also decrypt to our appid) and a `timestamp` within
//! [`TIMESTAMP_WINDOW`] of our clock. Bodies are bounded and read as XML or JSON
//! ([`PushFormat`]: the `Content-Type`, else the first byte); plain, compatible and safe mode
//! are understood. Every refusal is logged at `warn` with the setting to check, and never
//! with the body.
//!
//! The URL `signature` covers the token, `timestamp` and `nonce`, never the body, so each
//! accepted signed query is remembered in the store (every instance sees it) until its
//! timestamp can no longer be accepted. The same query again with the same body is a
//! re-delivery (WeChat re-sends an event it got no `success` for within 5 seconds): it is
//! answered `success` and changes nothing. The same query with another body is a forgery
//! made from a leaked query and is refused with 403. A scene is also confirmed only once,
//! whatever arrives, and the answer goes back within 4 seconds even when the user lookup
//! behind it is slower (the work finishes in the background).

use std::{sync::Arc, time::Duration};

use axum_core::body::Body;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header, request::Parts};
use sha1::{Digest as _, Sha1};

use crate::{
    channels::{
        Mount,
        scan::{MessageOutcome, ScanRecords},
    },
    core::store::{BoxFuture, Store, keys::Key},
    push::{
        OpenedPush, PushCrypto, PushError, PushFormat, PushQuery, PushReply, TIMESTAMP_WINDOW,
        check_timestamp,
    },
};

mod dispatch;
mod failure;
mod reply;
mod text;

pub(crate) use failure::PushFailure;

/// The app's `on_push` hook, boxed.
pub(crate) type OnPush =
    Arc<dyn Fn(OpenedPush) -> BoxFuture<'static, Option<PushReply>> + Send + Sync>;

/// The push channel's settings, as `build()` accepted them (copied once, at mount).
pub(crate) struct Settings {
    /// The push URL's signature and crypto; `None`: no push URL is configured.
    pub(crate) crypto: Option<Arc<PushCrypto>>,
    /// Where pushes that are not logins go: the app's hook, else its push backend.
    pub(crate) on_push: Option<OnPush>,
    pub(crate) forward: Option<url::Url>,
    /// The site's host and origin, and the layer's prefix (the confirm link of a reply).
    pub(crate) public_host: String,
    pub(crate) origin: String,
    pub(crate) prefix: String,
}

/// The push channel: its settings, the store it remembers pushes in, and the scan records
/// it reports scans to.
pub(crate) struct Push {
    settings: Settings,
    /// Signed queries and messages seen (replays, re-deliveries).
    store: Arc<dyn Store>,
    /// The scans of the scan channel.
    scans: Arc<ScanRecords>,
}

impl Push {
    /// The channel's state, reporting scans to `scans`; mount time only.
    pub(crate) fn new(e: &Mount, scans: Arc<ScanRecords>) -> Self {
        let cfg = &e.cfg;
        Self {
            settings: Settings {
                crypto: e.push.clone(),
                on_push: cfg.push_settings.on_push.clone(),
                forward: cfg.push_settings.forward.clone(),
                public_host: cfg.public_host.clone(),
                origin: cfg.origin().to_owned(),
                prefix: cfg.prefix.clone(),
            },
            store: e.store.clone(),
            scans,
        }
    }
}

/// Largest push body read.
pub(crate) const MAX_BODY: usize = crate::push::MAX_BODY_BYTES;
/// How long a push waits for its work (a scan's lookup, the app's hook, the forward target)
/// before answering `success` anyway: WeChat gives up after 5 seconds.
pub(crate) const ANSWER_WITHIN: Duration = Duration::from_secs(4);
/// How long an accepted signed query is remembered. A timestamp up to [`TIMESTAMP_WINDOW`]
/// ahead of our clock stays acceptable for twice the window; the margin also covers
/// instances whose clocks disagree a little.
const REPLAY_MEMORY: Duration = Duration::from_secs(2 * TIMESTAMP_WINDOW.as_secs());
/// The longest openid accepted in `FromUserName` (real ones have 28 characters).
const MAX_OPENID_LEN: usize = 64;

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

/// The answer to a push that fails its checks: `403` when a signature, the timestamp, the
/// ciphertext or the appid is wrong (or the query was used before), `400` when the request
/// is malformed. Rendered (and logged at `warn` with what to check; the body is never
/// logged) by [`crate::core::render::push`].
fn rejected(e: &PushError) -> Response<Body> {
    let hint = match e {
        PushError::BadSignature => {
            "check that WECHAT_OA_TOKEN is the Token of 服务器配置 in the Official Account console"
        }
        PushError::StaleTimestamp => "check this server's clock (NTP); or a replayed request",
        PushError::Replayed => "a signed query used again with another body: a replay",
        PushError::AppIdMismatch => {
            "the message is for another account: check WECHAT_OA_APP_ID and WECHAT_OA_ENCODING_AES_KEY"
        }
        PushError::NotEncrypted => {
            "the console sends 明文模式 but WECHAT_OA_ENCODING_AES_KEY is set: choose 安全模式 (or 兼容模式) under 消息加解密方式"
        }
        PushError::NoAesKey => {
            "the console sends 安全模式 but no WECHAT_OA_ENCODING_AES_KEY is set: set the console's EncodingAESKey"
        }
        PushError::BadBase64
        | PushError::BadPadding
        | PushError::BadLength
        | PushError::BadUtf8 => {
            "cannot decrypt: check that WECHAT_OA_ENCODING_AES_KEY is the console's EncodingAESKey"
        }
        PushError::Xml(_) | PushError::Json(_) => {
            "the body is not a push in the console's 数据格式 (XML or JSON)"
        }
        _ => "a malformed push request",
    };
    let error = e.to_string();
    let refusal = match e {
        PushError::BadSignature
        | PushError::StaleTimestamp
        | PushError::Replayed
        | PushError::AppIdMismatch
        | PushError::NotEncrypted
        | PushError::BadBase64
        | PushError::BadPadding
        | PushError::BadLength => PushFailure::Forged { error, hint },
        _ => PushFailure::Malformed { error, hint },
    };
    crate::core::render::push(&refusal.into())
}

/// The store could not record the push: `503`, WeChat re-sends on anything but `success`;
/// nothing was changed.
fn store_down(e: &impl std::fmt::Display) -> Response<Body> {
    crate::core::render::push(&PushFailure::StoreDown(e.to_string()).into())
}

/// No push URL is configured: `404`.
fn push_off() -> Response<Body> {
    crate::core::render::push(&PushFailure::Off.into())
}

/// The current Unix time in seconds.
fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Whether `openid` looks like an openid: 1..=64 characters of `[A-Za-z0-9_-]`.
fn valid_openid(openid: &str) -> bool {
    (1..=MAX_OPENID_LEN).contains(&openid.len())
        && openid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The memory of one accepted signed request.
struct Memo {
    /// `wechat-auth:{appid}:push-nonce:{digest}`, the digest over what the signatures cover
    /// besides the token: `timestamp`, `nonce` and, for an encrypted post, `msg_signature`
    /// (which covers the ciphertext, so two sealed messages never share a memo).
    key: Key,
    /// Digest of the request itself (method and body, or the `echostr`): the same request
    /// again is a re-delivery, anything else under the same key is a forgery.
    fingerprint: Vec<u8>,
}

impl Memo {
    fn new(appid: &str, timestamp: &str, nonce: &str, query: &PushQuery, request: &[u8]) -> Self {
        let mut h = Sha1::new();
        h.update(timestamp.as_bytes());
        h.update([0]);
        h.update(nonce.as_bytes());
        if query.is_encrypted()
            && let Some(msg_signature) = &query.msg_signature
        {
            h.update([0]);
            h.update(msg_signature.trim().to_ascii_lowercase().as_bytes());
        }
        let key = Key::of(appid, "push-nonce", &hex::encode(h.finalize()));
        Memo {
            key,
            fingerprint: Sha1::digest(request).to_vec(),
        }
    }
}

/// What the memory says about a request.
enum Seen {
    /// Never seen: go ahead.
    First,
    /// Exactly this request was accepted before (a re-delivery): answer, change nothing.
    Again,
    /// This signed query was accepted with another request: a forgery.
    Forged,
}

/// Records `memo` in the store, once for every instance.
async fn remember(auth: &Push, memo: &Memo) -> Result<Seen, crate::core::store::StoreError> {
    // Three rounds: the record may expire or be released between the two calls.
    for _ in 0..3 {
        if auth
            .store
            .set_if_absent(&memo.key, memo.fingerprint.clone(), REPLAY_MEMORY)
            .await?
        {
            return Ok(Seen::First);
        }
        match auth.store.get(&memo.key).await? {
            Some(v) if v == memo.fingerprint => return Ok(Seen::Again),
            Some(_) => return Ok(Seen::Forged),
            None => continue,
        }
    }
    Ok(Seen::Forged)
}

/// Checks the URL signature and the timestamp; returns `(timestamp, nonce)`.
fn signed_and_fresh(crypto: &PushCrypto, query: &PushQuery) -> Result<(String, String), PushError> {
    let (timestamp, nonce) = crypto.check_url_signature(query)?;
    check_timestamp(timestamp, now_unix())?;
    Ok((timestamp.to_owned(), nonce.to_owned()))
}

/// `GET PREFIX/push?signature&timestamp&nonce&echostr`: WeChat's URL check.
///
/// The signed query is remembered too: in plaintext mode a `POST` carrying it would
/// otherwise be accepted with any body. The same check again is answered the same way.
pub(crate) async fn verify(auth: &Push, req: &Parts) -> Response<Body> {
    let Some(crypto) = auth.settings.crypto.as_deref() else {
        return push_off();
    };
    let query = PushQuery::parse(req.uri.query().unwrap_or(""));
    let (timestamp, nonce) = match signed_and_fresh(crypto, &query) {
        Ok(t) => t,
        Err(e) => return rejected(&e),
    };
    let echostr = match crypto.verify_get(&query) {
        Ok(echostr) => echostr.to_owned(),
        Err(e) => return rejected(&e),
    };
    let request = [b"GET\0".as_slice(), echostr.as_bytes()].concat();
    let memo = Memo::new(crypto.appid(), &timestamp, &nonce, &query, &request);
    match remember(auth, &memo).await {
        Ok(Seen::First | Seen::Again) => {}
        Ok(Seen::Forged) => return rejected(&PushError::Replayed),
        Err(e) => return store_down(&e),
    }
    let mut res = Response::new(Body::from(echostr));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

/// `POST PREFIX/push`: an event or message from WeChat.
pub(crate) async fn receive(auth: &Arc<Push>, req: &Parts, body: Bytes) -> Response<Body> {
    let Some(crypto) = auth.settings.crypto.as_deref() else {
        return push_off();
    };
    let Ok(doc) = std::str::from_utf8(&body) else {
        return crate::core::render::push(&PushFailure::NotUtf8.into());
    };
    let query = PushQuery::parse(req.uri.query().unwrap_or(""));
    let (timestamp, nonce) = match signed_and_fresh(crypto, &query) {
        Ok(t) => t,
        Err(e) => return rejected(&e),
    };
    let content_type = req
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let format = PushFormat::sniff(content_type, &body);
    let opened = match crypto.open(&query, format, doc) {
        Ok(m) => m,
        Err(e) => return rejected(&e),
    };
    let request = [b"POST\0".as_slice(), &body[..]].concat();
    let memo = Memo::new(crypto.appid(), &timestamp, &nonce, &query, &request);
    match remember(auth, &memo).await {
        Ok(Seen::First) => {}
        Ok(Seen::Again) => {
            tracing::debug!("push re-delivered; already handled");
            return text(StatusCode::OK, "success");
        }
        Ok(Seen::Forged) => return rejected(&PushError::Replayed),
        Err(e) => return store_down(&e),
    }
    // A text message may be a message-code login (a code, or the bound user's answer).
    if auth.scans.takes_messages()
        && let Some(content) = text::content(&opened)
    {
        match message_login(auth, &opened, content).await {
            Handled::Reply(reply) => return answer(crypto, &opened, &nonce, reply),
            Handled::Retry => {
                // Nothing was decided: let WeChat deliver it again.
                let _ = auth.store.delete_if_eq(&memo.key, &memo.fingerprint).await;
                return store_down(&"the store failed during a message-code login");
            }
            Handled::NotLogin => {}
        }
    }
    let scene = match opened.message.scan_scene() {
        Some(scene) => auth.scans.login_scene(scene).await,
        None => None,
    };
    let Some(scene) = scene else {
        let reply = dispatch::to_app(auth, req, &body, &opened).await;
        return answer(crypto, &opened, &nonce, reply);
    };
    let started = tokio::time::Instant::now();
    let reply = login_scan(auth, &opened, scene, memo).await;
    if opened
        .message
        .event
        .as_deref()
        .is_some_and(|e| e.eq_ignore_ascii_case("subscribe"))
    {
        // Someone followed the account through a login code: the login is handled (and its
        // reply is the one the user reads), and the app still learns of its new follower.
        // What the app answers is dropped: one push, one reply.
        let work = tokio::spawn({
            let (auth, req, opened) = (auth.clone(), req.clone(), opened.clone());
            async move { dispatch::to_app(&auth, &req, &body, &opened).await }
        });
        let left = ANSWER_WITHIN.saturating_sub(started.elapsed());
        if tokio::time::timeout(left, work).await.is_err() {
            tracing::debug!("the app is still handling a login's subscribe; answered the login");
        }
    }
    answer(crypto, &opened, &nonce, reply)
}

/// A scan of one of our login codes: records it (in the background, within the budget) and
/// tells the user which browser asked.
async fn login_scan(auth: &Push, opened: &OpenedPush, scene: String, memo: Memo) -> Option<Reply> {
    let openid = opened.message.from_user_name.clone();
    if !valid_openid(&openid) {
        // Signed, so WeChat sent it: answer so that it stops re-sending, confirm nothing.
        tracing::warn!(
            len = openid.len(),
            "scan event with an empty or malformed FromUserName ignored"
        );
        return None;
    }
    let work = tokio::spawn({
        let (scans, store) = (auth.scans.clone(), auth.store.clone());
        async move {
            let outcome = scans.scanned(scene, openid).await;
            if outcome.is_none() {
                // Let a re-delivery try again.
                let _ = store.delete_if_eq(&memo.key, &memo.fingerprint).await;
            }
            outcome
        }
    });
    // Answer in time even when WeChat's user lookup is slow; the work goes on.
    match tokio::time::timeout(ANSWER_WITHIN, work).await {
        Ok(Ok(Some(notice))) => reply::scan_notice(auth, &notice, opened),
        Ok(_) => None,
        Err(_) => {
            tracing::warn!("scan login took longer than the push budget; answered success");
            None
        }
    }
}

/// What became of a text message.
enum Handled {
    /// A login's: this reply (`None`: `success`, the work goes on past the budget).
    Reply(Option<Reply>),
    /// Not a login: the app's.
    NotLogin,
    /// The store failed before anything was decided.
    Retry,
}

/// A text message: a message-code login's code or answer, handled within the push budget
/// (the work goes on in the background when `on_login` or the lookup is slower).
async fn message_login(auth: &Push, opened: &OpenedPush, content: String) -> Handled {
    let openid = opened.message.from_user_name.clone();
    if !valid_openid(&openid) {
        return Handled::NotLogin;
    }
    let work = tokio::spawn({
        let scans = auth.scans.clone();
        async move { scans.message(&openid, &content).await }
    });
    match tokio::time::timeout(ANSWER_WITHIN, work).await {
        Ok(Ok(MessageOutcome::Reply(text))) => {
            Handled::Reply(Some(Reply::to_sender(&PushReply::text(text), opened)))
        }
        Ok(Ok(MessageOutcome::NotLogin)) => Handled::NotLogin,
        Ok(Ok(MessageOutcome::Retry)) => Handled::Retry,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "message-code login task failed");
            Handled::Retry
        }
        Err(_) => {
            tracing::warn!("message-code login took longer than the push budget; answered success");
            Handled::Reply(None)
        }
    }
}

/// The HTTP answer to WeChat: `success`, or the reply document in the push's format,
/// sealed when the push was encrypted.
fn answer(
    crypto: &PushCrypto,
    opened: &OpenedPush,
    nonce: &str,
    reply: Option<Reply>,
) -> Response<Body> {
    let document = match reply {
        None => return text(StatusCode::OK, "success"),
        Some(Reply::Sealed(envelope)) => envelope,
        Some(Reply::Document(doc)) if opened.encrypted => {
            let ts = now_unix().to_string();
            match crypto.seal_reply(opened.format, &doc, &ts, nonce) {
                Ok(sealed) => sealed,
                Err(e) => {
                    tracing::warn!(error = %e, "could not encrypt a passive reply; answered success");
                    return text(StatusCode::OK, "success");
                }
            }
        }
        Some(Reply::Document(doc)) => doc,
    };
    let mut res = Response::new(Body::from(document));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(opened.format.content_type()),
    );
    res
}

/// What goes back to WeChat besides `success`.
pub(crate) enum Reply {
    /// A plain reply document, to be sealed when the push was encrypted.
    Document(String),
    /// A reply already sealed (by the forward target, which has the key too).
    Sealed(String),
}

impl Reply {
    /// A [`PushReply`](crate::push::PushReply) to the sender of `opened`.
    pub(crate) fn to_sender(reply: &PushReply, opened: &OpenedPush) -> Self {
        Self::Document(reply.document(
            opened.format,
            &opened.message.from_user_name,
            &opened.message.to_user_name,
            now_unix(),
        ))
    }
}

/// Mounts this channel on a layer: its state and its routes.
pub(crate) fn mount(engine: &Arc<Mount>) -> Box<dyn crate::core::route::Endpoints> {
    let scans = Arc::new(ScanRecords::new(engine));
    crate::core::route::Mounted::boxed(Arc::new(Push::new(engine, scans)), routes())
}

/// This channel's endpoints in the layer's route table: `GET`/`HEAD push` (verification)
/// and `POST push` (a body of at most [`MAX_BODY`] bytes).
pub(crate) fn routes() -> &'static [crate::core::route::Route<Arc<Push>>] {
    use crate::core::route::{Path, boxed};
    type Route = crate::core::route::Route<Arc<Push>>;
    static ROUTES: [Route; 2] = [
        Route::read(Path::Exact("/push"), |c| {
            boxed(async move { Ok(verify(c.auth, c.req).await) })
        }),
        Route::post_body(Path::Exact("/push"), MAX_BODY, |c| {
            boxed(async move { Ok(receive(c.auth, c.req, c.body).await) })
        }),
    ];
    &ROUTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openids_are_checked() {
        for ok in [
            "o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
            "oMOCKopenid0000000000000001",
            "a",
            "o-_-",
            &"o".repeat(64),
        ] {
            assert!(valid_openid(ok), "{ok:?}");
        }
        for bad in [
            "",
            " ",
            "o6_bmjrPTlm6 2sgVt7hMZOPfL2M",
            "o/../x",
            "o:x",
            "用户",
            "o\n",
            &"o".repeat(65),
        ] {
            assert!(!valid_openid(bad), "{bad:?}");
        }
    }

    #[test]
    fn memo_keys_cover_what_is_signed() {
        let plain = PushQuery::parse("signature=a&timestamp=1&nonce=2");
        let safe =
            PushQuery::parse("signature=a&timestamp=1&nonce=2&encrypt_type=aes&msg_signature=AB");
        let other =
            PushQuery::parse("signature=a&timestamp=1&nonce=2&encrypt_type=aes&msg_signature=cd");
        let a = Memo::new("wx1", "1", "2", &plain, b"POST\0x");
        assert!(
            a.key.starts_with("wechat-auth:wx1:push-nonce:"),
            "{:?}",
            a.key
        );
        // A GET and a plaintext POST with the same signed query share a memo.
        let get = Memo::new("wx1", "1", "2", &plain, b"GET\0e");
        assert_eq!(a.key, get.key);
        assert_ne!(a.fingerprint, get.fingerprint);
        // Sealed messages are told apart by their msg_signature (case-insensitive).
        let s1 = Memo::new("wx1", "1", "2", &safe, b"POST\0x");
        let s2 = Memo::new("wx1", "1", "2", &other, b"POST\0x");
        let upper =
            PushQuery::parse("signature=a&timestamp=1&nonce=2&encrypt_type=aes&msg_signature=ab");
        assert_ne!(s1.key, a.key);
        assert_ne!(s1.key, s2.key);
        assert_eq!(s1.key, Memo::new("wx1", "1", "2", &upper, b"").key);
        // "1"+"23" and "12"+"3" differ; so do appids.
        assert_ne!(
            Memo::new("wx1", "1", "23", &plain, b"").key,
            Memo::new("wx1", "12", "3", &plain, b"").key
        );
        assert_ne!(a.key, Memo::new("wx2", "1", "2", &plain, b"POST\0x").key);
    }
}
