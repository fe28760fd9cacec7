//! The mock's control side: the `/mock/*` HTTP API (design §6), the handle's counters,
//! faults, clock and lifecycle, and the `mock_server` example.

use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode, redirect::Policy};
use serde_json::{Value, json};
use wechat_auth_mock::{AppKind, Fault, MockApp, MockConfig, MockWechat};

thread_local! {
    static HTTP: Client = Client::builder().redirect(Policy::none()).build().unwrap();
}

fn http() -> Client {
    HTTP.with(Client::clone)
}

fn errcode(v: &Value) -> i64 {
    v["errcode"].as_i64().unwrap_or(0)
}

async fn post(mock: &MockWechat, path: &str, body: Value) -> (StatusCode, Value) {
    let resp = http()
        .post(format!("{}{path}", mock.url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

async fn get(mock: &MockWechat, path: &str) -> Value {
    let resp = http()
        .get(format!("{}{path}", mock.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

/// `sns/auth` without parameters: a cheap call whose normal answer is 41001.
async fn sns_auth(mock: &MockWechat) -> reqwest::Response {
    http()
        .get(format!("{}/sns/auth", mock.api_base()))
        .send()
        .await
        .unwrap()
}

async fn exchange(mock: &MockWechat, app: &MockApp, code: &str) -> Value {
    http()
        .get(format!("{}/sns/oauth2/access_token", mock.api_base()))
        .query(&[
            ("appid", app.appid.as_str()),
            ("secret", &app.secret),
            ("code", code),
            ("grant_type", "authorization_code"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

// ---------------------------------------------------------------- /mock/config

#[tokio::test]
async fn config_lists_apps_and_users() {
    let mock = MockWechat::start().await.unwrap();
    let cfg = get(&mock, "/mock/config").await;
    let all = cfg["apps"].as_array().unwrap();
    let kinds: Vec<_> = all.iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "website",
            "official_account",
            "mobile",
            "mini_program",
            "official_account",
            "wecom",
            "wecom_suite",
            "douyin",
            "douyin_miniapp"
        ]
    );
    // WeCom corps and suites name their id as `appid` too (the login pages' `appid`).
    assert_eq!(all[5]["appid"], all[5]["corp_id"]);
    assert_eq!(all[6]["appid"], all[6]["suite_id"]);
    let apps: Vec<&Value> = all.iter().take(5).collect();
    let ids: Vec<_> = apps.iter().map(|a| a["appid"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "wx1000000000000001",
            "wx2000000000000002",
            "wx3000000000000003",
            "wx4000000000000004",
            "wx5000000000000005"
        ]
    );
    for app in &apps {
        let secret = app["secret"].as_str().unwrap();
        assert_eq!(secret.len(), 32);
        assert!(
            secret
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        );
        assert_eq!(
            app["secret"],
            mock.app(app["appid"].as_str().unwrap()).unwrap().secret
        );
    }
    let oa = &apps[1];
    assert_eq!(oa["token"], "mocktoken");
    assert_eq!(
        oa["encoding_aes_key"],
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    );
    assert_eq!(oa["original_id"], "gh_000000000001");
    assert_eq!(oa["push_url"], Value::Null);
    assert_eq!(oa["verified"], true);
    assert!(apps[0].get("token").is_none(), "push fields are OA-only");
    assert!(apps[0].get("verified").is_none(), "verification is OA-only");
    // The unverified subscription account: its own credentials, push token and key.
    let sub = &apps[4];
    assert_eq!(sub["verified"], false);
    assert_eq!(sub["appid"], mock.unverified_account().appid);
    assert_eq!(sub["token"], "mocksubtoken");
    assert_eq!(
        sub["encoding_aes_key"],
        "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkg"
    );
    assert_eq!(sub["original_id"], "gh_000000000005");
    assert_eq!(sub["push_url"], Value::Null);

    let users = cfg["users"].as_array().unwrap();
    let names: Vec<_> = users.iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
    assert_eq!(users[0]["nickname"], "爱丽丝");
    for u in users {
        let user = mock.user(u["name"].as_str().unwrap()).unwrap();
        assert_eq!(u["unionid"], user.unionid);
        let openids = u["openids"].as_object().unwrap();
        assert_eq!(openids.len(), 5);
        for app in mock.apps() {
            assert_eq!(openids[&app.appid], user.openid_for(&app.appid));
        }
    }

    mock.set_push_url(
        &mock.official_account().appid,
        Some("http://127.0.0.1:3000/push"),
    )
    .unwrap();
    let cfg = get(&mock, "/mock/config").await;
    assert_eq!(cfg["apps"][1]["push_url"], "http://127.0.0.1:3000/push");
    assert!(
        mock.set_push_url(&mock.official_account().appid, Some("javascript:alert(1)"))
            .is_err()
    );
    // Control calls are not WeChat calls.
    assert!(mock.all_calls().is_empty());
}

#[tokio::test]
async fn config_reflects_a_custom_setup() {
    let cfg = MockConfig::default()
        .with_app(
            MockApp::default_for(AppKind::OfficialAccount)
                .without_encoding_aes_key()
                .with_token("othertoken"),
        )
        .with_app(MockApp::default_for(AppKind::MiniProgram).unbound())
        .with_user("dave", "戴夫")
        .without_user("carol");
    let mock = MockWechat::start_with(cfg).await.unwrap();
    let cfg = get(&mock, "/mock/config").await;
    assert_eq!(cfg["apps"][1]["token"], "othertoken");
    assert_eq!(cfg["apps"][1]["encoding_aes_key"], Value::Null);
    assert_eq!(cfg["apps"][3]["bound"], false);
    let names: Vec<_> = cfg["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["alice", "bob", "dave"]);
    let env = mock.env_vars();
    assert!(
        env.iter()
            .any(|(k, v)| *k == "WECHAT_OA_TOKEN" && v == "othertoken")
    );
    assert!(!env.iter().any(|(k, _)| *k == "WECHAT_OA_ENCODING_AES_KEY"));
}

#[tokio::test]
async fn invalid_configs_are_refused() {
    let dup = MockConfig::default().add_app(MockApp::new(
        AppKind::Mobile,
        "wx1000000000000001",
        "00000000000000000000000000000000",
    ));
    let err = MockWechat::start_with(dup).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let bad_key = MockConfig::default()
        .with_app(MockApp::default_for(AppKind::OfficialAccount).with_encoding_aes_key("short"));
    assert!(MockWechat::start_with(bad_key).await.is_err());
    assert!(
        MockWechat::start_with(MockConfig::default().subscribed_user("zed"))
            .await
            .is_err()
    );
}

// ---------------------------------------------------------------- /mock/sdk/code

#[tokio::test]
async fn sdk_code_endpoint_mints_usable_codes() {
    let mock = MockWechat::start().await.unwrap();
    let mobile = mock.mobile();
    let (status, v) = post(
        &mock,
        "/mock/sdk/code",
        json!({"appid": mobile.appid, "user": "bob"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let code = v["code"].as_str().unwrap();
    assert_eq!(code.len(), 32);
    let t = exchange(&mock, mobile, code).await;
    assert_eq!(
        t["openid"],
        mock.user("bob").unwrap().openid_for(&mobile.appid)
    );

    let mini = mock.mini_program();
    let (_, v) = post(
        &mock,
        "/mock/sdk/code",
        json!({"appid": mini.appid, "user": "carol"}),
    )
    .await;
    let s: Value = http()
        .get(format!("{}/sns/jscode2session", mock.api_base()))
        .query(&[
            ("appid", mini.appid.as_str()),
            ("secret", &mini.secret),
            ("js_code", v["code"].as_str().unwrap()),
            ("grant_type", "authorization_code"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        s["openid"],
        mock.user("carol").unwrap().openid_for(&mini.appid)
    );

    let bad = [
        json!({"appid": mock.website().appid, "user": "bob"}),
        json!({"appid": mock.official_account().appid, "user": "bob"}),
        json!({"appid": "wx_nope", "user": "bob"}),
        json!({"appid": mobile.appid, "user": "mallory"}),
        json!({"appid": mobile.appid}),
        json!({"appid": mobile.appid, "user": "bob", "extra": 1}),
    ];
    for body in bad {
        let (status, v) = post(&mock, "/mock/sdk/code", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(v["error"].is_string(), "{v}");
    }
    let resp = http()
        .post(format!("{}/mock/sdk/code", mock.url()))
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

// ------------------------------------------- /mock/sdk/phone_code, /mock/miniprogram/open

/// The mini program's global token from `cgi-bin/token`.
async fn mini_token(mock: &MockWechat) -> String {
    let mini = mock.mini_program();
    let t: Value = http()
        .get(format!("{}/cgi-bin/token", mock.api_base()))
        .query(&[
            ("grant_type", "client_credential"),
            ("appid", mini.appid.as_str()),
            ("secret", &mini.secret),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    t["access_token"]
        .as_str()
        .expect("mini program token")
        .to_owned()
}

async fn phone_number(mock: &MockWechat, token: &str, body: Value) -> Value {
    http()
        .post(format!(
            "{}/wxa/business/getuserphonenumber",
            mock.api_base()
        ))
        .query(&[("access_token", token)])
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn phone_code_endpoint_mints_single_use_five_minute_codes() {
    let mock = MockWechat::start().await.unwrap();
    let mini = mock.mini_program().clone();
    let alice = mock.user("alice").unwrap();
    assert!(alice.phone.starts_with("138") && alice.phone.len() == 11);
    assert!(alice.phone.chars().all(|c| c.is_ascii_digit()));
    assert_ne!(alice.phone, mock.user("bob").unwrap().phone);
    let cfg = get(&mock, "/mock/config").await;
    assert_eq!(cfg["users"][0]["name"], "alice");
    assert_eq!(cfg["users"][0]["phone"], alice.phone);

    let (status, v) = post(
        &mock,
        "/mock/sdk/phone_code",
        json!({"appid": mini.appid, "user": "alice"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let code = v["code"].as_str().unwrap().to_owned();
    let token = mini_token(&mock).await;
    let openid = alice.openid_for(&mini.appid);
    let p = phone_number(&mock, &token, json!({"code": code, "openid": openid})).await;
    assert_eq!(errcode(&p), 0, "{p}");
    assert_eq!(p["phone_info"]["phoneNumber"], alice.phone);
    assert_eq!(p["phone_info"]["purePhoneNumber"], alice.phone);
    assert_eq!(p["phone_info"]["countryCode"], "86");
    assert_eq!(p["phone_info"]["watermark"]["appid"], mini.appid);
    assert!(p["phone_info"]["watermark"]["timestamp"].as_u64().unwrap() > 1_600_000_000);
    // Single use.
    assert_eq!(
        errcode(&phone_number(&mock, &token, json!({"code": code})).await),
        40029
    );
    // Five minutes on the mock clock.
    let late = mock.phone_code(&mini.appid, "bob").unwrap();
    mock.advance(Duration::from_secs(301));
    let token = mini_token(&mock).await;
    assert_eq!(
        errcode(&phone_number(&mock, &token, json!({"code": late})).await),
        40029
    );
    // Another user's openid; a js_code is no phone code; bad tokens.
    let bobs = mock.phone_code(&mini.appid, "bob").unwrap();
    let p = phone_number(&mock, &token, json!({"code": bobs, "openid": openid})).await;
    assert_eq!(errcode(&p), 40003);
    let js_code = mock.sdk_code(&mini.appid, "bob").unwrap();
    assert_eq!(
        errcode(&phone_number(&mock, &token, json!({"code": js_code})).await),
        40029
    );
    assert_eq!(
        errcode(&phone_number(&mock, "nope", json!({"code": bobs})).await),
        40001
    );
    assert_eq!(mock.calls("wxa/business/getuserphonenumber"), 6);
    // Faults work here as on every endpoint.
    mock.inject("wxa/business/getuserphonenumber", Fault::Errcode(-1), 1);
    assert_eq!(
        errcode(&phone_number(&mock, &token, json!({"code": bobs})).await),
        -1
    );
    let p = phone_number(&mock, &token, json!({"code": bobs})).await;
    assert_eq!(
        p["phone_info"]["phoneNumber"],
        mock.user("bob").unwrap().phone
    );

    let bad = [
        json!({"appid": mock.website().appid, "user": "bob"}),
        json!({"appid": mock.official_account().appid, "user": "bob"}),
        json!({"appid": "wx_nope", "user": "bob"}),
        json!({"appid": mini.appid, "user": "mallory"}),
        json!({"appid": mini.appid}),
        json!({"appid": mini.appid, "user": "bob", "extra": 1}),
    ];
    for body in bad {
        let (status, v) = post(&mock, "/mock/sdk/phone_code", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(v["error"].is_string(), "{v}");
    }
}

#[tokio::test]
async fn miniprogram_open_gives_the_scene_and_a_js_code() {
    let mock = MockWechat::start().await.unwrap();
    let mini = mock.mini_program().clone();
    let (status, v) = post(
        &mock,
        "/mock/miniprogram/open",
        json!({"scene": "t3f9a2c", "user": "carol"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["scene"], "t3f9a2c");
    let s: Value = http()
        .get(format!("{}/sns/jscode2session", mock.api_base()))
        .query(&[
            ("appid", mini.appid.as_str()),
            ("secret", &mini.secret),
            ("js_code", v["code"].as_str().unwrap()),
            ("grant_type", "authorization_code"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        s["openid"],
        mock.user("carol").unwrap().openid_for(&mini.appid)
    );
    // The handle does the same.
    let (scene, code) = mock.open_mini_program("id=7&x=~", "alice").unwrap();
    assert_eq!((scene.as_str(), code.len()), ("id=7&x=~", 32));

    let bad = [
        json!({"scene": "", "user": "bob"}),
        json!({"scene": "a".repeat(33), "user": "bob"}),
        json!({"scene": "50%off", "user": "bob"}),
        json!({"scene": "登录", "user": "bob"}),
        json!({"scene": "t1", "user": "mallory"}),
        json!({"scene": "t1"}),
        json!({"scene": "t1", "user": "bob", "page": "x"}),
    ];
    for body in bad {
        let (status, v) = post(&mock, "/mock/miniprogram/open", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(v["error"].is_string(), "{v}");
    }
}

#[tokio::test]
async fn checksession_and_wxacode_over_raw_http() {
    let mock = MockWechat::start().await.unwrap();
    let mini = mock.mini_program().clone();
    let token = mini_token(&mock).await;
    let openid = mock.user("bob").unwrap().openid_for(&mini.appid);
    let check = |sig: String, method: &'static str| {
        let url = format!("{}/wxa/checksession", mock.api_base());
        let (token, openid) = (token.clone(), openid.clone());
        async move {
            let v: Value = http()
                .get(url)
                .query(&[
                    ("access_token", token.as_str()),
                    ("signature", sig.as_str()),
                    ("openid", openid.as_str()),
                    ("sig_method", method),
                ])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v
        }
    };
    // No login yet: no key, so no signature can match.
    assert_eq!(errcode(&check("00".into(), "hmac_sha256").await), 87009);
    let (_, js_code) = mock.open_mini_program("t1", "bob").unwrap();
    let s: Value = http()
        .get(format!("{}/sns/jscode2session", mock.api_base()))
        .query(&[
            ("appid", mini.appid.as_str()),
            ("secret", &mini.secret),
            ("js_code", &js_code),
            ("grant_type", "authorization_code"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = s["session_key"].as_str().unwrap();
    assert_eq!(mock.session_key(&mini.appid, &openid).as_deref(), Some(key));
    let sig = hmac_sha256_hex(key.as_bytes());
    let ok = check(sig.clone(), "hmac_sha256").await;
    assert_eq!(ok, json!({"errcode": 0, "errmsg": "ok"}));
    assert_eq!(errcode(&check(sig.clone(), "md5").await), 87008);
    assert_eq!(errcode(&check("ab".repeat(32), "hmac_sha256").await), 87009);

    // The image: a PNG, labelled image/jpeg.
    let resp = http()
        .post(format!("{}/wxa/getwxacodeunlimit", mock.api_base()))
        .query(&[("access_token", token.as_str())])
        .json(&json!({"scene": "t1", "page": "pages/login/confirm", "width": 280}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    let png = resp.bytes().await.unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let wxacode = |body: Value| {
        let url = format!("{}/wxa/getwxacodeunlimit", mock.api_base());
        let token = token.clone();
        async move {
            let resp = http()
                .post(url)
                .query(&[("access_token", token.as_str())])
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            assert!(
                resp.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("application/json")
            );
            let v: Value = resp.json().await.unwrap();
            errcode(&v)
        }
    };
    assert_eq!(wxacode(json!({"scene": ""})).await, 40169);
    assert_eq!(wxacode(json!({"page": "pages/a/a"})).await, 40169);
    assert_eq!(wxacode(json!({"scene": "a b"})).await, 40129);
    assert_eq!(
        wxacode(json!({"scene": "t", "page": "/pages/a/a"})).await,
        41030
    );
    assert_eq!(
        wxacode(json!({"scene": "t", "page": "pages/a/a?x=1"})).await,
        41030
    );
    assert_eq!(
        wxacode(json!({"scene": "t", "env_version": ""})).await,
        40097
    );
    let form = http()
        .post(format!("{}/wxa/getwxacodeunlimit", mock.api_base()))
        .query(&[("access_token", token.as_str())])
        .body("scene=t1")
        .send()
        .await
        .unwrap();
    let v: Value = form.json().await.unwrap();
    assert_eq!(errcode(&v), 47001);
    assert_eq!(mock.calls("wxa/checksession"), 4);
    assert_eq!(mock.calls("wxa/getwxacodeunlimit"), 8);
    // Wrong method: 43002.
    let get: Value = http()
        .get(format!("{}/wxa/getwxacodeunlimit", mock.api_base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(errcode(&get), 43002);
}

/// HMAC-SHA256 of the empty message, by hand (RFC 2104), so the test does not share the
/// mock's implementation.
fn hmac_sha256_hex(key: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut block = [0_u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new().chain_update(&ipad).finalize();
    let outer = Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize();
    hex::encode(outer)
}

#[test]
fn hand_made_hmac_matches_the_protocol_vector() {
    assert_eq!(
        hmac_sha256_hex(b"o0q0otL8aEzpcZL/FT9WsQ=="),
        "46e043c5525c2d817c44be603d30837a808a1d930d038f6fdc3e62a201fed128"
    );
}

// ---------------------------------------------------------------- counters

#[tokio::test]
async fn calls_are_counted_per_endpoint_and_reset() {
    let mock = MockWechat::start().await.unwrap();
    for _ in 0..3 {
        sns_auth(&mock).await;
    }
    http()
        .post(format!("{}/cgi-bin/stable_token", mock.api_base()))
        .send()
        .await
        .unwrap();
    http()
        .get(format!("{}/connect/qrconnect", mock.open_base()))
        .send()
        .await
        .unwrap();
    // Unknown paths are not endpoints.
    let resp = http()
        .get(format!("{}/sns/nothing", mock.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    assert_eq!(mock.calls("sns/auth"), 3);
    assert_eq!(mock.calls("cgi-bin/stable_token"), 1);
    assert_eq!(mock.calls("connect/qrconnect"), 1);
    assert_eq!(mock.calls("sns/userinfo"), 0);
    let over_http = get(&mock, "/mock/calls").await;
    assert_eq!(
        over_http,
        json!({"sns/auth": 3, "cgi-bin/stable_token": 1, "connect/qrconnect": 1})
    );
    assert_eq!(mock.all_calls().len(), 3);

    let resp = http()
        .delete(format!("{}/mock/calls", mock.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(get(&mock, "/mock/calls").await, json!({}));
    assert_eq!(mock.calls("sns/auth"), 0);
    sns_auth(&mock).await;
    assert_eq!(mock.calls("sns/auth"), 1);
    mock.reset_calls();
    assert!(mock.all_calls().is_empty());
}

// ---------------------------------------------------------------- faults

#[tokio::test]
async fn errcode_faults_hit_the_next_n_calls_then_stop() {
    let mock = MockWechat::start().await.unwrap();
    let (status, v) = post(
        &mock,
        "/mock/faults",
        json!({"endpoint": "sns/auth", "errcode": -1, "times": 2}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    for _ in 0..2 {
        let resp = sns_auth(&mock).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(errcode(&v), -1);
        assert!(
            v["errmsg"]
                .as_str()
                .unwrap()
                .starts_with("system error, rid: ")
        );
    }
    let v: Value = sns_auth(&mock).await.json().await.unwrap();
    assert_eq!(errcode(&v), 41001, "back to normal");
    assert_eq!(mock.calls("sns/auth"), 3, "faulted calls count too");

    // Faults are per endpoint, and a fault on the exchange leaves the code unused.
    let site = mock.website();
    let page = format!(
        "{}/connect/qrconnect?appid={}&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&response_type=code&scope=snsapi_login&state=s",
        mock.open_base(),
        site.appid
    );
    let resp = http()
        .get(MockWechat::approve_url(&page, "alice"))
        .send()
        .await
        .unwrap();
    let loc = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let code = loc
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    mock.inject("sns/oauth2/access_token", Fault::Errcode(-1), 1);
    assert_eq!(errcode(&exchange(&mock, site, &code).await), -1);
    assert!(exchange(&mock, site, &code).await["openid"].is_string());
}

#[tokio::test]
async fn http_status_delay_and_text_plain_faults() {
    let mock = MockWechat::start().await.unwrap();
    let (status, _) = post(
        &mock,
        "/mock/faults",
        json!({"endpoint": "/sns/auth", "http_status": 503}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        sns_auth(&mock).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(sns_auth(&mock).await.status(), StatusCode::OK);

    post(
        &mock,
        "/mock/faults",
        json!({"endpoint": "sns/auth", "delay_ms": 400}),
    )
    .await;
    let started = Instant::now();
    let v: Value = sns_auth(&mock).await.json().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(errcode(&v), 41001, "a delay then the normal answer");

    post(
        &mock,
        "/mock/faults",
        json!({"endpoint": "sns/auth", "text_plain": true}),
    )
    .await;
    let resp = sns_auth(&mock).await;
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let v: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(errcode(&v), 41001);
    let resp = sns_auth(&mock).await;
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}

#[tokio::test]
async fn faults_queue_in_order_and_can_be_cleared() {
    let mock = MockWechat::start().await.unwrap();
    mock.inject("sns/auth", Fault::Errcode(40001), 1);
    mock.inject("sns/auth", Fault::HttpStatus(502), 1);
    mock.inject("sns/auth", Fault::Errcode(-1), 0); // zero times: nothing
    let v: Value = sns_auth(&mock).await.json().await.unwrap();
    assert_eq!(errcode(&v), 40001);
    assert_eq!(sns_auth(&mock).await.status(), StatusCode::BAD_GATEWAY);
    let v: Value = sns_auth(&mock).await.json().await.unwrap();
    assert_eq!(errcode(&v), 41001);

    mock.inject("sns/auth", Fault::Errcode(-1), 10);
    mock.clear_faults();
    let v: Value = sns_auth(&mock).await.json().await.unwrap();
    assert_eq!(errcode(&v), 41001);
    mock.inject("sns/auth", Fault::Errcode(-1), 10);
    http()
        .delete(format!("{}/mock/faults", mock.url()))
        .send()
        .await
        .unwrap();
    let v: Value = sns_auth(&mock).await.json().await.unwrap();
    assert_eq!(errcode(&v), 41001);
}

#[tokio::test]
async fn errcode_faults_on_pages_show_the_error_page() {
    let mock = MockWechat::start().await.unwrap();
    mock.inject("connect/oauth2/authorize", Fault::Errcode(10009), 1);
    let resp = http()
        .get(format!("{}/connect/oauth2/authorize", mock.open_base()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-mock-error"], "10009");
    assert!(resp.text().await.unwrap().contains("10009"));
}

#[tokio::test]
async fn bad_fault_requests_are_refused() {
    let mock = MockWechat::start().await.unwrap();
    let bad = [
        json!({"endpoint": "sns/nothing", "errcode": -1}),
        json!({"endpoint": "sns/auth"}),
        json!({"endpoint": "sns/auth", "errcode": -1, "http_status": 500}),
        json!({"endpoint": "sns/auth", "http_status": 42}),
        json!({"endpoint": "sns/auth", "text_plain": false}),
        json!({"endpoint": "sns/auth", "errcode": "minus one"}),
        json!({"errcode": -1}),
    ];
    for body in bad {
        let (status, v) = post(&mock, "/mock/faults", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(v["error"].is_string());
    }
    let v: Value = sns_auth(&mock).await.json().await.unwrap();
    assert_eq!(errcode(&v), 41001, "nothing was queued");
}

#[tokio::test]
async fn sticky_text_plain_labels_every_json_answer() {
    let mock = MockWechat::start_with(MockConfig::default().text_plain(true))
        .await
        .unwrap();
    let resp = sns_auth(&mock).await;
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    mock.set_text_plain(false);
    let resp = sns_auth(&mock).await;
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let (status, _) = post(&mock, "/mock/text_plain", json!({"on": true})).await;
    assert_eq!(status, StatusCode::OK);
    let resp = http()
        .get(format!("{}/cgi-bin/token", mock.api_base()))
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    // Pages stay HTML.
    let resp = http()
        .get(format!("{}/connect/qrconnect", mock.open_base()))
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

// ---------------------------------------------------------------- clock, follow, domains

#[tokio::test]
async fn clock_endpoint_moves_time_for_everything() {
    let mock = MockWechat::start().await.unwrap();
    let before = get(&mock, "/mock/clock").await["now"].as_u64().unwrap();
    let code = mock.sdk_code(&mock.mobile().appid, "alice").unwrap();
    let (status, v) = post(&mock, "/mock/clock", json!({"advance_secs": 601})).await;
    assert_eq!(status, StatusCode::OK);
    let now = v["now"].as_u64().unwrap();
    assert!(
        now >= before + 601 && now <= before + 610,
        "{before} → {now}"
    );
    assert_eq!(errcode(&exchange(&mock, mock.mobile(), &code).await), 42003);
    let (status, _) = post(&mock, "/mock/clock", json!({"advance_secs": -5})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn follow_and_redirect_domain_endpoints() {
    let mock = MockWechat::start().await.unwrap();
    let (status, _) = post(
        &mock,
        "/mock/follow",
        json!({"user": "bob", "subscribed": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(mock.is_subscribed("bob"));
    let cfg = get(&mock, "/mock/config").await;
    assert_eq!(cfg["users"][1]["subscribed"], true);
    post(
        &mock,
        "/mock/follow",
        json!({"user": "bob", "subscribed": false}),
    )
    .await;
    assert!(!mock.is_subscribed("bob"));
    let (status, _) = post(
        &mock,
        "/mock/follow",
        json!({"user": "zed", "subscribed": true}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post(
        &mock,
        "/mock/follow",
        json!({"user": "bob", "subscribed": true, "appid": mock.website().appid}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let appid = mock.website().appid.clone();
    let (status, v) = post(
        &mock,
        "/mock/redirect_domains",
        json!({"appid": appid, "domains": ["Example.COM:8443"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["domains"], json!(["example.com"]));
    assert_eq!(mock.redirect_domains(&appid), ["example.com"]);
    let (status, _) = post(
        &mock,
        "/mock/redirect_domains",
        json!({"appid": "wx_no", "domains": []}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

// ---------------------------------------------------------------- handle and lifecycle

#[tokio::test]
async fn one_origin_and_env_vars() {
    let mock = MockWechat::start().await.unwrap();
    let url = mock.url();
    assert_eq!(url, format!("http://127.0.0.1:{}", mock.addr().port()));
    assert_eq!(mock.api_base(), url);
    assert_eq!(mock.open_base(), url);
    assert_eq!(mock.mp_base(), url);
    let env: std::collections::HashMap<_, _> = mock.env_vars().into_iter().collect();
    for key in ["WECHAT_API_BASE", "WECHAT_OPEN_BASE", "WECHAT_MP_BASE"] {
        assert_eq!(env[key], url);
    }
    assert_eq!(env["WECHAT_WEBSITE_APP_ID"], "wx1000000000000001");
    assert_eq!(env["WECHAT_WEBSITE_APP_SECRET"], mock.website().secret);
    assert_eq!(env["WECHAT_OA_APP_ID"], "wx2000000000000002");
    assert_eq!(env["WECHAT_OA_APP_SECRET"], mock.official_account().secret);
    assert_eq!(env["WECHAT_OA_TOKEN"], "mocktoken");
    assert_eq!(
        env["WECHAT_OA_ENCODING_AES_KEY"],
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    );
    assert_eq!(env["WECHAT_MOBILE_APP_ID"], "wx3000000000000003");
    assert_eq!(env["WECHAT_MOBILE_APP_SECRET"], mock.mobile().secret);
    assert_eq!(env["WECHAT_MINI_APP_ID"], "wx4000000000000004");
    assert_eq!(env["WECHAT_MINI_APP_SECRET"], mock.mini_program().secret);
    assert_eq!(env.len(), 13);
}

#[tokio::test]
async fn start_on_a_fixed_port_and_shutdown() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mock = MockWechat::start_on(addr, MockConfig::default())
        .await
        .unwrap();
    assert_eq!(mock.url(), format!("http://127.0.0.1:{port}"));
    // The port is taken while it runs.
    assert!(
        MockWechat::start_on(addr, MockConfig::default())
            .await
            .is_err()
    );
    assert_eq!(get(&mock, "/mock/calls").await, json!({}));
    mock.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let mock = MockWechat::start().await.unwrap();
    let addr = mock.addr();
    drop(mock);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            break;
        }
        assert!(Instant::now() < deadline, "still listening after drop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let mock = MockWechat::start().await.unwrap();
    for path in ["/", "/cgi-bin/menu/create", "/mock/nothing"] {
        let resp = http()
            .get(format!("{}{path}", mock.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

// ---------------------------------------------------------------- the example

#[tokio::test]
async fn summary_starts_with_the_url_line() {
    let mock = MockWechat::start().await.unwrap();
    let summary = mock.summary();
    let mut lines = summary.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!("mock wechat: {}", mock.url())
    );
    for needle in [
        "wx1000000000000001",
        "mocktoken",
        "alice",
        "爱丽丝",
        "WECHAT_API_BASE=",
    ] {
        assert!(summary.contains(needle), "{needle}");
    }
}

/// Runs the compiled `mock_server` example when `cargo test` has built it (a full
/// `cargo test` builds examples; `cargo test --test mock_control` does not, and then only
/// [`summary_starts_with_the_url_line`] covers what it prints).
#[test]
fn mock_server_example_prints_its_url_first() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let exe = std::env::current_exe().unwrap();
    let Some(debug_dir) = exe.parent().and_then(|deps| deps.parent()) else {
        return;
    };
    let example = debug_dir
        .join("examples")
        .join(format!("mock_server{}", std::env::consts::EXE_SUFFIX));
    if !example.exists() {
        eprintln!(
            "mock_server example not built; skipping its run ({})",
            example.display()
        );
        return;
    }
    let mut child = Command::new(&example)
        .env("MOCK_PORT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim_end()
        .strip_prefix("mock wechat: http://127.0.0.1:")
        .map(|port| format!("http://127.0.0.1:{port}"));
    let reachable = url.as_ref().map(|u| {
        let addr: std::net::SocketAddr = u.trim_start_matches("http://").parse().unwrap();
        std::net::TcpStream::connect(addr).is_ok()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(url.is_some(), "first line was {first:?}");
    assert_eq!(reachable, Some(true));

    let bad = Command::new(&example)
        .env("MOCK_PORT", "not-a-port")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[tokio::test]
async fn jscode2session_busy_fault_leaves_the_code_usable() {
    let mock = MockWechat::start().await.unwrap();
    let mini = mock.mini_program();
    let code = mock.sdk_code(&mini.appid, "alice").unwrap();
    let call = || async {
        http()
            .get(format!("{}/sns/jscode2session", mock.api_base()))
            .query(&[
                ("appid", mini.appid.as_str()),
                ("secret", &mini.secret),
                ("js_code", &code),
                ("grant_type", "authorization_code"),
            ])
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    mock.inject("sns/jscode2session", Fault::Errcode(-1), 1);
    assert_eq!(errcode(&call().await), -1);
    assert!(call().await["session_key"].is_string());
    // Not an HTTP status: answered as 500.
    mock.inject("sns/jscode2session", Fault::HttpStatus(42), 1);
    let resp = http()
        .get(format!("{}/sns/jscode2session", mock.api_base()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    // A fault for a name that is no endpoint never fires anywhere.
    mock.inject("sns/jscode2sesion", Fault::Errcode(-1), 1);
    assert_eq!(errcode(&call().await), 40163);
}

// ------------------------------------------- /mock/phone: mini program codes

#[tokio::test]
async fn phone_page_confirms_a_mini_program_code_at_the_site() {
    use std::sync::{Arc, Mutex};

    let mock = MockWechat::start().await.unwrap();
    let mini = mock.mini_program().clone();

    // The site: records what the mini program POSTs to miniprogram/scan/open (answered with
    // who asked and a token) and then to miniprogram/scan.
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let opened: Arc<Mutex<Vec<Value>>> = Arc::default();
    let site = {
        let (got, opened) = (got.clone(), opened.clone());
        axum::Router::new()
            .route(
                "/auth/wechat/miniprogram/scan/open",
                axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
                    let opened = opened.clone();
                    async move {
                        opened.lock().unwrap().push(v);
                        axum::Json(json!({
                            "requester": {"site": "example.com", "browser": "Chrome 130.0 · Linux",
                                          "ip": "203.0.113.7", "time": "2024-01-01 08:00:00"},
                            "token": "tok-1",
                            "expires_in": 60,
                        }))
                    }
                }),
            )
            .route(
                "/auth/wechat/miniprogram/scan",
                axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
                    let got = got.clone();
                    async move {
                        got.lock().unwrap().push(v);
                        axum::Json(json!({"status": "confirmed"}))
                    }
                }),
            )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site_origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, site).await.unwrap() });

    // The site's page shows a mini program code: the mock draws it and remembers its scene.
    let token: Value = http()
        .post(format!("{}/cgi-bin/stable_token", mock.api_base()))
        .json(
            &json!({"grant_type": "client_credential", "appid": mini.appid, "secret": mini.secret}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().expect("mini program token");
    let scene = "s7Kq2x";
    let png = http()
        .post(format!("{}/wxa/getwxacodeunlimit", mock.api_base()))
        .query(&[("access_token", token)])
        .json(&json!({"scene": scene, "page": "pages/login/confirm"}))
        .send()
        .await
        .unwrap();
    assert_eq!(png.headers()["content-type"], "image/jpeg");
    let page = |done: Option<&str>| {
        let url = format!("{}{}", mock.url(), done.unwrap_or("/mock/phone"));
        async move { http().get(url).send().await.unwrap().text().await.unwrap() }
    };
    let html = page(None).await;
    assert!(html.contains("Mini program codes"), "{html}");
    assert!(html.contains(&format!("scene={scene}")), "{html}");
    assert!(
        html.contains("确认 as alice") && html.contains("取消 as bob"),
        "{html}"
    );

    // No server yet: a clear message, nothing sent.
    let form = [
        ("appid", mini.appid.as_str()),
        ("scene", scene),
        ("user", "alice"),
        ("decision", "confirm"),
    ];
    let press = || async {
        let resp = http()
            .post(format!("{}/mock/phone/miniprogram", mock.url()))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        resp.headers()["location"].to_str().unwrap().to_owned()
    };
    let html = page(Some(&press().await)).await;
    assert!(html.contains("no mini program server"), "{html}");
    assert!(got.lock().unwrap().is_empty());

    // With the site as server (over the control API): the decision reaches the site.
    let (status, v) = post(
        &mock,
        "/mock/miniprogram_server",
        json!({"url": format!("{site_origin}/")}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["url"], site_origin.as_str());
    assert_eq!(
        mock.mini_program_server(&mini.appid).as_deref(),
        Some(site_origin.as_str())
    );
    let html = page(Some(&press().await)).await;
    assert!(html.contains("200"), "{html}");
    assert!(html.contains("confirmed"), "{html}");
    // The mini program's confirm page showed who asked.
    assert!(
        html.contains("Chrome 130.0 · Linux") && html.contains("203.0.113.7"),
        "{html}"
    );
    // Two steps: who opened it (a wx.login() code), then the decision with the token.
    let sent = got.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["scene"], scene);
    assert_eq!(sent[0]["decision"], "confirm");
    assert_eq!(sent[0]["token"], "tok-1");
    assert!(sent[0].get("code").is_none(), "{sent:?}");
    let open = opened.lock().unwrap().clone();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["scene"], scene);
    let code = open[0]["code"].as_str().expect("code");
    let s: Value = http()
        .get(format!("{}/sns/jscode2session", mock.api_base()))
        .query(&[
            ("appid", mini.appid.as_str()),
            ("secret", &mini.secret),
            ("js_code", code),
            ("grant_type", "authorization_code"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        s["openid"],
        mock.user("alice").unwrap().openid_for(&mini.appid),
        "{s}"
    );

    // A bad decision or a bad server is refused.
    let resp = http()
        .post(format!("{}/mock/phone/miniprogram", mock.url()))
        .form(&[("scene", scene), ("user", "alice"), ("decision", "maybe")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let (status, _) = post(&mock, "/mock/miniprogram_server", json!({"url": "ftp://x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let oa = mock.official_account().appid.clone();
    assert!(
        mock.set_mini_program_server(&oa, Some(&site_origin))
            .is_err()
    );
}
