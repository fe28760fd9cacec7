//! Mini program links over real sockets (protocol §26, design §6): `wxa/generate_urllink` and
//! `wxa/generatescheme` answer a link (on the mock's host / a `weixin://` openlink) after
//! WeChat's checks; errcodes injected through `/mock/faults`; opening a link as the mini
//! program (`POST /mock/miniprogram/open {"url_link","user"}` and
//! `MockWechat::open_url_link`); unknown and expired links; per-appid counts; the phone
//! page's open-link form driving a layer-like receiver.

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use reqwest::{Client, StatusCode, redirect::Policy};
use serde_json::{Value, json};
use wechat_auth_mock::{AppKind, MockApp, MockConfig, MockError, MockWechat};

fn http() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

/// A global token of `appid` (`cgi-bin/stable_token`).
async fn token_of(mock: &MockWechat, appid: &str) -> String {
    let app = mock.app(appid).unwrap().clone();
    let v: Value = http()
        .post(format!("{}/cgi-bin/stable_token", mock.api_base()))
        .json(&json!({"grant_type": "client_credential", "appid": app.appid, "secret": app.secret}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["access_token"]
        .as_str()
        .expect("a global token")
        .to_owned()
}

async fn mini_token(mock: &MockWechat) -> String {
    token_of(mock, &mock.mini_program().appid.clone()).await
}

/// `POST /wxa/{endpoint}?access_token=T` with `body`: the JSON answer.
async fn wxa(mock: &MockWechat, endpoint: &str, token: &str, body: Value) -> Value {
    let resp = http()
        .post(format!("{}/wxa/{endpoint}", mock.api_base()))
        .query(&[("access_token", token)])
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "WeChat answers errors with 200"
    );
    resp.json().await.unwrap()
}

fn errcode(v: &Value) -> i64 {
    v["errcode"].as_i64().unwrap_or(-999)
}

/// `POST /mock/miniprogram/open` with `body`: status and JSON.
async fn open(mock: &MockWechat, body: Value) -> (StatusCode, Value) {
    let resp = http()
        .post(format!("{}/mock/miniprogram/open", mock.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

/// The openid `js_code` yields through `sns/jscode2session`.
async fn openid_of_code(mock: &MockWechat, js_code: &str) -> Value {
    let mini = mock.mini_program().clone();
    let s: Value = http()
        .get(format!("{}/sns/jscode2session", mock.api_base()))
        .query(&[
            ("appid", mini.appid.as_str()),
            ("secret", &mini.secret),
            ("js_code", js_code),
            ("grant_type", "authorization_code"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    s["openid"].clone()
}

fn unix_now(mock: &MockWechat) -> u64 {
    mock.now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn a_url_link_is_made_on_the_mock_host_and_opens_the_mini_program_with_its_query() {
    let mock = MockWechat::start().await.unwrap();
    let mini = mock.mini_program().appid.clone();
    let token = mini_token(&mock).await;
    let expire_time = unix_now(&mock) + 300;
    let made = wxa(
        &mock,
        "generate_urllink",
        &token,
        json!({"path": "pages/login/confirm", "query": "scene=t3f9a2c&from=web",
               "env_version": "trial", "expire_type": 0, "expire_time": expire_time}),
    )
    .await;
    assert_eq!(
        (errcode(&made), made["errmsg"].as_str()),
        (0, Some("ok")),
        "{made}"
    );
    let link = made["url_link"].as_str().unwrap().to_owned();
    let prefix = format!("{}/mock/urllink/", mock.url());
    assert!(link.starts_with(&prefix), "{link}");
    assert!(link.len() > prefix.len() + 8, "a ticket: {link}");

    // Alice opens it: the mini program starts on the page with the query, scene 1194.
    let (status, opened) = open(&mock, json!({"url_link": link, "user": "alice"})).await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    assert_eq!(opened["scene"], "t3f9a2c");
    assert_eq!(opened["query"], "scene=t3f9a2c&from=web");
    assert_eq!(opened["path"], "pages/login/confirm");
    assert_eq!(opened["env_version"], "trial");
    assert_eq!(opened["scene_id"], 1194);
    assert_eq!(opened["appid"], mini.as_str());
    let code = opened["code"].as_str().unwrap().to_owned();
    assert_eq!(
        openid_of_code(&mock, &code).await,
        mock.user("alice").unwrap().openid_for(&mini).as_str(),
        "the code is a wx.login() code of alice for the mini program"
    );

    // Opened again (a link may be opened more than once): a fresh code, of that user.
    let (_, again) = open(&mock, json!({"url_link": link, "user": "bob"})).await;
    assert_ne!(again["code"], code.as_str());
    assert_eq!(
        openid_of_code(&mock, again["code"].as_str().unwrap()).await,
        mock.user("bob").unwrap().openid_for(&mini).as_str()
    );
    // The handle does the same.
    let by_handle = mock.open_url_link(&link, "carol").unwrap();
    assert_eq!(by_handle.scene.as_deref(), Some("t3f9a2c"));
    assert_eq!(
        (by_handle.scene_id, by_handle.path.as_str()),
        (1194, "pages/login/confirm")
    );

    // The link itself, opened in a phone browser: the mock's page with the open-link form.
    let page = http().get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"id="open-link-form""#), "{html}");
    assert!(html.contains(&format!(r#"value="{link}""#)), "{html}");
    assert!(
        html.contains("pages/login/confirm?scene=t3f9a2c&amp;from=web"),
        "{html}"
    );

    // Counted per endpoint and for the mini program (its token named it).
    assert_eq!(mock.calls("wxa/generate_urllink"), 1);
    assert_eq!(mock.app_calls(&mini, "wxa/generate_urllink"), 1);
    let counts: Value = http()
        .get(format!("{}/mock/calls?appid={mini}", mock.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counts["wxa/generate_urllink"], 1, "{counts}");
}

#[tokio::test]
async fn a_scheme_is_a_weixin_openlink_opened_with_scene_1065() {
    let mock = MockWechat::start().await.unwrap();
    let token = mini_token(&mock).await;
    let made = wxa(
        &mock,
        "generatescheme",
        &token,
        json!({"jump_wxa": {"path": "pages/login/confirm", "query": "scene=Zx9", "env_version": "release"},
               "is_expire": true, "expire_type": 1, "expire_interval": 1}),
    )
    .await;
    assert_eq!(errcode(&made), 0, "{made}");
    let link = made["openlink"].as_str().unwrap().to_owned();
    assert!(link.starts_with("weixin://dl/business/?t="), "{link}");
    assert!(made.get("url_link").is_none(), "{made}");

    let (status, opened) = open(&mock, json!({"url_link": link, "user": "bob"})).await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    assert_eq!(
        (opened["scene"].as_str(), opened["scene_id"].as_u64()),
        (Some("Zx9"), Some(1065))
    );
    assert_eq!(opened["path"], "pages/login/confirm");

    // A scheme is not a URL Link: the same ticket on the mock's host is unknown.
    let ticket = link.trim_start_matches("weixin://dl/business/?t=");
    let as_url = format!("{}/mock/urllink/{ticket}", mock.url());
    assert!(matches!(
        mock.open_url_link(&as_url, "bob"),
        Err(MockError::UnknownLink(_))
    ));

    // `expire_interval: 1` is one day on the mock clock.
    mock.advance(Duration::from_secs(24 * 3600 - 10));
    assert!(mock.open_url_link(&link, "bob").is_ok());
    mock.advance(Duration::from_secs(10));
    assert!(matches!(
        mock.open_url_link(&link, "bob"),
        Err(MockError::ExpiredLink(_))
    ));

    // Without `jump_wxa` and `is_expire`: the home page, still a link (a day later: a new
    // token).
    let token = mini_token(&mock).await;
    let home = wxa(&mock, "generatescheme", &token, json!({})).await;
    let opened = mock
        .open_url_link(home["openlink"].as_str().unwrap(), "alice")
        .unwrap();
    assert_eq!(
        (opened.path.as_str(), opened.query.as_str(), opened.scene),
        ("", "", None)
    );
    assert_eq!(mock.calls("wxa/generatescheme"), 2);
    assert_eq!(mock.calls("wxa/generate_urllink"), 0);
}

#[tokio::test]
async fn link_requests_are_checked_as_wechat_checks_them() {
    let pages = ["pages/index/index", "pages/login/confirm"];
    let cfg = MockConfig::default()
        .with_app(MockApp::default_for(AppKind::MiniProgram).with_pages(pages));
    let mock = MockWechat::start_with(cfg).await.unwrap();
    let token = mini_token(&mock).await;
    let now = unix_now(&mock);
    let day = 24 * 3600;
    let cases = [
        // query: at most 1024 characters of the allowed set.
        (json!({"query": "a".repeat(1025)}), 40212),
        (json!({"query": "scene=a b"}), 40212),
        (json!({"query": "scene=登录"}), 40212),
        // path: no leading slash, no query, a page the mini program has.
        (json!({"path": "/pages/login/confirm"}), 40165),
        (json!({"path": "pages/login/confirm?scene=1"}), 40165),
        (json!({"path": "pages/nowhere/nowhere"}), 40165),
        // version and expiry.
        (json!({"env_version": "beta"}), 40097),
        (json!({"expire_time": now + 30 * day + 60}), 40097),
        (json!({"expire_time": now - 1}), 40097),
        (json!({"expire_type": 1, "expire_interval": 31}), 40097),
        (json!({"expire_type": 1}), 40097),
    ];
    for (body, code) in cases {
        let v = wxa(&mock, "generate_urllink", &token, body.clone()).await;
        assert_eq!(errcode(&v), code, "{body}: {v}");
        assert!(v.get("url_link").is_none(), "{v}");
        // The same in a scheme's shape: the page fields under jump_wxa, the expiry beside.
        let mut jump = json!({"jump_wxa": {}, "is_expire": true});
        for (k, v) in body.as_object().unwrap() {
            if matches!(k.as_str(), "path" | "query" | "env_version") {
                jump["jump_wxa"][k] = v.clone();
            } else {
                jump[k] = v.clone();
            }
        }
        let v = wxa(&mock, "generatescheme", &token, jump.clone()).await;
        assert_eq!(errcode(&v), code, "scheme {jump}: {v}");
    }
    // The limits themselves are fine: 1024 characters, 30 days, a known page.
    let v = wxa(
        &mock,
        "generate_urllink",
        &token,
        json!({"path": "pages/login/confirm", "query": "a".repeat(1024), "expire_time": now + 30 * day}),
    )
    .await;
    assert_eq!(errcode(&v), 0, "{v}");
    // Without a path: the home page, the first of the mini program's pages.
    let v = wxa(
        &mock,
        "generate_urllink",
        &token,
        json!({"query": "scene=x"}),
    )
    .await;
    let opened = mock
        .open_url_link(v["url_link"].as_str().unwrap(), "alice")
        .unwrap();
    assert_eq!(opened.path, "pages/index/index");

    // Only a mini program's global token: an Official Account's → 48001; none → 41001;
    // an empty body → 44002; GET → 43002.
    let oa = mock.official_account().appid.clone();
    let oa_token = token_of(&mock, &oa).await;
    let v = wxa(&mock, "generate_urllink", &oa_token, json!({})).await;
    assert_eq!(errcode(&v), 48001, "{v}");
    assert_eq!(
        mock.app_calls(&oa, "wxa/generate_urllink"),
        1,
        "counted for the OA"
    );
    let v: Value = http()
        .post(format!("{}/wxa/generate_urllink", mock.api_base()))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(errcode(&v), 41001, "{v}");
    let v: Value = http()
        .post(format!("{}/wxa/generatescheme", mock.api_base()))
        .query(&[("access_token", token.as_str())])
        .body("")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(errcode(&v), 44002, "{v}");
    let v: Value = http()
        .get(format!("{}/wxa/generate_urllink", mock.api_base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(errcode(&v), 43002, "{v}");
}

#[tokio::test]
async fn wechats_refusals_are_injected_through_mock_faults() {
    let mock = MockWechat::start().await.unwrap();
    let mini = mock.mini_program().appid.clone();
    let token = mini_token(&mock).await;
    for (endpoint, errcode_, times) in [
        ("wxa/generate_urllink", 40002, 1),
        ("wxa/generate_urllink", 85079, 1),
        ("wxa/generatescheme", 44990, 2),
    ] {
        let resp = http()
            .post(format!("{}/mock/faults", mock.url()))
            .json(&json!({"endpoint": endpoint, "errcode": errcode_, "times": times}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "{endpoint} is a fault target"
        );
    }
    let name = |e: &str| e.trim_start_matches("wxa/").to_owned();
    for (endpoint, want) in [
        ("wxa/generate_urllink", 40002),
        ("wxa/generate_urllink", 85079),
        ("wxa/generate_urllink", 0),
        ("wxa/generatescheme", 44990),
        ("wxa/generatescheme", 44990),
        ("wxa/generatescheme", 0),
    ] {
        let v = wxa(&mock, &name(endpoint), &token, json!({"query": "scene=a"})).await;
        assert_eq!(errcode(&v), want, "{endpoint}: {v}");
        let made = v.get("url_link").or_else(|| v.get("openlink"));
        assert_eq!(made.is_some(), want == 0, "{v}");
        if want != 0 {
            assert!(v["errmsg"].as_str().unwrap().contains("rid: "), "{v}");
        }
    }
    // Refused calls count too, for the mini program.
    assert_eq!(mock.app_calls(&mini, "wxa/generate_urllink"), 3);
    assert_eq!(mock.app_calls(&mini, "wxa/generatescheme"), 3);
}

#[tokio::test]
async fn unknown_and_expired_links_are_404_and_bad_requests_400() {
    let mock = MockWechat::start().await.unwrap();
    let token = mini_token(&mock).await;
    let made = wxa(
        &mock,
        "generate_urllink",
        &token,
        json!({"query": "scene=abc", "expire_time": unix_now(&mock) + 60}),
    )
    .await;
    let link = made["url_link"].as_str().unwrap().to_owned();
    let ticket = link.rsplit('/').next().unwrap().to_owned();

    for unknown in [
        format!("{}/mock/urllink/{}", mock.url(), "Q".repeat(24)),
        format!("{}/mock/urllink/", mock.url()),
        format!("https://wxaurl.cn/{ticket}"),
        format!("http://127.0.0.1:1/mock/urllink/{ticket}"),
        "weixin://dl/business/?t=nothing".to_owned(),
        "not a link".to_owned(),
    ] {
        let (status, v) = open(&mock, json!({"url_link": unknown, "user": "alice"})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}: {v}");
        assert!(
            v["error"]
                .as_str()
                .unwrap()
                .contains("no mini program link"),
            "{v}"
        );
    }
    // Alive until its expire_time on the mock clock, then 404 (the page too).
    let (status, _) = open(&mock, json!({"url_link": link, "user": "alice"})).await;
    assert_eq!(status, StatusCode::OK);
    mock.advance(Duration::from_secs(61));
    let (status, v) = open(&mock, json!({"url_link": link, "user": "alice"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert!(v["error"].as_str().unwrap().contains("expired"), "{v}");
    let page = http().get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(!page.text().await.unwrap().contains("open-link-form"));

    // Misuse is 400: an unknown user, both or neither of scene and url_link, extra fields.
    let fresh = wxa(
        &mock,
        "generate_urllink",
        &token,
        json!({"query": "scene=abc"}),
    )
    .await;
    let fresh = fresh["url_link"].as_str().unwrap();
    for body in [
        json!({"url_link": fresh, "user": "mallory"}),
        json!({"url_link": fresh, "scene": "abc", "user": "alice"}),
        json!({"user": "alice"}),
        json!({"url_link": fresh, "user": "alice", "extra": 1}),
    ] {
        let (status, v) = open(&mock, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(v["error"].is_string(), "{v}");
    }
    // The scene form keeps working as before.
    let (status, v) = open(&mock, json!({"scene": "abc", "user": "alice"})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["scene"], "abc");
    assert_eq!(v["code"].as_str().map(str::len), Some(32));
}

#[tokio::test]
async fn the_phone_page_opens_a_link_and_answers_the_site() {
    let mock = MockWechat::start().await.unwrap();
    let mini = mock.mini_program().appid.clone();

    // A layer-like site: records both steps of the mini program.
    let opened: Arc<Mutex<Vec<Value>>> = Arc::default();
    let answered: Arc<Mutex<Vec<Value>>> = Arc::default();
    let site = {
        let (opened, answered) = (opened.clone(), answered.clone());
        axum::Router::new()
            .route(
                "/auth/wechat/miniprogram/scan/open",
                axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
                    let opened = opened.clone();
                    async move {
                        opened.lock().unwrap().push(v);
                        axum::Json(json!({
                            "requester": {"site": "example.com", "browser": "Safari 17.5 · iPhone",
                                          "ip": "198.51.100.4", "time": "2026-12-07 20:00:00"},
                            "token": "tok-link",
                            "expires_in": 60,
                        }))
                    }
                }),
            )
            .route(
                "/auth/wechat/miniprogram/scan",
                axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
                    let answered = answered.clone();
                    async move {
                        let status = if v["decision"] == "confirm" {
                            "confirmed"
                        } else {
                            "refused"
                        };
                        answered.lock().unwrap().push(v);
                        axum::Json(json!({ "status": status }))
                    }
                }),
            )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site_origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, site).await.unwrap() });

    let token = mini_token(&mock).await;
    let made = wxa(
        &mock,
        "generate_urllink",
        &token,
        json!({"path": "pages/login/confirm", "query": "scene=Lk7p"}),
    )
    .await;
    let link = made["url_link"].as_str().unwrap().to_owned();

    // The phone page: the form, with the newest link filled in and a choice of user.
    let page = |path: String| {
        let url = format!("{}{path}", mock.url());
        async move { http().get(url).send().await.unwrap().text().await.unwrap() }
    };
    let html = page("/mock/phone".to_owned()).await;
    for id in [
        "open-link-form",
        "open-link-url",
        "open-link-user",
        "open-link-confirm",
        "open-link-cancel",
    ] {
        assert!(html.contains(&format!(r#"id="{id}""#)), "{id}: {html}");
    }
    assert!(html.contains(&format!(r#"value="{link}""#)), "{html}");
    assert!(html.contains(r#"<option value="bob">"#), "{html}");

    let press = |form: Vec<(&'static str, String)>| {
        let url = format!("{}/mock/phone/link", mock.url());
        async move {
            let resp = http().post(url).form(&form).send().await.unwrap();
            let status = resp.status();
            let location = resp
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned());
            (status, location)
        }
    };
    let form = |user: &str, decision: &str| {
        vec![
            ("url_link", link.clone()),
            ("user", user.to_owned()),
            ("decision", decision.to_owned()),
        ]
    };

    // No server for the mini program yet: said so, nothing sent.
    let (status, location) = press(form("bob", "cancel")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let html = page(location.unwrap()).await;
    assert!(html.contains("no mini program server"), "{html}");
    assert!(opened.lock().unwrap().is_empty());

    // With the site as server: bob opens the link and cancels.
    mock.set_mini_program_server(&mini, Some(&site_origin))
        .unwrap();
    let (_, location) = press(form("bob", "cancel")).await;
    let html = page(location.unwrap()).await;
    assert!(html.contains("refused"), "{html}");
    assert!(
        html.contains("Safari 17.5 · iPhone") && html.contains("198.51.100.4"),
        "{html}"
    );
    let first = opened.lock().unwrap().clone();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(
        first[0]["scene"], "Lk7p",
        "the link's scene=, as the page reads it"
    );
    assert_eq!(
        openid_of_code(&mock, first[0]["code"].as_str().unwrap()).await,
        mock.user("bob").unwrap().openid_for(&mini).as_str()
    );
    let sent = answered.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        (
            sent[0]["scene"].as_str(),
            sent[0]["token"].as_str(),
            sent[0]["decision"].as_str()
        ),
        (Some("Lk7p"), Some("tok-link"), Some("cancel"))
    );

    // Alice confirms, with the decision left to its default (a form submitted by script).
    let (_, location) = press(vec![("url_link", link.clone()), ("user", "alice".into())]).await;
    let html = page(location.unwrap()).await;
    assert!(html.contains("confirmed"), "{html}");
    assert_eq!(answered.lock().unwrap()[1]["decision"], "confirm");

    // A link without scene=, an unknown link: said so, nothing sent.
    let bare = wxa(
        &mock,
        "generate_urllink",
        &token,
        json!({"query": "from=web"}),
    )
    .await;
    let bare = bare["url_link"].as_str().unwrap().to_owned();
    let (_, location) = press(vec![("url_link", bare), ("user", "alice".into())]).await;
    let html = page(location.unwrap()).await;
    assert!(html.contains("no scene="), "{html}");
    let (_, location) = press(vec![
        ("url_link", "weixin://dl/business/?t=zz".into()),
        ("user", "alice".into()),
    ])
    .await;
    let html = page(location.unwrap()).await;
    assert!(html.contains("no mini program link"), "{html}");
    assert_eq!(opened.lock().unwrap().len(), 2);

    // Bad forms are 400.
    let (status, _) = press(form("alice", "maybe")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = press(vec![("user", "alice".into())]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
