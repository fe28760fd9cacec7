//! Session tokens over real sockets: what the guard accepts and what it treats as "no
//! session" (tampered, expired, `alg: none`, rotated-out keys), in a cookie or a Bearer header.

mod common;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use wechat_auth::mock::MockWechat;

const NEW_KEY: &str = "the-new-session-key-0123456789abcdef";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token shaped exactly like the layer's, signed with `key`.
/// A browser (cookie) session token signed with `key`.
fn craft(key: &str, exp: u64) -> String {
    craft_class(key, exp, "w")
}

/// A native (bearer) session token signed with `key`.
fn craft_native(key: &str, exp: u64) -> String {
    craft_class(key, exp, "n")
}

fn craft_class(key: &str, exp: u64, class: &str) -> String {
    let claims = json!({
        "iss": "wechat-auth", "aud": "wechat-auth/session", "sub": "openid:wx1:oCrafted",
        "oid": "oCrafted", "aid": "wx1", "ch": "website", "jti": "crafted-jti",
        "iat": now() - 10, "exp": exp, "tc": class,
    });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key.as_bytes()),
    )
    .unwrap()
}

async fn status_with_cookie(app: &App, token: &str) -> u16 {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/profile", app.url))
        .header("cookie", format!("other=1; wechat_session={token}"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_well_formed_token_opens_protected_routes_by_bearer_and_cookie() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let token = craft(SECRET, now() + 600);
    let native = craft_native(SECRET, now() + 600);
    assert_eq!(status_with_bearer(&app, &native).await, 200);
    assert_eq!(status_with_cookie(&app, &token).await, 200);
    // Each class only from its own carrier.
    assert_eq!(status_with_bearer(&app, &token).await, 401);
    assert_eq!(status_with_cookie(&app, &native).await, 302);
}

#[tokio::test]
async fn tampered_expired_and_unsigned_tokens_are_no_session() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;

    // A real session from a real login, then its payload edited.
    let b = browser();
    let res = login(&app, &b, "", "alice").await;
    let token = session_token(&res).unwrap();
    assert_eq!(status_with_cookie(&app, &token).await, 200);
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut payload: serde_json::Value =
        serde_json::from_slice(&B64.decode(&parts[1]).unwrap()).unwrap();
    payload["oid"] = json!("oMallory");
    parts[1] = B64.encode(payload.to_string());
    let tampered = parts.join(".");
    assert_eq!(status_with_bearer(&app, &tampered).await, 401);
    assert_eq!(
        status_with_cookie(&app, &tampered).await,
        302,
        "back to login"
    );

    // Expired (beyond the few seconds of tolerated clock skew).
    let expired = craft(SECRET, now() - 60);
    assert_eq!(status_with_bearer(&app, &expired).await, 401);
    assert_eq!(status_with_cookie(&app, &expired).await, 302);

    // alg: none, with and without a trailing dot.
    let none_header = B64.encode(r#"{"alg":"none","typ":"JWT"}"#);
    for unsigned in [
        format!("{none_header}.{}.", parts[1]),
        format!("{none_header}.{}", parts[1]),
    ] {
        assert_eq!(status_with_bearer(&app, &unsigned).await, 401);
    }

    // Signed with a key the app does not know; and garbage.
    assert_eq!(
        status_with_bearer(
            &app,
            &craft("some-other-key-0123456789abcdef0123", now() + 600)
        )
        .await,
        401
    );
    for junk in ["", "a.b.c", "Bearer", &"x".repeat(10_000)] {
        assert_eq!(status_with_bearer(&app, junk).await, 401, "{junk:.20}");
    }
}

#[tokio::test]
async fn key_rotation_keeps_old_sessions_until_the_old_key_is_dropped() {
    let mock = MockWechat::start().await.unwrap();
    let old_token = craft_native(SECRET, now() + 600);

    // New key first: it signs, the old one still verifies.
    let rotated = start(config(&mock).with_session_keys([NEW_KEY, SECRET])).await;
    assert_eq!(status_with_bearer(&rotated, &old_token).await, 200);
    let b = browser();
    let res = login(&rotated, &b, "", "alice").await;
    let new_token = session_token(&res).unwrap();
    assert_eq!(status_with_cookie(&rotated, &new_token).await, 200);

    // The old key retired: its sessions end, the new key's go on.
    let retired = start(config(&mock).with_session_keys([NEW_KEY])).await;
    assert_eq!(status_with_bearer(&retired, &old_token).await, 401);
    assert_eq!(status_with_cookie(&retired, &new_token).await, 200);
}

#[tokio::test]
async fn logout_needs_our_origin_and_holds_for_bearer_clients() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let b = browser();
    let res = login(&app, &b, "", "alice").await;
    let token = session_token(&res).unwrap();

    // A cross-site form cannot log the user out.
    let res = b
        .post(format!("{}/auth/wechat/logout", app.url))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(status_with_cookie(&app, &token).await, 200);

    // GET is not a logout.
    let res = b
        .get(format!("{}/auth/wechat/logout", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);

    // A bearer client (a native login) logs out with 204 and its token is dead.
    let code = mock.sdk_code(&mock.mobile().appid, "alice").unwrap();
    let native: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/auth/wechat/app", app.url))
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = native["token"].as_str().unwrap().to_owned();
    assert_eq!(status_with_bearer(&app, &token).await, 200);
    let res = reqwest::Client::new()
        .post(format!("{}/auth/wechat/logout", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(status_with_bearer(&app, &token).await, 401);
    assert_eq!(status_with_cookie(&app, &token).await, 302);
}

#[tokio::test]
async fn two_layers_from_one_config_share_one_store() {
    use wechat_auth::WechatAuthLayer;
    let mock = MockWechat::start().await.unwrap();
    // One config, two layers (say, an API router and a web router), on two servers.
    let a = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (url_a, url_b) = (
        format!("http://{}", a.local_addr().unwrap()),
        format!("http://{}", b.local_addr().unwrap()),
    );
    let cfg = base_config(&mock)
        .with_public_url(url_a.clone())
        .build()
        .unwrap();
    for (listener, layer) in [
        (a, WechatAuthLayer::new(cfg.clone())),
        (b, WechatAuthLayer::new(cfg)),
    ] {
        let app = routes().layer(layer);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    }
    let client = reqwest::Client::new();

    // One code posted through both layers: one exchange, one token.
    let code = mock.sdk_code(&mock.mobile().appid, "alice").unwrap();
    let mut tokens = Vec::new();
    for url in [&url_a, &url_b] {
        let body: serde_json::Value = client
            .post(format!("{url}/auth/wechat/app"))
            .json(&json!({ "code": code }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.push(body["token"].as_str().unwrap().to_owned());
    }
    assert_eq!(tokens[0], tokens[1]);
    assert_eq!(mock.calls("sns/oauth2/access_token"), 1);

    // A logout through one layer is refused by the other.
    let token = &tokens[0];
    let status = |url: String| {
        let client = client.clone();
        async move {
            client
                .get(format!("{url}/api/data"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status(url_b.clone()).await, 200);
    let res = client
        .post(format!("{url_a}/auth/wechat/logout"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let started = std::time::Instant::now();
    while status(url_b.clone()).await != 401 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "the other layer still accepts the logged-out token"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_extractor_and_the_guard_answer_the_same_401() {
    use wechat_auth::WechatAuthLayer;
    let mock = MockWechat::start().await.unwrap();
    // Required: the guard answers. Optional: the handler's WechatUser extractor does.
    let guarded = start(config(&mock)).await;
    let optional = start_with(config(&mock), |c| WechatAuthLayer::new(c).optional()).await;
    let mut bodies = Vec::new();
    for app in [&guarded, &optional] {
        let res = reqwest::Client::new()
            .get(format!("{}/api/data", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        bodies.push(res.json::<serde_json::Value>().await.unwrap());
    }
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(bodies[0]["login_url"], "/auth/wechat/login");
}
