-- Accounts of the application, and the WeChat identities that sign in to them
-- (examples/accounts_sqlite.rs). One account has any number of identities: one per
-- WeChat app (website, Official Account, mobile app, mini program) the person used.
CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    nickname    TEXT,
    created_at  INTEGER NOT NULL DEFAULT (unixepoch())
);

-- One row per (appid, openid): WeChat's id of a person within one app. `unionid` is the
-- same for every app of one Open Platform account (NULL when the app is not bound to it),
-- so a new app's first login finds its account through it.
CREATE TABLE wechat_identities (
    appid       TEXT    NOT NULL,
    openid      TEXT    NOT NULL,
    unionid     TEXT,
    channel     TEXT    NOT NULL,
    account_id  INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL DEFAULT (unixepoch()),
    last_login  INTEGER NOT NULL DEFAULT (unixepoch()),
    PRIMARY KEY (appid, openid)
);

CREATE INDEX wechat_identities_unionid ON wechat_identities (unionid) WHERE unionid IS NOT NULL;
CREATE INDEX wechat_identities_account ON wechat_identities (account_id);
