//! The room settings panel, opened from the header by moderators and the owner: the topic,
//! slow mode, invite-only and its invite links (create, copy, revoke), the bots
//! (`bots.rs`) and the audit trail (`audit_trail.rs`). Every change is a `moderate` action:
//! what is shown changes when the room's `moderated` event comes back, and a refusal shows in
//! the room's moderation alert. Escape or Close shuts it and gives focus back to its button.

use crate::browser;
use crate::moderation::SLOW_MODE_CHOICES;
use crate::share::invite_link;
use crate::ui::audit_trail::AuditTrailView;
use crate::ui::bots::Bots;
use crate::ui::room::RoomCtx;
use confab_shared::limits::TOPIC_MAX_CHARS;
use confab_shared::Action;
use leptos::html;
use leptos::prelude::*;

/// The panel; `open` shows it, `opener` gets the focus back when it closes.
#[component]
pub fn SettingsPanel(ctx: RoomCtx, open: RwSignal<bool>, opener: NodeRef<html::Button>) -> impl IntoView {
    let view = ctx.view;
    let settings = Memo::new(move |_| view.with(|v| v.moderation.settings.clone()));
    let topic = RwSignal::new(settings.get_untracked().topic);
    // The topic field follows the room's topic when it changes (ours saved, or someone else's).
    Effect::new(move |_| topic.set(settings.with(|s| s.topic.clone())));
    let close = move || {
        open.set(false);
        if let Some(b) = opener.get_untracked() {
            let _ = b.focus();
        }
    };
    let heading = NodeRef::<html::H2>::new();
    Effect::new(move |_| {
        if let Some(h) = heading.get() {
            let _ = h.focus();
        }
    });
    let invites = Memo::new(move |_| {
        view.with(|v| v.moderation.live_invites().into_iter().map(str::to_owned).collect::<Vec<_>>())
    });
    view! {
        <section
            class="settings"
            role="dialog"
            aria-labelledby="settings-title"
            data-testid="settings"
            on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                if ev.key() == "Escape" {
                    ev.stop_propagation();
                    close();
                }
            }
        >
            <header>
                <h2 id="settings-title" tabindex="-1" node_ref=heading>"Room settings"</h2>
                <button class="secondary" data-testid="close-settings" on:click=move |_| close()>
                    "Close"
                </button>
            </header>
            <form
                class="field"
                on:submit=move |ev| {
                    ev.prevent_default();
                    ctx.moderate(Action::Topic { text: topic.get_untracked().trim().to_owned() });
                }
            >
                <label for="topic">"Topic"</label>
                <div class="row">
                    <input
                        id="topic"
                        data-testid="topic-input"
                        maxlength=TOPIC_MAX_CHARS
                        placeholder="What this room is about"
                        prop:value=move || topic.get()
                        on:input=move |ev| topic.set(event_target_value(&ev))
                    />
                    <button type="submit" data-testid="save-topic">"Save"</button>
                </div>
            </form>
            <div class="field">
                <label for="slow-mode">"Slow mode"</label>
                <select
                    id="slow-mode"
                    data-testid="slow-mode"
                    on:change=move |ev| {
                        if let Ok(seconds) = event_target_value(&ev).parse() {
                            ctx.moderate(Action::SlowMode { seconds });
                        }
                    }
                >
                    {SLOW_MODE_CHOICES
                        .iter()
                        .map(|s| {
                            let s = *s;
                            let label = if s == 0 { "Off".to_owned() } else { format!("One message per {s} s") };
                            view! {
                                <option value=s.to_string() selected=move || settings.with(|x| x.slow_mode_secs == s)>
                                    {label}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            </div>
            <div class="field">
                <label>
                    <input
                        type="checkbox"
                        data-testid="invite-only"
                        prop:checked=move || settings.with(|s| s.invite_only)
                        on:change=move |ev| ctx.moderate(Action::InviteOnly { on: event_target_checked(&ev) })
                    />
                    " Invite-only: only members and people with an invite link can join"
                </label>
            </div>
            <section class="field" aria-labelledby="invites-title">
                <h3 id="invites-title">"Invite links"</h3>
                <button class="secondary" data-testid="create-invite" on:click=move |_| ctx.moderate(Action::CreateInvite { code: None })>
                    "Create invite link"
                </button>
                <ul class="invites" data-testid="invites">
                    <For each=move || invites.get() key=|c| c.clone() children=move |code| view! { <InviteLink code=code ctx=ctx /> } />
                </ul>
            </section>
            <Bots ctx=ctx />
            <AuditTrailView ctx=ctx />
        </section>
    }
}

/// One invite link: the link to copy, and Revoke.
#[component]
fn InviteLink(code: String, ctx: RoomCtx) -> impl IntoView {
    let link = invite_link(&browser::origin(), &ctx.room(), &code);
    let copy = link.clone();
    view! {
        <li data-testid="invite">
            <input readonly aria-label="Invite link" value=link />
            <button
                class="secondary"
                on:click=move |_| {
                    browser::copy(&copy);
                    ctx.say("Invite link copied");
                }
            >
                "Copy"
            </button>
            <button class="secondary" on:click=move |_| ctx.moderate(Action::RevokeInvite { code: code.clone() })>
                "Revoke"
            </button>
        </li>
    }
}
