//! `examples/accounts_sqlite.rs` end to end: its SQLite database in a temp dir, its app in a
//! real axum server, logins through the mock over real sockets.

#[allow(unreachable_pub, dead_code)]
#[path = "../examples/accounts_sqlite.rs"]
mod example;

use std::{net::SocketAddr, time::Duration};

use example::{ALREADY_BOUND, Accounts};
use reqwest::{Client, redirect::Policy};
use serde_json::{Value, json};
use wechat_auth::{
    WechatConfig,
    mock::{AppKind, MockApp, MockConfig, MockWechat},
};

struct Running {
    url: String,
    mock: MockWechat,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The example's app on a loopback port, on the database at `db`, against a mock whose
/// mini program is not bound to the Open Platform account (no unionid: only the
/// (appid, openid) fallback finds its users).
async fn run(db: &std::path::Path) -> (Running, Accounts) {
    let mock = MockWechat::start_with(
        MockConfig::new().with_app(MockApp::default_for(AppKind::MiniProgram).unbound()),
    )
    .await
    .unwrap();
    let accounts = Accounts::open(db).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let builder = WechatConfig::builder()
        .with_public_url(&url)
        .with_session_secret("test-session-secret-0123456789abcdef")
        .with_wechat_bases(mock.api_base(), mock.open_base(), mock.mp_base())
        .with_website_app(&mock.website().appid, &mock.website().secret)
        .with_mobile_app(&mock.mobile().appid, &mock.mobile().secret)
        .with_mini_program(&mock.mini_program().appid, &mock.mini_program().secret)
        .with_http_timeout(Duration::from_secs(2));
    let app = example::app(builder, accounts.clone()).unwrap();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    (Running { url, mock, task }, accounts)
}

fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn location(res: &reqwest::Response) -> String {
    res.headers()["location"].to_str().unwrap().to_owned()
}

/// A website login of `user` in `b`; `/account` afterwards.
async fn website(app: &Running, b: &Client, user: &str, bearer: Option<&str>) -> (u16, Value) {
    let with = |r: reqwest::RequestBuilder| match bearer {
        Some(t) => r.bearer_auth(t),
        None => r,
    };
    let res = with(b.get(format!(
        "{}/auth/wechat/login?channel=website&return_to=/account",
        app.url
    )))
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 302);
    let wechat = location(&res).replace("#wechat_redirect", "");
    let res = b
        .get(format!("{wechat}&mock_user={user}&mock_action=approve"))
        .send()
        .await
        .unwrap();
    let res = with(b.get(location(&res))).send().await.unwrap();
    if res.status() != 302 {
        return (
            res.status().as_u16(),
            json!({ "page": res.text().await.unwrap() }),
        );
    }
    assert_eq!(location(&res), "/account");
    let res = b.get(format!("{}/account", app.url)).send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// A native login (`app` or `miniprogram`) of `user`; the whole JSON answer.
async fn native(
    app: &Running,
    endpoint: &str,
    appid: &str,
    user: &str,
    bearer: Option<&str>,
) -> (u16, Value) {
    let code = app.mock.sdk_code(appid, user).unwrap();
    let mut req = Client::new()
        .post(format!("{}/auth/wechat/{endpoint}", app.url))
        .json(&json!({ "code": code }));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

async fn account_of(app: &Running, token: &str) -> Value {
    Client::new()
        .get(format!("{}/account", app.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn accounts_live_in_sqlite_keyed_by_unionid_with_the_openid_fallback_and_binding() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("accounts.db");
    let (app, accounts) = run(&db).await;
    let mobile = app.mock.mobile().appid.clone();
    let mini = app.mock.mini_program().appid.clone();

    // alice on the website: a new account.
    let (status, web) = website(&app, &browser(), "alice", None).await;
    assert_eq!(status, 200, "{web}");
    let alice = web["account"].as_i64().unwrap();
    assert_eq!(web["identities"].as_array().unwrap().len(), 1);

    // alice in the mobile app: found through the unionid, the same account, two identities.
    let (status, body) = native(&app, "app", &mobile, "alice", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["subject"], alice.to_string());
    let alice_token = body["token"].as_str().unwrap().to_owned();
    let me = account_of(&app, &alice_token).await;
    assert_eq!(me["account"], alice);
    assert_eq!(me["identities"].as_array().unwrap().len(), 2, "{me}");
    assert_eq!(accounts.count().await.unwrap(), 1);

    // bob in the (unbound) mini program: no unionid, a new account; found again by
    // (appid, openid) on his next login.
    let (_, first) = native(&app, "miniprogram", &mini, "bob", None).await;
    assert!(first["user"]["unionid"].is_null());
    let (_, again) = native(&app, "miniprogram", &mini, "bob", None).await;
    assert_eq!(again["user"]["subject"], first["user"]["subject"]);
    assert_ne!(first["user"]["subject"], alice.to_string());
    assert_eq!(accounts.count().await.unwrap(), 2);

    // alice, signed in by the app, logs in to the mini program: without a unionid nothing
    // links it, but the app's session on the request binds it to her account.
    let (status, body) = native(&app, "miniprogram", &mini, "alice", Some(&alice_token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["subject"], alice.to_string());
    let me = account_of(&app, &alice_token).await;
    let channels: Vec<&str> = me["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["channel"].as_str().unwrap())
        .collect();
    assert_eq!(channels, ["website", "mobile_app", "mini_program"], "{me}");
    assert_eq!(accounts.count().await.unwrap(), 2, "no third account");

    // alice, signed in, tries bob's mini program identity: refused, with the message.
    let (status, body) = native(&app, "miniprogram", &mini, "bob", Some(&alice_token)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.to_string().contains(ALREADY_BOUND), "{body}");
    // … and on the website (carol's WeChat has an account of its own), with a page that
    // says so, and no session.
    let (status, page) = website(&app, &browser(), "carol", None).await;
    assert_eq!(status, 200, "{page}");
    let carol = page["account"].as_i64().unwrap();
    let b = browser();
    let (status, page) = website(&app, &b, "carol", Some(&alice_token)).await;
    assert_eq!(status, 403);
    assert!(
        page["page"]
            .as_str()
            .unwrap()
            .contains("这个微信已绑定另一个账号")
    );
    let res = b.get(format!("{}/account", app.url)).send().await.unwrap();
    assert_eq!(res.status(), 401);

    // The data is in the file: a fresh pool on it (migrations run again, as a no-op) sees it.
    drop(app);
    let reopened = Accounts::open(&db).await.unwrap();
    assert_eq!(reopened.count().await.unwrap(), 3);
    assert_eq!(reopened.identities(carol).await.unwrap().len(), 1);
    let alice_ids = reopened.identities(alice).await.unwrap();
    assert_eq!(
        alice_ids.len(),
        3,
        "website, app, mini program: {alice_ids:?}"
    );
    assert_eq!(alice_ids[2].appid, mini);
    assert!(alice_ids[2].unionid.is_none());
    assert!(db.metadata().unwrap().len() > 0);
}

#[tokio::test]
async fn concurrent_first_logins_of_one_person_make_one_account() {
    let dir = tempfile::tempdir().unwrap();
    let (app, accounts) = run(&dir.path().join("accounts.db")).await;
    let mobile = app.mock.mobile().appid.clone();
    let logins = (0..8).map(|_| {
        let app = &app;
        let mobile = &mobile;
        async move { native(app, "app", mobile, "alice", None).await }
    });
    let answers = futures_util::future::join_all(logins).await;
    let subjects: std::collections::HashSet<String> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            body["user"]["subject"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(subjects.len(), 1);
    assert_eq!(accounts.count().await.unwrap(), 1);
}
