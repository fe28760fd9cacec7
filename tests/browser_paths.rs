//! The path for every browser (issue 26, the README's "Which login each browser gets"):
//! the classifier over every real User-Agent in `tests/fixtures/user-agents/` (one file per
//! kind, sources in its README), and `GET /auth/wechat/login` over real sockets from each of
//! them, under several configurations: WeChat lands on the Official Account's authorize URL
//! at the top level, a phone browser on the link page (`scan?via=link`), a desktop on the
//! website QR; `channel=` forces any path; and no browser that cannot scan its own screen is
//! ever sent to a QR code.

mod common;

use common::*;
use wechat_auth::{BrowserKind, WechatConfig, WechatConfigBuilder, is_phone, mock::MockWechat};

/// Every fixture file, with the kind each of its strings must be classified as.
const FIXTURES: [(&str, &str, BrowserKind); 6] = [
    (
        "desktop.txt",
        include_str!("fixtures/user-agents/desktop.txt"),
        BrowserKind::Desktop,
    ),
    (
        "wechat_phone.txt",
        include_str!("fixtures/user-agents/wechat_phone.txt"),
        BrowserKind::WechatPhone,
    ),
    (
        "wechat_desktop.txt",
        include_str!("fixtures/user-agents/wechat_desktop.txt"),
        BrowserKind::WechatDesktop,
    ),
    (
        "mini_program_webview.txt",
        include_str!("fixtures/user-agents/mini_program_webview.txt"),
        BrowserKind::MiniProgramWebView,
    ),
    (
        "wecom.txt",
        include_str!("fixtures/user-agents/wecom.txt"),
        BrowserKind::Wecom,
    ),
    (
        "phone_browser.txt",
        include_str!("fixtures/user-agents/phone_browser.txt"),
        BrowserKind::PhoneBrowser,
    ),
];

const FIXTURE_README: &str = include_str!("fixtures/user-agents/README.md");

/// The User-Agents of one fixture file (comment and blank lines skipped).
fn agents(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect()
}

/// Every fixture UA with its file and kind.
fn every_agent() -> Vec<(&'static str, &'static str, BrowserKind)> {
    FIXTURES
        .iter()
        .flat_map(|(file, text, kind)| agents(text).into_iter().map(|ua| (*file, ua, *kind)))
        .collect()
}

/// What the comment above `ua` in its fixture file says: `Some(true)` for "(phone)",
/// `Some(false)` for "(computer", else `None`.
fn annotated_phone(ua: &str) -> Option<bool> {
    for (_, text, _) in FIXTURES {
        let lines: Vec<&str> = text.lines().collect();
        if let Some(i) = lines.iter().position(|l| *l == ua) {
            let above = i.checked_sub(1).map(|j| lines[j]).unwrap_or("");
            if above.contains("(phone)") {
                return Some(true);
            }
            if above.contains("(computer") {
                return Some(false);
            }
            return None;
        }
    }
    None
}

/// Whether `ua` (of `kind`) is a phone, as the fixtures say: by its kind, or for the kinds
/// that come on both (WeCom, mini programs) by the annotation of its line.
fn fixture_phone(kind: BrowserKind, ua: &str) -> bool {
    match kind {
        BrowserKind::Desktop | BrowserKind::WechatDesktop => false,
        BrowserKind::WechatPhone | BrowserKind::PhoneBrowser => true,
        _ => annotated_phone(ua).unwrap_or_else(|| panic!("say (phone) or (computer) above {ua}")),
    }
}

#[test]
fn every_fixture_user_agent_is_classified_as_its_file_says() {
    let mut wrong = Vec::new();
    for (file, ua, kind) in every_agent() {
        let got = BrowserKind::of(ua, None);
        if got != kind {
            wrong.push(format!("{file}: {got:?} for {ua}"));
        }
    }
    assert!(wrong.is_empty(), "misclassified:\n  {}", wrong.join("\n  "));
    for (file, text, _) in FIXTURES {
        assert!(
            agents(text).len() >= 2,
            "{file} needs at least two real strings"
        );
    }
}

#[test]
fn every_fixture_string_names_a_source_the_readme_cites() {
    for (file, text, _) in FIXTURES {
        assert!(
            FIXTURE_README.contains(&format!("`{file}`")),
            "README lacks {file}"
        );
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let above = i.checked_sub(1).map(|j| lines[j]).unwrap_or("");
            let cite = above
                .split_once("[S")
                .and_then(|(_, rest)| rest.split_once(']'))
                .map(|(n, _)| format!("**[S{n}]**"));
            let Some(cite) = cite else {
                panic!("{file}:{}: no `# [Sn]` source line above {line}", i + 1);
            };
            assert!(
                FIXTURE_README.contains(&cite),
                "{file}:{}: {cite} is not in the README's sources",
                i + 1
            );
        }
    }
}

#[test]
fn phones_are_phones_and_computers_are_not() {
    for (file, ua, kind) in every_agent() {
        assert_eq!(is_phone(ua), fixture_phone(kind, ua), "{file}: {ua}");
    }
    // Both kinds that come on phones and computers have strings of each.
    for kind in [BrowserKind::Wecom, BrowserKind::MiniProgramWebView] {
        let of_kind: Vec<&str> = every_agent()
            .into_iter()
            .filter(|(_, _, k)| *k == kind)
            .map(|(_, ua, _)| ua)
            .collect();
        assert!(of_kind.iter().any(|ua| fixture_phone(kind, ua)), "{kind:?}");
        assert!(
            of_kind.iter().any(|ua| !fixture_phone(kind, ua)),
            "{kind:?}"
        );
    }
}

#[test]
fn a_servicewechat_referer_is_a_mini_program_and_nothing_else_is() {
    let wechat = agents(FIXTURES[1].1)[0];
    let referer = "https://servicewechat.com/wx1234567890abcdef/12/page-frame.html";
    assert_eq!(
        BrowserKind::of(wechat, Some(referer)),
        BrowserKind::MiniProgramWebView
    );
    assert_eq!(
        BrowserKind::of(
            wechat,
            Some("HTTPS://SERVICEWECHAT.COM/wx1/1/page-frame.html")
        ),
        BrowserKind::MiniProgramWebView
    );
    for other in [
        "https://servicewechat.com.evil.example/",
        "http://servicewechat.com/wx1/1/page-frame.html",
        "https://example.com/?https://servicewechat.com/",
        "",
    ] {
        assert_eq!(
            BrowserKind::of(wechat, Some(other)),
            BrowserKind::WechatPhone,
            "{other}"
        );
    }
    // A Referer does not make a desktop browser a mini program unless it is one.
    let desktop = agents(FIXTURES[0].1)[0];
    assert_eq!(
        BrowserKind::of(desktop, Some("https://shop.example/")),
        BrowserKind::Desktop
    );
}

/// What `GET login` answered one browser.
#[derive(Debug, PartialEq, Eq)]
enum Landed {
    /// The Official Account's authorize URL (web authorization).
    Authorize,
    /// The website QR (`connect/qrconnect`).
    WebsiteQr,
    /// The link page (`scan?via=link`).
    Link,
    /// The follow-the-account scan page (a QR to scan).
    ScanQr,
    /// The mini program code page (a QR to scan).
    MiniProgramCode,
    /// The message-code page.
    MessageCode,
    /// The layer's embedded-QR host page (`200`, an iframe of `qrconnect`).
    EmbedHost,
    /// Anything else (status, Location).
    Other(u16, String),
}

impl Landed {
    /// Whether this is a QR code, which a phone or WeChat itself cannot scan on its own screen.
    fn is_qr(&self) -> bool {
        matches!(
            self,
            Self::WebsiteQr | Self::ScanQr | Self::MiniProgramCode | Self::EmbedHost
        )
    }
}

/// Where `GET {app}/auth/wechat/login{query}` sends a browser with `ua` (and `referer`).
async fn land(
    mock: &MockWechat,
    app: &App,
    ua: &str,
    referer: Option<&str>,
    query: &str,
) -> Landed {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut req = client
        .get(format!("{}/auth/wechat/login{query}", app.url))
        .header("user-agent", ua)
        .header("accept", "text/html");
    if let Some(r) = referer {
        req = req.header("referer", r);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    if status == 200 {
        let body = res.text().await.unwrap();
        if body.contains("id=\"wechat-qr\"") && body.contains("connect/qrconnect") {
            return Landed::EmbedHost;
        }
        return Landed::Other(200, String::new());
    }
    let Some(to) = res
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
    else {
        return Landed::Other(status, String::new());
    };
    let oa = &mock.official_account().appid;
    if status == 302
        && to.starts_with(&format!(
            "{}/connect/oauth2/authorize?appid={oa}&",
            mock.url()
        ))
    {
        Landed::Authorize
    } else if status == 302 && to.starts_with(&format!("{}/connect/qrconnect?", mock.url())) {
        Landed::WebsiteQr
    } else if status == 302 && to.starts_with("/auth/wechat/scan?via=link&return_to=") {
        Landed::Link
    } else if status == 302 && to.starts_with("/auth/wechat/scan?") {
        if to.contains("via=miniprogram") {
            Landed::MiniProgramCode
        } else if to.contains("via=message") {
            Landed::MessageCode
        } else {
            Landed::ScanQr
        }
    } else {
        Landed::Other(status, to)
    }
}

/// A configuration of the site, by what it has.
struct Setup {
    name: &'static str,
    builder: fn(&MockWechat) -> WechatConfigBuilder,
}

fn bare(mock: &MockWechat) -> WechatConfigBuilder {
    with_test_store(
        WechatConfig::builder()
            .with_session_secret(SECRET)
            .with_wechat_bases(mock.url(), mock.url(), mock.url())
            .with_public_path("/")
            .with_scan_confirm(false),
    )
}

fn with_oa(b: WechatConfigBuilder, mock: &MockWechat) -> WechatConfigBuilder {
    let oa = mock.official_account();
    b.with_official_account(oa.appid.clone(), oa.secret.clone())
        .with_oa_push(
            oa.token.clone().unwrap_or_default(),
            oa.encoding_aes_key.as_deref(),
        )
}

fn with_mini(b: WechatConfigBuilder, mock: &MockWechat) -> WechatConfigBuilder {
    b.with_mini_program(
        mock.mini_program().appid.clone(),
        mock.mini_program().secret.clone(),
    )
}

fn with_website(b: WechatConfigBuilder, mock: &MockWechat) -> WechatConfigBuilder {
    b.with_website_app(mock.website().appid.clone(), mock.website().secret.clone())
}

const SETUPS: [Setup; 5] = [
    Setup {
        name: "everything (website app, Official Account, mini program)",
        builder: config,
    },
    Setup {
        name: "website app and mini program, no Official Account",
        builder: |m| with_mini(with_website(bare(m), m), m),
    },
    Setup {
        name: "Official Account only",
        builder: |m| with_oa(bare(m), m),
    },
    Setup {
        name: "unverified Official Account only",
        builder: |m| with_oa(bare(m), m).with_oa_verified(false),
    },
    Setup {
        name: "mini program only",
        builder: |m| with_mini(bare(m), m),
    },
];

/// With everything configured, each kind lands where the README's table says.
#[tokio::test]
async fn each_kind_lands_on_its_path_with_everything_configured() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let q = "?return_to=/profile";
    for (file, ua, kind) in every_agent() {
        let landed = land(&mock, &app, ua, None, q).await;
        let want = match kind {
            BrowserKind::Desktop => Landed::WebsiteQr,
            BrowserKind::WechatPhone
            | BrowserKind::WechatDesktop
            | BrowserKind::MiniProgramWebView => Landed::Authorize,
            // WeCom: on a phone the link, on a computer the desktop choice.
            BrowserKind::Wecom if fixture_phone(kind, ua) => Landed::Link,
            BrowserKind::Wecom => Landed::WebsiteQr,
            BrowserKind::PhoneBrowser => Landed::Link,
            _ => unreachable!("a kind without a fixture file"),
        };
        assert_eq!(landed, want, "{file}: {ua}");
    }
    // A mini program's Referer makes any WeChat UA the mini program's web-view: the same.
    let referer = "https://servicewechat.com/wx1234567890abcdef/12/page-frame.html";
    let wechat = agents(FIXTURES[1].1)[0];
    assert_eq!(
        land(&mock, &app, wechat, Some(referer), q).await,
        Landed::Authorize
    );
    // The link keeps return_to, encoded.
    let safari = agents(FIXTURES[5].1)[0];
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(safari)
        .build()
        .unwrap()
        .get(format!(
            "{}/auth/wechat/login?return_to=/profile%3Ftab%3D1",
            app.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(
        location(&res),
        "/auth/wechat/scan?via=link&return_to=/profile%3Ftab%3D1"
    );
    // A protected page sends a phone into the same login, which sends it to the link.
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(safari)
        .build()
        .unwrap()
        .get(format!("{}/profile", app.url))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(location(&res), "/auth/wechat/login?return_to=/profile");
}

/// Under every configuration: no phone, no WeChat browser is sent to a QR code on its own
/// screen; phone browsers get the link page (message-code login when the site has an Official
/// Account with a push token and no mini program). (The one exception, documented: inside
/// WeChat on a site with nothing but a website app, the website QR is the only login.)
#[tokio::test]
async fn no_browser_is_sent_to_a_qr_it_would_have_to_scan_itself() {
    let mock = MockWechat::start().await.unwrap();
    let mut problems = Vec::new();
    for setup in &SETUPS {
        let app = start((setup.builder)(&mock)).await;
        for query in [
            "?return_to=/",
            "?return_to=/&display=embed",
            "?return_to=/&display=popup",
        ] {
            for (file, ua, kind) in every_agent() {
                let landed = land(&mock, &app, ua, None, query).await;
                let phone_outside_wechat = kind == BrowserKind::PhoneBrowser
                    || kind == BrowserKind::Wecom && fixture_phone(kind, ua);
                let same_screen = phone_outside_wechat || kind.in_wechat();
                if same_screen && landed.is_qr() {
                    problems.push(format!(
                        "[{}] {query} {file}: {landed:?} for {ua}",
                        setup.name
                    ));
                }
                // The link when the site has a mini program; else message-code login when its
                // Official Account has a push token (the code is sent from WeChat on the same
                // phone); else the link page, which says what to do.
                let phone_path = match setup.name {
                    "Official Account only" | "unverified Official Account only" => {
                        Landed::MessageCode
                    }
                    _ => Landed::Link,
                };
                if phone_outside_wechat && landed != phone_path {
                    problems.push(format!(
                        "[{}] {query} {file}: {landed:?}, want {phone_path:?}, for {ua}",
                        setup.name
                    ));
                }
                if kind.in_wechat() {
                    let want = match setup.name {
                        n if n.starts_with("everything") || n == "Official Account only" => {
                            Landed::Authorize
                        }
                        "unverified Official Account only" => Landed::MessageCode,
                        _ => Landed::Link,
                    };
                    if landed != want {
                        problems.push(format!(
                            "[{}] {query} {file}: {landed:?}, want {want:?}, for {ua}",
                            setup.name
                        ));
                    }
                }
                // (An embedded QR needs a website app: without one, its page says so.)
                if (kind == BrowserKind::Desktop
                    || kind == BrowserKind::Wecom && !phone_outside_wechat)
                    && query == "?return_to=/"
                    && matches!(landed, Landed::Other(..))
                {
                    problems.push(format!(
                        "[{}] {query} {file}: a desktop got no login: {landed:?}",
                        setup.name
                    ));
                }
            }
        }
        drop(app);
    }
    assert!(problems.is_empty(), "\n  {}", problems.join("\n  "));
}

/// The page the link path leads to shows no QR code (whichever page serves `scan?via=link`).
#[tokio::test]
async fn the_link_page_a_phone_lands_on_shows_no_qr() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    for ua in agents(FIXTURES[5].1) {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(5))
            .cookie_store(true)
            .user_agent(ua)
            .build()
            .unwrap();
        let res = client
            .get(format!("{}/auth/wechat/login?return_to=/profile", app.url))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        let url = res.url().clone();
        assert_eq!(url.path(), "/auth/wechat/scan", "{ua}");
        assert!(url.query().unwrap_or("").contains("via=link"), "{url}");
        let body = res.text().await.unwrap();
        for qr in ["qr.svg", "qrconnect", "showqrcode", "getwxacode", "<iframe"] {
            assert!(
                !body.contains(qr),
                "{ua}: the link page shows {qr}:\n{body}"
            );
        }
    }
}

/// `channel=` forces any path from any browser, and `channel=link` the link.
#[tokio::test]
async fn channel_forces_any_path() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let safari = agents(FIXTURES[5].1)[0];
    let wechat = agents(FIXTURES[1].1)[0];
    let desktop = agents(FIXTURES[0].1)[0];
    let cases = [
        (safari, "&channel=website", Landed::WebsiteQr),
        (safari, "&channel=oa", Landed::Authorize),
        (safari, "&channel=scan", Landed::ScanQr),
        (safari, "&channel=website&display=embed", Landed::EmbedHost),
        (wechat, "&channel=website", Landed::WebsiteQr),
        (wechat, "&channel=link", Landed::Link),
        (desktop, "&channel=oa", Landed::Authorize),
        (desktop, "&channel=link", Landed::Link),
        (
            desktop,
            "&channel=miniprogram_code",
            Landed::MiniProgramCode,
        ),
        (desktop, "&channel=message", Landed::MessageCode),
        (desktop, "", Landed::WebsiteQr),
        (desktop, "&display=embed", Landed::EmbedHost),
        (safari, "&display=embed", Landed::Link),
        (wechat, "&display=embed", Landed::Authorize),
    ];
    for (ua, extra, want) in cases {
        let landed = land(&mock, &app, ua, None, &format!("?return_to=/{extra}")).await;
        assert_eq!(landed, want, "{extra} for {ua}");
    }
    // A channel that does not exist is a clear 400, from any browser.
    for ua in [safari, wechat, desktop] {
        let landed = land(&mock, &app, ua, None, "?return_to=/&channel=fax").await;
        assert_eq!(landed, Landed::Other(400, String::new()), "{ua}");
    }
}

/// The README's table, in both languages, names every kind and keeps the same rows.
#[test]
fn both_readmes_have_the_table_with_every_kind() {
    let en = include_str!("../README.md");
    let zh = include_str!("../README.zh-CN.md");
    let section = |text: &'static str, heading: &str| -> &'static str {
        let start = text.find(heading).unwrap_or_else(|| panic!("no {heading}"));
        let rest = &text[start + heading.len()..];
        &rest[..rest.find("\n## ").unwrap_or(rest.len())]
    };
    let en = section(en, "## Which login each browser gets");
    let zh = section(zh, "## 不同浏览器得到的登录方式");
    let rows = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("|--"))
            .filter_map(|l| {
                let kind = l.split('`').nth(1)?;
                Some(kind.to_owned())
            })
            .collect()
    };
    let kinds = [
        "Desktop",
        "WechatPhone",
        "WechatDesktop",
        "MiniProgramWebView",
        "Wecom",
        "PhoneBrowser",
    ];
    for (name, s) in [("README.md", en), ("README.zh-CN.md", zh)] {
        let r = rows(s);
        for k in kinds {
            assert!(r.iter().any(|x| x == k), "{name}'s table lacks {k}: {r:?}");
        }
    }
    assert_eq!(
        rows(en),
        rows(zh),
        "the two tables list the kinds in another order"
    );
    for marker in [
        "wxwork/",
        "WindowsWechat",
        "MacWechat",
        "miniProgram",
        "servicewechat.com",
        "scan?via=link",
    ] {
        assert!(
            en.contains(marker) && zh.contains(marker),
            "{marker} missing from a table"
        );
    }
}
