//! Follow-the-Official-Account scan login end to end: the real layer in a real axum server,
//! the mock WeChat pushing signed (and AES-encrypted) events to it over real sockets.

mod common;
#[path = "support/counting_store.rs"]
mod counting_store;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use common::*;
use reqwest::Client;
use serde_json::Value;
use wechat_auth::{
    GlobalTokenSource, WechatConfig, WechatUser,
    mock::{
        AppKind, Fault, MockApp, MockConfig, MockWechat,
        wire::{event_xml, safe_mode_xml},
    },
    push::PushCrypto,
};

async fn start_scan(app: &App, b: &Client, return_to: &str) -> Value {
    let res = b
        .post(format!(
            "{}/auth/wechat/scan?return_to={return_to}",
            app.url
        ))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("wechat_scan_")),
        "the scan is bound to this browser"
    );
    res.json().await.unwrap()
}

async fn poll(app: &App, b: &Client, id: &str, wait: u64) -> (u16, Value, Option<String>) {
    let res = b
        .get(format!("{}/auth/wechat/scan/{id}?wait={wait}", app.url))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let token = session_token(&res);
    (status, res.json().await.unwrap_or(Value::Null), token)
}

async fn full_flow(mock: MockWechat, app: App) {
    wire(&mock, &app);
    let b = browser();
    let started = start_scan(&app, &b, "/profile").await;
    let id = started["id"].as_str().unwrap().to_owned();
    let qr_url = started["qr_url"].as_str().unwrap().to_owned();
    assert!(qr_url.starts_with("http://weixin.qq.com/q/"), "{qr_url}");
    assert!(started["expires_in"].as_u64().unwrap() > 0);

    // The QR image is drawn here, not by a third party.
    let image = started["image_url"].as_str().unwrap();
    assert!(image.starts_with("/auth/wechat/scan/"), "{image}");
    let res = b.get(format!("{}{image}", app.url)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/svg+xml");
    assert!(res.text().await.unwrap().contains("<svg"));

    let (status, body, token) = poll(&app, &b, &id, 0).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("pending")));
    assert!(token.is_none());

    // The browser waits; alice scans; the wait ends with a session.
    let waiting = {
        let b = b.clone();
        let url = app.url.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let res = b
                .get(format!("{url}/auth/wechat/scan/{id}?wait=20"))
                .send()
                .await
                .unwrap();
            let token = session_token(&res);
            let body: Value = res.json().await.unwrap();
            (started.elapsed(), body, token)
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let report = mock.scan(&qr_url, "alice").await.unwrap();
    assert!(report.acknowledged, "{report:?}");
    assert_eq!(report.deliveries, 1);
    let (waited, body, token) = waiting.await.unwrap();
    assert_eq!(body["status"], "confirmed", "{body}");
    assert_eq!(body["return_to"], "/profile");
    assert!(token.is_some());
    assert!(
        waited < Duration::from_secs(5),
        "woken by the push, not a timeout: {waited:?}"
    );

    let (status, user) = get_json(&b, &format!("{}/profile", app.url)).await;
    assert_eq!(status, 200);
    let alice = mock.user("alice").unwrap();
    assert_eq!(
        user["openid"],
        alice.openid_for(&mock.official_account().appid)
    );
    assert_eq!(
        user["unionid"], alice.unionid,
        "unionid from cgi-bin/user/info"
    );
    assert_eq!(user["channel"], "scan_follow");

    // The scene is consumed: no second session from it.
    let (status, body, token) = poll(&app, &b, &id, 0).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("expired")));
    assert!(token.is_none());
}

#[tokio::test]
async fn scan_login_in_safe_mode() {
    let mock = MockWechat::start().await.unwrap();
    assert!(mock.official_account().encoding_aes_key.is_some());
    let app = start(config(&mock)).await;
    full_flow(mock, app).await;
}

#[tokio::test]
async fn scan_login_in_plain_mode() {
    let oa = MockApp::default_for(AppKind::OfficialAccount).without_encoding_aes_key();
    let mock = MockWechat::start_with(MockConfig::new().with_app(oa))
        .await
        .unwrap();
    let o = mock.official_account();
    let app = start(
        config(&mock)
            .with_oa_push(o.token.clone().unwrap(), None)
            .with_insecure_plaintext_push(true),
    )
    .await;
    full_flow(mock, app).await;
}

#[tokio::test]
async fn a_follower_scanning_again_sends_scan_and_logs_in() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    wire(&mock, &app);
    mock.set_subscribed("bob", true).unwrap();
    let b = browser();
    let s = start_scan(&app, &b, "/").await;
    let report = mock
        .scan(s["qr_url"].as_str().unwrap(), "bob")
        .await
        .unwrap();
    assert_eq!(report.event, "SCAN");
    let (_, body, token) = poll(&app, &b, s["id"].as_str().unwrap(), 5).await;
    assert_eq!(body["status"], "confirmed");
    assert!(token.is_some());
}

#[tokio::test]
async fn another_browser_cannot_take_the_scan() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    wire(&mock, &app);
    let a = browser();
    let s = start_scan(&app, &a, "/").await;
    let id = s["id"].as_str().unwrap();
    mock.scan(s["qr_url"].as_str().unwrap(), "alice")
        .await
        .unwrap();
    let thief = browser();
    let (status, body, token) = poll(&app, &thief, id, 0).await;
    assert_eq!(status, 403, "{body}");
    assert!(token.is_none());
    // The rightful browser still gets it.
    let (status, body, token) = poll(&app, &a, id, 0).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("confirmed")));
    assert!(token.is_some());
}

#[tokio::test]
async fn an_expired_scene_expires_and_a_late_push_changes_nothing() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock).with_scan_ttl(Duration::from_secs(1))).await;
    wire(&mock, &app);
    let b = browser();
    let s = start_scan(&app, &b, "/").await;
    let id = s["id"].as_str().unwrap();
    assert_eq!(s["expires_in"], 1);
    // A long poll ends at expiry, not at its own deadline.
    let started = Instant::now();
    let (status, body, _) = poll(&app, &b, id, 20).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("expired")));
    assert!(started.elapsed() < Duration::from_secs(4));
    // WeChat also refuses the old code; a push for it anyway is acknowledged and ignored.
    mock.advance(Duration::from_secs(5));
    assert!(
        mock.scan(s["qr_url"].as_str().unwrap(), "alice")
            .await
            .is_err()
    );
    let oa = mock.official_account();
    let crypto = oa_crypto(&mock);
    let xml = event_xml(
        oa.original_id.as_deref().unwrap(),
        "oSomeOpenid",
        1_700_000_000,
        "SCAN",
        // The scene of the layer's code (`wxauth_` + id), as WeChat sends it.
        &format!("wxauth_{id}"),
        "TICKET",
    );
    let res = send_push(&app, &crypto, &xml).await;
    assert_eq!(res.status(), 200);
    // The user is told, in a sealed reply, that the code is no longer valid.
    let reply = res.text().await.unwrap();
    let encrypt = wechat_auth::mock::wire::xml_field(&reply, "Encrypt").expect("a sealed reply");
    let told = crypto.decrypt(&encrypt).unwrap();
    assert!(
        told.contains("已失效") && told.contains("oSomeOpenid"),
        "{told}"
    );
    let (_, body, token) = poll(&app, &b, id, 0).await;
    assert_eq!(body["status"], "expired");
    assert!(token.is_none());
}

/// Now, in Unix seconds: what WeChat puts in a push's `timestamp` (the layer refuses one
/// more than 5 minutes off).
fn now_ts() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string()
}

/// Pushes `xml` as WeChat would: signed, and sealed in safe mode when `crypto` has a key.
async fn send_push(app: &App, crypto: &PushCrypto, xml: &str) -> reqwest::Response {
    let (ts, nonce) = (&now_ts(), "424242");
    let sig = crypto.signature(ts, nonce);
    let mut url = format!(
        "{}/auth/wechat/push?signature={sig}&timestamp={ts}&nonce={nonce}&openid=x",
        app.url
    );
    let body = if crypto.has_aes() {
        let encrypt = crypto.encrypt(xml, *b"fedcba9876543210").unwrap();
        url.push_str(&format!(
            "&encrypt_type=aes&msg_signature={}",
            crypto.msg_signature(ts, nonce, &encrypt)
        ));
        safe_mode_xml("gh_000000000001", &encrypt)
    } else {
        xml.to_owned()
    };
    reqwest::Client::new()
        .post(url)
        .header("content-type", "text/xml")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn push_signatures_are_checked() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let oa = mock.official_account();
    let crypto = oa_crypto(&mock);
    let c = Client::new();
    let push = format!("{}/auth/wechat/push", app.url);

    // URL verification.
    let now = now_ts();
    let sig = crypto.signature(&now, "1514711492");
    let res = c
        .get(format!(
            "{push}?signature={sig}&timestamp={now}&nonce=1514711492&echostr=4375120948345356249"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "4375120948345356249");
    let res = c
        .get(format!(
            "{push}?signature=0000&timestamp=1714036504&nonce=1514711492&echostr=x"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    // A POST with a bad signature, and one whose ciphertext signature is wrong.
    let xml = event_xml("gh_000000000001", "oX", 1_700_000_000, "SCAN", "abc", "T");
    let res = c
        .post(format!("{push}?signature=bad&timestamp=1&nonce=2"))
        .body(xml.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let encrypt = crypto.encrypt(&xml, *b"0123456789abcdef").unwrap();
    let body = format!(
        "<xml><ToUserName><![CDATA[gh_000000000001]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    );
    let (ts, nonce) = (now.as_str(), "123456789");
    let sig = crypto.signature(ts, nonce);
    let good = crypto.msg_signature(ts, nonce, &encrypt);
    let url = |msg_sig: &str| {
        format!(
            "{push}?signature={sig}&timestamp={ts}&nonce={nonce}&encrypt_type=aes&msg_signature={msg_sig}"
        )
    };
    let res = c
        .post(url("0".repeat(40).as_str()))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = c.post(url(&good)).body(body.clone()).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "success");

    // Sealed for another appid: refused.
    let other = PushCrypto::new(
        oa.token.as_deref().unwrap(),
        oa.encoding_aes_key.as_deref(),
        "wx_other_app",
    )
    .unwrap();
    let foreign = other.encrypt(&xml, *b"0123456789abcdef").unwrap();
    let body = format!("<xml><Encrypt><![CDATA[{foreign}]]></Encrypt></xml>");
    let res = c
        .post(url(&crypto.msg_signature(ts, nonce, &foreign)))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    // Plaintext is refused once the account is in safe mode: the URL signature does not
    // cover the body, so a replayed query must not carry a forged event.
    let res = c
        .post(format!(
            "{push}?signature={sig}&timestamp={ts}&nonce={nonce}"
        ))
        .body(xml.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    // Junk and oversized bodies never reach the parser's bad side.
    let res = send_push(&app, &crypto, "not xml at all").await;
    assert_eq!(res.status(), 400);
    let res = c
        .post(format!(
            "{push}?signature={sig}&timestamp={ts}&nonce={nonce}"
        ))
        .body("<xml>".repeat(50_000))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
}

#[tokio::test]
async fn re_deliveries_confirm_the_scene_once() {
    let mock = MockWechat::start().await.unwrap();
    let logins = Arc::new(AtomicUsize::new(0));
    let counter = logins.clone();
    let app = start(config(&mock).with_on_login(move |_u: WechatUser| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok(None) }
    }))
    .await;
    let b = browser();
    let s = start_scan(&app, &b, "/").await;
    let id = s["id"].as_str().unwrap();
    let oa = mock.official_account();
    let crypto = oa_crypto(&mock);
    let openid = mock.user("carol").unwrap().openid_for(&oa.appid);
    let xml = event_xml(
        oa.original_id.as_deref().unwrap(),
        &openid,
        1_700_000_000,
        "subscribe",
        &format!("qrscene_{id}"),
        "TICKET",
    );
    // WeChat's retries: the same event three times, two of them at once.
    let (r1, r2) = tokio::join!(
        send_push(&app, &crypto, &xml),
        send_push(&app, &crypto, &xml)
    );
    assert_eq!((r1.status().as_u16(), r2.status().as_u16()), (200, 200));
    assert_eq!(send_push(&app, &crypto, &xml).await.status(), 200);
    let (_, body, token) = poll(&app, &b, id, 5).await;
    assert_eq!(body["status"], "confirmed");
    assert!(token.is_some());
    assert_eq!(
        logins.load(Ordering::SeqCst),
        1,
        "one login from three deliveries"
    );
    assert_eq!(mock.calls("cgi-bin/user/info"), 1);

    // Events that are not ours change nothing and are acknowledged.
    for (event, key) in [
        ("subscribe", ""),
        ("unsubscribe", ""),
        ("SCAN", "unknownscene"),
    ] {
        let xml = event_xml("gh_000000000001", &openid, 1_700_000_001, event, key, "");
        let res = send_push(&app, &crypto, &xml).await;
        assert_eq!(res.text().await.unwrap(), "success");
    }
    assert_eq!(logins.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_signed_push_for_a_scene_nobody_started_writes_only_its_replay_record() {
    let mock = MockWechat::start().await.unwrap();
    let store = counting_store::CountingStore::memory();
    let app = start(base_config(&mock).with_store(store.clone())).await;
    let oa = mock.official_account();
    let crypto = oa_crypto(&mock);
    let openid = mock.user("carol").unwrap().openid_for(&oa.appid);
    // Well-formed (32 alphanumerics), correctly signed, but no browser started it.
    let xml = event_xml(
        oa.original_id.as_deref().unwrap(),
        &openid,
        1_700_000_000,
        "SCAN",
        &"a1".repeat(16),
        "TICKET",
    );
    let (before, writes) = (store.written().len(), store.writes());
    let res = send_push(&app, &crypto, &xml).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        store.writes() - writes,
        1,
        "{:?}",
        &store.written()[before..]
    );
    let written: Vec<String> = store.written()[before..]
        .iter()
        .map(|(k, _)| k.clone())
        .collect();
    // The signed query's replay record (every accepted push has one); no claim, no lock.
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(written[0].contains("push-nonce"), "{written:?}");
    assert_eq!(mock.calls("cgi-bin/user/info"), 0);
}

#[tokio::test]
async fn a_thousand_concurrent_scans_share_one_global_token() {
    let mock = MockWechat::start().await.unwrap();
    // Start limits out of the way, and time for 1,000 qrcode/create calls on a busy machine:
    // this is about the token's single flight.
    let app = start(
        config(&mock)
            .with_scan_start_limits(wechat_auth::ScanStartLimits::new(1000, 1000, 1000))
            .with_http_timeout(Duration::from_secs(20)),
    )
    .await;
    let c = Client::new();
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let c = c.clone();
        let url = format!("{}/auth/wechat/scan", app.url);
        tasks.push(tokio::spawn(async move {
            c.post(url).send().await.map(|r| r.status().as_u16())
        }));
    }
    let mut ok = 0;
    let mut other = std::collections::BTreeMap::new();
    for t in tasks {
        match t.await.unwrap().unwrap() {
            200 => ok += 1,
            s => *other.entry(s).or_insert(0) += 1,
        }
    }
    assert_eq!(ok, 1000, "other answers: {other:?}");
    assert_eq!(mock.calls("cgi-bin/stable_token"), 1, "single flight");
    assert_eq!(mock.calls("cgi-bin/token"), 0);
    assert_eq!(mock.calls("cgi-bin/qrcode/create"), 1000);
}

#[tokio::test]
async fn a_refused_token_is_replaced_once_and_classic_tokens_work() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let c = Client::new();
    assert_eq!(
        c.post(format!("{}/auth/wechat/scan", app.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // WeChat says the token is no longer valid: dropped, fetched again, the call retried once.
    mock.inject("cgi-bin/qrcode/create", Fault::Errcode(40001), 1);
    assert_eq!(
        c.post(format!("{}/auth/wechat/scan", app.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(mock.calls("cgi-bin/stable_token"), 2);
    // Refused twice in a row: an error, not a loop.
    mock.inject("cgi-bin/qrcode/create", Fault::Errcode(40001), 2);
    let res = c
        .post(format!("{}/auth/wechat/scan", app.url))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_server_error(), "{}", res.status());
    assert_eq!(mock.calls("cgi-bin/stable_token"), 3);

    let classic = start(config(&mock).with_global_token_source(GlobalTokenSource::Classic)).await;
    let before = mock.calls("cgi-bin/token");
    for _ in 0..3 {
        assert_eq!(
            c.post(format!("{}/auth/wechat/scan", classic.url))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    assert_eq!(
        mock.calls("cgi-bin/token") - before,
        1,
        "fetched once, reused"
    );
}

#[tokio::test]
async fn scan_needs_a_push_token_and_the_page_is_self_contained() {
    let mock = MockWechat::start().await.unwrap();
    let oa = mock.official_account();
    let no_push = start(
        WechatConfig::builder()
            .with_session_secret(SECRET)
            .with_wechat_bases(mock.url(), mock.url(), mock.url())
            .with_official_account(oa.appid.clone(), oa.secret.clone()),
    )
    .await;
    let res = Client::new()
        .post(format!("{}/auth/wechat/scan", no_push.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("WECHAT_OA_TOKEN"));

    let app = start(config(&mock)).await;
    let res = browser()
        .get(format!("{}/auth/wechat/scan?return_to=/profile", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("微信扫码登录"));
    assert!(
        page.contains(r#"data-start="/auth/wechat/scan?return_to=/profile""#),
        "{page}"
    );
    for external in ["<script src", "<link", "cdn", "googleapis"] {
        assert!(!page.contains(external), "no third-party asset: {external}");
    }
}

#[tokio::test]
async fn a_person_can_scan_with_the_mock_phone_page() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    wire(&mock, &app);
    let b = browser();
    let s = start_scan(&app, &b, "/profile").await;
    let phone = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = phone
        .get(format!("{}/mock/phone", mock.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(s["qr_url"].as_str().unwrap()), "{page}");
    let ticket = mock.ticket_for_url(s["qr_url"].as_str().unwrap()).unwrap();
    let res = phone
        .post(format!("{}/mock/phone/scan", mock.url()))
        .form(&[("ticket", ticket.as_str()), ("user", "bob")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let back = location(&res);
    assert!(back.contains("%E2%9C%93"), "acknowledged: {back}");
    let (_, body, token) = poll(&app, &b, s["id"].as_str().unwrap(), 5).await;
    assert_eq!(body["status"], "confirmed");
    assert!(token.is_some());
}

/// One scan login of `user` in a fresh browser, to its `/profile`.
async fn scan_in_new_browser(mock: &MockWechat, app: &App, user: &str) -> Value {
    let b = browser();
    let s = start_scan(app, &b, "/").await;
    let report = mock
        .scan(s["qr_url"].as_str().unwrap(), user)
        .await
        .unwrap();
    assert!(report.acknowledged, "{report:?}");
    let (_, body, token) = poll(app, &b, s["id"].as_str().unwrap(), 5).await;
    assert_eq!(body["status"], "confirmed", "{body}");
    assert!(token.is_some());
    let (status, profile) = get_json(&b, &format!("{}/profile", app.url)).await;
    assert_eq!(status, 200);
    profile
}

/// What `cgi-bin/user/info` said about a follower is kept for `userinfo_ttl`: a repeat scan
/// login of the same person asks WeChat for its QR code only, and still carries the unionid;
/// once the time is up WeChat is asked again.
#[tokio::test]
async fn a_repeat_scan_of_the_same_person_asks_wechat_for_the_qr_code_only() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock).with_userinfo_ttl(Duration::from_secs(2))).await;
    wire(&mock, &app);
    let alice = mock.user("alice").unwrap();
    for round in 1..=3 {
        let profile = scan_in_new_browser(&mock, &app, "alice").await;
        assert_eq!(profile["unionid"], alice.unionid, "round {round}");
    }
    assert_eq!(mock.calls("cgi-bin/qrcode/create"), 3);
    assert_eq!(
        mock.calls("cgi-bin/user/info"),
        1,
        "asked once for three scans"
    );
    // Another person is looked up on their own.
    let bob = mock.user("bob").unwrap();
    assert_eq!(
        scan_in_new_browser(&mock, &app, "bob").await["unionid"],
        bob.unionid
    );
    assert_eq!(mock.calls("cgi-bin/user/info"), 2);
    // Past userinfo_ttl, alice is looked up again.
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    scan_in_new_browser(&mock, &app, "alice").await;
    assert_eq!(mock.calls("cgi-bin/user/info"), 3);
}

/// `POST scan` from a fresh browser, with extra request headers (one line each, in order).
async fn start_from(app: &App, headers: &[(&str, String)]) -> reqwest::Response {
    let mut req = browser()
        .post(format!("{}/auth/wechat/scan", app.url))
        .header("accept", "application/json");
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    req.send().await.unwrap()
}

/// Behind nginx's `proxy_add_x_forwarded_for`, the client writes the left of the list and
/// the proxy appends the address it saw: the start limit counts, and the phone shows, what
/// the proxy appended, however the client rotates what it wrote (issue 23, item 3).
#[tokio::test]
async fn behind_an_appending_proxy_the_client_is_what_the_proxy_appended() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(
        config(&mock)
            .with_client_ip_header("x-forwarded-for")
            .with_scan_start_limits(wechat_auth::ScanStartLimits::new(3, 100, 1000)),
    )
    .await;
    wire(&mock, &app);
    const REAL: &str = "203.0.113.7";

    // The phone is told the address the proxy saw, not the one the client wrote.
    let res = start_from(&app, &[("x-forwarded-for", format!("1.2.3.4, {REAL}"))]).await;
    assert_eq!(res.status(), 200);
    let started: Value = res.json().await.unwrap();
    let report = mock
        .scan(started["qr_url"].as_str().unwrap(), "alice")
        .await
        .unwrap();
    let reply = report.reply.expect("the scan is answered");
    assert!(
        reply.contains(REAL) && !reply.contains("1.2.3.4"),
        "the reply names the real client: {reply}"
    );

    // Rotating the forged part (and splitting the list over two header lines, which is
    // one list) does not make a new client: the limit of 3 a minute holds.
    let res = start_from(
        &app,
        &[
            ("x-forwarded-for", "5.6.7.1".to_owned()),
            ("x-forwarded-for", REAL.to_owned()),
        ],
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = start_from(&app, &[("x-forwarded-for", format!("5.6.7.2, {REAL}"))]).await;
    assert_eq!(res.status(), 200);
    for forged in ["5.6.7.3", "9.9.9.9, 8.8.8.8", "2001:db8::1"] {
        let res = start_from(&app, &[("x-forwarded-for", format!("{forged}, {REAL}"))]).await;
        assert_eq!(res.status(), 429, "forged {forged:?}");
        assert!(res.headers().contains_key("retry-after"));
    }
    // Another real client behind the same proxy is not held up.
    let res = start_from(
        &app,
        &[("x-forwarded-for", "5.6.7.3, 203.0.113.8".to_owned())],
    )
    .await;
    assert_eq!(res.status(), 200);
    // A request that did not come through the proxy (no header) is its socket's peer.
    assert_eq!(start_from(&app, &[]).await.status(), 200);
    assert_eq!(mock.calls("cgi-bin/qrcode/create"), 5);
}

/// An IPv6 client owns a whole /64: rotating addresses inside it is one client for the
/// start limit (issue 23, item 4a).
#[tokio::test]
async fn ipv6_clients_are_limited_per_64_not_per_address() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(
        config(&mock)
            .with_client_ip_header("x-real-ip")
            .with_scan_start_limits(wechat_auth::ScanStartLimits::new(2, 100, 1000)),
    )
    .await;
    let start = |ip: &'static str| {
        let app = &app;
        async move {
            start_from(app, &[("x-real-ip", ip.to_owned())])
                .await
                .status()
                .as_u16()
        }
    };
    assert_eq!(start("2001:db8:aa:bb::1").await, 200);
    assert_eq!(start("2001:db8:aa:bb:1:2:3:4").await, 200);
    assert_eq!(start("2001:db8:aa:bb:ffff::9").await, 429, "same /64");
    assert_eq!(start("2001:db8:aa:bb::abcd").await, 429, "same /64");
    assert_eq!(start("2001:db8:aa:bc::1").await, 200, "another /64");
}

/// The day's QR code budget is one count in the store for every instance: spent through
/// two instances together, the next start is refused with a clear 429 and `Retry-After`
/// until the next UTC day, and WeChat is not asked (issue 23, item 4b).
#[tokio::test]
async fn the_daily_qr_budget_is_shared_by_every_instance_and_refuses_clearly() {
    let mock = MockWechat::start().await.unwrap();
    let store: Arc<dyn wechat_auth::store::Store> =
        Arc::new(wechat_auth::store::MemoryStore::new());
    let instance = || {
        base_config(&mock)
            .with_store(store.clone())
            .with_scan_daily_budget(3)
            .with_client_ip_header("x-real-ip")
    };
    let (a, b) = (start(instance()).await, start(instance()).await);
    let from = |app: &App, ip: &str| {
        let url = app.url.clone();
        let ip = ip.to_owned();
        async move {
            browser()
                .post(format!("{url}/auth/wechat/scan"))
                .header("accept", "application/json")
                .header("x-real-ip", ip)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(from(&a, "198.51.100.1").await.status(), 200);
    assert_eq!(from(&b, "198.51.100.2").await.status(), 200);
    assert_eq!(from(&a, "198.51.100.3").await.status(), 200);
    for (app, ip) in [(&b, "198.51.100.4"), (&a, "198.51.100.5")] {
        let res = from(app, ip).await;
        assert_eq!(res.status(), 429);
        let retry: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let midnight = 86_400 - now % 86_400;
        assert!(
            retry.abs_diff(midnight) <= 5,
            "until the next UTC day: {retry} vs {midnight}"
        );
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "scan_budget_spent", "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("used up"),
            "{body}"
        );
    }
    assert_eq!(
        mock.calls("cgi-bin/qrcode/create"),
        3,
        "no call past the budget"
    );
    // The scan page tells a person in their words (the page reads the error code).
    let page = browser()
        .get(format!("{}/auth/wechat/scan", a.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("scan_budget_spent") && page.contains("今天的扫码登录二维码已用完"));
}

/// WeChat's 45009 on `qrcode/create` (the account's daily quota is spent) is said as
/// such: 503 `wechat_qr_quota` with `Retry-After` until WeChat's next day, not a generic
/// failure (issue 23, item 4c).
#[tokio::test]
async fn wechats_daily_quota_on_qrcode_create_is_a_clear_503() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    mock.inject("cgi-bin/qrcode/create", Fault::Errcode(45009), 1);
    let res = start_from(&app, &[]).await;
    assert_eq!(res.status(), 503);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry), "{retry}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "wechat_qr_quota", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("quota"),
        "{body}"
    );
    // The fault was one call: the next start works again.
    assert_eq!(start_from(&app, &[]).await.status(), 200);
}
