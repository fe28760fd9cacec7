//! Runs the mock WeChat server on its own, for people and scripts in any language.
//!
//! ```text
//! MOCK_PORT=4000 cargo run --features mock --example mock_server
//! ```
//!
//! The first line on stdout is `mock wechat: http://127.0.0.1:PORT` (`MOCK_PORT` unset or 0
//! picks a free port); the apps, users and `WECHAT_*` variables follow. Logs go to stderr
//! (`RUST_LOG=wechat_auth=debug` shows every request). Ctrl-C stops it.
//!
//! A scan login is played with `POST /mock/scan`: the user scans the QR code whose content
//! (`qr_url`) the app got from `cgi-bin/qrcode/create`, and the mock pushes the signed (and,
//! with the default Official Account, AES-encrypted) `subscribe` / `SCAN` event to the push
//! URL, retrying like WeChat. The answer comes once delivery is over (up to 15 s):
//!
//! ```text
//! curl -s localhost:4000/mock/push_url -d '{"push_url":"http://127.0.0.1:3000/auth/wechat/push"}'
//! curl -s localhost:4000/mock/scan -d '{"qr_url":"http://weixin.qq.com/q/02…","user":"alice"}'
//! ```

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use wechat_auth::mock::{MockConfig, MockWechat};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();

    let port = match std::env::var("MOCK_PORT") {
        Err(_) => 0,
        Ok(v) if v.trim().is_empty() => 0,
        Ok(v) => match v.trim().parse::<u16>() {
            Ok(p) => p,
            Err(_) => {
                eprintln!("MOCK_PORT must be a port number (0-65535), got {v:?}");
                return ExitCode::from(2);
            }
        },
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mock = match MockWechat::start_on(addr, MockConfig::default()).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("mock wechat: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };

    let mut out = std::io::stdout().lock();
    let printed = out
        .write_all(mock.summary().as_bytes())
        .and_then(|()| out.flush());
    drop(out);
    if let Err(e) = printed {
        eprintln!("mock wechat: cannot write to stdout: {e}");
        return ExitCode::FAILURE;
    }

    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("mock wechat: cannot wait for Ctrl-C: {e}");
    }
    mock.shutdown().await;
    ExitCode::SUCCESS
}
