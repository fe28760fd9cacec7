//! Redis for tests: a throw-away `redis-server` on a free loopback port, or the server that
//! `WECHAT_REDIS_URL` names.
//!
//! Finding it (design §7): `WECHAT_REDIS_URL` when set (shared: tests keep to their own key
//! prefix and never flush it); otherwise `redis-server` on `PATH`, started in a temporary
//! directory with persistence off and killed on drop. When neither is there,
//! [`RedisServer::find`] prints one line saying so and the test returns (passes) — except
//! under `CI=true`, where a missing Redis fails the test.
//!
//! Outage tests need a server they own: [`RedisServer::spawn`] always starts one, and
//! [`RedisServer::stop`] / [`RedisServer::restart`] take it down and bring it back on the
//! same port. [`RedisServer::command`] speaks just enough RESP for tests to look inside
//! (`SCAN`, `PTTL`, `PUBSUB NUMSUB`, …) without a client library.
//!
//! `WECHAT_TEST_REDIS=tls` or `=cluster` makes [`find`](RedisServer::find) and
//! [`spawn`](RedisServer::spawn) start (always locally, `WECHAT_REDIS_URL` is then ignored) a
//! TLS server with a CA of its own, or a three-node Redis Cluster (`redis_modes.rs`). The
//! stores of a test come from [`RedisServer::store`], which trusts that CA.
#![allow(dead_code, unreachable_pub)]

#[path = "redis_modes.rs"]
pub mod modes;

pub use modes::Mode;

use std::{
    env, fs,
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::TcpStream,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Once,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// Whether this is a CI run (`CI=true`), where a missing Redis is a failure.
pub fn in_ci() -> bool {
    env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
}

/// A Redis to test against.
pub struct RedisServer {
    url: String,
    /// `host:port` for the raw RESP client (plain TCP: a TLS server also listens in clear
    /// on this port, for the harness only; a Cluster's first node).
    addr: String,
    /// Set when this harness runs the server (then it can stop and restart it).
    local: Option<Local>,
    mode: Mode,
    /// The CA (PEM) the TLS server's certificate chains to, and where it is on disk.
    ca: Option<(Vec<u8>, PathBuf)>,
}

struct Local {
    binary: PathBuf,
    /// One node; three for a Cluster.
    nodes: Vec<modes::Node>,
    dir: PathBuf,
    /// A Cluster's slots have been assigned (its nodes.conf files now bring it back).
    formed: bool,
}

/// One line on stderr per test binary, not per test.
fn skip(reason: &str) {
    assert!(
        !in_ci(),
        "redis tests: {reason}, and CI=true needs Redis (Debian: redis-server, or set WECHAT_REDIS_URL)"
    );
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Straight to stderr: the test harness would swallow eprintln! of a passing test.
        let _ = writeln!(
            std::io::stderr(),
            "redis tests skipped: {reason} (install redis-server or set WECHAT_REDIS_URL)"
        );
    });
}

fn redis_server_binary() -> Option<PathBuf> {
    let dirs = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&dirs)
        .map(|dir| dir.join("redis-server"))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

fn unique() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    )
}

impl RedisServer {
    /// `WECHAT_REDIS_URL`, else a fresh local `redis-server`; `None` (after one line) means
    /// skip the test. Panics under `CI=true` instead of returning `None`.
    pub fn find() -> Option<RedisServer> {
        if Mode::from_env() != Mode::Plain {
            return Self::spawn();
        }
        if let Some(url) = env::var("WECHAT_REDIS_URL").ok().filter(|u| !u.is_empty()) {
            let parsed = url::Url::parse(&url).expect("WECHAT_REDIS_URL is a URL");
            let addr = format!(
                "{}:{}",
                parsed.host_str().unwrap_or("127.0.0.1"),
                parsed.port().unwrap_or(6379)
            );
            return Some(RedisServer {
                url,
                addr,
                local: None,
                mode: Mode::Plain,
                ca: None,
            });
        }
        Self::spawn()
    }

    /// Always a local `redis-server` this harness owns (for stop/restart tests); `None`
    /// (after one line) when there is no `redis-server` on `PATH`, a failure under `CI=true`.
    pub fn spawn() -> Option<RedisServer> {
        Self::spawn_as(Mode::from_env())
    }

    /// A local server of this kind, whatever `WECHAT_TEST_REDIS` says.
    pub fn spawn_as(mode: Mode) -> Option<RedisServer> {
        let Some(binary) = redis_server_binary() else {
            skip("redis-server not found on PATH");
            return None;
        };
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("redis-{}", unique()));
        fs::create_dir_all(&dir).expect("create the redis-server directory");
        let ca = (mode == Mode::Tls).then(|| modes::write_certificates(&dir));
        let nodes = modes::nodes(mode, &dir);
        let mut server = RedisServer {
            url: modes::url(mode, &nodes),
            addr: format!("127.0.0.1:{}", nodes[0].port),
            local: Some(Local {
                binary,
                nodes,
                dir,
                formed: false,
            }),
            mode,
            ca,
        };
        server.restart();
        Some(server)
    }

    /// Which kind of Redis this is.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The CA file a TLS server's certificate chains to (for `WECHAT_REDIS_CA_FILE`).
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca.as_ref().map(|(_, path)| path.as_path())
    }

    /// A store on this Redis (trusting its CA), connecting on first use.
    #[cfg(feature = "redis")]
    pub fn store_lazy(&self) -> wechat_auth::store::RedisStore {
        let store = wechat_auth::store::RedisStore::connect_lazy(&self.url)
            .unwrap_or_else(|e| panic!("a store for {}: {e}", self.url));
        match &self.ca {
            Some((pem, _)) => store.with_ca(pem).expect("the test CA is usable"),
            None => store,
        }
    }

    /// A store on this Redis (trusting its CA), checked to answer.
    #[cfg(feature = "redis")]
    pub async fn store(&self) -> wechat_auth::store::RedisStore {
        let store = self.store_lazy();
        store
            .check()
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.url));
        store
    }

    /// The URL to hand to `RedisStore::connect`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether this harness runs the server (so that [`stop`](Self::stop) works).
    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// Kills the server (SIGKILL: a crash, not a goodbye). Local servers only.
    pub fn stop(&mut self) {
        let local = self
            .local
            .as_mut()
            .expect("only a local redis-server can be stopped");
        for node in &mut local.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// (Re)starts the local server (every node) on its port(s), empty, and waits until it
    /// answers PING (a Cluster: until every node reports `cluster_state:ok`).
    pub fn restart(&mut self) {
        self.stop();
        let mode = self.mode;
        let ca_dir = self
            .ca
            .as_ref()
            .map(|(_, p)| p.parent().unwrap().to_path_buf());
        let local = self
            .local
            .as_mut()
            .expect("only a local redis-server can be restarted");
        for node in &mut local.nodes {
            let log = fs::File::create(node.dir.join("redis.log")).expect("create redis.log");
            let child = Command::new(&local.binary)
                .args(["--port", &node.port.to_string()])
                .args(["--bind", "127.0.0.1"])
                .args(["--save", ""])
                .args(["--appendonly", "no"])
                .args(["--daemonize", "no"])
                .arg("--dir")
                .arg(&node.dir)
                .args(modes::server_args(mode, node, ca_dir.as_deref()))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone the log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", local.binary.display()));
            node.child = Some(child);
        }
        let addrs: Vec<String> = local
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        for addr in &addrs {
            loop {
                if let Ok(Resp::Simple(pong)) = raw_command(addr, &[vec!["PING".to_owned()]])
                    && pong == "PONG"
                {
                    break;
                }
                let local = self.local.as_mut().expect("local");
                for node in &mut local.nodes {
                    if let Some(Ok(Some(status))) = node.child.as_mut().map(Child::try_wait) {
                        panic!(
                            "redis-server exited ({status}); log: {}",
                            node.dir.join("redis.log").display()
                        );
                    }
                }
                assert!(
                    Instant::now() < deadline,
                    "redis-server did not answer PING on {addr} within 10 s"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if mode == Mode::Cluster {
            let local = self.local.as_mut().expect("local");
            if !local.formed {
                let buses: Vec<u16> = local.nodes.iter().filter_map(|n| n.bus_port).collect();
                modes::form_cluster(&addrs, &buses);
                local.formed = true;
            }
            modes::wait_for_cluster(&addrs);
        }
    }

    /// The raw addresses of every node (one unless this is a Cluster).
    pub fn node_addrs(&self) -> Vec<String> {
        match &self.local {
            Some(local) => local
                .nodes
                .iter()
                .map(|n| format!("127.0.0.1:{}", n.port))
                .collect(),
            None => vec![self.addr.clone()],
        }
    }

    /// `args` on node `node` only (no `MOVED` following).
    pub fn command_on(&self, node: usize, args: &[&str]) -> Resp {
        let addr = &self.node_addrs()[node];
        raw_command(addr, &[args.iter().map(|a| (*a).to_owned()).collect()])
            .unwrap_or_else(|e| panic!("redis command {args:?} on {addr}: {e}"))
    }

    /// `args` on every node (a Cluster's `PUBSUB NUMSUB` or `CLIENT LIST` are per node).
    pub fn command_on_each(&self, args: &[&str]) -> Vec<Resp> {
        let command = vec![args.iter().map(|a| (*a).to_owned()).collect()];
        self.node_addrs()
            .iter()
            .map(|addr| {
                raw_command(addr, &command)
                    .unwrap_or_else(|e| panic!("redis command {args:?} on {addr}: {e}"))
            })
            .collect()
    }

    /// Runs one command over a fresh connection and returns the reply; panics on failure.
    pub fn command(&self, args: &[&str]) -> Resp {
        self.try_command(args)
            .unwrap_or_else(|e| panic!("redis command {args:?}: {e}"))
    }

    /// Runs one command over a fresh connection (after `AUTH` and `SELECT` when the URL
    /// asks for them).
    pub fn try_command(&self, args: &[&str]) -> std::io::Result<Resp> {
        let mut commands: Vec<Vec<String>> = Vec::new();
        if let Ok(url) = url::Url::parse(&self.url) {
            if let Some(password) = url.password() {
                let mut auth = vec!["AUTH".to_owned()];
                if !url.username().is_empty() {
                    auth.push(url.username().to_owned());
                }
                auth.push(password.to_owned());
                commands.push(auth);
            }
            let db = url.path().trim_start_matches('/');
            if !db.is_empty() && db != "0" {
                commands.push(vec!["SELECT".to_owned(), db.to_owned()]);
            }
        }
        commands.push(args.iter().map(|a| (*a).to_owned()).collect());
        let mut addr = self.addr.clone();
        for _ in 0..3 {
            match raw_command(&addr, &commands)? {
                // A Cluster: the key lives on another node.
                Resp::Error(e) if e.starts_with("MOVED ") => {
                    addr = e.rsplit(' ').next().unwrap_or_default().to_owned();
                }
                reply => return Ok(reply),
            }
        }
        raw_command(&addr, &commands)
    }

    /// Every key under `pattern` (SCAN, so fine on a shared server; every node of a Cluster).
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        self.node_addrs()
            .iter()
            .flat_map(|addr| scan_keys(addr, pattern))
            .collect()
    }
}

/// `commands` over one fresh connection to `addr`; the last reply.
fn raw_command(addr: &str, commands: &[Vec<String>]) -> std::io::Result<Resp> {
    {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut request = Vec::new();
        for command in commands {
            request.extend_from_slice(format!("*{}\r\n", command.len()).as_bytes());
            for arg in command {
                request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
                request.extend_from_slice(arg.as_bytes());
                request.extend_from_slice(b"\r\n");
            }
        }
        stream.write_all(&request)?;
        let mut reader = BufReader::new(stream);
        let mut reply = Resp::Bulk(None);
        for _ in commands {
            reply = read_reply(&mut reader)?;
        }
        Ok(reply)
    }
}

fn scan_keys(addr: &str, pattern: &str) -> Vec<String> {
    {
        let mut cursor = "0".to_owned();
        let mut keys = Vec::new();
        loop {
            let command = ["SCAN", cursor.as_str(), "MATCH", pattern, "COUNT", "1000"];
            let reply = raw_command(addr, &[command.iter().map(|a| (*a).to_owned()).collect()])
                .unwrap_or_else(|e| panic!("SCAN on {addr}: {e}"));
            let Resp::Array(parts) = reply else {
                panic!("SCAN answered {reply:?}")
            };
            let [Resp::Bulk(Some(next)), Resp::Array(batch)] = &parts[..] else {
                panic!("SCAN answered {parts:?}")
            };
            keys.extend(batch.iter().filter_map(Resp::text));
            cursor = String::from_utf8_lossy(next).into_owned();
            if cursor == "0" {
                return keys;
            }
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if self.local.is_some() {
            self.stop();
        }
        if let Some(local) = &self.local {
            // Keep the log only when the test failed, for whoever reads the failure.
            if !std::thread::panicking() {
                let _ = fs::remove_dir_all(&local.dir);
            }
        }
    }
}

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Resp>),
}

impl Resp {
    /// An integer reply's value.
    pub fn int(&self) -> i64 {
        match self {
            Resp::Int(i) => *i,
            other => panic!("expected an integer reply, got {other:?}"),
        }
    }

    /// A bulk or simple string as text.
    pub fn text(&self) -> Option<String> {
        match self {
            Resp::Simple(s) => Some(s.clone()),
            Resp::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}

fn read_reply(reader: &mut BufReader<TcpStream>) -> std::io::Result<Resp> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end_matches("\r\n");
    let bad = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("bad RESP line {line:?}"),
        )
    };
    let (kind, rest) = line.split_at_checked(1).ok_or_else(bad)?;
    Ok(match kind {
        "+" => Resp::Simple(rest.to_owned()),
        "-" => Resp::Error(rest.to_owned()),
        ":" => Resp::Int(rest.parse().map_err(|_| bad())?),
        "$" => {
            let len: i64 = rest.parse().map_err(|_| bad())?;
            if len < 0 {
                Resp::Bulk(None)
            } else {
                let mut buf = vec![0; usize::try_from(len).map_err(|_| bad())? + 2];
                reader.read_exact(&mut buf)?;
                buf.truncate(buf.len() - 2);
                Resp::Bulk(Some(buf))
            }
        }
        "*" => {
            let len: i64 = rest.parse().map_err(|_| bad())?;
            let mut items = Vec::new();
            for _ in 0..len.max(0) {
                items.push(read_reply(reader)?);
            }
            Resp::Array(items)
        }
        _ => return Err(bad()),
    })
}

/// A key prefix of its own for one test, so tests can share a server.
pub fn test_prefix(test: &str) -> String {
    format!("test-{test}-{}", unique())
}

/// Where the harness keeps servers' files.
pub fn target_tmp() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}
