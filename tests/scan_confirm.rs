//! Scan login that cannot be hijacked or flooded: the scanning user is told which browser
//! asked and confirms on the phone (QRLjacking), a reload reuses the pending scan, and starts
//! are limited per client. The real layer in a real axum server, the mock WeChat over real
//! sockets; the phone is a WeChat-user-agent client that keeps its own cookies.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::Client;
use serde_json::Value;
use wechat_auth::{ScanStartLimits, mock::MockWechat};

/// An app with phone confirmation on (the default), wired to the mock.
async fn confirming_app(mock: &MockWechat) -> App {
    let app = start(config(mock).with_scan_confirm(true)).await;
    wire(mock, &app);
    app
}

async fn start_scan(app: &App, b: &Client) -> Value {
    let res = b
        .post(format!("{}/auth/wechat/scan?return_to=/profile", app.url))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn poll(app: &App, b: &Client, id: &str, wait: u64) -> (u16, Value, Option<String>) {
    let res = b
        .get(format!("{}/auth/wechat/scan/{id}?wait={wait}", app.url))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let token = session_token(&res);
    (status, res.json().await.unwrap_or(Value::Null), token)
}

/// The link in the Official Account's reply.
fn confirm_link(reply: &str) -> String {
    let at = reply.find("<a href=\"").expect("a link in the reply") + 9;
    let end = reply[at..].find('"').unwrap();
    reply[at..at + end].to_owned()
}

/// The phone opens the confirm link inside WeChat as `user`: off to the OA's web
/// authorization (snsapi_base), approved as that user, back with a code, and on to the page.
/// Returns the final status and page.
async fn open_on_phone(phone: &Client, link: &str, user: &str) -> (u16, String) {
    let res = phone.get(link).send().await.unwrap();
    assert_eq!(res.status(), 302, "to web authorization first");
    let authorize = location(&res);
    assert!(
        authorize.contains("/connect/oauth2/authorize?") && authorize.contains("scope=snsapi_base"),
        "{authorize}"
    );
    let res = phone
        .get(MockWechat::approve_url(&authorize, user))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302, "WeChat answers with a code");
    let back = location(&res);
    assert!(back.starts_with(link) && back.contains("code="), "{back}");
    let res = phone.get(&back).send().await.unwrap();
    if res.status() != 303 {
        return (res.status().as_u16(), res.text().await.unwrap());
    }
    let clean = location(&res);
    assert_eq!(
        clean, link,
        "back to the clean URL: a reload spends no code"
    );
    let res = phone.get(&clean).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

fn form_token(page: &str) -> String {
    let at = page.find("name=\"token\" value=\"").expect("a form token") + 20;
    let end = page[at..].find('"').unwrap();
    page[at..at + end].to_owned()
}

async fn answer(phone: &Client, link: &str, token: &str, decision: &str) -> (u16, String) {
    let res = phone
        .post(link)
        .form(&[("token", token), ("decision", decision)])
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// The QRLjacking scenario: the attacker's browser A shows the code; the victim scans it
/// and reads in the reply which browser asked; they tap 取消; A is told `refused` and gets
/// no session. Another WeChat user cannot answer for them, and a scan alone logs nobody in.
#[tokio::test]
async fn a_victim_who_scans_an_attackers_code_cancels_and_the_attacker_gets_nothing() {
    let mock = MockWechat::start().await.unwrap();
    let app = confirming_app(&mock).await;
    let attacker = browser();
    let s = start_scan(&app, &attacker).await;
    let id = s["id"].as_str().unwrap().to_owned();

    let report = mock
        .scan(s["qr_url"].as_str().unwrap(), "alice")
        .await
        .unwrap();
    assert!(report.acknowledged, "{report:?}");
    let reply = report
        .reply
        .expect("the scan is answered with a passive reply");
    assert!(
        reply.contains("127.0.0.1"),
        "names the site and the IP: {reply}"
    );
    assert!(
        reply.contains("Chrome 130.0 · Linux"),
        "names the browser: {reply}"
    );
    assert!(reply.contains("北京时间"), "and the time: {reply}");
    let link = confirm_link(&reply);
    assert_eq!(link, format!("{}/auth/wechat/scan/{id}/confirm", app.url));
    assert_eq!(
        mock.chat("alice").last().unwrap().text,
        reply,
        "the phone shows it"
    );

    // The scan alone logs nobody in: A waits in `scanned`.
    let (status, body, token) = poll(&app, &attacker, &id, 1).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("scanned")));
    assert!(token.is_none());

    // Bob opens the link (forwarded to him): he is not the one who scanned.
    let bob_phone = wechat_browser();
    let (status, page) = open_on_phone(&bob_phone, &link, "bob").await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("只有扫码的微信用户本人"), "{page}");

    // Alice opens it, sees who asked, and cancels.
    let phone = wechat_browser();
    let (status, page) = open_on_phone(&phone, &link, "alice").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("确认登录") && page.contains("取消"), "{page}");
    assert!(
        page.contains("Chrome 130.0 · Linux") && page.contains("127.0.0.1"),
        "{page}"
    );
    let form = form_token(&page);
    // Bob cannot use Alice's form token with his own page proof.
    let (status, _) = answer(&bob_phone, &link, &form, "confirm").await;
    assert_eq!(status, 403);
    let (status, page) = answer(&phone, &link, &form, "cancel").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("已取消"), "{page}");

    let (status, body, token) = poll(&app, &attacker, &id, 0).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (403, Some("refused")),
        "{body}"
    );
    assert!(token.is_none(), "no session for the attacker");
    let (status, _) = get_json(&attacker, &format!("{}/profile", app.url)).await;
    assert_eq!(status, 401);
    // Answered once: the same form cannot confirm afterwards, and the page has no form.
    let (status, _) = answer(&phone, &link, &form, "confirm").await;
    assert_eq!(status, 409);
    let page = phone.get(&link).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("已结束") && page.contains("<form method=\"post\" action=\"\" hidden>"),
        "{page}"
    );
    let (status, body, _) = poll(&app, &attacker, &id, 0).await;
    assert_eq!((status, body["status"].as_str()), (403, Some("refused")));
}

/// The user who scanned confirms on the phone: the waiting browser lands with a session.
#[tokio::test]
async fn the_user_who_scanned_confirms_on_the_phone_and_the_browser_lands() {
    let mock = MockWechat::start().await.unwrap();
    let app = confirming_app(&mock).await;
    let desktop = browser();
    let s = start_scan(&app, &desktop).await;
    let id = s["id"].as_str().unwrap().to_owned();
    // A poll waiting before the scan is woken by it, and told `scanned` at once.
    let before = {
        let (b, url, id) = (desktop.clone(), app.url.clone(), id.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let res = b
                .get(format!("{url}/auth/wechat/scan/{id}?wait=20"))
                .send()
                .await
                .unwrap();
            (started.elapsed(), res.json::<Value>().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let report = mock
        .scan(s["qr_url"].as_str().unwrap(), "alice")
        .await
        .unwrap();
    let link = confirm_link(report.reply.as_deref().unwrap());
    let (waited, body) = before.await.unwrap();
    assert_eq!(body["status"], "scanned", "{body}");
    assert!(
        waited < Duration::from_secs(5),
        "woken, not timed out: {waited:?}"
    );

    let waiting = {
        let (b, url, id) = (desktop.clone(), app.url.clone(), id.clone());
        tokio::spawn(async move {
            let res = b
                .get(format!("{url}/auth/wechat/scan/{id}?wait=20"))
                .send()
                .await
                .unwrap();
            let token = session_token(&res);
            (res.json::<Value>().await.unwrap(), token)
        })
    };
    let phone = wechat_browser();
    let (status, page) = open_on_phone(&phone, &link, "alice").await;
    assert_eq!(status, 200, "{page}");
    let (status, page) = answer(&phone, &link, &form_token(&page), "confirm").await;
    assert_eq!(status, 200);
    assert!(page.contains("已确认登录"), "{page}");
    let (body, token) = waiting.await.unwrap();
    assert_eq!(body["status"], "confirmed", "{body}");
    assert!(token.is_some());
    let (status, user) = get_json(&desktop, &format!("{}/profile", app.url)).await;
    assert_eq!(status, 200);
    let alice = mock.user("alice").unwrap();
    assert_eq!(
        user["openid"],
        alice.openid_for(&mock.official_account().appid)
    );
    assert_eq!(user["unionid"], alice.unionid);
}

/// A person answers by hand on the mock's phone page: the reply's link opens as inside
/// WeChat (web authorization answered as that user), and its 确认登录 posts the page's form.
#[tokio::test]
async fn the_mock_phone_page_shows_the_reply_and_confirms_by_hand() {
    let mock = MockWechat::start().await.unwrap();
    let app = confirming_app(&mock).await;
    let desktop = browser();
    let s = start_scan(&app, &desktop).await;
    let id = s["id"].as_str().unwrap().to_owned();
    mock.scan(s["qr_url"].as_str().unwrap(), "alice")
        .await
        .unwrap();

    let person = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let phone_page = person
        .get(format!("{}/mock/phone", mock.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = phone_page
        .find("/mock/phone/open?user=alice")
        .expect("the reply's link");
    let end = phone_page[at..].find('"').unwrap();
    let open = phone_page[at..at + end].replace("&amp;", "&");
    let opened = person
        .get(format!("{}{open}", mock.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(opened.contains("id=\"phone-confirm\""), "{opened}");
    assert!(opened.contains("Chrome 130.0 · Linux"), "{opened}");
    let field = |name: &str| {
        let at = opened
            .find(&format!("name=\"{name}\" value=\""))
            .unwrap_or_else(|| panic!("{name} in {opened}"))
            + name.len()
            + 15;
        let end = opened[at..].find('"').unwrap();
        opened[at..at + end]
            .replace("&amp;", "&")
            .replace("&#39;", "'")
    };
    let (action, token) = (field("action"), field("token"));
    let done = person
        .post(format!("{}/mock/phone/answer", mock.url()))
        .form(&[
            ("user", "alice"),
            ("action", action.as_str()),
            ("token", token.as_str()),
            ("decision", "confirm"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(done.contains("已确认登录"), "{done}");
    let (status, body, session) = poll(&app, &desktop, &id, 5).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("confirmed")));
    assert!(session.is_some());
}

/// With confirmation off the scan logs in at once, and the reply still names the browser
/// with a link to cancel; cancelling before the browser took its session refuses it.
#[tokio::test]
async fn with_confirmation_off_the_reply_still_names_the_browser_and_can_cancel() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock).with_scan_confirm(false)).await;
    wire(&mock, &app);
    let desktop = browser();
    let s = start_scan(&app, &desktop).await;
    let id = s["id"].as_str().unwrap().to_owned();
    let report = mock
        .scan(s["qr_url"].as_str().unwrap(), "alice")
        .await
        .unwrap();
    let reply = report.reply.unwrap();
    assert!(
        reply.contains("您已扫码登录") && reply.contains("取消这次登录"),
        "{reply}"
    );
    let phone = wechat_browser();
    let (status, page) = open_on_phone(&phone, &confirm_link(&reply), "alice").await;
    assert_eq!(status, 200, "{page}");
    let (status, _) = answer(&phone, &confirm_link(&reply), &form_token(&page), "cancel").await;
    assert_eq!(status, 200);
    let (status, body, token) = poll(&app, &desktop, &id, 0).await;
    assert_eq!((status, body["status"].as_str()), (403, Some("refused")));
    assert!(token.is_none());
}

/// A reload (a second start from the same browser while its scan is pending) gets the same
/// scan: no second `qrcode/create`.
#[tokio::test]
async fn a_reload_reuses_the_pending_scan() {
    let mock = MockWechat::start().await.unwrap();
    let app = confirming_app(&mock).await;
    let b = browser();
    let first = start_scan(&app, &b).await;
    let calls = mock.calls("cgi-bin/qrcode/create");
    for _ in 0..3 {
        let again = start_scan(&app, &b).await;
        assert_eq!(again["id"], first["id"]);
        assert_eq!(again["qr_url"], first["qr_url"]);
        assert!(again["expires_in"].as_u64().unwrap() <= first["expires_in"].as_u64().unwrap());
    }
    // The page itself starts the same way when reloaded.
    for _ in 0..2 {
        let page = b
            .get(format!("{}/auth/wechat/scan?return_to=/profile", app.url))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert_eq!(start_scan(&app, &b).await["id"], first["id"]);
    }
    assert_eq!(mock.calls("cgi-bin/qrcode/create"), calls, "no new code");
    // Another browser gets its own.
    let other = start_scan(&app, &browser()).await;
    assert_ne!(other["id"], first["id"]);
    assert_eq!(mock.calls("cgi-bin/qrcode/create"), calls + 1);
}

/// A scan that lands while no poll is waiting (between two polls, or while the network was
/// away) is told at once to a poll that says the page still shows `pending`; a poll that says
/// it has shown `scanned` waits for what comes next; the scan page's own script says what it
/// showed; any other `seen` is a 400.
#[tokio::test]
async fn a_scan_that_landed_between_two_polls_is_told_at_once() {
    let mock = MockWechat::start().await.unwrap();
    let app = confirming_app(&mock).await;
    let b = browser();
    let s = start_scan(&app, &b).await;
    let id = s["id"].as_str().unwrap().to_owned();
    mock.scan(s["qr_url"].as_str().unwrap(), "alice")
        .await
        .unwrap();

    let status_url = format!("{}/auth/wechat/scan/{id}", app.url);
    let t = Instant::now();
    let (_, body) = get_json(&b, &format!("{status_url}?wait=10&seen=pending")).await;
    assert_eq!(body["status"], "scanned", "{body}");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "told at once, not at the poll's end: {:?}",
        t.elapsed()
    );

    let t = Instant::now();
    let (_, body) = get_json(&b, &format!("{status_url}?wait=1&seen=scanned")).await;
    assert_eq!(body["status"], "scanned", "{body}");
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "nothing new: the poll waits ({:?})",
        t.elapsed()
    );

    for bad in ["confirmed", "", "PENDING", "pending,scanned"] {
        let res = b
            .get(format!("{status_url}?wait=1&seen={bad}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "seen={bad}");
        assert!(res.text().await.unwrap().contains("`seen`"));
    }

    let page = b
        .get(format!("{}/auth/wechat/scan?return_to=/profile", app.url))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("&seen=\" + seen") && page.contains("seen = \"scanned\""),
        "the scan page says what it showed"
    );
}

/// 10,000 starts from one client without cookies (a bot): `qrcode/create` is called at most
/// the per-IP burst, everything else is `429` with `Retry-After`; another client is not held
/// up. Prints what it measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_starts_from_one_client_stay_within_the_limits() {
    use futures_util::StreamExt as _;

    let mock = MockWechat::start().await.unwrap();
    let limits = ScanStartLimits::new(20, 6, 600);
    let app = start(
        config(&mock)
            .with_scan_start_limits(limits)
            .with_client_ip_header("x-real-ip"),
    )
    .await;
    let bot = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let before = mock.calls("cgi-bin/qrcode/create");
    let started = Instant::now();
    let url = format!("{}/auth/wechat/scan", app.url);
    let results: Vec<(u16, Option<String>)> = futures_util::stream::iter(0..10_000)
        .map(|_| {
            let (bot, url) = (bot.clone(), url.clone());
            async move {
                let res = bot
                    .post(url)
                    .header("x-real-ip", "203.0.113.7")
                    .send()
                    .await
                    .unwrap();
                let retry = res
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned());
                (res.status().as_u16(), retry)
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    let limited: Vec<_> = results.iter().filter(|(s, _)| *s == 429).collect();
    let creates = mock.calls("cgi-bin/qrcode/create") - before;
    println!(
        "flood: 10000 starts from one client in {:.2} s: {ok} x 200, {} x 429, {creates} qrcode/create calls",
        elapsed.as_secs_f64(),
        limited.len()
    );
    assert_eq!(ok + limited.len(), 10_000, "only 200 and 429");
    // The burst, plus what refills while the flood lasts (20 a minute).
    let refill = (elapsed.as_secs() / 3) as usize + 1;
    assert!(
        (20..=20 + refill).contains(&ok),
        "qrcode/create bounded by the per-IP limit: {ok}"
    );
    assert_eq!(creates as usize, ok, "one qrcode/create per accepted start");
    assert!(limited.iter().all(|(_, r)| {
        r.as_deref()
            .is_some_and(|r| (1..=60).contains(&r.parse::<u64>().unwrap()))
    }));
    // Another client is not held up by the first one's flood.
    let res = browser()
        .post(&url)
        .header("x-real-ip", "198.51.100.9")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// The confirm page's web authorization is checked like a login's: a callback without this
/// phone's state is refused before WeChat is asked, a made-up code is WeChat's refusal, and
/// a client that keeps making codes up is held back.
#[tokio::test]
async fn the_confirm_pages_authorization_is_bound_and_bounded() {
    let mock = MockWechat::start().await.unwrap();
    let app = confirming_app(&mock).await;
    let desktop = browser();
    let s = start_scan(&app, &desktop).await;
    let report = mock
        .scan(s["qr_url"].as_str().unwrap(), "alice")
        .await
        .unwrap();
    let link = confirm_link(report.reply.as_deref().unwrap());
    let phone = wechat_browser();
    let res = phone.get(&link).send().await.unwrap();
    let authorize = location(&res);
    let state = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let exchanges = mock.calls("sns/oauth2/access_token");
    // Another phone (no state cookie) with this state: refused before any call to WeChat.
    let res = wechat_browser()
        .get(format!("{link}?code=madeup&state={state}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(mock.calls("sns/oauth2/access_token"), exchanges);
    // This phone with a made-up code: WeChat refuses it, said plainly.
    let mut last = 0;
    for i in 0..25 {
        let res = phone
            .get(format!("{link}?code=madeup{i}&state={state}"))
            .send()
            .await
            .unwrap();
        last = res.status().as_u16();
        if last == 429 {
            break;
        }
        assert_eq!(last, 400, "attempt {i}");
    }
    assert_eq!(last, 429, "made-up codes are bounded per client");
}

/// The site's `Pages` hook restyles the confirm page (kind `Confirm`): its own document
/// around the layer's escaped body, and the form inside still confirms the login.
#[tokio::test]
async fn a_pages_hook_restyles_the_confirm_page_and_its_form_still_works() {
    use wechat_auth::pages::{Markup, PageKind, Pages};
    struct Branded;
    impl Pages for Branded {
        fn confirm(&self, page: &wechat_auth::pages::Page<'_>) -> Markup {
            assert_eq!(page.kind(), PageKind::Confirm);
            Markup::trusted(format!(
                "<!doctype html><title>ACME</title><header>ACME 登录确认</header>{}",
                page.body()
            ))
        }
    }
    let mock = MockWechat::start().await.unwrap();
    let app = start(
        config(&mock)
            .with_scan_confirm(true)
            .with_pages(std::sync::Arc::new(Branded)),
    )
    .await;
    wire(&mock, &app);
    let desktop = browser();
    let s = start_scan(&app, &desktop).await;
    let id = s["id"].as_str().unwrap().to_owned();
    let report = mock
        .scan(s["qr_url"].as_str().unwrap(), "alice")
        .await
        .unwrap();
    let link = confirm_link(report.reply.as_deref().unwrap());
    let phone = wechat_browser();
    let (status, page) = open_on_phone(&phone, &link, "alice").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<header>ACME 登录确认</header>"), "{page}");
    assert!(
        page.contains("确认登录"),
        "the layer's body is kept: {page}"
    );
    let (status, done) = answer(&phone, &link, &form_token(&page), "confirm").await;
    assert_eq!(status, 200);
    assert!(
        done.contains("ACME"),
        "the answer page is restyled too: {done}"
    );
    let (status, body, token) = poll(&app, &desktop, &id, 5).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("confirmed")));
    assert!(token.is_some());
}

/// The cookie bomb: another site links the phone to `scan/{id}/confirm` over and over. Ids
/// that are no live scan (made up, or over) are `404` and set no cookie; live ones do set the
/// page's state cookie, but the phone keeps only the latest few, so its Cookie header stays
/// far below the 8 KB a proxy takes, and the latest page still confirms.
#[tokio::test]
async fn confirm_pages_of_unknown_scans_set_no_cookie_and_live_ones_keep_the_jar_small() {
    use reqwest::cookie::CookieStore as _;

    let mock = MockWechat::start().await.unwrap();
    let app = confirming_app(&mock).await;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let phone = Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(WECHAT_UA)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let page_url = |id: &str| format!("{}/auth/wechat/scan/{id}/confirm", app.url);
    let cookie_header = || {
        jar.cookies(&page_url(&"a".repeat(32)).parse().unwrap())
            .map(|h| h.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let confirm_cookies = |header: &str| {
        header
            .split("; ")
            .filter(|c| c.starts_with("wechat_cstate_") || c.starts_with("wechat_cuser_"))
            .count()
    };

    // 40 made-up ids (and malformed ones): 404, no cookie.
    for i in 0..40 {
        let id = if i % 10 == 9 {
            format!("{i}.bad")
        } else {
            wechat_auth_test_id(i)
        };
        let res = phone.get(page_url(&id)).send().await.unwrap();
        assert_eq!(res.status(), 404, "{id}");
        assert!(
            res.headers().get("set-cookie").is_none(),
            "no cookie for {id}: {:?}",
            res.headers().get_all("set-cookie")
        );
    }
    assert_eq!(cookie_header(), "", "the jar is empty");

    // A finished scan (cancelled on another phone): 404, no cookie, for a phone without
    // that page's proof.
    let s = start_scan(&app, &browser()).await;
    let report = mock
        .scan(s["qr_url"].as_str().unwrap(), "alice")
        .await
        .unwrap();
    let link = confirm_link(report.reply.as_deref().unwrap());
    let other_phone = wechat_browser();
    let (status, page) = open_on_phone(&other_phone, &link, "alice").await;
    assert_eq!(status, 200, "{page}");
    let (status, _) = answer(&other_phone, &link, &form_token(&page), "cancel").await;
    assert_eq!(status, 200);
    let res = phone.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.headers().get("set-cookie").is_none());
    assert_eq!(cookie_header(), "");

    // 12 live scans, each page sent to this phone (3 times over: 36 navigations).
    let mut live = Vec::new();
    for _ in 0..12 {
        live.push(start_scan(&app, &browser()).await);
    }
    let mut last_authorize = String::new();
    let mut most = 0;
    for round in 0..3 {
        for s in &live {
            let id = s["id"].as_str().unwrap();
            let res = phone.get(page_url(id)).send().await.unwrap();
            assert_eq!(res.status(), 302, "round {round}: off to web authorization");
            last_authorize = location(&res);
            let header = cookie_header();
            most = most.max(confirm_cookies(&header));
            assert!(
                header.len() < 2048,
                "round {round}: a {} byte Cookie header: {header}",
                header.len()
            );
        }
    }
    assert!(
        (1..=3).contains(&most),
        "at most 3 confirm cookies at once, saw {most}"
    );

    // The latest still works: Alice scans it, and her phone goes on from the authorization
    // it was sent to with the state cookie it holds.
    let latest = live.last().unwrap();
    let latest_id = latest["id"].as_str().unwrap();
    let report = mock
        .scan(latest["qr_url"].as_str().unwrap(), "alice")
        .await
        .unwrap();
    let link = confirm_link(report.reply.as_deref().unwrap());
    assert_eq!(link, page_url(latest_id));
    let res = phone
        .get(MockWechat::approve_url(&last_authorize, "alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let res = phone.get(location(&res)).send().await.unwrap();
    assert_eq!(res.status(), 303, "the state cookie was kept");
    let res = phone.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    let (status, page) = answer(&phone, &link, &form_token(&page), "confirm").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("已确认登录"), "{page}");
    assert!(confirm_cookies(&cookie_header()) <= 3);
}

/// A made-up scan id: 32 letters and digits, as the layer's own.
fn wechat_auth_test_id(i: usize) -> String {
    format!("{i:0>4}{}", "Zz9".repeat(10).get(..28).unwrap())
}

/// A browser with its own User-Agent (cookies kept, redirects by hand).
fn browser_with_ua(ua: &str) -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(ua)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// woothee copies the text before `;FOMA;` into the "version" of a docomo phone: a
/// User-Agent made of a link. The attacker who starts the scan must not put a link of their
/// own into the reply that is meant to expose them, nor into the phone's confirm page.
#[tokio::test]
async fn markup_in_the_requesters_user_agent_reaches_neither_the_reply_nor_the_confirm_page() {
    const HOSTILE: &str =
        r#"Mozilla/5.0 (<a href="https://evil.example/phish">CLICK TO CONFIRM</a>;FOMA;)"#;
    let mock = MockWechat::start().await.unwrap();
    let app = confirming_app(&mock).await;
    let attacker = browser_with_ua(HOSTILE);
    let s = start_scan(&app, &attacker).await;
    let report = mock
        .scan(s["qr_url"].as_str().unwrap(), "alice")
        .await
        .unwrap();
    let reply = report.reply.expect("a passive reply");
    assert!(
        !reply.contains("evil.example") && !reply.contains("CLICK TO CONFIRM"),
        "{reply}"
    );
    assert_eq!(
        reply.matches("<a").count(),
        1,
        "only the layer's own link: {reply}"
    );
    assert!(reply.contains("浏览器：未知浏览器"), "{reply}");
    let link = confirm_link(&reply);
    assert!(link.starts_with(&app.url), "{link}");
    // What a person sees on the mock's phone: one link, the layer's.
    let phone_page = reqwest::get(format!("{}/mock/phone", mock.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!phone_page.contains("evil.example"), "{phone_page}");
    assert!(phone_page.contains("未知浏览器"), "{phone_page}");
    // The confirm page names no such browser either.
    let (status, page) = open_on_phone(&wechat_browser(), &link, "alice").await;
    assert_eq!(status, 200, "{page}");
    assert!(
        !page.contains("evil.example") && !page.contains("CLICK TO CONFIRM"),
        "{page}"
    );
    assert!(page.contains("浏览器：未知浏览器"), "{page}");
}

/// A User-Agent holding the confirm page's own placeholders: nothing the requester sent is
/// filled in (the form token, the action, the hidden switch stay where they belong, once).
#[tokio::test]
async fn placeholders_in_the_requesters_user_agent_are_not_filled_on_the_confirm_page() {
    const PLACEHOLDERS: &str = "Mozilla/5.0 ({{TOKEN}}{{ACTION}}{{ASK_HIDDEN}}{{IP}};FOMA;)";
    let mock = MockWechat::start().await.unwrap();
    let app = confirming_app(&mock).await;
    let requester = browser_with_ua(PLACEHOLDERS);
    let s = start_scan(&app, &requester).await;
    let id = s["id"].as_str().unwrap().to_owned();
    let report = mock
        .scan(s["qr_url"].as_str().unwrap(), "alice")
        .await
        .unwrap();
    let reply = report.reply.unwrap();
    assert!(!reply.contains("{{"), "{reply}");
    let phone = wechat_browser();
    let (status, page) = open_on_phone(&phone, &confirm_link(&reply), "alice").await;
    assert_eq!(status, 200, "{page}");
    let token = form_token(&page);
    assert_eq!(
        page.matches(token.as_str()).count(),
        1,
        "the form token appears once, in the form: {page}"
    );
    assert_eq!(
        page.matches(&format!("/auth/wechat/scan/{id}/confirm"))
            .count(),
        1,
        "{page}"
    );
    assert!(page.contains("浏览器：未知浏览器</p>"), "{page}");
    // The page still works.
    let (status, done) = answer(&phone, &confirm_link(&reply), &token, "confirm").await;
    assert_eq!(status, 200, "{done}");
    let (status, body, session) = poll(&app, &requester, &id, 5).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("confirmed")));
    assert!(session.is_some());
}

/// Bob scans a code Alice has scanned already: his reply says only that it was scanned
/// (nothing about the browser, IP or time of the requester, and no link); the browser that
/// asked learns that a second WeChat scanned (`another_scanner`), at once when it waits,
/// without a busy loop once it has shown it; Alice scanning again is told the same as
/// before, and her login still completes.
#[tokio::test]
async fn a_second_scanner_is_told_nothing_about_the_requester_and_the_requester_is_told() {
    let mock = MockWechat::start().await.unwrap();
    let app = confirming_app(&mock).await;
    let desktop = browser();
    let s = start_scan(&app, &desktop).await;
    let id = s["id"].as_str().unwrap().to_owned();
    let qr = s["qr_url"].as_str().unwrap().to_owned();
    let first = mock.scan(&qr, "alice").await.unwrap().reply.unwrap();
    assert!(first.contains("127.0.0.1") && first.contains("Chrome 130.0"));
    let link = confirm_link(&first);
    let (status, body, _) = poll(&app, &desktop, &id, 0).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("scanned")));
    assert_eq!(body.get("another_scanner"), None, "{body}");

    // The page waits, having shown `scanned`: Bob's scan wakes it.
    let waiting = {
        let (b, url, id) = (desktop.clone(), app.url.clone(), id.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let res = b
                .get(format!(
                    "{url}/auth/wechat/scan/{id}?wait=20&seen=scanned&another_scanner=0"
                ))
                .send()
                .await
                .unwrap();
            (started.elapsed(), res.json::<Value>().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = mock.scan(&qr, "bob").await.unwrap();
    assert!(second.acknowledged, "{second:?}");
    let told = second.reply.expect("bob is answered");
    // (The site's host is 127.0.0.1 here too: the requester's address would follow "IP：".)
    for secret in [
        "IP：",
        "Chrome",
        "Linux",
        "北京时间",
        "浏览器",
        "<a",
        "/confirm",
    ] {
        assert!(!told.contains(secret), "{secret:?} in {told}");
    }
    assert_eq!(
        told.matches("127.0.0.1").count(),
        1,
        "the site only: {told}"
    );
    assert!(told.contains("已被其他微信扫过"), "{told}");
    let (waited, body) = waiting.await.unwrap();
    assert_eq!(body["status"], "scanned", "{body}");
    assert_eq!(body["another_scanner"], true, "{body}");
    assert!(waited < Duration::from_secs(5), "woken: {waited:?}");

    // Every later answer carries the flag; a page that has shown it waits as before.
    let started = Instant::now();
    let res = desktop
        .get(format!(
            "{}/auth/wechat/scan/{id}?wait=1&seen=scanned&another_scanner=1",
            app.url
        ))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (body["status"].as_str(), body["another_scanner"].as_bool()),
        (Some("scanned"), Some(true))
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "no busy loop"
    );
    let res = desktop
        .get(format!(
            "{}/auth/wechat/scan/{id}?another_scanner=x",
            app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

    // Alice scanning again is told what she was told the first time.
    let again = mock.scan(&qr, "alice").await.unwrap().reply.unwrap();
    assert!(
        again.contains("127.0.0.1") && again.contains("Chrome 130.0"),
        "{again}"
    );
    // Bob cannot use Alice's link; Alice confirms and the browser lands.
    let (status, _) = open_on_phone(&wechat_browser(), &link, "bob").await;
    assert_eq!(status, 403);
    let phone = wechat_browser();
    let (status, page) = open_on_phone(&phone, &link, "alice").await;
    assert_eq!(status, 200, "{page}");
    let (status, _) = answer(&phone, &link, &form_token(&page), "confirm").await;
    assert_eq!(status, 200);
    let (status, body, session) = poll(&app, &desktop, &id, 5).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("confirmed")),
        "{body}"
    );
    assert!(session.is_some());
    let (status, user) = get_json(&desktop, &format!("{}/profile", app.url)).await;
    assert_eq!(status, 200);
    assert_eq!(
        user["openid"],
        mock.user("alice")
            .unwrap()
            .openid_for(&mock.official_account().appid)
    );
}
