//! Binding WeChat to an account someone is already signed into: `on_login` sees the verified
//! session the login request carries (`with_on_login_bind`), end to end over real sockets
//! against the mock.
//!
//! The mock's mobile app is set up *unbound* from the Open Platform account here, so its
//! openid comes without a unionid: without binding, the app login and the website login of
//! the same person would be two accounts.

mod common;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use common::*;
use reqwest::Client;
use serde_json::{Value, json};
use wechat_auth::{
    LoginRefused, WechatUser,
    mock::{AppKind, MockApp, MockConfig, MockWechat},
};

const ALREADY_BOUND: &str =
    "这个微信已绑定另一个账号 · this WeChat is already bound to another account";

/// The app's accounts: WeChat identity (`WechatUser::key`) → account id.
#[derive(Default)]
struct Accounts {
    by_identity: HashMap<String, String>,
    created: u32,
    /// What the hook was told, per login: (the identity, the signed-in account).
    seen: Vec<(String, Option<String>)>,
}

impl Accounts {
    fn on_login(
        &mut self,
        user: &WechatUser,
        signed_in: Option<WechatUser>,
    ) -> Result<String, LoginRefused> {
        let key = user.key();
        let current = signed_in.and_then(|s| s.subject);
        self.seen.push((key.clone(), current.clone()));
        match (self.by_identity.get(&key).cloned(), current) {
            (Some(owner), Some(current)) if owner != current => {
                Err(LoginRefused::new(ALREADY_BOUND))
            }
            (Some(owner), _) => Ok(owner),
            (None, Some(current)) => {
                self.by_identity.insert(key, current.clone());
                Ok(current)
            }
            (None, None) => {
                self.created += 1;
                let id = format!("account-{}", self.created);
                self.by_identity.insert(key, id.clone());
                Ok(id)
            }
        }
    }
}

async fn setup() -> (MockWechat, App, Arc<Mutex<Accounts>>) {
    let mock = MockWechat::start_with(
        MockConfig::new().with_app(MockApp::default_for(AppKind::Mobile).unbound()),
    )
    .await
    .unwrap();
    let accounts = Arc::new(Mutex::new(Accounts::default()));
    let hook = accounts.clone();
    let app = start(config(&mock).with_on_login_bind(
        move |user: WechatUser, signed_in: Option<WechatUser>| {
            let result = hook.lock().unwrap().on_login(&user, signed_in);
            async move { result.map(Some) }
        },
    ))
    .await;
    (mock, app, accounts)
}

async fn app_login(mock: &MockWechat, app: &App, user: &str) -> Value {
    let code = mock.sdk_code(&mock.mobile().appid, user).unwrap();
    let res = Client::new()
        .post(format!("{}/auth/wechat/app", app.url))
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// A website login of `user` in browser `b`, every request also carrying `bearer` when
/// given; returns the callback's response.
async fn website_login(
    app: &App,
    b: &Client,
    user: &str,
    bearer: Option<&str>,
) -> reqwest::Response {
    let with = |r: reqwest::RequestBuilder| match bearer {
        Some(t) => r.bearer_auth(t),
        None => r,
    };
    let res = with(b.get(format!("{}/auth/wechat/login?channel=website", app.url)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let wechat = location(&res).split('#').next().unwrap().to_owned();
    let callback = wechat_answers(b, &wechat, user, "approve").await;
    with(b.get(callback)).send().await.unwrap()
}

#[tokio::test]
async fn a_user_signed_in_by_the_app_binds_the_website_login_to_the_same_account() {
    let (mock, app, accounts) = setup().await;

    let signed_in = app_login(&mock, &app, "alice").await;
    assert_eq!(signed_in["user"]["subject"], "account-1");
    assert!(
        signed_in["user"]["unionid"].is_null(),
        "the unbound app has no unionid"
    );
    let token = signed_in["token"].as_str().unwrap();

    // The website login, while the app's session is on the request: the same account.
    let b = browser();
    let res = website_login(&app, &b, "alice", Some(token)).await;
    assert_eq!(res.status(), 302);
    assert!(session_token(&res).is_some());
    let (status, me) = get_json(&b, &format!("{}/auth/wechat/me", app.url)).await;
    assert_eq!(status, 200);
    assert_eq!(me["channel"], "website");
    assert_eq!(me["subject"], "account-1", "{me}");
    {
        let accounts = accounts.lock().unwrap();
        assert_eq!(accounts.created, 1, "no second account");
        let website_key = format!("unionid:{}", mock.user("alice").unwrap().unionid);
        assert_eq!(accounts.by_identity[&website_key], "account-1");
        assert_eq!(
            accounts.seen.last().unwrap().1.as_deref(),
            Some("account-1"),
            "the hook saw the app's session"
        );
    }

    // Later, the website alone (no app session on the request) reaches the same account.
    let b2 = browser();
    let res = website_login(&app, &b2, "alice", None).await;
    assert_eq!(res.status(), 302);
    let (_, me) = get_json(&b2, &format!("{}/auth/wechat/me", app.url)).await;
    assert_eq!(me["subject"], "account-1");

    // On the native endpoints a session cookie is offered for binding only from our own
    // origin: a cross-site page must not bind its visitor's account.
    for (origin, expected) in [
        ("https://evil.example", None),
        (app.url.as_str(), Some("account-1")),
    ] {
        let code = mock.sdk_code(&mock.mini_program().appid, "alice").unwrap();
        let res = b
            .post(format!("{}/auth/wechat/miniprogram", app.url))
            .header("origin", origin)
            .json(&json!({ "code": code }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let seen = accounts.lock().unwrap().seen.last().unwrap().1.clone();
        assert_eq!(seen.as_deref(), expected, "Origin: {origin}");
    }
}

#[tokio::test]
async fn a_wechat_identity_bound_to_another_account_is_refused_with_a_clear_message() {
    let (mock, app, accounts) = setup().await;

    // bob has his own account through the website.
    let bob_browser = browser();
    let res = website_login(&app, &bob_browser, "bob", None).await;
    assert_eq!(res.status(), 302);
    let (_, bob) = get_json(&bob_browser, &format!("{}/auth/wechat/me", app.url)).await;
    assert_eq!(bob["subject"], "account-1");

    // alice, signed in by the app (account-2), tries to bind bob's WeChat to her account.
    let alice = app_login(&mock, &app, "alice").await;
    assert_eq!(alice["user"]["subject"], "account-2");
    let token = alice["token"].as_str().unwrap();
    let b = browser();
    let res = website_login(&app, &b, "bob", Some(token)).await;
    assert_eq!(res.status(), 403);
    assert!(
        session_token(&res).is_none(),
        "no session for a refused login"
    );
    let page = res.text().await.unwrap();
    assert!(page.contains(ALREADY_BOUND), "{page}");
    let (status, _) = get_json(&b, &format!("{}/auth/wechat/me", app.url)).await;
    assert_eq!(status, 401);

    // Nothing changed: bob's WeChat is still bob's, alice's session still works.
    let bob_key = format!("unionid:{}", mock.user("bob").unwrap().unionid);
    assert_eq!(accounts.lock().unwrap().by_identity[&bob_key], "account-1");
    assert_eq!(status_with_bearer(&app, token).await, 200);

    // The same refusal reaches a native client as JSON.
    let code = mock.sdk_code(&mock.mini_program().appid, "bob").unwrap();
    let res = Client::new()
        .post(format!("{}/auth/wechat/miniprogram", app.url))
        .bearer_auth(token)
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.unwrap();
    assert!(body.to_string().contains(ALREADY_BOUND), "{body}");
}

#[tokio::test]
async fn only_a_verified_session_is_offered_for_binding() {
    let (mock, app, accounts) = setup().await;
    let alice = app_login(&mock, &app, "alice").await;
    let token = alice["token"].as_str().unwrap().to_owned();

    // A forged token (alice's with its signature changed) binds nothing: bob gets his own.
    let mut forged = token.clone().into_bytes();
    let i = forged.len() - 10;
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert_eq!(status_with_bearer(&app, &forged).await, 401);
    let b = browser();
    let res = website_login(&app, &b, "bob", Some(&forged)).await;
    assert_eq!(res.status(), 302);
    let (_, me) = get_json(&b, &format!("{}/auth/wechat/me", app.url)).await;
    assert_eq!(me["subject"], "account-2");

    // A revoked (logged out) session binds nothing either.
    let res = Client::new()
        .post(format!("{}/auth/wechat/logout", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let b = browser();
    let res = website_login(&app, &b, "carol", Some(&token)).await;
    assert_eq!(res.status(), 302);
    let (_, me) = get_json(&b, &format!("{}/auth/wechat/me", app.url)).await;
    assert_eq!(me["subject"], "account-3");

    let seen = &accounts.lock().unwrap().seen;
    assert_eq!(seen.len(), 3);
    assert!(seen[1..].iter().all(|(_, signed_in)| signed_in.is_none()));
}
