//! One of our posts the room has not stored yet: its text (and the quote it replies to), how
//! its delivery goes in words, Retry now once it is slow, and Edit or Delete while it can
//! still be taken back (it never went out, or was refused).

use crate::audit::time_left;
use crate::connection::Command;
use crate::engine::Link;
use crate::moderation::Wait;
use crate::state::{Op, Pending};
use crate::ui::message_row::QuoteBlock;
use crate::ui::room::RoomCtx;
use leptos::prelude::*;

/// How long a message may stay unsent before the page says so and offers to retry.
pub const SLOW_SEND_MS: u64 = 10_000;

/// A pending post.
#[component]
pub fn PendingRow(p: Pending, ctx: RoomCtx) -> impl IntoView {
    let now = ctx.now;
    let link = ctx.link;
    let id = p.client_id.clone();
    let (edit_id, delete_id) = (id.clone(), id.clone());
    let created_ms = p.created_ms;
    let failed = p.failed.clone();
    let status = move || {
        if let Some(why) = failed.clone() {
            return format!("not sent: {why}");
        }
        // Held back by slow mode (the engine sends it when the wait ends).
        let t = now.get();
        if let Some(Wait::Slow(until)) = ctx.view.with(|v| v.post_wait(t)) {
            return format!("waiting for slow mode — goes in {}", time_left(until.saturating_sub(t)));
        }
        if t.saturating_sub(created_ms) < SLOW_SEND_MS {
            return "sending…".to_owned();
        }
        match link.get() {
            Link::Online => "not sent yet — trying again".to_owned(),
            Link::Refused => "not sent — this name could not join the room".to_owned(),
            Link::Outdated => "not sent — reload the page to send it".to_owned(),
            Link::Removed => "not sent — you were removed from this room".to_owned(),
            _ => "not sent yet — it goes out when the connection is back".to_owned(),
        }
    };
    // Once on the wire the room may already have stored it: only a message that never
    // went out, or was refused, can still be taken back.
    let revocable = p.revocable();
    let is_failed = p.failed.is_some();
    let slow = move || is_failed || now.get().saturating_sub(created_ms) >= SLOW_SEND_MS;
    let (text, reply_to) = match p.op {
        Op::Send { text, reply_to } => (text, reply_to),
        _ => (String::new(), None),
    };
    let quote = reply_to.and_then(|r| {
        ctx.view.with_untracked(|v| {
            v.messages.get(&r).map(|m| confab_shared::Quote {
                id: m.id,
                member: m.member,
                author: m.author.clone(),
                excerpt: confab_shared::excerpt(&m.text),
                deleted: m.deleted,
            })
        })
    });
    view! {
        <article class="msg mine pending" data-testid="pending" data-client-id=id>
            {quote.map(|q| view! { <QuoteBlock q=q ctx=ctx /> })}
            <p class="text" dir="auto">{text}</p>
            <span class="status">
                <span data-testid="pending-status">{status}</span>
                <Show when=slow>
                    " · "
                    <button class="link" on:click=move |_| ctx.send(Command::RetryNow)>
                        "Retry now"
                    </button>
                </Show>
                {revocable
                    .then(move || {
                        view! {
                            " · "
                            <button
                                class="link"
                                data-testid="edit-pending"
                                on:click=move |_| {
                                    if let Some(p) = ctx.cancel(&edit_id) {
                                        ctx.draft.set(p.post_text().unwrap_or_default().to_owned());
                                        if let Op::Send { reply_to: Some(r), .. } = p.op {
                                            ctx.reply_to.set(Some(r));
                                        }
                                        ctx.focus_composer();
                                    }
                                }
                            >
                                "Edit"
                            </button>
                            " · "
                            <button
                                class="link"
                                data-testid="delete-pending"
                                on:click=move |_| {
                                    ctx.cancel(&delete_id);
                                }
                            >
                                "Delete"
                            </button>
                        }
                    })}
            </span>
        </article>
    }
}
