//! One registered callback domain, several sites: a relay hub and two sites on different
//! loopback hosts (so browsers keep their cookies apart, as for real subdomains), sharing
//! one mock WeChat whose website app and Official Account accept only the hub's host.
//!
//! | who | host | config |
//! |---|---|---|
//! | hub | `127.0.0.1` | `with_relay_target(A)`, `with_relay_target(B)` |
//! | site A | `localhost` | `with_relay_hub(hub/auth/wechat/relay)` |
//! | site B | `127.0.0.2` | `with_relay_hub(hub/auth/wechat/relay)` |
//!
//! The hub records every `Cookie` header it receives on its relay endpoint.
#![allow(dead_code, unreachable_pub)]

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{extract::Request, middleware::Next};
use tokio::net::TcpListener;
use wechat_auth::{WechatAuthLayer, WechatConfigBuilder, mock::MockWechat};

use super::common::{App, base_config, routes};

/// The hub and its two sites.
pub struct RelaySites {
    pub hub: App,
    pub a: App,
    pub b: App,
    /// `Cookie` headers that reached the hub's relay endpoint.
    pub hub_cookies: Arc<Mutex<Vec<String>>>,
}

pub async fn bind(ip: &str) -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind(format!("{ip}:0")).await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Serves the test routes behind a layer built from `builder` at public URL `url`.
pub fn serve(
    listener: TcpListener,
    url: String,
    builder: WechatConfigBuilder,
    cookies: Option<Arc<Mutex<Vec<String>>>>,
) -> App {
    let addr = listener.local_addr().unwrap();
    let cfg = builder.with_public_url(url.clone()).build().unwrap();
    let mut app = routes().layer(WechatAuthLayer::new(cfg));
    if let Some(seen) = cookies {
        app = app.layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let seen = seen.clone();
                async move {
                    if req.uri().path().ends_with("/relay") {
                        for c in req.headers().get_all("cookie") {
                            seen.lock()
                                .unwrap()
                                .push(c.to_str().unwrap_or("?").to_owned());
                        }
                    }
                    next.run(req).await
                }
            },
        ));
    }
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

impl RelaySites {
    /// Starts the three, and registers only the hub's host with the mock's apps.
    pub async fn start(mock: &MockWechat) -> Self {
        Self::start_with(mock, |b| b).await
    }

    /// [`start`](Self::start) with every site's builder passed through `adjust` first.
    pub async fn start_with(
        mock: &MockWechat,
        adjust: impl Fn(WechatConfigBuilder) -> WechatConfigBuilder,
    ) -> Self {
        for appid in [
            mock.website().appid.clone(),
            mock.official_account().appid.clone(),
        ] {
            mock.set_redirect_domains(&appid, vec!["127.0.0.1".into()])
                .unwrap();
        }
        let (hub_l, hub_addr) = bind("127.0.0.1").await;
        let (a_l, a_addr) = bind("127.0.0.1").await;
        let (b_l, b_addr) = bind("127.0.0.2").await;
        let hub_url = format!("http://127.0.0.1:{}", hub_addr.port());
        let a_url = format!("http://localhost:{}", a_addr.port());
        let b_url = format!("http://127.0.0.2:{}", b_addr.port());
        let relay = format!("{hub_url}/auth/wechat/relay");
        let hub_cookies = Arc::new(Mutex::new(Vec::new()));
        let hub = serve(
            hub_l,
            hub_url,
            adjust(base_config(mock))
                .with_relay_target(a_url.clone())
                .with_relay_target(b_url.clone()),
            Some(hub_cookies.clone()),
        );
        let a = serve(
            a_l,
            a_url,
            adjust(base_config(mock)).with_relay_hub(relay.clone()),
            None,
        );
        let b = serve(
            b_l,
            b_url,
            adjust(base_config(mock)).with_relay_hub(relay),
            None,
        );
        Self {
            hub,
            a,
            b,
            hub_cookies,
        }
    }
}
