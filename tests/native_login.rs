//! Native clients end to end over real sockets: the mobile app and the mini program post
//! their codes, get bearer sessions, refresh them; one person is one unionid everywhere; and
//! no response body or log line ever carries a WeChat secret.

mod common;

use std::{
    collections::HashMap,
    io::Write,
    sync::{Arc, Mutex, OnceLock},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use common::*;
use reqwest::Client;
use serde_json::{Value, json};
use wechat_auth::{
    WechatUser,
    mock::{Fault, MockWechat},
};

/// Every log line of this test binary, at TRACE level for the crate.
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("wechat_auth=trace")
            .with_ansi(false)
            .with_writer(move || Capture(writer.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buf
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn post_json(url: &str, body: Value) -> (u16, Value, String) {
    let res = Client::new().post(url).json(&body).send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

async fn app_login(app: &App, code: &str) -> (u16, Value, String) {
    post_json(
        &format!("{}/auth/wechat/app", app.url),
        json!({ "code": code }),
    )
    .await
}

async fn mini_login(app: &App, code: &str) -> (u16, Value, String) {
    post_json(
        &format!("{}/auth/wechat/miniprogram", app.url),
        json!({ "code": code }),
    )
    .await
}

async fn bearer_get(url: &str, token: &str) -> (u16, Value) {
    let res = Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn mobile_app_login_gets_a_bearer_session() {
    let _ = logs();
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let mobile = mock.mobile().appid.clone();
    let code = mock.sdk_code(&mobile, "alice").unwrap();
    let (status, body, _) = post_json(
        &format!("{}/auth/wechat/app", app.url),
        json!({ "code": code, "state": "app-state-1" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_u64().unwrap() > 3600);
    let alice = mock.user("alice").unwrap();
    assert_eq!(body["user"]["openid"], alice.openid_for(&mobile));
    assert_eq!(body["user"]["unionid"], alice.unionid);
    assert_eq!(body["user"]["channel"], "mobile_app");
    assert_eq!(
        body["user"]["nickname"], alice.nickname,
        "userinfo was read"
    );
    let token = body["token"].as_str().unwrap();

    let (status, data) = bearer_get(&format!("{}/api/data", app.url), token).await;
    assert_eq!((status, &data["openid"]), (200, &body["user"]["openid"]));
    let (status, me) = bearer_get(&format!("{}/auth/wechat/me", app.url), token).await;
    assert_eq!(status, 200);
    assert_eq!(me["channel"], "mobile_app");

    // The same code posted again (a retrying app) gives the same user, one exchange.
    let (status, again, _) = post_json(
        &format!("{}/auth/wechat/app", app.url),
        json!({ "code": code, "state": "app-state-1" }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(again["user"], body["user"]);
    assert_eq!(mock.calls("sns/oauth2/access_token"), 1);
}

#[tokio::test]
async fn mobile_app_errors_are_clear() {
    let _ = logs();
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let url = format!("{}/auth/wechat/app", app.url);
    for (body, error) in [
        (json!({"errCode": -2}), "cancelled"),
        (json!({"errCode": -4}), "denied"),
        (json!({"errCode": -1}), "sdk_error"),
        (json!({}), "bad_request"),
        (json!({"code": ""}), "bad_request"),
        (json!({"code": "has spaces"}), "bad_request"),
    ] {
        let (status, res, _) = post_json(&url, body.clone()).await;
        assert_eq!(
            (status, res["error"].as_str()),
            (400, Some(error)),
            "{body}"
        );
    }
    let res = Client::new()
        .post(&url)
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = Client::new()
        .post(&url)
        .body(vec![b'x'; 64 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let res = Client::new().get(&url).send().await.unwrap();
    assert_eq!(res.status(), 405);

    // WeChat's answers: a garbage code, a code of another app, a wrong secret.
    let (status, body, _) = app_login(&app, "0123456789abcdef0123456789abcdef").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("login_again")));
    let website_code = mock.sdk_code(&mock.mini_program().appid, "bob").unwrap();
    let (status, _, _) = app_login(&app, &website_code).await;
    assert_eq!(status, 400, "a js_code is not a mobile app code (40029)");
    assert_eq!(
        mock.calls("sns/oauth2/access_token"),
        2,
        "400s from us cost no call"
    );

    let wrong =
        start(config(&mock).with_mobile_app(mock.mobile().appid.clone(), "bad-secret")).await;
    let code = mock.sdk_code(&mock.mobile().appid, "bob").unwrap();
    let (status, body, text) = app_login(&wrong, &code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("wechat_configuration"))
    );
    assert!(
        text.contains("40125") && !text.contains("bad-secret"),
        "{text}"
    );

    // -1 is retried: twice busy, then through.
    mock.reset_calls();
    mock.inject("sns/oauth2/access_token", Fault::Errcode(-1), 2);
    let code = mock.sdk_code(&mock.mobile().appid, "carol").unwrap();
    let (status, body, _) = app_login(&app, &code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(mock.calls("sns/oauth2/access_token"), 3);
}

#[tokio::test]
async fn mini_program_login_keeps_the_session_key_on_the_server() {
    let _ = logs();
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let mini = mock.mini_program().appid.clone();
    let code = mock.sdk_code(&mini, "bob").unwrap();
    let (status, body, text) = mini_login(&app, &code).await;
    assert_eq!(status, 200, "{body}");
    let bob = mock.user("bob").unwrap();
    let openid = bob.openid_for(&mini);
    assert_eq!(body["user"]["openid"], openid);
    assert_eq!(body["user"]["unionid"], bob.unionid);
    assert_eq!(body["user"]["channel"], "mini_program");
    let session_key = mock.session_key(&mini, &openid).unwrap();
    assert!(
        !text.contains(&session_key),
        "session_key never leaves the server"
    );
    assert!(!text.contains("session_key"));

    // The kept session_key opens the mini program's encryptedData. WeChat seals with the
    // user's current key, the one the latest login handed out (each login replaces it), so
    // log in on the decrypting app first, then seal.
    let token = body["token"].as_str().unwrap().to_owned();
    let app_routes = start_decrypting(&mock).await;
    let bearer = login_on(&app_routes, &mock, &mini, "bob").await;
    let (data, iv) = mock
        .mini_program_data(
            &mini,
            &openid,
            json!({"phoneNumber": "13800138000", "countryCode": "86"}),
        )
        .unwrap();
    let (status, opened) = open_on(&app_routes, &bearer, &data, &iv).await;
    assert_eq!(status, 200, "{opened}");
    assert_eq!(opened["phoneNumber"], "13800138000");
    assert_eq!(opened["watermark"]["appid"], mini);
    let _ = token;
}

/// An app with a route that decrypts mini program data for the signed-in user.
async fn start_decrypting(mock: &MockWechat) -> App {
    use axum::{Json, Router, routing::post};
    use wechat_auth::{WechatAuthLayer, WechatHandle};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let cfg = config(mock).with_public_url(url.clone()).build().unwrap();
    let router = Router::new()
        .route(
            "/phone",
            post(
                |user: WechatUser, wechat: WechatHandle, Json(b): Json<Value>| async move {
                    let data = b["encryptedData"].as_str().unwrap_or_default().to_owned();
                    let iv = b["iv"].as_str().unwrap_or_default().to_owned();
                    match wechat.decrypt_mini_program_data(&user, &data, &iv).await {
                        Ok(v) => (http::StatusCode::OK, Json(v)),
                        Err(e) => (
                            http::StatusCode::BAD_REQUEST,
                            Json(json!({ "error": e.to_string() })),
                        ),
                    }
                },
            ),
        )
        .layer(WechatAuthLayer::new(cfg));
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    App::from_parts(url, addr, task)
}

async fn decrypt_via(
    app: &App,
    mock: &MockWechat,
    mini: &str,
    user: &str,
    data: &str,
    iv: &str,
) -> (u16, Value) {
    // Log in on this app (same store), then ask it to open the data.
    let token = login_on(app, mock, mini, user).await;
    open_on(app, &token, data, iv).await
}

/// A mini program login of `user` on `app`: its bearer token.
async fn login_on(app: &App, mock: &MockWechat, mini: &str, user: &str) -> String {
    let code = mock.sdk_code(mini, user).unwrap();
    let (_, body, _) = mini_login(app, &code).await;
    body["token"].as_str().unwrap().to_owned()
}

/// Asks `app`'s `/phone` route to open `encryptedData` for the bearer of `token`.
async fn open_on(app: &App, token: &str, data: &str, iv: &str) -> (u16, Value) {
    let res = Client::new()
        .post(format!("{}/phone", app.url))
        .bearer_auth(token)
        .json(&json!({ "encryptedData": data, "iv": iv }))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn mini_program_data_from_another_app_or_key_is_refused() {
    let _ = logs();
    let mock = MockWechat::start().await.unwrap();
    let mini = mock.mini_program().appid.clone();
    let app = start_decrypting(&mock).await;
    // Carol logs in once so the mock has her key; data sealed for Carol cannot be opened
    // with Alice's session.
    let carol = mock.user("carol").unwrap().openid_for(&mini);
    let code = mock.sdk_code(&mini, "carol").unwrap();
    mini_login(&app, &code).await;
    let (data, iv) = mock
        .mini_program_data(&mini, &carol, json!({"x": 1}))
        .unwrap();
    let (status, body) = decrypt_via(&app, &mock, &mini, "alice", &data, &iv).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = decrypt_via(&app, &mock, &mini, "alice", "junk", &iv).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn mini_program_errors_map_to_clear_answers() {
    let _ = logs();
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let mini = mock.mini_program().appid.clone();

    let (status, body, _) = mini_login(&app, "0123456789abcdef0123456789abcdef").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("login_again")),
        "40029"
    );

    mock.set_blocked("carol", true).unwrap();
    let code = mock.sdk_code(&mini, "carol").unwrap();
    let (status, body, text) = mini_login(&app, &code).await;
    assert_eq!(status, 400, "40226: {text}");
    assert_eq!(body["error"], "login_again");

    mock.inject("sns/jscode2session", Fault::Errcode(45011), 1);
    let code = mock.sdk_code(&mini, "alice").unwrap();
    let (status, body, _) = mini_login(&app, &code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (429, Some("wechat_quota"))
    );

    mock.reset_calls();
    mock.inject("sns/jscode2session", Fault::Errcode(-1), 2);
    let code = mock.sdk_code(&mini, "alice").unwrap();
    let (status, _, _) = mini_login(&app, &code).await;
    assert_eq!(status, 200);
    assert_eq!(mock.calls("sns/jscode2session"), 3, "-1 retried");

    // A code used once (by someone else's request) is refused by WeChat with 40163: the
    // second app that tries it learns to log in again.
    let code = mock.sdk_code(&mini, "bob").unwrap();
    let raw = Client::new()
        .get(format!("{}/sns/jscode2session", mock.url()))
        .query(&[
            ("appid", mini.as_str()),
            ("secret", &mock.mini_program().secret),
            ("js_code", &code),
            ("grant_type", "authorization_code"),
        ])
        .send()
        .await
        .unwrap();
    assert!(raw.status().is_success());
    let (status, body, _) = mini_login(&app, &code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("login_again")),
        "40163"
    );
}

#[tokio::test]
async fn refresh_renews_valid_tokens_and_refuses_revoked_ones() {
    let _ = logs();
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let code = mock.sdk_code(&mock.mobile().appid, "alice").unwrap();
    let (_, body, _) = app_login(&app, &code).await;
    let first = body["token"].as_str().unwrap().to_owned();
    let refresh = |t: String| {
        let url = format!("{}/auth/wechat/refresh", app.url);
        async move {
            let res = Client::new().post(url).bearer_auth(t).send().await.unwrap();
            (
                res.status().as_u16(),
                res.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, renewed) = refresh(first.clone()).await;
    assert_eq!(status, 200, "{renewed}");
    assert_eq!(renewed["token_type"], "Bearer");
    assert_eq!(renewed["user"], body["user"]);
    let second = renewed["token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert_eq!(
        bearer_get(&format!("{}/api/data", app.url), &second)
            .await
            .0,
        200
    );
    // The refreshed-away token is dead, and cannot be refreshed again.
    assert_eq!(
        bearer_get(&format!("{}/api/data", app.url), &first).await.0,
        401
    );
    assert_eq!(refresh(first).await.0, 401);
    // Logged out: no refresh either. No token at all: 401.
    let res = Client::new()
        .post(format!("{}/auth/wechat/logout", app.url))
        .bearer_auth(&second)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(refresh(second).await.0, 401);
    let res = Client::new()
        .post(format!("{}/auth/wechat/refresh", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn one_person_is_one_account_across_website_app_and_mini_program() {
    let _ = logs();
    let mock = MockWechat::start().await.unwrap();
    let accounts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (a, s) = (accounts.clone(), seen.clone());
    let app = start(config(&mock).with_on_login(move |user: WechatUser| {
        let (a, s) = (a.clone(), s.clone());
        async move {
            s.lock()
                .unwrap()
                .push((user.channel, user.appid.clone(), user.openid.clone()));
            let mut a = a.lock().unwrap();
            let next = a.len() + 1;
            let id = *a.entry(user.key()).or_insert(next);
            Ok(Some(format!("account-{id}")))
        }
    }))
    .await;

    let b = browser();
    login(&app, &b, "", "alice").await;
    let (_, web) = get_json(&b, &format!("{}/auth/wechat/me", app.url)).await;
    let code = mock.sdk_code(&mock.mobile().appid, "alice").unwrap();
    let (_, mobile, _) = app_login(&app, &code).await;
    let code = mock.sdk_code(&mock.mini_program().appid, "alice").unwrap();
    let (_, mini, _) = mini_login(&app, &code).await;
    let code = mock.sdk_code(&mock.mini_program().appid, "bob").unwrap();
    let (_, bob, _) = mini_login(&app, &code).await;

    let alice = mock.user("alice").unwrap();
    for u in [&web, &mobile["user"], &mini["user"]] {
        assert_eq!(u["unionid"], alice.unionid);
        assert_eq!(u["subject"], "account-1");
    }
    assert_eq!(bob["user"]["subject"], "account-2");
    // Three different openids for the one person.
    let openids: std::collections::HashSet<_> = [&web, &mobile["user"], &mini["user"]]
        .iter()
        .map(|u| u["openid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(openids.len(), 3);
    // The hook saw channel, appid and openid for every login.
    assert_eq!(seen.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn no_wechat_secret_reaches_a_response_or_a_log_line() {
    let logs = logs();
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let mut bodies = String::new();

    let b = browser();
    let res = login(&app, &b, "", "carol").await;
    bodies.push_str(&format!("{:?}", res.headers()));
    let (_, me) = get_json(&b, &format!("{}/auth/wechat/me", app.url)).await;
    bodies.push_str(&me.to_string());
    let code = mock.sdk_code(&mock.mobile().appid, "carol").unwrap();
    let (_, mobile, text) = app_login(&app, &code).await;
    bodies.push_str(&text);
    let mini = mock.mini_program().appid.clone();
    let code = mock.sdk_code(&mini, "carol").unwrap();
    let (_, _, text) = mini_login(&app, &code).await;
    bodies.push_str(&text);
    // Our own session token carries no WeChat secret either.
    let token = mobile["token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    bodies.push_str(&String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap());

    let logged = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("login"), "the capture works: {logged:.400}");
    let session_key = mock
        .session_key(&mini, &mock.user("carol").unwrap().openid_for(&mini))
        .unwrap();
    let mut secrets = vec![session_key];
    secrets.extend(mock.apps().iter().map(|a| a.secret.clone()));
    for (name, text) in [("responses", &bodies), ("logs", &logged)] {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{name} leak a secret");
        }
        assert!(
            !looks_like_wechat_token(text),
            "{name} contain something shaped like a WeChat access/refresh token"
        );
        for word in ["access_token", "refresh_token", "session_key"] {
            assert!(!text.contains(&format!("{word}=")), "{name}: {word}=");
            assert!(!text.contains(&format!("\"{word}\"")), "{name}: \"{word}\"");
        }
    }
}

/// WeChat's tokens (as the mock makes them) are two digits, `_`, and over 60 URL-safe
/// characters.
fn looks_like_wechat_token(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.windows(3).enumerate().any(|(i, w)| {
        w[0].is_ascii_digit()
            && w[1].is_ascii_digit()
            && w[2] == b'_'
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
            && bytes[i + 3..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-' || **b == b'_')
                .count()
                >= 60
    })
}
