//! Text messages to the Official Account that are message-code logins: a code, or the
//! bound user's `1`/`0` ([`crate::channels::scan::ScanRecords::message`]). Everything
//! else goes on to the app unchanged.

use serde::Deserialize;

use crate::push::{OpenedPush, PushFormat};

/// The longest text content read, in bytes (a code message is short; longer ones are the
/// app's, whatever they hold).
const MAX_CONTENT: usize = 4096;

/// The `Content` of a text message, read from the (decrypted) document; `None` for any
/// other message, or a document without one.
pub(super) fn content(opened: &OpenedPush) -> Option<String> {
    if !opened.message.msg_type.eq_ignore_ascii_case("text") {
        return None;
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Text {
        #[serde(rename = "Content")]
        content: Option<String>,
    }
    let text = match opened.format {
        // The document was parsed once already: this cannot fail on a push that got here,
        // and if it did, the message is simply not a login.
        PushFormat::Xml => quick_xml::de::from_str::<Text>(&opened.document).ok()?,
        PushFormat::Json => serde_json::from_str::<Text>(&opened.document).ok()?,
    };
    text.content.filter(|c| c.len() <= MAX_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(format: PushFormat, msg_type: &str, document: &str) -> OpenedPush {
        OpenedPush {
            message: crate::push::PushMessage {
                msg_type: msg_type.into(),
                ..Default::default()
            },
            document: document.into(),
            format,
            encrypted: false,
        }
    }

    #[test]
    fn the_content_of_text_messages_only() {
        let xml = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[登录 123456]]></Content></xml>";
        assert_eq!(
            content(&opened(PushFormat::Xml, "text", xml)).as_deref(),
            Some("登录 123456")
        );
        let json = r#"{"ToUserName":"gh_1","MsgType":"text","Content":"123456"}"#;
        assert_eq!(
            content(&opened(PushFormat::Json, "text", json)).as_deref(),
            Some("123456")
        );
        assert_eq!(content(&opened(PushFormat::Xml, "image", xml)), None);
        assert_eq!(
            content(&opened(
                PushFormat::Xml,
                "text",
                "<xml><MsgType>text</MsgType></xml>"
            )),
            None
        );
        let long = format!("<xml><Content>{}</Content></xml>", "1".repeat(5000));
        assert_eq!(content(&opened(PushFormat::Xml, "text", &long)), None);
    }
}
