//! What a Redis URL asks for: one server or a Cluster, plain TCP or TLS, and the clients
//! that reach it. Every message here shows URLs redacted.

use std::sync::Arc;

use redis::{Client, RedisResult, TlsCertificates, cluster::ClusterClient};

use super::{CONNECT_TIMEOUT, MAX_BACKOFF, MIN_BACKOFF, redact};
use crate::core::store::StoreError;

/// Connection attempts the cluster client makes (per command, after the first) when a node
/// does not answer, as `COMMAND_RECONNECT_RETRIES` for a single server.
const CLUSTER_RETRIES: u32 = 2;

/// A parsed `WECHAT_REDIS_URL`: the node URLs (with credentials, never printed) and how to
/// use them.
#[derive(Clone)]
pub(super) struct Target {
    /// `redis://` / `rediss://` / `redis+unix://` URLs, the `+cluster` marker removed.
    pub(super) nodes: Vec<String>,
    pub(super) cluster: bool,
    pub(super) tls: bool,
    /// What `Debug` and logs show: the URL(s) with passwords as `***`.
    pub(super) redacted: Arc<str>,
}

impl Target {
    /// `redis://…`, `rediss://…`, `redis+unix://…`, `redis+cluster://…`,
    /// `rediss+cluster://…`, or several comma-separated `redis(s)://` seeds of one Cluster.
    pub(super) fn parse(url: &str) -> Result<Self, StoreError> {
        let parts: Vec<&str> = url
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        let redacted: Arc<str> = parts
            .iter()
            .map(|p| redact(p))
            .collect::<Vec<_>>()
            .join(",")
            .into();
        let invalid =
            |why: &str| StoreError::unavailable(format!("invalid Redis URL {redacted}: {why}"));
        if parts.is_empty() {
            return Err(invalid("empty"));
        }
        let mut cluster = parts.len() > 1;
        let mut nodes = Vec::with_capacity(parts.len());
        let mut schemes = Vec::with_capacity(parts.len());
        for part in &parts {
            let (scheme, rest) = part.split_once("://").ok_or_else(|| invalid("no scheme"))?;
            let (scheme, cluster_scheme): (&'static str, bool) = match scheme
                .to_ascii_lowercase()
                .as_str()
            {
                "redis" => ("redis", false),
                "rediss" => ("rediss", false),
                "redis+cluster" => ("redis", true),
                "rediss+cluster" => ("rediss", true),
                "redis+unix" if parts.len() == 1 => ("redis+unix", false),
                "unix" if parts.len() == 1 => ("unix", false),
                "redis+unix" | "unix" => {
                    return Err(invalid(
                        "a Cluster's seeds are redis:// or rediss:// URLs, not sockets",
                    ));
                }
                _ => {
                    return Err(invalid(
                        "the scheme must be redis, rediss, redis+unix, redis+cluster or rediss+cluster",
                    ));
                }
            };
            cluster |= cluster_scheme;
            schemes.push(scheme);
            nodes.push(format!("{scheme}://{rest}"));
        }
        let tls = schemes[0] == "rediss";
        if schemes.iter().any(|s| (*s == "rediss") != tls) {
            return Err(invalid(
                "a Cluster's seeds must all be rediss:// (TLS) or all redis://",
            ));
        }
        if cluster {
            for node in &nodes {
                let parsed = url::Url::parse(node).map_err(|e| invalid(&e.to_string()))?;
                let db = parsed.path().trim_matches('/');
                if !db.is_empty() && db != "0" {
                    return Err(invalid(
                        "Redis Cluster has only database 0 (drop the /DB from the URL)",
                    ));
                }
            }
        }
        if url.contains("#insecure") {
            return Err(invalid(
                "certificate checks cannot be turned off; give the server's CA with WECHAT_REDIS_CA_FILE",
            ));
        }
        let target = Self {
            nodes,
            cluster,
            tls,
            redacted: redacted.clone(),
        };
        // Parse every URL now, so a typo fails at start-up rather than at the first login.
        target
            .node_clients(None)
            .map_err(|e| invalid(&e.to_string()))?;
        Ok(target)
    }

    /// One client per node URL (for a single server: one), trusting `ca` (PEM) or the
    /// system roots.
    pub(super) fn node_clients(&self, ca: Option<&[u8]>) -> RedisResult<Vec<Client>> {
        self.nodes
            .iter()
            .map(|node| match ca {
                Some(pem) => Client::build_with_tls(node.as_str(), certificates(pem)),
                None => Client::open(node.as_str()),
            })
            .collect()
    }

    /// The Cluster client (MOVED/ASK, slot refreshes and reconnects are its business).
    pub(super) fn cluster_client(&self, ca: Option<&[u8]>) -> RedisResult<ClusterClient> {
        let mut builder = ClusterClient::builder(self.nodes.iter().map(String::as_str))
            .connection_timeout(CONNECT_TIMEOUT)
            .retries(CLUSTER_RETRIES)
            .min_retry_wait(u64::try_from(MIN_BACKOFF.as_millis()).unwrap_or(100))
            .max_retry_wait(u64::try_from(MAX_BACKOFF.as_millis()).unwrap_or(1000));
        if let Some(pem) = ca {
            builder = builder.certs(certificates(pem));
        }
        builder.build()
    }
}

fn certificates(pem: &[u8]) -> TlsCertificates {
    TlsCertificates {
        client_tls: None,
        root_cert: Some(pem.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_servers_clusters_and_tls() {
        let t = Target::parse("redis://:pw@h:6379/1").unwrap();
        assert!(!t.cluster && !t.tls);
        let t = Target::parse("rediss://user:pw@h:6380").unwrap();
        assert!(!t.cluster && t.tls);
        assert_eq!(&*t.redacted, "rediss://user:***@h:6380");
        let t = Target::parse("redis+cluster://:pw@h1:7000").unwrap();
        assert!(t.cluster && !t.tls);
        assert_eq!(t.nodes, ["redis://:pw@h1:7000"]);
        let t = Target::parse("rediss://:pw@h1:7000, rediss://:pw@h2:7001").unwrap();
        assert!(t.cluster && t.tls);
        assert_eq!(&*t.redacted, "rediss://:***@h1:7000,rediss://:***@h2:7001");
        assert!(!t.redacted.contains("pw"));
    }

    #[test]
    fn impossible_urls_say_why() {
        let e = |url: &str| Target::parse(url).err().unwrap().to_string();
        assert!(e("redis://h1,rediss://h2").contains("all be rediss"));
        assert!(e("redis+cluster://h1/3").contains("only database 0"));
        assert!(e("rediss://:pw@h#insecure").contains("WECHAT_REDIS_CA_FILE"));
        assert!(!e("rediss://:pw@h#insecure").contains("pw@"));
        assert!(e("http://h").contains("scheme"));
        assert!(e(" , ").contains("empty"));
        assert!(e("redis+unix:///s,redis://h").contains("not sockets"));
    }
}
