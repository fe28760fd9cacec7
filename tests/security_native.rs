//! Attacks on native sessions, end to end over real sockets (issue 18, items 3–6, 9, 10):
//! replayed codes, refresh races and chains, token classes, logout with several sessions,
//! floods of made-up codes, and expiry times at the edge of `u64`.

mod common;

use std::{sync::Arc, time::Duration};

use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Client;
use serde_json::{Value, json};
use wechat_auth::{
    mock::MockWechat,
    store::{MemoryStore, Store},
};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn post(url: String, body: Value) -> (u16, Value) {
    let res = Client::new().post(url).json(&body).send().await.unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

async fn app_login(app: &App, code: &str) -> (u16, Value) {
    post(
        format!("{}/auth/wechat/app", app.url),
        json!({ "code": code }),
    )
    .await
}

async fn mini_login(app: &App, code: &str) -> (u16, Value) {
    post(
        format!("{}/auth/wechat/miniprogram", app.url),
        json!({ "code": code }),
    )
    .await
}

async fn refresh(app: &App, token: &str) -> (u16, Value) {
    let res = Client::new()
        .post(format!("{}/auth/wechat/refresh", app.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

async fn cookie_status(app: &App, token: &str) -> u16 {
    Client::new()
        .get(format!("{}/api/data", app.url))
        .header("cookie", format!("wechat_session={token}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn logout(app: &App, headers: &[(&str, String)]) -> u16 {
    let mut req = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/auth/wechat/logout", app.url));
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    req.send().await.unwrap().status().as_u16()
}

/// A session token signed with the test key, with the given claims added.
fn craft(extra: Value) -> String {
    let mut claims = json!({
        "iss": "wechat-auth", "aud": "wechat-auth/session", "sub": "openid:wx1:oCrafted",
        "oid": "oCrafted", "aid": "wx1", "ch": "mobile_app", "jti": "crafted-jti",
        "iat": now() - 10, "exp": now() + 600, "tc": "n",
    });
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn a_native_code_mints_one_token_and_nothing_once_it_is_revoked() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;

    // Mobile app: a quick repeat (a retrying app) gets the identical token, never a new one.
    let code = mock.sdk_code(&mock.mobile().appid, "alice").unwrap();
    let (status, first) = app_login(&app, &code).await;
    assert_eq!(status, 200, "{first}");
    let token = first["token"].as_str().unwrap().to_owned();
    let (status, again) = app_login(&app, &code).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["token"], first["token"],
        "the same token, not a new one"
    );
    // Logged out: the code gives nothing any more.
    assert_eq!(
        logout(&app, &[("authorization", format!("Bearer {token}"))]).await,
        204
    );
    let (status, body) = app_login(&app, &code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("login_again")));

    // Mini program: refreshed away counts as revoked too.
    let code = mock.sdk_code(&mock.mini_program().appid, "bob").unwrap();
    let (status, first) = mini_login(&app, &code).await;
    assert_eq!(status, 200, "{first}");
    let (status, _) = refresh(&app, first["token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let (status, body) = mini_login(&app, &code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("login_again")));
    assert_eq!(mock.calls("sns/jscode2session"), 1, "no second exchange");

    // And a repeat after the few seconds a retry may take gets nothing either.
    let code = mock.sdk_code(&mock.mobile().appid, "carol").unwrap();
    assert_eq!(app_login(&app, &code).await.0, 200);
    tokio::time::sleep(Duration::from_secs(11)).await;
    let (status, body) = app_login(&app, &code).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("login_again")));
}

#[tokio::test]
async fn sixteen_simultaneous_refreshes_have_one_winner() {
    let mock = MockWechat::start().await.unwrap();
    // Two instances sharing one store: the winner must be decided there, not in a process.
    let store = Arc::new(MemoryStore::new());
    let apps = [
        Arc::new(start(base_config(&mock).with_store(store.clone())).await),
        Arc::new(start(base_config(&mock).with_store(store.clone())).await),
    ];
    let app = apps[0].clone();
    let code = mock.sdk_code(&mock.mobile().appid, "alice").unwrap();
    let (_, body) = app_login(&app, &code).await;
    let token = body["token"].as_str().unwrap().to_owned();

    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let (app, token) = (apps[i % 2].clone(), token.clone());
            tokio::spawn(async move { refresh(&app, &token).await })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            200 => winners.push(body["token"].as_str().unwrap().to_owned()),
            401 => {}
            other => panic!("refresh answered {other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one descendant");
    assert_eq!(status_with_bearer(&app, &winners[0]).await, 200);
    assert_eq!(status_with_bearer(&app, &token).await, 401);
}

#[tokio::test]
async fn a_chain_of_refreshes_keeps_one_deny_list_entry_and_ends_with_the_login() {
    let mock = MockWechat::start().await.unwrap();
    let store = Arc::new(MemoryStore::new());
    let app = start(base_config(&mock).with_store(store.clone())).await;
    let code = mock.sdk_code(&mock.mobile().appid, "alice").unwrap();
    let (_, body) = app_login(&app, &code).await;
    let mut token = body["token"].as_str().unwrap().to_owned();
    let first = token.clone();
    for _ in 0..300 {
        let (status, body) = refresh(&app, &token).await;
        assert_eq!(status, 200, "{body}");
        token = body["token"].as_str().unwrap().to_owned();
    }
    assert_eq!(status_with_bearer(&app, &token).await, 200);
    assert_eq!(status_with_bearer(&app, &first).await, 401);
    let list = store.revoked().await.unwrap();
    assert_eq!(list.len(), 1, "one entry for the whole chain: {list:?}");
    assert_eq!(list[0].through, 299);

    // The absolute lifetime: a login 31 days old cannot be refreshed, and a token refreshed
    // near the end of its login's lifetime ends with it.
    let old = craft(json!({ "ait": now() - 31 * 24 * 3600 }));
    assert_eq!(
        status_with_bearer(&app, &old).await,
        200,
        "still valid until its exp"
    );
    assert_eq!(refresh(&app, &old).await.0, 401);
    let late = craft(json!({ "jti": "late", "ait": now() - (30 * 24 * 3600 - 100) }));
    let (status, body) = refresh(&app, &late).await;
    assert_eq!(status, 200, "{body}");
    let left = body["expires_in"].as_u64().unwrap();
    assert!(left <= 100, "capped by the login's lifetime: {left}");
}

#[tokio::test]
async fn web_and_native_tokens_only_travel_in_their_own_carrier() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let b = browser();
    let res = login(&app, &b, "", "alice").await;
    let web = session_token(&res).unwrap();
    assert_eq!(cookie_status(&app, &web).await, 200);
    // A browser's cookie token is no bearer token, and does not become one by refreshing.
    assert_eq!(status_with_bearer(&app, &web).await, 401);
    assert_eq!(refresh(&app, &web).await.0, 401);

    let code = mock.sdk_code(&mock.mobile().appid, "alice").unwrap();
    let (_, body) = app_login(&app, &code).await;
    let native = body["token"].as_str().unwrap();
    assert_eq!(status_with_bearer(&app, native).await, 200);
    assert_eq!(cookie_status(&app, native).await, 401);
}

#[tokio::test]
async fn logout_ends_every_session_the_request_carries() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let web = {
        let b = browser();
        session_token(&login(&app, &b, "", "alice").await).unwrap()
    };
    // An invalid bearer beside a valid cookie: the cookie's session still ends.
    let status = logout(
        &app,
        &[
            ("authorization", "Bearer not-a-token".to_owned()),
            ("cookie", format!("wechat_session={web}")),
        ],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(cookie_status(&app, &web).await, 401);

    // A valid bearer and a valid cookie: both end.
    let web = {
        let b = browser();
        session_token(&login(&app, &b, "", "alice").await).unwrap()
    };
    let code = mock.sdk_code(&mock.mobile().appid, "alice").unwrap();
    let native = app_login(&app, &code).await.1["token"]
        .as_str()
        .unwrap()
        .to_owned();
    logout(
        &app,
        &[
            ("authorization", format!("Bearer {native}")),
            ("cookie", format!("wechat_session={web}")),
        ],
    )
    .await;
    assert_eq!(status_with_bearer(&app, &native).await, 401);
    assert_eq!(cookie_status(&app, &web).await, 401);
}

#[tokio::test]
async fn made_up_codes_cost_wechat_a_bounded_number_of_calls() {
    let mock = MockWechat::start().await.unwrap();
    let app = Arc::new(start(config(&mock)).await);
    let tasks: Vec<_> = (0..300)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let path = if i % 2 == 0 { "app" } else { "miniprogram" };
                post(
                    format!("{}/auth/wechat/{path}", app.url),
                    json!({ "code": format!("madeUpCode{i:05}") }),
                )
                .await
            })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::<u16, u32>::new();
    for t in tasks {
        *statuses.entry(t.await.unwrap().0).or_default() += 1;
    }
    let upstream = mock.calls("sns/oauth2/access_token") + mock.calls("sns/jscode2session");
    // 20 refused codes per client per minute, plus what was already under way (8).
    assert!(
        upstream <= 28,
        "{upstream} upstream calls for 300 made-up codes"
    );
    assert!(
        statuses.get(&429).copied().unwrap_or(0) >= 270,
        "{statuses:?}"
    );

    // A code WeChat refused is remembered: its repeat is not sent again.
    let other = start(config(&mock)).await;
    let before = mock.calls("sns/oauth2/access_token");
    for _ in 0..3 {
        let (status, body) = app_login(&other, "anotherMadeUpCode").await;
        assert_eq!((status, body["error"].as_str()), (400, Some("login_again")));
    }
    // (A second layer has counters of its own: the per-client limit is not what stops these.)
    assert_eq!(mock.calls("sns/oauth2/access_token"), before + 1);
}

#[tokio::test]
async fn expiry_times_at_the_edge_of_u64_do_not_panic() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let huge = craft(json!({ "exp": u64::MAX, "gn": u32::MAX }));
    // Twice: the second is the verified-token cache's path.
    assert_eq!(status_with_bearer(&app, &huge).await, 200);
    assert_eq!(status_with_bearer(&app, &huge).await, 200);
    assert_eq!(
        logout(&app, &[("authorization", format!("Bearer {huge}"))]).await,
        204
    );
    assert_eq!(status_with_bearer(&app, &huge).await, 401);
    assert_eq!(refresh(&app, &huge).await.0, 401);
}

/// `Authorization` is a single-value field: with two of them, which one a proxy, a framework
/// or this layer would read differs, so a request carrying two has no session at all — even
/// when one (or both) is a valid token — and is told its token is invalid.
#[tokio::test]
async fn two_authorization_headers_are_refused_even_when_one_is_valid() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let code = mock.sdk_code(&mock.mobile().appid, "alice").unwrap();
    let (_, body) = app_login(&app, &code).await;
    let native = body["token"].as_str().unwrap().to_owned();
    assert_eq!(status_with_bearer(&app, &native).await, 200);
    let seconds = [
        format!("Bearer {native}"),
        "Bearer forged.token.here".to_owned(),
        "Basic YWxpY2U6c2VjcmV0".to_owned(),
    ];
    for (first, second) in [
        (format!("Bearer {native}"), &seconds[0]),
        (format!("Bearer {native}"), &seconds[1]),
        (format!("Bearer {native}"), &seconds[2]),
        (seconds[1].clone(), &format!("Bearer {native}")),
    ] {
        let res = Client::new()
            .get(format!("{}/api/data", app.url))
            .header("accept", "application/json")
            .header("authorization", &first)
            .header("authorization", second)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{first:.20} + {second:.20}");
        assert_eq!(
            res.headers()["www-authenticate"],
            r#"Bearer error="invalid_token""#
        );
    }
    // Nothing was revoked on the way: the token alone still works.
    assert_eq!(status_with_bearer(&app, &native).await, 200);
}
