//! The website login in a real browser: headless Chromium, driven through chromedriver,
//! follows the layer's redirects to the mock WeChat's HTML page, approves as alice, lands on
//! the protected page, then logs out. Skips (one line) without Chromium, fails under `CI=true`.

#[path = "support/browser.rs"]
mod browser;
mod common;

use browser::{APPROVE_ALICE, STEP, in_chromium, lands_on};
use fantoccini::{Client, Locator};
use wechat_auth::mock::MockWechat;

#[tokio::test]
async fn chromium_logs_in_through_the_mock_page_and_out_again() {
    let mock = MockWechat::start().await.unwrap();
    let app = common::start(common::config(&mock)).await;
    in_chromium(|client| async move { login_and_logout(&client, &mock, &app.url).await }).await;
}

async fn login_and_logout(client: &Client, mock: &MockWechat, app: &str) {
    let website = mock.website().appid.clone();
    let alice = mock.user("alice").unwrap().openid_for(&website);
    let bob = mock.user("bob").unwrap().openid_for(&website);
    let profile = url::Url::parse(&format!("{app}/profile")).unwrap();

    // 1. A navigation to the protected page goes through the login to WeChat's QR page.
    client.goto(profile.as_str()).await.unwrap();
    let approve = wait_for_mock_page(client, mock, &website).await;

    // 2. A picture of the mock's page, for people (best effort).
    if let Ok(png) = client.screenshot().await {
        let _ = std::fs::write(
            browser::target_dir().join("real_browser_mock_page.png"),
            png,
        );
    }

    // 3. Alice approves: WeChat sends the browser to the callback, which sets the session and
    //    sends it back to where it was going.
    let href = approve.attr("href").await.unwrap().unwrap_or_default();
    assert!(
        href.contains("mock_user=alice") && href.contains("mock_action=approve"),
        "the alice link: {href}"
    );
    approve.click().await.unwrap();
    let source = lands_on(client, profile.as_str()).await;
    assert!(
        source.contains(&alice),
        "alice's openid {alice} on the profile page: {source}"
    );
    assert!(!source.contains(&bob), "bob's openid on alice's page");
    assert!(
        source.contains(r#""channel":"website""#),
        "a website login: {source}"
    );

    // 4. The session cookie is there, HttpOnly, and invisible to the page's scripts.
    let session = client
        .get_named_cookie("wechat_session")
        .await
        .expect("the browser holds a wechat_session cookie");
    assert!(!session.value().is_empty());
    assert_eq!(
        session.http_only(),
        Some(true),
        "wechat_session is HttpOnly"
    );
    assert_eq!(session.same_site(), Some(cookie::SameSite::Lax));
    let visible = client
        .execute("return document.cookie", vec![])
        .await
        .unwrap();
    let visible = visible.as_str().expect("document.cookie is a string");
    assert!(
        !visible.contains("wechat_session"),
        "document.cookie shows the session: {visible:?}"
    );

    // 5. Log out from the page (same origin, as a logout button would), which clears the
    //    cookie; the protected page then sends the browser to WeChat again.
    let logout = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/auth/wechat/logout', { method: 'POST' })
               .then(r => done({ status: r.status, url: r.url, redirected: r.redirected }))
               .catch(e => done({ error: String(e) }));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(logout["redirected"], true, "logout answers 303: {logout}");
    assert_eq!(
        logout["url"],
        format!("{app}/"),
        "logout returns home: {logout}"
    );
    assert_eq!(logout["status"], 200, "{logout}");
    let cookies = client.get_all_cookies().await.unwrap();
    assert!(
        cookies.iter().all(|c| c.name() != "wechat_session"),
        "the session cookie survived logout: {cookies:?}"
    );

    client.goto(profile.as_str()).await.unwrap();
    wait_for_mock_page(client, mock, &website).await;
}

/// Waits for the mock's QR login page and checks it is the website app's; returns the
/// "approve as alice" link.
async fn wait_for_mock_page(
    client: &Client,
    mock: &MockWechat,
    website: &str,
) -> fantoccini::elements::Element {
    let link = client
        .wait()
        .at_most(STEP)
        .for_element(Locator::XPath(APPROVE_ALICE))
        .await;
    let url = client.current_url().await.unwrap();
    let link = link.unwrap_or_else(|e| panic!("no 'approve as alice' link on {url}: {e}"));
    assert!(
        url.as_str()
            .starts_with(&format!("{}/connect/qrconnect?", mock.url())),
        "on the mock's QR page: {url}"
    );
    assert!(
        url.query_pairs().any(|(k, v)| k == "appid" && v == website),
        "for the website app: {url}"
    );
    link
}

#[tokio::test]
async fn chromium_waits_on_the_scan_page_until_the_push_logs_it_in() {
    let mock = MockWechat::start().await.unwrap();
    let app = common::start(common::config(&mock)).await;
    mock.set_push_url(
        &mock.official_account().appid,
        Some(&format!("{}/auth/wechat/push", app.url)),
    )
    .unwrap();
    in_chromium(|client| async move { scan_and_land(&client, &mock, &app.url).await }).await;
}

async fn scan_and_land(client: &Client, mock: &MockWechat, app: &str) {
    let oa = mock.official_account().appid.clone();
    let alice = mock.user("alice").unwrap().openid_for(&oa);
    client
        .goto(&format!("{app}/auth/wechat/scan?return_to=/profile"))
        .await
        .unwrap();
    // The page draws the QR code from our own endpoint and exposes what it encodes.
    let img = client
        .wait()
        .at_most(STEP)
        .for_element(Locator::Css("#qr-img[data-qr-url]"))
        .await
        .expect("the QR code appears");
    let src = img.attr("src").await.unwrap().unwrap();
    assert!(
        src.starts_with("/auth/wechat/scan/") && src.ends_with("/qr.svg"),
        "{src}"
    );
    assert!(img.is_displayed().await.unwrap());
    let qr_url = img.attr("data-qr-url").await.unwrap().unwrap();
    if let Ok(png) = client.screenshot().await {
        let _ = std::fs::write(
            browser::target_dir().join("real_browser_scan_page.png"),
            png,
        );
    }

    // Alice scans with her phone: WeChat pushes the event, the waiting page moves on.
    let report = mock.scan(&qr_url, "alice").await.unwrap();
    assert!(report.acknowledged);
    let source = lands_on(client, &format!("{app}/profile")).await;
    assert!(source.contains(&alice), "{source}");
    assert!(source.contains(r#""channel":"scan_follow""#), "{source}");
}

#[tokio::test]
async fn chromium_waits_on_the_mini_program_code_until_the_phone_confirms() {
    let mock = MockWechat::start().await.unwrap();
    let app = common::start(common::config(&mock)).await;
    in_chromium(|client| async move { code_scan_and_land(&client, &mock, &app.url).await }).await;
}

async fn code_scan_and_land(client: &Client, mock: &MockWechat, app: &str) {
    let mini = mock.mini_program().appid.clone();
    let alice = mock.user("alice").unwrap().openid_for(&mini);
    client
        .goto(&format!(
            "{app}/auth/wechat/scan?return_to=/profile&via=miniprogram"
        ))
        .await
        .unwrap();
    // The page shows the mini program code, loaded with this browser's scan cookie.
    let img = client
        .wait()
        .at_most(STEP)
        .for_element(Locator::Css("#qr-img[src$='/code.png']"))
        .await
        .expect("the mini program code appears");
    let src = img.attr("src").await.unwrap().unwrap();
    let id = src
        .trim_start_matches("/auth/wechat/scan/")
        .trim_end_matches("/code.png")
        .to_owned();
    let loaded: bool = client
        .execute(
            "return arguments[0].complete && arguments[0].naturalWidth > 0",
            vec![serde_json::to_value(&img).unwrap()],
        )
        .await
        .unwrap()
        .as_bool()
        .unwrap_or(false);
    assert!(loaded, "the code image loaded in the browser");

    // Alice scans it: the mini program opens on its confirm page, which shows who asked
    // (this Chromium); the page shows `scanned`; she taps 确认.
    let (scene, code) = mock.open_mini_program(&id, "alice").unwrap();
    let opened: serde_json::Value = reqwest::Client::new()
        .post(format!("{app}/auth/wechat/miniprogram/scan/open"))
        .json(&serde_json::json!({ "scene": scene, "code": code }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        opened["requester"]["browser"]
            .as_str()
            .unwrap_or_default()
            .contains("Chrom"),
        "{opened}"
    );
    client
        .wait()
        .at_most(STEP)
        .for_element(Locator::Css("body[data-scan-status='scanned']"))
        .await
        .expect("the page says the code was scanned");
    let res = reqwest::Client::new()
        .post(format!("{app}/auth/wechat/miniprogram/scan"))
        .json(&serde_json::json!({
            "scene": scene,
            "token": opened["token"],
            "decision": "confirm",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let source = lands_on(client, &format!("{app}/profile")).await;
    assert!(source.contains(&alice), "{source}");
    assert!(
        source.contains(r#""channel":"mini_program_code""#),
        "{source}"
    );
}
