//! A user scans a parametric QR code: the mock pushes the `subscribe` / `SCAN` event to the
//! Official Account's push URL, signed (and AES-encrypted in safe mode) and retried like
//! WeChat does (protocol §6, §7). Shared by [`MockWechat::scan`](super::MockWechat::scan) and
//! `POST /mock/scan`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::clock::unix_secs;
use super::config::{AppKind, MockApp};
use super::errors::{MockError, control_error, json};
use super::push_wire::{ChatLine, PushFormat, PushMode, PushWire};
use super::state::{Follow, QrScene, QrTicket, Shared};
use super::wire::{self, SafeModeKey};

/// WeChat delivers an event at most three times (one delivery and two retries, §7.3).
pub(crate) const MAX_DELIVERIES: u32 = 3;
/// Connecting to the push URL may take this long at most (loopback answers at once).
pub(crate) const PUSH_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The most of an answer the mock reads, and the most it reports back.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
const MAX_REPORTED_CHARS: usize = 2048;
/// The counter every delivery attempt increments (see `MockWechat::calls`).
pub(crate) const PUSH_COUNTER: &str = "push";

/// Options of [`MockWechat::scan_with`](super::MockWechat::scan_with).
///
/// ```
/// use wechat_auth_mock::ScanOptions;
///
/// let opts = ScanOptions::new()
///     .subscribed(true) // treat the user as a follower: a `SCAN` event
///     .push_url("http://127.0.0.1:3000/auth/wechat/push");
/// assert_eq!(opts.subscribed, Some(true));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScanOptions {
    /// Whether the user already follows the Official Account, overriding what the mock
    /// remembers: `Some(false)` makes a follower re-follow (a `subscribe` event), `Some(true)`
    /// makes anyone a follower (a `SCAN` event). `None` uses the stored follow state.
    pub subscribed: Option<bool>,
    /// Deliver to this URL instead of the one set with
    /// [`MockWechat::set_push_url`](super::MockWechat::set_push_url) (this scan only).
    pub push_url: Option<String>,
}

impl ScanOptions {
    /// No overrides.
    ///
    /// ```
    /// assert_eq!(wechat_auth_mock::ScanOptions::new(), Default::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`ScanOptions::subscribed`].
    ///
    /// ```
    /// let opts = wechat_auth_mock::ScanOptions::new().subscribed(false);
    /// assert_eq!(opts.subscribed, Some(false));
    /// ```
    pub fn subscribed(mut self, subscribed: bool) -> Self {
        self.subscribed = Some(subscribed);
        self
    }

    /// Sets [`ScanOptions::push_url`].
    ///
    /// ```
    /// let opts = wechat_auth_mock::ScanOptions::new().push_url("http://127.0.0.1:9/push");
    /// assert_eq!(opts.push_url.as_deref(), Some("http://127.0.0.1:9/push"));
    /// ```
    pub fn push_url(mut self, url: impl Into<String>) -> Self {
        self.push_url = Some(url.into());
        self
    }
}

/// What a scan did: the event the mock pushed and how its delivery went. `POST /mock/scan`
/// answers the same fields as JSON (absent options left out).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use wechat_auth_mock::{MockError, MockWechat};
///
/// let mock = MockWechat::start().await?;
/// let err = mock.scan("http://weixin.qq.com/q/02unknown", "alice").await.unwrap_err();
/// assert!(matches!(err, MockError::UnknownTicket(_)));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ScanReport {
    /// `subscribe` (the user followed by scanning) or `SCAN` (a follower scanned).
    pub event: String,
    /// The user's openid for the Official Account (`FromUserName`).
    pub openid: String,
    /// `qrscene_SCENE` for `subscribe`, `SCENE` for `SCAN`.
    pub event_key: String,
    /// The scanned QR code's ticket (`Ticket`).
    pub ticket: String,
    /// `CreateTime` of the event (mock clock, Unix seconds); the same in every delivery.
    pub create_time: u64,
    /// Where the event was delivered.
    pub push_url: String,
    /// Whether it went out in safe mode (`encrypt_type=aes`, the OA has an EncodingAESKey).
    pub encrypted: bool,
    /// How many times it was sent (1..=3).
    pub deliveries: u32,
    /// Whether the last delivery was answered in time with a 2xx and `success`, an empty body
    /// or a reply XML.
    pub acknowledged: bool,
    /// HTTP status of the last answer, if one came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    /// Body of the last answer (at most 2048 characters), if one came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_body: Option<String>,
    /// Why the last delivery got no answer (timeout, connection refused, …), or why its
    /// answer was not one WeChat accepts (the user would see 该公众号暂时无法提供服务).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The Official Account's passive reply, as the user sees it in the chat (decrypted and
    /// checked), when it answered with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
}

/// Lines kept per user.
const MAX_CHAT: usize = 50;

/// What is pushed: a scan event or a user's text message.
enum Outgoing<'a> {
    Event {
        event: &'a str,
        event_key: &'a str,
        ticket: &'a str,
    },
    Text {
        content: &'a str,
        msg_id: u64,
    },
}

/// How a delivery ended.
struct Delivery {
    push_url: String,
    encrypted: bool,
    deliveries: u32,
    last: Attempt,
}

/// How the scanned code is named.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// What the phone reads from the image: `http://weixin.qq.com/q/…`.
    QrUrl(String),
    /// The ticket from `qrcode/create`.
    Ticket(String),
    /// The scene value (`scene_id` as text, or `scene_str`) of a code of `appid`.
    Scene { appid: String, scene: String },
}

impl Target {
    /// A URL (`http://…`, `https://…`) names the QR content, anything else a ticket.
    pub(crate) fn url_or_ticket(s: &str) -> Self {
        if s.starts_with("http://") || s.starts_with("https://") {
            Target::QrUrl(s.to_owned())
        } else {
            Target::Ticket(s.to_owned())
        }
    }

    fn describe(&self) -> String {
        match self {
            Target::QrUrl(u) => format!("qr_url {u:?}"),
            Target::Ticket(t) => format!("ticket {t:?}"),
            Target::Scene { appid, scene } => format!("scene {scene:?} of {appid}"),
        }
    }
}

impl Follow {
    /// A follow that came from scanning the QR code with `scene`.
    pub(crate) fn qr(now: SystemTime, scene: &QrScene) -> Self {
        let (qr_scene, qr_scene_str) = match scene {
            QrScene::Id(id) => (*id, String::new()),
            QrScene::Str(s) => (0, s.clone()),
        };
        Follow {
            since: now,
            scene: "ADD_SCENE_QR_CODE",
            qr_scene,
            qr_scene_str,
        }
    }
}

/// One outcome of one delivery.
struct Attempt {
    status: Option<u16>,
    body: Option<String>,
    error: Option<String>,
    acknowledged: bool,
    reply: Option<String>,
}

impl Shared {
    /// The ticket `target` names, expired or not: unknown → `UnknownTicket`, dead →
    /// `ExpiredTicket`. For scenes, the live code issued last wins.
    fn find_ticket(&self, target: &Target) -> Result<QrTicket, MockError> {
        let now = self.now();
        let inner = self.lock();
        let all = || {
            inner
                .temp_tickets
                .iter()
                .map(|(_, t)| t)
                .chain(inner.permanent_tickets.values())
        };
        let found: Option<&QrTicket> = match target {
            Target::Ticket(t) => inner
                .temp_tickets
                .get(t)
                .or_else(|| inner.permanent_tickets.get(t)),
            // Each code has its own URL: one lookup in the index.
            Target::QrUrl(u) => inner.ticket_by_url(u),
            Target::Scene { appid, scene } => {
                let mut same: Vec<&QrTicket> = all()
                    .filter(|t| t.appid == *appid && t.scene.event_key() == *scene)
                    .collect();
                // Live before dead, permanent before temporary, then the one that dies last
                // (the one issued last, for codes of one lifetime).
                same.sort_by_key(|t| {
                    (
                        !t.alive(now),
                        t.expires_at.is_some(),
                        std::cmp::Reverse(t.expires_at),
                    )
                });
                same.first().copied()
            }
        };
        match found {
            None => Err(MockError::UnknownTicket(target.describe())),
            Some(t) if !t.alive(now) => Err(MockError::ExpiredTicket(target.describe())),
            Some(t) => Ok(t.clone()),
        }
    }

    /// Counts one call of `endpoint` (a push delivery) made for the account `appid`.
    fn count(&self, endpoint: &str, appid: &str) {
        let mut inner = self.lock();
        *inner.calls.entry(endpoint.to_owned()).or_default() += 1;
        inner.count_for_app(endpoint, appid);
    }

    /// Scans, pushes, retries, reports. No lock is held across an await.
    pub(crate) async fn scan(
        &self,
        target: &Target,
        user: &str,
        opts: &ScanOptions,
    ) -> Result<ScanReport, MockError> {
        let ticket = self.find_ticket(target)?;
        let app = self
            .app(&ticket.appid)
            .ok_or_else(|| MockError::UnknownApp(ticket.appid.clone()))?;
        let user = self
            .user(user)
            .ok_or_else(|| MockError::UnknownUser(user.to_owned()))?;
        // Refused before the follow state changes: no push URL, no push token.
        self.push_target(app, opts)?;
        push_crypto(app)?;
        let openid = user.openid_for(&app.appid);
        // `CreateTime` follows the mock's movable clock, like every other time the mock
        // hands out. The query's `timestamp` is the real wall-clock time instead: the
        // receiver compares it with its own clock (a 5-minute window against replays), and
        // real WeChat's stamp is close to the server's clock whatever a test did to the
        // mock's. While the clock has not been moved the two are the same second.
        let (now, wall) = self.clock.now_and_wall();
        let create_time = unix_secs(now);

        // The user scans: a follower gets SCAN; anyone else follows now and gets subscribe.
        let follows = {
            let mut inner = self.lock();
            let key = (app.appid.clone(), user.name.clone());
            let stored = inner.follows.contains_key(&key);
            let follows = opts.subscribed.unwrap_or(stored);
            if !follows {
                inner.follows.insert(key, Follow::qr(now, &ticket.scene));
            } else if !stored {
                inner.follows.insert(key, Follow::other(now));
            }
            follows
        };
        let (event, event_key) = if follows {
            ("SCAN", ticket.scene.event_key())
        } else {
            ("subscribe", format!("qrscene_{}", ticket.scene.event_key()))
        };
        let delivery = self
            .push(
                app,
                &openid,
                create_time,
                wall,
                &Outgoing::Event {
                    event,
                    event_key: &event_key,
                    ticket: &ticket.ticket,
                },
                opts,
            )
            .await?;
        self.record_reply(&app.appid, &user.name, create_time, &delivery.last);
        Ok(ScanReport {
            event: event.to_owned(),
            openid,
            event_key,
            ticket: ticket.ticket,
            create_time,
            push_url: delivery.push_url,
            encrypted: delivery.encrypted,
            deliveries: delivery.deliveries,
            acknowledged: delivery.last.acknowledged,
            last_status: delivery.last.status,
            last_body: delivery.last.body,
            last_error: delivery.last.error,
            reply: delivery.last.reply,
        })
    }

    /// `user` sends the text `content` to the Official Account `appid`: the message is
    /// pushed like every other (format, mode, retries) and the reply recorded in the chat.
    pub(crate) async fn send_text(
        &self,
        appid: &str,
        user: &str,
        content: &str,
    ) -> Result<ScanReport, MockError> {
        let app = self
            .app(appid)
            .ok_or_else(|| MockError::UnknownApp(appid.to_owned()))?;
        let user = self
            .user(user)
            .ok_or_else(|| MockError::UnknownUser(user.to_owned()))?;
        // Only an Official Account with a push token can be written to: refused before the
        // line enters the chat.
        push_crypto(app)?;
        let openid = user.openid_for(&app.appid);
        let (now, wall) = self.clock.now_and_wall();
        let create_time = unix_secs(now);
        let msg_id = rand::random_range(1_000_000_000_000_000u64..9_000_000_000_000_000);
        self.chat_line(
            &app.appid,
            &user.name,
            create_time,
            "user",
            content.to_owned(),
        );
        let delivery = self
            .push(
                app,
                &openid,
                create_time,
                wall,
                &Outgoing::Text { content, msg_id },
                &ScanOptions::default(),
            )
            .await?;
        self.record_reply(&app.appid, &user.name, create_time, &delivery.last);
        Ok(ScanReport {
            event: "text".to_owned(),
            openid,
            event_key: String::new(),
            ticket: String::new(),
            create_time,
            push_url: delivery.push_url,
            encrypted: delivery.encrypted,
            deliveries: delivery.deliveries,
            acknowledged: delivery.last.acknowledged,
            last_status: delivery.last.status,
            last_body: delivery.last.body,
            last_error: delivery.last.error,
            reply: delivery.last.reply,
        })
    }

    fn record_reply(&self, appid: &str, user: &str, at: u64, last: &Attempt) {
        if let Some(reply) = &last.reply {
            self.chat_line(appid, user, at, "account", reply.clone());
        } else if !last.acknowledged && last.status.is_some() {
            self.chat_line(
                appid,
                user,
                at,
                "account",
                "该公众号暂时无法提供服务，请稍后再试".into(),
            );
        }
    }

    fn chat_line(&self, appid: &str, user: &str, at: u64, from: &'static str, text: String) {
        let mut inner = self.lock();
        let chat = inner.chats.entry(user.to_owned()).or_default();
        chat.push_back(ChatLine {
            at,
            from,
            text,
            account: appid.to_owned(),
        });
        while chat.len() > MAX_CHAT {
            chat.pop_front();
        }
    }

    /// How `app`'s pushes go out now.
    pub(crate) fn push_wire(&self, app: &MockApp) -> PushWire {
        self.lock()
            .push_wires
            .get(&app.appid)
            .copied()
            .unwrap_or(PushWire {
                format: PushFormat::Xml,
                mode: if app.encoding_aes_key.is_some() {
                    PushMode::Safe
                } else {
                    PushMode::Plain
                },
            })
    }

    /// Sets how `appid`'s pushes go out; compatible and safe mode need an EncodingAESKey.
    pub(crate) fn set_push_wire(&self, appid: &str, wire: PushWire) -> Result<(), MockError> {
        let app = self
            .app(appid)
            .ok_or_else(|| MockError::UnknownApp(appid.to_owned()))?;
        if app.kind != AppKind::OfficialAccount {
            return Err(MockError::WrongAppKind {
                appid: app.appid.clone(),
                kind: app.kind.as_str(),
                reason: "only Official Accounts receive pushes",
            });
        }
        if wire.mode != PushMode::Plain && app.encoding_aes_key.is_none() {
            return Err(MockError::Invalid(format!(
                "Official Account {appid} has no EncodingAESKey: only plain mode (MockApp::with_encoding_aes_key)"
            )));
        }
        self.lock().push_wires.insert(appid.to_owned(), wire);
        Ok(())
    }

    /// Writes, signs, encrypts and delivers one push to `openid`'s account, with retries.
    async fn push(
        &self,
        app: &MockApp,
        openid: &str,
        create_time: u64,
        wall: SystemTime,
        what: &Outgoing<'_>,
        opts: &ScanOptions,
    ) -> Result<Delivery, MockError> {
        let push_url = self.push_target(app, opts)?;
        let crypto = push_crypto(app)?;
        let wire_cfg = self.push_wire(app);
        let original_id = app.original_id.as_deref().unwrap_or(&app.appid);
        let plain = match (what, wire_cfg.format) {
            (
                Outgoing::Event {
                    event,
                    event_key,
                    ticket,
                },
                PushFormat::Xml,
            ) => wire::event_xml(original_id, openid, create_time, event, event_key, ticket),
            (
                Outgoing::Event {
                    event,
                    event_key,
                    ticket,
                },
                PushFormat::Json,
            ) => wire::event_json(original_id, openid, create_time, event, event_key, ticket),
            (Outgoing::Text { content, msg_id }, PushFormat::Xml) => {
                wire::text_message_xml(original_id, openid, create_time, content, *msg_id)
            }
            (Outgoing::Text { content, msg_id }, PushFormat::Json) => {
                wire::text_message_json(original_id, openid, create_time, content, *msg_id)
            }
        };
        let timestamp = unix_secs(wall).to_string();
        let nonce = rand::random_range(100_000_000..2_000_000_000u32).to_string();
        let mut query = vec![
            ("signature", crypto.signature(&timestamp, &nonce)),
            ("timestamp", timestamp.clone()),
            ("nonce", nonce.clone()),
            ("openid", openid.to_owned()),
        ];
        let key = crypto
            .key
            .as_ref()
            .filter(|_| wire_cfg.mode != PushMode::Plain);
        let body = match key {
            Some(key) => {
                let encrypt = key.encrypt(rand::random(), &plain, &crypto.appid);
                query.push(("encrypt_type", "aes".to_owned()));
                query.push((
                    "msg_signature",
                    crypto.msg_signature(&timestamp, &nonce, &encrypt),
                ));
                match (wire_cfg.mode, wire_cfg.format) {
                    (PushMode::Compatible, _) => wire::compatible_body(&plain, &encrypt),
                    (_, PushFormat::Xml) => wire::safe_mode_xml(original_id, &encrypt),
                    (_, PushFormat::Json) => wire::safe_mode_json(original_id, &encrypt),
                }
            }
            None => plain,
        };
        tracing::debug!(%push_url, format = ?wire_cfg.format, mode = ?wire_cfg.mode, "mock wechat: pushing");
        let judge = Judge {
            crypto: &crypto,
            wire: wire_cfg,
            openid,
            original_id,
        };
        let mut deliveries = 0;
        let mut last = None;
        while deliveries < MAX_DELIVERIES {
            deliveries += 1;
            self.count(PUSH_COUNTER, &app.appid);
            let attempt = self.deliver(&push_url, &query, &body, &judge).await;
            let done = attempt.acknowledged;
            last = Some(attempt);
            if done {
                break;
            }
            tracing::debug!(deliveries, "mock wechat: push not acknowledged");
        }
        Ok(Delivery {
            push_url,
            encrypted: key.is_some(),
            deliveries,
            last: last.unwrap_or(Attempt {
                status: None,
                body: None,
                error: None,
                acknowledged: false,
                reply: None,
            }),
        })
    }

    /// The push URL for this scan: the option, else the stored one, else an error.
    fn push_target(&self, app: &MockApp, opts: &ScanOptions) -> Result<String, MockError> {
        let url = match &opts.push_url {
            Some(u) => u.clone(),
            None => self
                .lock()
                .push_urls
                .get(&app.appid)
                .cloned()
                .ok_or_else(|| MockError::NoPushUrl(app.appid.clone()))?,
        };
        let ok = url::Url::parse(&url)
            .ok()
            .is_some_and(|p| matches!(p.scheme(), "http" | "https"));
        if ok {
            Ok(url)
        } else {
            Err(MockError::Invalid(format!(
                "push URL must be http(s): {url:?}"
            )))
        }
    }

    /// One POST of the event; the answer must come within `push_timeout`, body included.
    async fn deliver(
        &self,
        url: &str,
        query: &[(&str, String)],
        body: &str,
        judge: &Judge<'_>,
    ) -> Attempt {
        let content_type = match judge.wire.format {
            PushFormat::Xml => "text/xml;charset=UTF-8",
            PushFormat::Json => "application/json",
        };
        let sent = self
            .push_http
            .post(url)
            .query(query)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body.to_owned())
            .timeout(self.push_timeout)
            .send()
            .await;
        let mut resp = match sent {
            Ok(r) => r,
            Err(e) => return failed(&e, self.push_timeout),
        };
        let status = resp.status().as_u16();
        let mut answer = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_ANSWER_BYTES.saturating_sub(answer.len());
                    answer.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                Ok(None) => break,
                Err(e) => {
                    let mut a = failed(&e, self.push_timeout);
                    a.status = Some(status);
                    return a;
                }
            }
        }
        let text = String::from_utf8_lossy(&answer).into_owned();
        let judged = if (200..300).contains(&status) {
            judge.answer(&text)
        } else {
            Err(format!("HTTP {status}"))
        };
        let (acknowledged, reply, error) = match judged {
            Ok(reply) => (true, reply, None),
            Err(why) => (false, None, Some(why)),
        };
        Attempt {
            status: Some(status),
            body: Some(text.chars().take(MAX_REPORTED_CHARS).collect()),
            error,
            acknowledged,
            reply,
        }
    }
}

/// What WeChat accepts as the answer to one push (§7.3, §16, §22).
struct Judge<'a> {
    crypto: &'a Crypto,
    wire: PushWire,
    openid: &'a str,
    original_id: &'a str,
}

impl Judge<'_> {
    /// `Ok(None)` for `success` or an empty body; `Ok(Some(text))` for a passive reply WeChat
    /// would show; `Err(why)` for anything WeChat would not take: another format than the
    /// configured one, a plain reply in safe mode, a bad envelope, To/From not swapped.
    fn answer(&self, body: &str) -> Result<Option<String>, String> {
        let body = body.trim();
        if body.is_empty() || body == "success" {
            return Ok(None);
        }
        let field = |doc: &str, name: &str| match self.wire.format {
            PushFormat::Xml => wire::xml_field(doc, name),
            PushFormat::Json => wire::json_field(doc, name),
        };
        let shaped = match self.wire.format {
            PushFormat::Xml => body.starts_with("<xml>") && body.ends_with("</xml>"),
            PushFormat::Json => serde_json::from_str::<Value>(body).is_ok_and(|v| v.is_object()),
        };
        if !shaped {
            return Err(format!(
                "the reply is not {:?} (the configured 数据格式)",
                self.wire.format
            ));
        }
        let inner = match field(body, "Encrypt") {
            Some(encrypt) => {
                let key = self
                    .crypto
                    .key
                    .as_ref()
                    .ok_or("an encrypted reply, but no key")?;
                let ts = field(body, "TimeStamp").ok_or("envelope without TimeStamp")?;
                let nonce = field(body, "Nonce").ok_or("envelope without Nonce")?;
                let sig = field(body, "MsgSignature").ok_or("envelope without MsgSignature")?;
                if sig != self.crypto.msg_signature(&ts, &nonce, &encrypt) {
                    return Err("the reply's MsgSignature does not match".into());
                }
                let (doc, appid) = key
                    .decrypt(&encrypt)
                    .map_err(|e| format!("the reply does not decrypt: {e}"))?;
                if appid != self.crypto.appid {
                    return Err("the reply is encrypted for another appid".into());
                }
                doc
            }
            None if self.wire.mode == PushMode::Safe => {
                return Err("safe mode: a reply must be encrypted".into());
            }
            None => body.to_owned(),
        };
        if field(&inner, "ToUserName").as_deref() != Some(self.openid)
            || field(&inner, "FromUserName").as_deref() != Some(self.original_id)
        {
            return Err(
                "the reply's ToUserName/FromUserName are not the user and the account".into(),
            );
        }
        match field(&inner, "MsgType").as_deref() {
            Some("text") => Ok(Some(field(&inner, "Content").unwrap_or_default())),
            Some("news") => Ok(Some(news_text(&inner, self.wire.format))),
            Some(other) if !other.is_empty() => Ok(Some(format!("[{other}]"))),
            _ => Err("the reply has no MsgType".into()),
        }
    }
}

/// A news reply as chat text: `title <url>` per item (JSON `Articles` as an array or an
/// object wrapping `item`, §16.3).
fn news_text(doc: &str, format: PushFormat) -> String {
    let mut lines = Vec::new();
    match format {
        PushFormat::Xml => {
            let mut rest = doc;
            while let Some(at) = rest.find("<item>") {
                let end = rest[at..].find("</item>").map_or(rest.len(), |e| at + e);
                let item = &rest[at..end];
                lines.push(format!(
                    "{} <{}>",
                    wire::xml_field(item, "Title").unwrap_or_default(),
                    wire::xml_field(item, "Url").unwrap_or_default()
                ));
                rest = &rest[end..];
                if rest.len() <= "</item>".len() {
                    break;
                }
                rest = &rest["</item>".len()..];
            }
        }
        PushFormat::Json => {
            let v: Value = serde_json::from_str(doc).unwrap_or_default();
            let items = match &v["Articles"] {
                Value::Array(a) => a.clone(),
                Value::Object(o) => match o.get("item") {
                    Some(Value::Array(a)) => a.clone(),
                    Some(one) => vec![one.clone()],
                    None => Vec::new(),
                },
                _ => Vec::new(),
            };
            for it in items {
                lines.push(format!(
                    "{} <{}>",
                    it["Title"].as_str().unwrap_or_default(),
                    it["Url"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    lines.join("\n")
}

fn failed(e: &reqwest::Error, timeout: Duration) -> Attempt {
    let error = if e.is_timeout() {
        format!("no answer within {} ms", timeout.as_millis())
    } else if e.is_connect() {
        format!("cannot connect: {}", root_cause(e))
    } else {
        root_cause(e)
    };
    Attempt {
        status: None,
        body: None,
        error: Some(error),
        acknowledged: false,
        reply: None,
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// What WeChat signs and encrypts `app`'s pushes with.
struct Crypto {
    token: String,
    /// Safe mode: the OA has an EncodingAESKey.
    key: Option<SafeModeKey>,
    appid: String,
}

impl Crypto {
    /// The URL `signature` (§7.1).
    fn signature(&self, timestamp: &str, nonce: &str) -> String {
        wire::signature(&[&self.token, timestamp, nonce])
    }

    /// The URL `msg_signature` of safe mode (§7.4).
    fn msg_signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        wire::signature(&[&self.token, timestamp, nonce, encrypt])
    }
}

/// The crypto WeChat would use for `app`'s pushes.
fn push_crypto(app: &MockApp) -> Result<Crypto, MockError> {
    if app.kind != AppKind::OfficialAccount {
        return Err(MockError::WrongAppKind {
            appid: app.appid.clone(),
            kind: app.kind.as_str(),
            reason: "only Official Accounts receive pushes",
        });
    }
    let token = app.token.as_deref().ok_or_else(|| {
        MockError::Invalid(format!(
            "Official Account {} has no push token (MockApp::with_token)",
            app.appid
        ))
    })?;
    let key = match app.encoding_aes_key.as_deref() {
        None => None,
        Some(k) => Some(
            SafeModeKey::new(k)
                .map_err(|e| MockError::Invalid(format!("Official Account {}: {e}", app.appid)))?,
        ),
    };
    Ok(Crypto {
        token: token.to_owned(),
        key,
        appid: app.appid.clone(),
    })
}

/// A control-API error with the status WeChat's situation maps to: 404 unknown code, 410
/// expired code, 400 anything else.
fn scan_error(e: &MockError) -> Response {
    let mut resp = control_error(e);
    *resp.status_mut() = match e {
        MockError::UnknownTicket(_) => StatusCode::NOT_FOUND,
        MockError::ExpiredTicket(_) => StatusCode::GONE,
        _ => StatusCode::BAD_REQUEST,
    };
    resp
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanReq {
    qr_url: Option<String>,
    ticket: Option<String>,
    scene: Option<Value>,
    appid: Option<String>,
    user: String,
    subscribed: Option<bool>,
    push_url: Option<String>,
}

/// `POST /mock/scan` `{"qr_url"|"ticket"|"scene", "user", "subscribed"?, "push_url"?,
/// "appid"?}` → the [`ScanReport`] as JSON, once delivery is over.
pub(crate) async fn scan(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: ScanReq = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return control_error(format!("bad JSON body: {e}")),
    };
    let appid = req
        .appid
        .unwrap_or_else(|| s.primary(AppKind::OfficialAccount).appid.clone());
    let scene = match req.scene {
        None => None,
        Some(Value::String(v)) => Some(v),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return control_error("scene must be a string or a number"),
    };
    let target = match (req.qr_url, req.ticket, scene) {
        (Some(u), None, None) => Target::QrUrl(u),
        (None, Some(t), None) => Target::Ticket(t),
        (None, None, Some(scene)) => Target::Scene { appid, scene },
        _ => return control_error("give exactly one of qr_url, ticket, scene"),
    };
    let opts = ScanOptions {
        subscribed: req.subscribed,
        push_url: req.push_url,
    };
    match s.scan(&target, &req.user, &opts).await {
        Ok(report) => json(&json!(report)),
        Err(e) => scan_error(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PushUrlReq {
    appid: Option<String>,
    #[serde(alias = "url")]
    push_url: Option<String>,
}

/// `POST /mock/push_url` `{"push_url" (or "url"): URL | null, "appid"?}`: sets (or clears)
/// the push URL of an Official Account (default: the primary one).
pub(crate) async fn set_push_url(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: PushUrlReq = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return control_error(format!("bad JSON body: {e}")),
    };
    let appid = req
        .appid
        .unwrap_or_else(|| s.primary(AppKind::OfficialAccount).appid.clone());
    match s.set_push_url(&appid, req.push_url.as_deref()) {
        Ok(()) => json(&json!({ "appid": appid, "push_url": req.push_url })),
        Err(e) => control_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PushFormatReq {
    format: Option<PushFormat>,
    mode: Option<PushMode>,
    appid: Option<String>,
}

/// `POST /mock/push_format` `{"format": "xml"|"json", "mode": "plain"|"compatible"|"safe",
/// "appid"?}`: how an Official Account's pushes go out from now on (unset parts stay).
pub(crate) async fn set_push_format(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: PushFormatReq = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return control_error(format!("bad JSON body: {e}")),
    };
    let appid = req
        .appid
        .unwrap_or_else(|| s.primary(AppKind::OfficialAccount).appid.clone());
    let Some(app) = s.app(&appid) else {
        return control_error(MockError::UnknownApp(appid));
    };
    let now = s.push_wire(app);
    let wire = PushWire {
        format: req.format.unwrap_or(now.format),
        mode: req.mode.unwrap_or(now.mode),
    };
    match s.set_push_wire(&appid, wire) {
        Ok(()) => json(&json!({ "appid": appid, "format": wire.format, "mode": wire.mode })),
        Err(e) => control_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageReq {
    user: String,
    text: String,
    appid: Option<String>,
}

/// `POST /mock/message` `{"user", "text", "appid"?}`: the user sends the Official Account a
/// text message; answers the delivery report (with the account's reply) as JSON.
pub(crate) async fn message(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let req: MessageReq = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return control_error(format!("bad JSON body: {e}")),
    };
    let appid = req
        .appid
        .unwrap_or_else(|| s.primary(AppKind::OfficialAccount).appid.clone());
    match s.send_text(&appid, &req.user, &req.text).await {
        Ok(report) => json(&json!(report)),
        Err(e) => scan_error(&e),
    }
}

impl super::MockWechat {
    /// How the primary Official Account's pushes go out from now on: XML or JSON, plain,
    /// compatible or safe mode (the last two need its EncodingAESKey). Same as
    /// `POST /mock/push_format`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use wechat_auth_mock::{MockWechat, PushFormat, PushMode};
    ///
    /// let mock = MockWechat::start().await?;
    /// mock.set_push_format(PushFormat::Json, PushMode::Compatible)?;
    /// # Ok(()) }
    /// ```
    pub fn set_push_format(&self, format: PushFormat, mode: PushMode) -> Result<(), MockError> {
        let appid = self.shared.primary(AppKind::OfficialAccount).appid.clone();
        self.shared.set_push_wire(&appid, PushWire { format, mode })
    }

    /// `user` sends the primary Official Account the text message `text`: it is pushed to
    /// the push URL (in the configured format and mode, retried like WeChat), and the
    /// account's reply is in the report and in [`chat`](Self::chat).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use axum::{routing::post, Router};
    /// use wechat_auth_mock::MockWechat;
    ///
    /// let mock = MockWechat::start().await?;
    /// let app = Router::new().route("/push", post(|| async { "success" }));
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let push_url = format!("http://{}/push", listener.local_addr()?);
    /// tokio::spawn(async move { axum::serve(listener, app).await });
    /// mock.set_push_url(&mock.official_account().appid, Some(&push_url))?;
    /// let report = mock.send_text("alice", "hello").await?;
    /// assert!(report.acknowledged);
    /// assert_eq!(report.reply, None);
    /// assert_eq!(mock.chat("alice")[0].text, "hello");
    /// # Ok(()) }
    /// ```
    pub async fn send_text(&self, user: &str, text: &str) -> Result<ScanReport, MockError> {
        let appid = self.shared.primary(AppKind::OfficialAccount).appid.clone();
        self.shared.send_text(&appid, user, text).await
    }

    /// [`send_text`](Self::send_text) to the Official Account `appid` (for example
    /// [`unverified_account`](Self::unverified_account)): pushed to that account's push URL
    /// in its format and mode, signed with its token and sealed with its key; the report's
    /// `reply` is the passive reply as the user sees it (decrypted in safe mode). Same as
    /// `POST /mock/message {"user","text","appid"}`.
    ///
    /// Errors: [`MockError::UnknownApp`], [`MockError::UnknownUser`],
    /// [`MockError::WrongAppKind`] for an app that is no Official Account,
    /// [`MockError::NoPushUrl`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use wechat_auth_mock::{MockError, MockWechat};
    ///
    /// let mock = MockWechat::start().await?;
    /// let sub = mock.unverified_account().appid.clone();
    /// let err = mock.send_text_to(&sub, "alice", "登录 123456").await.unwrap_err();
    /// assert!(matches!(err, MockError::NoPushUrl(_)));
    /// let site = mock.website().appid.clone();
    /// assert!(matches!(mock.send_text_to(&site, "alice", "hi").await, Err(MockError::WrongAppKind { .. })));
    /// # Ok(()) }
    /// ```
    pub async fn send_text_to(
        &self,
        appid: &str,
        user: &str,
        text: &str,
    ) -> Result<ScanReport, MockError> {
        self.shared.send_text(appid, user, text).await
    }

    /// [`set_push_format`](Self::set_push_format) for the Official Account `appid`. Same as
    /// `POST /mock/push_format {"format","mode","appid"}`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use wechat_auth_mock::{MockWechat, PushFormat, PushMode};
    ///
    /// let mock = MockWechat::start().await?;
    /// let sub = mock.unverified_account().appid.clone();
    /// mock.set_push_format_for(&sub, PushFormat::Xml, PushMode::Compatible)?;
    /// assert!(mock.set_push_format_for(&mock.website().appid, PushFormat::Xml, PushMode::Plain).is_err());
    /// # Ok(()) }
    /// ```
    pub fn set_push_format_for(
        &self,
        appid: &str,
        format: PushFormat,
        mode: PushMode,
    ) -> Result<(), MockError> {
        self.shared.set_push_wire(appid, PushWire { format, mode })
    }

    /// `user`'s chat with the Official Accounts: what they sent, and the accounts' replies,
    /// oldest first (the last 50).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert!(mock.chat("alice").is_empty());
    /// # Ok(()) }
    /// ```
    pub fn chat(&self, user: &str) -> Vec<ChatLine> {
        self.shared
            .lock()
            .chats
            .get(user)
            .map(|c| c.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// `user`'s chat with the one Official Account `appid`, oldest first.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let mock = wechat_auth_mock::MockWechat::start().await?;
    /// assert!(mock.chat_with("alice", &mock.unverified_account().appid).is_empty());
    /// # Ok(()) }
    /// ```
    pub fn chat_with(&self, user: &str, appid: &str) -> Vec<ChatLine> {
        self.shared
            .lock()
            .chats
            .get(user)
            .map(|c| c.iter().filter(|l| l.account == appid).cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    fn judge(crypto: &Crypto, format: PushFormat, mode: PushMode) -> Judge<'_> {
        Judge {
            crypto,
            wire: PushWire { format, mode },
            openid: "oUSER",
            original_id: "gh_1",
        }
    }

    fn crypto() -> Crypto {
        Crypto {
            token: "mocktoken".into(),
            key: Some(SafeModeKey::new(KEY).unwrap()),
            appid: "wx1".into(),
        }
    }

    const TEXT_XML: &str = "<xml><ToUserName><![CDATA[oUSER]]></ToUserName><FromUserName><![CDATA[gh_1]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content></xml>";
    const TEXT_JSON: &str = r#"{"ToUserName":"oUSER","FromUserName":"gh_1","CreateTime":1,"MsgType":"text","Content":"hi"}"#;

    fn sealed(c: &Crypto, doc: &str, format: PushFormat) -> String {
        let encrypt = c
            .key
            .as_ref()
            .unwrap()
            .encrypt(*b"0123456789abcdef", doc, &c.appid);
        let sig = c.msg_signature("1700000001", "42", &encrypt);
        match format {
            PushFormat::Xml => wire::reply_envelope_xml(&encrypt, &sig, 1_700_000_001, "42"),
            PushFormat::Json => format!(
                r#"{{"Encrypt":"{encrypt}","MsgSignature":"{sig}","TimeStamp":"1700000001","Nonce":42}}"#
            ),
        }
    }

    #[test]
    fn success_and_empty_need_no_encryption_in_any_mode() {
        let c = crypto();
        for mode in [PushMode::Plain, PushMode::Compatible, PushMode::Safe] {
            for format in [PushFormat::Xml, PushFormat::Json] {
                let j = judge(&c, format, mode);
                assert_eq!(j.answer("success"), Ok(None));
                assert_eq!(j.answer(""), Ok(None));
            }
        }
    }

    #[test]
    fn replies_are_judged_as_wechat_does() {
        let c = crypto();
        // Plain replies: fine in plain and compatible mode, refused in safe mode.
        let plain = judge(&c, PushFormat::Xml, PushMode::Plain);
        assert_eq!(plain.answer(TEXT_XML), Ok(Some("hi".into())));
        let compat = judge(&c, PushFormat::Xml, PushMode::Compatible);
        assert_eq!(compat.answer(TEXT_XML), Ok(Some("hi".into())));
        let safe = judge(&c, PushFormat::Xml, PushMode::Safe);
        assert!(safe.answer(TEXT_XML).unwrap_err().contains("encrypted"));
        // Sealed replies open, in both formats (TimeStamp/Nonce as number or string).
        assert_eq!(
            safe.answer(&sealed(&c, TEXT_XML, PushFormat::Xml)),
            Ok(Some("hi".into()))
        );
        let json_safe = judge(&c, PushFormat::Json, PushMode::Safe);
        assert_eq!(
            json_safe.answer(&sealed(&c, TEXT_JSON, PushFormat::Json)),
            Ok(Some("hi".into()))
        );
        // The other format than configured is junk to WeChat.
        assert!(
            json_safe
                .answer(&sealed(&c, TEXT_XML, PushFormat::Xml))
                .is_err()
        );
        assert!(
            judge(&c, PushFormat::Json, PushMode::Plain)
                .answer(TEXT_XML)
                .is_err()
        );
        // A tampered signature, To/From not swapped, no MsgType.
        let bad_sig = sealed(&c, TEXT_XML, PushFormat::Xml)
            .replace("<TimeStamp>1700000001", "<TimeStamp>1700000002");
        assert!(safe.answer(&bad_sig).unwrap_err().contains("MsgSignature"));
        let unswapped = TEXT_XML.replace("oUSER", "gh_x");
        assert!(plain.answer(&unswapped).unwrap_err().contains("ToUserName"));
        let no_type = TEXT_XML.replace("<MsgType><![CDATA[text]]></MsgType>", "");
        assert!(plain.answer(&no_type).is_err());
    }

    #[test]
    fn news_replies_read_as_titles_and_links() {
        let xml = "<xml><ToUserName>oUSER</ToUserName><FromUserName>gh_1</FromUserName><MsgType>news</MsgType><ArticleCount>2</ArticleCount><Articles><item><Title>A</Title><Url>https://a/</Url></item><item><Title>B</Title><Url>https://b/</Url></item></Articles></xml>";
        assert_eq!(
            news_text(xml, PushFormat::Xml),
            "A <https://a/>\nB <https://b/>"
        );
        let array = r#"{"MsgType":"news","Articles":[{"Title":"A","Url":"https://a/"}]}"#;
        let wrapped =
            r#"{"MsgType":"news","Articles":{"item":[{"Title":"A","Url":"https://a/"}]}}"#;
        assert_eq!(news_text(array, PushFormat::Json), "A <https://a/>");
        assert_eq!(news_text(wrapped, PushFormat::Json), "A <https://a/>");
    }
}
