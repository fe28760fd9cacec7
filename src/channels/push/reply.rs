//! The passive reply to a scan of a login code: the user reads, in the Official Account's
//! chat, which site and which browser asked to log in, and gets the link to confirm or
//! cancel on the phone.

use super::{Push, Reply};
use crate::{channels::scan::ScanNotice, push::PushReply};

/// The text reply for `notice`, addressed to the user who scanned.
pub(super) fn scan_notice(
    auth: &Push,
    notice: &ScanNotice,
    opened: &crate::push::OpenedPush,
) -> Option<Reply> {
    let text = notice_text(auth, notice);
    Some(Reply::to_sender(&PushReply::text(text), opened))
}

/// The words of the reply. The requester's details are the browser's own claims (its
/// User-Agent, reduced to known names and a numeric version) and its address as this server
/// saw it; the reply is plain text with one link. WeChat shows `<a href="…">` in a text reply
/// as a link, so every value put into it is escaped ([`text_escape`]).
pub(crate) fn notice_text(auth: &Push, notice: &ScanNotice) -> String {
    let s = &auth.settings;
    let site = text_escape(&s.public_host);
    let link = text_escape(&format!(
        "{}{}/scan/{}/confirm",
        s.origin, s.prefix, notice.id
    ))
    .replace('"', "&quot;");
    if notice.taken {
        // Someone else scanned first: nothing about who asked, and no link.
        return format!(
            "{site} 的这个登录二维码已被其他微信扫过，不能再用它登录。\n\
             如果是您要登录，请在网页上刷新二维码后再扫。"
        );
    }
    let Some(requester) = &notice.requester else {
        return format!("{site} 的这个登录二维码已失效，请在网页上刷新二维码后再扫。");
    };
    let who = text_escape(&requester.describe());
    if notice.confirm {
        format!(
            "{site} 收到扫码登录请求：\n{who}\n\n请确认是您本人在这台电脑上操作：\
             <a href=\"{link}\">确认或取消登录</a>\n如果不是您本人，请点“取消”，不要确认。"
        )
    } else {
        format!(
            "您已扫码登录 {site}：\n{who}\n\n不是您本人操作？<a href=\"{link}\">取消这次登录</a>"
        )
    }
}

/// `&`, `<` and `>` as entities: a value inside a text reply can never become markup.
pub(crate) fn text_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_in_a_text_reply_cannot_become_markup() {
        assert_eq!(
            text_escape("<a href=\"x\">&amp;</a>"),
            "&lt;a href=\"x\"&gt;&amp;amp;&lt;/a&gt;"
        );
        assert_eq!(text_escape("Chrome 130.0 · Linux"), "Chrome 130.0 · Linux");
    }
}
