//! The Official Account's message push URL (`GET|POST PREFIX/push`): WeChat verifies it with a
//! signed `echostr`, then pushes events to it. A `subscribe` (with `qrscene_…`) or `SCAN`
//! event for one of our pending scenes confirms that scan.
//!
//! Every request must carry a valid `signature` (and, in safe mode, `msg_signature` over the
//! ciphertext, which must also decrypt to our appid). Bodies are bounded and parsed as XML.
//! WeChat re-sends an event it got no `success` for within 5 seconds: a scene is confirmed
//! once, whatever arrives again, and the answer goes back within 4 seconds even when the
//! user lookup behind it is slower (the work finishes in the background).

use std::{sync::Arc, time::Duration};

use axum_core::body::Body;
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header, request::Parts};

use super::scan::SceneStatus;
use crate::{
    Channel, WechatUser,
    auth::Auth,
    push::{PushError, PushQuery},
};

/// Largest push body read.
pub(crate) const MAX_BODY: usize = crate::push::MAX_BODY_BYTES;
/// How long a push waits for its work before answering anyway.
const ANSWER_WITHIN: Duration = Duration::from_secs(4);

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

/// The answer to a push that fails its checks: `403` when a signature, the ciphertext or
/// the appid is wrong, `400` when the request is malformed.
fn rejected(e: &PushError) -> Response<Body> {
    match e {
        PushError::BadSignature
        | PushError::AppIdMismatch
        | PushError::NotEncrypted
        | PushError::BadBase64
        | PushError::BadPadding
        | PushError::BadLength => {
            tracing::warn!(error = %e, "push refused");
            text(StatusCode::FORBIDDEN, "invalid signature")
        }
        _ => {
            tracing::debug!(error = %e, "malformed push");
            text(StatusCode::BAD_REQUEST, "malformed push")
        }
    }
}

/// `GET PREFIX/push?signature&timestamp&nonce&echostr`: WeChat's URL check.
pub(crate) fn verify(auth: &Auth, req: &Parts) -> Response<Body> {
    let Some(crypto) = &auth.push else {
        return text(StatusCode::NOT_FOUND, "push is not configured");
    };
    let query = PushQuery::parse(req.uri.query().unwrap_or(""));
    match crypto.verify_get(&query) {
        Ok(echostr) => {
            let mut res = Response::new(Body::from(echostr.to_owned()));
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            res
        }
        Err(e) => rejected(&e),
    }
}

/// `POST PREFIX/push`: an event or message from WeChat.
pub(crate) async fn receive(auth: &Arc<Auth>, req: &Parts, body: Bytes) -> Response<Body> {
    let Some(crypto) = &auth.push else {
        return text(StatusCode::NOT_FOUND, "push is not configured");
    };
    let Ok(xml) = std::str::from_utf8(&body) else {
        return text(StatusCode::BAD_REQUEST, "body is not UTF-8");
    };
    let query = PushQuery::parse(req.uri.query().unwrap_or(""));
    let message = match crypto.open_post(&query, xml) {
        Ok(m) => m,
        Err(e) => return rejected(&e),
    };
    if let Some(scene) = message.scan_scene() {
        let work = tokio::spawn(confirm_scan(
            auth.clone(),
            scene.to_owned(),
            message.from_user_name.clone(),
        ));
        // Answer in time even when WeChat's user lookup is slow; the work goes on.
        let _ = tokio::time::timeout(ANSWER_WITHIN, work).await;
    }
    text(StatusCode::OK, "success")
}

/// Confirms the pending scene `scene_id` for `openid`: once, whatever arrives again.
async fn confirm_scan(auth: Arc<Auth>, scene_id: String, openid: String) {
    let Some(key) = auth.scene_key(&scene_id) else {
        return;
    };
    let Some(oa) = auth.cfg.official_account.as_ref() else {
        return;
    };
    let appid = oa.app().appid().to_owned();
    let claim = format!("{key}:claim");
    let ttl = auth.cfg.scan_ttl;
    match auth.store.set_if_absent(&claim, b"1".to_vec(), ttl).await {
        Ok(true) => {}
        Ok(false) => return, // a re-delivery, or another instance has it
        Err(e) => {
            tracing::error!(error = %e, "store unavailable while confirming a scan");
            return;
        }
    }
    let mut scene = match auth.scene(&key).await {
        Ok(Some(s)) if s.status == SceneStatus::Pending => s,
        Ok(_) => return, // unknown, expired or already handled: nothing changes
        Err(e) => {
            tracing::error!(error = ?e, "store unavailable while confirming a scan");
            let _ = auth.store.take(&claim).await;
            return;
        }
    };
    scene.status = SceneStatus::Scanned;
    let _ = auth.save_scene(&key, &scene).await;

    let mut user = WechatUser::new(appid.clone(), openid.clone(), Channel::ScanFollow);
    match auth
        .with_global_token(|token| {
            let openid = openid.clone();
            let auth = auth.clone();
            async move { auth.client.user_info(&token, &openid, auth.cfg.lang).await }
        })
        .await
    {
        Ok(info) => {
            user.unionid = info.unionid.filter(|u| !u.is_empty());
            user.nickname = Some(info.nickname).filter(|n| !n.is_empty());
            user.avatar_url = Some(info.headimgurl).filter(|h| !h.is_empty());
        }
        Err(e) => {
            tracing::warn!(error = ?e, "cgi-bin/user/info failed; confirming without unionid")
        }
    }
    if user.nickname.is_none()
        && let Some(p) = auth.cached_profile(&appid, &openid).await
    {
        user.nickname = Some(p.nickname).filter(|n| !n.is_empty());
        user.avatar_url = Some(p.avatar_url).filter(|a| !a.is_empty());
        user.unionid = user.unionid.or(p.unionid);
    }
    scene.status = match auth.run_on_login(user).await {
        Ok(user) => SceneStatus::Confirmed { user },
        Err(r) => SceneStatus::Refused {
            message: r.message().to_owned(),
        },
    };
    if let Err(e) = auth.save_scene(&key, &scene).await {
        tracing::error!(error = ?e, "could not record a confirmed scan");
    }
    tracing::debug!("scan confirmed");
}
