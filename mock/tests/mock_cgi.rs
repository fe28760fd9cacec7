//! The mock's `cgi-bin/*` side over real sockets, with raw HTTP (reqwest): global tokens,
//! parametric QR codes, the QR image and follower info, checked against the protocol document.

use std::time::Duration;

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use wechat_auth_mock::{MockApp, MockConfig, MockWechat, QrScene};

thread_local! {
    static HTTP: Client = Client::new();
}

fn http() -> Client {
    HTTP.with(Client::clone)
}

fn errcode(v: &Value) -> i64 {
    v["errcode"].as_i64().unwrap_or(0)
}

async fn json_of(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

async fn basic_token(mock: &MockWechat, app: &MockApp) -> Value {
    json_of(
        http()
            .get(format!("{}/cgi-bin/token", mock.api_base()))
            .query(&[
                ("grant_type", "client_credential"),
                ("appid", &app.appid),
                ("secret", &app.secret),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn stable_token(mock: &MockWechat, body: Value) -> Value {
    json_of(
        http()
            .post(format!("{}/cgi-bin/stable_token", mock.api_base()))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn stable_body(app: &MockApp, force: bool) -> Value {
    json!({"grant_type": "client_credential", "appid": app.appid, "secret": app.secret, "force_refresh": force})
}

async fn create_qr(mock: &MockWechat, token: &str, body: &Value) -> Value {
    json_of(
        http()
            .post(format!("{}/cgi-bin/qrcode/create", mock.api_base()))
            .query(&[("access_token", token)])
            .json(body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn str_scene(scene: &str, expire: Option<i64>) -> Value {
    let mut body =
        json!({"action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": scene}}});
    if let Some(e) = expire {
        body["expire_seconds"] = json!(e);
    }
    body
}

/// Whether `token` is accepted by a cgi-bin API (0) or its errcode.
async fn token_state(mock: &MockWechat, token: &str) -> i64 {
    errcode(&create_qr(mock, token, &str_scene("probe", None)).await)
}

async fn oa_token(mock: &MockWechat) -> String {
    basic_token(mock, mock.official_account()).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

// ---------------------------------------------------------------- cgi-bin/token

#[tokio::test]
async fn cgi_token_issues_a_new_token_and_the_old_one_lives_five_minutes() {
    let mock = MockWechat::start().await.unwrap();
    let oa = mock.official_account();
    let first = basic_token(&mock, oa).await;
    assert_eq!(first["expires_in"], 7200);
    let t1 = first["access_token"].as_str().unwrap().to_owned();
    assert!(t1.len() > 100 && t1.split_once('_').unwrap().0.parse::<u32>().is_ok());
    assert_eq!(token_state(&mock, &t1).await, 0);

    mock.advance(Duration::from_secs(60));
    let t2 = basic_token(&mock, oa).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(t1, t2, "each call gives a fresh token");
    assert_eq!(token_state(&mock, &t1).await, 0, "old token overlaps");
    assert_eq!(token_state(&mock, &t2).await, 0);
    mock.advance(Duration::from_secs(299));
    assert_eq!(token_state(&mock, &t1).await, 0);
    mock.advance(Duration::from_secs(2));
    assert_eq!(
        token_state(&mock, &t1).await,
        40001,
        "superseded and past overlap"
    );
    assert_eq!(token_state(&mock, &t2).await, 0);

    // A third token kills the first overlap at once.
    let t3 = basic_token(&mock, oa).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let t4 = basic_token(&mock, oa).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(token_state(&mock, &t2).await, 40001);
    assert_eq!(token_state(&mock, &t3).await, 0);
    assert_eq!(token_state(&mock, &t4).await, 0);

    // Natural expiry after 7200 s: 42001.
    mock.advance(Duration::from_secs(7201));
    assert_eq!(token_state(&mock, &t4).await, 42001);
}

#[tokio::test]
async fn cgi_token_errors() {
    let mock = MockWechat::start().await.unwrap();
    let oa = mock.official_account();
    let url = format!("{}/cgi-bin/token", mock.api_base());
    let bad_secret = "0".repeat(32);
    let cases: [(&[(&str, &str)], i64); 6] = [
        (&[("appid", &oa.appid), ("secret", &oa.secret)], 40002),
        (
            &[("grant_type", "client_credential"), ("secret", &oa.secret)],
            41002,
        ),
        (
            &[("grant_type", "client_credential"), ("appid", &oa.appid)],
            41004,
        ),
        (
            &[
                ("grant_type", "client_credential"),
                ("appid", "wx_nope"),
                ("secret", &oa.secret),
            ],
            40013,
        ),
        (
            &[
                ("grant_type", "client_credential"),
                ("appid", &oa.appid),
                ("secret", &bad_secret),
            ],
            40125,
        ),
        (
            &[
                ("grant_type", "client_credential"),
                ("appid", &mock.website().appid),
                ("secret", &mock.website().secret),
            ],
            40013,
        ),
    ];
    for (q, want) in cases {
        let v = json_of(http().get(&url).query(q).send().await.unwrap()).await;
        assert_eq!(errcode(&v), want, "{q:?}");
    }
    let v = json_of(http().post(&url).send().await.unwrap()).await;
    assert_eq!(errcode(&v), 43001);
    assert!(
        v["errmsg"]
            .as_str()
            .unwrap()
            .starts_with("require GET method")
    );
    // Mini programs have global tokens too.
    let mini = basic_token(&mock, mock.mini_program()).await;
    assert!(mini["access_token"].is_string());
}

// ---------------------------------------------------------------- cgi-bin/stable_token

#[tokio::test]
async fn stable_token_is_stable_until_forced_and_isolated_from_cgi_token() {
    let mock = MockWechat::start().await.unwrap();
    let oa = mock.official_account();
    let a = stable_token(&mock, stable_body(oa, false)).await;
    let s1 = a["access_token"].as_str().unwrap().to_owned();
    assert_eq!(a["expires_in"], 7200);
    mock.advance(Duration::from_secs(100));
    let b = stable_token(&mock, stable_body(oa, false)).await;
    assert_eq!(b["access_token"], s1.as_str());
    let left = b["expires_in"].as_u64().unwrap();
    assert!((7099..=7100).contains(&left), "{left}");
    // `force_refresh` is optional.
    let c = stable_token(
        &mock,
        json!({"grant_type": "client_credential", "appid": oa.appid, "secret": oa.secret}),
    )
    .await;
    assert_eq!(c["access_token"], s1.as_str());

    // cgi-bin/token neither returns nor disturbs the stable token.
    let basic = oa_token(&mock).await;
    assert_ne!(basic, s1);
    assert_eq!(token_state(&mock, &s1).await, 0);
    assert_eq!(token_state(&mock, &basic).await, 0);
    oa_token(&mock).await;
    oa_token(&mock).await;
    assert_eq!(token_state(&mock, &s1).await, 0);
    assert_eq!(
        stable_token(&mock, stable_body(oa, false)).await["access_token"],
        s1.as_str()
    );

    // Forced: a new token; the previous one overlaps for a while.
    let f1 = stable_token(&mock, stable_body(oa, true)).await;
    let s2 = f1["access_token"].as_str().unwrap().to_owned();
    assert_ne!(s2, s1);
    assert_eq!(f1["expires_in"], 7200);
    assert_eq!(token_state(&mock, &s1).await, 0);
    assert_eq!(
        stable_token(&mock, stable_body(oa, false)).await["access_token"],
        s2.as_str()
    );
    // Within 30 s of the last force: no refresh.
    mock.advance(Duration::from_secs(10));
    let again = stable_token(&mock, stable_body(oa, true)).await;
    assert_eq!(again["access_token"], s2.as_str());
    // 30 s later a second force kills the leaked first token.
    mock.advance(Duration::from_secs(25));
    let s3 = stable_token(&mock, stable_body(oa, true)).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(s3, s2);
    assert_eq!(token_state(&mock, &s1).await, 40001);
    assert_eq!(token_state(&mock, &s2).await, 0);
    assert_eq!(token_state(&mock, &s3).await, 0);
}

#[tokio::test]
async fn stable_token_rotates_in_its_last_five_minutes() {
    let mock = MockWechat::start().await.unwrap();
    let oa = mock.official_account();
    let s1 = stable_token(&mock, stable_body(oa, false)).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    mock.advance(Duration::from_secs(6850));
    let v = stable_token(&mock, stable_body(oa, false)).await;
    assert_eq!(v["access_token"], s1.as_str());
    assert!(v["expires_in"].as_u64().unwrap() >= 300);
    mock.advance(Duration::from_secs(100)); // 250 s left
    let v = stable_token(&mock, stable_body(oa, false)).await;
    let s2 = v["access_token"].as_str().unwrap().to_owned();
    assert_ne!(s2, s1);
    assert_eq!(v["expires_in"], 7200);
    assert_eq!(token_state(&mock, &s1).await, 0, "old and new overlap");
    mock.advance(Duration::from_secs(251));
    assert_eq!(token_state(&mock, &s1).await, 40001);
    assert_eq!(token_state(&mock, &s2).await, 0);
}

#[tokio::test]
async fn stable_token_errors_and_force_quota() {
    let mock = MockWechat::start().await.unwrap();
    let oa = mock.official_account();
    let url = format!("{}/cgi-bin/stable_token", mock.api_base());
    let cases = [
        (json!({"appid": oa.appid, "secret": oa.secret}), 40002),
        (
            json!({"grant_type": "client_credential", "secret": oa.secret}),
            41002,
        ),
        (
            json!({"grant_type": "client_credential", "appid": oa.appid}),
            41004,
        ),
        (
            json!({"grant_type": "client_credential", "appid": "wx_nope", "secret": oa.secret}),
            40013,
        ),
        (
            json!({"grant_type": "client_credential", "appid": oa.appid, "secret": "x"}),
            40125,
        ),
        (
            json!({"grant_type": "client_credential", "appid": oa.appid, "secret": oa.secret, "force_refresh": "yes"}),
            47001,
        ),
        (json!(["not", "an", "object"]), 47001),
    ];
    for (body, want) in cases {
        assert_eq!(
            errcode(&stable_token(&mock, body.clone()).await),
            want,
            "{body}"
        );
    }
    let v = json_of(http().post(&url).body("{not json").send().await.unwrap()).await;
    assert_eq!(errcode(&v), 47001);
    let v = json_of(http().post(&url).send().await.unwrap()).await;
    assert_eq!(errcode(&v), 44002);
    let v = json_of(http().get(&url).send().await.unwrap()).await;
    assert_eq!(errcode(&v), 43002);
    assert!(
        v["errmsg"]
            .as_str()
            .unwrap()
            .starts_with("require POST method")
    );

    // At most 20 forced refreshes a day.
    for i in 0..20 {
        let v = stable_token(&mock, stable_body(oa, true)).await;
        assert!(v["access_token"].is_string(), "force {i}: {v}");
        mock.advance(Duration::from_secs(31));
    }
    assert_eq!(
        errcode(&stable_token(&mock, stable_body(oa, true)).await),
        45009
    );
    // Normal mode still works; a day later forcing works again.
    assert!(stable_token(&mock, stable_body(oa, false)).await["access_token"].is_string());
    mock.advance(Duration::from_secs(24 * 3600));
    assert!(stable_token(&mock, stable_body(oa, true)).await["access_token"].is_string());
}

// ---------------------------------------------------------------- qrcode/create

#[tokio::test]
async fn qrcode_create_answers_ticket_expiry_and_url() {
    let mock = MockWechat::start().await.unwrap();
    let token = oa_token(&mock).await;
    let v = create_qr(&mock, &token, &str_scene("login_3f9a2c", Some(300))).await;
    assert!(v.get("errcode").is_none(), "{v}");
    assert_eq!(v["expire_seconds"], 300);
    let ticket = v["ticket"].as_str().unwrap();
    assert!(
        ticket.contains('+') && ticket.contains('/') && ticket.ends_with('='),
        "{ticket}"
    );
    let url = v["url"].as_str().unwrap();
    let id = url.strip_prefix("http://weixin.qq.com/q/").unwrap();
    assert_eq!(id.len(), 22);
    assert_eq!(mock.ticket_for_url(url).as_deref(), Some(ticket));
    let info = mock.qr_ticket(ticket).unwrap();
    assert_eq!(info.scene, QrScene::Str("login_3f9a2c".into()));
    assert_eq!(info.url, url);
    assert_eq!(info.action_name, "QR_STR_SCENE");
    assert_eq!(info.appid, mock.official_account().appid);
    let life = info.expires_at.unwrap().duration_since(mock.now()).unwrap();
    assert!(life <= Duration::from_secs(300) && life > Duration::from_secs(290));

    // Default 60 s, at most 30 days, non-positive → default.
    let v = create_qr(&mock, &token, &str_scene("a", None)).await;
    assert_eq!(v["expire_seconds"], 60);
    let v = create_qr(&mock, &token, &str_scene("a", Some(99_999_999))).await;
    assert_eq!(v["expire_seconds"], 2_592_000);
    let v = create_qr(&mock, &token, &str_scene("a", Some(0))).await;
    assert_eq!(v["expire_seconds"], 60);

    // Integer scenes.
    let v = create_qr(
        &mock,
        &token,
        &json!({"expire_seconds": 604800, "action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 123}}}),
    )
    .await;
    assert_eq!(v["expire_seconds"], 604800);
    assert_eq!(
        mock.qr_ticket(v["ticket"].as_str().unwrap()).unwrap().scene,
        QrScene::Id(123)
    );

    // Temporary tickets die on the mock clock.
    let short = create_qr(&mock, &token, &str_scene("short", None)).await;
    mock.advance(Duration::from_secs(61));
    assert!(mock.qr_ticket(short["ticket"].as_str().unwrap()).is_none());
    assert!(
        mock.ticket_for_url(short["url"].as_str().unwrap())
            .is_none()
    );
    assert!(
        mock.ticket_for_url("http://weixin.qq.com/q/unknown")
            .is_none()
    );
}

#[tokio::test]
async fn permanent_codes_have_no_expiry_and_reuse_their_scene() {
    let mock = MockWechat::start().await.unwrap();
    let token = oa_token(&mock).await;
    let body = json!({"action_name": "QR_LIMIT_STR_SCENE", "expire_seconds": 60, "action_info": {"scene": {"scene_str": "promo"}}});
    let a = create_qr(&mock, &token, &body).await;
    assert!(a.get("expire_seconds").is_none(), "{a}");
    let b = create_qr(&mock, &token, &body).await;
    assert_eq!(a["ticket"], b["ticket"]);
    assert_eq!(a["url"], b["url"]);
    let c = create_qr(
        &mock,
        &token,
        &json!({"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 100000}}}),
    )
    .await;
    assert_ne!(c["ticket"], a["ticket"]);
    mock.advance(Duration::from_secs(400 * 24 * 3600));
    let info = mock.qr_ticket(a["ticket"].as_str().unwrap()).unwrap();
    assert_eq!(info.expires_at, None);
    assert_eq!(info.scene, QrScene::Str("promo".into()));
}

#[tokio::test]
async fn qrcode_create_validates_the_body() {
    let mock = MockWechat::start().await.unwrap();
    let token = oa_token(&mock).await;
    // The famous gotcha: without the `scene` wrapper the code gets scene 0.
    let v = create_qr(
        &mock,
        &token,
        &json!({"action_name": "QR_SCENE", "action_info": {"scene_id": 123}}),
    )
    .await;
    assert_eq!(
        mock.qr_ticket(v["ticket"].as_str().unwrap()).unwrap().scene,
        QrScene::Id(0)
    );

    let long = "x".repeat(65);
    let bad = [
        json!({"action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": long}}}),
        json!({"action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": ""}}}),
        json!({"action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_id": 5}}}),
        json!({"action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 0}}}),
        json!({"action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": -4}}}),
        json!({"action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 4294967296u64}}}),
        json!({"action_name": "QR_SCENE", "action_info": {"scene": {"scene_str": "a"}}}),
        json!({"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 100001}}}),
        json!({"action_name": "QR_FANCY", "action_info": {"scene": {"scene_id": 1}}}),
        json!({"action_info": {"scene": {"scene_id": 1}}}),
        json!({"action_name": "QR_SCENE"}),
        json!({"action_name": "QR_SCENE", "action_info": {"scene": 7}}),
    ];
    for body in &bad {
        assert_eq!(
            errcode(&create_qr(&mock, &token, body).await),
            40053,
            "{body}"
        );
    }
    let ok = json!({"action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": "x".repeat(64)}}});
    assert!(create_qr(&mock, &token, &ok).await["ticket"].is_string());
    let ok =
        json!({"action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 4294967295u64}}});
    assert!(create_qr(&mock, &token, &ok).await["ticket"].is_string());
    let v = create_qr(
        &mock,
        &token,
        &json!({"expire_seconds": "soon", "action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": "a"}}}),
    )
    .await;
    assert_eq!(errcode(&v), 47001);

    let url = format!("{}/cgi-bin/qrcode/create", mock.api_base());
    let v = json_of(
        http()
            .post(&url)
            .query(&[("access_token", &token)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(errcode(&v), 44002);
    let v = json_of(
        http()
            .get(&url)
            .query(&[("access_token", &token)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(errcode(&v), 43002);
}

#[tokio::test]
async fn qrcode_create_checks_the_global_token() {
    let mock = MockWechat::start().await.unwrap();
    let body = str_scene("x", None);
    let url = format!("{}/cgi-bin/qrcode/create", mock.api_base());
    let v = json_of(http().post(&url).json(&body).send().await.unwrap()).await;
    assert_eq!(errcode(&v), 41001);
    assert_eq!(errcode(&create_qr(&mock, "86_garbage", &body).await), 40001);
    // A user token is not a global token.
    let code = mock.sdk_code(&mock.mobile().appid, "alice").unwrap();
    let m = mock.mobile();
    let user = json_of(
        http()
            .get(format!("{}/sns/oauth2/access_token", mock.api_base()))
            .query(&[
                ("appid", &m.appid),
                ("secret", &m.secret),
                ("code", &code),
                ("grant_type", &"authorization_code".to_owned()),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        errcode(&create_qr(&mock, user["access_token"].as_str().unwrap(), &body).await),
        40001
    );
    // A mini program's token has no QR permission.
    let mini = basic_token(&mock, mock.mini_program()).await;
    assert_eq!(
        errcode(&create_qr(&mock, mini["access_token"].as_str().unwrap(), &body).await),
        48001
    );
    let token = oa_token(&mock).await;
    mock.advance(Duration::from_secs(7200));
    assert_eq!(errcode(&create_qr(&mock, &token, &body).await), 42001);
}

// ---------------------------------------------------------------- showqrcode

/// Decodes the PNG and checks that its modules are exactly the QR code of `content`.
fn assert_png_encodes(png: &[u8], content: &str) {
    let img = image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .unwrap()
        .to_luma8();
    let code = qrcode::QrCode::new(content.as_bytes()).unwrap();
    let n = code.width() as u32;
    assert_eq!(img.width(), img.height());
    let module = img.width() / (n + 8); // 4-module quiet zone each side
    assert!(module >= 4, "{} px for {n} modules", img.width());
    assert_eq!(img.width(), module * (n + 8));
    let colors = code.to_colors();
    for y in 0..n {
        for x in 0..n {
            let px = img.get_pixel((x + 4) * module + module / 2, (y + 4) * module + module / 2);
            let dark = px.0[0] < 128;
            assert_eq!(
                dark,
                colors[(y * n + x) as usize] == qrcode::Color::Dark,
                "module ({x},{y})"
            );
        }
    }
}

#[tokio::test]
async fn showqrcode_serves_the_qr_image_for_live_tickets() {
    let mock = MockWechat::start().await.unwrap();
    let token = oa_token(&mock).await;
    let v = create_qr(&mock, &token, &str_scene("login_1", Some(120))).await;
    let ticket = v["ticket"].as_str().unwrap();
    let url = format!("{}/cgi-bin/showqrcode", mock.mp_base());
    let resp = http()
        .get(&url)
        .query(&[("ticket", ticket)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert_eq!(resp.headers()["cache-control"], "max-age=604800");
    let png = resp.bytes().await.unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert_png_encodes(&png, v["url"].as_str().unwrap());

    // The ticket must be URL-encoded: raw `+` reads as a space and the ticket is unknown.
    let raw = http()
        .get(format!("{url}?ticket={ticket}"))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::NOT_FOUND);
    for q in [&[("ticket", "gQH47joAAAAAAAAAASxodHRw")][..], &[]] {
        let resp = http().get(&url).query(q).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
    // Expired → 404.
    mock.advance(Duration::from_secs(121));
    let resp = http()
        .get(&url)
        .query(&[("ticket", ticket)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(mock.calls("cgi-bin/showqrcode"), 5);
}

// ---------------------------------------------------------------- user/info

async fn user_info(mock: &MockWechat, token: &str, openid: &str) -> Value {
    json_of(
        http()
            .get(format!("{}/cgi-bin/user/info", mock.api_base()))
            .query(&[
                ("access_token", token),
                ("openid", openid),
                ("lang", "zh_CN"),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn user_info_reports_follow_state() {
    let mock = MockWechat::start_with(MockConfig::default().subscribed_user("carol"))
        .await
        .unwrap();
    let oa = mock.official_account().appid.clone();
    let token = oa_token(&mock).await;
    let alice = mock.user("alice").unwrap();
    let openid = alice.openid_for(&oa);

    let v = user_info(&mock, &token, &openid).await;
    assert_eq!(v["subscribe"], 0, "{v}");
    assert_eq!(v["openid"], openid.as_str());
    assert!(v.get("nickname").is_none());

    let before = mock.now();
    mock.set_subscribed("alice", true).unwrap();
    let v = user_info(&mock, &token, &openid).await;
    assert_eq!(v["subscribe"], 1, "{v}");
    assert_eq!(v["openid"], openid.as_str());
    assert_eq!(v["unionid"], alice.unionid);
    assert_eq!(v["nickname"], "", "no nickname since 2021-12");
    assert_eq!(v["headimgurl"], "");
    assert_eq!(v["sex"], 0);
    let since = v["subscribe_time"].as_u64().unwrap();
    let before = before
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(since >= before && since <= before + 5);
    assert_eq!(v["tagid_list"], json!([]));

    assert_eq!(
        user_info(&mock, &token, &mock.user("carol").unwrap().openid_for(&oa)).await["subscribe"],
        1
    );
    mock.set_subscribed("alice", false).unwrap();
    assert_eq!(user_info(&mock, &token, &openid).await["subscribe"], 0);
}

#[tokio::test]
async fn user_info_errors() {
    let mock = MockWechat::start().await.unwrap();
    let oa = mock.official_account().appid.clone();
    let token = oa_token(&mock).await;
    let website_openid = mock
        .user("alice")
        .unwrap()
        .openid_for(&mock.website().appid);
    assert_eq!(
        errcode(&user_info(&mock, &token, &website_openid).await),
        40003
    );
    assert_eq!(errcode(&user_info(&mock, &token, "oNotAUser").await), 40003);
    let url = format!("{}/cgi-bin/user/info", mock.api_base());
    let v = json_of(
        http()
            .get(&url)
            .query(&[("access_token", &token)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(errcode(&v), 41009);
    let openid = mock.user("alice").unwrap().openid_for(&oa);
    let v = json_of(
        http()
            .get(&url)
            .query(&[("openid", &openid)])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(errcode(&v), 41001);
    assert_eq!(errcode(&user_info(&mock, "86_nope", &openid).await), 40001);
    let mini = basic_token(&mock, mock.mini_program()).await;
    assert_eq!(
        errcode(&user_info(&mock, mini["access_token"].as_str().unwrap(), &openid).await),
        48001
    );
    mock.advance(Duration::from_secs(7201));
    assert_eq!(errcode(&user_info(&mock, &token, &openid).await), 42001);
}

#[tokio::test]
async fn user_info_omits_unionid_for_an_unbound_oa() {
    let oa_app = MockApp::default_for(wechat_auth_mock::AppKind::OfficialAccount).unbound();
    let mock = MockWechat::start_with(
        MockConfig::default()
            .with_app(oa_app)
            .subscribed_user("bob"),
    )
    .await
    .unwrap();
    let token = oa_token(&mock).await;
    let openid = mock
        .user("bob")
        .unwrap()
        .openid_for(&mock.official_account().appid);
    let v = user_info(&mock, &token, &openid).await;
    assert_eq!(v["subscribe"], 1);
    assert!(v.get("unionid").is_none(), "{v}");
}
