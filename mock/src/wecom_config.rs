//! WeCom (企业微信) apps of the mock, as configured: corp apps with their members
//! ([`MockWecomCorp`], [`MockWecomMember`]) and third-party suites ([`MockWecomSuite`]).
//! Plain data: the pages and APIs are in `wecom` and `wecom_suite`.

/// One member of a WeCom corp: a simulated user (by name) and the corp's `user_id` for them.
///
/// ```
/// use wechat_auth_mock::MockWecomMember;
///
/// let m = MockWecomMember::new("alice", "LiAiLi").with_gender("2");
/// assert_eq!((m.name.as_str(), m.user_id.as_str(), m.gender.as_str()), ("alice", "LiAiLi", "2"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MockWecomMember {
    /// The simulated user's name (`alice`), as in `MockConfig::with_user`.
    pub name: String,
    /// The member's UserID in the corp (`LiAiLi`).
    pub user_id: String,
    /// `cgi-bin/auth/getuserdetail`'s `gender`, a string: `"0"` unknown, `"1"` male,
    /// `"2"` female.
    pub gender: String,
}

impl MockWecomMember {
    /// A member of unknown gender (`"0"`).
    ///
    /// ```
    /// assert_eq!(wechat_auth_mock::MockWecomMember::new("bob", "BobZhang").gender, "0");
    /// ```
    pub fn new(name: impl Into<String>, user_id: impl Into<String>) -> Self {
        MockWecomMember {
            name: name.into(),
            user_id: user_id.into(),
            gender: "0".to_owned(),
        }
    }

    /// Sets the gender string (`"0"`, `"1"` or `"2"`).
    ///
    /// ```
    /// assert_eq!(wechat_auth_mock::MockWecomMember::new("bob", "B").with_gender("1").gender, "1");
    /// ```
    pub fn with_gender(mut self, gender: impl Into<String>) -> Self {
        self.gender = gender.into();
        self
    }
}

/// A WeCom self-built (自建) or agent-developed (代开发) app: a corp id, an agent id, the
/// app's secret, the corp's members and the app's trusted domains (可信域名).
///
/// The default ([`MockWecomCorp::default_corp`]) is corp `ww6000000000000006`, agent
/// `1000002`, secret `mockWecomAppSecret0000000000000000000000006` (43 characters, like
/// real ones), members `alice` (`LiAiLi`, gender `"2"`) and `bob` (`BobZhang`, `"1"`);
/// `carol` is no member and logs in with an `openid`. Trusted domains: `127.0.0.1`,
/// `localhost`.
///
/// A trusted domain without a port matches its host on any port (the mock's concession to
/// tests on ephemeral ports); with a port (`example.com:8080`) it matches only that port,
/// as WeCom requires (protocol §20.8). No wildcards; sub-domains do not match.
///
/// ```
/// use wechat_auth_mock::{MockWecomCorp, MockWecomMember};
///
/// let corp = MockWecomCorp::new("ww1234567890abcdef", "1000005", "s3cr3t")
///     .with_member(MockWecomMember::new("alice", "alice01"))
///     .with_trusted_domains(["app.example.com:8443"]);
/// assert_eq!(corp.member("alice").unwrap().user_id, "alice01");
/// assert!(corp.member("carol").is_none());
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MockWecomCorp {
    /// The CorpID (`ww…`).
    pub corp_id: String,
    /// The app's AgentID (digits).
    pub agent_id: String,
    /// The app's secret (`corpsecret`).
    pub secret: String,
    /// The corp's members; other simulated users are non-members.
    pub members: Vec<MockWecomMember>,
    /// The app's trusted domains at start (hosts, optionally `:port`).
    pub trusted_domains: Vec<String>,
}

impl std::fmt::Debug for MockWecomCorp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockWecomCorp")
            .field("corp_id", &self.corp_id)
            .field("agent_id", &self.agent_id)
            .field("members", &self.members)
            .field("trusted_domains", &self.trusted_domains)
            .finish_non_exhaustive()
    }
}

impl MockWecomCorp {
    /// An app with no members, trusting `127.0.0.1` and `localhost`.
    ///
    /// ```
    /// let corp = wechat_auth_mock::MockWecomCorp::new("ww01", "1000002", "x");
    /// assert_eq!(corp.trusted_domains, ["127.0.0.1", "localhost"]);
    /// ```
    pub fn new(
        corp_id: impl Into<String>,
        agent_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        MockWecomCorp {
            corp_id: corp_id.into(),
            agent_id: agent_id.into(),
            secret: secret.into(),
            members: Vec::new(),
            trusted_domains: vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
        }
    }

    /// The fixed default corp app (see the type's documentation).
    ///
    /// ```
    /// let corp = wechat_auth_mock::MockWecomCorp::default_corp();
    /// assert_eq!(corp.corp_id, "ww6000000000000006");
    /// assert_eq!(corp.members.len(), 2);
    /// ```
    pub fn default_corp() -> Self {
        MockWecomCorp::new(
            "ww6000000000000006",
            "1000002",
            "mockWecomAppSecret0000000000000000000000006",
        )
        .with_member(MockWecomMember::new("alice", "LiAiLi").with_gender("2"))
        .with_member(MockWecomMember::new("bob", "BobZhang").with_gender("1"))
    }

    /// Adds a member (replacing one with the same name).
    ///
    /// ```
    /// use wechat_auth_mock::{MockWecomCorp, MockWecomMember};
    ///
    /// let corp = MockWecomCorp::default_corp().with_member(MockWecomMember::new("carol", "Carol"));
    /// assert_eq!(corp.members.len(), 3);
    /// ```
    pub fn with_member(mut self, member: MockWecomMember) -> Self {
        self.members.retain(|m| m.name != member.name);
        self.members.push(member);
        self
    }

    /// Replaces the trusted domains (hosts, optionally with `:port`).
    ///
    /// ```
    /// let corp = wechat_auth_mock::MockWecomCorp::default_corp().with_trusted_domains(["a.example"]);
    /// assert_eq!(corp.trusted_domains, ["a.example"]);
    /// ```
    pub fn with_trusted_domains<I, S>(mut self, domains: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.trusted_domains = domains.into_iter().map(Into::into).collect();
        self
    }

    /// The member whose simulated user is `name`.
    ///
    /// ```
    /// assert!(wechat_auth_mock::MockWecomCorp::default_corp().member("bob").is_some());
    /// ```
    pub fn member(&self, name: &str) -> Option<&MockWecomMember> {
        self.members.iter().find(|m| m.name == name)
    }
}

/// A WeCom third-party app (第三方应用) of a service provider: its suite id, secret, the
/// command callback's token and EncodingAESKey, its trusted domains and the corps that
/// installed (authorized) it.
///
/// The default ([`MockWecomSuite::default_suite`]): suite `ww8000000000000008`, secret
/// `mockWecomSuiteSecret00000000000000000000008`, token `mocksuitetoken`, EncodingAESKey
/// `mockSuiteEncodingAesKey0123456789abcdefghij`, trusted domains `127.0.0.1` and
/// `localhost`, authorized by the default corp `ww6000000000000006`.
///
/// ```
/// use wechat_auth_mock::MockWecomSuite;
///
/// let suite = MockWecomSuite::default_suite();
/// assert_eq!(suite.suite_id, "ww8000000000000008");
/// assert_eq!(suite.authorized_corps, ["ww6000000000000006"]);
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MockWecomSuite {
    /// The SuiteID (`ww…`), the `appid` of its login pages.
    pub suite_id: String,
    /// The suite secret (`suite_secret`).
    pub suite_secret: String,
    /// The command callback's Token (signs `msg_signature`).
    pub token: String,
    /// The command callback's 43-character EncodingAESKey.
    pub encoding_aes_key: String,
    /// Trusted domains at start (hosts, optionally `:port`).
    pub trusted_domains: Vec<String>,
    /// Corp ids (of `MockConfig::wecom_corps`) that installed the suite. Their members log
    /// in as members; members of other corps get 41030; everyone else is a non-member.
    pub authorized_corps: Vec<String>,
}

impl std::fmt::Debug for MockWecomSuite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockWecomSuite")
            .field("suite_id", &self.suite_id)
            .field("trusted_domains", &self.trusted_domains)
            .field("authorized_corps", &self.authorized_corps)
            .finish_non_exhaustive()
    }
}

impl MockWecomSuite {
    /// A suite with these credentials, trusting `127.0.0.1` and `localhost`, authorized by
    /// no corp.
    ///
    /// ```
    /// use wechat_auth_mock::MockWecomSuite;
    ///
    /// let s = MockWecomSuite::new("ww01", "secret", "tok", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG");
    /// assert!(s.authorized_corps.is_empty());
    /// ```
    pub fn new(
        suite_id: impl Into<String>,
        suite_secret: impl Into<String>,
        token: impl Into<String>,
        encoding_aes_key: impl Into<String>,
    ) -> Self {
        MockWecomSuite {
            suite_id: suite_id.into(),
            suite_secret: suite_secret.into(),
            token: token.into(),
            encoding_aes_key: encoding_aes_key.into(),
            trusted_domains: vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
            authorized_corps: Vec::new(),
        }
    }

    /// The fixed default suite (see the type's documentation).
    ///
    /// ```
    /// assert_eq!(wechat_auth_mock::MockWecomSuite::default_suite().token, "mocksuitetoken");
    /// ```
    pub fn default_suite() -> Self {
        MockWecomSuite::new(
            "ww8000000000000008",
            "mockWecomSuiteSecret00000000000000000000008",
            "mocksuitetoken",
            "mockSuiteEncodingAesKey0123456789abcdefghij",
        )
        .authorized_by("ww6000000000000006")
    }

    /// Adds a corp that installed the suite.
    ///
    /// ```
    /// let s = wechat_auth_mock::MockWecomSuite::default_suite().authorized_by("ww7000000000000007");
    /// assert_eq!(s.authorized_corps.len(), 2);
    /// ```
    pub fn authorized_by(mut self, corp_id: impl Into<String>) -> Self {
        self.authorized_corps.push(corp_id.into());
        self
    }

    /// Replaces the trusted domains (hosts, optionally with `:port`).
    ///
    /// ```
    /// let s = wechat_auth_mock::MockWecomSuite::default_suite().with_trusted_domains(["x.example"]);
    /// assert_eq!(s.trusted_domains, ["x.example"]);
    /// ```
    pub fn with_trusted_domains<I, S>(mut self, domains: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.trusted_domains = domains.into_iter().map(Into::into).collect();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_secret() {
        let corp = format!("{:?}", MockWecomCorp::default_corp());
        assert!(corp.contains("ww6000000000000006") && !corp.contains("mockWecomAppSecret"));
        let suite = format!("{:?}", MockWecomSuite::default_suite());
        assert!(suite.contains("ww8000000000000008"));
        assert!(!suite.contains("mockWecomSuiteSecret") && !suite.contains("mocksuitetoken"));
        assert!(!suite.contains("mockSuiteEncodingAesKey"));
    }
}
