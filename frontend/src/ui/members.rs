//! The member panel: the room's link to share, and the members online with their role badges
//! ("owner", "mod", "bot"). Moderators get a menu on each member they may act on (mute, lift
//! a mute, ban), and the owner names and un-names moderators there. The rows are a memo keyed
//! by what they show, so typing or a new message neither redraws them nor closes an open menu.
//! Beside every other person (not a bot, not in a direct message already) a "Message" button
//! starts a direct message through the person's inbox, which opens it here once it exists.

use crate::audit::badge;
use crate::inbox_driver::{InboxCommand, InboxCtx};
use crate::moderation::MUTE_CHOICES;
use crate::ui::popup::{BanForm, Popup};
use crate::ui::room::RoomCtx;
use confab_shared::{Action, MemberId, Role};
use leptos::html;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// One member as the panel shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Entry {
    id: MemberId,
    name: String,
    role: Role,
    me: bool,
    /// We may mute or ban them.
    actionable: bool,
    /// We own the room and may make them a moderator (or take it back).
    promotable: bool,
}

/// The member panel. `share`: the room's address.
#[component]
pub fn MemberPanel(ctx: RoomCtx, share: String) -> impl IntoView {
    let view = ctx.view;
    let entries = Memo::new(move |_| {
        view.with(|v| {
            let owner = v.my_role() == Role::Owner;
            let rights = v.rights();
            v.members
                .iter()
                .map(|(id, name)| {
                    let role = if v.me_id() == Some(*id) { v.my_role() } else { v.moderation.role_of(*id) };
                    Entry {
                        id: *id,
                        name: name.clone(),
                        role,
                        me: v.me_id() == Some(*id),
                        actionable: rights.can_act_on(*id),
                        promotable: owner && matches!(role, Role::Member | Role::Moderator) && v.me_id() != Some(*id),
                    }
                })
                .collect::<Vec<_>>()
        })
    });
    let open = RwSignal::new(None::<MemberId>);
    view! {
        <aside id="members" class="members" aria-label="Members online">
            <h2>"Invite"</h2>
            <input
                class="share"
                readonly
                aria-label="Link to this room"
                data-testid="share-link"
                value=share
                on:focus=move |ev| {
                    if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                        input.select();
                    }
                }
            />
            <h2>"Online"</h2>
            <ul data-testid="members">
                <For each=move || entries.get() key=|e| e.clone() children=move |e| view! { <MemberRow e=e open=open ctx=ctx /> } />
            </ul>
        </aside>
    }
}

/// One member: name, "(you)", badge, and the moderation menu where we may use one.
#[component]
fn MemberRow(e: Entry, open: RwSignal<Option<MemberId>>, ctx: RoomCtx) -> impl IntoView {
    let Entry { id, name, role, me, actionable, promotable } = e;
    let button = NodeRef::<html::Button>::new();
    let banning = RwSignal::new(false);
    let is_open = move || open.get() == Some(id);
    let close = move || {
        open.set(None);
        banning.set(false);
    };
    let act = move |action: Action| {
        ctx.moderate(action);
        close();
        if let Some(b) = button.get_untracked() {
            let _ = b.focus();
        }
    };
    let label = format!("Moderate {name}");
    let ban_name = StoredValue::new(name.clone());
    // A direct message: with a person (not a bot, not us), from a room that is not one.
    let inbox = use_context::<InboxCtx>();
    let in_dm = ctx.room().starts_with("dm-");
    let message = inbox.filter(|_| !me && role != Role::Bot && !in_dm).map(|inbox| {
        let label = format!("Send {name} a direct message");
        view! {
            <button
                class="tool member-dm"
                aria-label=label.clone()
                title=label
                data-testid="member-dm"
                on:click=move |_| inbox.send(InboxCommand::Dm { room: ctx.room(), member: id })
            >
                "✉"
            </button>
        }
    });
    view! {
        <li class:me=me data-testid="member" data-member=id>
            <span dir="auto">{name.clone()}</span>
            {me.then_some(" (you)")}
            {badge(role).map(|b| view! { <span class=format!("badge {b}") data-testid="badge">{b}</span> })}
            {message}
            {(actionable || promotable)
                .then(|| {
                    view! {
                        <button
                            class="tool member-menu"
                            aria-label=label.clone()
                            title=label.clone()
                            aria-haspopup="dialog"
                            aria-expanded=move || is_open().to_string()
                            data-testid="member-menu"
                            node_ref=button
                            on:click=move |_| {
                                banning.set(false);
                                open.update(|o| *o = if *o == Some(id) { None } else { Some(id) });
                            }
                        >
                            "⋯"
                        </button>
                    }
                })}
            <Show when=is_open>
                <Popup
                    label=label.clone()
                    testid="member-popup"
                    close=close
                    opener=button
                    key=Signal::derive(move || u32::from(banning.get()))
                >
                    {
                        move || {
                            if banning.get() {
                                view! {
                                    <BanForm
                                        name=ban_name.get_value()
                                        ban=move |ip, purge| act(Action::Ban { member: id, ip, purge })
                                        cancel=move || banning.set(false)
                                    />
                                }
                                    .into_any()
                            } else {
                                view! {
                                    {actionable
                                        .then(|| {
                                            view! {
                                                {MUTE_CHOICES
                                                    .iter()
                                                    .map(|(minutes, label)| {
                                                        let minutes = *minutes;
                                                        view! {
                                                            <button
                                                                class="item"
                                                                data-testid="member-mute"
                                                                on:click=move |_| act(Action::Mute { member: id, minutes })
                                                            >
                                                                {format!("Mute for {label}")}
                                                            </button>
                                                        }
                                                    })
                                                    .collect_view()}
                                                <button class="item" on:click=move |_| act(Action::Mute { member: id, minutes: 0 })>
                                                    "Lift mute"
                                                </button>
                                                <button class="item danger-text" data-testid="member-ban" on:click=move |_| banning.set(true)>
                                                    "Ban…"
                                                </button>
                                            }
                                        })}
                                    {(promotable && role == Role::Member)
                                        .then(|| {
                                            view! {
                                                <button
                                                    class="item"
                                                    data-testid="make-mod"
                                                    on:click=move |_| act(Action::SetRole { member: id, role: Role::Moderator })
                                                >
                                                    "Make moderator"
                                                </button>
                                            }
                                        })}
                                    {(promotable && role == Role::Moderator)
                                        .then(|| {
                                            view! {
                                                <button
                                                    class="item"
                                                    data-testid="unmake-mod"
                                                    on:click=move |_| act(Action::SetRole { member: id, role: Role::Member })
                                                >
                                                    "Remove moderator"
                                                </button>
                                            }
                                        })}
                                }
                                    .into_any()
                            }
                        }
                    }
                </Popup>
            </Show>
        </li>
    }
}
