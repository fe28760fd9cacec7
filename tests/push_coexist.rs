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
    // Bob followed through the login code: the hook learns of the follow (its answer is
    // not the reply), and never of the login itself.
    assert_eq!(report.event, "subscribe");
    assert_eq!(seen.calls.load(Ordering::SeqCst), 2, "the follow, once");
    let got = seen.got.lock().unwrap().clone();
    assert!(got[1].2.contains("subscribe"), "{}", got[1].2);
    let s: serde_json::Value = browser()
        .post(format!("{}/auth/wechat/scan", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let again = mock
        .scan(s["qr_url"].as_str().unwrap(), "bob")
        .await
        .unwrap();
    assert_eq!(again.event, "SCAN");
    assert!(again.reply.unwrap().contains("扫码登录"));
    assert_eq!(
        seen.calls.load(Ordering::SeqCst),
        2,
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
    // A scan login is not forwarded; following through its code is (once).
    for (event, forwarded) in [("subscribe", 2), ("SCAN", 2)] {
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
            .scan(s["qr_url"].as_str().unwrap(), "alice")
            .await
            .unwrap();
        assert_eq!(report.event, event, "{what}");
        assert!(report.reply.unwrap().contains("扫码登录"), "{what}");
        assert_eq!(seen.got.lock().unwrap().len(), forwarded, "{what}: {event}");
    }
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

/// A campaign code of the account's own whose scene is 32 hex characters (`uuid4().hex`):
/// it is the app's, not a login.
const CAMPAIGN: &str = "9f1c2b3a4d5e6f708192a3b4c5d6e7f8";

/// The account's own QR codes reach the hook even when their scene looks like a login id
/// (nobody is told "登录二维码已失效"); a follow through a login code is a login (the user
/// reads the login's reply, the browser logs in) and reaches the hook too, after it.
#[tokio::test]
async fn the_accounts_own_codes_and_a_login_codes_follow_reach_the_hook() {
    let mock = MockWechat::start().await.unwrap();
    let seen = Seen::default();
    let app = start(hooked(&mock, &seen)).await;
    wire(&mock, &app);
    let gh = mock.official_account().original_id.clone().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (n, (event, key)) in [
        ("SCAN", CAMPAIGN.to_owned()),
        ("subscribe", format!("qrscene_{CAMPAIGN}")),
    ]
    .into_iter()
    .enumerate()
    {
        let doc = wire::event_xml(&gh, "oCAMPAIGN1", now + n as u64, event, &key, "T");
        let (status, answer) = post_push(&app, &mock, &doc, &format!("77{n}")).await;
        assert_eq!((status, answer.as_str()), (200, "success"), "{event}");
        assert_eq!(seen.calls.load(Ordering::SeqCst), n + 1, "{event}");
        let got = seen.got.lock().unwrap().clone();
        assert_eq!(got[n].0, "event");
        assert!(got[n].2.contains(&key), "{}", got[n].2);
    }

    // Carol follows the account by scanning a login code.
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
        .scan(s["qr_url"].as_str().unwrap(), "carol")
        .await
        .unwrap();
    assert_eq!(report.event, "subscribe", "{report:?}");
    let reply = report.reply.expect("the login's reply");
    assert!(reply.contains("扫码登录"), "{reply}");
    let res = b
        .get(format!(
            "{}/auth/wechat/scan/{}?wait=5",
            app.url,
            s["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert!(session_token(&res).is_some());
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["status"],
        "confirmed"
    );
    assert_eq!(
        seen.calls.load(Ordering::SeqCst),
        3,
        "the app sees its new follower"
    );
    let got = seen.got.lock().unwrap().clone();
    let carol = mock
        .user("carol")
        .unwrap()
        .openid_for(&mock.official_account().appid);
    assert_eq!(
        (got[2].0.as_str(), got[2].1.as_str()),
        ("event", carol.as_str())
    );
    assert!(
        got[2].2.contains("subscribe") && got[2].2.contains("qrscene_"),
        "{}",
        got[2].2
    );
    // Carol scanning the login code again (a SCAN, as a follower) is a login only.
    let s: serde_json::Value = b
        .post(format!("{}/auth/wechat/scan", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let again = mock
        .scan(s["qr_url"].as_str().unwrap(), "carol")
        .await
        .unwrap();
    assert_eq!(again.event, "SCAN");
    assert_eq!(seen.calls.load(Ordering::SeqCst), 3);
}

/// The same with push forwarding: the campaign code and a login code's follow reach the
/// existing backend, signed as WeChat sent them.
#[tokio::test]
async fn the_accounts_own_codes_and_a_login_codes_follow_are_forwarded() {
    let mock = MockWechat::start().await.unwrap();
    let o = mock.official_account();
    let gh = o.original_id.clone().unwrap();
    let (url, seen, _task) = backend(gh.clone(), o.token.clone().unwrap()).await;
    let app = start(config(&mock).with_push_forward(&url)).await;
    wire(&mock, &app);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let doc = wire::event_xml(&gh, "oCAMPAIGN1", now, "SCAN", CAMPAIGN, "T");
    let (status, answer) = post_push(&app, &mock, &doc, "881").await;
    assert_eq!(status, 200);
    assert!(!answer.contains("已失效"), "{answer}");
    assert!(
        answer.contains("<Encrypt>"),
        "the backend's reply, sealed: {answer}"
    );
    assert_eq!(seen.got.lock().unwrap().len(), 1);

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
        .scan(s["qr_url"].as_str().unwrap(), "carol")
        .await
        .unwrap();
    assert_eq!(report.event, "subscribe");
    let reply = report.reply.unwrap();
    assert!(
        reply.contains("扫码登录") && !reply.contains("backend says hi"),
        "the login's reply, not the backend's: {reply}"
    );
    let got = seen.got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "the follow is forwarded");
    assert!(got[1].0.contains("signature="), "{}", got[1].0);
    let res = b
        .get(format!(
            "{}/auth/wechat/scan/{}?wait=5",
            app.url,
            s["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert!(session_token(&res).is_some(), "and the login completes");
}
