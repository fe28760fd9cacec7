//! The passive reply to a scan of a login code: the user reads, in the Official Account's
//! chat, which site and which browser asked to log in, and gets the link to confirm or
//! cancel on the phone.

use super::Reply;
use crate::{engine::Engine, flows::scan::ScanNotice, push::PushReply};

/// The text reply for `notice`, addressed to the user who scanned.
pub(super) fn scan_notice(
    auth: &Engine,
    notice: &ScanNotice,
    opened: &crate::push::OpenedPush,
) -> Option<Reply> {
    let text = notice_text(auth, notice);
    Some(Reply::to_sender(&PushReply::text(text), opened))
}

/// The words of the reply. The requester's details are the browser's own claims (its
/// User-Agent) and its address as this server saw it; the reply is plain text with one link.
pub(crate) fn notice_text(auth: &Engine, notice: &ScanNotice) -> String {
    let cfg = auth.config();
    let site = cfg.public_url.host_str().unwrap_or(cfg.origin()).to_owned();
    let link = format!("{}{}/scan/{}/confirm", cfg.origin(), cfg.prefix, notice.id);
    let Some(requester) = &notice.requester else {
        return format!("{site} 的这个登录二维码已失效，请在网页上刷新二维码后再扫。");
    };
    let who = requester.describe();
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
