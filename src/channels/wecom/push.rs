//! `GET, POST PREFIX/wecom/push`: a WeCom third-party app's command callback (指令回调,
//! protocol §27). `GET` is the URL verification (the encrypted `echostr`, answered
//! decrypted); `POST` carries the events, encrypted for the suite (ReceiveId = the suite id):
//! the `suite_ticket` every 10 minutes (kept as the newest in the store, for every instance)
//! and the authorization events (logged and counted). Everything is answered `success`
//! once verified; a bad signature, a stale timestamp, another ReceiveId or a body that is
//! not WeCom's is `403`/`400` before anything is read from it.

use axum_core::body::Body;
use http::{HeaderValue, Response, StatusCode, header, request::Parts};
use wecom_client::{CryptoError, SuiteEvent, WecomCrypto};

use super::WecomChannel;
use crate::core::{clock::now_unix, request::Query, store::keys::Key};

/// The largest command callback body read (WeCom's are a few hundred bytes).
pub(super) const MAX_BODY: usize = 64 * 1024;
/// How far a callback's `timestamp` may be from now, and how long a delivery is remembered
/// (a repeat within it is acknowledged without being handled again).
const WINDOW: u64 = 3600;

fn plain(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A refused callback: why, logged; the sender learns only the status.
fn refused(why: &CryptoError) -> Response<Body> {
    let status = match why {
        CryptoError::Missing(_) | CryptoError::BadXml | CryptoError::TooLarge => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::FORBIDDEN,
    };
    tracing::warn!(error = %why, "WeCom command callback refused");
    plain(status, "forbidden")
}

/// A callback whose timestamp is missing or too far from now (a replay of an old one).
fn stale() -> Response<Body> {
    tracing::warn!("WeCom command callback refused: its timestamp is missing or stale");
    plain(StatusCode::FORBIDDEN, "forbidden")
}

/// The signed parameters of a callback, and whether its timestamp is fresh.
struct Signed<'q> {
    signature: &'q str,
    timestamp: &'q str,
    nonce: &'q str,
}

impl<'q> Signed<'q> {
    fn of(q: &'q Query<'q>) -> Self {
        Self {
            signature: q.get("msg_signature").unwrap_or(""),
            timestamp: q.get("timestamp").unwrap_or(""),
            nonce: q.get("nonce").unwrap_or(""),
        }
    }

    fn fresh(&self) -> bool {
        self.timestamp
            .parse::<u64>()
            .is_ok_and(|t| t.abs_diff(now_unix()) <= WINDOW)
    }
}

fn crypto(auth: &WecomChannel) -> Result<&WecomCrypto, Box<Response<Body>>> {
    auth.crypto.as_ref().ok_or_else(|| {
        Box::new(plain(
            StatusCode::NOT_FOUND,
            "no WeCom third-party app is configured",
        ))
    })
}

/// `GET PREFIX/wecom/push?msg_signature=…&timestamp=…&nonce=…&echostr=…`
pub(super) async fn verify(auth: &WecomChannel, req: &Parts) -> Response<Body> {
    let crypto = match crypto(auth) {
        Ok(c) => c,
        Err(res) => return *res,
    };
    let q = Query::parse(req.uri.query());
    let s = Signed::of(&q);
    if !s.fresh() {
        return stale();
    }
    let echostr = q.get("echostr").unwrap_or("");
    match crypto.verify_url(s.signature, s.timestamp, s.nonce, echostr) {
        Ok(plaintext) => {
            crate::metrics::wecom_suite_event("verify_url");
            tracing::info!("WeCom command callback URL verified");
            let mut res = plain(StatusCode::OK, "");
            *res.body_mut() = Body::from(plaintext);
            res
        }
        Err(e) => refused(&e),
    }
}

/// `POST PREFIX/wecom/push?msg_signature=…&timestamp=…&nonce=…` with the encrypted envelope.
pub(super) async fn event(auth: &WecomChannel, req: &Parts, body: &[u8]) -> Response<Body> {
    let crypto = match crypto(auth) {
        Ok(c) => c,
        Err(res) => return *res,
    };
    let q = Query::parse(req.uri.query());
    let s = Signed::of(&q);
    if !s.fresh() {
        return stale();
    }
    let Ok(body) = std::str::from_utf8(body) else {
        return refused(&CryptoError::BadXml);
    };
    let xml = match crypto.open_post(s.signature, s.timestamp, s.nonce, body) {
        Ok(xml) => xml,
        Err(e) => return refused(&e),
    };
    // A delivery WeCom repeats (no answer in time) is acknowledged, not handled twice.
    let seen = Key::hashed(
        crypto.receive_id(),
        "wecom_push_seen",
        &format!("{}:{}:{}", s.signature, s.timestamp, s.nonce),
    );
    match auth
        .store
        .set_if_absent(&seen, Vec::new(), std::time::Duration::from_secs(WINDOW))
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::debug!("WeCom command callback repeated; acknowledged");
            return plain(StatusCode::OK, "success");
        }
        Err(e) => {
            tracing::warn!(error = %e, "WeCom command callback: the store failed");
            return plain(StatusCode::SERVICE_UNAVAILABLE, "busy");
        }
    }
    let event = match SuiteEvent::parse(&xml) {
        Ok(e) => e,
        Err(e) => return refused(&e),
    };
    if event.suite_id() != crypto.receive_id() {
        return refused(&CryptoError::ReceiveIdMismatch);
    }
    match event {
        SuiteEvent::SuiteTicket {
            ticket, timestamp, ..
        } => {
            crate::metrics::wecom_suite_event("suite_ticket");
            match auth.wecom.suite_ticket_received(&ticket, timestamp).await {
                Ok(kept) => tracing::info!(kept, timestamp, "WeCom suite_ticket received"),
                Err(e) => {
                    tracing::warn!(error = %e, "WeCom suite_ticket could not be kept");
                    // Let WeCom deliver it again.
                    let _ = auth.store.delete_if_eq(&seen, &[]).await;
                    return plain(StatusCode::SERVICE_UNAVAILABLE, "busy");
                }
            }
        }
        SuiteEvent::CreateAuth { .. } => {
            crate::metrics::wecom_suite_event("create_auth");
            tracing::info!("WeCom: a corp installed the third-party app (create_auth)");
        }
        SuiteEvent::ChangeAuth { auth_corp_id, .. } => {
            crate::metrics::wecom_suite_event("change_auth");
            tracing::info!(corp_id = %auth_corp_id, "WeCom: a corp changed the app's authorization (change_auth)");
        }
        SuiteEvent::CancelAuth { auth_corp_id, .. } => {
            crate::metrics::wecom_suite_event("cancel_auth");
            tracing::info!(corp_id = %auth_corp_id, "WeCom: a corp removed the third-party app (cancel_auth)");
        }
        other => {
            crate::metrics::wecom_suite_event("other");
            tracing::debug!(event = ?other, "WeCom command callback event");
        }
    }
    plain(StatusCode::OK, "success")
}
