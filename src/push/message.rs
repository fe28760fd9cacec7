//! [`PushQuery`] and [`PushMessage`]: what a push request says, read from its query string
//! and its XML body.

use serde::Deserialize;

use super::{MAX_BODY_BYTES, PushError};

/// The query string of a push request (`GET` verification or `POST` event).
///
/// ```
/// use wechat_auth::push::PushQuery;
///
/// let q = PushQuery::parse("signature=ab&timestamp=1&nonce=2&openid=oX&encrypt_type=aes&msg_signature=cd");
/// assert!(q.is_encrypted());
/// assert_eq!(q.openid.as_deref(), Some("oX"));
/// assert!(!PushQuery::parse("signature=ab&encrypt_type=raw").is_encrypted());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushQuery {
    /// SHA-1 over token, `timestamp` and `nonce` (every request).
    pub signature: Option<String>,
    /// Unix seconds, as WeChat wrote them.
    pub timestamp: Option<String>,
    /// A random number.
    pub nonce: Option<String>,
    /// `GET` verification only: the string to echo back.
    pub echostr: Option<String>,
    /// `POST`: the sender's openid.
    pub openid: Option<String>,
    /// `aes` in compatible / safe mode; absent or `raw` in plaintext mode.
    pub encrypt_type: Option<String>,
    /// SHA-1 over token, `timestamp`, `nonce` and the body's `Encrypt` (with `encrypt_type=aes`).
    pub msg_signature: Option<String>,
}

impl PushQuery {
    /// Reads the parameters from a raw (still percent-encoded) query string; unknown
    /// parameters are ignored, the first of repeated ones wins.
    ///
    /// ```
    /// let q = wechat_auth::push::PushQuery::parse("nonce=7&timestamp=1700000000&x=y&nonce=8");
    /// assert_eq!(q.nonce.as_deref(), Some("7"));
    /// ```
    pub fn parse(query: &str) -> Self {
        let mut q = PushQuery::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match k.as_ref() {
                "signature" => &mut q.signature,
                "timestamp" => &mut q.timestamp,
                "nonce" => &mut q.nonce,
                "echostr" => &mut q.echostr,
                "openid" => &mut q.openid,
                "encrypt_type" => &mut q.encrypt_type,
                "msg_signature" => &mut q.msg_signature,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(v.into_owned());
            }
        }
        q
    }

    /// Whether the request says it is encrypted (`encrypt_type=aes`).
    ///
    /// ```
    /// assert!(wechat_auth::push::PushQuery::parse("encrypt_type=aes").is_encrypted());
    /// ```
    pub fn is_encrypted(&self) -> bool {
        self.encrypt_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("aes"))
    }
}

/// A pushed message or event, as parsed from WeChat's XML.
///
/// Text in CDATA and plain text are both read; unknown elements are ignored; empty elements
/// count as absent. A safe-mode body has only `to_user_name` and `encrypt`.
///
/// ```
/// use wechat_auth::push::PushMessage;
///
/// let msg = PushMessage::parse(
///     "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>\
///      <FromUserName><![CDATA[oUSER]]></FromUserName><CreateTime>1700000000</CreateTime>\
///      <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[SCAN]]></Event>\
///      <EventKey><![CDATA[123123]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket></xml>",
/// ).unwrap();
/// assert_eq!(msg.from_user_name, "oUSER");
/// assert_eq!(msg.create_time, 1700000000);
/// assert_eq!(msg.scan_scene(), Some("123123"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushMessage {
    /// The Official Account's original id (`gh_…`; empty only in an encrypted reply envelope).
    pub to_user_name: String,
    /// The sender's openid (empty in a safe-mode envelope).
    pub from_user_name: String,
    /// Unix seconds (0 when absent).
    pub create_time: u64,
    /// `event`, `text`, `image`, … (empty in a safe-mode envelope).
    pub msg_type: String,
    /// For events: `subscribe`, `unsubscribe`, `SCAN`, `CLICK`, …
    pub event: Option<String>,
    /// For events: `qrscene_SCENE` (subscribe by QR code), `SCENE` (`SCAN`), a menu key, …
    pub event_key: Option<String>,
    /// For QR code events: the ticket of the scanned code.
    pub ticket: Option<String>,
    /// Compatible / safe mode: the base64 ciphertext.
    pub encrypt: Option<String>,
    /// For ordinary messages: WeChat's message id.
    pub msg_id: Option<u64>,
}

/// Every field as text; numbers are parsed afterwards so CDATA-wrapped numbers work too.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMessage {
    #[serde(rename = "ToUserName")]
    to_user_name: Option<String>,
    #[serde(rename = "FromUserName")]
    from_user_name: Option<String>,
    #[serde(rename = "CreateTime")]
    create_time: Option<String>,
    #[serde(rename = "MsgType")]
    msg_type: Option<String>,
    #[serde(rename = "Event")]
    event: Option<String>,
    #[serde(rename = "EventKey")]
    event_key: Option<String>,
    #[serde(rename = "Ticket")]
    ticket: Option<String>,
    #[serde(rename = "Encrypt")]
    encrypt: Option<String>,
    #[serde(rename = "MsgId")]
    msg_id: Option<String>,
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

fn number(v: Option<String>, what: &str) -> Result<Option<u64>, PushError> {
    match non_empty(v) {
        None => Ok(None),
        Some(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| PushError::Xml(format!("{what} is not a number"))),
    }
}

impl PushMessage {
    /// Parses a push body (at most [`MAX_BODY_BYTES`]). The root element must contain a
    /// non-empty `ToUserName` (every push has one) or `Encrypt` (an encrypted reply).
    ///
    /// ```
    /// use wechat_auth::push::{PushError, PushMessage};
    ///
    /// let safe = PushMessage::parse(
    ///     "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[QUJD]]></Encrypt></xml>",
    /// ).unwrap();
    /// assert_eq!(safe.encrypt.as_deref(), Some("QUJD"));
    /// assert!(matches!(PushMessage::parse("{\"json\":1}"), Err(PushError::Xml(_))));
    /// assert_eq!(PushMessage::parse(&"x".repeat(70_000)), Err(PushError::TooLarge));
    /// ```
    pub fn parse(xml: &str) -> Result<Self, PushError> {
        if xml.len() > MAX_BODY_BYTES {
            return Err(PushError::TooLarge);
        }
        // quick-xml's messages can quote the input (an entity name, a value): say only that
        // it failed, so a decrypted body never reaches an error or a log line.
        let raw: RawMessage = quick_xml::de::from_str(xml)
            .map_err(|_| PushError::Xml("not a well-formed push XML document".into()))?;
        let to_user_name = non_empty(raw.to_user_name);
        let encrypt = non_empty(raw.encrypt);
        if to_user_name.is_none() && encrypt.is_none() {
            return Err(PushError::Xml("neither ToUserName nor Encrypt".into()));
        }
        Ok(PushMessage {
            to_user_name: to_user_name.unwrap_or_default(),
            from_user_name: raw.from_user_name.unwrap_or_default(),
            create_time: number(raw.create_time, "CreateTime")?.unwrap_or(0),
            msg_type: raw.msg_type.unwrap_or_default(),
            event: non_empty(raw.event),
            event_key: non_empty(raw.event_key),
            ticket: non_empty(raw.ticket),
            encrypt,
            msg_id: number(raw.msg_id, "MsgId")?,
        })
    }

    /// Whether this is an event (`MsgType` `event`, any case).
    ///
    /// ```
    /// use wechat_auth::{mock::wire::event_xml, push::PushMessage}; // the mock's writer
    ///
    /// let xml = event_xml("gh_1", "oU", 1, "unsubscribe", "", "");
    /// assert!(PushMessage::parse(&xml).unwrap().is_event());
    /// ```
    pub fn is_event(&self) -> bool {
        self.msg_type.eq_ignore_ascii_case("event")
    }

    /// The scene of a parametric QR code this event reports a scan of, if any:
    /// `subscribe` with `EventKey` `qrscene_X` → `X` (a user who followed by scanning);
    /// `SCAN` with `EventKey` `X` → `X` (a follower who scanned). Event names are compared
    /// case-insensitively. A plain follow (no or empty key), product scans
    /// (`scanbarcode|…`, `scanimage|…`) and every other event or message give `None`.
    ///
    /// ```
    /// use wechat_auth::{mock::wire::event_xml, push::PushMessage}; // the mock's writer
    ///
    /// let scene = |event: &str, key: &str| {
    ///     PushMessage::parse(&event_xml("gh_1", "oU", 1, event, key, "T")).unwrap()
    ///         .scan_scene().map(str::to_owned)
    /// };
    /// assert_eq!(scene("subscribe", "qrscene_login_1").as_deref(), Some("login_1"));
    /// assert_eq!(scene("SCAN", "login_1").as_deref(), Some("login_1"));
    /// assert_eq!(scene("subscribe", ""), None);
    /// assert_eq!(scene("subscribe", "scanbarcode|EAN_13|6901234567892"), None);
    /// assert_eq!(scene("CLICK", "login_1"), None);
    /// ```
    pub fn scan_scene(&self) -> Option<&str> {
        if !self.is_event() {
            return None;
        }
        let event = self.event.as_deref()?;
        let key = self.event_key.as_deref()?;
        let scene = if event.eq_ignore_ascii_case("subscribe") {
            key.strip_prefix("qrscene_")?
        } else if event.eq_ignore_ascii_case("scan") {
            key
        } else {
            return None;
        };
        let product = scene.starts_with("scanbarcode|") || scene.starts_with("scanimage|");
        (!scene.is_empty() && !product).then_some(scene)
    }

    /// The key to deduplicate re-deliveries on (WeChat re-sends the same XML when it got no
    /// answer in time): the `MsgId` for messages that have one; for events (and messages
    /// without one) WeChat's `FromUserName` + `CreateTime`, followed by `Event` and
    /// `EventKey`. A re-delivery is the same XML, so it has the same key; the event and key
    /// keep two different scans by one user within one second (`CreateTime` has whole
    /// seconds) from being taken for one.
    ///
    /// ```
    /// use wechat_auth::{mock::wire::event_xml, push::PushMessage}; // the mock's writer
    ///
    /// let msg = PushMessage::parse(&event_xml("gh_1", "oU", 1700000000, "SCAN", "1", "T")).unwrap();
    /// assert_eq!(msg.dedupe_key(), "oU:1700000000:SCAN:1");
    /// let other = PushMessage::parse(&event_xml("gh_1", "oU", 1700000000, "SCAN", "2", "T2")).unwrap();
    /// assert_ne!(msg.dedupe_key(), other.dedupe_key());
    /// let text = PushMessage::parse("<xml><ToUserName>gh_1</ToUserName><FromUserName>oU</FromUserName>\
    ///     <CreateTime>1</CreateTime><MsgType>text</MsgType><MsgId>1234567890123456</MsgId></xml>").unwrap();
    /// assert_eq!(text.dedupe_key(), "1234567890123456");
    /// ```
    pub fn dedupe_key(&self) -> String {
        match self.msg_id {
            Some(id) if !self.is_event() => id.to_string(),
            _ => format!(
                "{}:{}:{}:{}",
                self.from_user_name,
                self.create_time,
                self.event.as_deref().unwrap_or_default(),
                self.event_key.as_deref().unwrap_or_default()
            ),
        }
    }
}
