//! [`PushFormat`]: XML or JSON (the console's 数据格式), how a body says which it is, and the
//! JSON reader (protocol addendum §15).

use serde_json::Value;

use super::{MAX_BODY_BYTES, PushError, PushMessage};

/// The data format of an Official Account's pushes (the console's "数据格式"): XML (the
/// default) or JSON. Replies go back in the format the push came in.
///
/// ```
/// use wechat_auth::push::PushFormat;
///
/// assert_eq!(PushFormat::sniff(Some("application/json"), b"{}"), PushFormat::Json);
/// assert_eq!(PushFormat::sniff(Some("text/xml;charset=UTF-8"), b"<xml/>"), PushFormat::Xml);
/// // No or a vague Content-Type: the first non-blank byte decides.
/// assert_eq!(PushFormat::sniff(None, b"\n  {\"ToUserName\":\"gh_1\"}"), PushFormat::Json);
/// assert_eq!(PushFormat::sniff(Some("text/plain"), b"<xml></xml>"), PushFormat::Xml);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PushFormat {
    /// `<xml>…</xml>` bodies, `Content-Type: text/xml`.
    #[default]
    Xml,
    /// JSON objects with the XML element names as keys, `Content-Type: application/json`.
    Json,
}

impl PushFormat {
    /// The format of a push body: `Content-Type` containing `json` or `xml` first, then the
    /// first non-blank byte (`{` is JSON, anything else XML).
    pub fn sniff(content_type: Option<&str>, body: &[u8]) -> Self {
        if let Some(ct) = content_type.map(str::to_ascii_lowercase) {
            if ct.contains("json") {
                return Self::Json;
            }
            if ct.contains("xml") {
                return Self::Xml;
            }
        }
        match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Self::Json,
            _ => Self::Xml,
        }
    }

    /// The `Content-Type` of a reply in this format.
    ///
    /// ```
    /// assert_eq!(wechat_auth::push::PushFormat::Json.content_type(), "application/json");
    /// ```
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Xml => "text/xml; charset=utf-8",
            Self::Json => "application/json",
        }
    }
}

/// A string field, or a number written as text (`CreateTime`, `MsgId` are JSON numbers).
fn text(v: &Value, key: &str) -> Result<Option<String>, PushError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(PushError::Json(format!(
            "{key} is neither text nor a number"
        ))),
    }
}

fn number(v: &Value, key: &str) -> Result<Option<u64>, PushError> {
    match text(v, key)? {
        None => Ok(None),
        Some(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| PushError::Json(format!("{key} is not a number"))),
    }
}

impl PushMessage {
    /// Parses a JSON push body (at most [`MAX_BODY_BYTES`]): an object whose keys are the XML
    /// element names; numbers may be JSON numbers or strings. Like [`PushMessage::parse`], a
    /// non-empty `ToUserName` or `Encrypt` is required. Errors never quote the body.
    ///
    /// ```
    /// use wechat_auth::push::{PushError, PushMessage};
    ///
    /// // The plaintext JSON push of the protocol addendum (§15.2), pretty-printed as sent.
    /// let msg = PushMessage::parse_json(r#"{
    ///     "ToUserName": "gh_97417a04a28d",
    ///     "FromUserName": "o9AgO5Kd5ggOC-bXrbNODIiE3bGY",
    ///     "CreateTime": 1714037059,
    ///     "MsgType": "event",
    ///     "Event": "debug_demo",
    ///     "debug_str": "hello world"
    /// }"#).unwrap();
    /// assert_eq!(msg.create_time, 1714037059);
    /// assert_eq!(msg.event.as_deref(), Some("debug_demo"));
    /// let err = PushMessage::parse_json(r#"{"ToUserName": "gh_1", "CreateTime": "secret words"}"#);
    /// assert!(!err.unwrap_err().to_string().contains("secret"));
    /// assert!(PushMessage::parse_json("<xml></xml>").is_err());
    /// ```
    pub fn parse_json(json: &str) -> Result<Self, PushError> {
        if json.len() > MAX_BODY_BYTES {
            return Err(PushError::TooLarge);
        }
        // serde_json's messages can quote the input: keep only where it went wrong.
        let v: Value = serde_json::from_str(json).map_err(|e| {
            PushError::Json(format!(
                "not a JSON document (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if !v.is_object() {
            return Err(PushError::Json("not a JSON object".into()));
        }
        let to_user_name = text(&v, "ToUserName")?;
        let encrypt = text(&v, "Encrypt")?;
        if to_user_name.is_none() && encrypt.is_none() {
            return Err(PushError::Json("neither ToUserName nor Encrypt".into()));
        }
        Ok(PushMessage {
            to_user_name: to_user_name.unwrap_or_default(),
            from_user_name: text(&v, "FromUserName")?.unwrap_or_default(),
            create_time: number(&v, "CreateTime")?.unwrap_or(0),
            msg_type: text(&v, "MsgType")?.unwrap_or_default(),
            event: text(&v, "Event")?,
            event_key: text(&v, "EventKey")?,
            ticket: text(&v, "Ticket")?,
            encrypt,
            msg_id: number(&v, "MsgId")?,
        })
    }

    /// Parses a push body in `format`.
    ///
    /// ```
    /// use wechat_auth::push::{PushFormat, PushMessage};
    ///
    /// let m = PushMessage::parse_as(PushFormat::Json, r#"{"ToUserName":"gh_1","MsgType":"text"}"#).unwrap();
    /// assert_eq!(m.msg_type, "text");
    /// ```
    pub fn parse_as(format: PushFormat, body: &str) -> Result<Self, PushError> {
        match format {
            PushFormat::Xml => Self::parse(body),
            PushFormat::Json => Self::parse_json(body),
        }
    }

    /// Whether the body carried the message's own fields next to `Encrypt` (compatible mode)
    /// or alone (a plaintext push): a sender and a type.
    pub(super) fn has_plain_fields(&self) -> bool {
        !self.from_user_name.is_empty() && !self.msg_type.is_empty()
    }
}
