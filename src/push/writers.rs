//! CDATA for the replies the layer writes, and (in unit tests only) push bodies written the
//! way WeChat writes them. The layer never writes a push: tests, benches and examples outside
//! this crate use the mock's writers, `wechat_auth::mock::wire::{event_xml, safe_mode_xml}`.

/// Writes `value` as CDATA, splitting any `]]>` inside it so the XML stays well-formed.
pub(super) fn cdata(out: &mut String, value: &str) {
    out.push_str("<![CDATA[");
    out.push_str(&value.replace("]]>", "]]]]><![CDATA[>"));
    out.push_str("]]>");
}

/// An event as WeChat pushes it, on one line with CDATA, in the field order of the protocol
/// examples: `ToUserName`, `FromUserName`, `CreateTime`, `MsgType` (`event`), `Event`,
/// `EventKey`, `Ticket`. Unit tests only: the layer only reads events.
#[cfg(test)]
pub(crate) fn event_xml(
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
/// Unit tests only, with [`PushCrypto::encrypt`](super::PushCrypto::encrypt) for the
/// `Encrypt` value: the layer only reads safe-mode bodies.
#[cfg(test)]
pub(crate) fn safe_mode_xml(to_user_name: &str, encrypt: &str) -> String {
    let mut out = String::with_capacity(encrypt.len() + 96);
    out.push_str("<xml><ToUserName>");
    cdata(&mut out, to_user_name);
    out.push_str("</ToUserName><Encrypt>");
    cdata(&mut out, encrypt);
    out.push_str("</Encrypt></xml>");
    out
}
