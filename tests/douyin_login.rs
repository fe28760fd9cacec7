//! Douyin (抖音) login end to end against the mock's Douyin side, over real sockets: the
//! website login through the shared callback, the Douyin app and the mini-app (bearer),
//! union_id linking through `on_login`, refresh and the renewal limit on the mock's clock, the
//! error rows of issue 28 through `/mock/faults`, replays and bad states. On the store CI
//! picks (`WECHAT_TEST_STORE=redis` runs it on Redis).

mod common;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use common::{App, browser, get_json, location, start};
use reqwest::Client;
use serde::Serialize;
use serde_json::{Value, json};
use wechat_auth::{
    DouyinHandle, HandleError, Identity, LoginRefused, WechatAuthLayer, WechatConfigBuilder,
    mock::{Fault, MockWechat},
};

const DAY: Duration = Duration::from_secs(24 * 3600);

/// The test config plus the mock's Douyin app and mini-app.
fn douyin_config(mock: &MockWechat) -> WechatConfigBuilder {
    let app = mock.douyin_app();
    let mini = mock.douyin_miniapp();
    common::config(mock)
        .with_douyin_app(app.client_key.clone(), app.client_secret.clone())
        .with_douyin_miniapp(mini.appid.clone(), mini.secret.clone())
        .with_douyin_bases(mock.douyin_open_base(), mock.douyin_miniapp_base())
}

async fn setup() -> (MockWechat, App) {
    let mock = MockWechat::start().await.unwrap();
    let app = start(douyin_config(&mock)).await;
    (mock, app)
}

/// Starts a Douyin login in `b` and returns Douyin's authorization URL.
async fn start_douyin(app: &App, b: &Client, return_to: &str) -> String {
    let res = b
        .get(format!(
            "{}/auth/wechat/login?channel=douyin&return_to={return_to}",
            app.url
        ))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302, "the Douyin login starts");
    location(&res)
}

/// The mock's Douyin page answers as `user` (`approve`/`deny`): the callback URL.
async fn douyin_answers(b: &Client, url: &str, user: &str, action: &str) -> String {
    let res = b
        .get(format!("{url}&mock_user={user}&mock_action={action}"))
        .send()
        .await
        .unwrap();
    let status = res.status();
    assert_eq!(status, 302, "{}", res.text().await.unwrap_or_default());
    location(&res)
}

/// A whole website login of `user`: the callback's response.
async fn web_login(app: &App, b: &Client, user: &str) -> reqwest::Response {
    let douyin = start_douyin(app, b, "/landing").await;
    let callback = douyin_answers(b, &douyin, user, "approve").await;
    b.get(callback).send().await.unwrap()
}

async fn post_json(b: &Client, url: &str, body: Value) -> (u16, Value) {
    let res = b.post(url).json(&body).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// `GET /auth/wechat/me` with a bearer token.
async fn me_bearer(app: &App, token: &str) -> Value {
    let res = Client::new()
        .get(format!("{}/auth/wechat/me", app.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn website_login_through_the_shared_callback() {
    let (mock, app) = setup().await;
    let b = browser();
    let douyin = start_douyin(&app, &b, "/landing").await;
    let url = url::Url::parse(&douyin).unwrap();
    assert_eq!(url.path(), "/platform/oauth/connect/");
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    let key = &mock.douyin_app().client_key;
    assert_eq!(&q["client_key"], key);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["scope"], "user_info");
    // Douyin forbids a query in redirect_uri: the callback exactly.
    assert_eq!(
        q["redirect_uri"],
        format!("{}/auth/wechat/callback", app.url)
    );
    assert!(
        q["state"].starts_with("douyin") && q["state"].len() == 38,
        "{}",
        q["state"]
    );

    let callback = douyin_answers(&b, &douyin, "alice", "approve").await;
    assert!(
        callback.contains("scopes="),
        "Douyin adds scopes: {callback}"
    );
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(location(&res), "/landing");
    assert!(common::session_token(&res).is_some());

    let (status, me) = get_json(&b, &format!("{}/auth/wechat/me", app.url)).await;
    assert_eq!(status, 200);
    let alice = mock.user("alice").unwrap();
    assert_eq!(me["provider"], "douyin");
    assert_eq!(me["channel"], "douyin");
    assert_eq!(me["client_key"], key.as_str());
    assert_eq!(me["open_id"], alice.douyin_open_id_for(key));
    assert_eq!(me["union_id"], alice.douyin_union_id());
    assert!(me["nickname"].is_string(), "{me}");
    // A Douyin session is no WeChat user.
    let (status, _) = get_json(&b, &format!("{}/profile", app.url)).await;
    assert_eq!(status, 401);
    assert_eq!(mock.calls("oauth/access_token/"), 1);
    assert_eq!(mock.calls("oauth/userinfo/"), 1);

    // The same callback again (a reload): where the login went, no second exchange.
    let again = b.get(&callback).send().await.unwrap();
    assert_eq!(again.status(), 302);
    assert_eq!(location(&again), "/landing");
    assert_eq!(mock.calls("oauth/access_token/"), 1);
    // In another browser, the same callback is refused before any call to Douyin.
    let other = browser().get(&callback).send().await.unwrap();
    assert_eq!(other.status(), 400);
    assert_eq!(mock.calls("oauth/access_token/"), 1);
}

#[tokio::test]
async fn declined_bad_state_and_wechat_callbacks_stay_apart() {
    let (mock, app) = setup().await;
    let b = browser();
    // Declined on Douyin's page: no session, a page naming Douyin with a retry link.
    let douyin = start_douyin(&app, &b, "/landing").await;
    let callback = douyin_answers(&b, &douyin, "alice", "deny").await;
    let res = b.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("抖音"), "{page}");
    assert!(page.contains("channel=douyin"), "{page}");
    let (status, _) = get_json(&b, &format!("{}/auth/wechat/me", app.url)).await;
    assert_eq!(status, 401);

    // A Douyin state this browser never got: refused, Douyin never asked.
    let forged = format!(
        "{}/auth/wechat/callback?code=abc&state=douyin{}",
        app.url,
        "A".repeat(32)
    );
    let res = b.get(&forged).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(mock.calls("oauth/access_token/"), 0);

    // WeChat's own logins still reach WeChat's callback.
    let res = common::login(&app, &b, "?channel=website&return_to=/profile", "bob").await;
    assert_eq!(res.status(), 302);
    let (status, me) = get_json(&b, &format!("{}/auth/wechat/me", app.url)).await;
    assert_eq!((status, me["provider"].as_str()), (200, Some("wechat")));
}

#[tokio::test]
async fn the_douyin_app_and_mini_app_get_bearer_tokens_once_per_code() {
    let (mock, app) = setup().await;
    let b = Client::new();
    let key = mock.douyin_app().client_key.clone();
    let code = mock.sdk_code(&key, "alice").unwrap();
    let url = format!("{}/auth/wechat/douyin/app", app.url);
    let (status, first) = post_json(&b, &url, json!({ "code": code })).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["token_type"], "Bearer");
    assert_eq!(first["user"]["provider"], "douyin");
    let token = first["token"].as_str().unwrap().to_owned();
    // A retrying app gets the same token, and Douyin is not asked again.
    let (status, again) = post_json(&b, &url, json!({ "code": code })).await;
    assert_eq!((status, &again["token"]), (200, &first["token"]));
    assert_eq!(mock.calls("oauth/access_token/"), 1);
    let me = me_bearer(&app, &token).await;
    let alice = mock.user("alice").unwrap();
    assert_eq!(me["open_id"], alice.douyin_open_id_for(&key));
    // Long sessions: the bearer refreshes like every native one.
    let res = b
        .post(format!("{}/auth/wechat/refresh", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let mini = mock.douyin_miniapp().appid.clone();
    let tt = mock.sdk_code(&mini, "alice").unwrap();
    let mini_url = format!("{}/auth/wechat/douyin/miniapp", app.url);
    let (status, session) = post_json(&b, &mini_url, json!({ "code": tt })).await;
    assert_eq!(status, 200, "{session}");
    let token = session["token"].as_str().unwrap();
    let me = me_bearer(&app, token).await;
    assert_eq!(me["client_key"], mini.as_str());
    assert_eq!(me["open_id"], alice.douyin_open_id_for(&mini));
    // The same person as the app login, by union_id; no session_key anywhere.
    assert_eq!(me["union_id"], alice.douyin_union_id());
    assert!(!session.to_string().contains("session_key"), "{session}");

    // Bad bodies are 400 before any call.
    for body in [json!({}), json!({ "code": "" }), json!({ "code": "a b" })] {
        let (status, _) = post_json(&b, &mini_url, body).await;
        assert_eq!(status, 400);
    }
    // A mini-app session has no Douyin user token to read a profile with.
    let res = b
        .get(format!("{}/auth/wechat/douyin/profile", app.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn union_id_links_the_three_logins_through_on_login() {
    let mock = MockWechat::start().await.unwrap();
    let accounts: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let hook = accounts.clone();
    let cfg = douyin_config(&mock).with_on_login_identity(
        move |identity: Identity, _signed_in: Option<Identity>| {
            let accounts = hook.clone();
            async move {
                let mut accounts = accounts.lock().unwrap();
                let next = format!("account-{}", accounts.len() + 1);
                Ok::<_, LoginRefused>(Some(accounts.entry(identity.key()).or_insert(next).clone()))
            }
        },
    );
    let app = start(cfg).await;
    let b = browser();
    assert_eq!(web_login(&app, &b, "alice").await.status(), 302);
    let (_, web) = get_json(&b, &format!("{}/auth/wechat/me", app.url)).await;
    let c = Client::new();
    let code = mock
        .sdk_code(&mock.douyin_app().client_key, "alice")
        .unwrap();
    let (_, native) = post_json(
        &c,
        &format!("{}/auth/wechat/douyin/app", app.url),
        json!({ "code": code }),
    )
    .await;
    let tt = mock
        .sdk_code(&mock.douyin_miniapp().appid, "alice")
        .unwrap();
    let (_, mini) = post_json(
        &c,
        &format!("{}/auth/wechat/douyin/miniapp", app.url),
        json!({ "code": tt }),
    )
    .await;
    let subject = web["subject"].as_str().expect("on_login set a subject");
    assert_eq!(native["user"]["subject"], subject);
    assert_eq!(mini["user"]["subject"], subject);
    assert_ne!(
        web["open_id"], mini["user"]["open_id"],
        "open_ids differ per app"
    );
    // Someone else gets an account of their own.
    let other = browser();
    web_login(&app, &other, "bob").await;
    let (_, bob) = get_json(&other, &format!("{}/auth/wechat/me", app.url)).await;
    assert_ne!(bob["subject"], subject);
    assert_eq!(accounts.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_wechat_only_hook_is_refused_beside_douyin() {
    let mock = MockWechat::start().await.unwrap();
    let err = douyin_config(&mock)
        .with_public_url("http://127.0.0.1:1")
        .with_on_login(|_user: wechat_auth::WechatUser| async { Ok(None) })
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("Douyin"), "{err}");
}

/// `GET /auth/wechat/douyin/profile` in `b`: status and body.
async fn profile(app: &App, b: &Client) -> (u16, Value) {
    get_json(b, &format!("{}/auth/wechat/douyin/profile", app.url)).await
}

#[tokio::test]
async fn refresh_on_the_mock_clock_then_log_in_again() {
    let mock = MockWechat::start().await.unwrap();
    // Profiles cached one second: each read below reaches the kept tokens.
    let app = start(douyin_config(&mock).with_userinfo_ttl(Duration::from_secs(1))).await;
    let b = browser();
    web_login(&app, &b, "alice").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, p) = profile(&app, &b).await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["union_id"], mock.user("alice").unwrap().douyin_union_id());
    assert!(!p.to_string().contains("uid\""), "no uid/short_id: {p}");
    assert_eq!(mock.calls("oauth/refresh_token/"), 0);

    // Douyin says the access token expired (each shape of it): refreshed, then read.
    for (n, code) in [10008, 2_190_008].into_iter().enumerate() {
        mock.inject("oauth/userinfo/", Fault::Errcode(code), 1);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let (status, p) = profile(&app, &b).await;
        assert_eq!(status, 200, "{code}: {p}");
        assert_eq!(mock.calls("oauth/refresh_token/"), n as u64 + 1, "{code}");
    }

    // 16 days on: Douyin says the access token expired; the layer refreshes and reads.
    mock.advance(16 * DAY);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, p) = profile(&app, &b).await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(mock.calls("oauth/refresh_token/"), 3);

    // 31 days after the login the refresh token is over: log in again.
    mock.advance(15 * DAY);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, p) = profile(&app, &b).await;
    assert_eq!(
        (status, p["error"].as_str()),
        (401, Some("login_again")),
        "{p}"
    );
    // Not a Douyin session: 401.
    let (status, _) = profile(&app, &browser()).await;
    assert_eq!(status, 401);
}

/// A handle call's answer as the application's own handler gives it: the value, or the
/// handle's typed error as a status.
fn handle_answer<T: Serialize>(result: Result<T, HandleError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(HandleError::DouyinLoginAgain { renew_limit }) => (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "login_again", "renew_limit": renew_limit })),
        )
            .into_response(),
        Err(HandleError::NoDouyinToken) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// The application's own routes on [`DouyinHandle`] (`GET /douyin/me`, `POST /douyin/renew`)
/// behind the layer, served like `common::start`.
async fn start_handle_app(builder: WechatConfigBuilder) -> App {
    async fn me(who: Identity, douyin: DouyinHandle) -> Response {
        match who {
            Identity::Douyin(user) => handle_answer(douyin.profile(&user).await),
            _ => StatusCode::FORBIDDEN.into_response(),
        }
    }
    async fn renew(who: Identity, douyin: DouyinHandle) -> Response {
        match who {
            Identity::Douyin(user) => handle_answer(douyin.renew(&user).await),
            _ => StatusCode::FORBIDDEN.into_response(),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://{addr}");
    let cfg = builder.with_public_url(url.clone()).build().unwrap();
    let router = Router::new()
        .route("/landing", get(|| async { "landing" }))
        .route("/douyin/me", get(me))
        .route("/douyin/renew", post(renew))
        .layer(WechatAuthLayer::new(cfg));
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    App::from_parts(url, addr, task)
}

#[tokio::test]
async fn douyin_handle_reads_the_profile_and_refreshes_on_the_mock_clock() {
    let mock = MockWechat::start().await.unwrap();
    // Profiles cached one second: each read below reaches the kept tokens.
    let app =
        start_handle_app(douyin_config(&mock).with_userinfo_ttl(Duration::from_secs(1))).await;
    let key = mock.douyin_app().client_key.clone();
    let alice = mock.user("alice").unwrap();
    let b = browser();
    web_login(&app, &b, "alice").await;
    let me = format!("{}/douyin/me", app.url);
    let (status, p) = get_json(&b, &me).await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["open_id"], alice.douyin_open_id_for(&key));
    assert_eq!(p["union_id"], alice.douyin_union_id());
    assert_eq!(mock.calls("oauth/refresh_token/"), 0);

    // 16 days on the mock's clock: Douyin says the access token expired; the handle
    // refreshes it through oauth/refresh_token and reads the profile with the new one.
    mock.advance(16 * DAY);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let userinfo_before = mock.calls("oauth/userinfo/");
    let (status, p) = get_json(&b, &me).await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["open_id"], alice.douyin_open_id_for(&key));
    assert_eq!(mock.calls("oauth/refresh_token/"), 1);
    assert_eq!(
        mock.calls("oauth/userinfo/"),
        userinfo_before + 2,
        "refused, then read"
    );

    // 31 days after the login the refresh token is over: the typed "log in again".
    mock.advance(15 * DAY);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, p) = get_json(&b, &me).await;
    assert_eq!(status, 401, "{p}");
    assert_eq!(p, json!({ "error": "login_again", "renew_limit": false }));

    // A mini-app login keeps no Douyin user token: nothing to read.
    let mini = mock.douyin_miniapp().appid.clone();
    let code = mock.sdk_code(&mini, "bob").unwrap();
    let (status, session) = post_json(
        &Client::new(),
        &format!("{}/auth/wechat/douyin/miniapp", app.url),
        json!({ "code": code }),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    let res = Client::new()
        .get(&me)
        .bearer_auth(session["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn douyin_handle_renews_five_times_then_log_in_again() {
    let mock = MockWechat::start().await.unwrap();
    let app = start_handle_app(douyin_config(&mock)).await;
    let b = browser();
    web_login(&app, &b, "alice").await;
    let renew = format!("{}/douyin/renew", app.url);
    for left in (0..5).rev() {
        let (status, body) = post_json(&b, &renew, json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["renewals_left"], left);
        assert_eq!(body["refresh_expires_in"], 30 * 24 * 3600);
        mock.advance(20 * DAY);
    }
    // The renewed refresh token still reads the profile, 100 days after the login.
    let (status, p) = get_json(&b, &format!("{}/douyin/me", app.url)).await;
    assert_eq!(status, 200, "{p}");
    let (status, body) = post_json(&b, &renew, json!({})).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body, json!({ "error": "login_again", "renew_limit": true }));
    assert_eq!(
        mock.calls("oauth/renew_refresh_token/"),
        5,
        "the sixth is not sent"
    );
}

#[tokio::test]
async fn renewal_is_limited_to_five() {
    let (mock, app) = setup().await;
    let b = browser();
    web_login(&app, &b, "alice").await;
    let renew = |b: &Client| {
        b.post(format!("{}/auth/wechat/douyin/renew", app.url))
            .header("origin", app.url.clone())
            .send()
    };
    for left in (0..5).rev() {
        let res = renew(&b).await.unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["renewals_left"], left);
        assert_eq!(body["refresh_expires_in"], 30 * 24 * 3600);
        // The renewed token lasts: the mock's clock moves 20 days between renewals.
        mock.advance(20 * DAY);
    }
    let res = renew(&b).await.unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "login_again");
    assert!(body["message"].as_str().unwrap().contains("five"), "{body}");
    assert_eq!(
        mock.calls("oauth/renew_refresh_token/"),
        5,
        "the sixth is not sent"
    );
    // From another site: refused.
    let res = b
        .post(format!("{}/auth/wechat/douyin/renew", app.url))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn douyin_s_own_renewal_limit_is_log_in_again() {
    let (mock, app) = setup().await;
    let b = browser();
    web_login(&app, &b, "alice").await;
    mock.inject("oauth/renew_refresh_token/", Fault::Errcode(10020), 1);
    let res = b
        .post(format!("{}/auth/wechat/douyin/renew", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // The layer agrees with Douyin from then on: no further renewal call.
    let res = b
        .post(format!("{}/auth/wechat/douyin/renew", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(mock.calls("oauth/renew_refresh_token/"), 1);
}

/// Each error row of issue 28 item 5, injected on the endpoint that answers it.
#[tokio::test]
async fn every_error_row_is_answered() {
    let (mock, app) = setup().await;
    let c = Client::new();
    let key = mock.douyin_app().client_key.clone();
    let mini = mock.douyin_miniapp().appid.clone();
    // (endpoint, code, the layer's status and error for a login)
    let login_rows: [(&str, i64, u16, &str); 15] = [
        ("oauth/access_token/", 10007, 400, "login_again"),
        ("oauth/access_token/", 2_100_005, 400, "login_again"),
        ("oauth/access_token/", 28_001_007, 400, "bad_request"),
        (
            "oauth/access_token/",
            28_001_016,
            403,
            "douyin_configuration",
        ),
        ("oauth/access_token/", 28_003_018, 429, "douyin_quota"),
        ("oauth/access_token/", 10_010, 400, "login_again"),
        ("oauth/userinfo/", 10008, 502, "douyin_unavailable"),
        ("oauth/userinfo/", 2_190_008, 502, "douyin_unavailable"),
        ("oauth/userinfo/", 28_001_008, 502, "douyin_unavailable"),
        ("oauth/userinfo/", 28_001_015, 502, "douyin_unavailable"),
        ("oauth/userinfo/", 2_100_005, 400, "bad_request"),
        (
            "api/apps/v2/jscode2session",
            40015,
            403,
            "douyin_configuration",
        ),
        (
            "api/apps/v2/jscode2session",
            40017,
            403,
            "douyin_configuration",
        ),
        ("api/apps/v2/jscode2session", 40018, 400, "login_again"),
        // Busy three times running: retried, then 503.
        ("oauth/access_token/", 28_001_005, 503, "douyin_unavailable"),
    ];
    for (endpoint, code, status, error) in login_rows {
        let times = if code == 28_001_005 { 3 } else { 1 };
        mock.inject(endpoint, Fault::Errcode(code), times);
        let (url, appid) = if endpoint.starts_with("api/") {
            ("douyin/miniapp", &mini)
        } else {
            ("douyin/app", &key)
        };
        let sdk = mock.sdk_code(appid, "alice").unwrap();
        let (got, body) = post_json(
            &c,
            &format!("{}/auth/wechat/{url}", app.url),
            json!({ "code": sdk }),
        )
        .await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(error)),
            "{endpoint} {code}: {body}"
        );
        mock.clear_faults();
    }
    // Busy once: retried, and the login goes through.
    mock.inject("oauth/access_token/", Fault::Errcode(28_001_005), 1);
    let sdk = mock.sdk_code(&key, "alice").unwrap();
    let (got, body) = post_json(
        &c,
        &format!("{}/auth/wechat/douyin/app", app.url),
        json!({ "code": sdk }),
    )
    .await;
    assert_eq!(got, 200, "{body}");
    // Scope not granted: the login stands without a profile.
    mock.inject("oauth/userinfo/", Fault::Errcode(28_001_012), 1);
    let sdk = mock.sdk_code(&key, "bob").unwrap();
    let (got, body) = post_json(
        &c,
        &format!("{}/auth/wechat/douyin/app", app.url),
        json!({ "code": sdk }),
    )
    .await;
    assert_eq!(got, 200, "{body}");
    assert!(body["user"]["union_id"].is_null(), "{body}");
    // 10008 / 2190008 on a later profile read, 10010 on refresh and 10020 on renewal: in
    // the clock and renewal tests.
}

const DOUYIN_UA: &str = "Mozilla/5.0 (Linux; Android 12; V2049A) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/75.0.3770.156 Mobile Safari/537.36 aweme_230400 JsSdk/1.0 NetType/WIFI AppName/aweme app_version/23.4.0 BytedanceWebview/d8a21c6";

/// Inside the Douyin app, a login that names no channel goes to Douyin (its native page),
/// never to a WeChat QR the same phone would have to scan; without a Douyin app it stays
/// WeChat's.
#[tokio::test]
async fn the_douyin_webview_gets_the_douyin_login() {
    let (mock, app) = setup().await;
    let webview = Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(DOUYIN_UA)
        .build()
        .unwrap();
    let res = webview
        .get(format!("{}/auth/wechat/login?return_to=/landing", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let douyin = location(&res);
    assert!(douyin.contains("/platform/oauth/connect/"), "{douyin}");
    let callback = douyin_answers(&webview, &douyin, "carol", "approve").await;
    let res = webview.get(callback).send().await.unwrap();
    assert_eq!(location(&res), "/landing");
    // A channel named is that channel.
    let res = webview
        .get(format!("{}/auth/wechat/login?channel=website", app.url))
        .send()
        .await
        .unwrap();
    assert!(
        location(&res).contains("/connect/qrconnect"),
        "{}",
        location(&res)
    );

    let wechat_only = start(common::config(&mock)).await;
    let res = webview
        .get(format!("{}/auth/wechat/login", wechat_only.url))
        .send()
        .await
        .unwrap();
    assert!(!location(&res).contains("/platform/oauth/connect/"));
    // And Douyin's own endpoints say it is not configured there.
    let (status, body) = post_json(
        &Client::new(),
        &format!("{}/auth/wechat/douyin/app", wechat_only.url),
        json!({ "code": "abc" }),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("channel_not_configured"))
    );
}

/// A popup login: the state says so (Douyin allows no query in redirect_uri), and the
/// callback's popup page carries the opener's nonce.
#[tokio::test]
async fn a_popup_login_answers_its_opener() {
    let (_mock, app) = setup().await;
    let b = browser();
    let nonce = "n0nce-for-the-opener-123";
    let res = b
        .get(format!(
            "{}/auth/wechat/login?channel=douyin&display=popup&nonce={nonce}&return_to=/landing",
            app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let douyin = location(&res);
    let url = url::Url::parse(&douyin).unwrap();
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert!(q["state"].starts_with("douyinpopup"), "{}", q["state"]);
    assert!(!q["redirect_uri"].contains('?'));
    let callback = douyin_answers(&b, &douyin, "alice", "approve").await;
    let res = b.get(callback).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(common::session_token(&res).is_some());
    let page = res.text().await.unwrap();
    assert!(page.contains(nonce), "{page}");
    // A bad nonce is refused before Douyin is asked.
    let res = b
        .get(format!(
            "{}/auth/wechat/login?channel=douyin&display=popup&nonce=%3Cx%3E",
            app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

/// A site that logs in with Douyin only: the guard's redirect to the login (no channel) is
/// Douyin's, and the whole login works without any WeChat app.
#[tokio::test]
async fn a_douyin_only_site_sends_every_login_to_douyin() {
    let mock = MockWechat::start().await.unwrap();
    let app = mock.douyin_app();
    let cfg = common::with_test_store(
        wechat_auth::WechatConfig::builder()
            .with_session_secret(common::SECRET)
            .with_douyin_app(app.client_key.clone(), app.client_secret.clone())
            .with_douyin_bases(mock.douyin_open_base(), mock.douyin_miniapp_base())
            .with_public_path("/"),
    );
    let site = start(cfg).await;
    let b = browser();
    // A protected page sends the browser to the login, which is Douyin's.
    let res = b
        .get(format!("{}/api/data", site.url))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let login = common::absolute(&site, &location(&res));
    let res = b.get(login).send().await.unwrap();
    assert_eq!(res.status(), 302);
    let douyin = location(&res);
    assert!(douyin.contains("/platform/oauth/connect/"), "{douyin}");
    let callback = douyin_answers(&b, &douyin, "alice", "approve").await;
    let res = b.get(callback).send().await.unwrap();
    assert_eq!(location(&res), "/api/data");
    let (status, me) = get_json(&b, &format!("{}/auth/wechat/me", site.url)).await;
    assert_eq!((status, me["provider"].as_str()), (200, Some("douyin")));
}
