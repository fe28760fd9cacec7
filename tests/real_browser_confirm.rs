//! Scan login with phone confirmation in a real browser: headless Chromium shows the scan
//! page of an app on `localhost`; alice scans with the mock WeChat on `127.0.0.1` (another
//! site); the page waits in `scanned` ("已扫码，请在手机上确认") until the mock's phone page
//! confirms, then lands on the protected page. Skips (one line) without Chromium, fails under
//! `CI=true`.

#[path = "support/browser.rs"]
mod browser;
mod common;

use std::{net::SocketAddr, time::Duration};

use browser::{STEP, in_chromium, lands_on};
use fantoccini::{Client, Locator};
use wechat_auth::{WechatAuthLayer, mock::MockWechat};

/// The app, served on 127.0.0.1 but known as `http://localhost:PORT`: another site than the
/// mock's `http://127.0.0.1:PORT`, as WeChat is another site than the app in production.
async fn app_on_localhost(mock: &MockWechat) -> common::App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://localhost:{}", addr.port());
    let cfg = common::config(mock)
        .with_scan_confirm(true)
        .with_public_url(url.clone())
        .build()
        .unwrap();
    let app = common::routes().layer(WechatAuthLayer::new(cfg));
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    common::App::from_parts(url, addr, task)
}

#[tokio::test]
async fn chromium_waits_in_scanned_until_the_phone_confirms() {
    let mock = MockWechat::start().await.unwrap();
    assert!(mock.url().starts_with("http://127.0.0.1:"));
    let app = app_on_localhost(&mock).await;
    mock.set_push_url(
        &mock.official_account().appid,
        Some(&format!(
            "http://127.0.0.1:{}/auth/wechat/push",
            app.addr.port()
        )),
    )
    .unwrap();
    in_chromium(|client| async move { scan_confirm_and_land(&client, &mock, &app.url).await })
        .await;
}

async fn scan_confirm_and_land(client: &Client, mock: &MockWechat, app: &str) {
    let oa = mock.official_account().appid.clone();
    let alice = mock.user("alice").unwrap().openid_for(&oa);
    client
        .goto(&format!("{app}/auth/wechat/scan?return_to=/profile"))
        .await
        .unwrap();
    let img = client
        .wait()
        .at_most(STEP)
        .for_element(Locator::Css("#qr-img[data-qr-url]"))
        .await
        .expect("the QR code appears");
    let qr_url = img.attr("data-qr-url").await.unwrap().unwrap();

    // Alice scans: the account's reply names this browser and links to the confirm page.
    let report = mock.scan(&qr_url, "alice").await.unwrap();
    assert!(report.acknowledged, "{report:?}");
    let reply = report.reply.expect("a passive reply");
    assert!(reply.contains("Chrome"), "names the browser: {reply}");
    assert!(
        reply.contains(&format!("{app}/auth/wechat/scan/")),
        "links to the confirm page: {reply}"
    );

    // The desktop page waits in `scanned`.
    if let Err(e) = client
        .wait()
        .at_most(STEP)
        .for_element(Locator::Css("body[data-scan-status='scanned']"))
        .await
    {
        let source = client.source().await.unwrap_or_default();
        panic!("the page does not say it was scanned ({e}): {source}");
    }
    let said = client
        .find(Locator::Id("status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(said, "已扫码，请在手机上确认");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/auth/wechat/scan"),
        "a scan alone does not log in"
    );
    if let Ok(png) = client.screenshot().await {
        let _ = std::fs::write(
            browser::target_dir().join("real_browser_scan_scanned.png"),
            png,
        );
    }

    // On the phone: the mock's phone page opens the reply's link inside WeChat and taps
    // 确认登录.
    let phone = reqwest::Client::new();
    let page = phone
        .get(format!("{}/mock/phone", mock.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = page
        .find("/mock/phone/open?user=alice")
        .expect("the reply's link on the phone page");
    let open = page[at..at + page[at..].find('"').unwrap()].replace("&amp;", "&");
    let opened = phone
        .get(format!("{}{open}", mock.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let field = |name: &str| {
        let key = format!("name=\"{name}\" value=\"");
        let at = opened
            .find(&key)
            .unwrap_or_else(|| panic!("{name}: {opened}"))
            + key.len();
        opened[at..at + opened[at..].find('"').unwrap()]
            .replace("&amp;", "&")
            .replace("&#39;", "'")
    };
    let done = phone
        .post(format!("{}/mock/phone/answer", mock.url()))
        .form(&[
            ("user", "alice"),
            ("action", field("action").as_str()),
            ("token", field("token").as_str()),
            ("decision", "confirm"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(done.contains("已确认登录"), "{done}");

    // The desktop lands.
    let source = lands_on(client, &format!("{app}/profile")).await;
    assert!(source.contains(&alice), "{source}");
    assert!(source.contains(r#""channel":"scan_follow""#), "{source}");
}

/// A second WeChat user scans the code after alice: the page says "另一个微信已扫码" and offers
/// a fresh code; alice's confirmation still logs the browser in.
#[tokio::test]
async fn chromium_is_told_of_a_second_scanner_and_alice_still_lands() {
    let mock = MockWechat::start().await.unwrap();
    let app = app_on_localhost(&mock).await;
    mock.set_push_url(
        &mock.official_account().appid,
        Some(&format!(
            "http://127.0.0.1:{}/auth/wechat/push",
            app.addr.port()
        )),
    )
    .unwrap();
    in_chromium(|client| async move { second_scanner(&client, &mock, &app.url).await }).await;
}

async fn second_scanner(client: &Client, mock: &MockWechat, app: &str) {
    let oa = mock.official_account().appid.clone();
    let alice = mock.user("alice").unwrap().openid_for(&oa);
    client
        .goto(&format!("{app}/auth/wechat/scan?return_to=/profile"))
        .await
        .unwrap();
    let img = client
        .wait()
        .at_most(STEP)
        .for_element(Locator::Css("#qr-img[data-qr-url]"))
        .await
        .expect("the QR code appears");
    let qr_url = img.attr("data-qr-url").await.unwrap().unwrap();
    let first = mock.scan(&qr_url, "alice").await.unwrap().reply.unwrap();
    client
        .wait()
        .at_most(STEP)
        .for_element(Locator::Css("body[data-scan-status='scanned']"))
        .await
        .expect("scanned");
    let second = mock.scan(&qr_url, "bob").await.unwrap().reply.unwrap();
    assert!(
        second.contains("已被其他微信扫过") && !second.contains("Chrome"),
        "{second}"
    );
    if let Err(e) = client
        .wait()
        .at_most(STEP)
        .for_element(Locator::Css("body[data-another-scanner='1']"))
        .await
    {
        let source = client.source().await.unwrap_or_default();
        panic!("the page does not say another WeChat scanned ({e}): {source}");
    }
    let said = client
        .find(Locator::Id("status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(said.starts_with("另一个微信已扫码"), "{said}");
    let refresh = client.find(Locator::Id("refresh")).await.unwrap();
    assert!(
        refresh.is_displayed().await.unwrap(),
        "a fresh code is offered"
    );
    if let Ok(png) = client.screenshot().await {
        let _ = std::fs::write(
            browser::target_dir().join("real_browser_scan_another_scanner.png"),
            png,
        );
    }

    // Alice confirms on the phone (the reply's link, as inside WeChat): the page lands.
    let phone = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(common::WECHAT_UA)
        .build()
        .unwrap();
    let at = first.find("<a href=\"").unwrap() + 9;
    let link = first[at..at + first[at..].find('"').unwrap()].to_owned();
    // The app is `localhost` to the browser; the phone reaches the same server.
    let res = phone.get(&link).send().await.unwrap();
    let authorize = common::location(&res);
    let res = phone
        .get(MockWechat::approve_url(&authorize, "alice"))
        .send()
        .await
        .unwrap();
    let back = common::location(&res);
    let res = phone.get(&back).send().await.unwrap();
    let clean = common::location(&res);
    let page = phone
        .get(&clean)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let key = "name=\"token\" value=\"";
    let at = page.find(key).unwrap_or_else(|| panic!("{page}")) + key.len();
    let token = page[at..at + page[at..].find('"').unwrap()].to_owned();
    let done = phone
        .post(&link)
        .form(&[("token", token.as_str()), ("decision", "confirm")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(done.contains("已确认登录"), "{done}");
    let source = lands_on(client, &format!("{app}/profile")).await;
    assert!(source.contains(&alice), "{source}");
}
