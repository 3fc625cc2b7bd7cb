//! `@` autocompletion in the composer: the members online whose name matches what follows
//! the `@` being typed, chosen with the arrow keys and Enter or Tab (or a click). The rules
//! are in `mentions.rs`; this is the list and its keys.

use crate::mentions::{byte_offset, complete, query_at, suggest, utf16_offset};
use crate::state::RoomView;
use leptos::html;
use leptos::prelude::*;

/// The autocompletion's state.
#[derive(Clone, Copy)]
pub struct Mentions {
    /// The `@` being typed (byte offset), the caret (byte offset) and the query, while open.
    query: RwSignal<Option<(usize, usize, String)>>,
    /// The highlighted suggestion.
    index: RwSignal<usize>,
    /// The members that match.
    items: Memo<Vec<String>>,
}

impl Mentions {
    /// Closed, over the members of `view`.
    pub fn new(view: RwSignal<RoomView>) -> Self {
        let query = RwSignal::new(None::<(usize, usize, String)>);
        let items = Memo::new(move |_| {
            query.with(|q| match q {
                Some((_, _, q)) => view.with(|v| suggest(v.members.values().map(String::as_str), q, v.me_name())),
                None => Vec::new(),
            })
        });
        Self { query, index: RwSignal::new(0), items }
    }

    /// Whether suggestions are showing.
    pub fn open(&self) -> bool {
        self.query.with(Option::is_some) && self.items.with(|i| !i.is_empty())
    }

    /// The text or the caret changed (`caret` as the textarea reports it, in UTF-16 units).
    pub fn update(&self, text: &str, caret: u32) {
        let caret = byte_offset(text, caret as usize);
        let next = query_at(text, caret).map(|(at, q)| (at, caret, q));
        if next != self.query.get_untracked() {
            self.query.set(next);
            self.index.set(0);
        }
    }

    /// Closes the suggestions.
    pub fn close(&self) {
        self.query.set(None);
    }

    /// Completes the `@` with `name` in `draft`, and puts the caret after it.
    pub fn choose(&self, name: &str, draft: RwSignal<String>, textarea: NodeRef<html::Textarea>) {
        let Some((at, caret, _)) = self.query.get_untracked() else { return };
        let (text, end) = draft.with_untracked(|d| complete(d, at, caret, name));
        let pos = utf16_offset(&text, end) as u32;
        // The value and the caret are set here, in the keydown itself, not left to the
        // `prop:value` binding and a later frame: a fast typist's next key lands before the
        // next frame, and a caret moved back then would split the word they are typing. The
        // binding then writes the same value, which moves nothing.
        if let Some(el) = textarea.get_untracked() {
            el.set_value(&text);
            let _ = el.focus();
            let _ = el.set_selection_range(pos, pos);
        }
        draft.set(text);
        self.close();
    }

    /// A key pressed in the composer: whether the suggestions took it.
    pub fn key(&self, key: &str, draft: RwSignal<String>, textarea: NodeRef<html::Textarea>) -> bool {
        if !self.open() {
            return false;
        }
        let n = self.items.with_untracked(Vec::len);
        match key {
            "ArrowDown" => self.index.update(|i| *i = (*i + 1) % n),
            "ArrowUp" => self.index.update(|i| *i = (*i + n - 1) % n),
            "Enter" | "Tab" => {
                let i = self.index.get_untracked().min(n - 1);
                if let Some(name) = self.items.with_untracked(|items| items.get(i).cloned()) {
                    self.choose(&name, draft, textarea);
                }
            }
            "Escape" => self.close(),
            _ => return false,
        }
        true
    }
}

/// The suggestions, above the composer.
#[component]
pub fn MentionList(m: Mentions, draft: RwSignal<String>, textarea: NodeRef<html::Textarea>) -> impl IntoView {
    view! {
        <Show when=move || m.open()>
            <ul class="mentions" role="listbox" id="mention-list" aria-label="Members" data-testid="mention-list">
                {move || {
                    m.items
                        .get()
                        .into_iter()
                        .enumerate()
                        .map(|(i, name)| {
                            let pick = name.clone();
                            view! {
                                <li
                                    role="option"
                                    id=format!("mention-{i}")
                                    aria-selected=move || (m.index.get() == i).to_string()
                                    class:active=move || m.index.get() == i
                                    data-testid="mention-option"
                                    dir="auto"
                                    on:mousedown=move |ev| {
                                        ev.prevent_default();
                                        m.choose(&pick, draft, textarea);
                                    }
                                >
                                    {name}
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
        </Show>
    }
}
