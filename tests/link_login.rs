//! Login from a phone browser outside WeChat through a mini program link (`via=link`), end to
//! end over real sockets: the phone browser starts (`POST scan?via=link`) and gets a link
//! made by the mock's `wxa/generate_urllink` (or `generatescheme`); the mock opens the link
//! as the mini program would (`POST /mock/miniprogram/open {"url_link","user"}`), which
//! answers in the two steps (`miniprogram/scan/open`, then `miniprogram/scan`); the
//! browser's long-poll lands `confirmed` with its session. Cancel, reuse on reload, a forged
//! scene (404) and an ended one (410), WeChat's refusals (40002, 85079) as typed answers that
//! name the likely cause, the page without a mini program, and scheme mode.
//! `WECHAT_TEST_STORE=redis` runs the same suite on Redis.

mod common;

use std::time::Duration;

use common::*;
use reqwest::Client;
use serde_json::{Value, json};
use wechat_auth::{MiniLink, WechatConfigBuilder, mock::Fault, mock::MockWechat};

/// Safari on an iPhone: a phone browser outside WeChat.
const PHONE_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

/// The mini program page the link opens.
const PAGE: &str = "pages/login/confirm";

/// A site with a mini program (and nothing else).
fn mini_site(mock: &MockWechat) -> WechatConfigBuilder {
    let mini = mock.mini_program();
    with_test_store(wechat_auth::WechatConfig::builder())
        .with_session_secret(SECRET)
        .with_wechat_bases(mock.url(), mock.url(), mock.url())
        .with_mini_program(mini.appid.clone(), mini.secret.clone())
        .with_mini_program_code_page(PAGE)
        .with_public_path("/")
        .with_http_timeout(Duration::from_secs(2))
}

/// A phone browser: keeps cookies, follows no redirects.
fn phone() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(PHONE_UA)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// `POST scan?via=link&return_to=/profile`: status and body.
async fn start_link(app: &App, b: &Client) -> (u16, Value) {
    let res = b
        .post(format!(
            "{}/auth/wechat/scan?via=link&return_to=/profile",
            app.url
        ))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The mock opens `link` as the mini program would for `user`: `{scene, code, query, path,
/// scene_id}`.
async fn open_link(mock: &MockWechat, link: &str, user: &str) -> (u16, Value) {
    let res = Client::new()
        .post(format!("{}/mock/miniprogram/open", mock.url()))
        .json(&json!({ "url_link": link, "user": user }))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// POSTs `body` to the mini program endpoint `path` as the mini program's `wx.request`.
async fn post_mini(app: &App, path: &str, body: Value) -> (u16, Value) {
    let res = Client::new()
        .post(format!("{}/auth/wechat/{path}", app.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

/// The mini program the link opened says who opened it (step 1): `{requester, token, …}`.
async fn opened_by(app: &App, mock: &MockWechat, link: &str, user: &str) -> (u16, Value) {
    let (status, opened) = open_link(mock, link, user).await;
    assert_eq!(status, 200, "the mock opens the link: {opened}");
    let (scene, code) = (
        opened["scene"].as_str().unwrap(),
        opened["code"].as_str().unwrap(),
    );
    post_mini(
        app,
        "miniprogram/scan/open",
        json!({ "scene": scene, "code": code }),
    )
    .await
}

/// Step 2: that user's answer.
async fn answer(app: &App, scene: &str, token: &str, decision: &str) -> (u16, Value) {
    post_mini(
        app,
        "miniprogram/scan",
        json!({ "scene": scene, "token": token, "decision": decision }),
    )
    .await
}

/// A long-poll of the browser `b`, in the background.
fn poll_later(
    app: &App,
    b: &Client,
    id: &str,
    query: &str,
) -> tokio::task::JoinHandle<(u16, Value)> {
    let (b, url) = (
        b.clone(),
        format!("{}/auth/wechat/scan/{id}?{query}", app.url),
    );
    tokio::spawn(async move {
        let res = b.get(url).send().await.unwrap();
        (res.status().as_u16(), res.json::<Value>().await.unwrap())
    })
}

async fn landed(waiting: tokio::task::JoinHandle<(u16, Value)>) -> (u16, Value) {
    tokio::time::timeout(Duration::from_secs(8), waiting)
        .await
        .expect("the long-poll woke up")
        .unwrap()
}

#[tokio::test]
async fn a_phone_browser_logs_in_through_the_mini_program_link() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(mini_site(&mock)).await;
    let b = phone();

    // The phone page: a button to open WeChat, no QR code.
    let res = b
        .get(format!(
            "{}/auth/wechat/scan?via=link&return_to=/profile",
            app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains(r#"id="open-wechat""#), "{html}");
    assert!(html.contains("打开微信登录"), "{html}");
    assert!(html.contains("via=link"), "the page starts a link scan");
    assert!(!html.contains("<img"), "no QR code on a phone");

    // The start: a link on the mock's host, made once.
    let (status, started) = start_link(&app, &b).await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["via"], "link");
    let id = started["id"].as_str().unwrap().to_owned();
    let link = started["url_link"].as_str().unwrap().to_owned();
    assert!(link.starts_with(&mock.url()), "{link}");
    let expires_in = started["expires_in"].as_u64().unwrap();
    assert!((1..=300).contains(&expires_in), "{started}");
    assert!(started.get("image_url").is_none(), "{started}");
    assert_eq!(mock.calls("wxa/generate_urllink"), 1);

    // A reload of the page: the same scan and link, no new call.
    let (status, again) = start_link(&app, &b).await;
    assert_eq!(status, 200);
    assert_eq!(
        (again["id"].as_str(), again["url_link"].as_str()),
        (Some(id.as_str()), Some(link.as_str()))
    );
    assert_eq!(
        mock.calls("wxa/generate_urllink"),
        1,
        "a link is made once per scan"
    );

    // The browser waits; alice opens the link in WeChat: the mini program opens on the
    // configured page with `scene=ID` (scene 1194), and is told who asked.
    let waiting = poll_later(&app, &b, &id, "wait=10&seen=pending");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, raw) = open_link(&mock, &link, "alice").await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!(raw["scene"], id.as_str(), "{raw}");
    assert_eq!(raw["scene_id"], 1194, "{raw}");
    assert_eq!(raw["path"], PAGE, "{raw}");
    let (status, opened) = post_mini(
        &app,
        "miniprogram/scan/open",
        json!({ "scene": raw["scene"], "code": raw["code"] }),
    )
    .await;
    assert_eq!(status, 200, "{opened}");
    let requester = &opened["requester"];
    let browser_seen = requester["browser"].as_str().unwrap();
    assert!(
        browser_seen.contains("Safari") && browser_seen.contains("iPhone"),
        "{opened}"
    );
    assert_eq!(requester["ip"], "127.0.0.1", "{opened}");
    let (status, polled) = landed(waiting).await;
    assert_eq!((status, polled["status"].as_str()), (200, Some("scanned")));

    // Back in the browser, the page reloads (phone browsers do when coming back): still the
    // same scan and link.
    let (_, again) = start_link(&app, &b).await;
    assert_eq!(again["id"].as_str(), Some(id.as_str()), "{again}");
    assert_eq!(mock.calls("wxa/generate_urllink"), 1);

    // She confirms in the mini program: the browser's poll lands with its session.
    let waiting = poll_later(&app, &b, &id, "wait=10&seen=scanned");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let token = opened["token"].as_str().unwrap();
    let (status, body) = answer(&app, &id, token, "confirm").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("confirmed")));
    let (status, polled) = landed(waiting).await;
    assert_eq!(
        (status, polled["status"].as_str()),
        (200, Some("confirmed")),
        "{polled}"
    );
    assert_eq!(polled["return_to"], "/profile");
    let (status, me) = get_json(&b, &format!("{}/profile", app.url)).await;
    assert_eq!(status, 200, "{me}");
    let alice = mock.user("alice").unwrap();
    assert_eq!(me["openid"], alice.openid_for(&mock.mini_program().appid));

    // Over: the link's scene cannot be opened again (410: it ended), nor answered.
    let (status, body) = opened_by(&app, &mock, &link, "alice").await;
    assert!(matches!(status, 404 | 409 | 410), "{status} {body}");
    let (status, _) = answer(&app, &id, token, "confirm").await;
    assert!(matches!(status, 404 | 409 | 410), "{status}");
}

#[tokio::test]
async fn cancel_in_the_mini_program_refuses_the_phone_browser() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(mini_site(&mock)).await;
    let b = phone();
    let (_, started) = start_link(&app, &b).await;
    let id = started["id"].as_str().unwrap().to_owned();
    let link = started["url_link"].as_str().unwrap().to_owned();

    let (status, opened) = opened_by(&app, &mock, &link, "alice").await;
    assert_eq!(status, 200, "{opened}");
    // Bob, to whom the link was forwarded, can neither open nor answer it.
    let (status, body) = opened_by(&app, &mock, &link, "bob").await;
    assert_eq!(status, 409, "{body}");
    assert!(body.get("requester").is_none(), "{body}");

    let token = opened["token"].as_str().unwrap();
    let (status, body) = answer(&app, &id, token, "cancel").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("refused")));
    let res = b
        .get(format!("{}/auth/wechat/scan/{id}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(session_token(&res).is_none(), "no session");
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "refused");
    let (status, _) = get_json(&b, &format!("{}/api/data", app.url)).await;
    assert_eq!(status, 401);

    // A new start after the refusal is a new scan with a new link.
    let (status, fresh) = start_link(&app, &b).await;
    assert_eq!(status, 200, "{fresh}");
    assert_ne!(fresh["id"].as_str(), Some(id.as_str()));
    assert_eq!(mock.calls("wxa/generate_urllink"), 2);
}

#[tokio::test]
async fn a_forged_scene_is_404_and_an_ended_link_410() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(mini_site(&mock).with_scan_ttl(Duration::from_secs(2))).await;
    let b = phone();
    let (_, started) = start_link(&app, &b).await;
    let id = started["id"].as_str().unwrap().to_owned();
    assert!(started["expires_in"].as_u64().unwrap() <= 2, "{started}");
    let code = || mock.sdk_code(&mock.mini_program().appid, "alice").unwrap();

    // Forged scenes: never made, or not even the shape of one.
    for forged in [
        "A".repeat(32),
        "short".to_owned(),
        format!("{id}x"),
        "../../x".to_owned(),
    ] {
        let (status, body) = post_mini(
            &app,
            "miniprogram/scan/open",
            json!({ "scene": forged, "code": code() }),
        )
        .await;
        assert_eq!(status, 404, "{forged}: {body}");
    }

    // The link's scan ends: the mini program is told so (410), and so is the browser.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (status, body) = post_mini(
        &app,
        "miniprogram/scan/open",
        json!({ "scene": id, "code": code() }),
    )
    .await;
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["error"], "scan_expired", "{body}");
    let (status, body) = answer(&app, &id, &"t".repeat(32), "confirm").await;
    assert_eq!(status, 410, "{body}");
    let (status, body) = get_json(&b, &format!("{}/auth/wechat/scan/{id}", app.url)).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("expired")));
}

#[tokio::test]
async fn wechat_refusing_a_link_is_answered_with_its_likely_cause() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(mini_site(&mock)).await;
    for (errcode, error, cause) in [
        (40002, "mini_link_not_allowed", "individual"),
        (85079, "mini_program_not_published", "not published"),
        (44990, "mini_link_busy", "44990"),
        (40165, "mini_link_page_invalid", "published version"),
        (45009, "mini_link_quota", "tomorrow"),
    ] {
        mock.inject("wxa/generate_urllink", Fault::Errcode(errcode), 1);
        let (status, body) = start_link(&app, &phone()).await;
        assert_eq!(status, 503, "{errcode}: {body}");
        assert_eq!(body["error"], error, "{errcode}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(cause), "{errcode}: {message}");
        assert!(
            message.contains("open it in WeChat"),
            "what to do: {message}"
        );
    }
    // Once WeChat makes links again, the next start gets one.
    let (status, body) = start_link(&app, &phone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["url_link"].as_str().unwrap().starts_with("http"));
}

#[tokio::test]
async fn without_a_mini_program_the_page_says_what_to_do_and_shows_no_qr() {
    let mock = MockWechat::start().await.unwrap();
    let site = with_test_store(wechat_auth::WechatConfig::builder())
        .with_session_secret(SECRET)
        .with_wechat_bases(mock.url(), mock.url(), mock.url())
        .with_website_app(mock.website().appid.clone(), mock.website().secret.clone())
        .with_public_path("/")
        .with_http_timeout(Duration::from_secs(2));
    let app = start(site).await;
    let b = phone();
    let res = b
        .get(format!(
            "{}/auth/wechat/scan?via=link&return_to=/profile%3Ftab%3D%3Cb%3E",
            app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("复制本页链接，在微信中打开"), "{html}");
    assert!(html.contains(r#"id="copy-link""#), "{html}");
    assert!(
        html.contains(&format!(r#"value="{}/profile?tab=%3Cb%3E""#, app.url)),
        "the page's link to copy, as an absolute URL, never raw markup: {html}"
    );
    assert!(!html.contains("<b>"), "escaped");
    assert!(!html.contains("<img") && !html.contains("qr.svg") && !html.contains("code.png"));
    assert!(!html.contains("open-wechat"), "no link to open");

    // The start itself: not configured.
    let (status, body) = start_link(&app, &b).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(mock.calls("wxa/generate_urllink"), 0);
}

#[tokio::test]
async fn scheme_mode_gives_a_weixin_openlink_that_logs_in_the_same_way() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(mini_site(&mock).with_mini_link(MiniLink::Scheme)).await;
    let b = phone();
    let (status, started) = start_link(&app, &b).await;
    assert_eq!(status, 200, "{started}");
    let id = started["id"].as_str().unwrap().to_owned();
    let link = started["url_link"].as_str().unwrap().to_owned();
    assert!(link.starts_with("weixin://dl/business/?t="), "{link}");
    assert_eq!(mock.calls("wxa/generatescheme"), 1);
    assert_eq!(mock.calls("wxa/generate_urllink"), 0);

    let (status, raw) = open_link(&mock, &link, "alice").await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!(raw["scene"], id.as_str());
    assert_eq!(raw["scene_id"], 1065, "{raw}");
    let (status, opened) = post_mini(
        &app,
        "miniprogram/scan/open",
        json!({ "scene": raw["scene"], "code": raw["code"] }),
    )
    .await;
    assert_eq!(status, 200, "{opened}");
    let (status, _) = answer(&app, &id, opened["token"].as_str().unwrap(), "confirm").await;
    assert_eq!(status, 200);
    let res = b
        .get(format!("{}/auth/wechat/scan/{id}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        session_token(&res).is_some(),
        "the phone browser has its session"
    );
}

#[tokio::test]
async fn link_starts_spend_the_daily_budget_and_the_start_limits() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(mini_site(&mock).with_scan_daily_budget(2)).await;
    for _ in 0..2 {
        let (status, body) = start_link(&app, &phone()).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = start_link(&app, &phone()).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "scan_budget_spent", "{body}");
    assert_eq!(
        mock.calls("wxa/generate_urllink"),
        2,
        "no link past the budget"
    );
}

/// A person trying it by hand: the mock's phone page opens the link (`POST /mock/phone/link`)
/// and its mini program answers the site in the two steps; the waiting phone browser lands.
#[tokio::test]
async fn the_mock_phone_opens_the_link_and_the_browser_lands() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(mini_site(&mock)).await;
    mock.set_mini_program_server(&mock.mini_program().appid, Some(&app.url))
        .unwrap();
    let b = phone();
    let (_, started) = start_link(&app, &b).await;
    let id = started["id"].as_str().unwrap().to_owned();
    let link = started["url_link"].as_str().unwrap().to_owned();

    let waiting = poll_later(&app, &b, &id, "wait=10&seen=pending");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let res = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/mock/phone/link", mock.url()))
        .form(&[
            ("url_link", link.as_str()),
            ("user", "alice"),
            ("decision", "confirm"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_redirection() || res.status().is_success(),
        "{}",
        res.status()
    );
    let (status, polled) = landed(waiting).await;
    assert_eq!(status, 200, "{polled}");
    // Scanned, then confirmed (the second poll), or confirmed at once.
    let polled = if polled["status"] == "scanned" {
        landed(poll_later(&app, &b, &id, "wait=10&seen=scanned"))
            .await
            .1
    } else {
        polled
    };
    assert_eq!(polled["status"], "confirmed", "{polled}");
    let (status, me) = get_json(&b, &format!("{}/profile", app.url)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        me["openid"],
        mock.user("alice")
            .unwrap()
            .openid_for(&mock.mini_program().appid)
    );
}
