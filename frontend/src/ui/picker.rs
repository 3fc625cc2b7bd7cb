//! The emoji picker: a short fixed set and the person's recent ones. Picking one adds it (or
//! removes ours, if we already reacted with it); Escape closes the picker.

use crate::browser;
use crate::reactions::{extra_recent, PICKER, RECENT_KEY};
use crate::state::Shown;
use crate::ui::room::RoomCtx;
use confab_shared::Seq;
use leptos::html;
use leptos::prelude::*;

/// The picker for message `id`, opened by `opener` (focus goes back there when it closes).
#[component]
pub fn EmojiPicker(
    id: Seq,
    shown: RwSignal<Option<Shown>>,
    ctx: RoomCtx,
    opener: NodeRef<html::Button>,
) -> impl IntoView {
    let recent: Vec<String> = browser::load(RECENT_KEY).unwrap_or_default();
    let choices: Vec<String> = PICKER.iter().map(|e| (*e).to_owned()).chain(extra_recent(&recent)).collect();
    let first = NodeRef::<html::Button>::new();
    Effect::new(move |_| {
        if let Some(b) = first.get() {
            let _ = b.focus();
        }
    });
    let close = move || {
        ctx.picker.set(None);
        if let Some(b) = opener.get_untracked() {
            let _ = b.focus();
        }
    };
    view! {
        <div
            class="picker"
            role="dialog"
            aria-label="Pick a reaction"
            data-testid="picker"
            on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                if ev.key() == "Escape" {
                    ev.stop_propagation();
                    close();
                }
            }
        >
            {choices
                .into_iter()
                .enumerate()
                .map(|(i, e)| {
                    let emoji = e.clone();
                    let mine = move || {
                        shown.with(|s| {
                            s.as_ref().is_some_and(|s| s.m.reactions.iter().any(|r| r.emoji == emoji && r.mine))
                        })
                    };
                    let pick = e.clone();
                    let (label, data) = (e.clone(), e.clone());
                    let node = if i == 0 { first } else { NodeRef::new() };
                    view! {
                        <button
                            class="emoji"
                            node_ref=node
                            aria-label=label
                            aria-pressed=move || mine().to_string()
                            data-testid="pick"
                            data-emoji=data
                            on:click=move |_| {
                                let on = !shown.with_untracked(|s| {
                                    s.as_ref().is_some_and(|s| s.m.reactions.iter().any(|r| r.emoji == pick && r.mine))
                                });
                                ctx.react(id, &pick, on);
                                close();
                            }
                        >
                            {e}
                        </button>
                    }
                })
                .collect_view()}
        </div>
    }
}
