//! Ending sessions: logout and refresh revoke token families in the store and in this
//! process; a listener keeps this process's deny-list in step with other instances.

use std::{sync::Arc, time::Duration};

use super::Sessions;
use crate::core::store::keys::{Key, REVOKED_TOPIC};
use crate::{
    core::clock::now_unix, core::failure::Failure, core::sessions::tokens::IssuedToken,
    core::store::Revocation, user::Session,
};

impl Sessions {
    /// Revokes a session everywhere: the store's deny-list (other instances) and this
    /// process's copy (the guard). The token's whole family up to its generation goes: its
    /// ancestors are already revoked, or are revoked with it.
    pub(crate) async fn revoke(&self, session: &Session) -> Result<(), Failure> {
        self.revoke_entry(&Revocation::new(
            session.family.as_str(),
            session.generation,
            session.exp,
        ))
        .await
    }

    async fn revoke_entry(&self, entry: &Revocation) -> Result<(), Failure> {
        self.revocations
            .insert(&entry.family, entry.through, entry.until);
        self.store.revoke(entry).await?;
        self.store
            .publish(
                REVOKED_TOPIC,
                format!("{} {} {}", entry.family, entry.through, entry.until).into_bytes(),
            )
            .await?;
        Ok(())
    }

    /// Refreshes a native session: exactly one caller per token wins (atomic in the store,
    /// so on every instance), the token's family is revoked through its generation, and the
    /// winner gets the next generation. `None` when the token was refreshed already or its
    /// login has outlived the absolute session lifetime.
    pub(crate) async fn refresh(&self, session: &Session) -> Result<Option<IssuedToken>, Failure> {
        let now = now_unix();
        let end = session
            .auth_time
            .saturating_add(self.settings.max_lifetime.as_secs());
        if end <= now {
            return Ok(None);
        }
        let claim = Key::refreshed(session.identity.app(), &session.family, session.generation);
        let ttl = Duration::from_secs(session.exp.saturating_sub(now).saturating_add(10));
        if !self.store.set_if_absent(&claim, b"1".to_vec(), ttl).await? {
            return Ok(None);
        }
        self.revoke(session).await?;
        Ok(Some(
            self.issue_native_for(&session.identity, Some(session)),
        ))
    }
}

/// How often the deny-list is read again in full, in case a notification was lost (the
/// store was down when another instance revoked a session).
const DENY_LIST_RELOAD: Duration = Duration::from_secs(30);

impl Sessions {
    /// Starts the background work once, from the first request (which runs on the runtime):
    /// the deny-list listener that brings revocations from other instances into this
    /// process. Cheap after the first call: one atomic load.
    pub(crate) fn ensure_background(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        if self.background.load(Ordering::Relaxed) || self.background.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(async move { listen_revocations(weak).await });
    }

    /// Reads the whole deny-list from the store into this process.
    async fn load_revocations(&self) -> Result<usize, crate::core::store::StoreError> {
        let list = self.store.revoked().await?;
        for r in &list {
            self.revocations.insert(&r.family, r.through, r.until);
        }
        Ok(list.len())
    }
}

/// Keeps this process's deny-list in step with the store: everything at start and every
/// [`DENY_LIST_RELOAD`], and each revocation as it is announced. Ends with the layer.
async fn listen_revocations(auth: std::sync::Weak<Sessions>) {
    loop {
        let Some(strong) = auth.upgrade() else { return };
        let subscription = strong.store.subscribe(REVOKED_TOPIC).await;
        match strong.load_revocations().await {
            Ok(n) => tracing::debug!(revoked = n, "deny-list loaded"),
            Err(e) => tracing::debug!(error = %e, "deny-list not loaded; retrying"),
        }
        let Ok(mut sub) = subscription else {
            drop(strong);
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        drop(strong);
        let reload = tokio::time::sleep(DENY_LIST_RELOAD);
        tokio::pin!(reload);
        loop {
            tokio::select! {
                msg = sub.next() => {
                    let Some(msg) = msg else { break };
                    let Some(auth) = auth.upgrade() else { return };
                    if let Some((family, through, until)) = parse_revocation(&msg) {
                        auth.revocations.insert(family, through, until);
                    }
                }
                () = &mut reload => break,
            }
        }
    }
}

/// Reads a revocation announced by [`Sessions::revoke`]: `FAMILY THROUGH UNTIL`.
fn parse_revocation(msg: &[u8]) -> Option<(&str, u32, u64)> {
    let mut parts = std::str::from_utf8(msg).ok()?.split(' ');
    let family = parts.next().filter(|f| !f.is_empty())?;
    let through = parts.next()?.parse().ok()?;
    let until = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((family, through, until))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn revocation_messages_parse_or_are_ignored() {
        assert_eq!(parse_revocation(b"fam 3 99"), Some(("fam", 3, 99)));
        let max = format!("f {} {}", u32::MAX, u64::MAX);
        assert_eq!(
            parse_revocation(max.as_bytes()),
            Some(("f", u32::MAX, u64::MAX))
        );
        for junk in [
            &b""[..],
            b"fam",
            b"fam 1",
            b" 1 2",
            b"f x 2",
            b"f 1 2 3",
            b"\xff 1 2",
        ] {
            assert_eq!(parse_revocation(junk), None, "{junk:?}");
        }
    }
}
