//! The path for every browser in real Chromium (issue 26): Chromium's mobile emulation with
//! a real iPhone Safari User-Agent opens the demo (`examples/demo.rs`, built and run with
//! the mock) and gets the phone path — a "phone" login entry, no QR image, no embedded QR —
//! and that entry lands on the link page (`scan?via=link`); the same demo on the desktop
//! shows the QR. With a real WeChat User-Agent, `WechatAuth.embed()` moves the top window to
//! the Official Account's authorize page (never an iframe) and the login finishes there; on
//! the iPhone, `embed()` draws a link and `popup()` goes to the link page in the same tab.
//! Skips (one line) without Chromium, fails under `CI=true`.

#[path = "support/browser.rs"]
mod browser;
mod common;

use std::{
    io::{BufRead as _, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    time::Duration,
};

use axum::{response::Html, routing::get};
use browser::{APPROVE_ALICE, STEP, in_chromium_with, lands_on};
use common::*;
use fantoccini::{Client, Locator};
use wechat_auth::{BrowserKind, WechatAuthLayer, mock::MockWechat};

/// iPhone Safari, from `tests/fixtures/user-agents/phone_browser.txt` ([S3]).
const IPHONE_SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 14_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/14.1.1 Mobile/15E148 Safari/604.1";
/// WeChat on Android, from `tests/fixtures/user-agents/wechat_phone.txt` ([S11]).
const ANDROID_WECHAT: &str = "Mozilla/5.0 (Linux; Android 6.0; FRD-AL00 Build/HUAWEIFRD-AL00; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/53.0.2785.49 Mobile MQQBrowser/6.2 TBS/043305 Safari/537.36 MicroMessenger/6.5.8.1060 NetType/4G Language/zh_CN";

/// Chromium's mobile emulation (an iPhone-sized touch screen) with `ua`.
fn emulate(ua: &'static str) -> impl FnOnce(&mut serde_json::Value) {
    move |caps| {
        caps["goog:chromeOptions"]["mobileEmulation"] = serde_json::json!({
            "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 3.0, "touch": true, "mobile": true },
            "userAgent": ua,
        });
    }
}

/// The demo, built (cargo says whether it is fresh) and started on free ports with the
/// mock; killed on drop.
struct Demo {
    child: Child,
    url: String,
}

impl Demo {
    fn start() -> Demo {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", "demo", "--all-features"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "cargo build --example demo failed");
        let exe = std::env::current_exe().unwrap();
        let demo = exe
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("examples")
            .join("demo");
        let mut cmd = Command::new(demo);
        for (var, _) in std::env::vars() {
            if var.starts_with("WECHAT_") || var == "RUST_LOG" || var.ends_with("PORT") {
                cmd.env_remove(var);
            }
        }
        let mut child = cmd
            .env("PORT", "0")
            .env("MOCK_PORT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("app: ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the demo prints `app: URL`");
        Demo { child, url }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the current page shows a QR code: an image, or WeChat's QR frame.
async fn shows_qr(client: &Client) -> bool {
    let v = client
        .execute(
            "return Array.from(document.querySelectorAll('img, iframe, object, embed, svg'))\
               .some(function (e) { var s = (e.src || e.data || e.id || e.outerHTML || ''); \
                 return /qr|wxacode|qrconnect/i.test(s) || e.tagName === 'IFRAME'; });",
            vec![],
        )
        .await
        .unwrap();
    v == true
}

#[tokio::test]
async fn the_demo_on_an_iphone_offers_the_link_and_no_qr() {
    assert_eq!(
        BrowserKind::of(IPHONE_SAFARI, None),
        BrowserKind::PhoneBrowser
    );
    let demo = Demo::start();
    let url = demo.url.clone();
    in_chromium_with(emulate(IPHONE_SAFARI), |c| async move {
        c.goto(&url).await.unwrap();
        let ua = c
            .execute("return navigator.userAgent", vec![])
            .await
            .unwrap();
        assert_eq!(ua, IPHONE_SAFARI, "the emulation sends the iPhone UA");
        let entry = c
            .find(Locator::Id("phone-login"))
            .await
            .expect("a phone entry");
        assert!(
            c.find(Locator::Id("wechat-qr")).await.is_err(),
            "no embedded QR on a phone"
        );
        assert!(
            !shows_qr(&c).await,
            "the phone landing shows a QR:\n{}",
            c.source().await.unwrap()
        );
        entry.click().await.unwrap();
        let want = format!("{url}/auth/wechat/scan?via=link&return_to=/profile");
        lands_on(&c, &want).await;
        assert!(
            !shows_qr(&c).await,
            "the link page shows a QR:\n{}",
            c.source().await.unwrap()
        );
    })
    .await;
    // The same demo on the desktop: the QR, and the phone path as one entry among others.
    let url = demo.url.clone();
    in_chromium_with(
        |_| {},
        |c| async move {
            c.goto(&url).await.unwrap();
            c.find(Locator::Id("wechat-qr"))
                .await
                .expect("the embedded QR on the desktop");
            let link = c
                .find(Locator::Id("phone-link"))
                .await
                .expect("the phone entry");
            assert_eq!(
                link.attr("href").await.unwrap().as_deref(),
                Some("/auth/wechat/login?return_to=/profile&channel=link")
            );
            assert!(c.find(Locator::Id("phone-login")).await.is_err());
        },
    )
    .await;
}

/// An app with the layer and one page that uses `embed.js`.
async fn embed_app(mock: &MockWechat) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://{addr}");
    let cfg = config(mock)
        .with_public_path("/login-page")
        .with_public_url(url.clone())
        .build()
        .unwrap();
    let page = r##"<!doctype html><meta charset="utf-8"><title>login</title>
<div id="login"></div><button id="popup" type="button">popup</button>
<script src="/auth/wechat/embed.js"></script>
<script>
  window.started = Date.now();
  if (location.hash !== "#popup") { WechatAuth.embed("login", { returnTo: "/profile" }).then(function (e) { window.drawn = e.tagName; }); }
  document.getElementById("popup").onclick = function () { WechatAuth.popup({ returnTo: "/profile" }); };
</script>"##;
    let app = routes()
        .route("/login-page", get(move || async move { Html(page) }))
        .layer(WechatAuthLayer::new(cfg));
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    App::from_parts(url, addr, task)
}

#[tokio::test]
async fn inside_wechat_embed_moves_the_top_window_to_the_authorize_page() {
    let mock = MockWechat::start().await.unwrap();
    let app = embed_app(&mock).await;
    let (url, mock_url) = (app.url.clone(), mock.url().to_owned());
    let oa = mock.official_account().appid.clone();
    in_chromium_with(emulate(ANDROID_WECHAT), |c| async move {
        c.goto(&format!("{url}/login-page")).await.unwrap();
        // The top window goes to WeChat's authorize page: no iframe, no QR.
        let want = format!("{mock_url}/connect/oauth2/authorize");
        let deadline = std::time::Instant::now() + STEP;
        loop {
            let here = c.current_url().await.unwrap().to_string();
            if here.starts_with(&want) {
                assert!(here.contains(&format!("appid={oa}")), "{here}");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "still on {here}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        c.find(Locator::XPath(APPROVE_ALICE))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let body = lands_on(&c, &format!("{url}/profile")).await;
        assert!(body.contains("\"channel\":\"official_account\""), "{body}");
    })
    .await;
}

#[tokio::test]
async fn on_an_iphone_embed_draws_a_link_and_popup_stays_in_the_tab() {
    let mock = MockWechat::start().await.unwrap();
    let app = embed_app(&mock).await;
    let url = app.url.clone();
    in_chromium_with(emulate(IPHONE_SAFARI), |c| async move {
        c.goto(&format!("{url}/login-page")).await.unwrap();
        let link = c.find(Locator::Id("wechat-auth-open")).await;
        let link = match link {
            Ok(l) => l,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let source = c.source().await.unwrap();
                c.find(Locator::Id("wechat-auth-open"))
                    .await
                    .unwrap_or_else(|e| panic!("no link from embed(): {e}:\n{source}"))
            }
        };
        assert_eq!(
            link.attr("href").await.unwrap().as_deref(),
            Some("/auth/wechat/login?return_to=%2Fprofile")
        );
        assert!(!shows_qr(&c).await, "{}", c.source().await.unwrap());
        link.click().await.unwrap();
        lands_on(
            &c,
            &format!("{url}/auth/wechat/scan?via=link&return_to=/profile"),
        )
        .await;
        // popup(): no new window, the same tab goes to the login (and so to the link page).
        c.goto(&format!("{url}/login-page#popup")).await.unwrap();
        c.find(Locator::Id("popup"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        lands_on(
            &c,
            &format!("{url}/auth/wechat/scan?via=link&return_to=/profile"),
        )
        .await;
        assert_eq!(
            c.windows().await.unwrap().len(),
            1,
            "popup() opened a window on a phone"
        );
    })
    .await;
}
