//! Login from a phone browser outside WeChat in real Chromium (issue 26): Chromium's mobile
//! emulation with an iPhone Safari User-Agent opens the link page (`scan?via=link`), whose
//! script starts the scan and puts the mini program link on the "打开微信登录" button; the
//! mock's phone opens that link as the mini program (`POST /mock/phone/link`), which answers
//! the site in the two steps; the page lands on `return_to`, signed in. Without a mini
//! program, the page says to open it in WeChat and shows no QR code. Skips (one line)
//! without Chromium, fails under `CI=true`.

#[path = "support/browser.rs"]
mod browser;
mod common;

use std::time::Duration;

use browser::{STEP, in_chromium_with, lands_on};
use common::*;
use fantoccini::{Client, Locator};
use wechat_auth::mock::MockWechat;

/// iPhone Safari (a phone browser outside WeChat).
const IPHONE_SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

/// Chromium's mobile emulation (an iPhone-sized touch screen) with the iPhone's UA.
fn iphone(caps: &mut serde_json::Value) {
    caps["goog:chromeOptions"]["mobileEmulation"] = serde_json::json!({
        "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 3.0, "touch": true, "mobile": true },
        "userAgent": IPHONE_SAFARI,
    });
}

/// The `href` of the page's "打开微信登录" button once the script has put a link on it.
async fn link_on_button(c: &Client) -> String {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let button = c.find(Locator::Id("open-wechat")).await.unwrap();
        if let Some(href) = button.attr("href").await.unwrap()
            && href.starts_with("http")
        {
            return href;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no link on the button: {}",
            c.source().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_iphone_opens_the_link_and_lands_signed_in() {
    let mock = MockWechat::start().await.unwrap();
    let mini = mock.mini_program().clone();
    let app = start(
        with_test_store(wechat_auth::WechatConfig::builder())
            .with_session_secret(SECRET)
            .with_wechat_bases(mock.url(), mock.url(), mock.url())
            .with_mini_program(mini.appid.clone(), mini.secret.clone())
            .with_mini_program_code_page("pages/login/confirm")
            .with_public_path("/")
            .with_http_timeout(Duration::from_secs(2)),
    )
    .await;
    mock.set_mini_program_server(&mini.appid, Some(&app.url))
        .unwrap();
    in_chromium_with(iphone, |c| {
        let (mock, url) = (&mock, &app.url);
        async move {
            c.goto(&format!(
                "{url}/auth/wechat/scan?via=link&return_to=/profile"
            ))
            .await
            .unwrap();
            let source = c.source().await.unwrap();
            assert!(source.contains("打开微信登录"), "{source}");
            assert!(!source.contains("<img"), "no QR code on a phone: {source}");
            let link = link_on_button(&c).await;
            assert!(link.starts_with(&mock.url()), "{link}");
            assert_eq!(mock.calls("wxa/generate_urllink"), 1);
            // Alice opens it in WeChat and confirms in the mini program.
            let res = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap()
                .post(format!("{}/mock/phone/link", mock.url()))
                .form(&[("url_link", link.as_str()), ("user", "alice")])
                .send()
                .await
                .unwrap();
            assert!(
                res.status().is_redirection() || res.status().is_success(),
                "{}",
                res.status()
            );
            let page = lands_on(&c, &format!("{url}/profile")).await;
            let alice = mock.user("alice").unwrap().openid_for(&mini.appid);
            assert!(page.contains(&alice), "signed in as alice: {page}");
        }
    })
    .await;
}

#[tokio::test]
async fn without_a_mini_program_an_iphone_is_told_to_open_the_page_in_wechat() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(
        with_test_store(wechat_auth::WechatConfig::builder())
            .with_session_secret(SECRET)
            .with_wechat_bases(mock.url(), mock.url(), mock.url())
            .with_website_app(mock.website().appid.clone(), mock.website().secret.clone())
            .with_public_path("/")
            .with_http_timeout(Duration::from_secs(2)),
    )
    .await;
    in_chromium_with(iphone, |c| {
        let url = &app.url;
        async move {
            c.goto(&format!(
                "{url}/auth/wechat/scan?via=link&return_to=/profile"
            ))
            .await
            .unwrap();
            let copy = c.find(Locator::Id("copy-link")).await.unwrap();
            assert_eq!(
                copy.prop("value").await.unwrap().as_deref(),
                Some(format!("{url}/profile").as_str())
            );
            let source = c.source().await.unwrap();
            assert!(source.contains("在微信中打开"), "{source}");
            assert!(!source.contains("<img"), "no QR code: {source}");
        }
    })
    .await;
}
