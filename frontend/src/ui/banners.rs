//! What the room says across its top: a refused join (the name is taken; this page is out of
//! date), the end of a visit (we were removed; the room is invite-only and we hold no valid
//! invite: a screen of its own, since reconnecting will not help), frames this page could not
//! read, and the room's refusal of one of our moderation actions.

use crate::browser;
use crate::engine::Link;
use crate::share;
use crate::state::{Notice, RoomView};
use confab_shared::ErrorCode;
use leptos::prelude::*;

/// Whether the visit is over in a way only the person can change: removed, or invite-only.
pub fn gated(view: &RoomView, link: Link) -> Option<ErrorCode> {
    match view.fatal.as_ref().map(|n| n.code) {
        Some(code @ (ErrorCode::Banned | ErrorCode::InviteRequired)) => Some(code),
        _ => (link == Link::Removed).then_some(ErrorCode::Banned),
    }
}

/// The join was refused: the name is taken (choose another), or the room no longer serves
/// this page (reload; the page never reconnects by itself then).
#[component]
pub fn Refused(
    view: RwSignal<RoomView>,
    link: RwSignal<Link>,
    on_leave: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    move || {
        // The close code alone (4001) says it too, if the error frame was lost.
        let outdated = link.get() == Link::Outdated;
        let fatal = view.with(|v| v.fatal.clone());
        let fatal = fatal.or_else(|| {
            outdated.then(|| Notice {
                code: ErrorCode::UnsupportedVersion,
                message: String::new(),
                retry_at_ms: None,
                client_id: None,
            })
        });
        fatal.filter(|n| !matches!(n.code, ErrorCode::Banned | ErrorCode::InviteRequired)).map(|n| {
            if n.code == ErrorCode::UnsupportedVersion {
                view! {
                    <div class="banner" role="alert" data-testid="refused">
                        "Confab was updated and this page is out of date. "
                        <button class="link" on:click=|_| browser::reload()>
                            "Reload to keep chatting"
                        </button>
                    </div>
                }
                .into_any()
            } else {
                view! {
                    <div class="banner" role="alert" data-testid="refused">
                        {n.message}
                        " — "
                        <button class="link" on:click=move |_| on_leave()>
                            "Choose another name"
                        </button>
                    </div>
                }
                .into_any()
            }
        })
    }
}

/// The visit is over: we were removed (never reconnected), or the room is invite-only and the
/// join held no valid invite (paste a link to try with it). `had_invite`: the page was opened
/// with one.
#[component]
pub fn Gate(
    view: RwSignal<RoomView>,
    link: RwSignal<Link>,
    room: String,
    had_invite: bool,
    on_leave: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let pasted = RwSignal::new(String::new());
    let error = RwSignal::new(None::<&'static str>);
    let room = StoredValue::new(room);
    let use_invite = move || match share::invite_from_pasted(&pasted.get_untracked()) {
        Some(code) => {
            // Joined anew with it: a reload at the invite link's address.
            let url = room.with_value(|r| share::invite_link(&browser::origin(), r, &code));
            browser::replace_url(&url);
            browser::reload();
        }
        None => error.set(Some("That is not an invite link.")),
    };
    let gate = Memo::new(move |_| gated(&view.read(), link.get()));
    move || {
        gate.get().map(|code| {
            if code == ErrorCode::Banned {
                view! {
                    <section class="gate" role="alert" data-testid="removed">
                        <h2>"You were removed from this room"</h2>
                        <p>"A moderator removed you. You cannot rejoin it."</p>
                        <button on:click=move |_| on_leave()>"Back to the start page"</button>
                    </section>
                }
                .into_any()
            } else {
                let why = if had_invite {
                    "The invite link you opened is not valid any more. Ask a member for a new one."
                } else {
                    "Only people with an invite link can join it. Ask a member for one, and open it."
                };
                view! {
                    <section class="gate" role="alert" data-testid="invite-required">
                        <h2>"This room is invite-only"</h2>
                        <p>{why}</p>
                        <form on:submit=move |ev| {
                            ev.prevent_default();
                            use_invite();
                        }>
                            <label for="invite-link">"Invite link"</label>
                            <input
                                id="invite-link"
                                data-testid="invite-input"
                                placeholder="https://…/r/room?invite=…"
                                prop:value=move || pasted.get()
                                on:input=move |ev| {
                                    error.set(None);
                                    pasted.set(event_target_value(&ev));
                                }
                            />
                            <div class="actions">
                                <button type="submit">"Join with this link"</button>
                                <button type="button" class="secondary" on:click=move |_| on_leave()>
                                    "Back to the start page"
                                </button>
                            </div>
                            <p class="error" role="alert">{move || error.get()}</p>
                        </form>
                    </section>
                }
                .into_any()
            }
        })
    }
}

/// The room sent frames this page cannot read: a newer version is out.
#[component]
pub fn Outdated(view: RwSignal<RoomView>) -> impl IntoView {
    let reload = |_| browser::reload();
    view! {
        <Show when=move || view.with(|v| v.unknown_frames > 0)>
            <p class="outdated" role="status" data-testid="outdated">
                "This page is out of date and missed something the room sent. "
                <button class="link" on:click=reload>
                    "Reload"
                </button>
            </p>
        </Show>
    }
}

/// The room refused one of our moderation actions (or it could not go out): why, until
/// dismissed.
#[component]
pub fn ModRefusal(view: RwSignal<RoomView>) -> impl IntoView {
    let refusal = Memo::new(move |_| view.with(|v| v.moderation.refusal.clone()));
    move || {
        refusal.get().map(|why| {
            view! {
                <div class="mod-refusal" role="alert" data-testid="mod-refusal">
                    <span>{format!("Not done: {why}")}</span>
                    <button
                        class="link"
                        on:click=move |_| {
                            view.update(|v| {
                                v.moderation.refusal = None;
                                v.touch();
                            })
                        }
                    >
                        "Dismiss"
                    </button>
                </div>
            }
        })
    }
}
