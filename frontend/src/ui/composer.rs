//! The composer. With a keyboard, Enter sends and Shift+Enter adds a line; on a touch screen
//! (`pointer: coarse`) Enter adds a line and the button sends. The Enter that commits an IME
//! composition (`isComposing`, or keyCode 229 where Safari reports neither) never sends.
//! Up arrow in an empty composer edits our last message (Enter saves, Escape cancels); a
//! reply being written shows its quote above (Escape cancels); `@` suggests members online.
//! Focused when the room opens. While a moderator has us muted it is disabled; while slow
//! mode makes us wait, Send does nothing and the text stays (see `wait.rs`).

use crate::browser;
use crate::connection::Command;
use crate::moderation::Wait;
use crate::ui::autocomplete::{MentionList, Mentions};
use crate::ui::room::{Editing, RoomCtx};
use crate::ui::wait::{post_wait, PostWait};
use confab_shared::ErrorCode;
use leptos::prelude::*;

/// Whether a keydown is the Enter that sends: not Shift+Enter, not an IME commit, not on a
/// touch keyboard.
pub fn enter_sends(key: &str, shift: bool, composing: bool, key_code: u32, coarse: bool) -> bool {
    key == "Enter" && !shift && !composing && key_code != 229 && !coarse
}

/// The message box and its button.
#[component]
pub fn Composer(ctx: RoomCtx) -> impl IntoView {
    let view = ctx.view;
    let now = ctx.now;
    let draft = ctx.draft;
    let local_error = RwSignal::new(None::<String>);
    let max = confab_shared::limits::TEXT_MAX_CHARS;
    let coarse = browser::coarse_pointer();

    let mentions = Mentions::new(view);
    let editing = ctx.editing;
    // The edit is over (saved or cancelled): what was being written comes back.
    let end_edit = move || {
        editing.set(None);
        draft.set(ctx.stash.try_update(std::mem::take).unwrap_or_default());
        local_error.set(None);
    };
    let cancel_edit = end_edit;
    // Muted: nothing goes. Slow mode: a new post waits (an edit does not).
    let muted = move || matches!(post_wait(ctx), Some(Wait::Muted(_)));
    let held = move || match post_wait(ctx) {
        Some(Wait::Muted(_)) => true,
        Some(Wait::Slow(_)) => editing.with(Option::is_none),
        None => false,
    };
    let submit = move || {
        let text = draft.get_untracked();
        if text.trim().is_empty() || untrack(held) {
            return;
        }
        if let Err(e) = confab_shared::MessageText::parse(&text) {
            local_error.set(Some(e.message));
            return;
        }
        match editing.get_untracked() {
            Some(Editing::Message(id)) => ctx.edit(id, text),
            Some(Editing::Pending(client_id)) => {
                if !ctx.rewrite_pending(&client_id, text) {
                    local_error.set(Some("It went out already: edit it once it is stored.".to_owned()));
                    return;
                }
            }
            None => {
                ctx.queue(text);
                draft.set(String::new());
                mentions.close();
                local_error.set(None);
                return;
            }
        }
        mentions.close();
        end_edit();
    };
    // Up arrow in an empty composer: our newest post that has not gone out, else our newest
    // stored message that is not deleted.
    let edit_last = move || -> bool {
        let pending = view.with_untracked(|v| {
            v.outbox
                .iter()
                .rev()
                .find(|p| p.is_post() && p.revocable())
                .map(|p| (p.client_id.clone(), p.post_text().unwrap_or_default().to_owned()))
        });
        if let Some((client_id, text)) = pending {
            ctx.reply_to.set(None);
            editing.set(Some(Editing::Pending(client_id)));
            draft.set(text);
            return true;
        }
        match view.with_untracked(|v| v.last_editable()) {
            Some(id) => {
                ctx.start_edit(id);
                true
            }
            None => false,
        }
    };
    // The notice is announced when it changes (role=alert); a countdown inside it would be
    // read out every second, so the seconds are shown but hidden from screen readers.
    let notice = move || -> Option<(String, Option<String>)> {
        if let Some(e) = local_error.get() {
            return Some((e, None));
        }
        view.with(|v| v.notice.clone()).and_then(|n| match (n.code, n.retry_at_ms) {
            (ErrorCode::RateLimited, Some(at)) => {
                let left = at.saturating_sub(now.get());
                (left > 0).then(|| {
                    ("Sending too fast: retrying by itself".to_owned(), Some(format!(" in {} s", left.div_ceil(1000))))
                })
            }
            (ErrorCode::Unknown, _) => Some((format!("The room said: {}", n.message), None)),
            _ => Some((n.message, None)),
        })
    };
    let notice_text = move || notice().map(|(t, _)| t);
    let countdown = move || notice().and_then(|(_, c)| c);
    // Focused when the room opens: the first keystroke goes into the message.
    Effect::new(move |_| {
        if let Some(el) = ctx.composer.get() {
            let _ = el.focus();
        }
    });

    let writable =
        if coarse { "Write a message…" } else { "Write a message…  (Enter sends, Shift+Enter adds a line)" };
    // A muted member's disabled box says why rather than invite typing.
    let placeholder = move || if muted() { "A moderator muted you" } else { writable };
    let reply_preview = move || {
        let id = ctx.reply_to.get()?;
        let (author, text) = view.with(|v| {
            v.shown(id).map(|s| {
                let text = if s.m.deleted { "message deleted".to_owned() } else { confab_shared::excerpt(&s.m.text) };
                (s.m.author, text)
            })
        })?;
        Some(view! {
            <div class="composer-context" data-testid="reply-preview">
                <span class="what">"Replying to "<b dir="auto">{author}</b></span>
                <span class="excerpt" dir="auto">{text}</span>
                <button
                    class="link"
                    aria-label="Cancel reply"
                    on:click=move |_| {
                        ctx.reply_to.set(None);
                        ctx.focus_composer();
                    }
                >
                    "Cancel"
                </button>
            </div>
        })
    };
    let edit_banner = move || {
        editing.get().map(|_| {
            view! {
                <div class="composer-context editing" data-testid="editing">
                    <span class="what">"Editing your message"</span>
                    <span class="excerpt">"Enter saves · Esc cancels"</span>
                    <button
                        class="link"
                        on:click=move |_| {
                            cancel_edit();
                            ctx.focus_composer();
                        }
                    >
                        "Cancel"
                    </button>
                </div>
            }
        })
    };
    view! {
        <PostWait ctx=ctx />
        {reply_preview}
        {edit_banner}
        <MentionList m=mentions draft=draft textarea=ctx.composer />
        <form
            class="composer"
            on:submit=move |ev| {
                ev.prevent_default();
                submit();
            }
        >
            <label for="composer" class="visually-hidden">"Message"</label>
            <textarea
                id="composer"
                node_ref=ctx.composer
                data-testid="composer"
                rows="1"
                placeholder=placeholder
                enterkeyhint=if coarse { "enter" } else { "send" }
                prop:value=move || draft.get()
                disabled=muted
                aria-autocomplete="list"
                aria-controls="mention-list"
                aria-expanded=move || mentions.open().to_string()
                on:input=move |ev| {
                    let text = event_target_value(&ev);
                    if let Some(el) = ctx.composer.get_untracked() {
                        mentions.update(&text, el.selection_start().ok().flatten().unwrap_or(0));
                    }
                    draft.set(text);
                    local_error.set(None);
                    ctx.send(Command::Typing);
                }
                on:blur=move |_| mentions.close()
                on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                    let key = ev.key();
                    if ev.is_composing() || ev.key_code() == 229 {
                        return;
                    }
                    if mentions.key(&key, draft, ctx.composer) {
                        ev.prevent_default();
                        return;
                    }
                    let plain = !ev.shift_key() && !ev.alt_key() && !ev.ctrl_key() && !ev.meta_key();
                    if key == "Escape" {
                        if editing.get_untracked().is_some() {
                            ev.prevent_default();
                            cancel_edit();
                        } else if ctx.reply_to.get_untracked().is_some() {
                            ev.prevent_default();
                            ctx.reply_to.set(None);
                        }
                        return;
                    }
                    if key == "ArrowUp" && plain && draft.with_untracked(|d| d.is_empty()) && edit_last() {
                        ev.prevent_default();
                        return;
                    }
                    if enter_sends(&key, ev.shift_key(), ev.is_composing(), ev.key_code(), coarse) {
                        ev.prevent_default();
                        submit();
                    }
                }
            ></textarea>
            <button type="submit" data-testid="send" disabled=held>
                {move || if editing.get().is_some() { "Save" } else { "Send" }}
            </button>
            <span class="counter">
                {move || {
                    let n = draft.with(|d| d.chars().count());
                    (n + 200 > max).then(|| format!("{n} / {max}"))
                }}
            </span>
            <p class="notice" role="alert" data-testid="notice">
                {notice_text}
                <span aria-hidden="true">{countdown}</span>
            </p>
        </form>
    }
}
