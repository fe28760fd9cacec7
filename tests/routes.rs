//! The route table (`src/flows/route.rs`) over real sockets: every endpoint of every channel
//! answers a wrong method with `405` and the `Allow` list the table derives, a path no
//! channel lists is `404`, and each route reads its body with its own limit.

mod common;

use common::*;
use reqwest::Method;
use wechat_auth::mock::MockWechat;

const ID: &str = "AbCdEfGhIjKlMnOpQrStUvWxYz012345";

async fn send(b: &reqwest::Client, method: &str, url: &str, body: Vec<u8>) -> reqwest::Response {
    b.request(Method::from_bytes(method.as_bytes()).unwrap(), url)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn wrong_methods_get_405_with_the_methods_the_table_lists() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let b = browser();
    let read = "GET, HEAD";
    let post = "POST";
    let both = "GET, HEAD, POST";
    let confirm = format!("/scan/{ID}/confirm");
    let status = format!("/scan/{ID}");
    let qr = format!("/scan/{ID}/qr.svg");
    let code = format!("/scan/{ID}/code.png");
    let cases: &[(&str, &str, &str)] = &[
        ("PUT", "/login", read),
        ("POST", "/callback", read),
        ("DELETE", "/me", read),
        ("POST", "/embed", read),
        ("PUT", "/embed.js", read),
        ("POST", "/relay", read),
        ("GET", "/logout", post),
        ("GET", "/app", post),
        ("HEAD", "/miniprogram", post),
        ("GET", "/refresh", post),
        ("GET", "/miniprogram/scan", post),
        ("PATCH", "/miniprogram/scan/open", post),
        ("PUT", "/scan", both),
        ("TRACE", "/push", both),
        ("POST", &status, read),
        ("POST", &qr, read),
        ("DELETE", &code, read),
        // Before the table this said `GET, HEAD`, though POST answers the confirmation.
        ("PUT", &confirm, both),
    ];
    for (method, path, allow) in cases {
        let res = send(
            &b,
            method,
            &format!("{}/auth/wechat{path}", app.url),
            Vec::new(),
        )
        .await;
        assert_eq!(res.status(), 405, "{method} {path}");
        assert_eq!(res.headers()["allow"], *allow, "{method} {path}");
    }
}

#[tokio::test]
async fn a_path_no_channel_lists_is_404_whatever_the_method() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let b = browser();
    for path in [
        "/nope",
        "/login/",
        "/scanx",
        "/Login",
        "/miniprogram/scan/open/x",
    ] {
        for method in ["GET", "POST", "PUT"] {
            let res = send(
                &b,
                method,
                &format!("{}/auth/wechat{path}", app.url),
                Vec::new(),
            )
            .await;
            assert_eq!(res.status(), 404, "{method} {path}");
            assert!(res.headers().get("allow").is_none(), "{method} {path}");
        }
    }
}

#[tokio::test]
async fn each_route_reads_its_body_with_its_own_limit() {
    let mock = MockWechat::start().await.unwrap();
    let app = start(config(&mock)).await;
    let b = browser();
    let confirm = format!("/scan/{ID}/confirm");
    // (path, the route's limit): one byte more is 413, before the handler looks at it.
    let cases: &[(&str, usize)] = &[
        ("/app", 16 * 1024),
        ("/miniprogram", 16 * 1024),
        ("/miniprogram/scan", 16 * 1024),
        ("/miniprogram/scan/open", 16 * 1024),
        (&confirm, 4 * 1024),
        ("/push", wechat_auth::push::MAX_BODY_BYTES),
    ];
    for (path, limit) in cases {
        let url = format!("{}/auth/wechat{path}", app.url);
        let res = send(&b, "POST", &url, vec![b'x'; limit + 1]).await;
        assert_eq!(res.status(), 413, "POST {path} with {} bytes", limit + 1);
        let res = send(&b, "POST", &url, vec![b'x'; *limit]).await;
        assert_ne!(res.status(), 413, "POST {path} with {limit} bytes");
    }
}
