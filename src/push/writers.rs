//! Test helpers: push bodies written the way WeChat writes them. The layer never writes a
//! push; tests, benches and doc examples use these to make the ones WeChat would send.

/// Writes `value` as CDATA, splitting any `]]>` inside it so the XML stays well-formed.
pub(super) fn cdata(out: &mut String, value: &str) {
    out.push_str("<![CDATA[");
    out.push_str(&value.replace("]]>", "]]]]><![CDATA[>"));
    out.push_str("]]>");
}

/// An event as WeChat pushes it, on one line with CDATA, in the field order of the protocol
/// examples: `ToUserName`, `FromUserName`, `CreateTime`, `MsgType` (`event`), `Event`,
/// `EventKey`, `Ticket`. A test helper: the layer only reads events.
///
/// ```
/// use wechat_auth::push::{event_xml, PushMessage};
///
/// let xml = event_xml("gh_0123456789ab", "oUSER", 1700000000, "subscribe", "qrscene_123123", "TICKET");
/// assert!(xml.starts_with("<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>"));
/// assert_eq!(PushMessage::parse(&xml).unwrap().scan_scene(), Some("123123"));
/// ```
pub fn event_xml(
    to_user_name: &str,
    from_openid: &str,
    create_time: u64,
    event: &str,
    event_key: &str,
    ticket: &str,
) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<xml><ToUserName>");
    cdata(&mut out, to_user_name);
    out.push_str("</ToUserName><FromUserName>");
    cdata(&mut out, from_openid);
    out.push_str("</FromUserName><CreateTime>");
    out.push_str(&create_time.to_string());
    out.push_str("</CreateTime><MsgType>");
    cdata(&mut out, "event");
    out.push_str("</MsgType><Event>");
    cdata(&mut out, event);
    out.push_str("</Event><EventKey>");
    cdata(&mut out, event_key);
    out.push_str("</EventKey><Ticket>");
    cdata(&mut out, ticket);
    out.push_str("</Ticket></xml>");
    out
}

/// The body of a safe-mode push: `<xml><ToUserName>…</ToUserName><Encrypt>…</Encrypt></xml>`.
/// A test helper, with [`PushCrypto::encrypt`](super::PushCrypto::encrypt) for the `Encrypt`
/// value: the layer only reads safe-mode bodies.
///
/// ```
/// use wechat_auth::push::{safe_mode_xml, PushMessage};
///
/// let body = safe_mode_xml("gh_000000000001", "QUJD");
/// let msg = PushMessage::parse(&body).unwrap();
/// assert_eq!(msg.encrypt.as_deref(), Some("QUJD"));
/// ```
pub fn safe_mode_xml(to_user_name: &str, encrypt: &str) -> String {
    let mut out = String::with_capacity(encrypt.len() + 96);
    out.push_str("<xml><ToUserName>");
    cdata(&mut out, to_user_name);
    out.push_str("</ToUserName><Encrypt>");
    cdata(&mut out, encrypt);
    out.push_str("</Encrypt></xml>");
    out
}
