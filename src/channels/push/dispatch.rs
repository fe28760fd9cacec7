//! Pushes that are not logins go to the app: its `on_push` hook, else its existing push
//! backend (`WECHAT_OA_PUSH_FORWARD_URL`). Each message reaches the app once, however often
//! WeChat re-delivers it, and the answer leaves within [`ANSWER_WITHIN`].

use std::sync::OnceLock;

use http::{header, request::Parts};

use super::{ANSWER_WITHIN, MAX_BODY, Push, REPLAY_MEMORY, Reply};
use crate::{
    core::store::keys::Key,
    push::{OpenedPush, PushFormat, PushMessage},
};

/// Hands `opened` to the app once; its reply, if any.
pub(super) async fn to_app(
    auth: &Push,
    req: &Parts,
    body: &[u8],
    opened: &OpenedPush,
) -> Option<Reply> {
    let settings = &auth.settings;
    if settings.on_push.is_none() && settings.forward.is_none() {
        tracing::debug!(
            msg_type = %opened.message.msg_type,
            "push that is not a login answered success: no on_push hook or push forward is set"
        );
        return None;
    }
    let appid = settings.crypto.as_deref()?.appid().to_owned();
    let seen = Key::hashed(&appid, "push-seen", &opened.message.dedupe_key());
    match auth
        .store
        .set_if_absent(&seen, b"1".to_vec(), REPLAY_MEMORY)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::debug!("push re-delivered; the app has it already");
            return None;
        }
        // Better twice than never: WeChat re-sends on anything but an answer.
        Err(e) => tracing::warn!(error = %e, "store unavailable; handing a push on without dedupe"),
    }
    if let Some(hook) = &settings.on_push {
        let work = tokio::spawn(hook(opened.clone()));
        return match tokio::time::timeout(ANSWER_WITHIN, work).await {
            Ok(Ok(reply)) => reply.map(|r| Reply::to_sender(&r, opened)),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "on_push hook panicked; answered success");
                None
            }
            Err(_) => {
                tracing::warn!(
                    budget_ms = ANSWER_WITHIN.as_millis() as u64,
                    "on_push hook slower than the push budget; answered success (it runs on)"
                );
                None
            }
        };
    }
    let target = settings.forward.as_ref()?;
    forward(target, req, body, opened).await
}

fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(ANSWER_WITHIN)
            .connect_timeout(std::time::Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    })
}

/// Sends the original request (query and body as received) to `target`, and turns its
/// answer into ours.
async fn forward(
    target: &url::Url,
    req: &Parts,
    body: &[u8],
    opened: &OpenedPush,
) -> Option<Reply> {
    let mut url = target.clone();
    let query = req.uri.query().unwrap_or("");
    let joined = match url.query() {
        Some(q) if !q.is_empty() => format!("{q}&{query}"),
        _ => query.to_owned(),
    };
    url.set_query(Some(&joined).filter(|q| !q.is_empty()).map(String::as_str));
    let content_type = req
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(opened.format.content_type())
        .to_owned();
    let sent = http()
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body.to_vec())
        .send()
        .await;
    let mut res = match sent {
        Ok(r) => r,
        Err(e) => {
            let why = if e.is_timeout() {
                "slower than the push budget"
            } else if e.is_connect() {
                "cannot connect"
            } else {
                "request failed"
            };
            tracing::warn!(target = %target.origin().ascii_serialization(), why,
                "push forward failed (WECHAT_OA_PUSH_FORWARD_URL); answered success");
            return None;
        }
    };
    let status = res.status();
    let mut answer = Vec::new();
    loop {
        match tokio::time::timeout(ANSWER_WITHIN, res.chunk()).await {
            Ok(Ok(Some(chunk))) if answer.len() + chunk.len() <= MAX_BODY => {
                answer.extend_from_slice(&chunk);
            }
            Ok(Ok(None)) => break,
            _ => {
                tracing::warn!("push forward answer too large or too slow; answered success");
                return None;
            }
        }
    }
    if !status.is_success() {
        tracing::warn!(%status, "push forward target refused the push; answered success");
        return None;
    }
    let text = String::from_utf8(answer).ok()?;
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed == "success" {
        return None;
    }
    // A backend that has the EncodingAESKey answers sealed already: relay as is.
    let sealed = PushMessage::parse_as(PushFormat::sniff(None, trimmed.as_bytes()), trimmed)
        .is_ok_and(|m| m.encrypt.is_some());
    Some(if sealed {
        Reply::Sealed(text)
    } else {
        Reply::Document(text)
    })
}
