//! The website login on the site's own page in real Chromium, with the app on `localhost`
//! and the mock WeChat on `127.0.0.1` (different sites, so `SameSite` and frame rules behave
//! as in production): the embedded QR in both `self_redirect` modes, the popup (success,
//! denial, blocked, a foreign opener, another site's page that opens the callback to end a
//! pending popup), both through a relay hub, the frame policy of the pages, and the Official
//! Account's adaptive scope. Skips (one line) without Chromium, fails under `CI=true`.

#[path = "support/browser.rs"]
mod browser;
mod common;
#[path = "support/relay_sites.rs"]
mod relay_sites;
#[path = "support/sites.rs"]
mod sites;

use std::time::Duration;

use browser::{APPROVE_ALICE, STEP, in_chromium, in_chromium_with};
use fantoccini::{Client, Locator};
use wechat_auth::{client::OaScope, mock::MockWechat};

/// The mock page's "deny" link.
const DENY: &str = "//a[contains(concat(' ', @class, ' '), ' deny ')]";

fn url(s: &str) -> url::Url {
    url::Url::parse(s).unwrap()
}

/// Waits until `script` returns something truthy; returns it. A command that fails (the
/// page is between two documents) counts as "not yet".
async fn wait_for_js(client: &Client, script: &str, what: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + STEP;
    loop {
        let last = match client.execute(script, vec![]).await {
            Ok(v) if !(v.is_null() || v == false) => return v,
            Ok(v) => v.to_string(),
            Err(e) => e.to_string(),
        };
        assert!(
            std::time::Instant::now() < deadline,
            "timed out: {what} (last: {last})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `locator` finds an element in the current browsing context. Any error counts
/// as "not yet": under `pageLoadStrategy: none` a frame may still be between documents.
async fn find(client: &Client, locator: Locator<'_>, what: &str) -> fantoccini::elements::Element {
    let deadline = std::time::Instant::now() + STEP;
    loop {
        let last = match client.find(locator).await {
            Ok(element) => return element,
            Err(e) => e.to_string(),
        };
        assert!(
            std::time::Instant::now() < deadline,
            "timed out: {what} (last: {last})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Opens `to` and waits until that document has loaded (for sessions that do not wait for
/// page loads themselves).
async fn open(client: &Client, to: &str) {
    client.goto(to).await.unwrap();
    let href = serde_json::to_string(url(to).as_str()).unwrap();
    wait_for_js(
        client,
        &format!("return document.readyState === 'complete' && location.href === {href}"),
        to,
    )
    .await;
}

/// Chromium's session for the embedded QR: chromedriver does not wait for page loads (the
/// test waits for what it needs). With its default wait, a command issued while the QR frame
/// moves from WeChat's site to this one and then moves the whole window could wait forever
/// for the frame that was left (seen under load: "Timed out receiving message from renderer").
fn without_load_waits(caps: &mut serde_json::Value) {
    caps["pageLoadStrategy"] = "none".into();
}

/// Waits for the number of open windows to become `n`; returns their handles.
async fn wait_windows(client: &Client, n: usize) -> Vec<fantoccini::wd::WindowHandle> {
    let deadline = std::time::Instant::now() + STEP;
    loop {
        let w = client.windows().await.unwrap();
        if w.len() == n {
            return w;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "expected {n} windows, have {}",
            w.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Clicks the button `button` of the current page, answers WeChat's page in the popup it opens
/// with the link `answer`, waits for the popup to close and returns to `main`.
async fn answer_in_popup(
    client: &Client,
    main: &fantoccini::wd::WindowHandle,
    button: &str,
    answer: &str,
) {
    client
        .find(Locator::Id(button))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let windows = wait_windows(client, 2).await;
    let popup = windows.into_iter().find(|w| w != main).unwrap();
    client.switch_to_window(popup).await.unwrap();
    client
        .wait()
        .at_most(STEP)
        .for_element(Locator::XPath(answer))
        .await
        .expect("the popup shows WeChat's page")
        .click()
        .await
        .unwrap();
    wait_windows(client, 1).await;
    client.switch_to_window(main.clone()).await.unwrap();
}

/// Whether a same-origin iframe of `src` injected into the current page shows its document
/// (`true`) or was refused by the frame policy.
async fn frames_in_own_page(client: &Client, src: &str) -> bool {
    let got = client
        .execute_async(
            "const [src, done] = arguments;
             const f = document.createElement('iframe');
             f.src = src;
             f.onload = () => setTimeout(() => {
               let shown;
               try { shown = !!(f.contentDocument && f.contentDocument.body && f.contentDocument.body.innerHTML.length); }
               catch (e) { shown = false; }
               f.remove();
               done(shown);
             }, 200);
             document.body.appendChild(f);",
            vec![src.into()],
        )
        .await
        .unwrap();
    got.as_bool().unwrap()
}

/// Waits until the top window is on `{app}/profile` showing alice's openid.
async fn assert_logged_in_as_alice(client: &Client, mock: &MockWechat, app: &str) {
    let alice = mock
        .user("alice")
        .unwrap()
        .openid_for(&mock.website().appid);
    let profile = url(&format!("{app}/profile"));
    let deadline = std::time::Instant::now() + STEP;
    loop {
        let here = client.current_url().await;
        if here.as_ref().is_ok_and(|u| *u == profile) {
            let source = client.source().await.unwrap_or_default();
            if source.contains(&alice) {
                return;
            }
        }
        if std::time::Instant::now() >= deadline {
            let source = client.source().await.unwrap_or_default();
            panic!("not on {profile} with alice: at {here:?}: {source}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn chromium_embedded_qr_logs_in_with_either_self_redirect_and_pages_keep_their_frame_policy()
{
    let mock = MockWechat::start().await.unwrap();
    let app = sites::app_on_localhost(common::config(&mock)).await;
    let app_url = app.url.clone();
    in_chromium_with(without_load_waits, |client| async move {
        for self_redirect in [false, true] {
            client.delete_all_cookies().await.unwrap();
            open(&client, &format!("{app_url}/?embed={self_redirect}")).await;
            // embed.js drew WeChat's page (on the mock's site) into the landing page.
            let frame = find(&client, Locator::Css("#qr iframe"), "the QR iframe").await;
            let src = frame.attr("src").await.unwrap().unwrap();
            assert!(
                src.starts_with(&format!("{}/connect/qrconnect?", mock.url())),
                "{src}"
            );
            assert_eq!(
                frame.attr("allow").await.unwrap().as_deref(),
                Some("local-network-access")
            );
            frame.enter_frame().await.unwrap();
            let approve = find(
                &client,
                Locator::XPath(APPROVE_ALICE),
                "the mock's QR page inside the frame",
            )
            .await;
            let target = approve.attr("target").await.unwrap();
            assert_eq!(
                target.as_deref(),
                Some(if self_redirect { "_self" } else { "_top" })
            );
            approve.click().await.unwrap();
            // Watch the top window from here on: the frame is about to go.
            client.enter_parent_frame().await.unwrap();
            // false: WeChat moves the whole window to the callback; true: the callback
            // runs in the frame and moves the window on. Either way: on return_to.
            assert_logged_in_as_alice(&client, &mock, &app_url).await;
            let session = client.get_named_cookie("wechat_session").await.unwrap();
            assert_eq!(session.http_only(), Some(true));
        }

        // The frame policy: the layer's own pages refuse to be framed, even by this
        // site; the embed host page frames WeChat's.
        open(&client, &format!("{app_url}/")).await;
        assert!(
            !frames_in_own_page(&client, "/").await,
            "the landing page says frame-ancestors 'none' too"
        );
        for page in [
            "/auth/wechat/scan?return_to=/",
            "/auth/wechat/callback?code=x&state=AAAA",
            "/auth/wechat/login?display=embed&return_to=/profile",
        ] {
            assert!(
                !frames_in_own_page(&client, page).await,
                "{page} was framed"
            );
        }
        assert!(
            frames_in_own_page(&client, "/auth/wechat/callback?state=AAAA&display=iframe").await,
            "the in-frame callback shows inside this site's page"
        );
        client.delete_all_cookies().await.unwrap();
        open(
            &client,
            &format!("{app_url}/auth/wechat/login?display=embed&return_to=/profile"),
        )
        .await;
        let frame = find(
            &client,
            Locator::Css("iframe#wechat-qr"),
            "the host's frame",
        )
        .await;
        frame.enter_frame().await.unwrap();
        find(
            &client,
            Locator::XPath(APPROVE_ALICE),
            "the host page's CSP lets WeChat's frame load",
        )
        .await
        .click()
        .await
        .unwrap();
        client.enter_parent_frame().await.unwrap();
        assert_logged_in_as_alice(&client, &mock, &app_url).await;
    })
    .await;
}

#[tokio::test]
async fn chromium_popup_logs_the_opener_in_reports_denial_and_tells_foreign_openers_nothing() {
    let mock = MockWechat::start().await.unwrap();
    let app = sites::app_on_localhost(common::config(&mock)).await;
    let foreign = sites::foreign_opener(&format!(
        "{}/auth/wechat/login?display=popup&return_to=/profile",
        app.url
    ))
    .await;
    let app_url = app.url.clone();
    let foreign_url = foreign.url.clone();
    in_chromium(|client| async move {
        // 1. Success: the popup logs in, tells the opener, closes; the opener moves on.
        client.goto(&format!("{app_url}/")).await.unwrap();
        let main = client.window().await.unwrap();
        answer_in_popup(&client, &main, "popup", APPROVE_ALICE).await;
        assert_logged_in_as_alice(&client, &mock, &app_url).await;

        // 2. Denial: the opener learns {ok: false, code}, the popup closes, no session.
        client.delete_all_cookies().await.unwrap();
        client.goto(&format!("{app_url}/")).await.unwrap();
        answer_in_popup(&client, &main, "popup", DENY).await;
        let result = wait_for_js(&client, "return window.__popup || null", "popup result").await;
        assert_eq!(result["ok"], false, "{result}");
        assert_eq!(result["code"], "cancelled", "{result}");
        assert_eq!(
            client.current_url().await.unwrap(),
            url(&format!("{app_url}/"))
        );
        assert!(client.get_named_cookie("wechat_session").await.is_err());

        // 3. A foreign page that opens the popup hears nothing of it.
        client.goto(&format!("{foreign_url}/")).await.unwrap();
        answer_in_popup(&client, &main, "open", APPROVE_ALICE).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        let got = client.execute("return window.__got", vec![]).await.unwrap();
        assert_eq!(
            got,
            serde_json::json!([]),
            "the foreign opener heard: {got}"
        );
        assert_eq!(
            client.current_url().await.unwrap(),
            url(&format!("{foreign_url}/"))
        );
    })
    .await;
}

#[tokio::test]
async fn chromium_blocked_popup_falls_back_to_the_full_page_login() {
    let mock = MockWechat::start().await.unwrap();
    let app = sites::app_on_localhost(common::config(&mock)).await;
    let app_url = app.url.clone();
    // chromedriver turns the popup blocker off by default: turn it back on.
    in_chromium_with(
        |caps| {
            caps["goog:chromeOptions"]["excludeSwitches"] =
                serde_json::json!(["disable-popup-blocking"]);
        },
        |client| async move {
            client.goto(&format!("{app_url}/")).await.unwrap();
            // No user gesture: the browser blocks window.open.
            client
                .execute(
                    "WechatAuth.popup({ returnTo: '/profile' }); return 1;",
                    vec![],
                )
                .await
                .unwrap();
            let approve = client
                .wait()
                .at_most(STEP)
                .for_element(Locator::XPath(APPROVE_ALICE))
                .await
                .expect("the full-page login");
            assert_eq!(client.windows().await.unwrap().len(), 1, "no popup opened");
            let here = client.current_url().await.unwrap();
            assert!(
                here.as_str()
                    .starts_with(&format!("{}/connect/qrconnect?", mock.url())),
                "{here}"
            );
            approve.click().await.unwrap();
            assert_logged_in_as_alice(&client, &mock, &app_url).await;
        },
    )
    .await;
}

#[tokio::test]
async fn chromium_adaptive_scope_asks_for_consent_only_when_the_profile_is_needed() {
    let mock = MockWechat::start().await.unwrap();
    let app =
        sites::app_on_localhost(common::config(&mock).with_oa_scope(OaScope::BaseThenUserinfo))
            .await;
    let app_url = app.url.clone();
    in_chromium(
        |client| async move {
            let oa = mock.official_account().appid.clone();
            client
                .goto(&format!(
                    "{app_url}/auth/wechat/login?channel=oa&return_to=/consent-profile"
                ))
                .await
                .unwrap();
            // The silent sign-in …
            let approve = client
                .wait()
                .at_most(STEP)
                .for_element(Locator::XPath(APPROVE_ALICE))
                .await
                .unwrap();
            let here = client.current_url().await.unwrap();
            assert!(
                here.query_pairs().any(|(k, v)| k == "scope" && v == "snsapi_base"),
                "{here}"
            );
            approve.click().await.unwrap();
            // … lands on the page that needs the profile, which asks for consent: the
            // consent page, and still no profile read.
            let approve = client
                .wait()
                .at_most(STEP)
                .for_element(Locator::XPath(
                    "//a[contains(@href, 'scope=snsapi_userinfo') and contains(., 'approve as alice）')]",
                ))
                .await
                .expect("the consent page");

            assert!(client.current_url().await.unwrap().as_str().contains(&oa));
            assert_eq!(mock.calls("sns/oauth2/access_token"), 1);
            assert_eq!(mock.calls("sns/userinfo"), 0, "the first login reads no profile");
            approve.click().await.unwrap();
            client
                .wait()
                .at_most(STEP)
                .for_url(&url(&format!("{app_url}/consent-profile")))
                .await
                .unwrap();
            let nickname = mock.user("alice").unwrap().nickname;
            let source = client.source().await.unwrap();
            assert!(source.contains(&nickname), "{source}");
            client.refresh().await.unwrap();
            assert!(client.source().await.unwrap().contains(&nickname));
            assert_eq!(mock.calls("sns/oauth2/access_token"), 2);
            assert_eq!(mock.calls("sns/userinfo"), 1, "one consent, one userinfo call");
        },
    )
    .await;
}

#[tokio::test]
async fn chromium_another_site_cannot_end_a_pending_popup() {
    let mock = MockWechat::start().await.unwrap();
    let app = sites::app_on_localhost(common::config(&mock)).await;
    // The attacker's page, on another site, opens this site's callback with `noopener`:
    // the page it gets has no opener, so it broadcasts its (failed) result to the site.
    let attacker = sites::noopener_opener(&format!(
        "{}/auth/wechat/callback?display=popup&state=x",
        app.url
    ))
    .await;
    let app_url = app.url.clone();
    let attacker_url = attacker.url.clone();
    in_chromium(|client| async move {
        client.goto(&format!("{app_url}/")).await.unwrap();
        let main = client.window().await.unwrap();
        // Anything said on the site's channel is heard here too (the test's own ear).
        client
            .execute(
                "window.__heard = [];
                 new BroadcastChannel('wechat-auth').onmessage = function (e) { window.__heard.push(e.data); };
                 return 1;",
                vec![],
            )
            .await
            .unwrap();
        // The victim's popup, pending on WeChat's page.
        client
            .find(Locator::Id("popup"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let windows = wait_windows(&client, 2).await;
        let popup = windows.into_iter().find(|w| *w != main).unwrap();
        client.switch_to_window(popup.clone()).await.unwrap();
        client
            .wait()
            .at_most(STEP)
            .for_element(Locator::XPath(APPROVE_ALICE))
            .await
            .expect("the popup shows WeChat's page");

        // Meanwhile, in another tab, the attacker's page fires.
        let tab = client.new_window(true).await.unwrap().handle;
        client.switch_to_window(tab.clone()).await.unwrap();
        client.goto(&format!("{attacker_url}/")).await.unwrap();
        client
            .find(Locator::Id("go"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        client.switch_to_window(main.clone()).await.unwrap();
        let heard = wait_for_js(
            &client,
            "return window.__heard.length ? window.__heard : null",
            "the attacker's callback page broadcast its result",
        )
        .await;
        assert_eq!(heard[0]["code"], "state_mismatch", "{heard}");
        assert!(heard[0].get("nonce").is_none(), "{heard}");
        // Give the victim's page time to (wrongly) act on it.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let result = client
            .execute("return window.__popup === undefined ? null : window.__popup", vec![])
            .await
            .unwrap();
        assert_eq!(result, serde_json::Value::Null, "the victim's popup() resolved: {result}");
        let open = client.windows().await.unwrap();
        assert!(open.contains(&popup), "the victim's popup was closed");

        // The real login still completes in the popup, and the opener takes it.
        client.switch_to_window(popup.clone()).await.unwrap();
        client
            .find(Locator::XPath(APPROVE_ALICE))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        client.switch_to_window(main.clone()).await.unwrap();
        assert_logged_in_as_alice(&client, &mock, &app_url).await;
        assert!(!client.windows().await.unwrap().contains(&popup), "the popup closed");
    })
    .await;
}

/// A hub on `127.0.0.1` and the app on `localhost` logging in through it (`with_relay_hub`);
/// the mock accepts only the hub's host as callback domain. The hub is served as long as
/// the returned guard lives.
async fn app_behind_a_hub(mock: &MockWechat) -> (sites::Site, common::App) {
    for appid in [
        mock.website().appid.clone(),
        mock.official_account().appid.clone(),
    ] {
        mock.set_redirect_domains(&appid, vec!["127.0.0.1".into()])
            .unwrap();
    }
    let (listener, addr) = relay_sites::bind("127.0.0.1").await;
    let hub_url = format!("http://127.0.0.1:{}", addr.port());
    let app = sites::app_on_localhost(
        common::config(mock).with_relay_hub(format!("{hub_url}/auth/wechat/relay")),
    )
    .await;
    let hub = relay_sites::serve(
        listener,
        hub_url,
        common::base_config(mock).with_relay_target(app.url.clone()),
        None,
    );
    (app, hub)
}

/// The `redirect_uri` of the WeChat page the browser is on.
async fn redirect_uri_here(client: &Client) -> String {
    let here = client.current_url().await.unwrap();
    here.query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no redirect_uri in {here}"))
}

#[tokio::test]
async fn chromium_popup_logs_in_through_a_relay_hub() {
    let mock = MockWechat::start().await.unwrap();
    let (app, hub) = app_behind_a_hub(&mock).await;
    let app_url = app.url.clone();
    let hub_url = hub.url.clone();
    in_chromium(|client| async move {
        client.goto(&format!("{app_url}/")).await.unwrap();
        let main = client.window().await.unwrap();
        client
            .find(Locator::Id("popup"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let windows = wait_windows(&client, 2).await;
        let popup = windows.into_iter().find(|w| *w != main).unwrap();
        client.switch_to_window(popup).await.unwrap();
        let approve = client
            .wait()
            .at_most(STEP)
            .for_element(Locator::XPath(APPROVE_ALICE))
            .await
            .expect("the popup shows WeChat's page");
        let redirect = redirect_uri_here(&client).await;
        assert!(
            redirect.starts_with(&format!("{hub_url}/auth/wechat/relay?to=")),
            "{redirect}"
        );
        approve.click().await.unwrap();
        wait_windows(&client, 1).await;
        client.switch_to_window(main).await.unwrap();
        // The opener took the popup's message (its nonce came back through the hub) and
        // moved on to return_to.
        assert_logged_in_as_alice(&client, &mock, &app_url).await;
    })
    .await;
}

#[tokio::test]
async fn chromium_embedded_qr_with_self_redirect_logs_in_through_a_relay_hub() {
    let mock = MockWechat::start().await.unwrap();
    let (app, hub) = app_behind_a_hub(&mock).await;
    let app_url = app.url.clone();
    let hub_url = hub.url.clone();
    in_chromium_with(without_load_waits, |client| async move {
        // The layer's own page hosting the QR, with self_redirect: WeChat's frame goes to the
        // hub, which sends it to this site's in-frame callback.
        open(
            &client,
            &format!(
                "{app_url}/auth/wechat/login?display=embed&self_redirect=true&return_to=/profile"
            ),
        )
        .await;
        let frame = find(
            &client,
            Locator::Css("iframe#wechat-qr"),
            "the host's frame",
        )
        .await;
        let src = frame.attr("src").await.unwrap().unwrap();
        let redirect = url(&src)
            .query_pairs()
            .find(|(k, _)| k == "redirect_uri")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        assert!(
            redirect.starts_with(&format!("{hub_url}/auth/wechat/relay?to=")),
            "{redirect}"
        );
        frame.enter_frame().await.unwrap();
        let approve = find(
            &client,
            Locator::XPath(APPROVE_ALICE),
            "the mock's QR page inside the frame",
        )
        .await;
        assert_eq!(
            approve.attr("target").await.unwrap().as_deref(),
            Some("_self")
        );
        approve.click().await.unwrap();
        client.enter_parent_frame().await.unwrap();
        assert_logged_in_as_alice(&client, &mock, &app_url).await;
        let session = client.get_named_cookie("wechat_session").await.unwrap();
        assert_eq!(session.http_only(), Some(true));
    })
    .await;
}
