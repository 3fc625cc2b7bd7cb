//! A message's moderation menu, in its toolbar, offered to moderators and the owner only:
//! remove someone else's message (asked once more in place), mute its author (10 min, 1 hour,
//! 1 day), ban its author (optionally their address, and their messages). What is offered
//! follows `RoomView::can_act_on`; the room checks every right anyway, and a refusal shows in
//! the room's moderation alert.

use crate::moderation::{Rights, MUTE_CHOICES};
use crate::state::Shown;
use crate::ui::popup::{BanForm, Popup};
use crate::ui::room::RoomCtx;
use confab_shared::{Action, Seq};
use leptos::html;
use leptos::prelude::*;

/// What the menu shows: its actions, or the ban form, or the removal's confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Menu,
    ConfirmRemove,
    Ban,
}

/// The moderation button and menu of message `id`.
#[component]
pub fn ModTools(id: Seq, shown: RwSignal<Option<Shown>>, ctx: RoomCtx) -> impl IntoView {
    let author = move || shown.with(|s| s.as_ref().map(|s| (s.m.member, s.m.author.clone())));
    // Someone else's message that is still there.
    let removable = move || shown.with(|s| s.as_ref().is_some_and(|s| !s.mine && !s.m.deleted));
    // The row's own signal and the shared rights only: never the whole view (see `ctx.rs`).
    let author_actionable = move || author().is_some_and(|(member, _)| ctx.rights.with(|r| r.can_act_on(member)));
    let offered = move || ctx.rights.with(Rights::moderates) && (removable() || author_actionable());
    let open = move || ctx.mod_menu.get() == Some(id);
    let step = RwSignal::new(Step::Menu);
    let button = NodeRef::<html::Button>::new();
    let close = move || {
        ctx.mod_menu.set(None);
        step.set(Step::Menu);
    };
    let act = move |action: Action| {
        ctx.moderate(action);
        close();
        if let Some(b) = button.get_untracked() {
            let _ = b.focus();
        }
    };
    let author_name = move || author().map(|(_, n)| n).unwrap_or_default();
    view! {
        <Show when=offered>
            <button
                class="tool"
                title="Moderate"
                aria-label="Moderate this message"
                aria-haspopup="dialog"
                aria-expanded=move || open().to_string()
                data-testid="mod-button"
                node_ref=button
                on:click=move |_| {
                    step.set(Step::Menu);
                    ctx.mod_menu.update(|m| *m = if *m == Some(id) { None } else { Some(id) });
                }
            >
                <svg class="icon" viewBox="0 0 16 16" aria-hidden="true">
                    <path d="M8 1.5l5 2v4c0 3.2-2.2 5.6-5 7-2.8-1.4-5-3.8-5-7v-4z" />
                </svg>
            </button>
            <Show when=open>
                <Popup
                    label="Moderate this message".to_owned()
                    testid="mod-menu"
                    close=close
                    opener=button
                    key=Signal::derive(move || step.get() as u32)
                >
                    {move || match step.get() {
                        Step::Menu => {
                            view! {
                                <Show when=removable>
                                    <button class="item" data-testid="mod-remove" on:click=move |_| step.set(Step::ConfirmRemove)>
                                        "Remove message"
                                    </button>
                                </Show>
                                <Show when=author_actionable>
                                    {MUTE_CHOICES
                                        .iter()
                                        .map(|(minutes, label)| {
                                            let minutes = *minutes;
                                            view! {
                                                <button
                                                    class="item"
                                                    data-testid="mod-mute"
                                                    on:click=move |_| {
                                                        if let Some((member, _)) = author() {
                                                            act(Action::Mute { member, minutes });
                                                        }
                                                    }
                                                >
                                                    {format!("Mute author for {label}")}
                                                </button>
                                            }
                                        })
                                        .collect_view()}
                                    <button class="item danger-text" data-testid="mod-ban" on:click=move |_| step.set(Step::Ban)>
                                        "Ban author…"
                                    </button>
                                </Show>
                            }
                                .into_any()
                        }
                        Step::ConfirmRemove => {
                            view! {
                                <p class="popup-note">"Remove this message for everyone?"</p>
                                <div class="row">
                                    <button class="danger" data-testid="confirm-remove" on:click=move |_| act(Action::Remove { id })>
                                        "Remove"
                                    </button>
                                    <button class="secondary" on:click=move |_| step.set(Step::Menu)>
                                        "Keep"
                                    </button>
                                </div>
                            }
                                .into_any()
                        }
                        Step::Ban => {
                            view! {
                                <BanForm
                                    name=author_name()
                                    ban=move |ip, purge| {
                                        if let Some((member, _)) = author() {
                                            act(Action::Ban { member, ip, purge });
                                        }
                                    }
                                    cancel=move || step.set(Step::Menu)
                                />
                            }
                                .into_any()
                        }
                    }}
                </Popup>
            </Show>
        </Show>
    }
}
