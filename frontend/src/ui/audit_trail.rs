//! The settings panel's audit trail: the newest page asked when the panel opens (and again
//! after a reconnect, since moderation events are not replayed), entries oldest first with the
//! newest at the bottom, "Older" to page back, live events added while it is open.

use crate::audit::describe;
use crate::engine::Link;
use crate::ui::message_list::{clock, full_time, iso_time};
use crate::ui::room::RoomCtx;
use leptos::html;
use leptos::prelude::*;

/// The trail.
#[component]
pub fn AuditTrailView(ctx: RoomCtx) -> impl IntoView {
    let view = ctx.view;
    let missing = Memo::new(move |_| view.with(|v| v.moderation.audit.is_none()));
    Effect::new(move |_| {
        if missing.get() && ctx.link.get() == Link::Online {
            ctx.audit(None);
        }
    });
    let trail = Memo::new(move |_| view.with(|v| v.moderation.audit.clone().unwrap_or_default()));
    let list = NodeRef::<html::Ol>::new();
    // The first page lands at the bottom (the newest); older pages keep what is on screen.
    Effect::new(move |prev: Option<usize>| {
        let n = trail.with(|t| t.entries.len());
        if prev == Some(0) || prev.is_none() {
            if let Some(el) = list.get() {
                el.set_scroll_top(el.scroll_height());
            }
        }
        n
    });
    view! {
        <section class="field audit" aria-labelledby="audit-title">
            <h3 id="audit-title">"Audit trail"</h3>
            <p class="history-state">
                {move || {
                    trail
                        .with(|t| {
                            if t.loading {
                                Some(view! { "Loading…" }.into_any())
                            } else if t.older {
                                Some(
                                    view! {
                                        <button
                                            class="link"
                                            data-testid="audit-older"
                                            on:click=move |_| ctx.audit(trail.with_untracked(|t| t.oldest()))
                                        >
                                            "Older"
                                        </button>
                                    }
                                        .into_any(),
                                )
                            } else if t.entries.is_empty() {
                                Some(view! { "No moderation yet." }.into_any())
                            } else {
                                None
                            }
                        })
                }}
            </p>
            <ol class="audit-list" data-testid="audit" node_ref=list tabindex="0" aria-label="Moderation events, oldest first">
                <For
                    each=move || trail.get().entries
                    key=|e| e.seq
                    children=move |e| {
                        view! {
                            <li data-testid="audit-entry">
                                <time datetime=iso_time(e.ts) title=full_time(e.ts)>{clock(e.ts)}</time>
                                " "
                                <span dir="auto">{describe(&e)}</span>
                            </li>
                        }
                    }
                />
            </ol>
        </section>
    }
}
