//! A message's toolbar, shown on hover and on keyboard focus inside the message: react,
//! reply, edit and delete (our own messages that are not deleted), copy link, "mark as unread
//! from here" (with the person's inbox, issue 11), and for
//! moderators the moderation menu (`mod_tools.rs`). Delete asks once more in place (no
//! browser dialog).

use crate::inbox_driver::{InboxCommand, InboxCtx};
use crate::state::Shown;
use crate::ui::mod_tools::ModTools;
use crate::ui::picker::EmojiPicker;
use crate::ui::room::RoomCtx;
use confab_shared::Seq;
use leptos::prelude::*;

/// The toolbar of message `id`.
#[component]
pub fn Toolbar(id: Seq, shown: RwSignal<Option<Shown>>, ctx: RoomCtx) -> impl IntoView {
    let own = move || shown.with(|s| s.as_ref().is_some_and(|s| s.mine && !s.m.deleted));
    let live = move || shown.with(|s| s.as_ref().is_some_and(|s| !s.m.deleted));
    let confirming = RwSignal::new(false);
    let picker_open = move || ctx.picker.get() == Some(id);
    let menu_open = move || picker_open() || ctx.mod_menu.get() == Some(id);
    let react_button = NodeRef::<leptos::html::Button>::new();
    view! {
        <div class="toolbar" class:open=menu_open role="toolbar" aria-label="Message actions" data-testid="toolbar">
            <Show when=live>
                <button
                    class="tool"
                    title="Add reaction"
                    aria-label="Add reaction"
                    aria-haspopup="true"
                    aria-expanded=move || picker_open().to_string()
                    data-testid="react-button"
                    node_ref=react_button
                    on:click=move |_| ctx.picker.update(|p| *p = if *p == Some(id) { None } else { Some(id) })
                >
                    "☺+"
                </button>
                <button
                    class="tool"
                    title="Reply"
                    aria-label="Reply"
                    data-testid="reply-button"
                    on:click=move |_| {
                        ctx.editing.set(None);
                        ctx.reply_to.set(Some(id));
                        ctx.focus_composer();
                    }
                >
                    "↩"
                </button>
            </Show>
            <Show when=own>
                <button
                    class="tool"
                    title="Edit"
                    aria-label="Edit"
                    data-testid="edit-button"
                    on:click=move |_| ctx.start_edit(id)
                >
                    "✎"
                </button>
                <Show
                    when=move || confirming.get()
                    fallback=move || {
                        view! {
                            <button
                                class="tool"
                                title="Delete"
                                aria-label="Delete"
                                data-testid="delete-button"
                                on:click=move |_| confirming.set(true)
                            >
                                <svg class="icon" viewBox="0 0 16 16" aria-hidden="true">
                                    <path d="M3 4h10M6 4V2.5h4V4M4.5 4l.7 9.5h5.6l.7-9.5" />
                                </svg>
                            </button>
                        }
                    }
                >
                    <button
                        class="tool danger"
                        data-testid="confirm-delete"
                        on:click=move |_| {
                            confirming.set(false);
                            ctx.delete(id);
                        }
                    >
                        "Delete"
                    </button>
                    <button class="tool" on:click=move |_| confirming.set(false)>
                        "Keep"
                    </button>
                </Show>
            </Show>
            <button
                class="tool"
                title="Copy link"
                aria-label="Copy link to message"
                data-testid="copy-link"
                on:click=move |_| {
                    let url = ctx.link_to(id);
                    crate::browser::copy(&url);
                    crate::browser::replace_url(&url);
                    ctx.say("Link copied");
                }
            >
                <svg class="icon" viewBox="0 0 16 16" aria-hidden="true">
                    <path d="M6.5 9.5l3-3M7 4.5l1.3-1.3a2.5 2.5 0 0 1 3.5 3.5L10.5 8M9 11.5l-1.3 1.3a2.5 2.5 0 0 1-3.5-3.5L5.5 8" />
                </svg>
            </button>
            {use_context::<InboxCtx>()
                .map(|inbox| {
                    view! {
                        <button
                            class="tool"
                            title="Mark as unread from here"
                            aria-label="Mark as unread from here"
                            data-testid="mark-unread"
                            on:click=move |_| {
                                let newest = ctx.view.with_untracked(|v| v.newest_id().unwrap_or(id));
                                inbox.send(InboxCommand::MarkUnread { room: ctx.room(), id, newest });
                                ctx.say("Marked as unread from here");
                            }
                        >
                            <svg class="icon" viewBox="0 0 16 16" aria-hidden="true">
                                <circle cx="8" cy="8" r="3.5" />
                            </svg>
                        </button>
                    }
                })}
            <ModTools id=id shown=shown ctx=ctx />
            <Show when=picker_open>
                <EmojiPicker id=id shown=shown ctx=ctx opener=react_button />
            </Show>
        </div>
    }
}
