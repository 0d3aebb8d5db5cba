//! The form that asks for the token the server wants.

use leptos::html::Input;
use leptos::prelude::*;

/// Asks for the token the server wants; it is remembered on this device.
#[component]
pub fn TokenForm(
    /// Whether a remembered token was refused.
    rejected: Signal<bool>,
    /// What to do with the token typed in.
    on_token: Callback<String>,
) -> impl IntoView {
    let input: NodeRef<Input> = NodeRef::new();
    view! {
        <form
            class="token"
            data-testid="token-form"
            on:submit=move |e| {
                e.prevent_default();
                if let Some(field) = input.get() {
                    on_token.run(field.value());
                }
            }
        >
            <label for="token">
                {move || {
                    if rejected.get() {
                        "That token was not accepted. Token:"
                    } else {
                        "This camera needs a token:"
                    }
                }}
            </label>
            <input
                id="token"
                name="token"
                type="password"
                autocomplete="current-password"
                required
                autofocus
                data-testid="token-input"
                node_ref=input
            />
            <button type="submit" data-testid="token-submit">"Open"</button>
        </form>
    }
}
