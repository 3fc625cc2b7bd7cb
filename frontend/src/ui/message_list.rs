//! The message list: rows from `rows.rs`, the viewport moved as `list.rs` decides, history
//! paging (on scrolling up, on a list too short to scroll, or by button), jumps to a message
//! (paging back until it is loaded), the "new messages" pill, and a visually hidden live
//! region that announces only new messages from others. The list itself is not live: history
//! pages and the list's own updates are not read out.
//!
//! The rows are rebuilt only when messages come or go (`RoomView::layout`); each message row
//! reads its own signal, set only when that message changed (`RoomView::touched`), so an
//! edit or a reaction redraws one row.

use crate::browser;
use crate::connection::Command;
use crate::inbox::Divider;
use crate::inbox_driver::{InboxCommand, InboxCtx};
use crate::list::{self, Jump, Scroll, Shape};
use crate::rows::{rows, Row};
use crate::state::Shown;
use crate::ui::message_row::MessageRow;
use crate::ui::pending_row::PendingRow;
use crate::ui::room::RoomCtx;
use confab_shared::Seq;
use leptos::html;
use leptos::prelude::*;
use std::collections::HashMap;
use wasm_bindgen::JsCast;

/// How long a message jumped to stays highlighted.
pub const HIGHLIGHT_MS: u64 = 2_000;

fn date(ts: u64) -> js_sys::Date {
    js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts as f64))
}

/// The label of a timestamp's day.
pub fn day_label(ts: u64) -> String {
    String::from(date(ts).to_date_string())
}

/// "14:05".
pub fn clock(ts: u64) -> String {
    let d = date(ts);
    format!("{:02}:{:02}", d.get_hours(), d.get_minutes())
}

/// The full local date and time, for a `title`.
pub fn full_time(ts: u64) -> String {
    String::from(date(ts).to_string())
}

/// The ISO time, for a `datetime`.
pub fn iso_time(ts: u64) -> String {
    String::from(date(ts).to_iso_string())
}

/// The message list of a room. `read_key`: where the read marker is saved.
#[component]
pub fn MessageList(ctx: RoomCtx, read_key: String) -> impl IntoView {
    let view = ctx.view;
    // Where the user stopped reading last time: the "new" divider goes after it. It stays put
    // for this visit (unless the room's history is reset); what is read now is saved.
    // Once the person's inbox answers, its read position (shared by every tab and device)
    // places it instead (see `inbox::Divider`).
    let divider = RwSignal::new(Divider::new(browser::load::<u64>(&read_key)));
    let read_key = StoredValue::new(read_key);
    // The read marker is a message id (the newest seen), not an event seq.
    // The person's inbox keeps the read position every tab and device shares (issue 11): it
    // hears of the newest message shown while the tab is focused.
    let inbox = use_context::<InboxCtx>();
    let room = StoredValue::new(ctx.room());
    if let Some(i) = inbox {
        Effect::new(move |_| {
            let last_read = room.with_value(|r| i.sidebar.with(|s| s.room(r).map(|c| c.last_read)));
            if let Some(last_read) = last_read {
                divider.try_maybe_update(|d| (d.inbox(last_read), ()));
            }
        });
    }
    let tell_inbox = move |id: Seq| {
        if let Some(i) = inbox.filter(|_| id > 0 && !browser::away()) {
            i.send(InboxCommand::Read(room.get_value(), id));
        }
    };
    let mark_read = move |id: Seq| {
        if id > 0 && !browser::hidden() {
            read_key.with_value(|k| browser::save(k, &id));
        }
        tell_inbox(id);
    };
    let list = NodeRef::<html::Div>::new();
    let at_bottom = RwSignal::new(true);
    let seen = RwSignal::new(0u64);
    let announcement = RwSignal::new(String::new());
    // Height and offset before an older page was requested: restored after it lands so the
    // messages on screen stay put.
    let anchor = StoredValue::new(None::<(i32, i32)>);
    let shape = StoredValue::new(None::<Shape>);
    let resets = StoredValue::new(view.with_untracked(|v| v.resets));
    // Each message row's signal, by id: what `touched` names is set, nothing else.
    let shown = StoredValue::new(HashMap::<Seq, RwSignal<Option<Shown>>>::new());
    Effect::new(move |_| {
        view.track();
        let touched = view.try_update_untracked(|v| std::mem::take(&mut v.touched)).unwrap_or_default();
        for id in touched {
            if let Some(sig) = shown.with_value(|m| m.get(&id).copied()) {
                let next = view.with_untracked(|v| v.shown(id));
                sig.try_maybe_update(|s| {
                    let changed = *s != next;
                    *s = next;
                    (changed, ())
                });
            }
        }
    });
    // The rows change only with the layout (messages come or go, a pending post changes).
    let layout = Memo::new(move |_| {
        view.with(|v| {
            let posts: Vec<(String, bool, bool, Option<String>)> = v
                .pending_posts()
                .map(|p| (p.client_id.clone(), p.failed.is_some(), p.sent, p.post_text().map(str::to_owned)))
                .collect();
            (v.layout, posts)
        })
    });
    let all_rows = Memo::new(move |_| {
        layout.with(|_| ());
        let read = divider.with(Divider::after);
        view.with_untracked(|v| rows(v, read, day_label))
    });

    let request_older = move || {
        let wanted = view.try_maybe_update(|v| {
            let ask = v.has_more && !v.want_older && !v.loading_older;
            if ask {
                v.want_older = true;
                v.touch();
            }
            (ask, ask)
        });
        if wanted == Some(true) {
            if let Some(el) = list.get_untracked() {
                anchor.set_value(Some((el.scroll_height(), el.scroll_top())));
            }
            ctx.send(Command::LoadOlder);
        }
    };
    let to_bottom = move || {
        if let Some(el) = list.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
    };

    Effect::new(move |_| {
        let now_shape = view.with(Shape::of);
        let prev = shape.get_value();
        if let Some(text) = view.with(|v| list::announcement(prev, v)) {
            announcement.set(text);
        }
        // The room's history was reset: the old read marker means nothing in it.
        let r = view.with(|v| v.resets);
        if r != resets.get_value() {
            resets.set_value(r);
            divider.set(Divider::new(None));
            seen.set(0);
            read_key.with_value(|k| browser::remove(k));
        }
        let saved = anchor.get_value();
        let decision = list::decide(prev, now_shape, at_bottom.get_untracked(), saved.is_some());
        shape.set_value(Some(now_shape));
        request_animation_frame(move || {
            let Some(el) = list.get_untracked() else { return };
            match decision {
                Scroll::Bottom => {
                    anchor.set_value(None);
                    el.set_scroll_top(el.scroll_height());
                    at_bottom.set(true);
                    let newest = now_shape.newest.unwrap_or(0);
                    seen.set(newest);
                    mark_read(newest);
                }
                Scroll::RestoreAnchor => {
                    // The anchor of the page that landed: a jump may already have asked for
                    // the next page (and saved its own anchor, kept for when that one lands).
                    if let Some((h, top)) = saved {
                        el.set_scroll_top(top + el.scroll_height() - h);
                    }
                    if anchor.get_value() == saved {
                        anchor.set_value(None);
                    }
                }
                Scroll::DropAnchor => anchor.set_value(None),
                Scroll::Keep => {}
            }
            // A list too short to scroll never fires `scroll`: page back until it is not.
            if el.scroll_height() <= el.client_height() + 1 {
                request_older();
            }
        });
    });

    // Where the reader is: at the bottom (the newest message on screen: read), and near the
    // top (the next older page is asked for). On every scroll, and after a jump.
    let measure = move || {
        let Some(el) = list.get_untracked() else { return };
        let bottom = el.scroll_height() - el.scroll_top() - el.client_height() < 48;
        if at_bottom.get_untracked() != bottom {
            at_bottom.set(bottom);
        }
        if bottom {
            let last = view.with_untracked(|v| v.newest_id().unwrap_or(0));
            seen.set(last);
            mark_read(last);
        }
        if el.scroll_top() < 80 {
            request_older();
        }
    };

    // A jump to a message: page back (bounded) until it is held, then scroll to it and
    // highlight it briefly.
    Effect::new(move |_| {
        let Some((id, pages)) = ctx.jump.get() else { return };
        match view.with(|v| list::jump_step(v, id, pages)) {
            Jump::Wait => {}
            Jump::PageBack => {
                ctx.jump.set(Some((id, pages + 1)));
                // As if scrolled to the top: the page lands above what is on screen, which
                // stays put (not pulled to the bottom) until the message is shown.
                request_older();
            }
            Jump::NotFound => {
                ctx.jump.set(None);
                ctx.say("That message is not in this room any more.");
            }
            Jump::Show => {
                ctx.jump.set(None);
                // Two frames on: after whatever the list does with the viewport for the page
                // that just landed (its own frame callback is queued this frame).
                request_animation_frame(move || {
                    request_animation_frame(move || {
                        let el = web_sys::window()
                            .and_then(|w| w.document())
                            .and_then(|d| d.get_element_by_id(&format!("m{id}")));
                        // The reader is where the message is now, not where the last page was
                        // asked for: an anchor restore due in this same frame must not pull the
                        // view back. Not at the bottom while it moves there; then measured, as
                        // a scroll would be: a list too short to scroll fires no scroll event,
                        // and its newest message, on screen, is read (no pill, no stuck count).
                        at_bottom.set(false);
                        anchor.set_value(None);
                        if let Some(el) = el {
                            let opts = web_sys::ScrollIntoViewOptions::new();
                            opts.set_block(web_sys::ScrollLogicalPosition::Center);
                            el.scroll_into_view_with_scroll_into_view_options(&opts);
                            if let Ok(el) = el.dyn_into::<web_sys::HtmlElement>() {
                                let _ = el.focus();
                            }
                        }
                        measure();
                        ctx.highlight.set(Some(id));
                        set_timeout(
                            move || {
                                if ctx.highlight.try_get_untracked().flatten() == Some(id) {
                                    ctx.highlight.try_set(None);
                                }
                            },
                            std::time::Duration::from_millis(HIGHLIGHT_MS),
                        );
                    })
                });
            }
        }
    });

    let on_scroll = move |_| measure();
    // Back in the tab with the newest message on screen: that is reading it.
    let back = move || {
        if at_bottom.get_untracked() {
            tell_inbox(view.with_untracked(|v| v.newest_id().unwrap_or(0)));
        }
    };
    let on_focus = window_event_listener(leptos::ev::focus, move |_| back());
    let on_visible = window_event_listener(leptos::ev::visibilitychange, move |_| back());
    on_cleanup(move || {
        on_focus.remove();
        on_visible.remove();
    });
    let unread = move || if at_bottom.get() { 0 } else { view.with(|v| v.count_after(seen.get())) };

    view! {
        <div class="messages-wrap">
            <div
                class="messages"
                node_ref=list
                on:scroll=on_scroll
                role="region"
                aria-label="Messages"
                data-testid="messages"
                tabindex="0"
            >
                <Show when=move || view.with(|v| v.away_gap)>
                    <p class="gap" role="status" data-testid="gap">
                        "While you were away, more happened than is shown here. "
                        <button class="link" on:click=move |_| request_older()>
                            "Load older messages"
                        </button>
                    </p>
                </Show>
                <p class="history-state" data-testid="history-state">
                    {move || {
                        view.with(|v| {
                            if v.loading_older || v.want_older {
                                view! { "Loading older messages…" }.into_any()
                            } else if v.has_more {
                                view! {
                                    <button class="link" data-testid="load-older" on:click=move |_| request_older()>
                                        "Load older messages"
                                    </button>
                                }
                                    .into_any()
                            } else if v.me.is_some() {
                                view! { "This is the start of the room." }.into_any()
                            } else {
                                view! { "" }.into_any()
                            }
                        })
                    }}
                </p>
                <For each=move || all_rows.get() key=Row::key children=move |row| render_row(row, ctx, shown) />
            </div>
            <p class="toast" role="status" data-testid="flash">
                {move || ctx.flash.get()}
            </p>
            <div class="visually-hidden" aria-live="polite" data-testid="announcer">
                {move || announcement.get()}
            </div>
            <Show when=move || { unread() > 0 }>
                <button
                    class="pill"
                    data-testid="new-pill"
                    on:click=move |_| {
                        to_bottom();
                        ctx.focus_composer();
                    }
                >
                    {move || {
                        let n = unread();
                        if n == 1 { "1 new message ↓".to_owned() } else { format!("{n} new messages ↓") }
                    }}
                </button>
            </Show>
        </div>
    }
}

/// One row. A message row gets its own signal (registered under its id in `shown`, so
/// the list sets it when that message changes).
pub fn render_row(row: Row, ctx: RoomCtx, shown: StoredValue<HashMap<Seq, RwSignal<Option<Shown>>>>) -> AnyView {
    match row {
        Row::Unread => view! {
            <div class="day unread" role="separator" data-testid="unread-divider"><span>"New"</span></div>
        }
        .into_any(),
        Row::Day(d) => view! { <div class="day" role="separator"><span>{d}</span></div> }.into_any(),
        Row::Message { id, grouped } => {
            let sig = RwSignal::new(ctx.view.with_untracked(|v| v.shown(id)));
            shown.update_value(|m| {
                m.insert(id, sig);
            });
            // A row for the same id under a new key (regrouped) may have taken the slot.
            on_cleanup(move || {
                shown.try_update_value(|m| {
                    if m.get(&id) == Some(&sig) {
                        m.remove(&id);
                    }
                });
            });
            view! { <MessageRow id=id grouped=grouped shown=sig ctx=ctx /> }.into_any()
        }
        Row::Pending(p) => view! { <PendingRow p=p ctx=ctx /> }.into_any(),
    }
}
