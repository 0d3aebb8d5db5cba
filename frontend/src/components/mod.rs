//! The page's parts, one component per file (as the Leptos examples do): the timeline, the
//! control bar, the overlay and recorded badge, the settings panel, the token form, and the
//! camera grid.

pub mod controls;
pub mod grid;
pub mod overlay;
pub mod settings;
pub mod timeline;
pub mod token_form;
pub mod zone_editor;
