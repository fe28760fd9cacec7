//! The mock's WeChat side over real sockets, with raw HTTP (reqwest): the browser pages and
//! the `sns/*` endpoints, checked against the protocol document.

use std::time::Duration;

use reqwest::{Client, StatusCode, redirect::Policy};
use serde_json::Value;
use wechat_auth_mock::{AppKind, MockApp, MockConfig, MockWechat};

const CALLBACK: &str = "http://127.0.0.1:3000/auth/wechat/callback";

thread_local! {
    // One client per test thread (each #[tokio::test] has its own thread and runtime):
    // building a client loads TLS roots, which is slow.
    static HTTP: Client = Client::builder().redirect(Policy::none()).build().unwrap();
}

fn http() -> Client {
    HTTP.with(Client::clone)
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn qrconnect_url(mock: &MockWechat, appid: &str, redirect: &str, state: &str) -> String {
    format!(
        "{}/connect/qrconnect?appid={appid}&redirect_uri={}&response_type=code&scope=snsapi_login&state={state}#wechat_redirect",
        mock.open_base(),
        enc(redirect)
    )
}

fn authorize_url(
    mock: &MockWechat,
    appid: &str,
    redirect: &str,
    scope: &str,
    state: &str,
) -> String {
    format!(
        "{}/connect/oauth2/authorize?appid={appid}&redirect_uri={}&response_type=code&scope={scope}&state={state}#wechat_redirect",
        mock.open_base(),
        enc(redirect)
    )
}

/// GETs `url` expecting a 302 and returns the Location as a parsed URL.
async fn location(url: &str) -> url::Url {
    let resp = http().get(url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND, "{url}");
    let loc = resp.headers()["location"].to_str().unwrap();
    url::Url::parse(loc).unwrap()
}

fn query(url: &url::Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

async fn approve(url: &str, user: &str) -> String {
    let back = location(&MockWechat::approve_url(url, user)).await;
    query(&back, "code").expect("approve gives a code")
}

async fn get_json(url: &str, q: &[(&str, &str)]) -> Value {
    let resp = http().get(url).query(q).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

async fn exchange(mock: &MockWechat, app: &MockApp, code: &str) -> Value {
    get_json(
        &format!("{}/sns/oauth2/access_token", mock.api_base()),
        &[
            ("appid", &app.appid),
            ("secret", &app.secret),
            ("code", code),
            ("grant_type", "authorization_code"),
        ],
    )
    .await
}

async fn userinfo(mock: &MockWechat, token: &str, openid: &str) -> Value {
    get_json(
        &format!("{}/sns/userinfo", mock.api_base()),
        &[
            ("access_token", token),
            ("openid", openid),
            ("lang", "zh_CN"),
        ],
    )
    .await
}

async fn refresh(mock: &MockWechat, appid: &str, refresh_token: &str) -> Value {
    get_json(
        &format!("{}/sns/oauth2/refresh_token", mock.api_base()),
        &[
            ("appid", appid),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

async fn jscode2session(mock: &MockWechat, appid: &str, secret: &str, code: &str) -> Value {
    get_json(
        &format!("{}/sns/jscode2session", mock.api_base()),
        &[
            ("appid", appid),
            ("secret", secret),
            ("js_code", code),
            ("grant_type", "authorization_code"),
        ],
    )
    .await
}

async fn website_login(mock: &MockWechat, user: &str) -> Value {
    let site = mock.website();
    let code = approve(&qrconnect_url(mock, &site.appid, CALLBACK, "s"), user).await;
    exchange(mock, site, &code).await
}

async fn oa_login(mock: &MockWechat, user: &str, scope: &str) -> Value {
    let oa = mock.official_account();
    let code = approve(&authorize_url(mock, &oa.appid, CALLBACK, scope, "s"), user).await;
    exchange(mock, oa, &code).await
}

fn errcode(v: &Value) -> i64 {
    v["errcode"].as_i64().unwrap_or(0)
}

fn assert_id_shape(id: &str) {
    assert_eq!(id.len(), 28, "{id}");
    assert!(id.starts_with('o'), "{id}");
    assert!(
        id.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        "{id}"
    );
}

/// The error page the mock shows, as (HTTP status, x-mock-error, body).
async fn page(url: &str) -> (StatusCode, String, String) {
    let resp = http().get(url).send().await.unwrap();
    let status = resp.status();
    assert!(
        resp.headers().get("location").is_none(),
        "no redirect: {url}"
    );
    let tag = resp
        .headers()
        .get("x-mock-error")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, tag, resp.text().await.unwrap())
}

// ---------------------------------------------------------------- pages

#[tokio::test]
async fn consent_pages_offer_a_button_per_user_and_deny() {
    let mock = MockWechat::start().await.unwrap();
    let site = mock.website();
    let (status, tag, html) = page(&qrconnect_url(&mock, &site.appid, CALLBACK, "abc")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tag, "");
    for user in ["alice", "bob", "carol"] {
        assert!(
            html.contains(&format!("mock_user={user}&amp;mock_action=approve")),
            "{html}"
        );
    }
    assert!(html.contains("爱丽丝"));
    assert!(html.contains("mock_action=deny"));
    assert!(!html.contains("mock_action=snapshot"));

    // The OA snsapi_userinfo page also offers snapshot mode; the snsapi_base one does not.
    let oa = mock.official_account();
    let (_, _, html) = page(&authorize_url(
        &mock,
        &oa.appid,
        CALLBACK,
        "snsapi_userinfo",
        "x",
    ))
    .await;
    assert!(html.contains("mock_user=bob&amp;mock_action=snapshot"));
    let (_, _, html) = page(&authorize_url(
        &mock,
        &oa.appid,
        CALLBACK,
        "snsapi_base",
        "x",
    ))
    .await;
    assert!(html.contains("mock_user=bob&amp;mock_action=approve"));
    assert!(!html.contains("mock_action=snapshot"));
}

#[tokio::test]
async fn the_buttons_on_the_page_work() {
    let mock = MockWechat::start().await.unwrap();
    let url = qrconnect_url(&mock, &mock.website().appid, CALLBACK, "st8");
    let (_, _, html) = page(&url).await;
    let href = html
        .split("href=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().replace("&amp;", "&"))
        .find(|h| h.contains("mock_user=bob"))
        .unwrap();
    assert!(href.starts_with("/connect/qrconnect?appid="), "{href}");
    let back = location(&format!("{}{href}", mock.url())).await;
    assert_eq!(query(&back, "state").as_deref(), Some("st8"));
    let code = query(&back, "code").unwrap();
    let token = exchange(&mock, mock.website(), &code).await;
    assert_eq!(
        token["openid"],
        mock.user("bob").unwrap().openid_for(&mock.website().appid)
    );
}

#[tokio::test]
async fn approve_redirects_with_code_and_state() {
    let mock = MockWechat::start().await.unwrap();
    let site = mock.website();
    let back = location(&MockWechat::approve_url(
        &qrconnect_url(&mock, &site.appid, CALLBACK, "Xy9"),
        "alice",
    ))
    .await;
    assert_eq!(
        format!(
            "{}://{}{}",
            back.scheme(),
            back.host_str().unwrap(),
            back.path()
        ),
        "http://127.0.0.1/auth/wechat/callback"
    );
    assert_eq!(back.port(), Some(3000));
    let code = query(&back, "code").unwrap();
    assert_eq!(code.len(), 32);
    assert!(code.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(query(&back, "state").as_deref(), Some("Xy9"));
    let keys: Vec<_> = back.query_pairs().map(|(k, _)| k.into_owned()).collect();
    assert_eq!(keys, ["code", "state"]);

    // A redirect_uri with its own query gets `&code=…&state=…` appended.
    let back = location(&MockWechat::approve_url(
        &qrconnect_url(
            &mock,
            &site.appid,
            "http://localhost:8080/cb?next=%2Fhome",
            "Z",
        ),
        "alice",
    ))
    .await;
    assert!(
        back.as_str()
            .starts_with("http://localhost:8080/cb?next=%2Fhome&code="),
        "{back}"
    );
    assert_eq!(query(&back, "next").as_deref(), Some("/home"));
    assert_eq!(query(&back, "state").as_deref(), Some("Z"));

    // Each approval mints a fresh code.
    let a = approve(&qrconnect_url(&mock, &site.appid, CALLBACK, "s"), "alice").await;
    let b = approve(&qrconnect_url(&mock, &site.appid, CALLBACK, "s"), "alice").await;
    assert_ne!(a, b);
}

#[tokio::test]
async fn deny_redirects_with_state_only_or_stays_on_a_page() {
    let mock = MockWechat::start().await.unwrap();
    let back = location(&MockWechat::deny_url(&qrconnect_url(
        &mock,
        &mock.website().appid,
        CALLBACK,
        "deny1",
    )))
    .await;
    assert_eq!(query(&back, "code"), None);
    assert_eq!(query(&back, "state").as_deref(), Some("deny1"));

    let oa = mock.official_account();
    let back = location(&MockWechat::deny_url(&authorize_url(
        &mock,
        &oa.appid,
        CALLBACK,
        "snsapi_userinfo",
        "deny2",
    )))
    .await;
    assert_eq!(query(&back, "code"), None);
    assert_eq!(query(&back, "state").as_deref(), Some("deny2"));

    // The current website doc: a refusal redirects nowhere.
    let quiet = MockWechat::start_with(MockConfig::default().website_deny_redirects(false))
        .await
        .unwrap();
    let (status, _, html) = page(&MockWechat::deny_url(&qrconnect_url(
        &quiet,
        &quiet.website().appid,
        CALLBACK,
        "d",
    )))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("取消"), "{html}");
}

#[tokio::test]
async fn snapshot_codes_yield_virtual_users() {
    let mock = MockWechat::start().await.unwrap();
    let oa = mock.official_account();
    let alice = mock.user("alice").unwrap();
    let url = authorize_url(&mock, &oa.appid, CALLBACK, "snsapi_userinfo", "snap");
    let back = location(&MockWechat::snapshot_url(&url, "alice")).await;
    assert_eq!(query(&back, "state").as_deref(), Some("snap"));
    let token = exchange(&mock, oa, &query(&back, "code").unwrap()).await;
    assert_eq!(token["is_snapshotuser"], 1);
    assert_eq!(token["scope"], "snsapi_userinfo");
    let openid = token["openid"].as_str().unwrap();
    assert_id_shape(openid);
    assert_ne!(openid, alice.openid_for(&oa.appid));
    let unionid = token["unionid"].as_str().unwrap();
    assert_id_shape(unionid);
    assert_ne!(unionid, alice.unionid);
    let info = userinfo(&mock, token["access_token"].as_str().unwrap(), openid).await;
    assert_eq!(info["nickname"], "微信用户");
    assert_eq!(info["openid"], openid);

    // A normal approval has no is_snapshotuser field.
    let normal = oa_login(&mock, "alice", "snsapi_userinfo").await;
    assert!(normal.get("is_snapshotuser").is_none());

    // Snapshot is for OA snsapi_userinfo only.
    let base = authorize_url(&mock, &oa.appid, CALLBACK, "snsapi_base", "x");
    let (status, _, _) = page(&MockWechat::snapshot_url(&base, "alice")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let site = qrconnect_url(&mock, &mock.website().appid, CALLBACK, "x");
    let (status, _, _) = page(&MockWechat::snapshot_url(&site, "alice")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn mock_params_are_checked() {
    let mock = MockWechat::start().await.unwrap();
    let url = qrconnect_url(&mock, &mock.website().appid, CALLBACK, "x");
    let (status, tag, html) = page(&MockWechat::approve_url(&url, "mallory")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(tag, "mock_param");
    assert!(html.contains("alice"));
    let (status, _, _) = page(&format!(
        "{}&mock_action=approve",
        url.split('#').next().unwrap()
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = page(&format!(
        "{}&mock_user=alice&mock_action=explode",
        url.split('#').next().unwrap()
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // mock_user alone means approve.
    let back = location(&format!(
        "{}&mock_user=carol",
        url.split('#').next().unwrap()
    ))
    .await;
    assert!(query(&back, "code").is_some());
}

#[tokio::test]
async fn open_platform_appid_on_the_oa_page_is_10016() {
    let mock = MockWechat::start().await.unwrap();
    for app in [mock.website(), mock.mobile()] {
        let (status, tag, html) = page(&authorize_url(
            &mock,
            &app.appid,
            CALLBACK,
            "snsapi_base",
            "x",
        ))
        .await;
        assert_eq!(status, StatusCode::OK, "WeChat's error pages are HTTP 200");
        assert_eq!(tag, "10016");
        assert!(html.contains("10016"));
    }
    // …and an OA or mini program appid on the website page is a scope error.
    for app in [mock.official_account(), mock.mini_program()] {
        let (_, tag, html) = page(&qrconnect_url(&mock, &app.appid, CALLBACK, "x")).await;
        assert_eq!(tag, "scope");
        assert!(html.contains("Scope 参数错误或没有 Scope 权限"));
    }
    let (_, tag, _) = page(&qrconnect_url(&mock, "wx_unknown", CALLBACK, "x")).await;
    assert_eq!(tag, "invalid_appid");
    let (_, tag, _) = page(&authorize_url(
        &mock,
        "wx_unknown",
        CALLBACK,
        "snsapi_base",
        "x",
    ))
    .await;
    assert_eq!(tag, "invalid_appid");
}

#[tokio::test]
async fn redirect_uri_must_be_on_an_allowed_domain() {
    let mock = MockWechat::start().await.unwrap();
    let site = mock.website().appid.clone();
    let oa = mock.official_account().appid.clone();
    for bad in [
        "http://evil.example.com/cb",
        "http://127.0.0.1.evil.example.com/cb",
        "http://sub.localhost/cb",
        "ftp://127.0.0.1/cb",
        "not a url",
    ] {
        let (status, tag, html) = page(&qrconnect_url(&mock, &site, bad, "x")).await;
        assert_eq!((status, tag.as_str()), (StatusCode::OK, "10003"), "{bad}");
        assert!(html.contains("redirect_uri 参数错误"));
        let (_, tag, _) = page(&authorize_url(&mock, &oa, bad, "snsapi_base", "x")).await;
        assert_eq!(tag, "10003", "{bad}");
    }
    // Host compared without port; localhost allowed by default.
    for good in [
        "http://127.0.0.1:9999/x",
        "https://localhost/y",
        "http://LOCALHOST:1/z",
    ] {
        approve(&qrconnect_url(&mock, &site, good, "x"), "alice").await;
        approve(
            &authorize_url(&mock, &oa, good, "snsapi_base", "x"),
            "alice",
        )
        .await;
    }
    // Changed at run time.
    mock.set_redirect_domains(&site, vec!["app.example.com:443".into()])
        .unwrap();
    assert_eq!(mock.redirect_domains(&site), ["app.example.com"]);
    let back = location(&MockWechat::approve_url(
        &qrconnect_url(&mock, &site, "https://app.example.com/cb", "x"),
        "alice",
    ))
    .await;
    assert_eq!(back.host_str(), Some("app.example.com"));
    let (_, tag, _) = page(&qrconnect_url(&mock, &site, CALLBACK, "x")).await;
    assert_eq!(tag, "10003");
    // Other apps keep theirs.
    approve(
        &authorize_url(&mock, &oa, CALLBACK, "snsapi_base", "x"),
        "alice",
    )
    .await;
    assert!(mock.set_redirect_domains("wx_nope", vec![]).is_err());
}

#[tokio::test]
async fn oa_page_enforces_parameter_order() {
    let mock = MockWechat::start().await.unwrap();
    let oa = &mock.official_account().appid;
    let r = enc(CALLBACK);
    let base = format!("{}/connect/oauth2/authorize?", mock.open_base());
    let bad = [
        format!("redirect_uri={r}&appid={oa}&response_type=code&scope=snsapi_base&state=a"),
        format!("appid={oa}&redirect_uri={r}&scope=snsapi_base&response_type=code&state=a"),
        format!("appid={oa}&redirect_uri={r}&response_type=code&state=a&scope=snsapi_base"),
        format!(
            "appid={oa}&redirect_uri={r}&response_type=code&scope=snsapi_base&forcePopup=true&state=a"
        ),
        format!("lang=cn&appid={oa}&redirect_uri={r}&response_type=code&scope=snsapi_base&state=a"),
    ];
    for q in &bad {
        let (_, tag, html) = page(&format!("{base}{q}#wechat_redirect")).await;
        assert_eq!(tag, "param_order", "{q}");
        assert!(html.contains("appid, redirect_uri, response_type, scope, state"));
    }
    let good = [
        format!("appid={oa}&redirect_uri={r}&response_type=code&scope=snsapi_base&state=a"),
        format!("appid={oa}&redirect_uri={r}&response_type=code&scope=snsapi_base"),
        format!(
            "appid={oa}&redirect_uri={r}&response_type=code&scope=snsapi_userinfo&state=a&forcePopup=true&forceSnapShot=false"
        ),
    ];
    for q in &good {
        approve(&format!("{base}{q}#wechat_redirect"), "bob").await;
    }
    // The website page has no documented order rule.
    let site = &mock.website().appid;
    let shuffled = format!(
        "{}/connect/qrconnect?scope=snsapi_login&appid={site}&state=q&response_type=code&redirect_uri={r}",
        mock.open_base()
    );
    approve(&shuffled, "bob").await;
}

#[tokio::test]
async fn state_must_be_alphanumeric_and_at_most_128_bytes() {
    let mock = MockWechat::start().await.unwrap();
    let site = &mock.website().appid;
    let oa = &mock.official_account().appid;
    for bad in ["a-b", "a_b", "%E4%BD%A0", "a%20b", &"a".repeat(129)] {
        let (_, tag, _) = page(&qrconnect_url(&mock, site, CALLBACK, bad)).await;
        assert_eq!(tag, "state", "{bad}");
        let (_, tag, _) = page(&authorize_url(&mock, oa, CALLBACK, "snsapi_base", bad)).await;
        assert_eq!(tag, "state", "{bad}");
    }
    let long = "Ab9".repeat(42) + "xy"; // 128
    let back = location(&MockWechat::approve_url(
        &qrconnect_url(&mock, site, CALLBACK, &long),
        "alice",
    ))
    .await;
    assert_eq!(query(&back, "state").as_deref(), Some(long.as_str()));
    // Empty state is allowed and echoed empty.
    let back = location(&MockWechat::approve_url(
        &qrconnect_url(&mock, site, CALLBACK, ""),
        "alice",
    ))
    .await;
    assert_eq!(query(&back, "state").as_deref(), Some(""));
}

#[tokio::test]
async fn scope_and_other_page_errors() {
    let mock = MockWechat::start().await.unwrap();
    let site = &mock.website().appid;
    let oa = &mock.official_account().appid;
    let r = enc(CALLBACK);
    let open = mock.open_base();
    let cases = [
        // (url, expected x-mock-error)
        (
            format!(
                "{open}/connect/qrconnect?appid={site}&redirect_uri={r}&response_type=code&scope=snsapi_userinfo&state=a"
            ),
            "scope",
        ),
        (
            format!(
                "{open}/connect/qrconnect?appid={site}&redirect_uri={r}&response_type=code&state=a"
            ),
            "scope_missing",
        ),
        (
            format!(
                "{open}/connect/qrconnect?appid={site}&redirect_uri={r}&response_type=token&scope=snsapi_login"
            ),
            "response_type",
        ),
        (
            format!("{open}/connect/qrconnect?appid={site}&response_type=code&scope=snsapi_login"),
            "redirect_uri_missing",
        ),
        (
            format!(
                "{open}/connect/qrconnect?redirect_uri={r}&response_type=code&scope=snsapi_login"
            ),
            "appid_missing",
        ),
        (
            format!(
                "{open}/connect/oauth2/authorize?appid={oa}&redirect_uri={r}&response_type=code&scope=snsapi_login&state=a"
            ),
            "10005",
        ),
        (
            format!(
                "{open}/connect/oauth2/authorize?appid={oa}&redirect_uri={r}&response_type=code&scope=snsapi_base,snsapi_userinfo&state=a"
            ),
            "10005",
        ),
        (
            format!(
                "{open}/connect/oauth2/authorize?appid={oa}&redirect_uri={r}&response_type=code&state=a"
            ),
            "10010",
        ),
        (
            format!(
                "{open}/connect/oauth2/authorize?appid={oa}&response_type=code&scope=snsapi_base"
            ),
            "10011",
        ),
        (
            format!(
                "{open}/connect/oauth2/authorize?redirect_uri={r}&response_type=code&scope=snsapi_base"
            ),
            "10012",
        ),
    ];
    for (url, want) in &cases {
        let (status, tag, html) = page(url).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        assert_eq!(tag, *want, "{url}");
        assert!(html.starts_with("<!DOCTYPE html>"));
    }
    // The pages are GET only.
    let resp = http()
        .post(format!("{open}/connect/qrconnect"))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errcode"], 43001);
}

// ---------------------------------------------------------------- sns/oauth2/access_token

#[tokio::test]
async fn website_exchange_returns_the_documented_fields() {
    let mock = MockWechat::start().await.unwrap();
    let site = mock.website();
    let alice = mock.user("alice").unwrap();
    let t = website_login(&mock, "alice").await;
    assert!(t.get("errcode").is_none(), "{t}");
    let access = t["access_token"].as_str().unwrap();
    let (prefix, tail) = access.split_once('_').unwrap();
    assert!(prefix.chars().all(|c| c.is_ascii_digit()) && tail.len() > 100);
    assert_eq!(t["expires_in"], 7200);
    assert!(t["refresh_token"].as_str().unwrap().len() > 100);
    assert_eq!(t["openid"], alice.openid_for(&site.appid));
    assert_eq!(t["scope"], "snsapi_login");
    assert_eq!(t["unionid"], alice.unionid);
    assert!(t.get("is_snapshotuser").is_none());
}

#[tokio::test]
async fn unionid_is_shared_across_apps_and_openids_are_not() {
    let mock = MockWechat::start().await.unwrap();
    let alice = mock.user("alice").unwrap();
    let web = website_login(&mock, "alice").await;
    let oa = oa_login(&mock, "alice", "snsapi_userinfo").await;
    let mobile = exchange(
        &mock,
        mock.mobile(),
        &mock.sdk_code(&mock.mobile().appid, "alice").unwrap(),
    )
    .await;
    let mini = mock.mini_program();
    let session = jscode2session(
        &mock,
        &mini.appid,
        &mini.secret,
        &mock.sdk_code(&mini.appid, "alice").unwrap(),
    )
    .await;
    let mut openids = Vec::new();
    for v in [&web, &oa, &mobile, &session] {
        assert_eq!(v["unionid"], alice.unionid, "{v}");
        let openid = v["openid"].as_str().unwrap().to_owned();
        assert_id_shape(&openid);
        openids.push(openid);
    }
    assert_id_shape(&alice.unionid);
    openids.sort();
    openids.dedup();
    assert_eq!(openids.len(), 4, "one openid per appid");
    assert_eq!(mobile["scope"], "snsapi_userinfo");
    // Another user, another unionid.
    let bob = website_login(&mock, "bob").await;
    assert_ne!(bob["unionid"], web["unionid"]);
    assert_ne!(bob["openid"], web["openid"]);
}

#[tokio::test]
async fn identifiers_are_stable_across_restarts() {
    let a = MockWechat::start().await.unwrap();
    let b = MockWechat::start().await.unwrap();
    let ta = website_login(&a, "carol").await;
    let tb = website_login(&b, "carol").await;
    assert_eq!(ta["openid"], tb["openid"]);
    assert_eq!(ta["unionid"], tb["unionid"]);
    assert_ne!(ta["access_token"], tb["access_token"]);
}

#[tokio::test]
async fn snsapi_base_gives_no_unionid_and_no_userinfo() {
    let mock = MockWechat::start().await.unwrap();
    let t = oa_login(&mock, "bob", "snsapi_base").await;
    assert_eq!(t["scope"], "snsapi_base");
    assert!(t.get("unionid").is_none(), "{t}");
    let token = t["access_token"].as_str().unwrap();
    let openid = t["openid"].as_str().unwrap();
    let info = userinfo(&mock, token, openid).await;
    assert_eq!(errcode(&info), 48001);
    assert!(
        info["errmsg"]
            .as_str()
            .unwrap()
            .starts_with("api unauthorized, rid: ")
    );
    // The token itself is fine.
    let ok = get_json(
        &format!("{}/sns/auth", mock.api_base()),
        &[("access_token", token), ("openid", openid)],
    )
    .await;
    assert_eq!(ok, serde_json::json!({"errcode": 0, "errmsg": "ok"}));
}

#[tokio::test]
async fn codes_are_single_use() {
    let mock = MockWechat::start().await.unwrap();
    let site = mock.website();
    let code = approve(&qrconnect_url(&mock, &site.appid, CALLBACK, "s"), "alice").await;
    assert!(exchange(&mock, site, &code).await.get("openid").is_some());
    let again = exchange(&mock, site, &code).await;
    assert_eq!(errcode(&again), 40163);
    assert!(
        again["errmsg"]
            .as_str()
            .unwrap()
            .starts_with("code been used, rid: ")
    );
    // Still 40163 after its lifetime: used wins over expired.
    mock.advance(Duration::from_secs(3600));
    assert_eq!(errcode(&exchange(&mock, site, &code).await), 40163);
}

#[tokio::test]
async fn codes_expire_on_the_mock_clock() {
    let mock = MockWechat::start().await.unwrap();
    let site = mock.website();
    let oa = mock.official_account();
    let web_code = approve(&qrconnect_url(&mock, &site.appid, CALLBACK, "s"), "alice").await;
    let web_code2 = approve(&qrconnect_url(&mock, &site.appid, CALLBACK, "s"), "alice").await;
    let oa_code = approve(
        &authorize_url(&mock, &oa.appid, CALLBACK, "snsapi_base", "s"),
        "alice",
    )
    .await;
    let oa_code2 = approve(
        &authorize_url(&mock, &oa.appid, CALLBACK, "snsapi_base", "s"),
        "alice",
    )
    .await;
    let app_code = mock.sdk_code(&mock.mobile().appid, "alice").unwrap();

    mock.advance(Duration::from_secs(290));
    assert!(exchange(&mock, oa, &oa_code).await.get("openid").is_some());
    mock.advance(Duration::from_secs(11)); // 301 s: OA codes (5 min) are dead
    let late = exchange(&mock, oa, &oa_code2).await;
    assert_eq!(errcode(&late), 42003);
    assert!(late["errmsg"].as_str().unwrap().starts_with("code expired"));
    // Website codes live 10 minutes.
    assert!(
        exchange(&mock, site, &web_code)
            .await
            .get("openid")
            .is_some()
    );
    mock.advance(Duration::from_secs(300)); // 601 s
    assert_eq!(errcode(&exchange(&mock, site, &web_code2).await), 42003);
    assert_eq!(
        errcode(&exchange(&mock, mock.mobile(), &app_code).await),
        42003
    );
}

#[tokio::test]
async fn mobile_codes_live_ten_minutes() {
    let mock = MockWechat::start().await.unwrap();
    let mobile = mock.mobile();
    let code = mock.sdk_code(&mobile.appid, "bob").unwrap();
    mock.advance(Duration::from_secs(599));
    let t = exchange(&mock, mobile, &code).await;
    assert_eq!(
        t["openid"],
        mock.user("bob").unwrap().openid_for(&mobile.appid)
    );
}

#[tokio::test]
async fn codes_are_bound_to_their_appid() {
    let mock = MockWechat::start().await.unwrap();
    let site = mock.website();
    let code = approve(&qrconnect_url(&mock, &site.appid, CALLBACK, "s"), "alice").await;
    for other in [mock.mobile(), mock.official_account(), mock.mini_program()] {
        let wrong = exchange(&mock, other, &code).await;
        assert_eq!(errcode(&wrong), 40029, "{}", other.appid);
    }
    // Not consumed by the failed attempts.
    assert!(exchange(&mock, site, &code).await.get("openid").is_some());
    // Garbage codes.
    for junk in ["x", "00000000000000000000000000000000", "' OR 1=1 --"] {
        assert_eq!(errcode(&exchange(&mock, site, junk).await), 40029);
    }
    // A mini program js_code is not an OAuth code.
    let mini = mock.mini_program();
    let js = mock.sdk_code(&mini.appid, "alice").unwrap();
    assert_eq!(errcode(&exchange(&mock, mini, &js).await), 40029);
}

#[tokio::test]
async fn exchange_rejects_bad_credentials_and_missing_params() {
    let mock = MockWechat::start().await.unwrap();
    let site = mock.website();
    let code = approve(&qrconnect_url(&mock, &site.appid, CALLBACK, "s"), "alice").await;
    let url = format!("{}/sns/oauth2/access_token", mock.api_base());
    let bad_secret = "0".repeat(32);
    let cases: [(&[(&str, &str)], i64); 8] = [
        (
            &[
                ("appid", &site.appid),
                ("secret", &bad_secret),
                ("code", &code),
                ("grant_type", "authorization_code"),
            ],
            40125,
        ),
        (
            &[
                ("appid", "wx9999999999999999"),
                ("secret", &site.secret),
                ("code", &code),
                ("grant_type", "authorization_code"),
            ],
            40013,
        ),
        (
            &[
                ("secret", &site.secret),
                ("code", &code),
                ("grant_type", "authorization_code"),
            ],
            41002,
        ),
        (
            &[
                ("appid", &site.appid),
                ("code", &code),
                ("grant_type", "authorization_code"),
            ],
            41004,
        ),
        (
            &[
                ("appid", &site.appid),
                ("secret", &site.secret),
                ("grant_type", "authorization_code"),
            ],
            41008,
        ),
        (
            &[
                ("appid", &site.appid),
                ("secret", &site.secret),
                ("code", &code),
            ],
            40002,
        ),
        (
            &[
                ("appid", &site.appid),
                ("secret", &site.secret),
                ("code", &code),
                ("grant_type", "client_credential"),
            ],
            40002,
        ),
        (
            &[
                ("appid", ""),
                ("secret", &site.secret),
                ("code", &code),
                ("grant_type", "authorization_code"),
            ],
            41002,
        ),
    ];
    for (q, want) in cases {
        let body = get_json(&url, q).await;
        assert_eq!(errcode(&body), want, "{q:?}");
        let msg = body["errmsg"].as_str().unwrap();
        let rid = msg.rsplit_once("rid: ").unwrap().1;
        assert_eq!(rid.len(), 26, "{msg}");
    }
    // None of that consumed the code.
    assert!(exchange(&mock, site, &code).await.get("openid").is_some());
    // Wrong method.
    let resp = http().post(&url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(errcode(&resp.json().await.unwrap()), 43001);
}

#[tokio::test]
async fn concurrent_exchanges_of_one_code_succeed_once() {
    let mock = MockWechat::start().await.unwrap();
    let site = mock.website().clone();
    let code = approve(&qrconnect_url(&mock, &site.appid, CALLBACK, "s"), "alice").await;
    let url = format!("{}/sns/oauth2/access_token", mock.api_base());
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (url, site, code) = (url.clone(), site.clone(), code.clone());
            tokio::spawn(async move {
                get_json(
                    &url,
                    &[
                        ("appid", &site.appid),
                        ("secret", &site.secret),
                        ("code", &code),
                        ("grant_type", "authorization_code"),
                    ],
                )
                .await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        let v = t.await.unwrap();
        match errcode(&v) {
            0 => ok += 1,
            40163 => {}
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert_eq!(ok, 1);
}

// ---------------------------------------------------------------- refresh

#[tokio::test]
async fn refresh_keeps_a_valid_token_and_replaces_an_expired_one() {
    let mock = MockWechat::start().await.unwrap();
    let site = mock.website();
    let t = website_login(&mock, "alice").await;
    let access = t["access_token"].as_str().unwrap().to_owned();
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    let openid = t["openid"].as_str().unwrap().to_owned();

    mock.advance(Duration::from_secs(7000));
    let r = refresh(&mock, &site.appid, &rt).await;
    assert_eq!(
        r["access_token"],
        access.as_str(),
        "still valid: same token"
    );
    assert_eq!(r["expires_in"], 7200);
    assert_eq!(r["refresh_token"], rt.as_str());
    assert_eq!(r["openid"], openid.as_str());
    assert_eq!(r["scope"], "snsapi_login");
    // Its expiry moved: 7000 s later it still works (it would have died at 7200 s).
    mock.advance(Duration::from_secs(7000));
    assert_eq!(
        userinfo(&mock, &access, &openid).await["openid"],
        openid.as_str()
    );

    mock.advance(Duration::from_secs(201));
    assert_eq!(errcode(&userinfo(&mock, &access, &openid).await), 42001);
    let r = refresh(&mock, &site.appid, &rt).await;
    let fresh = r["access_token"].as_str().unwrap();
    assert_ne!(fresh, access, "expired: a new token");
    assert_eq!(
        userinfo(&mock, fresh, &openid).await["openid"],
        openid.as_str()
    );
    assert_ne!(errcode(&userinfo(&mock, &access, &openid).await), 0);
}

#[tokio::test]
async fn refresh_tokens_die_after_their_lifetime() {
    let mock = MockWechat::start().await.unwrap();
    let site = mock.website();
    let t = website_login(&mock, "bob").await;
    let rt = t["refresh_token"].as_str().unwrap();
    mock.advance(Duration::from_secs(29 * 24 * 3600));
    assert!(
        refresh(&mock, &site.appid, rt)
            .await
            .get("access_token")
            .is_some()
    );
    mock.advance(Duration::from_secs(24 * 3600 + 1));
    assert_eq!(errcode(&refresh(&mock, &site.appid, rt).await), 42002);

    let short =
        MockWechat::start_with(MockConfig::default().refresh_token_ttl(Duration::from_secs(3600)))
            .await
            .unwrap();
    let t = website_login(&short, "bob").await;
    let rt = t["refresh_token"].as_str().unwrap();
    short.advance(Duration::from_secs(3599));
    assert!(
        refresh(&short, &site.appid, rt)
            .await
            .get("access_token")
            .is_some()
    );
    short.advance(Duration::from_secs(2));
    assert_eq!(errcode(&refresh(&short, &site.appid, rt).await), 42002);
}

#[tokio::test]
async fn refresh_errors() {
    let mock = MockWechat::start().await.unwrap();
    let site = mock.website();
    let t = website_login(&mock, "alice").await;
    let rt = t["refresh_token"].as_str().unwrap();
    assert_eq!(
        errcode(&refresh(&mock, &site.appid, "86_nope").await),
        40030
    );
    assert_eq!(
        errcode(&refresh(&mock, &mock.mobile().appid, rt).await),
        40030
    );
    assert_eq!(errcode(&refresh(&mock, "wx_nope", rt).await), 40013);
    let url = format!("{}/sns/oauth2/refresh_token", mock.api_base());
    let q: &[(&str, &str)] = &[("appid", &site.appid), ("grant_type", "refresh_token")];
    assert_eq!(errcode(&get_json(&url, q).await), 41003);
    let q: &[(&str, &str)] = &[("appid", &site.appid), ("refresh_token", rt)];
    assert_eq!(errcode(&get_json(&url, q).await), 40002);
    let q: &[(&str, &str)] = &[("grant_type", "refresh_token"), ("refresh_token", rt)];
    assert_eq!(errcode(&get_json(&url, q).await), 41002);
}

// ---------------------------------------------------------------- userinfo, auth

#[tokio::test]
async fn userinfo_has_the_post_2021_shape() {
    let mock = MockWechat::start().await.unwrap();
    let alice = mock.user("alice").unwrap();
    for t in [
        oa_login(&mock, "alice", "snsapi_userinfo").await,
        website_login(&mock, "alice").await,
    ] {
        let token = t["access_token"].as_str().unwrap();
        let openid = t["openid"].as_str().unwrap();
        for lang in ["zh_CN", "zh_TW", "en"] {
            let info = get_json(
                &format!("{}/sns/userinfo", mock.api_base()),
                &[("access_token", token), ("openid", openid), ("lang", lang)],
            )
            .await;
            assert_eq!(info["openid"], openid);
            assert_eq!(info["nickname"], "爱丽丝");
            assert_eq!(info["sex"], 0);
            assert_eq!(info["province"], "");
            assert_eq!(info["city"], "");
            assert_eq!(info["country"], "");
            assert_eq!(info["privilege"], serde_json::json!([]));
            assert_eq!(info["unionid"], alice.unionid);
            let avatar = info["headimgurl"].as_str().unwrap();
            assert!(avatar.ends_with("/132"), "{avatar}");
            assert_eq!(avatar, alice.headimgurl);
        }
    }
    // The avatar URL is served (offline-friendly) in the documented sizes.
    let resp = reqwest::get(&alice.headimgurl).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "image/png");
    let big = alice.headimgurl.replace("/132", "/0");
    let img =
        image::load_from_memory(&reqwest::get(&big).await.unwrap().bytes().await.unwrap()).unwrap();
    assert_eq!(img.width(), 640);
    let bad = alice.headimgurl.replace("/132", "/133");
    assert_eq!(
        reqwest::get(&bad).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn userinfo_and_auth_errors() {
    let mock = MockWechat::start().await.unwrap();
    let t = oa_login(&mock, "carol", "snsapi_userinfo").await;
    let token = t["access_token"].as_str().unwrap();
    let openid = t["openid"].as_str().unwrap();
    let other_openid = mock
        .user("alice")
        .unwrap()
        .openid_for(&mock.official_account().appid);
    let oa = mock.official_account();
    let global: Value = get_json(
        &format!("{}/cgi-bin/token", mock.api_base()),
        &[
            ("grant_type", "client_credential"),
            ("appid", &oa.appid),
            ("secret", &oa.secret),
        ],
    )
    .await;
    let global = global["access_token"].as_str().unwrap();

    for endpoint in ["sns/userinfo", "sns/auth"] {
        let url = format!("{}/{endpoint}", mock.api_base());
        let q = |t: &str, o: &str| vec![("access_token", t.to_owned()), ("openid", o.to_owned())];
        let call = |q: Vec<(&'static str, String)>| {
            let url = url.clone();
            async move {
                errcode(
                    &http()
                        .get(&url)
                        .query(&q)
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap(),
                )
            }
        };
        assert_eq!(call(q(token, openid)).await, 0, "{endpoint}");
        assert_eq!(call(q("86_unknown", openid)).await, 40014, "{endpoint}");
        assert_eq!(call(q(token, &other_openid)).await, 40003, "{endpoint}");
        assert_eq!(
            call(vec![("openid", openid.to_owned())]).await,
            41001,
            "{endpoint}"
        );
        assert_eq!(
            call(vec![("access_token", token.to_owned())]).await,
            41009,
            "{endpoint}"
        );
        // A global (cgi-bin) token is not a user token.
        assert_ne!(call(q(global, openid)).await, 0, "{endpoint}");
    }
    assert_eq!(errcode(&userinfo(&mock, global, openid).await), 40001);
    mock.advance(Duration::from_secs(7201));
    assert_eq!(errcode(&userinfo(&mock, token, openid).await), 42001);
    let auth = get_json(
        &format!("{}/sns/auth", mock.api_base()),
        &[("access_token", token), ("openid", openid)],
    )
    .await;
    assert_eq!(errcode(&auth), 42001);
}

#[tokio::test]
async fn unbound_apps_never_see_a_unionid() {
    let cfg = MockConfig::default()
        .with_app(MockApp::default_for(AppKind::Website).unbound())
        .with_app(MockApp::default_for(AppKind::OfficialAccount).unbound())
        .with_app(MockApp::default_for(AppKind::MiniProgram).unbound());
    let mock = MockWechat::start_with(cfg).await.unwrap();
    let web = website_login(&mock, "alice").await;
    assert!(web.get("unionid").is_none(), "{web}");
    let info = userinfo(
        &mock,
        web["access_token"].as_str().unwrap(),
        web["openid"].as_str().unwrap(),
    )
    .await;
    assert!(info.get("unionid").is_none(), "{info}");
    assert_eq!(info["nickname"], "爱丽丝");
    let oa = oa_login(&mock, "alice", "snsapi_userinfo").await;
    assert!(oa.get("unionid").is_none(), "{oa}");
    let mini = mock.mini_program();
    let s = jscode2session(
        &mock,
        &mini.appid,
        &mini.secret,
        &mock.sdk_code(&mini.appid, "alice").unwrap(),
    )
    .await;
    assert!(
        s.get("unionid").is_none() && s.get("openid").is_some(),
        "{s}"
    );
    // The mobile app is still bound.
    let m = exchange(
        &mock,
        mock.mobile(),
        &mock.sdk_code(&mock.mobile().appid, "alice").unwrap(),
    )
    .await;
    assert_eq!(m["unionid"], mock.user("alice").unwrap().unionid);
}

// ---------------------------------------------------------------- jscode2session

#[tokio::test]
async fn jscode2session_success_and_session_key() {
    let mock = MockWechat::start().await.unwrap();
    let mini = mock.mini_program();
    let bob = mock.user("bob").unwrap();
    let s = jscode2session(
        &mock,
        &mini.appid,
        &mini.secret,
        &mock.sdk_code(&mini.appid, "bob").unwrap(),
    )
    .await;
    assert!(s.get("errcode").is_none(), "{s}");
    let openid = s["openid"].as_str().unwrap();
    assert_eq!(openid, bob.openid_for(&mini.appid));
    assert_eq!(s["unionid"], bob.unionid);
    let key = s["session_key"].as_str().unwrap();
    assert_eq!(key.len(), 24);
    use base64::Engine as _;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(key)
            .unwrap()
            .len(),
        16
    );
    assert_eq!(mock.session_key(&mini.appid, openid).as_deref(), Some(key));
    // A later login replaces the key (one valid session_key per user, protocol §17.2).
    let s2 = jscode2session(
        &mock,
        &mini.appid,
        &mini.secret,
        &mock.sdk_code(&mini.appid, "bob").unwrap(),
    )
    .await;
    assert_ne!(s2["session_key"], key);
    assert_eq!(
        mock.session_key(&mini.appid, openid).as_deref(),
        s2["session_key"].as_str()
    );
    // Other users get other keys.
    let a = jscode2session(
        &mock,
        &mini.appid,
        &mini.secret,
        &mock.sdk_code(&mini.appid, "alice").unwrap(),
    )
    .await;
    assert_ne!(a["session_key"], key);
}

#[tokio::test]
async fn jscode2session_errors() {
    let mock = MockWechat::start().await.unwrap();
    let mini = mock.mini_program();
    let site = mock.website();
    let code = mock.sdk_code(&mini.appid, "alice").unwrap();
    assert_eq!(
        errcode(&jscode2session(&mock, &mini.appid, &mini.secret, "junk").await),
        40029
    );
    assert_eq!(
        errcode(&jscode2session(&mock, &mini.appid, "f".repeat(32).as_str(), &code).await),
        40125
    );
    assert_eq!(
        errcode(&jscode2session(&mock, "wx_nope", &mini.secret, &code).await),
        40013
    );
    // A website appid is no mini program.
    assert_eq!(
        errcode(&jscode2session(&mock, &site.appid, &site.secret, &code).await),
        40013
    );
    // A mobile SDK code is no js_code.
    let app_code = mock.sdk_code(&mock.mobile().appid, "alice").unwrap();
    assert_eq!(
        errcode(&jscode2session(&mock, &mini.appid, &mini.secret, &app_code).await),
        40029
    );
    let url = format!("{}/sns/jscode2session", mock.api_base());
    let q: &[(&str, &str)] = &[
        ("appid", &mini.appid),
        ("secret", &mini.secret),
        ("grant_type", "authorization_code"),
    ];
    assert_eq!(errcode(&get_json(&url, q).await), 41008);
    let q: &[(&str, &str)] = &[
        ("appid", &mini.appid),
        ("secret", &mini.secret),
        ("js_code", &code),
    ];
    assert_eq!(errcode(&get_json(&url, q).await), 40002);
    // None of those used the code up.
    assert!(
        jscode2session(&mock, &mini.appid, &mini.secret, &code)
            .await
            .get("openid")
            .is_some()
    );
    assert_eq!(
        errcode(&jscode2session(&mock, &mini.appid, &mini.secret, &code).await),
        40163
    );
    // js_codes live 5 minutes.
    let code = mock.sdk_code(&mini.appid, "alice").unwrap();
    mock.advance(Duration::from_secs(301));
    assert_eq!(
        errcode(&jscode2session(&mock, &mini.appid, &mini.secret, &code).await),
        40029
    );
}

#[tokio::test]
async fn jscode2session_blocks_high_risk_users() {
    let mock = MockWechat::start_with(MockConfig::default().blocked_user("carol"))
        .await
        .unwrap();
    let mini = mock.mini_program();
    let code = mock.sdk_code(&mini.appid, "carol").unwrap();
    let v = jscode2session(&mock, &mini.appid, &mini.secret, &code).await;
    assert_eq!(errcode(&v), 40226);
    assert!(v["errmsg"].as_str().unwrap().starts_with("code blocked"));
    mock.set_blocked("carol", false).unwrap();
    let code = mock.sdk_code(&mini.appid, "carol").unwrap();
    assert!(
        jscode2session(&mock, &mini.appid, &mini.secret, &code)
            .await
            .get("openid")
            .is_some()
    );
    mock.set_blocked("bob", true).unwrap();
    let code = mock.sdk_code(&mini.appid, "bob").unwrap();
    assert_eq!(
        errcode(&jscode2session(&mock, &mini.appid, &mini.secret, &code).await),
        40226
    );
    assert!(mock.set_blocked("mallory", true).is_err());
}

#[tokio::test]
async fn jscode2session_limits_each_user_to_100_a_minute() {
    let mock = MockWechat::start().await.unwrap();
    let mini = mock.mini_program().clone();
    for i in 0..100 {
        let code = mock.sdk_code(&mini.appid, "alice").unwrap();
        let v = jscode2session(&mock, &mini.appid, &mini.secret, &code).await;
        assert!(v.get("openid").is_some(), "call {i}: {v}");
    }
    let code = mock.sdk_code(&mini.appid, "alice").unwrap();
    let v = jscode2session(&mock, &mini.appid, &mini.secret, &code).await;
    assert_eq!(errcode(&v), 45011);
    assert!(
        v["errmsg"]
            .as_str()
            .unwrap()
            .starts_with("api minute-quota reach limit")
    );
    // Per user: bob is unaffected.
    let bob = mock.sdk_code(&mini.appid, "bob").unwrap();
    assert!(
        jscode2session(&mock, &mini.appid, &mini.secret, &bob)
            .await
            .get("openid")
            .is_some()
    );
    // A minute later (mock clock) alice may log in again, with the code 45011 did not use.
    mock.advance(Duration::from_secs(61));
    assert!(
        jscode2session(&mock, &mini.appid, &mini.secret, &code)
            .await
            .get("openid")
            .is_some()
    );
}

#[tokio::test]
async fn wxlogin_iframe_urls_work_without_response_type() {
    let mock = MockWechat::start().await.unwrap();
    let site = &mock.website().appid;
    let r = enc(CALLBACK);
    // The shape wxLogin.js builds for its iframe.
    let iframe = format!(
        "{}/connect/qrconnect?appid={site}&scope=snsapi_login&redirect_uri={r}&state=w1&login_type=jssdk&self_redirect=false&style=black&href=",
        mock.open_base()
    );
    let (status, tag, html) = page(&iframe).await;
    assert_eq!((status, tag.as_str()), (StatusCode::OK, ""));
    assert!(html.contains("mock_user=alice&amp;mock_action=approve"));
    let back = location(&MockWechat::approve_url(&iframe, "alice")).await;
    assert_eq!(query(&back, "state").as_deref(), Some("w1"));
    assert!(query(&back, "code").is_some());
    // Without login_type=jssdk, response_type stays required.
    let plain = format!(
        "{}/connect/qrconnect?appid={site}&scope=snsapi_login&redirect_uri={r}&state=w1",
        mock.open_base()
    );
    assert_eq!(page(&plain).await.1, "response_type");
}
