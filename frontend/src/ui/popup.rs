//! A small popup (the moderation menus): a labelled group of buttons under the button that
//! opened it. Focus goes to its first control when it opens (and when `key` changes: its
//! content was replaced, the button clicked is gone); Escape closes it and gives focus back to
//! the opener, like the emoji picker.

use leptos::html;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// A popup labelled `label`, closed by `close` (Escape calls it too). `opener` gets the focus
/// back when it closes by Escape.
#[component]
pub fn Popup(
    label: String,
    testid: &'static str,
    close: impl Fn() + Copy + Send + Sync + 'static,
    opener: NodeRef<html::Button>,
    /// Changes when the content is replaced.
    #[prop(optional, into)]
    key: Option<Signal<u32>>,
    children: Children,
) -> impl IntoView {
    let node = NodeRef::<html::Div>::new();
    Effect::new(move |_| {
        if let Some(k) = key {
            k.track();
        }
        let first = node.get().and_then(|el| el.query_selector("button, input, select").ok().flatten());
        if let Some(el) = first.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
            let _ = el.focus();
        }
    });
    view! {
        <div
            class="popup"
            role="dialog"
            aria-label=label
            data-testid=testid
            node_ref=node
            on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                if ev.key() == "Escape" {
                    ev.stop_propagation();
                    close();
                    if let Some(b) = opener.get_untracked() {
                        let _ = b.focus();
                    }
                }
            }
        >
            {children()}
        </div>
    }
}

/// The ban form both menus share: the two options, then Ban or Cancel.
#[component]
pub fn BanForm(
    /// Whom it bans, as shown.
    name: String,
    /// Ban with (`ip`, `purge`).
    ban: impl Fn(bool, bool) + Copy + Send + Sync + 'static,
    cancel: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let ip = RwSignal::new(false);
    let purge = RwSignal::new(false);
    view! {
        <fieldset class="ban-form" data-testid="ban-form">
            <legend>{format!("Ban {name}")}</legend>
            <label>
                <input type="checkbox" data-testid="ban-ip" prop:checked=move || ip.get() on:change=move |_| ip.update(|v| *v = !*v) />
                " Also ban their address"
            </label>
            <label>
                <input
                    type="checkbox"
                    data-testid="ban-purge"
                    prop:checked=move || purge.get()
                    on:change=move |_| purge.update(|v| *v = !*v)
                />
                " Also remove their messages"
            </label>
            <div class="row">
                <button class="danger" data-testid="confirm-ban" on:click=move |_| ban(ip.get_untracked(), purge.get_untracked())>
                    "Ban"
                </button>
                <button class="secondary" on:click=move |_| cancel()>
                    "Cancel"
                </button>
            </div>
        </fieldset>
    }
}
