//! A tiny HTTP/1.1 server on raw TCP that stands between the layer and the mock WeChat:
//! it forwards every request to the mock, except where a [`Misbehave`] is queued for that
//! path, and then it misbehaves the way a real network or gateway does (slow headers, a
//! trickled body, a body cut short, a reset connection, an HTML error page, a redirect, a
//! gzip body nobody asked for, …). Raw TCP because a well-behaved HTTP server cannot send a
//! broken answer. It also replays fixed bodies ([`FaultProxy::replay`]) for fixture tests.
#![allow(dead_code, unreachable_pub)]

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// One way to answer badly.
#[derive(Debug, Clone)]
pub enum Misbehave {
    /// `{"errcode":N,"errmsg":"…"}` with HTTP 200.
    Errcode(i64),
    /// This status with a short plain-text body.
    Status(u16),
    /// An nginx-style HTML error page with HTTP 502.
    HtmlPage,
    /// Accept and read the request, never answer (until the client gives up).
    Hang,
    /// Wait this long before the status line, then forward normally.
    SlowHeaders(Duration),
    /// Send the real answer's head, then its body one byte per `Duration`.
    SlowBody(Duration),
    /// Announce the real answer's length plus 100, send half the body, close.
    Truncated,
    /// A 200 with a syntactically cut JSON body (correct Content-Length).
    TruncatedJson,
    /// Read the request, then reset the connection (RST, no answer).
    Reset,
    /// `302 Found` to this location.
    Redirect(String),
    /// `200` with an empty body.
    Empty,
    /// `200` with a JSON-looking body of this many bytes.
    Huge(usize),
    /// The real answer gzip-compressed, labelled `Content-Encoding: gzip` (never asked for).
    Gzip,
    /// A fixed answer: status, content type, body.
    Fixed(u16, &'static str, Vec<u8>),
}

#[derive(Default)]
struct Rules {
    /// path (no leading slash) → queue of (fault, times left)
    queued: HashMap<String, Vec<(Misbehave, u32)>>,
    /// Requests seen per path.
    calls: HashMap<String, u32>,
    /// Every path: answer this (replay mode).
    always: Option<Misbehave>,
    /// Fail this share (per mille) of calls to any path with these faults in turn (soak
    /// mode).
    random: Option<(u32, Vec<Misbehave>)>,
    seq: u64,
    failed: u64,
}

/// The proxy; dropping it stops accepting.
pub struct FaultProxy {
    pub url: String,
    pub addr: SocketAddr,
    rules: Arc<Mutex<Rules>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// A proxy in front of `upstream` (the mock's API base, e.g. `http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str) -> Self {
        Self::start_inner(Some(upstream.trim_end_matches('/').to_owned())).await
    }

    /// A server that answers every request with `answer`.
    pub async fn replay(answer: Misbehave) -> Self {
        let proxy = Self::start_inner(None).await;
        proxy.rules.lock().unwrap().always = Some(answer);
        proxy
    }

    async fn start_inner(upstream: Option<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let rules = Arc::new(Mutex::new(Rules::default()));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let shared = rules.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let rules = shared.clone();
                let http = http.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, rules, http, upstream).await;
                });
            }
        });
        Self {
            url: format!("http://{addr}"),
            addr,
            rules,
            task,
        }
    }

    /// Misbehaves on the next `times` calls of `path` (no leading slash).
    pub fn inject(&self, path: &str, fault: Misbehave, times: u32) {
        self.rules
            .lock()
            .unwrap()
            .queued
            .entry(path.to_owned())
            .or_default()
            .push((fault, times));
    }

    /// Misbehaves on `per_mille`/1000 of all calls, chosen by a fixed sequence (not random:
    /// the same run fails the same calls), with `faults` in turn.
    pub fn fail_share(&self, per_mille: u32, faults: Vec<Misbehave>) {
        assert!(!faults.is_empty());
        self.rules.lock().unwrap().random = Some((per_mille, faults));
    }

    /// Calls failed by [`fail_share`](Self::fail_share) so far.
    pub fn failed(&self) -> u64 {
        self.rules.lock().unwrap().failed
    }

    /// Requests seen for `path`.
    pub fn calls(&self, path: &str) -> u32 {
        self.rules
            .lock()
            .unwrap()
            .calls
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Requests seen for every path.
    pub fn all_calls(&self) -> HashMap<String, u32> {
        self.rules.lock().unwrap().calls.clone()
    }

    /// Forgets the queued faults.
    pub fn clear(&self) {
        let mut r = self.rules.lock().unwrap();
        r.queued.clear();
        r.random = None;
    }
}

/// The head and body of one request.
struct Request {
    method: String,
    target: String,
    content_type: Option<String>,
    body: Vec<u8>,
}

async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0_u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 256 * 1024 {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = first.next()?.to_owned();
    let mut length = 0_usize;
    let mut content_type = None;
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().ok()?;
            } else if k.eq_ignore_ascii_case("content-type") {
                content_type = Some(v.trim().to_owned());
            }
        }
    }
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Request {
        method,
        target,
        content_type,
        body,
    })
}

fn head(status: u16, content_type: &str, length: usize, extra: &str) -> String {
    format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n{extra}Connection: close\r\n\r\n"
    )
}

async fn write_answer(stream: &mut TcpStream, status: u16, content_type: &str, body: &[u8]) {
    let _ = stream
        .write_all(head(status, content_type, body.len(), "").as_bytes())
        .await;
    let _ = stream.write_all(body).await;
    let _ = stream.shutdown().await;
}

/// The real answer from the mock: (status, content type, body).
async fn forward(
    http: &reqwest::Client,
    upstream: Option<&str>,
    req: &Request,
) -> (u16, String, Vec<u8>) {
    let Some(upstream) = upstream else {
        return (
            404,
            "text/plain".into(),
            b"no upstream in replay mode".to_vec(),
        );
    };
    let url = format!("{upstream}{}", req.target);
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut r = http.request(method, url).body(req.body.clone());
    if let Some(ct) = &req.content_type {
        r = r.header("content-type", ct);
    }
    match r.send().await {
        Ok(res) => {
            let status = res.status().as_u16();
            let ct = res
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/octet-stream")
                .to_owned();
            let body = res.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            (status, ct, body)
        }
        Err(_) => (502, "text/plain".into(), b"upstream down".to_vec()),
    }
}

/// A minimal gzip member of `data` with "stored" (uncompressed) deflate blocks: valid gzip
/// without a compression library.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut chunks = data.chunks(65_535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(c) = chunks.next() {
        let last = u8::from(chunks.peek().is_none());
        let len = u16::try_from(c.len()).unwrap();
        out.push(last);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    // CRC-32 (IEEE) and size.
    let mut crc = 0xffff_ffff_u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    out.extend_from_slice(&(!crc).to_le_bytes());
    out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
    out
}

async fn serve(
    mut stream: TcpStream,
    rules: Arc<Mutex<Rules>>,
    http: reqwest::Client,
    upstream: Option<String>,
) -> Option<()> {
    let req = read_request(&mut stream).await?;
    let path = req
        .target
        .split('?')
        .next()
        .unwrap_or("")
        .trim_start_matches('/')
        .to_owned();
    let fault = {
        let mut r = rules.lock().unwrap();
        *r.calls.entry(path.clone()).or_default() += 1;
        r.seq += 1;
        let seq = r.seq;
        let queued = r.queued.get_mut(&path).and_then(|q| {
            let (fault, left) = q.first_mut()?;
            let fault = fault.clone();
            *left -= 1;
            if *left == 0 {
                q.remove(0);
            }
            Some(fault)
        });
        let picked = queued.or_else(|| r.always.clone());
        picked.or_else(|| {
            let (share, faults) = r.random.as_ref()?;
            // A fixed, well-spread sequence: multiplicative hashing of the call number.
            let pick = (seq.wrapping_mul(2_654_435_761) >> 7) % 1000;
            let fault = (pick < u64::from(*share))
                .then(|| faults[(seq % faults.len() as u64) as usize].clone())?;
            r.failed += 1;
            Some(fault)
        })
    };
    let upstream = upstream.as_deref();
    match fault {
        None => {
            let (status, ct, body) = forward(&http, upstream, &req).await;
            write_answer(&mut stream, status, &ct, &body).await;
        }
        Some(Misbehave::Errcode(code)) => {
            let body = format!(
                r#"{{"errcode":{code},"errmsg":"system error, rid: 6512a0f1-1b2c3d4e-5f607182"}}"#
            );
            write_answer(&mut stream, 200, "application/json", body.as_bytes()).await;
        }
        Some(Misbehave::Status(status)) => {
            write_answer(&mut stream, status, "text/plain", b"gateway failure").await;
        }
        Some(Misbehave::HtmlPage) => {
            let body = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
            write_answer(&mut stream, 502, "text/html", body).await;
        }
        Some(Misbehave::Hang) => {
            tokio::time::sleep(Duration::from_secs(120)).await;
        }
        Some(Misbehave::SlowHeaders(d)) => {
            tokio::time::sleep(d).await;
            let (status, ct, body) = forward(&http, upstream, &req).await;
            write_answer(&mut stream, status, &ct, &body).await;
        }
        Some(Misbehave::SlowBody(d)) => {
            let (status, ct, body) = forward(&http, upstream, &req).await;
            stream
                .write_all(head(status, &ct, body.len(), "").as_bytes())
                .await
                .ok()?;
            for b in body {
                stream.write_all(&[b]).await.ok()?;
                tokio::time::sleep(d).await;
            }
        }
        Some(Misbehave::Truncated) => {
            let (status, ct, body) = forward(&http, upstream, &req).await;
            stream
                .write_all(head(status, &ct, body.len() + 100, "").as_bytes())
                .await
                .ok()?;
            stream.write_all(&body[..body.len() / 2]).await.ok()?;
            let _ = stream.shutdown().await;
        }
        Some(Misbehave::TruncatedJson) => {
            let (_, _, body) = forward(&http, upstream, &req).await;
            let cut = &body[..body.len() / 2];
            write_answer(&mut stream, 200, "application/json", cut).await;
        }
        Some(Misbehave::Reset) => {
            // Linger 0: the close sends RST at once (and so cannot block on drop).
            #[allow(deprecated)]
            let _ = stream.set_linger(Some(Duration::ZERO));
            drop(stream);
        }
        Some(Misbehave::Redirect(to)) => {
            let extra = format!("Location: {to}\r\n");
            let _ = stream
                .write_all(head(302, "text/html", 0, &extra).as_bytes())
                .await;
            let _ = stream.shutdown().await;
        }
        Some(Misbehave::Empty) => {
            write_answer(&mut stream, 200, "application/json", b"").await;
        }
        Some(Misbehave::Huge(n)) => {
            let mut body = br#"{"errcode":0,"pad":""#.to_vec();
            body.resize(n, b'x');
            body.extend_from_slice(br#""}"#);
            write_answer(&mut stream, 200, "application/json", &body).await;
        }
        Some(Misbehave::Gzip) => {
            let (status, ct, body) = forward(&http, upstream, &req).await;
            let gz = gzip_stored(&body);
            let _ = stream
                .write_all(head(status, &ct, gz.len(), "Content-Encoding: gzip\r\n").as_bytes())
                .await;
            let _ = stream.write_all(&gz).await;
            let _ = stream.shutdown().await;
        }
        Some(Misbehave::Fixed(status, ct, body)) => {
            write_answer(&mut stream, status, ct, &body).await;
        }
    }
    Some(())
}
