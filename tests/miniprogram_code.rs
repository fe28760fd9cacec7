//! The mini program beyond `jscode2session`, end to end over real sockets: website login by
//! a mini program code (start → code.png → the user opens the mini program → confirm or
//! cancel → the waiting browser), phone numbers by code, `checksession`, and the mini
//! program's own global access token (one fetch for many callers).

mod common;

use std::{sync::Arc, time::Duration};

use axum::{Json, Router, routing::get};
use common::*;
use reqwest::Client;
use serde_json::{Value, json};
use wechat_auth::{
    WechatAuthLayer, WechatConfigBuilder, WechatHandle, WechatUser, mock::MockWechat,
};

/// A site with only a mini program: no website app, no Official Account.
fn mini_only(mock: &MockWechat) -> WechatConfigBuilder {
    let mini = mock.mini_program();
    with_test_store(wechat_auth::WechatConfig::builder())
        .with_session_secret(SECRET)
        .with_wechat_bases(mock.url(), mock.url(), mock.url())
        .with_mini_program(mini.appid.clone(), mini.secret.clone())
        .with_mini_program_code_page("pages/login/confirm")
        .with_public_path("/")
        .with_http_timeout(Duration::from_secs(2))
}

async fn start_code_scan(app: &App, b: &Client) -> Value {
    let res = b
        .post(format!(
            "{}/auth/wechat/scan?via=miniprogram&return_to=/profile",
            app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn answer(app: &App, scene: &str, code: &str, decision: &str) -> (u16, Value) {
    let res = Client::new()
        .post(format!("{}/auth/wechat/miniprogram/scan", app.url))
        .json(&json!({ "scene": scene, "code": code, "decision": decision }))
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_site_with_only_a_mini_program_logs_desktop_browsers_in_by_its_code() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(mini_only(&mock)).await;
    let b = browser();

    // The default login picks the mini program code.
    let res = b
        .get(format!("{}/auth/wechat/login?return_to=/profile", app.url))
        .header("user-agent", DESKTOP_UA)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert!(
        location(&res).contains("/auth/wechat/scan?"),
        "{}",
        location(&res)
    );
    assert!(location(&res).contains("via=miniprogram"));

    let started = start_code_scan(&app, &b).await;
    assert_eq!(started["via"], "mini_program");
    let id = started["id"].as_str().unwrap().to_owned();
    let image = started["image_url"].as_str().unwrap().to_owned();
    assert!(image.ends_with("/code.png"), "{image}");

    // The code: a PNG (WeChat labels it image/jpeg; the layer sniffs), made once per scene.
    for _ in 0..2 {
        let res = b.get(absolute(&app, &image)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "image/png");
        assert!(res.bytes().await.unwrap().starts_with(b"\x89PNG"));
    }
    assert_eq!(
        mock.calls("wxa/getwxacodeunlimit"),
        1,
        "cached with the scene"
    );
    // Another browser gets nothing.
    let other = browser();
    let res = other.get(absolute(&app, &image)).send().await.unwrap();
    assert_eq!(res.status(), 404);

    // The browser waits; the user opens the mini program and confirms.
    let waiting = {
        let (b, url) = (
            b.clone(),
            format!("{}/auth/wechat/scan/{id}?wait=10", app.url),
        );
        tokio::spawn(async move {
            let res = b.get(url).send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (scene, code) = mock.open_mini_program(&id, "alice").unwrap();
    assert_eq!(scene, id);
    let (status, body) = answer(&app, &scene, &code, "confirm").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("confirmed")));
    let (status, polled) = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the long-poll woke up")
        .unwrap();
    assert_eq!(
        (status, polled["status"].as_str()),
        (200, Some("confirmed"))
    );
    assert_eq!(polled["return_to"], "/profile");

    let (status, me) = get_json(&b, &format!("{}/profile", app.url)).await;
    assert_eq!(status, 200);
    let alice = mock.user("alice").unwrap();
    assert_eq!(me["openid"], alice.openid_for(&mock.mini_program().appid));
    assert_eq!(me["channel"], "mini_program_code");

    // The scene is answered: a second confirm (even with a fresh code) is refused.
    let (_, code) = mock.open_mini_program(&id, "bob").unwrap();
    let (status, _) = answer(&app, &id, &code, "confirm").await;
    assert!(matches!(status, 404 | 409), "{status}");
}

#[tokio::test]
async fn cancel_on_the_phone_refuses_the_waiting_browser_and_bad_answers_are_clear() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(mini_only(&mock)).await;
    let b = browser();
    let id = start_code_scan(&app, &b).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Junk, unknown scenes and missing codes.
    let res = Client::new()
        .post(format!("{}/auth/wechat/miniprogram/scan", app.url))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let (_, code) = mock.open_mini_program(&id, "alice").unwrap();
    let unknown = "A".repeat(32);
    assert_eq!(answer(&app, &unknown, &code, "confirm").await.0, 404);

    // Cancel: the browser is told `refused`, and gets no session.
    let (_, code) = mock.open_mini_program(&id, "alice").unwrap();
    let (status, body) = answer(&app, &id, &code, "cancel").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("refused")));
    let res = b
        .get(format!("{}/auth/wechat/scan/{id}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(set_cookie(&res, "wechat_session").is_none());
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "refused");
    let (status, _) = get_json(&b, &format!("{}/api/data", app.url)).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn an_expired_mini_program_scene_cannot_be_answered() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(mini_only(&mock).with_scan_ttl(Duration::from_secs(1))).await;
    let b = browser();
    let id = start_code_scan(&app, &b).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (_, code) = mock.open_mini_program(&id, "alice").unwrap();
    assert_eq!(answer(&app, &id, &code, "confirm").await.0, 404);
    let (status, body) = get_json(&b, &format!("{}/auth/wechat/scan/{id}", app.url)).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("expired")));
}

/// An app whose handlers read phone numbers and the session check.
async fn phone_app(mock: &MockWechat) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://{addr}");
    let cfg = config(mock)
        .with_public_path("/phone")
        .with_public_url(url.clone())
        .build()
        .unwrap();
    let router: Router = routes()
        .route(
            "/phone",
            get(
                |wechat: WechatHandle, q: axum::extract::Query<Vec<(String, String)>>| async move {
                    let code = &q.0[0].1;
                    match wechat.phone_number(code).await {
                        Ok(p) => Json(json!({ "phone": p.phone_number, "cc": p.country_code })),
                        Err(e) => Json(json!({ "error": e.to_string() })),
                    }
                },
            ),
        )
        .route(
            "/session-ok",
            get(|user: WechatUser, wechat: WechatHandle| async move {
                Json(json!({ "ok": wechat.check_mini_session(&user).await.ok() }))
            }),
        )
        .layer(WechatAuthLayer::new(cfg));
    let task = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    App::from_parts(url, addr, task)
}

#[tokio::test]
async fn phone_numbers_by_code_and_one_mini_program_token_for_many_callers() {
    let mock = MockWechat::start().await.unwrap();
    let app = Arc::new(phone_app(&mock).await);
    let mini = mock.mini_program().appid.clone();
    let alice = mock.user("alice").unwrap();

    let code = mock.phone_code(&mini, "alice").unwrap();
    let (status, body) = get_json(&Client::new(), &format!("{}/phone?code={code}", app.url)).await;
    assert_eq!(status, 200);
    assert_eq!(body["phone"], alice.phone, "{body}");
    assert_eq!(body["cc"], "86");
    // Single use: the same code again is WeChat's 40029, said plainly.
    let (_, again) = get_json(&Client::new(), &format!("{}/phone?code={code}", app.url)).await;
    assert!(
        again["error"].as_str().unwrap().contains("40029"),
        "{again}"
    );

    // 1,000 phone-number calls, 200 in flight at once over one client's pool (1,000 fresh
    // connections at once overflow a busy machine's accept queue): one fetch of the mini
    // program's token.
    let tokens_before = mock.calls("cgi-bin/stable_token");
    let client = Client::new();
    let in_flight = Arc::new(tokio::sync::Semaphore::new(200));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let code = mock.phone_code(&mini, "bob").unwrap();
            let (app, client, in_flight) = (app.clone(), client.clone(), in_flight.clone());
            tokio::spawn(async move {
                let _slot = in_flight.acquire_owned().await.unwrap();
                get_json(&client, &format!("{}/phone?code={code}", app.url))
                    .await
                    .1
            })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap()["phone"].is_string());
    }
    assert!(
        mock.calls("cgi-bin/stable_token") - tokens_before <= 1,
        "one token fetch for every caller"
    );
}

#[tokio::test]
async fn the_kept_session_key_is_checked_and_goes_stale_after_another_login() {
    let mock = MockWechat::start().await.unwrap();
    let app = phone_app(&mock).await;
    let mini = mock.mini_program().appid.clone();
    let login = |code: String| {
        let url = format!("{}/auth/wechat/miniprogram", app.url);
        async move {
            let body: Value = Client::new()
                .post(url)
                .json(&json!({ "code": code }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["token"].as_str().unwrap().to_owned()
        }
    };
    let token = login(mock.sdk_code(&mini, "alice").unwrap()).await;
    let check = |token: String| {
        let url = format!("{}/session-ok", app.url);
        async move {
            let body: Value = Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["ok"].clone()
        }
    };
    assert_eq!(check(token.clone()).await, true);
    // Another wx.login (here: jscode2session outside this server) rotates the key WeChat
    // holds; the one this server kept is stale.
    let other = mock.sdk_code(&mini, "alice").unwrap();
    let mini_app = mock.mini_program();
    wechat_auth::WechatClient::builder()
        .with_api_base(mock.url())
        .build()
        .unwrap()
        .jscode2session(
            &mini_app.appid,
            &wechat_auth::Secret::new(mini_app.secret.clone()),
            &other,
        )
        .await
        .unwrap();
    assert_eq!(check(token).await, false);
}

/// A token service: hands out a token it fetched itself, and a bogus one first when asked to.
#[derive(Debug)]
struct Central {
    token: wechat_auth::Secret,
    bogus_first: std::sync::atomic::AtomicBool,
    asked: std::sync::atomic::AtomicUsize,
    refused_seen: std::sync::atomic::AtomicUsize,
}

impl wechat_auth::TokenProvider for Central {
    fn access_token<'a>(
        &'a self,
        _appid: &'a str,
        refused: Option<&'a wechat_auth::Secret>,
    ) -> wechat_auth::store::BoxFuture<
        'a,
        Result<wechat_auth::Secret, Box<dyn std::error::Error + Send + Sync>>,
    > {
        use std::sync::atomic::Ordering;
        self.asked.fetch_add(1, Ordering::SeqCst);
        if refused.is_some() {
            self.refused_seen.fetch_add(1, Ordering::SeqCst);
        }
        let bogus = self.bogus_first.swap(false, Ordering::SeqCst);
        Box::pin(async move {
            Ok(if bogus {
                wechat_auth::Secret::new("not-a-token")
            } else {
                self.token.clone()
            })
        })
    }
}

#[tokio::test]
async fn a_token_provider_is_asked_instead_of_wechat() {
    use std::sync::atomic::Ordering;
    let mock = MockWechat::start().await.unwrap();
    let mini = mock.mini_program();
    let token = wechat_auth::WechatClient::builder()
        .with_api_base(mock.url())
        .build()
        .unwrap()
        .stable_token(
            &mini.appid,
            &wechat_auth::Secret::new(mini.secret.clone()),
            false,
        )
        .await
        .unwrap()
        .access_token;
    let central = Arc::new(Central {
        token,
        bogus_first: true.into(),
        asked: 0.into(),
        refused_seen: 0.into(),
    });
    let fetched_by_us = mock.calls("cgi-bin/stable_token") + mock.calls("cgi-bin/token");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://{addr}");
    let cfg = mini_only(&mock)
        .with_token_provider(central.clone())
        .with_public_url(url.clone())
        .build()
        .unwrap();
    let router: Router =
        Router::new()
            .route(
                "/phone/{code}",
                get(
                    |wechat: WechatHandle,
                     axum::extract::Path(code): axum::extract::Path<String>| async move {
                        match wechat.phone_number(&code).await {
                            Ok(p) => p.phone_number,
                            Err(e) => format!("error: {e}"),
                        }
                    },
                ),
            )
            .layer(WechatAuthLayer::new(cfg).optional());
    let task = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let _app = App::from_parts(url.clone(), addr, task);

    let code = mock.phone_code(&mini.appid, "alice").unwrap();
    let phone = Client::new()
        .get(format!("{url}/phone/{code}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(phone, mock.user("alice").unwrap().phone, "{phone}");
    // The bogus token was refused (40001); the provider was asked again, told which.
    assert_eq!(central.asked.load(Ordering::SeqCst), 2);
    assert_eq!(central.refused_seen.load(Ordering::SeqCst), 1);
    assert_eq!(
        mock.calls("cgi-bin/stable_token") + mock.calls("cgi-bin/token"),
        fetched_by_us,
        "the layer fetched no token of its own"
    );
}
