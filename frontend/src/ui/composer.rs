//! The composer. With a keyboard, Enter sends and Shift+Enter adds a line; on a touch screen
//! (`pointer: coarse`) Enter adds a line and the button sends. The Enter that commits an IME
//! composition (`isComposing`, or keyCode 229 where Safari reports neither) never sends.
//! Focused when the room opens.

use crate::browser;
use crate::connection::Command;
use crate::ui::room::RoomCtx;
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

    let submit = move || {
        let text = draft.get_untracked();
        if text.trim().is_empty() {
            return;
        }
        match confab_shared::MessageText::parse(&text) {
            Ok(_) => {
                draft.set(String::new());
                local_error.set(None);
                ctx.queue(text);
            }
            Err(e) => local_error.set(Some(e.message)),
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

    let placeholder =
        if coarse { "Write a message…" } else { "Write a message…  (Enter sends, Shift+Enter adds a line)" };
    view! {
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
                on:input=move |ev| {
                    draft.set(event_target_value(&ev));
                    local_error.set(None);
                    ctx.send(Command::Typing);
                }
                on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                    if enter_sends(&ev.key(), ev.shift_key(), ev.is_composing(), ev.key_code(), coarse) {
                        ev.prevent_default();
                        submit();
                    }
                }
            ></textarea>
            <button type="submit" data-testid="send" aria-label="Send">"Send"</button>
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
