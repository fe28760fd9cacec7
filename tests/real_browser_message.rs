//! Message-code login in a real browser (issue 25): headless Chromium opens the message page
//! of an app on `localhost` that uses the mock's unverified subscription account, reads the
//! code the page shows, and a person on the mock's phone page (`127.0.0.1`, another site, in
//! a second tab of the same Chromium) sends it to the account through the chat form and
//! answers `1`; the first tab ends signed in on the protected page. Skips (one line) without
//! Chromium, fails under `CI=true`.

#[path = "support/browser.rs"]
mod browser;
mod common;

use std::{net::SocketAddr, time::Duration};

use browser::{STEP, in_chromium, lands_on};
use fantoccini::{Client, Locator};
use wechat_auth::{WechatAuthLayer, WechatConfig, mock::MockWechat};

/// The app on the unverified account (`WECHAT_OA_VERIFIED=false`), served on 127.0.0.1 but
/// known as `http://localhost:PORT`.
async fn app_on_localhost(mock: &MockWechat) -> common::App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://localhost:{}", addr.port());
    let sub = mock.unverified_account();
    let cfg = common::with_test_store(
        WechatConfig::builder()
            .with_session_secret(common::SECRET)
            .with_wechat_bases(mock.url(), mock.url(), mock.url())
            .with_official_account(sub.appid.clone(), sub.secret.clone())
            .with_oa_push(sub.token.clone().unwrap(), sub.encoding_aes_key.as_deref())
            .with_oa_verified(false)
            .with_oa_name("小站订阅号")
            .with_public_path("/")
            .with_http_timeout(Duration::from_secs(2)),
    )
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
async fn chromium_shows_a_code_the_phone_sends_it_answers_1_and_the_page_lands() {
    let mock = MockWechat::start().await.unwrap();
    assert!(mock.url().starts_with("http://127.0.0.1:"));
    let app = app_on_localhost(&mock).await;
    let appid = mock.unverified_account().appid.clone();
    mock.set_push_url(
        &appid,
        Some(&format!(
            "http://127.0.0.1:{}/auth/wechat/push",
            app.addr.port()
        )),
    )
    .unwrap();
    in_chromium(|client| {
        let (mock, url) = (&mock, &app.url);
        async move { send_code_and_land(&client, mock, url).await }
    })
    .await;
    for endpoint in [
        "cgi-bin/qrcode/create",
        "cgi-bin/user/info",
        "connect/oauth2/authorize",
        "sns/oauth2/access_token",
    ] {
        assert_eq!(
            mock.app_calls(&appid, endpoint),
            0,
            "{endpoint} called for the unverified account"
        );
    }
}

/// The first run of 6 digits after `发送` (zh) or `send` (en) in the page's visible text.
fn code_after_send(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let at = lower.find("发送").or_else(|| lower.find("send"))?;
    let rest = &lower[at..];
    let bytes = rest.as_bytes();
    (0..bytes.len().saturating_sub(5)).find_map(|i| {
        let run = &bytes[i..i + 6];
        let bounded = (i == 0 || !bytes[i - 1].is_ascii_digit())
            && bytes.get(i + 6).is_none_or(|b| !b.is_ascii_digit());
        (bounded && run.iter().all(u8::is_ascii_digit))
            .then(|| String::from_utf8(run.to_vec()).unwrap())
    })
}

async fn send_code_and_land(client: &Client, mock: &MockWechat, app: &str) {
    let appid = mock.unverified_account().appid.clone();
    let alice = mock.user("alice").unwrap().openid_for(&appid);
    client
        .goto(&format!(
            "{app}/auth/wechat/scan?via=message&return_to=/profile"
        ))
        .await
        .unwrap();
    let app_tab = client.window().await.unwrap();

    // The page says what to send: read it as a person would.
    let mut code = None;
    let started = std::time::Instant::now();
    while code.is_none() && started.elapsed() < STEP {
        let text = client
            .execute("return document.body.innerText", vec![])
            .await
            .unwrap();
        code = text.as_str().and_then(code_after_send);
        if code.is_none() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let Some(code) = code else {
        let source = client.source().await.unwrap_or_default();
        panic!("no code after 发送 on the page: {source}");
    };
    let text = client
        .execute("return document.body.innerText", vec![])
        .await
        .unwrap();
    assert!(
        text.as_str().unwrap().contains("小站订阅号"),
        "names the account: {text}"
    );
    // The browser's own start answers the same code (one pending code per browser).
    let again = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/auth/wechat/scan?via=message&return_to=/profile', {method: 'POST', headers: {accept: 'application/json'}})
               .then(r => r.json()).then(j => done(j.code), e => done('error: ' + e));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        again.as_str(),
        Some(code.as_str()),
        "a reload reuses the code"
    );
    if let Ok(png) = client.screenshot().await {
        let _ = std::fs::write(
            browser::target_dir().join("real_browser_message_code.png"),
            png,
        );
    }

    // On the phone: the mock's chat with the subscription account, in a second tab.
    let phone_tab = client.new_window(true).await.unwrap().handle;
    client.switch_to_window(phone_tab).await.unwrap();
    let phone = format!("{}/mock/phone", mock.url());
    let asked = say(client, &phone, &appid, &format!("登录 {code}"), |r| {
        r.contains("回复 1 确认登录")
    })
    .await;
    assert!(
        asked.contains("Chrome") && asked.contains("127.0.0.1") && asked.contains("localhost"),
        "the reply names the browser, its IP and the site: {asked}"
    );
    let done = say(client, &phone, &appid, "1", |r| !r.contains("回复 1")).await;
    assert!(
        done.contains("确认") || done.contains("成功"),
        "says the login is confirmed: {done}"
    );

    // Back on the desktop page: it lands, signed in as alice, by message code.
    client.switch_to_window(app_tab).await.unwrap();
    let source = lands_on(client, &format!("{app}/profile")).await;
    assert!(source.contains(&alice), "{source}");
    assert!(source.contains(r#""channel":"message_code""#), "{source}");
    assert!(source.contains(r#""unionid":null"#), "{source}");
}

/// Types `text` into alice's chat with `appid` on the phone page and sends it; waits until
/// the chat ends with that message and the account's reply to it, and returns the reply
/// once `answered` holds for it.
async fn say(
    client: &Client,
    phone: &str,
    appid: &str,
    text: &str,
    answered: impl Fn(&str) -> bool,
) -> String {
    client.goto(phone).await.unwrap();
    let field = client
        .wait()
        .at_most(STEP)
        .for_element(Locator::Id(&format!("chat-text-{appid}-alice")))
        .await
        .expect("alice's chat with the subscription account");
    field.send_keys(text).await.unwrap();
    client
        .find(Locator::Id(&format!("chat-send-{appid}-alice")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let chat = lines(client, appid).await;
        if let [.., (from_user, said), (from_account, reply)] = chat.as_slice()
            && from_user == "user"
            && said.ends_with(&format!("\u{ff1a}{text}"))
            && from_account == "account"
            && answered(reply)
        {
            return reply.clone();
        }
        if started.elapsed() > STEP {
            panic!("no fitting reply to {text:?}; the chat: {chat:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Alice's chat with `appid` as the phone page shows it: (`user` | `account`, text).
async fn lines(client: &Client, appid: &str) -> Vec<(String, String)> {
    let css = format!("#chat-{appid}-alice p.line");
    let mut out = Vec::new();
    for line in client
        .find_all(Locator::Css(&css))
        .await
        .unwrap_or_default()
    {
        let from = line
            .attr("data-from")
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        out.push((from, line.text().await.unwrap_or_default()));
    }
    out
}
