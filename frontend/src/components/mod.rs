//! The page's parts, one component per file (as the Leptos examples do): the timeline, the
//! control bar, the overlay and recorded badge, the settings panel, the token form.

pub mod controls;
pub mod overlay;
pub mod settings;
pub mod timeline;
pub mod token_form;
