//! A quick smoke test of message-code login (issue 25) with the mock's unverified
//! subscription account, over real sockets: two instances of the layer share one store (the
//! push lands on the other instance than the browser's poll), the code is matched, only the
//! bound user's `1` counts, and the account never receives `qrcode/create`, `user/info`,
//! web authorization or the code exchange. (The full suite is `tests/message_login.rs`.)

mod common;

use std::sync::Arc;

use common::*;
use serde_json::Value;
use wechat_auth::{WechatConfig, mock::MockWechat, push::PushReply};

/// The site with only the unverified account (and the website app), on `store`.
fn unverified(
    mock: &MockWechat,
    store: Arc<dyn wechat_auth::store::Store>,
) -> wechat_auth::WechatConfigBuilder {
    let sub = mock.unverified_account();
    WechatConfig::builder()
        .with_session_secret(SECRET)
        .with_wechat_bases(mock.url(), mock.url(), mock.url())
        .with_website_app(mock.website().appid.clone(), mock.website().secret.clone())
        .with_official_account(sub.appid.clone(), sub.secret.clone())
        .with_oa_push(
            sub.token.clone().unwrap_or_default(),
            sub.encoding_aes_key.as_deref(),
        )
        .with_oa_verified(false)
        .with_oa_name("测试<订阅号>")
        .with_oa_qr_image_url("https://example.com/qr.jpg")
        .with_public_path("/")
        .with_store(store)
        .with_on_push(|push| async move {
            (push.message.msg_type == "text").then(|| PushReply::text("app"))
        })
}

/// One store for both instances: Redis when the suite runs on it, else one memory store.
fn shared_store() -> Arc<dyn wechat_auth::store::Store> {
    match std::env::var("WECHAT_TEST_STORE").as_deref() {
        Ok("redis") => {
            let url = std::env::var("WECHAT_REDIS_URL").expect("WECHAT_REDIS_URL");
            let mut store = wechat_auth::store::RedisStore::connect_lazy(&url)
                .unwrap()
                .with_prefix(format!("message-smoke-{}", std::process::id()));
            if let Some(ca) = std::env::var_os("WECHAT_REDIS_CA_FILE") {
                store = store.with_ca_file(ca).unwrap();
            }
            Arc::new(store)
        }
        _ => Arc::new(wechat_auth::store::MemoryStore::new()),
    }
}

async fn start_code(app: &App, b: &reqwest::Client) -> Value {
    let res = b
        .post(format!("{}/auth/wechat/scan?return_to=/profile", app.url))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn poll(app: &App, b: &reqwest::Client, id: &str) -> (u16, Value) {
    let res = b
        .get(format!("{}/auth/wechat/scan/{id}?wait=0", app.url))
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

fn assert_never_called(mock: &MockWechat) {
    let sub = &mock.unverified_account().appid;
    for endpoint in [
        "cgi-bin/qrcode/create",
        "cgi-bin/user/info",
        "connect/oauth2/authorize",
        "sns/oauth2/access_token",
    ] {
        assert_eq!(mock.app_calls(sub, endpoint), 0, "{endpoint} was called");
    }
}

#[tokio::test]
async fn a_code_sent_to_the_unverified_account_logs_the_browser_in_across_instances() {
    let mock = MockWechat::start().await.unwrap();
    let store = shared_store();
    let a = start(unverified(&mock, store.clone())).await;
    let b_inst = start(unverified(&mock, store)).await;
    // WeChat pushes to instance B; the browser starts and polls on instance A.
    let sub = mock.unverified_account().appid.clone();
    mock.set_push_url(&sub, Some(&format!("{}/auth/wechat/push", b_inst.url)))
        .unwrap();

    let browser = browser();
    let started = start_code(&a, &browser).await;
    assert_eq!(started["via"], "message", "{started}");
    let code = started["code"].as_str().unwrap().to_owned();
    assert!(
        code.len() == 6 && code.bytes().all(|c| c.is_ascii_digit()),
        "{code}"
    );
    assert_eq!(started["account"]["name"], "测试<订阅号>");
    assert_eq!(
        started["account"]["qr_image_url"],
        "https://example.com/qr.jpg"
    );
    let id = started["id"].as_str().unwrap().to_owned();
    // A reload gets the same code.
    assert_eq!(start_code(&a, &browser).await["code"], code.as_str());
    assert_eq!(poll(&a, &browser, &id).await.1["status"], "pending");

    // Bob's `1` with nothing pending is an ordinary message.
    let r = mock.send_text_to(&sub, "bob", "1").await.unwrap();
    assert_eq!(r.reply.as_deref(), Some("app"));
    // Alice sends the code inside a message.
    let r = mock
        .send_text_to(&sub, "alice", &format!("登录 {code}"))
        .await
        .unwrap();
    let prompt = r.reply.unwrap();
    assert!(prompt.contains("回复 1 确认登录，回复 0 取消"), "{prompt}");
    assert!(prompt.contains("127.0.0.1"), "{prompt}");
    assert!(
        !prompt.contains(&code),
        "the reply does not repeat the code"
    );
    assert_eq!(poll(&a, &browser, &id).await.1["status"], "scanned");
    // Bob sending the same code is told it is taken; his `1` does not count.
    let r = mock.send_text_to(&sub, "bob", &code).await.unwrap();
    assert!(r.reply.unwrap().contains("已被其他微信使用"));
    let r = mock.send_text_to(&sub, "bob", "1").await.unwrap();
    assert_eq!(r.reply.as_deref(), Some("app"));
    assert_eq!(poll(&a, &browser, &id).await.1["status"], "scanned");
    // Alice's `1` confirms.
    let r = mock.send_text_to(&sub, "alice", "1").await.unwrap();
    assert!(r.reply.unwrap().contains("已确认登录"));
    let res = browser
        .get(format!("{}/auth/wechat/scan/{id}?wait=0", a.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(session_token(&res).is_some(), "the session cookie is set");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "confirmed");
    let me: Value = browser
        .get(format!("{}/profile", a.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let alice = mock.user("alice").unwrap().openid_for(&sub);
    assert_eq!(me["openid"], alice.as_str());
    assert_eq!(me["channel"], "message_code");
    assert!(me["unionid"].is_null(), "{me}");
    // Single use: the code now matches nothing (a wrong code: the app's).
    let r = mock.send_text_to(&sub, "alice", &code).await.unwrap();
    assert_eq!(r.reply.as_deref(), Some("app"));
    // `channel=oa` is refused; the page is the message page.
    let res = browser
        .get(format!("{}/auth/wechat/login?channel=oa", a.url))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let page = browser
        .get(format!("{}/auth/wechat/scan", a.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("关注「测试&lt;订阅号&gt;」"), "escaped name");
    assert!(page.contains("https://example.com/qr.jpg"));
    assert_never_called(&mock);
}

#[tokio::test]
async fn zero_refuses_and_wrong_codes_are_bounded_per_user() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(unverified(&mock, shared_store())).await;
    let sub = mock.unverified_account().appid.clone();
    mock.set_push_url(&sub, Some(&format!("{}/auth/wechat/push", app.url)))
        .unwrap();
    let browser = browser();
    let started = start_code(&app, &browser).await;
    let (id, code) = (
        started["id"].as_str().unwrap().to_owned(),
        started["code"].as_str().unwrap().to_owned(),
    );
    mock.send_text_to(&sub, "alice", &code).await.unwrap();
    let r = mock.send_text_to(&sub, "alice", "0").await.unwrap();
    assert!(r.reply.unwrap().contains("已取消"));
    let (status, body) = poll(&app, &browser, &id).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (403, Some("refused")),
        "{body}"
    );

    // Carol guesses: five wrong codes are the app's, then she is told to wait, even with
    // a right code.
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for _ in 0..5 {
        let r = mock.send_text_to(&sub, "carol", wrong).await.unwrap();
        assert_eq!(r.reply.as_deref(), Some("app"));
    }
    let other = start_code(&app, &common::browser()).await;
    let r = mock
        .send_text_to(&sub, "carol", other["code"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(r.reply.as_deref(), Some("尝试过于频繁，请稍后再试"));
    // Bob is not blocked by Carol's guesses.
    let r = mock
        .send_text_to(&sub, "bob", other["code"].as_str().unwrap())
        .await
        .unwrap();
    assert!(r.reply.unwrap().contains("回复 1 确认登录"));
    assert_never_called(&mock);
}

#[tokio::test]
async fn a_verified_account_offers_message_login_too_and_fills_the_unionid() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    wire(&mock, &app);
    let oa = mock.official_account().appid.clone();
    let b = browser();
    let res = b
        .post(format!("{}/auth/wechat/scan?via=message", app.url))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let started: Value = res.json().await.unwrap();
    assert_eq!(started["via"], "message");
    assert!(started["account"]["name"].is_null(), "{started}");
    let qr_before = mock.app_calls(&oa, "cgi-bin/qrcode/create");
    assert_eq!(qr_before, 0, "no QR code for a message code");
    let code = started["code"].as_str().unwrap();
    let id = started["id"].as_str().unwrap();
    // Alice follows the account (someone who sends it a message does).
    let res = reqwest::Client::new()
        .post(format!("{}/mock/follow", mock.url()))
        .json(&serde_json::json!({"user": "alice", "subscribed": true, "appid": oa}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let r = mock.send_text_to(&oa, "alice", code).await.unwrap();
    assert!(r.reply.unwrap().contains("回复 1 确认登录"));
    let r = mock.send_text_to(&oa, "alice", "1").await.unwrap();
    assert!(r.reply.unwrap().contains("已确认登录"));
    let (status, body) = poll(&app, &b, id).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("confirmed")));
    let me: Value = b
        .get(format!("{}/profile", app.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["channel"], "message_code");
    assert!(
        me["unionid"].is_string(),
        "looked up through user/info: {me}"
    );
    assert_eq!(mock.app_calls(&oa, "cgi-bin/user/info"), 1);
}
