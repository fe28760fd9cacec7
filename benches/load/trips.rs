//! Section 2c: what one login costs the store, by kind: the [`Store`] operations the layer
//! makes (a counting wrapper around each instance's `RedisStore`) and the commands Redis
//! receives (its `MONITOR` feed, which shows the commands a client sent apart from those a
//! Lua script ran: `[0 lua]`). Round trips: `RedisStore` answers each `Store` call with one
//! request to one Redis (a command, a script, or a pipeline: a login's outcome with the
//! person's tokens), but `subscribe`, which sends nothing for a topic its pub/sub connection
//! already carries; so they are the store ops other than `subscribe`, plus the pub/sub
//! commands Redis received and a `SCRIPT LOAD` after a `NOSCRIPT`. Commands and round trips
//! differ by the commands that travelled in a pipeline.
//!
//! Two instances A (browsers) and B (WeChat's pushes) on one Redis, as in section 2b, plus a
//! second pair with confirmation of scans on the phone. `TRIPS_LOGINS` logins of each kind
//! (default 50), each by a person not seen before in its first pass; the table is per login.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Write},
    net::TcpStream,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use reqwest::Client;
use serde_json::{Value, json};
use wechat_auth::{
    mock::MockWechat,
    store::{BoxFuture, Revocation, Store, StoreResult, Subscription},
};

/// Store operations, counted by name and by the kind of key (`get scan`, `set tokens`, …).
#[derive(Default, Debug)]
pub struct Counts(Mutex<BTreeMap<String, u64>>);

/// The kind of a layer's key: `wechat-auth:APPID:KIND:{ID}[:suffix]` → `KIND[:suffix]`
/// (behind the store's own prefix, which the wrapper does not see).
fn kind(key: &str) -> String {
    let rest = key.strip_prefix("wechat-auth:").unwrap_or(key);
    let mut parts = rest.splitn(3, ':');
    let (_appid, kind) = (parts.next(), parts.next().unwrap_or(rest));
    let suffix = key.rsplit_once('}').map_or("", |(_, s)| s);
    format!("{kind}{suffix}")
}

impl Counts {
    fn add(&self, op: &'static str, key: &str) {
        *self
            .0
            .lock()
            .unwrap()
            .entry(format!("{op} {}", kind(key)))
            .or_default() += 1;
    }

    fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().unwrap().clone()
    }
}

/// A [`Store`] that counts each operation, then hands it to the store it wraps.
#[derive(Debug)]
pub struct Counting {
    inner: Arc<dyn Store>,
    counts: Arc<Counts>,
}

impl Counting {
    pub fn new(inner: Arc<dyn Store>, counts: Arc<Counts>) -> Self {
        Self { inner, counts }
    }
}

impl Store for Counting {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        self.counts.add("get", key);
        self.inner.get(key)
    }

    fn set<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, StoreResult<()>> {
        self.counts.add("set", key);
        self.inner.set(key, value, ttl)
    }

    fn set_if_absent<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        self.counts.add("set_if_absent", key);
        self.inner.set_if_absent(key, value, ttl)
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, StoreResult<Option<Vec<u8>>>> {
        self.counts.add("take", key);
        self.inner.take(key)
    }

    fn delete_if_eq<'a>(
        &'a self,
        key: &'a str,
        expected: &'a [u8],
    ) -> BoxFuture<'a, StoreResult<bool>> {
        self.counts.add("delete_if_eq", key);
        self.inner.delete_if_eq(key, expected)
    }

    fn increment<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, StoreResult<u64>> {
        self.counts.add("increment", key);
        self.inner.increment(key, ttl)
    }

    fn publish<'a>(&'a self, topic: &'a str, message: Vec<u8>) -> BoxFuture<'a, StoreResult<()>> {
        self.counts.add("publish", topic);
        self.inner.publish(topic, message)
    }

    fn subscribe<'a>(&'a self, topic: &'a str) -> BoxFuture<'a, StoreResult<Subscription>> {
        self.counts.add("subscribe", topic);
        self.inner.subscribe(topic)
    }

    fn revoke<'a>(&'a self, entry: &'a Revocation) -> BoxFuture<'a, StoreResult<()>> {
        self.counts.add("revoke", "revoked");
        self.inner.revoke(entry)
    }

    fn revoked(&self) -> BoxFuture<'_, StoreResult<Vec<Revocation>>> {
        self.counts.add("revoked", "revoked");
        self.inner.revoked()
    }

    // BEGIN combined operations (issue 29)
    fn lock_or_get<'a>(
        &'a self,
        key: &'a str,
        lock: &'a str,
        owner: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, StoreResult<wechat_auth::store::LockOrValue>> {
        self.counts.add("lock_or_get", key);
        self.inner.lock_or_get(key, lock, owner, ttl)
    }

    fn set_and_publish<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
        release: Option<(&'a str, &'a [u8])>,
    ) -> BoxFuture<'a, StoreResult<()>> {
        self.counts.add("set_and_publish", key);
        self.inner.set_and_publish(key, value, ttl, release)
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [&'a str],
    ) -> BoxFuture<'a, StoreResult<Vec<Option<Vec<u8>>>>> {
        self.counts
            .add("get_many", keys.first().copied().unwrap_or_default());
        self.inner.get_many(keys)
    }

    fn set_and_publish_with<'a>(
        &'a self,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
        release: Option<(&'a str, &'a [u8])>,
        also: Vec<(String, Vec<u8>, Duration)>,
    ) -> BoxFuture<'a, StoreResult<()>> {
        // One call, whatever `also` holds: the writes with it travel in its round trip.
        self.counts.add("set_and_publish", key);
        self.inner
            .set_and_publish_with(key, value, ttl, release, also)
    }

    fn get_and_claim<'a>(
        &'a self,
        key: &'a str,
        claim: &'a str,
        owner: Vec<u8>,
        ttl: Duration,
    ) -> BoxFuture<'a, StoreResult<wechat_auth::store::Claimed>> {
        self.counts.add("get_and_claim", key);
        self.inner.get_and_claim(key, claim, owner, ttl)
    }

    fn is_local(&self) -> bool {
        self.inner.is_local()
    }
    // END combined operations
}

/// Commands Redis received, by name: (sent by a client, run inside a Lua script).
#[derive(Default, Debug)]
pub struct Monitor {
    seen: Mutex<BTreeMap<String, (u64, u64)>>,
    lines: AtomicU64,
}

impl Monitor {
    /// Opens a `MONITOR` connection to the Redis at `url` (`redis://127.0.0.1:PORT`) and
    /// counts what it reports on a thread of its own until the server goes away.
    pub fn start(url: &str) -> Arc<Self> {
        let addr = url.trim_start_matches("redis://").to_owned();
        let mut conn = TcpStream::connect(&addr).expect("connect to redis for MONITOR");
        conn.write_all(b"MONITOR\r\n").unwrap();
        let mut reader = BufReader::new(conn);
        let mut ok = String::new();
        reader.read_line(&mut ok).unwrap();
        assert!(ok.starts_with("+OK"), "MONITOR refused: {ok}");
        let monitor = Arc::new(Self::default());
        let m = monitor.clone();
        std::thread::spawn(move || {
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                // +1700000000.123456 [0 127.0.0.1:5555] "SET" "key" ...  or  [0 lua] "SET" ...
                if let Some((source, rest)) = line.split_once("] \"") {
                    let name = rest.split('"').next().unwrap_or_default().to_uppercase();
                    let lua = source.ends_with(" lua");
                    let mut seen = m.seen.lock().unwrap();
                    let e = seen.entry(name).or_default();
                    if lua { e.1 += 1 } else { e.0 += 1 }
                }
                m.lines.fetch_add(1, Ordering::Relaxed);
                line.clear();
            }
        });
        monitor
    }

    fn snapshot(&self) -> BTreeMap<String, (u64, u64)> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until the feed has been quiet for 100 ms (every command of a pass counted).
    async fn settle(&self) {
        let mut last = self.lines.load(Ordering::Relaxed);
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = self.lines.load(Ordering::Relaxed);
            if now == last {
                return;
            }
            last = now;
        }
    }
}

/// What one kind of login cost, per login.
pub struct Row {
    pub kind: &'static str,
    pub ops: BTreeMap<String, f64>,
    pub commands: BTreeMap<String, (f64, f64)>,
}

impl Row {
    pub fn ops_total(&self) -> f64 {
        self.ops.values().sum()
    }

    pub fn sent_total(&self) -> f64 {
        self.commands.values().map(|c| c.0).sum()
    }

    /// The round trips: one per store op but `subscribe` (which sends something only when
    /// the topic is not already carried: then its `SUBSCRIBE` is counted), plus what the
    /// store sends on its own (pub/sub commands, `SCRIPT` after a `NOSCRIPT`).
    pub fn trips_total(&self) -> f64 {
        let own: f64 = [
            "SUBSCRIBE",
            "PSUBSCRIBE",
            "UNSUBSCRIBE",
            "PUNSUBSCRIBE",
            "SCRIPT",
        ]
        .iter()
        .filter_map(|c| self.commands.get(*c))
        .map(|c| c.0)
        .sum();
        let subscribes: f64 = self
            .ops
            .iter()
            .filter(|(k, _)| k.starts_with("subscribe "))
            .map(|(_, v)| v)
            .sum();
        self.ops_total() - subscribes + own
    }

    pub fn lua_total(&self) -> f64 {
        self.commands.values().map(|c| c.1).sum()
    }
}

/// Measures `n` runs of `one(i)` and returns its row.
pub async fn measure<F, Fut>(
    kind: &'static str,
    n: u64,
    counts: &Counts,
    monitor: &Monitor,
    one: F,
) -> Row
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    monitor.settle().await;
    let (ops0, cmd0) = (counts.snapshot(), monitor.snapshot());
    for i in 0..n {
        one(i).await;
    }
    monitor.settle().await;
    let (ops1, cmd1) = (counts.snapshot(), monitor.snapshot());
    let per = |v: u64| v as f64 / n as f64;
    let ops = ops1
        .iter()
        .map(|(k, v)| (k.clone(), per(v - ops0.get(k).copied().unwrap_or(0))))
        .filter(|(_, v)| *v > 0.0)
        .collect();
    let commands = cmd1
        .iter()
        .map(|(k, (s, l))| {
            let (s0, l0) = cmd0.get(k).copied().unwrap_or((0, 0));
            (k.clone(), (per(s - s0), per(l - l0)))
        })
        .filter(|(_, (s, l))| *s > 0.0 || *l > 0.0)
        .collect();
    Row {
        kind,
        ops,
        commands,
    }
}

/// Prints the rows: totals, then each kind's detail.
pub fn print(rows: &[Row]) {
    println!(
        "\n{:<34}{:>10}{:>14}{:>10}{:>10}",
        "per login", "store ops", "round trips", "commands", "in Lua"
    );
    for r in rows {
        println!(
            "{:<34}{:>10.2}{:>14.2}{:>10.2}{:>10.2}",
            r.kind,
            r.ops_total(),
            r.trips_total(),
            r.sent_total(),
            r.lua_total()
        );
    }
    println!("\n(store ops: the Store calls of both instances; round trips: one per store op but");
    println!(" subscribe, plus the pub/sub commands and SCRIPT Redis received; commands: what");
    println!(
        " Redis received from clients, pipelined ones included; in Lua: what its scripts ran)"
    );
    for r in rows {
        let ops: Vec<String> = r.ops.iter().map(|(k, v)| format!("{k} {v:.2}")).collect();
        let sent: Vec<String> = r
            .commands
            .iter()
            .filter(|(_, c)| c.0 > 0.0)
            .map(|(k, c)| format!("{k} {:.2}", c.0))
            .collect();
        println!(
            "  {}:\n    ops [{}]\n    sent [{}]",
            r.kind,
            ops.join(", "),
            sent.join(", ")
        );
    }
}

/// `POST` a JSON body; the status and the answer.
pub async fn post_json(http: &Client, url: &str, body: Value) -> (u16, Value) {
    let res = http.post(url).json(&body).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A native login (`/auth/wechat/app` or `/auth/wechat/miniprogram`) with a code the mock
/// made for `user`; panics unless it answers a session token.
pub async fn native_login(http: &Client, app: &str, path: &str, code: String) {
    let (status, body) = post_json(http, &format!("{app}{path}"), json!({ "code": code })).await;
    assert_eq!(status, 200, "{path}: {body}");
    assert!(body["token"].is_string(), "{path}: {body}");
}

/// A message-code login on the verified Official Account: the browser starts it on `app`,
/// `user` sends the code then `1` (the pushes land where the mock sends them), the browser's
/// poll answers `confirmed`.
pub async fn message_login(http: &Client, app: &str, mock: &MockWechat, user: &str) {
    let res = http
        .post(format!("{app}/auth/wechat/scan?via=message"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "message login start");
    let binding = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("wechat_scan_"))
        .map(|c| c.split(';').next().unwrap_or_default().to_owned())
        .expect("scan cookie");
    let started: Value = res.json().await.unwrap();
    let (id, code) = (
        started["id"].as_str().unwrap().to_owned(),
        started["code"].as_str().expect("a message code").to_owned(),
    );
    let oa = mock.official_account().appid.clone();
    let r = mock.send_text_to(&oa, user, &code).await.unwrap();
    assert!(
        r.reply.as_deref().is_some_and(|t| t.contains("回复 1")),
        "{r:?}"
    );
    let r = mock.send_text_to(&oa, user, "1").await.unwrap();
    assert!(
        r.reply.as_deref().is_some_and(|t| t.contains("已确认登录")),
        "{r:?}"
    );
    let res = http
        .get(format!("{app}/auth/wechat/scan/{id}?wait=0"))
        .header("cookie", binding)
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "confirmed", "{body}");
}

/// Makes `user` a follower of the Official Account (who sends it a message is one).
pub async fn follow(mock: &MockWechat, user: &str) {
    let res = Client::new()
        .post(format!("{}/mock/follow", mock.url()))
        .json(&json!({"user": user, "subscribed": true}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "follow {user}");
}
