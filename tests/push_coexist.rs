//! The push URL serves the whole Official Account: every message and event that is not a
//! scan login reaches the app's `on_push` hook or is forwarded to its existing push backend,
//! and the reply goes back to WeChat (sealed in safe mode) within 5 seconds, once per message.
//! The real layer in a real axum server, the mock WeChat pushing and judging the replies with
//! its own code; the forward target is a real HTTP server.

mod common;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, extract::RawQuery, http::HeaderMap, routing::post};
use common::*;
use wechat_auth::{
    mock::{MockWechat, PushFormat, PushMode, wire},
    push::{Article, PushReply},
};

/// A hook that counts its calls, remembers what it got, and answers text messages.
#[derive(Clone, Default)]
struct Seen {
    calls: Arc<AtomicUsize>,
    got: Arc<Mutex<Vec<(String, String, String)>>>,
}

fn hooked(mock: &MockWechat, seen: &Seen) -> wechat_auth::WechatConfigBuilder {
    let seen = seen.clone();
    config(mock).with_on_push(move |push| {
        let seen = seen.clone();
        async move {
            seen.calls.fetch_add(1, Ordering::SeqCst);
            seen.got.lock().unwrap().push((
                push.message.msg_type.clone(),
                push.message.from_user_name.clone(),
                push.document.clone(),
            ));
            match push.message.msg_type.as_str() {
                "text" if push.document.contains("news") => Some(PushReply::news(vec![
                    Article::new("今日新闻", "https://example.com/news/1").with_description("摘要"),
                ])),
                "text" if push.document.contains("slow") => {
                    tokio::time::sleep(Duration::from_secs(8)).await;
                    Some(PushReply::text("too late"))
                }
                "text" => Some(PushReply::text("收到")),
                _ => None,
            }
        }
    })
}

#[tokio::test]
async fn the_hook_answers_users_messages_in_safe_mode_and_sees_the_whole_document() {
    let mock = MockWechat::start().await.unwrap();
    let seen = Seen::default();
    let app = start(hooked(&mock, &seen)).await;
    wire(&mock, &app);
    let report = mock.send_text("alice", "你好").await.unwrap();
    assert!(report.acknowledged, "{report:?}");
    assert!(report.encrypted);
    assert_eq!(
        report.reply.as_deref(),
        Some("收到"),
        "sealed, and opened by the mock"
    );
    assert!(report.last_body.unwrap().contains("<Encrypt>"));
    let got = seen.got.lock().unwrap().clone();
    let alice = mock
        .user("alice")
        .unwrap()
        .openid_for(&mock.official_account().appid);
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].0.as_str(), got[0].1.as_str()),
        ("text", alice.as_str())
    );
    assert!(
        got[0].2.contains("<Content><![CDATA[你好]]></Content>"),
        "{}",
        got[0].2
    );
    assert!(got[0].2.contains("<MsgId>"), "the raw document, decrypted");
    let chat = mock.chat("alice");
    assert_eq!(
        chat.iter()
            .map(|l| (l.from, l.text.as_str()))
            .collect::<Vec<_>>(),
        [("user", "你好"), ("account", "收到")]
    );

    // A scan login does not reach the hook, and still logs in.
    let b = browser();
    let s: serde_json::Value = b
        .post(format!("{}/auth/wechat/scan", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let report = mock
        .scan(s["qr_url"].as_str().unwrap(), "bob")
        .await
        .unwrap();
    assert!(report.reply.unwrap().contains("扫码登录"));
    assert_eq!(
        seen.calls.load(Ordering::SeqCst),
        1,
        "the hook never sees logins"
    );
}

#[tokio::test]
async fn the_hook_replies_in_json_and_compatible_mode() {
    let mock = MockWechat::start().await.unwrap();
    mock.set_push_format(PushFormat::Json, PushMode::Compatible)
        .unwrap();
    let seen = Seen::default();
    let app = start(hooked(&mock, &seen)).await;
    wire(&mock, &app);
    let report = mock.send_text("alice", "news please").await.unwrap();
    assert!(report.acknowledged, "{report:?}");
    assert_eq!(
        report.reply.as_deref(),
        Some("今日新闻 <https://example.com/news/1>")
    );
    let body = report.last_body.unwrap();
    assert!(body.starts_with("{\"Encrypt\":"), "JSON, sealed: {body}");
    let got = seen.got.lock().unwrap().clone();
    assert!(
        got[0].2.contains("\"Content\":\"news please\""),
        "{}",
        got[0].2
    );
}

#[tokio::test]
async fn a_slow_hook_is_answered_success_within_five_seconds() {
    let mock = MockWechat::start().await.unwrap();
    let seen = Seen::default();
    let app = start(hooked(&mock, &seen)).await;
    wire(&mock, &app);
    let started = Instant::now();
    let report = mock.send_text("alice", "slow").await.unwrap();
    let took = started.elapsed();
    assert!(report.acknowledged, "{report:?}");
    assert_eq!(report.deliveries, 1, "no re-delivery: answered in time");
    assert_eq!(report.reply, None);
    assert_eq!(report.last_body.as_deref(), Some("success"));
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(
        took >= Duration::from_secs(3),
        "it did wait for the hook: {took:?}"
    );
}

/// Posts one signed safe-mode push (XML) the way WeChat does, with the mock's own writers.
async fn post_push(app: &App, mock: &MockWechat, doc: &str, nonce: &str) -> (u16, String) {
    let o = mock.official_account();
    let key = wire::SafeModeKey::new(o.encoding_aes_key.as_deref().unwrap()).unwrap();
    let token = o.token.clone().unwrap();
    let encrypt = key.encrypt(*b"0123456789abcdef", doc, &o.appid);
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let res = reqwest::Client::new()
        .post(format!("{}/auth/wechat/push", app.url))
        .query(&[
            ("signature", wire::signature(&[&token, &ts, nonce])),
            ("timestamp", ts.clone()),
            ("nonce", nonce.to_owned()),
            ("encrypt_type", "aes".into()),
            (
                "msg_signature",
                wire::signature(&[&token, &ts, nonce, &encrypt]),
            ),
        ])
        .header("content-type", "text/xml")
        .body(wire::safe_mode_xml("gh_1", &encrypt))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn re_deliveries_reach_the_hook_once() {
    let mock = MockWechat::start().await.unwrap();
    let seen = Seen::default();
    let app = start(hooked(&mock, &seen)).await;
    let gh = mock.official_account().original_id.clone().unwrap();
    // A message: deduplicated on MsgId, whatever the signature of the re-delivery.
    let text = wire::text_message_xml(&gh, "oUSER1", 1_700_000_000, "hi", 6_543_210_987_654_321);
    let (status, first) = post_push(&app, &mock, &text, "111").await;
    assert_eq!(status, 200);
    assert!(first.contains("<Encrypt>"), "the reply: {first}");
    let (status, again) = post_push(&app, &mock, &text, "222").await;
    assert_eq!((status, again.as_str()), (200, "success"));
    assert_eq!(seen.calls.load(Ordering::SeqCst), 1);
    // An event: on FromUserName + CreateTime.
    let click = wire::event_xml(&gh, "oUSER1", 1_700_000_001, "CLICK", "MENU_1", "");
    post_push(&app, &mock, &click, "333").await;
    post_push(&app, &mock, &click, "444").await;
    assert_eq!(seen.calls.load(Ordering::SeqCst), 2);
    // Another second is another event.
    let later = wire::event_xml(&gh, "oUSER1", 1_700_000_002, "CLICK", "MENU_1", "");
    post_push(&app, &mock, &later, "555").await;
    assert_eq!(seen.calls.load(Ordering::SeqCst), 3);
    // A QR code of the account's own (not a login scene) is the app's too.
    let own_qr = wire::event_xml(&gh, "oUSER1", 1_700_000_003, "SCAN", "promo_2026", "T");
    post_push(&app, &mock, &own_qr, "666").await;
    assert_eq!(seen.calls.load(Ordering::SeqCst), 4);
}

/// What the existing backend received.
#[derive(Clone, Default)]
struct Backend {
    got: Arc<Mutex<Vec<(String, String, String)>>>,
}

/// A real HTTP server standing in for the account's existing push backend: it checks the
/// signature as a backend would (the query must arrive as WeChat sent it), records the
/// request and answers with a plain text reply (in the push's format), or slowly.
async fn backend(gh: String, token: String) -> (String, Backend, tokio::task::JoinHandle<()>) {
    let seen = Backend::default();
    let router = Router::new().route(
        "/wechat",
        post({
            let seen = seen.clone();
            move |RawQuery(q): RawQuery, headers: HeaderMap, body: String| {
                let (seen, gh, token) = (seen.clone(), gh.clone(), token.clone());
                async move {
                    let q = q.unwrap_or_default();
                    let p: std::collections::HashMap<String, String> =
                        url::form_urlencoded::parse(q.as_bytes()).into_owned().collect();
                    let ok = p.get("signature").map(String::as_str)
                        == Some(&wire::signature(&[&token, &p["timestamp"], &p["nonce"]]));
                    let ct = headers
                        .get("content-type")
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default();
                    seen.got.lock().unwrap().push((q.clone(), ct.clone(), body.clone()));
                    if !ok {
                        return (axum::http::StatusCode::FORBIDDEN, String::new());
                    }
                    if p.contains_key("slow") {
                        tokio::time::sleep(Duration::from_secs(8)).await;
                    }
                    let openid = p.get("openid").cloned().unwrap_or_default();
                    let reply = if ct.contains("json") {
                        format!(
                            r#"{{"ToUserName":"{openid}","FromUserName":"{gh}","CreateTime":1,"MsgType":"text","Content":"backend says hi"}}"#
                        )
                    } else {
                        format!(
                            "<xml><ToUserName><![CDATA[{openid}]]></ToUserName><FromUserName><![CDATA[{gh}]]></FromUserName>\
                             <CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[backend says hi]]></Content></xml>"
                        )
                    };
                    (axum::http::StatusCode::OK, reply)
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/wechat", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (url, seen, task)
}

async fn forwarding(format: PushFormat, mode: PushMode) {
    let mock = MockWechat::start().await.unwrap();
    mock.set_push_format(format, mode).unwrap();
    let o = mock.official_account();
    let (url, seen, _task) =
        backend(o.original_id.clone().unwrap(), o.token.clone().unwrap()).await;
    let app = start(config(&mock).with_push_forward(&url)).await;
    wire(&mock, &app);
    let what = format!("{format:?}/{mode:?}");
    let report = mock.send_text("alice", "转发我").await.unwrap();
    assert!(report.acknowledged, "{what}: {report:?}");
    assert_eq!(
        report.reply.as_deref(),
        Some("backend says hi"),
        "{what}: relayed"
    );
    let body = report.last_body.unwrap();
    assert_eq!(
        body.contains("Encrypt"),
        mode != PushMode::Plain,
        "{what}: sealed when the push was encrypted (the backend answered plain): {body}"
    );
    let got = seen.got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{what}");
    let (query, content_type, forwarded) = &got[0];
    assert!(
        query.contains("signature=") && query.contains("timestamp="),
        "{what}: {query}"
    );
    assert_eq!(
        query.contains("encrypt_type=aes"),
        mode != PushMode::Plain,
        "{what}: the query as received"
    );
    match format {
        PushFormat::Json => assert_eq!(content_type, "application/json", "{what}"),
        _ => assert!(content_type.starts_with("text/xml"), "{what}"),
    }
    if mode == PushMode::Safe {
        assert!(
            forwarded.contains("Encrypt") && !forwarded.contains("转发我"),
            "{what}: the body as received"
        );
    } else {
        assert!(forwarded.contains("转发我"), "{what}: {forwarded}");
    }
    // A scan login is not forwarded.
    let b = browser();
    let s: serde_json::Value = b
        .post(format!("{}/auth/wechat/scan", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    mock.scan(s["qr_url"].as_str().unwrap(), "alice")
        .await
        .unwrap();
    assert_eq!(seen.got.lock().unwrap().len(), 1, "{what}");
}

#[tokio::test]
async fn forwarding_relays_the_backends_reply_in_every_format_and_mode() {
    for format in [PushFormat::Xml, PushFormat::Json] {
        forwarding(format, PushMode::Safe).await;
        forwarding(format, PushMode::Compatible).await;
    }
}

#[tokio::test]
async fn a_slow_or_missing_backend_is_answered_success_in_time() {
    let mock = MockWechat::start().await.unwrap();
    let o = mock.official_account();
    let (url, _seen, _task) =
        backend(o.original_id.clone().unwrap(), o.token.clone().unwrap()).await;
    let app = start(config(&mock).with_push_forward(format!("{url}?slow=1"))).await;
    wire(&mock, &app);
    let started = Instant::now();
    let report = mock.send_text("alice", "hello").await.unwrap();
    assert!(report.acknowledged && report.deliveries == 1, "{report:?}");
    assert_eq!(report.reply, None);
    assert!(started.elapsed() < Duration::from_secs(5));
    // Nothing listens: answered at once.
    let app = start(config(&mock).with_push_forward("http://127.0.0.1:9/wechat")).await;
    wire(&mock, &app);
    let report = mock.send_text("alice", "hello").await.unwrap();
    assert!(report.acknowledged && report.reply.is_none(), "{report:?}");
}
