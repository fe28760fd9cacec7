//! The mini program beyond `jscode2session`, end to end over real sockets: website login by
//! a mini program code (start → code.png → the user opens the mini program, which is told
//! who asked and binds the scene to that user → confirm or cancel with that user's token →
//! the waiting browser; QRLjacking through a phished code), phone numbers by code, `checksession`, and the mini
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

/// POSTs `body` to the mini program endpoint `path` (`miniprogram/scan/open` or
/// `miniprogram/scan`) as the mini program's `wx.request` would.
async fn post_mini(app: &App, path: &str, body: Value) -> (u16, Value) {
    let res = Client::new()
        .post(format!("{}/auth/wechat/{path}", app.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

/// Step 1: the mini program the code opened says who opened it.
async fn open(app: &App, scene: &str, code: &str) -> (u16, Value) {
    post_mini(
        app,
        "miniprogram/scan/open",
        json!({ "scene": scene, "code": code }),
    )
    .await
}

/// Step 2: that user's answer, with the token step 1 gave.
async fn answer(app: &App, scene: &str, token: &str, decision: &str) -> (u16, Value) {
    post_mini(
        app,
        "miniprogram/scan",
        json!({ "scene": scene, "token": token, "decision": decision }),
    )
    .await
}

/// The user `user` scans the code of scene `id` and the mini program opens on its confirm
/// page: `{requester, token, expires_in}`.
async fn open_as(app: &App, mock: &MockWechat, id: &str, user: &str) -> Value {
    let (scene, code) = mock.open_mini_program(id, user).unwrap();
    assert_eq!(scene, id);
    let (status, body) = open(app, &scene, &code).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A long-poll of the browser `b`, in the background.
fn poll_later(
    app: &App,
    b: &Client,
    id: &str,
    query: &str,
) -> tokio::task::JoinHandle<(u16, Value)> {
    let (b, url) = (
        b.clone(),
        format!("{}/auth/wechat/scan/{id}?{query}", app.url),
    );
    tokio::spawn(async move {
        let res = b.get(url).send().await.unwrap();
        (res.status().as_u16(), res.json::<Value>().await.unwrap())
    })
}

async fn landed(waiting: tokio::task::JoinHandle<(u16, Value)>) -> (u16, Value) {
    tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the long-poll woke up")
        .unwrap()
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

    // The browser waits; the user opens the mini program: the browser is told `scanned` at
    // once, and the mini program who asked.
    let waiting = poll_later(&app, &b, &id, "wait=10&seen=pending");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let opened = open_as(&app, &mock, &id, "alice").await;
    let (status, polled) = landed(waiting).await;
    assert_eq!((status, polled["status"].as_str()), (200, Some("scanned")));
    let requester = &opened["requester"];
    assert_eq!(requester["site"], "127.0.0.1", "{opened}");
    assert_eq!(requester["ip"], "127.0.0.1", "{opened}");
    assert!(
        requester["browser"].as_str().unwrap().contains("Chrome"),
        "{opened}"
    );
    assert!(
        requester["time"].as_str().unwrap().contains("北京时间"),
        "{opened}"
    );
    let expires_in = opened["expires_in"].as_u64().unwrap();
    assert!(
        (1..=started["expires_in"].as_u64().unwrap()).contains(&expires_in),
        "{opened}"
    );
    let token = opened["token"].as_str().unwrap();
    assert!(token.len() >= 32, "{opened}");

    // She taps 确认登录: the browser lands.
    let waiting = poll_later(&app, &b, &id, "wait=10&seen=scanned");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, body) = answer(&app, &id, token, "confirm").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("confirmed")));
    let (status, polled) = landed(waiting).await;
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

    // The scene is answered: the token (or another user opening it) does nothing more.
    let (status, _) = answer(&app, &id, token, "confirm").await;
    assert!(matches!(status, 404 | 409), "{status}");
    let (_, code) = mock.open_mini_program(&id, "bob").unwrap();
    let (status, _) = open(&app, &id, &code).await;
    assert!(matches!(status, 404 | 409), "{status}");
}

/// QRLjacking through a mini program code: the attacker's browser starts a scan and shows
/// the code on a phishing page; the victim scans it. The one-step answer of old logs nobody
/// in; with the two steps the victim is shown the attacker's browser, IP and time before any
/// button, the scene is bound to the victim, nobody else can answer it (nor learn who asked),
/// only the victim's token is taken, and 取消 leaves the attacker with nothing.
#[tokio::test]
async fn a_phished_mini_program_code_shows_the_attacker_and_takes_only_the_bound_users_token() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(mini_only(&mock)).await;
    let attacker = Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
        )
        .build()
        .unwrap();
    let started = start_code_scan(&app, &attacker).await;
    let id = started["id"].as_str().unwrap().to_owned();
    let pending = || async {
        let (status, body) = get_json(
            &attacker,
            &format!("{}/auth/wechat/scan/{id}?wait=0", app.url),
        )
        .await;
        (status, body["status"].as_str().unwrap_or("").to_owned())
    };

    // The old one-step answer, `{scene, code, decision}`: refused, and it says why.
    let (scene, code) = mock.open_mini_program(&id, "alice").unwrap();
    let jscode2session = mock.calls("sns/jscode2session");
    let (status, body) = post_mini(
        &app,
        "miniprogram/scan",
        json!({ "scene": scene, "code": code, "decision": "confirm" }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("miniprogram/scan/open"),
        "{body}"
    );
    assert_eq!(
        mock.calls("sns/jscode2session"),
        jscode2session,
        "nothing exchanged"
    );
    assert_eq!(pending().await, (200, "pending".to_owned()));
    let res = attacker
        .get(format!("{}/auth/wechat/scan/{id}", app.url))
        .send()
        .await
        .unwrap();
    assert!(session_token(&res).is_none(), "no session for the attacker");
    let (status, _) = get_json(&attacker, &format!("{}/api/data", app.url)).await;
    assert_eq!(status, 401);

    // Two steps: the victim opens the code and is shown who asked (the attacker's browser).
    let (status, opened) = open(&app, &scene, &code).await;
    assert_eq!(status, 200, "{opened}");
    let requester = &opened["requester"];
    assert!(
        requester["browser"].as_str().unwrap().contains("Firefox")
            && requester["browser"].as_str().unwrap().contains("Windows"),
        "the attacker's browser: {opened}"
    );
    assert_eq!(requester["ip"], "127.0.0.1", "{opened}");
    assert!(requester["time"].as_str().unwrap().contains("北京时间"));
    let token = opened["token"].as_str().unwrap().to_owned();
    assert_eq!(pending().await, (200, "scanned".to_owned()));

    // Bob (to whom the code was forwarded) cannot open the scene bound to Alice, and is not
    // told who asked.
    let (scene_b, code_b) = mock.open_mini_program(&id, "bob").unwrap();
    let (status, body) = open(&app, &scene_b, &code_b).await;
    assert_eq!(status, 409, "{body}");
    let text = body.to_string();
    assert!(
        body.get("requester").is_none()
            && body.get("token").is_none()
            && !text.contains("Firefox")
            && !text.contains("127.0.0.1"),
        "{body}"
    );
    // Nor answer it: with no token, a made-up one, or Alice's token with his own code.
    let (status, _) = post_mini(
        &app,
        "miniprogram/scan",
        json!({ "scene": id, "decision": "confirm" }),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = answer(&app, &id, &"x".repeat(32), "confirm").await;
    assert_eq!(status, 403);
    let code_b = mock.sdk_code(&mock.mini_program().appid, "bob").unwrap();
    let (status, _) = post_mini(
        &app,
        "miniprogram/scan",
        json!({ "scene": id, "token": token, "code": code_b, "decision": "confirm" }),
    )
    .await;
    assert_eq!(status, 403, "a fresh code must be the bound user's");
    assert_eq!(pending().await, (200, "scanned".to_owned()));

    // Alice's token is for this scene only.
    let other = start_code_scan(&app, &browser()).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = answer(&app, &other, &token, "confirm").await;
    assert_eq!(status, 403);

    // Alice opens the page again: a new token; the old one is void.
    let again = open_as(&app, &mock, &id, "alice").await;
    let fresh = again["token"].as_str().unwrap().to_owned();
    assert_ne!(fresh, token);
    let (status, _) = answer(&app, &id, &token, "confirm").await;
    assert_eq!(status, 403);

    // She reads that the request came from a Firefox on Windows she does not know: 取消.
    let code_a = mock.sdk_code(&mock.mini_program().appid, "alice").unwrap();
    let (status, body) = post_mini(
        &app,
        "miniprogram/scan",
        json!({ "scene": id, "token": fresh, "code": code_a, "decision": "cancel" }),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("refused")));
    let res = attacker
        .get(format!("{}/auth/wechat/scan/{id}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(session_token(&res).is_none(), "no session for the attacker");
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "refused");
    let (status, _) = get_json(&attacker, &format!("{}/api/data", app.url)).await;
    assert_eq!(status, 401);
    // Answered once: the token cannot confirm afterwards.
    let (status, _) = answer(&app, &id, &fresh, "confirm").await;
    assert_eq!(status, 409);
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
    for path in ["miniprogram/scan", "miniprogram/scan/open"] {
        let res = Client::new()
            .post(format!("{}/auth/wechat/{path}", app.url))
            .body("not json")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{path}");
    }
    let (_, code) = mock.open_mini_program(&id, "alice").unwrap();
    let unknown = "A".repeat(32);
    assert_eq!(open(&app, &unknown, &code).await.0, 404);
    assert_eq!(answer(&app, &unknown, "t", "confirm").await.0, 404);
    assert_eq!(open(&app, &id, "").await.0, 400);
    // Not opened yet: no token is anyone's.
    assert_eq!(answer(&app, &id, "t", "confirm").await.0, 403);

    // Cancel: the browser is told `refused`, and gets no session.
    let token = open_as(&app, &mock, &id, "alice").await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = answer(&app, &id, &token, "cancel").await;
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
    // Over: opening it again is refused.
    let (_, code) = mock.open_mini_program(&id, "alice").unwrap();
    assert_eq!(open(&app, &id, &code).await.0, 409);
}

#[tokio::test]
async fn an_expired_mini_program_scene_cannot_be_answered() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(mini_only(&mock).with_scan_ttl(Duration::from_secs(2))).await;
    let b = browser();
    let id = start_code_scan(&app, &b).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let opened = open_as(&app, &mock, &id, "alice").await;
    assert!(opened["expires_in"].as_u64().unwrap() <= 2, "{opened}");
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let token = opened["token"].as_str().unwrap();
    assert_eq!(answer(&app, &id, token, "confirm").await.0, 404);
    let (_, code) = mock.open_mini_program(&id, "alice").unwrap();
    assert_eq!(open(&app, &id, &code).await.0, 404);
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
