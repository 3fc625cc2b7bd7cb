//! What keeps us from posting, above the composer: a mute (the composer is disabled until it
//! ends) or slow mode's countdown ("you can send again in 12 s"; Send does nothing until
//! then, the text stays). Screen readers hear a sentence that does not change every second
//! (with the end as a clock time); the countdown itself is for the eyes (`aria-hidden`), as
//! in the link state.

use crate::audit::time_left;
use crate::moderation::Wait;
use crate::ui::message_list::clock;
use crate::ui::room::RoomCtx;
use leptos::prelude::*;

/// What keeps us from posting now, if anything.
pub fn post_wait(ctx: RoomCtx) -> Option<Wait> {
    let now = ctx.now.get();
    ctx.view.with(|v| v.post_wait(now))
}

/// The muted banner, or the slow-mode countdown.
#[component]
pub fn PostWait(ctx: RoomCtx) -> impl IntoView {
    // The kind of wait and its end change rarely; the seconds left change every tick.
    let wait = Memo::new(move |_| post_wait(ctx));
    let left = move || wait.get().map(|w| time_left(w.until().saturating_sub(ctx.now.get())));
    move || {
        wait.get().map(|w| match w {
            Wait::Muted(until) => view! {
                <p class="wait muted" role="status" data-testid="muted">
                    <span>"A moderator muted you"</span>
                    <span class="visually-hidden">{format!(" until {}.", clock(until))}</span>
                    <span aria-hidden="true">{move || left().map(|l| format!(" · you can write again in {l}"))}</span>
                </p>
            }
            .into_any(),
            Wait::Slow(_) => view! {
                <p class="wait slow" role="status" data-testid="slow-wait">
                    <span>"Slow mode is on"</span>
                    <span class="visually-hidden">": wait a moment before sending again."</span>
                    <span aria-hidden="true">{move || left().map(|l| format!(" · you can send again in {l}"))}</span>
                </p>
            }
            .into_any(),
        })
    }
}
