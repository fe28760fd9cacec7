//! Several instances behind one load balancer: two apps in one test, sharing one Redis and
//! one mock WeChat, each with its own `RedisStore` connection — as two servers would.

mod common;
#[path = "support/redis_server.rs"]
mod redis_server;

use std::time::{Duration, Instant};

use common::*;
use redis_server::RedisServer;
use reqwest::Client;
use serde_json::Value;
use wechat_auth::mock::MockWechat;

/// Two instances of the same site: same secret, same apps, same Redis.
async fn pair(mock: &MockWechat, redis: &RedisServer, prefix: &str) -> (App, App) {
    pair_with(mock, redis, prefix, Duration::from_millis(500)).await
}

/// [`pair`] with another command timeout.
async fn pair_with(
    mock: &MockWechat,
    redis: &RedisServer,
    prefix: &str,
    timeout: Duration,
) -> (App, App) {
    // Connected before the test starts (as a server's start-up check would): a TLS
    // handshake or a Cluster's slot discovery is not what the command timeout measures.
    let instance = || async {
        let store = redis
            .store()
            .await
            .with_command_timeout(timeout)
            .with_prefix(prefix);
        base_config(mock)
            .with_store(std::sync::Arc::new(store))
            // These tests start up to 1,000 scans from one address: lift the start limits.
            .with_scan_start_limits(wechat_auth::ScanStartLimits::new(1000, 1000, 1000))
    };
    (start(instance().await).await, start(instance().await).await)
}

fn prefix(test: &str) -> String {
    redis_server::test_prefix(test)
}

#[tokio::test]
async fn a_scan_started_on_a_and_pushed_to_b_confirms_on_a() {
    let Some(redis) = RedisServer::find() else {
        return;
    };
    let mock = MockWechat::start().await.unwrap();
    let (a, b) = pair(&mock, &redis, &prefix("scan")).await;
    // WeChat's push reaches instance B.
    mock.set_push_url(
        &mock.official_account().appid,
        Some(&format!("{}/auth/wechat/push", b.url)),
    )
    .unwrap();
    let browser = browser();
    let started: Value = browser
        .post(format!("{}/auth/wechat/scan?return_to=/profile", a.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = started["id"].as_str().unwrap().to_owned();
    let waiting = {
        let browser = browser.clone();
        let url = format!("{}/auth/wechat/scan/{id}?wait=20", a.url);
        tokio::spawn(async move {
            let t = Instant::now();
            let res = browser.get(url).send().await.unwrap();
            let token = session_token(&res);
            (t.elapsed(), res.json::<Value>().await.unwrap(), token)
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let report = mock
        .scan(started["qr_url"].as_str().unwrap(), "alice")
        .await
        .unwrap();
    assert!(report.acknowledged, "B answered the push: {report:?}");
    let (waited, body, token) = waiting.await.unwrap();
    assert_eq!(body["status"], "confirmed", "{body}");
    assert!(
        token.is_some(),
        "A set the session on the browser that waited on A"
    );
    assert!(
        waited < Duration::from_secs(5),
        "woken through Redis: {waited:?}"
    );
    let (status, user) = get_json(&browser, &format!("{}/profile", a.url)).await;
    assert_eq!(status, 200);
    assert_eq!(user["channel"], "scan_follow");
}

#[tokio::test]
async fn a_mini_program_code_started_on_a_and_answered_on_b_logs_in_on_a() {
    let Some(redis) = RedisServer::find() else {
        return;
    };
    let mock = MockWechat::start().await.unwrap();
    let (a, b) = pair(&mock, &redis, &prefix("minicode")).await;
    let browser = browser();
    let started: Value = browser
        .post(format!(
            "{}/auth/wechat/scan?via=miniprogram&return_to=/profile",
            a.url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = started["id"].as_str().unwrap().to_owned();
    let wait_on_a = |seen: &str| {
        let browser = browser.clone();
        let url = format!("{}/auth/wechat/scan/{id}?wait=20&seen={seen}", a.url);
        tokio::spawn(async move {
            let t = Instant::now();
            let res = browser.get(url).send().await.unwrap();
            (t.elapsed(), res.json::<Value>().await.unwrap())
        })
    };
    let waiting = wait_on_a("pending");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The mini program's requests reach instance B: it opens the code there (A's browser is
    // told `scanned`), then answers.
    let (scene, code) = mock.open_mini_program(&id, "alice").unwrap();
    let opened: Value = Client::new()
        .post(format!("{}/auth/wechat/miniprogram/scan/open", b.url))
        .json(&serde_json::json!({ "scene": scene, "code": code }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = opened["token"].as_str().expect("a token").to_owned();
    let (waited, body) = waiting.await.unwrap();
    assert_eq!(body["status"], "scanned", "{body}");
    assert!(
        waited < Duration::from_secs(5),
        "woken through Redis: {waited:?}"
    );
    let waiting = wait_on_a("scanned");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Bob on instance A cannot take the scene bound to Alice on B.
    let (_, code_b) = mock.open_mini_program(&id, "bob").unwrap();
    let res = Client::new()
        .post(format!("{}/auth/wechat/miniprogram/scan/open", a.url))
        .json(&serde_json::json!({ "scene": scene, "code": code_b }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    let res = Client::new()
        .post(format!("{}/auth/wechat/miniprogram/scan", b.url))
        .json(&serde_json::json!({ "scene": scene, "token": token, "decision": "confirm" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (waited, body) = waiting.await.unwrap();
    assert_eq!(body["status"], "confirmed", "{body}");
    assert!(
        waited < Duration::from_secs(5),
        "woken through Redis: {waited:?}"
    );
    let (status, user) = get_json(&browser, &format!("{}/profile", a.url)).await;
    assert_eq!(
        (status, user["channel"].as_str()),
        (200, Some("mini_program_code"))
    );
}

#[tokio::test]
async fn a_callback_replayed_on_b_returns_a_s_session_with_one_exchange() {
    let Some(redis) = RedisServer::find() else {
        return;
    };
    let mock = MockWechat::start().await.unwrap();
    let (a, b) = pair(&mock, &redis, &prefix("callback")).await;
    let browser = browser();
    let wechat = start_login(&a, &browser, "?return_to=/profile").await;
    let callback = wechat_answers(&browser, &wechat, "bob", "approve").await;
    let on_b = callback.replace(&a.url, &b.url);
    // The double redirect lands once on each instance, at the same time.
    let (ra, rb) = tokio::join!(browser.get(&callback).send(), browser.get(&on_b).send());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!((ra.status().as_u16(), rb.status().as_u16()), (302, 302));
    assert_eq!(location(&ra), "/profile");
    assert_eq!(location(&rb), "/profile");
    assert_eq!(
        mock.calls("sns/oauth2/access_token"),
        1,
        "one exchange across instances"
    );
    for app in [&a, &b] {
        let (status, user) = get_json(&browser, &format!("{}/profile", app.url)).await;
        assert_eq!(status, 200);
        assert_eq!(
            user["openid"],
            mock.user("bob").unwrap().openid_for(&mock.website().appid)
        );
    }
    // A reload later, on B, still lands.
    let again = browser.get(&on_b).send().await.unwrap();
    assert_eq!(again.status(), 302);
    assert_eq!(mock.calls("sns/oauth2/access_token"), 1);
}

#[tokio::test]
async fn logout_on_a_is_honoured_on_b() {
    let Some(redis) = RedisServer::find() else {
        return;
    };
    let mock = MockWechat::start().await.unwrap();
    let shared = prefix("logout");
    let (a, b) = pair(&mock, &redis, &shared).await;
    // B has served a request, so it is listening for revocations.
    assert_eq!(
        Client::new().get(&b.url).send().await.unwrap().status(),
        200
    );
    let code = mock.sdk_code(&mock.mobile().appid, "carol").unwrap();
    let body: Value = Client::new()
        .post(format!("{}/auth/wechat/app", a.url))
        .json(&serde_json::json!({ "code": code }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    let on = |app: &App| {
        let url = format!("{}/api/data", app.url);
        let token = token.clone();
        async move {
            Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!((on(&a).await, on(&b).await), (200, 200));
    let res = Client::new()
        .post(format!("{}/auth/wechat/logout", a.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(on(&a).await, 401);
    let t = Instant::now();
    while on(&b).await != 401 {
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "B never learned of the logout"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // An instance that starts after the logout loads the deny-list from the store.
    let late = {
        let store = redis.store_lazy().with_prefix(&shared);
        start(base_config(&mock).with_store(std::sync::Arc::new(store))).await
    };
    let t = Instant::now();
    while on(&late).await != 401 {
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "the late instance accepted a revoked token"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_thousand_scans_over_two_instances_make_one_token_call() {
    let Some(redis) = RedisServer::find() else {
        return;
    };
    let mock = MockWechat::start().await.unwrap();
    // A burst of 1,000 logins queues up in Redis (three servers for a Cluster, on two
    // cores): this test is about one token fetch, so commands get the default 2 s.
    let (a, b) = pair_with(&mock, &redis, &prefix("token"), Duration::from_secs(2)).await;
    let client = Client::new();
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let url = format!(
            "{}/auth/wechat/scan",
            if i % 2 == 0 { &a.url } else { &b.url }
        );
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client.post(url).send().await.map(|r| r.status().as_u16())
        }));
    }
    let mut ok = 0;
    let mut others = std::collections::BTreeMap::<u16, u32>::new();
    for t in tasks {
        match t.await.unwrap().unwrap() {
            200 => ok += 1,
            status => *others.entry(status).or_default() += 1,
        }
    }
    assert_eq!(ok, 1000, "other answers: {others:?}");
    assert_eq!(
        mock.calls("cgi-bin/stable_token"),
        1,
        "one fetch for the fleet"
    );
    assert_eq!(mock.calls("cgi-bin/qrcode/create"), 1000);
}

#[tokio::test]
async fn redis_down_means_503_for_logins_but_sessions_still_open_and_recovery_is_automatic() {
    // This test stops its own server.
    let Some(mut redis) = RedisServer::spawn() else {
        return;
    };
    let mock = MockWechat::start().await.unwrap();
    let (a, _b) = pair(&mock, &redis, "outage").await;
    let browser = browser();
    let res = login(&a, &browser, "?return_to=/profile", "alice").await;
    assert_eq!(res.status(), 302);

    redis.stop();
    // A valid JWT still opens protected routes: the guard never needs the store.
    let (status, _) = get_json(&browser, &format!("{}/profile", a.url)).await;
    assert_eq!(status, 200);
    // What needs the store answers a clear 503, quickly.
    let t = Instant::now();
    let res = Client::new()
        .post(format!("{}/auth/wechat/scan", a.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "store_unavailable");
    let code = mock.sdk_code(&mock.mobile().appid, "bob").unwrap();
    let res = Client::new()
        .post(format!("{}/auth/wechat/app", a.url))
        .json(&serde_json::json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());

    redis.restart();
    // Recovered by itself: the same instance logs people in again.
    let t = Instant::now();
    loop {
        let res = Client::new()
            .post(format!("{}/auth/wechat/scan", a.url))
            .send()
            .await
            .unwrap();
        if res.status() == 200 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let other = common::browser();
    let res = login(&a, &other, "?return_to=/profile", "carol").await;
    assert_eq!(res.status(), 302);
}
