//! The provider-neutral identity over real sockets: `GET /auth/wechat/me` shows `provider`,
//! `channel` and the provider's ids after a real login against the mock; a session signed
//! before identities existed (no `pv` claim) keeps working as WeChat's; a WeCom-shaped
//! session (built by hand: no channel issues one yet) is an `Identity`, shows its own ids,
//! and is refused by the `WechatUser` extractor with a clear 401.

mod common;

use std::net::SocketAddr;

use axum::{Json, routing::get};
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use wechat_auth::{Identity, WechatAuthLayer, mock::MockWechat};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The common routes plus `/identity` (any provider, via the `Identity` extractor) and
/// `/identity-or-guest` (`Option<Identity>`, a public path).
async fn start_app(mock: &MockWechat) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://{addr}");
    let cfg = config(mock)
        .with_public_path("/identity-or-guest")
        .with_public_url(url.clone())
        .build()
        .unwrap();
    let app = routes()
        .route(
            "/identity",
            get(|id: Identity| async move {
                Json(json!({
                    "provider": id.provider().as_str(),
                    "channel": id.channel().as_str(),
                    "key": id.key(),
                    "openid": id.as_wechat().map(|u| u.openid.clone()),
                }))
            }),
        )
        .route(
            "/identity-or-guest",
            get(|id: Option<Identity>| async move {
                id.map(|i| i.provider().to_string())
                    .unwrap_or_else(|| "guest".into())
            }),
        )
        .layer(WechatAuthLayer::new(cfg));
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    App::from_parts(url, addr, task)
}

/// A session token signed with the test secret, with `claims` on top of the registered ones.
fn signed(claims: Value) -> String {
    let mut all = json!({
        "iss": "wechat-auth", "aud": "wechat-auth/session", "jti": "hand-made-jti",
        "iat": now() - 10, "exp": now() + 600,
    });
    all.as_object_mut()
        .unwrap()
        .extend(claims.as_object().unwrap().clone());
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &all,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

/// `GET path` with `token` as the session cookie: status and JSON (or text as a string).
async fn get_with(app: &App, path: &str, token: &str) -> (u16, Value) {
    let res = reqwest::Client::new()
        .get(format!("{}{path}", app.url))
        .header("cookie", format!("wechat_session={token}"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

#[tokio::test]
async fn me_shows_provider_channel_and_ids_after_a_real_website_login() {
    let mock = MockWechat::start().await.unwrap();
    let app = start_app(&mock).await;
    let b = browser();
    let res = login(&app, &b, "?return_to=/profile", "alice").await;
    assert_eq!(res.status(), 302);

    let alice = mock.user("alice").unwrap();
    let website = mock.website().appid.clone();
    let (status, me) = get_json(&b, &format!("{}/auth/wechat/me", app.url)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["provider"], "wechat", "{me}");
    assert_eq!(me["channel"], "website");
    assert_eq!(me["openid"], alice.openid_for(&website));
    assert_eq!(me["unionid"], alice.unionid);
    assert_eq!(me["appid"], website);
    // Every field /me had before is still there.
    for field in [
        "openid",
        "unionid",
        "appid",
        "channel",
        "nickname",
        "avatar_url",
        "subject",
        "expires_at",
    ] {
        assert!(me.get(field).is_some(), "{field} missing from {me}");
    }
    // No other provider's ids are made up for a WeChat user.
    for field in ["corp_id", "user_id", "open_id", "union_id"] {
        assert!(me.get(field).is_none(), "{field} in {me}");
    }

    // The `Identity` extractor sees the same person; `WechatUser` still works.
    let (status, id) = get_json(&b, &format!("{}/identity", app.url)).await;
    assert_eq!(status, 200);
    assert_eq!(id["provider"], "wechat");
    assert_eq!(id["channel"], "website");
    assert_eq!(id["openid"], alice.openid_for(&website));
    assert_eq!(id["key"], format!("unionid:{}", alice.unionid));
    let (status, user) = get_json(&b, &format!("{}/profile", app.url)).await;
    assert_eq!((status, &user["openid"]), (200, &me["openid"]));

    // Nobody signed in: `Identity` is a 401 like `WechatUser`, `Option<Identity>` is None.
    let (status, body) = get_json(&browser(), &format!("{}/identity", app.url)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthenticated"))
    );
    let guest = browser()
        .get(format!("{}/identity-or-guest", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(guest.text().await.unwrap(), "guest");
}

#[tokio::test]
async fn a_session_signed_before_identities_existed_keeps_working_as_wechat() {
    let mock = MockWechat::start().await.unwrap();
    let app = start_app(&mock).await;
    // Exactly the claims a session carried before: no `pv`, the WeChat ids under
    // `oid`/`uid`/`aid`.
    let old = signed(json!({
        "sub": "unionid:uOld", "oid": "oOldSession", "uid": "uOld", "aid": "wx1",
        "ch": "official_account", "nn": "老用户", "tc": "w",
    }));
    assert_eq!(get_with(&app, "/profile", &old).await.0, 200);
    let (status, me) = get_with(&app, "/auth/wechat/me", &old).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["provider"], "wechat");
    assert_eq!(me["channel"], "official_account");
    assert_eq!(me["openid"], "oOldSession");
    assert_eq!(me["unionid"], "uOld");
    assert_eq!(me["appid"], "wx1");
    assert_eq!(me["nickname"], "老用户");
    let (status, id) = get_with(&app, "/identity", &old).await;
    assert_eq!((status, &id["provider"]), (200, &json!("wechat")));
}

#[tokio::test]
async fn a_wecom_session_is_an_identity_but_not_a_wechat_user() {
    let mock = MockWechat::start().await.unwrap();
    let app = start_app(&mock).await;
    // No channel issues WeCom sessions yet: this is the shape they will have.
    let member = signed(json!({
        "sub": "wecom:wwCorp:user:zhangsan", "pv": "wecom", "cid": "wwCorp", "wu": "zhangsan",
        "ch": "wecom", "tc": "w",
    }));
    let (status, me) = get_with(&app, "/auth/wechat/me", &member).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["provider"], "wecom");
    assert_eq!(me["channel"], "wecom");
    assert_eq!(me["corp_id"], "wwCorp");
    assert_eq!(me["user_id"], "zhangsan");
    assert!(me.get("openid").is_none(), "no faked openid: {me}");
    assert!(me["expires_at"].as_u64().unwrap() > now());

    let (status, id) = get_with(&app, "/identity", &member).await;
    assert_eq!(status, 200);
    assert_eq!(id["key"], "wecom:wwCorp:user:zhangsan");
    assert_eq!(id["openid"], Value::Null);
    assert_eq!(
        get_with(&app, "/identity-or-guest", &member).await.1,
        "wecom"
    );

    // A WeChat handler refuses it with a clear 401; its optional form sees nobody.
    let (status, body) = get_with(&app, "/api/data", &member).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "wrong_provider");
    assert_eq!(body["provider"], "wecom");
    assert_eq!(body["expected"], "wechat");
    assert_eq!(get_with(&app, "/maybe", &member).await.1, "guest");

    // Claims that do not make one identity are no session at all.
    for broken in [
        // A member and a non-member at once.
        json!({"sub": "x", "pv": "wecom", "cid": "wwCorp", "wu": "a", "wo": "b", "ch": "wecom"}),
        // Neither.
        json!({"sub": "x", "pv": "wecom", "cid": "wwCorp", "ch": "wecom"}),
        // No corp.
        json!({"sub": "x", "pv": "wecom", "wu": "a", "ch": "wecom"}),
        // A Douyin user without an open_id.
        json!({"sub": "x", "pv": "douyin", "dk": "awkey", "ch": "douyin"}),
        // A provider this layer does not know.
        json!({"sub": "x", "pv": "github", "oid": "o", "aid": "wx1", "ch": "website"}),
        // A WeChat session without an openid.
        json!({"sub": "x", "aid": "wx1", "ch": "website"}),
    ] {
        let token = signed(broken.clone());
        let (status, _) = get_with(&app, "/auth/wechat/me", &token).await;
        assert_eq!(status, 401, "{broken}");
    }
}
