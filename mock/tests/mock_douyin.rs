//! The mock's Douyin (抖音) side over real sockets (protocol §29, design §6): the apps in
//! `/mock/config`, the authorize page `platform/oauth/connect/` and its rules, `oauth/*` and
//! the mini-app's `api/apps/v2/jscode2session` in Douyin's shapes, single-use codes, token
//! lifetimes on the mock clock, the renewal limit, `client_token`, faults, call counts.

use std::time::Duration;

use reqwest::{Client, StatusCode, redirect::Policy};
use serde_json::{Value, json};
use url::Url;
use wechat_auth_mock::{MockConfig, MockDouyinApp, MockWechat};

const CALLBACK: &str = "http://127.0.0.1:3000/auth/wechat/callback";

fn http() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

/// The authorize URL a layer would build.
fn connect_url(
    mock: &MockWechat,
    client_key: &str,
    scope: &str,
    redirect: &str,
    state: &str,
) -> String {
    let mut u = Url::parse(&format!(
        "{}/platform/oauth/connect/",
        mock.douyin_open_base()
    ))
    .unwrap();
    u.query_pairs_mut()
        .append_pair("client_key", client_key)
        .append_pair("response_type", "code")
        .append_pair("scope", scope)
        .append_pair("redirect_uri", redirect)
        .append_pair("state", state);
    u.to_string()
}

/// Opens `url`, expects the 302 to the callback, answers its query pairs.
async fn follow_back(url: &str) -> Vec<(String, String)> {
    let resp = http().get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND, "{url}");
    let to = Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(to.path(), "/auth/wechat/callback");
    to.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

async fn page_code(mock: &MockWechat, user: &str) -> String {
    let url = connect_url(
        mock,
        &mock.douyin_app().client_key,
        "user_info",
        CALLBACK,
        "s1",
    );
    let q = follow_back(&MockWechat::approve_url(&url, user)).await;
    param(&q, "code").unwrap().to_owned()
}

/// The page must refuse with this `x-mock-error` and redirect nowhere.
async fn page_refuses(url: &str, reason: &str) {
    let resp = http().get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{url}");
    assert_eq!(resp.headers()["x-mock-error"], reason, "{url}");
    assert!(resp.headers().get("location").is_none());
}

async fn answer(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status(), StatusCode::OK);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/json"), "{ct}");
    resp.json().await.unwrap()
}

async fn post_form(mock: &MockWechat, path: &str, form: &[(&str, &str)]) -> Value {
    let resp = http()
        .post(format!("{}{path}", mock.douyin_open_base()))
        .form(form)
        .send()
        .await
        .unwrap();
    answer(resp).await
}

async fn post_json(base: String, path: &str, body: &Value) -> Value {
    answer(
        http()
            .post(format!("{base}{path}"))
            .json(body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn exchange(mock: &MockWechat, app: &MockDouyinApp, code: &str) -> Value {
    post_form(
        mock,
        "/oauth/access_token/",
        &[
            ("client_key", &app.client_key),
            ("client_secret", &app.client_secret),
            ("code", code),
            ("grant_type", "authorization_code"),
        ],
    )
    .await
}

async fn userinfo(mock: &MockWechat, token: &str, open_id: &str) -> Value {
    let resp = http()
        .post(format!("{}/oauth/userinfo/", mock.douyin_open_base()))
        .header("access-token", token)
        .form(&[("access_token", token), ("open_id", open_id)])
        .send()
        .await
        .unwrap();
    answer(resp).await
}

async fn refresh(mock: &MockWechat, token: &str) -> Value {
    let key = mock.douyin_app().client_key.clone();
    post_form(
        mock,
        "/oauth/refresh_token/",
        &[
            ("client_key", &key),
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
        ],
    )
    .await
}

async fn renew(mock: &MockWechat, token: &str) -> Value {
    let key = mock.douyin_app().client_key.clone();
    post_form(
        mock,
        "/oauth/renew_refresh_token/",
        &[("client_key", &key), ("refresh_token", token)],
    )
    .await
}

async fn jscode2session(mock: &MockWechat, body: Value) -> Value {
    post_json(
        mock.douyin_miniapp_base(),
        "/api/apps/v2/jscode2session",
        &body,
    )
    .await
}

async fn control(mock: &MockWechat, path: &str, body: &Value) -> reqwest::Response {
    http()
        .post(format!("{}{path}", mock.url()))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// Douyin's error shape: `{"data":{"description","error_code":N},"extra":{"logid","now"}}`.
fn assert_dy_error(v: &Value, code: i64) {
    assert_eq!(v["data"]["error_code"], code, "{v}");
    assert!(v["data"]["description"].is_string(), "{v}");
    let logid = v["extra"]["logid"].as_str().unwrap();
    assert_eq!(logid.len(), 34, "{logid}");
    assert!(
        v["extra"]["now"].as_u64().unwrap() > 1_600_000_000_000,
        "{v}"
    );
    assert!(v.get("message").is_none(), "{v}");
    assert_eq!(v["data"].as_object().unwrap().len(), 2, "{v}");
}

/// A Douyin success: `message` `success`, `data.error_code` 0, `data.description` "".
fn assert_dy_ok(v: &Value) {
    assert_eq!(v["message"], "success", "{v}");
    assert_eq!(v["data"]["error_code"], 0, "{v}");
    assert_eq!(v["data"]["description"], "", "{v}");
}

fn assert_mini_error(v: &Value, code: i64) {
    assert_eq!(v["err_no"], code, "{v}");
    assert!(v["err_tips"].as_str().is_some_and(|t| !t.is_empty()), "{v}");
    assert!(v.get("data").is_none(), "{v}");
}

#[tokio::test]
async fn config_lists_douyin_apps_bases_and_each_users_ids() {
    let mock = MockWechat::start().await.unwrap();
    let cfg: Value = http()
        .get(format!("{}/mock/config", mock.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cfg["douyin_open_base"], mock.url());
    assert_eq!(cfg["douyin_miniapp_base"], mock.url());
    let apps = cfg["apps"].as_array().unwrap();
    let open = apps.iter().find(|a| a["kind"] == "douyin").unwrap();
    assert_eq!(open["client_key"], "awmock0000000001");
    assert_eq!(open["client_secret"], mock.douyin_app().client_secret);
    assert_eq!(open["redirect_domains"], json!(["127.0.0.1", "localhost"]));
    let mini = apps.iter().find(|a| a["kind"] == "douyin_miniapp").unwrap();
    assert_eq!(mini["appid"], "ttmock00000000001");
    assert_eq!(mini["secret"], mock.douyin_miniapp().secret);

    let users = cfg["users"].as_array().unwrap();
    let mut unions = Vec::new();
    for u in users {
        let me = mock.user(u["name"].as_str().unwrap()).unwrap();
        let ids = &u["douyin_open_ids"];
        let web = ids["awmock0000000001"].as_str().unwrap();
        let mini = ids["ttmock00000000001"].as_str().unwrap();
        assert_ne!(web, mini, "one open_id per app");
        assert_eq!(web, me.douyin_open_id_for("awmock0000000001"));
        assert_eq!(u["douyin_union_id"], me.douyin_union_id());
        assert_ne!(u["douyin_union_id"], u["unionid"], "not the WeChat unionid");
        unions.push(u["douyin_union_id"].as_str().unwrap().to_owned());
    }
    unions.dedup();
    assert_eq!(unions.len(), 3);
    // The human summary names them too.
    let summary = mock.summary();
    let alice = mock.user("alice").unwrap();
    for needle in [
        "client_key awmock0000000001".to_owned(),
        "appid ttmock00000000001".to_owned(),
        format!("douyin union_id {}", alice.douyin_union_id()),
        alice.douyin_open_id_for("ttmock00000000001"),
    ] {
        assert!(summary.contains(&needle), "{needle} in {summary}");
    }
    // Debug never shows the secrets.
    let debug = format!("{:?} {:?}", mock.douyin_app(), mock.douyin_miniapp());
    assert!(!debug.contains(&mock.douyin_app().client_secret));
    assert!(!debug.contains(&mock.douyin_miniapp().secret));
}

#[tokio::test]
async fn a_web_login_goes_page_code_token_userinfo() {
    let mock = MockWechat::start().await.unwrap();
    let app = mock.douyin_app().clone();
    let url = connect_url(&mock, &app.client_key, "user_info", CALLBACK, "st<&>");

    // Without mock params: the page, one approve link per user and a deny link, escaped.
    let page = http().get(&url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    for name in ["alice", "bob", "carol"] {
        assert!(
            html.contains(&format!("mock_user={name}&amp;mock_action=approve")),
            "{html}"
        );
    }
    assert!(html.contains("mock_action=deny") && !html.contains("st<&>"));

    let q = follow_back(&MockWechat::approve_url(&url, "alice")).await;
    assert_eq!(param(&q, "state"), Some("st<&>"));
    assert_eq!(param(&q, "scopes"), Some("user_info"));
    let code = param(&q, "code").unwrap();

    let token = exchange(&mock, &app, code).await;
    assert_dy_ok(&token);
    let data = &token["data"];
    let mut keys: Vec<&str> = data
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "access_token",
            "captcha",
            "desc_url",
            "description",
            "error_code",
            "expires_in",
            "log_id",
            "open_id",
            "refresh_expires_in",
            "refresh_token",
            "scope"
        ]
    );
    assert_eq!(data["expires_in"], 1_296_000);
    assert_eq!(data["refresh_expires_in"], 2_592_000);
    assert_eq!(data["scope"], "user_info");
    assert!(data["access_token"].as_str().unwrap().starts_with("act."));
    assert!(data["refresh_token"].as_str().unwrap().starts_with("rft."));
    let alice = mock.user("alice").unwrap();
    let open_id = data["open_id"].as_str().unwrap();
    assert_eq!(open_id, alice.douyin_open_id_for(&app.client_key));

    let info = userinfo(&mock, data["access_token"].as_str().unwrap(), open_id).await;
    assert_dy_ok(&info);
    assert_eq!(info["data"]["nickname"], "爱丽丝");
    assert_eq!(info["data"]["avatar"], alice.headimgurl);
    assert_eq!(info["data"]["open_id"], open_id);
    assert_eq!(info["data"]["union_id"], alice.douyin_union_id());
    for never in ["uid", "short_id", "unique_id", "gender", "avatar_thumb"] {
        assert!(info["data"].get(never).is_none(), "{never} in {info}");
    }
    assert_eq!(mock.calls("platform/oauth/connect/"), 2);
    assert_eq!(mock.calls("oauth/access_token/"), 1);
    assert_eq!(mock.calls("oauth/userinfo/"), 1);
    assert_eq!(mock.app_calls(&app.client_key, "oauth/userinfo/"), 1);
    assert_eq!(mock.app_calls(&app.client_key, "oauth/access_token/"), 1);
}

#[tokio::test]
async fn codes_work_once_for_their_client_key_and_ten_minutes() {
    let other = MockDouyinApp::new("awother000000002", "other-secret");
    let mock = MockWechat::start_with(MockConfig::default().add_douyin_app(other.clone()))
        .await
        .unwrap();
    let app = mock.douyin_app().clone();

    let code = page_code(&mock, "bob").await;
    assert_dy_ok(&exchange(&mock, &app, &code).await);
    assert_dy_error(&exchange(&mock, &app, &code).await, 2100005); // used

    let code = page_code(&mock, "bob").await;
    assert_dy_error(&exchange(&mock, &other, &code).await, 2100005); // another app's
    assert_dy_ok(&exchange(&mock, &app, &code).await); // still unused for its own app

    let code = page_code(&mock, "bob").await;
    mock.advance(Duration::from_secs(9 * 60 + 50));
    assert_dy_ok(&exchange(&mock, &app, &code).await);
    let code = page_code(&mock, "bob").await;
    mock.advance(Duration::from_secs(10 * 60 + 1));
    assert_dy_error(&exchange(&mock, &app, &code).await, 2100005); // expired

    // Credentials and parameters.
    let code = page_code(&mock, "bob").await;
    let wrong = MockDouyinApp::new(app.client_key.clone(), "not-the-secret");
    assert_dy_error(&exchange(&mock, &wrong, &code).await, 10013);
    let unknown = MockDouyinApp::new("awnobody00000000", "x");
    assert_dy_error(&exchange(&mock, &unknown, &code).await, 10003);
    let no_grant = post_form(
        &mock,
        "/oauth/access_token/",
        &[
            ("client_key", &app.client_key),
            ("client_secret", &app.client_secret),
            ("code", &code),
        ],
    )
    .await;
    assert_dy_error(&no_grant, 2100005);
    // The same exchange as JSON is accepted too, once.
    let body = json!({"client_key": app.client_key, "client_secret": app.client_secret,
                      "code": code, "grant_type": "authorization_code"});
    assert_dy_ok(&post_json(mock.url(), "/oauth/access_token/", &body).await);
    assert_dy_error(
        &post_json(mock.url(), "/oauth/access_token/", &body).await,
        2100005,
    );
    // GET is no way to call it.
    let got = answer(
        http()
            .get(format!("{}/oauth/access_token/", mock.url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_dy_error(&got, 2100005);
}

#[tokio::test]
async fn the_page_enforces_douyins_rules() {
    let mock = MockWechat::start().await.unwrap();
    let key = mock.douyin_app().client_key.clone();
    page_refuses(
        &connect_url(&mock, "awnobody00000000", "user_info", CALLBACK, "s"),
        "client_key",
    )
    .await;
    let bad_type = connect_url(&mock, &key, "user_info", CALLBACK, "s")
        .replace("response_type=code", "response_type=token");
    page_refuses(&bad_type, "response_type").await;
    page_refuses(&connect_url(&mock, &key, "mobile", CALLBACK, "s"), "scope").await;
    page_refuses(
        &connect_url(
            &mock,
            &key,
            "user_info",
            "http://127.0.0.1:3000/cb?next=x",
            "s",
        ),
        "redirect_query",
    )
    .await;
    page_refuses(
        &connect_url(&mock, &key, "user_info", "http://evil.example/cb", "s"),
        "redirect_domain",
    )
    .await;
    page_refuses(
        &connect_url(&mock, &key, "user_info", "ftp://127.0.0.1/cb", "s"),
        "redirect_uri",
    )
    .await;

    // Several scopes with user_info among them; the fragment is not compared and not kept.
    let url = connect_url(
        &mock,
        &key,
        "user_info,mobile",
        &format!("{CALLBACK}#frag"),
        "s2",
    );
    let q = follow_back(&MockWechat::approve_url(&url, "carol")).await;
    assert_eq!(param(&q, "scopes"), Some("user_info,mobile"));
    assert_eq!(param(&q, "state"), Some("s2"));

    // Deny: back with the state and no code.
    let url = connect_url(&mock, &key, "user_info", CALLBACK, "s3");
    let q = follow_back(&MockWechat::deny_url(&url)).await;
    assert_eq!(param(&q, "state"), Some("s3"));
    assert!(param(&q, "code").is_none() && param(&q, "scopes").is_none());

    // Misuse of the mock's own parameters: 400.
    let resp = http()
        .get(MockWechat::approve_url(&url, "nobody"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // Callback domains follow the control API (the port never matters).
    let resp = control(
        &mock,
        "/mock/redirect_domains",
        &json!({"appid": key, "domains": ["app.example:8443"]}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    page_refuses(
        &connect_url(&mock, &key, "user_info", CALLBACK, "s"),
        "redirect_domain",
    )
    .await;
    let moved = connect_url(
        &mock,
        &key,
        "user_info",
        "https://app.example/auth/wechat/callback",
        "s",
    );
    follow_back(&MockWechat::approve_url(&moved, "alice")).await;
    assert_eq!(mock.douyin_redirect_domains(&key), ["app.example"]);
}

#[tokio::test]
async fn tokens_live_fifteen_and_thirty_days_on_the_mock_clock() {
    let mock = MockWechat::start().await.unwrap();
    let app = mock.douyin_app().clone();
    let token = exchange(&mock, &app, &page_code(&mock, "alice").await).await;
    let access = token["data"]["access_token"].as_str().unwrap().to_owned();
    let rft = token["data"]["refresh_token"].as_str().unwrap().to_owned();
    let open_id = token["data"]["open_id"].as_str().unwrap().to_owned();

    mock.advance(Duration::from_secs(15 * 24 * 3600 - 60));
    assert_dy_ok(&userinfo(&mock, &access, &open_id).await);
    mock.advance(Duration::from_secs(61));
    assert_dy_error(&userinfo(&mock, &access, &open_id).await, 28001008);

    // Refresh: a new 15-day access token; the refresh token and its expiry stay.
    let refreshed = refresh(&mock, &rft).await;
    assert_dy_ok(&refreshed);
    let data = &refreshed["data"];
    assert_eq!(data["refresh_token"], rft.as_str());
    assert_eq!(data["expires_in"], 1_296_000);
    assert_eq!(data["open_id"], open_id.as_str());
    let left = data["refresh_expires_in"].as_u64().unwrap();
    assert!(
        (15 * 24 * 3600 - 5..=15 * 24 * 3600).contains(&left),
        "{left}"
    );
    let new_access = data["access_token"].as_str().unwrap();
    assert_ne!(new_access, access);
    assert_dy_ok(&userinfo(&mock, new_access, &open_id).await);

    mock.advance(Duration::from_secs(15 * 24 * 3600 + 1));
    assert_dy_error(&refresh(&mock, &rft).await, 10010);
    assert_dy_error(&renew(&mock, &rft).await, 10010);
    assert_dy_error(&refresh(&mock, "rft.unknown").await, 2100005);
}

#[tokio::test]
async fn a_refresh_token_chain_renews_at_most_five_times() {
    let mock = MockWechat::start().await.unwrap();
    let app = mock.douyin_app().clone();
    let token = exchange(&mock, &app, &page_code(&mock, "bob").await).await;
    let mut rft = token["data"]["refresh_token"].as_str().unwrap().to_owned();
    for _ in 0..5 {
        mock.advance(Duration::from_secs(20 * 24 * 3600));
        let renewed = renew(&mock, &rft).await;
        assert_dy_ok(&renewed);
        let mut keys: Vec<&str> = renewed["data"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["description", "error_code", "expires_in", "refresh_token"]
        );
        assert_eq!(renewed["data"]["expires_in"], 2_592_000);
        let next = renewed["data"]["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        // The old one is gone; the new one refreshes.
        assert_dy_error(&refresh(&mock, &rft).await, 2100005);
        assert_dy_ok(&refresh(&mock, &next).await);
        rft = next;
    }
    assert_dy_error(&renew(&mock, &rft).await, 10020);
    assert_dy_ok(&refresh(&mock, &rft).await); // still refreshes until it expires
}

#[tokio::test]
async fn userinfo_checks_token_open_id_and_parameters() {
    let mock = MockWechat::start().await.unwrap();
    let app = mock.douyin_app().clone();
    let token = exchange(&mock, &app, &page_code(&mock, "carol").await).await;
    let access = token["data"]["access_token"].as_str().unwrap();
    let bob = mock
        .user("bob")
        .unwrap()
        .douyin_open_id_for(&app.client_key);
    assert_dy_error(&userinfo(&mock, access, &bob).await, 28001015);
    assert_dy_error(&userinfo(&mock, "act.unknown", &bob).await, 28001007);
    let bare = answer(
        http()
            .post(format!("{}/oauth/userinfo/", mock.url()))
            .json(&json!({"access_token": access}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_dy_error(&bare, 28001007);
    // The token in the JSON body alone is enough.
    let carol = mock
        .user("carol")
        .unwrap()
        .douyin_open_id_for(&app.client_key);
    let body = json!({"access_token": access, "open_id": carol});
    let info = post_json(mock.url(), "/oauth/userinfo/", &body).await;
    assert_eq!(info["data"]["nickname"], "Carol");
}

#[tokio::test]
async fn client_tokens_overlap_five_minutes_and_are_rate_limited() {
    let mock = MockWechat::start().await.unwrap();
    let app = mock.douyin_app().clone();
    let body = json!({"client_key": app.client_key, "client_secret": app.client_secret,
                      "grant_type": "client_credential"});
    let first = post_json(mock.url(), "/oauth/client_token/", &body).await;
    assert_dy_ok(&first);
    assert_eq!(first["data"]["expires_in"], 7200);
    let first = first["data"]["access_token"].as_str().unwrap().to_owned();
    assert!(first.starts_with("clt."));
    assert_eq!(
        mock.douyin_client_token_app(&first).as_deref(),
        Some(app.client_key.as_str())
    );
    let second = post_json(mock.url(), "/oauth/client_token/", &body).await;
    let second = second["data"]["access_token"].as_str().unwrap().to_owned();
    mock.advance(Duration::from_secs(299));
    assert!(mock.douyin_client_token_app(&first).is_some());
    mock.advance(Duration::from_secs(2));
    assert!(
        mock.douyin_client_token_app(&first).is_none(),
        "killed 5 minutes after the next"
    );
    assert!(mock.douyin_client_token_app(&second).is_some());
    mock.advance(Duration::from_secs(7200));
    assert!(mock.douyin_client_token_app(&second).is_none(), "expired");

    let wrong = json!({"client_key": app.client_key, "client_secret": "x", "grant_type": "client_credential"});
    assert_dy_error(
        &post_json(mock.url(), "/oauth/client_token/", &wrong).await,
        10013,
    );
    let unknown = json!({"client_key": "awnobody00000000", "client_secret": "x", "grant_type": "client_credential"});
    assert_dy_error(
        &post_json(mock.url(), "/oauth/client_token/", &unknown).await,
        10003,
    );
    let missing = json!({"client_key": app.client_key, "grant_type": "client_credential"});
    assert_dy_error(
        &post_json(mock.url(), "/oauth/client_token/", &missing).await,
        10002,
    );

    // 500 calls in 5 minutes are allowed (two above are in another window now), the 501st not.
    for _ in 0..500 {
        assert_dy_ok(&post_json(mock.url(), "/oauth/client_token/", &body).await);
    }
    assert_dy_error(
        &post_json(mock.url(), "/oauth/client_token/", &body).await,
        10020,
    );
    mock.advance(Duration::from_secs(301));
    assert_dy_ok(&post_json(mock.url(), "/oauth/client_token/", &body).await);
}

#[tokio::test]
async fn the_mini_app_login_answers_openid_and_the_shared_union_id() {
    let mock = MockWechat::start().await.unwrap();
    let mini = mock.douyin_miniapp().clone();
    let resp = control(
        &mock,
        "/mock/sdk/code",
        &json!({"appid": mini.appid, "user": "alice"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let codes: Value = resp.json().await.unwrap();
    let code = codes["code"].as_str().unwrap();
    let anonymous = codes["anonymous_code"].as_str().unwrap();

    let ok = jscode2session(
        &mock,
        json!({"appid": mini.appid, "secret": mini.secret, "code": code}),
    )
    .await;
    assert_eq!(ok["err_no"], 0, "{ok}");
    assert_eq!(ok["err_tips"], "success");
    let alice = mock.user("alice").unwrap();
    assert_eq!(ok["data"]["openid"], alice.douyin_open_id_for(&mini.appid));
    assert_eq!(ok["data"]["unionid"], alice.douyin_union_id());
    assert_eq!(ok["data"]["session_key"].as_str().unwrap().len(), 24);
    assert_eq!(ok["data"]["anonymous_openid"], "");
    // Single use.
    let again = jscode2session(
        &mock,
        json!({"appid": mini.appid, "secret": mini.secret, "code": code}),
    )
    .await;
    assert_mini_error(&again, 40018);

    // The anonymous code alone: the anonymous_openid only.
    let anon = jscode2session(
        &mock,
        json!({"appid": mini.appid, "secret": mini.secret, "anonymous_code": anonymous}),
    )
    .await;
    assert_eq!(anon["err_no"], 0, "{anon}");
    assert_eq!(
        anon["data"]["anonymous_openid"],
        alice.douyin_anonymous_openid_for(&mini.appid)
    );
    assert_eq!(anon["data"]["openid"], "");
    let anon = jscode2session(
        &mock,
        json!({"appid": mini.appid, "secret": mini.secret, "anonymous_code": anonymous}),
    )
    .await;
    assert_mini_error(&anon, 40019);

    // The same person in the web app: another open_id, the same union_id.
    let app = mock.douyin_app().clone();
    let token = exchange(&mock, &app, &page_code(&mock, "alice").await).await;
    let web_open_id = token["data"]["open_id"].as_str().unwrap();
    assert_ne!(web_open_id, ok["data"]["openid"].as_str().unwrap());
    let info = userinfo(
        &mock,
        token["data"]["access_token"].as_str().unwrap(),
        web_open_id,
    )
    .await;
    assert_eq!(info["data"]["union_id"], ok["data"]["unionid"]);

    // Errors, in the mini-app shape.
    let code = mock.sdk_code(&mini.appid, "bob").unwrap();
    assert_mini_error(
        &jscode2session(
            &mock,
            json!({"appid": "ttnobody", "secret": mini.secret, "code": code}),
        )
        .await,
        40015,
    );
    assert_mini_error(
        &jscode2session(
            &mock,
            json!({"appid": mini.appid, "secret": "x", "code": code}),
        )
        .await,
        40017,
    );
    assert_mini_error(
        &jscode2session(
            &mock,
            json!({"appid": mini.appid, "secret": mini.secret, "code": "nope"}),
        )
        .await,
        40018,
    );
    assert_mini_error(
        &jscode2session(&mock, json!({"appid": mini.appid, "secret": mini.secret})).await,
        40018,
    );
    let get = http()
        .get(format!(
            "{}/api/apps/v2/jscode2session",
            mock.douyin_miniapp_base()
        ))
        .send()
        .await
        .unwrap();
    assert_mini_error(&answer(get).await, 40014);
    // A web code is no tt.login code, and a tt.login code no web code.
    let web_code = page_code(&mock, "bob").await;
    assert_mini_error(
        &jscode2session(
            &mock,
            json!({"appid": mini.appid, "secret": mini.secret, "code": web_code}),
        )
        .await,
        40018,
    );
    assert_dy_error(&exchange(&mock, &app, &code).await, 2100005);
    // Five minutes.
    mock.advance(Duration::from_secs(5 * 60 + 1));
    assert_mini_error(
        &jscode2session(
            &mock,
            json!({"appid": mini.appid, "secret": mini.secret, "code": code}),
        )
        .await,
        40018,
    );
    assert_eq!(mock.app_calls(&mini.appid, "api/apps/v2/jscode2session"), 9);
}

#[tokio::test]
async fn opensdk_codes_come_from_the_control_api() {
    let mock = MockWechat::start().await.unwrap();
    let app = mock.douyin_app().clone();
    let resp = control(
        &mock,
        "/mock/sdk/code",
        &json!({"appid": app.client_key, "user": "bob"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert!(body.get("anonymous_code").is_none());
    let token = exchange(&mock, &app, body["code"].as_str().unwrap()).await;
    assert_dy_ok(&token);
    assert_eq!(token["data"]["scope"], "user_info");
    assert_eq!(
        token["data"]["open_id"],
        mock.user("bob")
            .unwrap()
            .douyin_open_id_for(&app.client_key)
    );
    let resp = control(
        &mock,
        "/mock/sdk/code",
        &json!({"appid": app.client_key, "user": "nobody"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn faults_reach_every_douyin_endpoint_in_its_shape() {
    let mock = MockWechat::start().await.unwrap();
    let app = mock.douyin_app().clone();
    for code in [
        10008, 10010, 10020, 2100005, 2190008, 28001005, 28001007, 28001008, 28001012, 28001015,
        28001016, 28003018,
    ] {
        let resp = control(
            &mock,
            "/mock/faults",
            &json!({"endpoint": "oauth/userinfo/", "errcode": code}),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_dy_error(&userinfo(&mock, "act.x", "o").await, code);
    }
    control(
        &mock,
        "/mock/faults",
        &json!({"endpoint": "oauth/access_token/", "errcode": 10008}),
    )
    .await;
    let code = page_code(&mock, "alice").await;
    assert_dy_error(&exchange(&mock, &app, &code).await, 10008);
    assert_dy_ok(&exchange(&mock, &app, &code).await); // the fault did not use the code

    control(
        &mock,
        "/mock/faults",
        &json!({"endpoint": "api/apps/v2/jscode2session", "errcode": 40018}),
    )
    .await;
    assert_mini_error(&jscode2session(&mock, json!({})).await, 40018);

    control(
        &mock,
        "/mock/faults",
        &json!({"endpoint": "platform/oauth/connect/", "errcode": 28001016}),
    )
    .await;
    let url = connect_url(&mock, &app.client_key, "user_info", CALLBACK, "s");
    page_refuses(&MockWechat::approve_url(&url, "alice"), "28001016").await;

    control(
        &mock,
        "/mock/faults",
        &json!({"endpoint": "oauth/refresh_token/", "http_status": 502}),
    )
    .await;
    let resp = http()
        .post(format!("{}/oauth/refresh_token/", mock.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);

    let calls: Value = http()
        .get(format!("{}/mock/calls", mock.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls["oauth/userinfo/"], 12);
    assert_eq!(calls["oauth/access_token/"], 2);
    assert_eq!(calls["oauth/refresh_token/"], 1);
    assert_eq!(calls["api/apps/v2/jscode2session"], 1);
    let per_app: Value = http()
        .get(format!(
            "{}/mock/calls?appid={}",
            mock.url(),
            app.client_key
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(per_app["oauth/access_token/"], 2);
    assert_eq!(per_app["platform/oauth/connect/"], 2);
}

#[tokio::test]
async fn the_legacy_switch_gives_the_older_sample_shapes() {
    let mock = MockWechat::start().await.unwrap();
    let app = mock.douyin_app().clone();
    let resp = control(&mock, "/mock/douyin/legacy", &json!({"on": true})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let token = exchange(&mock, &app, &page_code(&mock, "bob").await).await;
    assert_eq!(token["data"]["error_code"], "0");
    assert_eq!(token["data"]["expires_in"], "1296000");
    assert_eq!(token["data"]["refresh_expires_in"], "2592000");
    let info = userinfo(
        &mock,
        token["data"]["access_token"].as_str().unwrap(),
        token["data"]["open_id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(info["data"]["error_code"], "0");
    assert_eq!(info["data"]["gender"], 0);
    assert_eq!(info["data"]["city"], "");
    // Errors keep their numbers.
    assert_dy_error(&exchange(&mock, &app, "nope").await, 2100005);
    mock.set_douyin_legacy_shapes(false);
    let token = exchange(&mock, &app, &page_code(&mock, "bob").await).await;
    assert_eq!(token["data"]["error_code"], 0);
}
