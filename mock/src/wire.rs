//! WeChat's side of the Official Account push protocol (protocol §7), written for the mock
//! alone: the SHA-1 signatures, the safe-mode AES-256-CBC envelope, the event XML it sends
//! and the little XML reading it needs to judge a reply.
//!
//! This is deliberately a second implementation, written from the protocol notes and not
//! shared with any receiver (design §6): a receiver tested against the mock then proves that
//! two independent readings of the protocol agree. Tests that receive the mock's pushes may
//! use it to check what they got.
//!
//! ```
//! use wechat_auth_mock::wire::{SafeModeKey, signature};
//!
//! // §7.1: the URL signature covers the token, the timestamp and the nonce.
//! assert_eq!(
//!     signature(&["AAAAA", "1714036504", "1514711492"]),
//!     "f464b24fc39322e44b38aa78f5edd27bd1441696"
//! );
//! // §7.4: encrypt, then decrypt back to the message and the appid.
//! let key = SafeModeKey::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
//! let sealed = key.encrypt(*b"0123456789abcdef", "<xml></xml>", "wx0000000000000001");
//! let (msg, appid) = key.decrypt(&sealed).unwrap();
//! assert_eq!((msg.as_str(), appid.as_str()), ("<xml></xml>", "wx0000000000000001"));
//! ```

use std::fmt::Write as _;

use aes::cipher::{BlockDecryptMut as _, BlockEncryptMut as _, KeyIvInit as _};
use base64::Engine as _;
use base64::alphabet::STANDARD as STANDARD_ALPHABET;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use sha1::{Digest as _, Sha1};

/// Safe-mode plaintext is padded to a multiple of this many bytes (§7.4), not AES's 16.
const PAD_BLOCK: usize = 32;

/// Decodes `EncodingAESKey + "="`: real keys often leave non-zero bits in their last
/// character, which a strict decoder rejects (§7.4, "Rust gotcha").
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &STANDARD_ALPHABET,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

type Encryptor = cbc::Encryptor<aes::Aes256>;
type Decryptor = cbc::Decryptor<aes::Aes256>;

/// SHA-1 over the strings sorted byte-wise and joined, in lowercase hex: the `signature`
/// (token, timestamp, nonce) and the `msg_signature` (those and `Encrypt`) of §7.1 and §7.4.
///
/// ```
/// assert_eq!(
///     wechat_auth_mock::wire::signature(&["mocktoken", "1700000000", "123456789"]),
///     "009b5130800b140b20b903e9993552e67db83503"
/// );
/// ```
pub fn signature(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    let digest = Sha1::digest(sorted.concat().as_bytes());
    let mut hex = String::with_capacity(40);
    for b in digest {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// Why a safe-mode envelope or key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The EncodingAESKey is not 43 letters or digits.
    #[error("EncodingAESKey must be 43 letters or digits")]
    BadKey,
    /// `Encrypt` is not standard base64.
    #[error("Encrypt is not base64")]
    NotBase64,
    /// The ciphertext is empty or not whole AES blocks.
    #[error("ciphertext is not whole AES blocks")]
    BadLength,
    /// The PKCS#7 padding (1..=32 bytes) is wrong.
    #[error("bad padding")]
    BadPadding,
    /// The length field points past the end, or the message is not UTF-8.
    #[error("malformed plaintext")]
    BadPlaintext,
}

/// The AES key of an Official Account in safe mode: `Base64Decode(EncodingAESKey + "=")`,
/// 32 bytes; the IV is its first 16 bytes (§7.4).
#[derive(Clone)]
pub struct SafeModeKey {
    key: [u8; 32],
}

impl std::fmt::Debug for SafeModeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SafeModeKey(..)")
    }
}

impl SafeModeKey {
    /// The key of a 43-character EncodingAESKey.
    ///
    /// ```
    /// use wechat_auth_mock::wire::{SafeModeKey, WireError};
    ///
    /// assert!(SafeModeKey::new("kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR").is_ok());
    /// assert_eq!(SafeModeKey::new("short").unwrap_err(), WireError::BadKey);
    /// ```
    pub fn new(encoding_aes_key: &str) -> Result<Self, WireError> {
        if encoding_aes_key.len() != 43
            || !encoding_aes_key.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(WireError::BadKey);
        }
        let bytes = LENIENT
            .decode(format!("{encoding_aes_key}="))
            .map_err(|_| WireError::BadKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| WireError::BadKey)?;
        Ok(SafeModeKey { key })
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }

    /// `Encrypt` for `msg`: base64 of AES-256-CBC over `random ‖ len(msg) as u32 BE ‖ msg ‖
    /// appid`, PKCS#7-padded to a multiple of 32 bytes.
    pub fn encrypt(&self, random: [u8; 16], msg: &str, appid: &str) -> String {
        let mut plain = Vec::with_capacity(16 + 4 + msg.len() + appid.len() + PAD_BLOCK);
        plain.extend_from_slice(&random);
        let len = u32::try_from(msg.len()).expect("a push message is far below 4 GiB");
        plain.extend_from_slice(&len.to_be_bytes());
        plain.extend_from_slice(msg.as_bytes());
        plain.extend_from_slice(appid.as_bytes());
        let pad = PAD_BLOCK - plain.len() % PAD_BLOCK; // 1..=32
        plain.resize(plain.len() + pad, pad as u8);
        let len = plain.len();
        let sealed = Encryptor::new(&self.key.into(), &self.iv().into())
            .encrypt_padded_mut::<aes::cipher::block_padding::NoPadding>(&mut plain, len)
            .expect("the plaintext is whole blocks");
        STANDARD.encode(sealed)
    }

    /// The message and the appid inside `Encrypt`. The caller compares the appid with its own.
    pub fn decrypt(&self, encrypt: &str) -> Result<(String, String), WireError> {
        let mut data = STANDARD
            .decode(encrypt.trim())
            .map_err(|_| WireError::NotBase64)?;
        if data.is_empty() || data.len() % 16 != 0 {
            return Err(WireError::BadLength);
        }
        let plain = Decryptor::new(&self.key.into(), &self.iv().into())
            .decrypt_padded_mut::<aes::cipher::block_padding::NoPadding>(&mut data)
            .map_err(|_| WireError::BadLength)?;
        let pad = usize::from(*plain.last().ok_or(WireError::BadLength)?);
        if !(1..=PAD_BLOCK).contains(&pad) || pad > plain.len() {
            return Err(WireError::BadPadding);
        }
        let body = &plain[..plain.len() - pad];
        if body.len() < 20 {
            return Err(WireError::BadPlaintext);
        }
        let len = u32::from_be_bytes([body[16], body[17], body[18], body[19]]) as usize;
        let rest = &body[20..];
        if len > rest.len() {
            return Err(WireError::BadPlaintext);
        }
        let (msg, appid) = rest.split_at(len);
        let msg = String::from_utf8(msg.to_vec()).map_err(|_| WireError::BadPlaintext)?;
        let appid = String::from_utf8(appid.to_vec()).map_err(|_| WireError::BadPlaintext)?;
        Ok((msg, appid))
    }
}

/// `<![CDATA[…]]>` around `s`; a `]]>` inside is split across two sections.
fn cdata(s: &str) -> String {
    format!("<![CDATA[{}]]>", s.replace("]]>", "]]]]><![CDATA[>"))
}

/// The `subscribe` / `SCAN` event XML WeChat pushes (§7.2): one line, no spaces between tags.
///
/// ```
/// let xml = wechat_auth_mock::wire::event_xml("gh_1", "o1", 7, "SCAN", "42", "T");
/// assert_eq!(
///     xml,
///     "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName>\
///      <CreateTime>7</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[SCAN]]></Event>\
///      <EventKey><![CDATA[42]]></EventKey><Ticket><![CDATA[T]]></Ticket></xml>"
/// );
/// ```
pub fn event_xml(
    to_user_name: &str,
    from_user_name: &str,
    create_time: u64,
    event: &str,
    event_key: &str,
    ticket: &str,
) -> String {
    format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName>\
         <CreateTime>{create_time}</CreateTime><MsgType>{}</MsgType><Event>{}</Event>\
         <EventKey>{}</EventKey><Ticket>{}</Ticket></xml>",
        cdata(to_user_name),
        cdata(from_user_name),
        cdata("event"),
        cdata(event),
        cdata(event_key),
        cdata(ticket),
    )
}

/// The safe-mode push body: the OA's original id and `Encrypt` only (§7.4).
pub fn safe_mode_xml(to_user_name: &str, encrypt: &str) -> String {
    format!(
        "<xml><ToUserName>{}</ToUserName><Encrypt>{}</Encrypt></xml>",
        cdata(to_user_name),
        cdata(encrypt)
    )
}

/// The encrypted reply envelope (§7.4, §16.4).
pub fn reply_envelope_xml(
    encrypt: &str,
    msg_signature: &str,
    timestamp: u64,
    nonce: &str,
) -> String {
    format!(
        "<xml><Encrypt>{}</Encrypt><MsgSignature>{}</MsgSignature>\
         <TimeStamp>{timestamp}</TimeStamp><Nonce>{}</Nonce></xml>",
        cdata(encrypt),
        cdata(msg_signature),
        cdata(nonce)
    )
}

/// A user's text message as WeChat pushes it in XML (protocol §16.6: it takes a reply).
///
/// ```
/// let xml = wechat_auth_mock::wire::text_message_xml("gh_1", "o1", 7, "hi", 42);
/// assert!(xml.contains("<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>42</MsgId>"));
/// ```
pub fn text_message_xml(
    to_user_name: &str,
    from_user_name: &str,
    create_time: u64,
    content: &str,
    msg_id: u64,
) -> String {
    format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName>\
         <CreateTime>{create_time}</CreateTime><MsgType>{}</MsgType><Content>{}</Content>\
         <MsgId>{msg_id}</MsgId></xml>",
        cdata(to_user_name),
        cdata(from_user_name),
        cdata("text"),
        cdata(content),
    )
}

/// The `subscribe` / `SCAN` event in the JSON data format (§15.1: the XML element names as
/// keys, `CreateTime` a number), compact as WeChat encrypts it.
///
/// ```
/// assert_eq!(
///     wechat_auth_mock::wire::event_json("gh_1", "o1", 7, "SCAN", "42", "T"),
///     r#"{"ToUserName":"gh_1","FromUserName":"o1","CreateTime":7,"MsgType":"event","Event":"SCAN","EventKey":"42","Ticket":"T"}"#
/// );
/// ```
pub fn event_json(
    to_user_name: &str,
    from_user_name: &str,
    create_time: u64,
    event: &str,
    event_key: &str,
    ticket: &str,
) -> String {
    format!(
        "{{\"ToUserName\":{},\"FromUserName\":{},\"CreateTime\":{create_time},\"MsgType\":\"event\",\
         \"Event\":{},\"EventKey\":{},\"Ticket\":{}}}",
        json_string(to_user_name),
        json_string(from_user_name),
        json_string(event),
        json_string(event_key),
        json_string(ticket),
    )
}

/// A user's text message in the JSON data format.
///
/// ```
/// let json = wechat_auth_mock::wire::text_message_json("gh_1", "o1", 7, "hi \"you\"", 42);
/// assert!(json.ends_with(r#""MsgType":"text","Content":"hi \"you\"","MsgId":42}"#), "{json}");
/// ```
pub fn text_message_json(
    to_user_name: &str,
    from_user_name: &str,
    create_time: u64,
    content: &str,
    msg_id: u64,
) -> String {
    format!(
        "{{\"ToUserName\":{},\"FromUserName\":{},\"CreateTime\":{create_time},\"MsgType\":\"text\",\
         \"Content\":{},\"MsgId\":{msg_id}}}",
        json_string(to_user_name),
        json_string(from_user_name),
        json_string(content),
    )
}

/// The safe-mode JSON push body (§15.3): `{"ToUserName","Encrypt"}`.
///
/// ```
/// assert_eq!(wechat_auth_mock::wire::safe_mode_json("gh_1", "QUJD"), r#"{"ToUserName":"gh_1","Encrypt":"QUJD"}"#);
/// ```
pub fn safe_mode_json(to_user_name: &str, encrypt: &str) -> String {
    format!(
        "{{\"ToUserName\":{},\"Encrypt\":{}}}",
        json_string(to_user_name),
        json_string(encrypt)
    )
}

/// A compatible-mode body (§15.5): the plaintext document with `Encrypt` added as one more
/// field, in XML (before `</xml>`) or JSON (before the closing brace).
///
/// ```
/// use wechat_auth_mock::wire::compatible_body;
///
/// assert_eq!(compatible_body("<xml><A>1</A></xml>", "QUJD"), "<xml><A>1</A><Encrypt><![CDATA[QUJD]]></Encrypt></xml>");
/// assert_eq!(compatible_body(r#"{"A":1}"#, "QUJD"), r#"{"A":1,"Encrypt":"QUJD"}"#);
/// ```
pub fn compatible_body(plain: &str, encrypt: &str) -> String {
    let plain = plain.trim();
    if let Some(head) = plain.strip_suffix("</xml>") {
        format!("{head}<Encrypt>{}</Encrypt></xml>", cdata(encrypt))
    } else if let Some(head) = plain.strip_suffix('}') {
        format!("{head},\"Encrypt\":{}}}", json_string(encrypt))
    } else {
        plain.to_owned()
    }
}

/// `s` as a JSON string literal: quotes, backslashes and control characters escaped.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A top-level field of a JSON object as text: strings as they are, numbers written out.
/// `None` when the text is not a JSON object or the field is missing or of another type.
///
/// ```
/// use wechat_auth_mock::wire::json_field;
///
/// let doc = r#"{"TimeStamp": 1713424427, "Nonce": "415670741"}"#;
/// assert_eq!(json_field(doc, "TimeStamp").as_deref(), Some("1713424427"));
/// assert_eq!(json_field(doc, "Nonce").as_deref(), Some("415670741"));
/// assert_eq!(json_field("<xml/>", "Nonce"), None);
/// ```
pub fn json_field(json: &str, name: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    match v.as_object()?.get(name)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The text of the first `<name>` element directly or deeper inside `xml`: CDATA sections
/// taken verbatim, the five predefined entities and numeric references decoded. `None` when
/// the element is missing or not closed. Enough for the flat XML WeChat and its receivers
/// exchange; not a general XML parser.
///
/// ```
/// use wechat_auth_mock::wire::xml_field;
///
/// let xml = "<xml><MsgType><![CDATA[text]]></MsgType><CreateTime>7</CreateTime></xml>";
/// assert_eq!(xml_field(xml, "MsgType").as_deref(), Some("text"));
/// assert_eq!(xml_field(xml, "CreateTime").as_deref(), Some("7"));
/// assert_eq!(xml_field(xml, "Encrypt"), None);
/// ```
pub fn xml_field(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let mut rest = &xml[start..];
    let mut out = String::new();
    loop {
        if let Some(after) = rest.strip_prefix("<![CDATA[") {
            let end = after.find("]]>")?;
            out.push_str(&after[..end]);
            rest = &after[end + 3..];
        } else if rest.starts_with(&close) {
            return Some(out);
        } else if rest.starts_with('<') {
            return None; // nested elements: not a text field
        } else {
            let next = rest.find('<')?;
            out.push_str(&unescape_text(&rest[..next])?);
            rest = &rest[next..];
        }
    }
}

fn unescape_text(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after.find(';')?;
        let entity = &after[..semi];
        let ch = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()?
                } else {
                    entity.strip_prefix('#')?.parse().ok()?
                };
                char::from_u32(code)?
            }
        };
        out.push(ch);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// HTML-escapes text and attribute values: `&`, `<`, `>`, `"` and `'`.
///
/// ```
/// assert_eq!(wechat_auth_mock::wire::escape_html("<a b='c'>&"), "&lt;a b=&#39;c&#39;&gt;&amp;");
/// ```
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // §7.4's self-generated vector.
    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const TOKEN: &str = "mocktoken";
    const APPID: &str = "wx0000000000000001";
    const EVENT: &str = "<xml><ToUserName><![CDATA[gh_000000000001]]></ToUserName><FromUserName><![CDATA[oMOCKopenid0000000000000001]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_login_abc123]]></EventKey><Ticket><![CDATA[TICKETVALUE]]></Ticket></xml>";
    const EVENT_ENCRYPT: &str = "Q3stYC6hdFzMh9T8HCvyDI8ESvIh6GlJlvJvJI+u3zNXPc8LEaBeg0XCY14ZyhmFCtoDmoVbtM7pxJSNJZib4121LuvUFR+0N9vlDcLlhmathBaMia00ZJrJJeE/GMo4iwvH9d6EWtM0eKEl7q2xqhLTDW/59UDOSW9z4NW3QHc3QIU/8oUSikiSzLW6yw85+HwbikXc6gJthk/s/M+5fIwMlxHgq2dxK9SqocKpl2nNemp4ROjav719YqMn5+7UB4zpmFHooGbvfk6whBzr863dzRcf0shl+Ra65lm+eI0/mBpSDPNULPp5CWth/KF73kADeCMaRiX1pa7ftynMLcQXjE6gX6uB6R3AaCt82v7zEBFqTDBiKRQOM8JoV5CbOEkpIPRnAzuo5RpRXIm+uU3mUdD9qcfOIHHpotcgv2FgWQNzFK02sfV7ZjtbStNRW0VfdWqH333QPtkTSGC5Em0RdvGuDl9clOwp803CnENyj5EzjtP5dJ89tiF/BTyP";
    const REPLY: &str = "<xml><ToUserName><![CDATA[oMOCKopenid0000000000000001]]></ToUserName><FromUserName><![CDATA[gh_000000000001]]></FromUserName><CreateTime>1700000001</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content></xml>";
    const REPLY_ENCRYPT: &str = "DpQeJfnf/MGZ/+GTIspwVNGiqjvXsIWWUiDXZtuw+ZXUNEZWGEHVq8UyNvpE2LTqR/QpDVpTZ8hqscp5XTSiv72lI/2opCL65WfzHjDiscV2pcnrbtXwI6CMzNrZKo8ilaJkQ3AahFwWCn6w25t32yemoWjZ8l4fzlsjZlzEzuoAKK1PygPa8hk9+E7tb+h+rH6BkhiiWArrQoZwlqBlP+SXS6PK36z4ardG3o7wBkGHz8aDZ8t7QBSbgzxmJjH/NRjNrJ1g0Fin0o511n/pDBRUXYLG0SEpa9OFC35WnGrBs4wKp28E+cJ8cECjkVYTFXVScY4BZ0F9o3WKC+xIvBz8XozsN3Yd8lZNgs8aqOW1HMtUR9Xe23q/Vc1msyQS";

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn url_signature_vectors_7_1() {
        assert_eq!(
            signature(&["AAAAA", "1714036504", "1514711492"]),
            "f464b24fc39322e44b38aa78f5edd27bd1441696"
        );
        assert_eq!(
            signature(&["AAAAA", "1714037059", "486452656"]),
            "899cf89e464efb63f54ddac96b0a0a235f53aa78"
        );
        // Order of the inputs does not matter: they are sorted.
        assert_eq!(
            signature(&["486452656", "AAAAA", "1714037059"]),
            "899cf89e464efb63f54ddac96b0a0a235f53aa78"
        );
    }

    #[test]
    fn key_and_iv_7_4() {
        let key = SafeModeKey::new(KEY).unwrap();
        assert_eq!(
            hex(&key.key),
            "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051"
        );
        assert_eq!(hex(&key.iv()), "69b71d79f8218a39259a7a29aabb2dba");
        // The key with non-zero trailing bits needs the lenient decoder.
        assert!(SafeModeKey::new("kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR").is_ok());
        assert_eq!(SafeModeKey::new(&KEY[..42]).unwrap_err(), WireError::BadKey);
        assert_eq!(
            SafeModeKey::new("abcdefghijklmnopqrstuvwxyz0123456789ABCDEF+").unwrap_err(),
            WireError::BadKey
        );
    }

    #[test]
    fn event_vector_7_4() {
        assert_eq!(EVENT.len(), 331);
        assert_eq!(
            event_xml(
                "gh_000000000001",
                "oMOCKopenid0000000000000001",
                1700000000,
                "subscribe",
                "qrscene_login_abc123",
                "TICKETVALUE"
            ),
            EVENT
        );
        let key = SafeModeKey::new(KEY).unwrap();
        let encrypt = key.encrypt(*b"0123456789abcdef", EVENT, APPID);
        assert_eq!(encrypt, EVENT_ENCRYPT);
        assert_eq!(STANDARD.decode(&encrypt).unwrap().len(), 384);
        assert_eq!(
            signature(&[TOKEN, "1700000000", "123456789", &encrypt]),
            "352bd5aed7ce5cfe349e956946afa43131b7fd3a"
        );
        assert_eq!(
            signature(&[TOKEN, "1700000000", "123456789"]),
            "009b5130800b140b20b903e9993552e67db83503"
        );
        assert_eq!(
            key.decrypt(&encrypt).unwrap(),
            (EVENT.to_owned(), APPID.to_owned())
        );
    }

    #[test]
    fn reply_vector_7_4() {
        let key = SafeModeKey::new(KEY).unwrap();
        let encrypt = key.encrypt(*b"fedcba9876543210", REPLY, APPID);
        assert_eq!(encrypt, REPLY_ENCRYPT);
        let sig = signature(&[TOKEN, "1700000001", "987654321", &encrypt]);
        assert_eq!(sig, "308e2dfa85c0c990316e58c90f8d4ac3004b084e");
        let envelope = reply_envelope_xml(&encrypt, &sig, 1700000001, "987654321");
        assert_eq!(
            envelope,
            format!(
                "<xml><Encrypt><![CDATA[{REPLY_ENCRYPT}]]></Encrypt><MsgSignature><![CDATA[{sig}]]></MsgSignature><TimeStamp>1700000001</TimeStamp><Nonce><![CDATA[987654321]]></Nonce></xml>"
            )
        );
        assert_eq!(
            xml_field(&envelope, "Encrypt").as_deref(),
            Some(REPLY_ENCRYPT)
        );
        assert_eq!(
            xml_field(&envelope, "TimeStamp").as_deref(),
            Some("1700000001")
        );
        let (msg, appid) = key.decrypt(&encrypt).unwrap();
        assert_eq!((msg.as_str(), appid.as_str()), (REPLY, APPID));
        assert_eq!(xml_field(&msg, "Content").as_deref(), Some("hi"));
    }

    #[test]
    fn json_vectors_15_3_and_15_4() {
        // 43 × 'A': 32 zero bytes of key, an all-zero IV.
        let key = SafeModeKey::new(&"A".repeat(43)).unwrap();
        assert_eq!(key.key, [0; 32]);
        let push = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=";
        let msg = r#"{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}"#;
        assert_eq!(
            key.decrypt(push).unwrap(),
            (msg.to_owned(), "wxba5fad812f8e6fb9".to_owned())
        );
        assert_eq!(
            key.encrypt(*b"a8eedb185eb2fecf", msg, "wxba5fad812f8e6fb9"),
            push
        );
        assert_eq!(
            signature(&["AAAAA", "1714112445", "415670741", push]),
            "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"
        );
        let reply = key.encrypt(
            *b"707722b803182950",
            r#"{"demo_resp":"good luck"}"#,
            "wxba5fad812f8e6fb9",
        );
        assert_eq!(
            reply,
            "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ=="
        );
        assert_eq!(
            signature(&["1713424427", "415670741", "AAAAA", &reply]),
            "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1"
        );
    }

    #[test]
    fn padding_is_to_32_bytes_and_checked() {
        let key = SafeModeKey::new(KEY).unwrap();
        // 16 + 4 + 8 + 4 = 32: already aligned, so a whole block of 0x20 is added.
        let sealed = key.encrypt([7; 16], "12345678", "wxab");
        assert_eq!(STANDARD.decode(&sealed).unwrap().len(), 64);
        assert_eq!(
            key.decrypt(&sealed).unwrap(),
            ("12345678".to_owned(), "wxab".to_owned())
        );
        assert_eq!(key.decrypt("not base64!"), Err(WireError::NotBase64));
        assert_eq!(
            key.decrypt(&STANDARD.encode([0u8; 15])),
            Err(WireError::BadLength)
        );
        // Another key decrypts to garbage: the padding or the layout gives it away.
        let other = SafeModeKey::new(&"A".repeat(43)).unwrap();
        assert!(other.decrypt(&sealed).is_err() || other.decrypt(&sealed).unwrap().1 != "wxab");
    }

    #[test]
    fn xml_fields_and_escapes() {
        assert_eq!(
            xml_field("<xml><A>x &amp; &lt;y&gt; &#39;&#x41;</A></xml>", "A").as_deref(),
            Some("x & <y> 'A")
        );
        assert_eq!(xml_field("<xml><A><B>1</B></A></xml>", "A"), None);
        assert_eq!(xml_field("<xml><A>unclosed", "A"), None);
        assert_eq!(
            xml_field(&safe_mode_xml("gh", "a]]>b"), "Encrypt").as_deref(),
            Some("a]]>b")
        );
        assert_eq!(
            escape_html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
